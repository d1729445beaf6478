//! `LoadEvictionObserver` (TiKV `components/hybrid_engine/src/observer/
//! load_eviction.rs` at `d2bf2b0510~1`): what raftstore tells the in-memory
//! engine, through the coprocessor host.
//!
//! - Each applied write batch: the engine's `prepare_for_apply` and writes.
//! - `PrepareMerge` / `CommitMerge` applied: evict the region as it was
//!   ("ime evict range due to apply commands"; the target is evicted "for
//!   simplicity", TiKV's comment says).
//! - `BatchSplit` applied: `split_region` with the parent as it was and
//!   every region of the split ("ime handle region split"); split regions
//!   are not evicted, "as the split ranges still contain the latest data and
//!   hot regions are often split".
//! - A leader became follower: evict (`BecomeFollower`); a peer destroyed:
//!   evict (`PeerDestroy`).
//!
//! Like every observer here it only records; the store hands the events to
//! the engine after raftstore's work ([`super::InMemoryEngine::on_events`]).

use std::cell::RefCell;
use std::rc::Rc;

use raft::StateRole;

use super::region_manager::{CacheRegion, EvictReason};
use super::ImeEvent;
use crate::proto::RegionMeta;
use crate::raftstore::coprocessor::{
    AdminChange, AdminObserver, AppliedChange, AppliedCmd, CmdObserver, RegionChangeEvent,
    RegionChangeObserver, RoleChange, RoleObserver,
};

/// The observer; clones share one event queue.
#[derive(Clone, Debug, Default)]
pub struct LoadEvictionObserver {
    /// Events since the store last drained them.
    pub events: Rc<RefCell<Vec<ImeEvent>>>,
}

impl LoadEvictionObserver {
    fn push(&self, e: ImeEvent) {
        self.events.borrow_mut().push(e);
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<ImeEvent> {
        std::mem::take(&mut *self.events.borrow_mut())
    }
}

impl CmdObserver for LoadEvictionObserver {
    fn on_flush_applied_cmd_batch(&mut self, region: &RegionMeta, batch: &[AppliedCmd]) {
        let keys: Vec<u64> = batch
            .iter()
            .flat_map(|c| match &c.change {
                AppliedChange::RawPut { key, .. } => vec![*key],
                AppliedChange::Mvcc(mods) => mods.iter().map(|m| m.key()).collect(),
            })
            .collect();
        if !keys.is_empty() {
            self.push(ImeEvent::Applied {
                region: region.clone(),
                keys,
            });
        }
    }
}

impl AdminObserver for LoadEvictionObserver {
    fn post_exec_admin(&mut self, region: &RegionMeta, change: &AdminChange) {
        let source = CacheRegion::from_region(region);
        match change {
            AdminChange::PrepareMerge | AdminChange::CommitMerge => self.push(ImeEvent::Evict {
                region: source,
                reason: EvictReason::Merge,
            }),
            AdminChange::BatchSplit(regions) => self.push(ImeEvent::Split {
                source,
                new_regions: regions.iter().map(CacheRegion::from_region).collect(),
            }),
        }
    }
}

impl RoleObserver for LoadEvictionObserver {
    fn on_role_change(&mut self, region: &RegionMeta, change: &RoleChange) {
        if change.state == StateRole::Follower && change.initialized {
            self.push(ImeEvent::Evict {
                region: CacheRegion::from_region(region),
                reason: EvictReason::BecomeFollower,
            });
        }
    }
}

impl RegionChangeObserver for LoadEvictionObserver {
    fn on_region_changed(
        &mut self,
        region: &RegionMeta,
        event: RegionChangeEvent,
        _role: StateRole,
    ) {
        if event == RegionChangeEvent::Destroy && region.end_key > region.start_key {
            self.push(ImeEvent::Evict {
                region: CacheRegion::from_region(region),
                reason: EvictReason::PeerDestroy,
            });
        }
    }
}
