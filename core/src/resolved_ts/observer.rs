//! The resolved-ts observer (TiKV `components/resolved_ts/src/observer.rs`
//! and cdc's `CdcObserver`): what raftstore tells the endpoint through the
//! coprocessor host. Like every observer here it only records; the store
//! hands the events to [`super::Endpoint::on_events`] after raftstore's work.
//!
//! - Each applied batch of transactional writes: its [`ChangeRow`]s with the
//!   entry's index (`ChangeLog::Rows`).
//! - A split or merge applied: `ChangeLog::Admin`.
//! - A peer became leader (register the region) or stopped being one
//!   (deregister); a peer destroyed (deregister).

use std::cell::RefCell;
use std::rc::Rc;

use raft::StateRole;

use super::cmd::{encode_rows, ChangeRow};
use crate::proto::RegionMeta;
use crate::raftstore::coprocessor::{
    AdminChange, AdminObserver, AppliedChange, AppliedCmd, CmdObserver, RegionChangeEvent,
    RegionChangeObserver, RoleChange, RoleObserver,
};

/// One thing the observer saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObservedEvent {
    /// `ChangeLog::Rows`: an applied entry's rows.
    Rows {
        /// The region as applied.
        region: RegionMeta,
        /// The entry's index.
        index: u64,
        /// Its rows.
        rows: Vec<ChangeRow>,
    },
    /// `ChangeLog::Admin`: a split or merge applied to `region` (as it was
    /// before), named as TiKV's `AdminCmdType`.
    Admin {
        /// The region before the command.
        region: RegionMeta,
        /// `BatchSplit`, `PrepareMerge` or `CommitMerge`.
        cmd: &'static str,
    },
    /// The peer's role changed.
    Role {
        /// The region.
        region: RegionMeta,
        /// Its new role.
        state: StateRole,
        /// Whether the peer is initialized.
        initialized: bool,
    },
    /// The peer was destroyed (or the region removed from this store).
    Destroyed {
        /// The region.
        region_id: u64,
    },
}

/// The observer; clones share one event queue.
#[derive(Clone, Debug, Default)]
pub struct ResolvedTsObserver {
    /// Events since the store last drained them.
    pub events: Rc<RefCell<Vec<ObservedEvent>>>,
}

impl ResolvedTsObserver {
    fn push(&self, e: ObservedEvent) {
        self.events.borrow_mut().push(e);
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<ObservedEvent> {
        std::mem::take(&mut *self.events.borrow_mut())
    }
}

impl CmdObserver for ResolvedTsObserver {
    fn on_flush_applied_cmd_batch(&mut self, region: &RegionMeta, batch: &[AppliedCmd]) {
        for c in batch {
            if let AppliedChange::Mvcc(mods) = &c.change {
                self.push(ObservedEvent::Rows {
                    region: region.clone(),
                    index: c.index,
                    rows: encode_rows(mods),
                });
            }
        }
    }
}

impl AdminObserver for ResolvedTsObserver {
    fn post_exec_admin(&mut self, region: &RegionMeta, change: &AdminChange) {
        let cmd = match change {
            AdminChange::BatchSplit(_) => "BatchSplit",
            AdminChange::PrepareMerge => "PrepareMerge",
            AdminChange::CommitMerge => "CommitMerge",
        };
        self.push(ObservedEvent::Admin {
            region: region.clone(),
            cmd,
        });
    }
}

impl RoleObserver for ResolvedTsObserver {
    fn on_role_change(&mut self, region: &RegionMeta, change: &RoleChange) {
        self.push(ObservedEvent::Role {
            region: region.clone(),
            state: change.state,
            initialized: change.initialized,
        });
    }
}

impl RegionChangeObserver for ResolvedTsObserver {
    fn on_region_changed(
        &mut self,
        region: &RegionMeta,
        event: RegionChangeEvent,
        role: StateRole,
    ) {
        match event {
            RegionChangeEvent::Destroy => self.push(ObservedEvent::Destroyed {
                region_id: region.id,
            }),
            // A split's new regions and a merge's target change range: the
            // endpoint re-registers a leader's region (`ReRegisterRegion`).
            RegionChangeEvent::Create | RegionChangeEvent::Update(_) => {
                self.push(ObservedEvent::Role {
                    region: region.clone(),
                    state: role,
                    initialized: region.end_key > region.start_key,
                })
            }
        }
    }
}
