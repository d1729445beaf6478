//! The simulated network: one FIFO link per direction between two nodes,
//! with a bandwidth, a latency with jitter, random drops and partitions.
//!
//! Each directed link is a FIFO like TiKV's gRPC connections: a batch is put
//! on the wire once the batches before it have left (`bytes / bandwidth`
//! each), then travels the link's latency plus jitter; it never overtakes an
//! earlier one, so a large message delays the small ones behind it.

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
    /// Bandwidth of each directed link, bytes per virtual second.
    pub bandwidth_bytes_per_sec: u64,
}

/// How long a partitioned connection goes unnoticed: gRPC's keepalive ping
/// every 10 s, declared dead when not acknowledged within 3 s (TiKV's
/// `keepalive_time` / `keepalive_timeout` on its gRPC channels).
pub const GRPC_KEEPALIVE_DEAD_AFTER: Micros = 13 * crate::kernel::time::SEC;

/// One directed link's state.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// When the last batch finished going onto the wire, virtual µs.
    busy_until: Micros,
    /// When the last batch arrives, virtual µs.
    last_arrival: Micros,
    /// Bytes sent so far.
    bytes_sent: u64,
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
    links: BTreeMap<(Node, Node), Link>,
    partitions: Vec<Partition>,
}

impl Network {
    /// A healthy network.
    pub fn new(cfg: NetworkConfig) -> Network {
        Network {
            cfg,
            links: BTreeMap::new(),
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
        let link = self.links.entry((from, to)).or_default();
        link.busy_until = link.busy_until.max(now) + transfer;
        link.bytes_sent += bytes;
        let at = (link.busy_until + self.cfg.latency + jitter).max(link.last_arrival);
        link.last_arrival = at;
        Some(at)
    }

    /// How long a batch sent now on the link would wait for the ones ahead
    /// of it to go onto the wire, virtual µs.
    pub fn queued_for(&self, from: Node, to: Node, now: Micros) -> Micros {
        self.links
            .get(&(from, to))
            .map_or(0, |l| l.busy_until.saturating_sub(now))
    }

    /// True when a partition cuts `from` off from `to` at `now`.
    pub fn is_partitioned(&self, from: Node, to: Node, now: Micros) -> bool {
        from != to
            && self
                .partitions
                .iter()
                .any(|p| p.until > now && (p.isolated == from || p.isolated == to))
    }

    /// The nodes `node` has sent to so far (its open connections).
    pub fn peers_of(&self, node: Node) -> Vec<Node> {
        self.links
            .keys()
            .filter(|(f, t)| *f == node && *t != node)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Bytes sent on the link so far.
    pub fn bytes_sent(&self, from: Node, to: Node) -> u64 {
        self.links.get(&(from, to)).map_or(0, |l| l.bytes_sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(bandwidth: u64) -> Network {
        Network::new(NetworkConfig {
            latency: 100,
            jitter: 0,
            drop_ppm: 0,
            bandwidth_bytes_per_sec: bandwidth,
        })
    }

    #[test]
    fn a_large_message_delays_the_small_ones_behind_it_on_its_link_only() {
        let mut net = network(1_000_000); // 1 byte per µs
        let mut rng = SimRng::new(1);
        let (a, b, c) = (Node::Store(1), Node::Store(2), Node::Store(3));
        let big = net.route(&mut rng, 0, a, b, 10_000).unwrap();
        assert_eq!(big, 10_000 + 100);
        let small = net.route(&mut rng, 10, a, b, 10).unwrap();
        assert_eq!(
            small,
            10_000 + 10 + 100,
            "it waits for the big one to leave"
        );
        assert_eq!(net.queued_for(a, b, 10), 10_000);
        let other = net.route(&mut rng, 10, a, c, 10).unwrap();
        assert_eq!(other, 10 + 10 + 100, "another link is not held");
        let back = net.route(&mut rng, 10, b, a, 10).unwrap();
        assert_eq!(back, 10 + 10 + 100, "the reverse direction is its own link");
        assert_eq!(net.bytes_sent(a, b), 10_010);
        // Idle links start at once.
        assert_eq!(
            net.route(&mut rng, 50_000, a, b, 100).unwrap(),
            50_000 + 100 + 100
        );
    }

    #[test]
    fn partitions_drop_and_jitter_never_reorders() {
        let mut net = Network::new(NetworkConfig {
            latency: 100,
            jitter: 1_000,
            drop_ppm: 0,
            bandwidth_bytes_per_sec: 1_000_000_000,
        });
        let mut rng = SimRng::new(7);
        let (a, b) = (Node::Store(1), Node::Store(2));
        let mut last = 0;
        for t in 0..200 {
            let at = net.route(&mut rng, t, a, b, 64).unwrap();
            assert!(at >= last);
            last = at;
        }
        net.isolate(b, 5_000);
        assert!(net.route(&mut rng, 300, a, b, 64).is_none());
        assert!(net.route(&mut rng, 300, Node::Pd, b, 64).is_none());
        assert!(net.route(&mut rng, 5_000, a, b, 64).is_some());
    }
}
