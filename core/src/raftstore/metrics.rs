//! raftstore's counters and series (TiKV `components/raftstore/src/store/metrics.rs`).

use crate::kernel::metrics::{Counter, SeriesFamily};

/// Memtables flushed to SST files (RocksDB's flushes; raft-kv2 also
/// flushes a tablet before a checkpoint or a `PrepareMerge`).
pub const MEMTABLE_FLUSHES: Counter = Counter::new("memtable_flushes");
/// Transfer-leader commands a leader received from PD.
pub const TRANSFER_LEADER_ATTEMPTS: Counter = Counter::new("transfer_leader_attempts");
/// Transfer-leader attempts rejected, for any reason.
pub const TRANSFER_LEADER_REJECTED: Counter = Counter::new("transfer_leader_rejected");
/// Transfer-leader attempts rejected because of a pending conf change ("reject transfer leader due to pending conf change").
pub const TRANSFER_LEADER_REJECTED_PENDING_CONF: Counter =
    Counter::new("transfer_leader_rejected_pending_conf");
/// Transferees that became leader.
pub const TRANSFER_LEADER_SUCCEEDED: Counter = Counter::new("transfer_leader_succeeded");
/// Peers that became leader.
pub const LEADER_ELECTED: Counter = Counter::new("leader_elected");
/// Conf changes a leader proposed for PD.
pub const CONF_CHANGES_PROPOSED: Counter = Counter::new("conf_changes_proposed");
/// Region leaders on the store (`leaders_store_N`).
pub const LEADERS: SeriesFamily = SeriesFamily::per_store("leaders");
/// Snapshots generated (files written) on a `snap-generator` thread.
pub const SNAPSHOTS_GENERATED: Counter = Counter::new("snapshots_generated");
/// Calls of `PeerStorage::snapshot` that answered `SnapshotTemporarilyUnavailable`
/// (the first call of every generation, and calls while it runs).
pub const SNAPSHOT_TEMPORARILY_UNAVAILABLE: Counter =
    Counter::new("snapshot_temporarily_unavailable");
/// Regions split (`BatchSplit`s applied, counted on the parent's leader).
pub const REGION_SPLITS: Counter = Counter::new("region_splits");
/// Snapshots whose data a `region-worker` applied ("apply new data").
pub const SNAPSHOTS_APPLIED: Counter = Counter::new("snapshots_applied");
/// Regions merged (`CommitMerge`s applied, counted on the target's leader).
pub const REGION_MERGES: Counter = Counter::new("region_merges");
/// Merges rolled back (`RollbackMerge`s applied, counted on the source's leader).
pub const REGION_MERGES_ROLLED_BACK: Counter = Counter::new("region_merges_rolled_back");
