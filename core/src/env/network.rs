//! The simulated network: per-link latency with jitter, random drop, partitions.
//!
//! Links are FIFO like TiKV's gRPC streams: a message never overtakes an earlier
//! one on the same (from, to) link, so jitter delays but does not reorder.

use std::collections::BTreeMap;

use crate::kernel::effect::Node;
use crate::kernel::rng::SimRng;
use crate::kernel::time::Micros;

/// Network parameters.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// One-way base latency, virtual µs.
    pub latency: Micros,
    /// Extra random delay drawn uniformly in `0..=jitter`, virtual µs.
    pub jitter: Micros,
    /// Probability of dropping a message batch, per million.
    pub drop_ppm: u64,
    /// Bandwidth used to delay large messages (snapshots), bytes per virtual second.
    pub bandwidth_bytes_per_sec: u64,
}

/// A partition between two groups of nodes: messages crossing it are dropped.
#[derive(Clone, Debug)]
struct Partition {
    isolated: Node,
    until: Micros,
}

/// The network state: per-link FIFO clocks and active partitions.
#[derive(Clone, Debug)]
pub struct Network {
    /// Parameters.
    pub cfg: NetworkConfig,
    last_arrival: BTreeMap<(Node, Node), Micros>,
    partitions: Vec<Partition>,
}

impl Network {
    /// A healthy network.
    pub fn new(cfg: NetworkConfig) -> Network {
        Network {
            cfg,
            last_arrival: BTreeMap::new(),
            partitions: Vec::new(),
        }
    }

    /// Isolates `node` from every other node until `until` (virtual µs).
    pub fn isolate(&mut self, node: Node, until: Micros) {
        self.partitions.push(Partition {
            isolated: node,
            until,
        });
    }

    /// Decides when a batch of `bytes` sent at `now` from `from` to `to` arrives,
    /// or `None` if it is lost (partition or random drop).
    pub fn route(
        &mut self,
        rng: &mut SimRng,
        now: Micros,
        from: Node,
        to: Node,
        bytes: u64,
    ) -> Option<Micros> {
        self.partitions.retain(|p| p.until > now);
        if from != to
            && self
                .partitions
                .iter()
                .any(|p| p.isolated == from || p.isolated == to)
        {
            return None;
        }
        if self.cfg.drop_ppm > 0 && rng.chance_ppm(self.cfg.drop_ppm) {
            return None;
        }
        let jitter = if self.cfg.jitter > 0 {
            rng.below(self.cfg.jitter + 1)
        } else {
            0
        };
        let transfer = bytes
            .saturating_mul(1_000_000)
            .checked_div(self.cfg.bandwidth_bytes_per_sec)
            .unwrap_or(0);
        let at = now + self.cfg.latency + jitter + transfer;
        let last = self.last_arrival.entry((from, to)).or_insert(0);
        let at = at.max(*last);
        *last = at;
        Some(at)
    }
}
