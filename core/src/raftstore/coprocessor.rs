//! The coprocessor host (TiKV `components/raftstore/src/coprocessor/`):
//! observers that other components register on a store's raftstore and
//! apply path, as TiKV's `CoprocessorHost` runs them.
//!
//! - [`RoleObserver`]: a peer's Raft soft state changed (role or leader),
//!   from raftstore's ready loop (`on_role_change`).
//! - [`RegionChangeObserver`]: a peer was created, its region changed (a conf
//!   change applied), or it was destroyed (`on_region_changed`).
//! - [`CmdObserver`]: the changes of each applied batch, from the apply path
//!   (`on_flush_applied_cmd_batch`).
//! - [`AdminObserver`]: an admin command that changes regions (split, merge)
//!   applied, with the region as it was before (`post_exec_admin`).
//!
//! Observers run synchronously and emit nothing themselves: like TiKV's
//! (the deadlock detector's `RoleChangeNotifier`, resolved-ts's observer),
//! they hand what they saw to their component, which acts on it when it
//! runs. Observers of one kind run in registration order (TiKV orders them
//! by priority, then registration).

use raft::StateRole;

use crate::mvcc::Modify;
use crate::proto::RegionMeta;

/// TiKV's `RoleChange`: the peer's new Raft soft state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// The new raft-rs role.
    pub state: StateRole,
    /// The leader the peer knows of (0 = none).
    pub leader_id: u64,
    /// Whether the peer's region is initialized (has data and a range).
    pub initialized: bool,
}

/// Why a region changed (TiKV `RegionChangeReason`, the ones simulated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionChangeReason {
    /// A conf change applied (`ChangePeer`).
    ChangePeer,
    /// A `BatchSplit` applied: the parent's range and epoch changed.
    Split,
    /// A `PrepareMerge` applied: the source's epoch changed, it is merging.
    PrepareMerge,
    /// A `CommitMerge` applied: the target took the source's range.
    CommitMerge,
    /// A `RollbackMerge` applied: the source serves again.
    RollbackMerge,
}

/// TiKV's `RegionChangeEvent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionChangeEvent {
    /// A peer of the region was created on this store.
    Create,
    /// The region's metadata changed.
    Update(RegionChangeReason),
    /// The peer was destroyed.
    Destroy,
}

/// What one applied entry changed in the region's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppliedChange {
    /// A raw `Put` of `key` at version `ts`.
    RawPut {
        /// Key.
        key: u64,
        /// Version (the writer's TSO ts).
        ts: u64,
    },
    /// A transactional write: the MVCC modifications of one command.
    Mvcc(Vec<Modify>),
}

/// One applied entry: its index, term and changes (TiKV's `Cmd`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedCmd {
    /// Log index.
    pub index: u64,
    /// Term.
    pub term: u64,
    /// What it changed.
    pub change: AppliedChange,
}

/// An applied admin command that changes regions, as TiKV's
/// `post_exec_admin` sees it through `RegionState` (`modified_region`,
/// `new_regions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminChange {
    /// `BatchSplit`: every region of the split in key order, the parent
    /// (with its new epoch) among them (`new_regions`).
    BatchSplit(Vec<RegionMeta>),
    /// `PrepareMerge` on the source.
    PrepareMerge,
    /// `CommitMerge` on the target.
    CommitMerge,
}

/// An admin observer (TiKV's `AdminObserver::post_exec_admin`).
pub trait AdminObserver {
    /// `change` applied to `region` (the region as it was before it).
    fn post_exec_admin(&mut self, region: &RegionMeta, change: &AdminChange);
}

/// A role observer.
pub trait RoleObserver {
    /// The peer of `region` on this store changed its soft state.
    fn on_role_change(&mut self, region: &RegionMeta, change: &RoleChange);
}

/// A region-change observer.
pub trait RegionChangeObserver {
    /// `region` changed on this store (`role` is the peer's role now).
    fn on_region_changed(&mut self, region: &RegionMeta, event: RegionChangeEvent, role: StateRole);
}

/// A command observer.
pub trait CmdObserver {
    /// A batch of entries of `region` was applied, in log order.
    fn on_flush_applied_cmd_batch(&mut self, region: &RegionMeta, batch: &[AppliedCmd]);
}

/// The observers registered on one store.
#[derive(Default)]
pub struct CoprocessorHost {
    role: Vec<Box<dyn RoleObserver>>,
    region: Vec<Box<dyn RegionChangeObserver>>,
    cmd: Vec<Box<dyn CmdObserver>>,
    admin: Vec<Box<dyn AdminObserver>>,
}

impl std::fmt::Debug for CoprocessorHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoprocessorHost")
            .field("role_observers", &self.role.len())
            .field("region_change_observers", &self.region.len())
            .field("cmd_observers", &self.cmd.len())
            .field("admin_observers", &self.admin.len())
            .finish()
    }
}

impl CoprocessorHost {
    /// Registers a role observer.
    pub fn register_role_observer(&mut self, o: Box<dyn RoleObserver>) {
        self.role.push(o);
    }

    /// Registers a region-change observer.
    pub fn register_region_change_observer(&mut self, o: Box<dyn RegionChangeObserver>) {
        self.region.push(o);
    }

    /// Registers a command observer.
    pub fn register_cmd_observer(&mut self, o: Box<dyn CmdObserver>) {
        self.cmd.push(o);
    }

    /// Registers an admin observer.
    pub fn register_admin_observer(&mut self, o: Box<dyn AdminObserver>) {
        self.admin.push(o);
    }

    /// Runs the admin observers.
    pub fn post_exec_admin(&mut self, region: &RegionMeta, change: &AdminChange) {
        for o in &mut self.admin {
            o.post_exec_admin(region, change);
        }
    }

    /// True when some command observer wants applied batches (the apply
    /// path only builds them then).
    pub fn has_cmd_observers(&self) -> bool {
        !self.cmd.is_empty()
    }

    /// Runs the role observers.
    pub fn on_role_change(&mut self, region: &RegionMeta, change: &RoleChange) {
        for o in &mut self.role {
            o.on_role_change(region, change);
        }
    }

    /// Runs the region-change observers.
    pub fn on_region_changed(
        &mut self,
        region: &RegionMeta,
        event: RegionChangeEvent,
        role: StateRole,
    ) {
        for o in &mut self.region {
            o.on_region_changed(region, event, role);
        }
    }

    /// Runs the command observers on an applied batch.
    pub fn on_flush_applied_cmd_batch(&mut self, region: &RegionMeta, batch: &[AppliedCmd]) {
        if batch.is_empty() {
            return;
        }
        for o in &mut self.cmd {
            o.on_flush_applied_cmd_batch(region, batch);
        }
    }
}
