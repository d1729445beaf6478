//! Load-base split (TiKV `components/raftstore/src/store/worker/
//! split_controller.rs`, `AutoSplitController`): a region whose reads stay
//! above `split.qps-threshold` for `split.detect-times` consecutive seconds
//! is split at a key its reads sampled, so the load spreads over two
//! regions (log "load base split region").
//!
//! TiKV samples key ranges and picks the split key that best balances the
//! samples left and right of it (`Recorder::collect`); here the sampled
//! keys are those of the last second's reads and the split key is their
//! median, kept strictly inside the region.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fsm::Raftstore;
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::proto::{Ctx, Key, Msg};

/// TiKV's `[split]` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadSplitConfig {
    /// `split.qps-threshold` (TiKV default 3000): reads per second of one
    /// region that count as hot.
    pub qps_threshold: u64,
    /// `split.detect-times` (TiKV default 10): hot seconds in a row before
    /// the split.
    pub detect_times: u64,
}

/// Keys sampled per region per second (TiKV samples 20 per recorder).
const SAMPLE_CAP: usize = 64;

/// One region's reads in the current second and its hot streak.
#[derive(Clone, Debug, Default)]
struct Recorder {
    qps: u64,
    samples: Vec<Key>,
    detected_times: u64,
}

/// The store's `AutoSplitController`.
#[derive(Clone, Debug)]
pub struct AutoSplitController {
    /// Settings.
    pub cfg: LoadSplitConfig,
    recorders: BTreeMap<u64, Recorder>,
}

impl AutoSplitController {
    /// A controller with no history.
    pub fn new(cfg: LoadSplitConfig) -> AutoSplitController {
        AutoSplitController {
            cfg,
            recorders: BTreeMap::new(),
        }
    }

    /// A read of `region_id` at `key` was served.
    pub fn record(&mut self, region_id: u64, key: Key) {
        let r = self.recorders.entry(region_id).or_default();
        r.qps += 1;
        if r.samples.len() < SAMPLE_CAP {
            r.samples.push(key);
        }
    }

    /// Ends a second: the regions due for a split with their split key and
    /// qps.
    fn flush(&mut self) -> Vec<(u64, Vec<Key>, u64)> {
        let mut due = Vec::new();
        let threshold = self.cfg.qps_threshold;
        let detect = self.cfg.detect_times;
        self.recorders.retain(|&rid, r| {
            if r.qps < threshold {
                return false;
            }
            r.detected_times += 1;
            if r.detected_times >= detect {
                due.push((rid, std::mem::take(&mut r.samples), r.qps));
                r.detected_times = 0;
            }
            r.qps = 0;
            r.samples.clear();
            true
        });
        due
    }
}

impl Raftstore {
    /// The per-second tick of the load-base split: a region hot long enough
    /// whose leader is here asks PD for ids to split at the median of its
    /// sampled keys ("load base split region"), through the split flow of
    /// the size checker.
    pub fn on_load_split_tick(&mut self, ctx: &mut Ctx, controller: &mut AutoSplitController) {
        let store_id = self.store_id;
        for (rid, mut samples, qps) in controller.flush() {
            let Some(peer) = self.peers.get(&rid) else {
                continue;
            };
            if !peer.is_leader() || peer.splitting || peer.raft.store().merge_state.is_some() {
                continue;
            }
            let region = peer.region().clone();
            samples.sort_unstable();
            let Some(&key) = samples.get(samples.len() / 2) else {
                continue;
            };
            if key <= region.start_key || key >= region.end_key {
                continue;
            }
            self.log(
                ctx,
                Level::Info,
                Some(rid),
                format!("load base split region, region_id: {rid}, qps: {qps}, split_key: {key}"),
            );
            ctx.send(
                Node::Store(store_id),
                Node::Pd,
                Msg::AskBatchSplit {
                    region,
                    split_keys: vec![key],
                },
            );
        }
    }
}
