//! Read-only snapshots of the simulation for the page and the command line.
//!
//! Everything here is plain data (serde-serializable), built by the
//! functions of [`cluster`] and [`locks`] from a [`crate::Simulation`]; the
//! frontend draws these structs and never reaches into the simulator's
//! state. Views read components; components never import views (the domain
//! types a view carries, such as [`TransferOutcome`] or [`DetectorRole`],
//! live in their components). Times are virtual milliseconds (`*_ms`)
//! unless the field says otherwise.

pub mod cluster;
pub mod ime;
pub mod locks;
pub mod memory;
pub mod resolved_ts;
pub mod snapshots;
pub mod why;

use serde::Serialize;

pub use crate::client::txn::{TxnInFlight, TxnPhase};
pub use crate::env::oom::OomKill;
pub use crate::lock_manager::DetectorRole;
pub use crate::pd::OperatorStatus;
pub use crate::raftstore::peer::{TransferAttempt, TransferOutcome};

/// The state of one store's simulated disk, as drawn on the cluster map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DiskState {
    /// Writes complete after the configured latency.
    Healthy,
    /// An IO hang holds every write of the store until `until_ms`
    /// (virtual ms; `None` when the hang has no scheduled end).
    Hung {
        /// Virtual ms at which the hang began.
        since_ms: u64,
        /// Virtual ms at which it ends, if known.
        until_ms: Option<u64>,
    },
}

/// One store (one TiKV process with its disk) on the cluster map.
#[derive(Clone, Debug, Serialize)]
pub struct StoreView {
    /// TiKV store id (1-based).
    pub id: u64,
    /// False while the process is down (crashed, not yet restarted).
    pub up: bool,
    /// The disk's state.
    pub disk: DiskState,
    /// Disk writes queued or in service (count of raftstore and apply write batches).
    pub disk_queue: usize,
    /// Bytes queued on the disk, not yet durable.
    pub disk_queue_bytes: u64,
    /// TiKV's slow score for this store (1 = healthy .. 100 = slow), as last computed
    /// by the store's health checker (`components/health_controller/src/slow_score.rs`).
    pub slow_score: u64,
    /// True once PD's evict-slow-store scheduler has marked the store for leader eviction.
    pub evicted_as_slow: bool,
    /// Number of region leaders on the store.
    pub leader_count: usize,
    /// Number of region peers (any role) on the store.
    pub peer_count: usize,
}

/// The role of a peer as raft-rs reports it, plus whether it is a learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PeerRole {
    /// raft-rs `StateRole::Leader`.
    Leader,
    /// raft-rs `StateRole::Follower` (a voter).
    Follower,
    /// raft-rs `StateRole::Candidate`.
    Candidate,
    /// raft-rs `StateRole::PreCandidate`.
    PreCandidate,
    /// A learner (non-voting) peer, as added by PD's `AddLearnerNode` step.
    Learner,
    /// The peer's store is down; its volatile state is gone.
    Down,
}

/// One peer of a region, with its Raft indices.
#[derive(Clone, Debug, Serialize)]
pub struct PeerView {
    /// TiKV peer id.
    pub peer_id: u64,
    /// Store holding the peer.
    pub store_id: u64,
    /// Role (see [`PeerRole`]).
    pub role: PeerRole,
    /// The peer's current Raft term.
    pub term: u64,
    /// Highest log index durable on the peer's disk (raft-rs `persisted`).
    pub persisted: u64,
    /// Highest log index the peer knows to be committed.
    pub committed: u64,
    /// Highest log index applied to the peer's state machine (persisted apply state).
    pub applied: u64,
    /// Last index in the peer's log (durable or not).
    pub last_index: u64,
    /// First index still in the log (entries below it were compacted).
    pub first_index: u64,
    /// raft-rs `pending_conf_index` (0 when this peer has never proposed a conf change).
    pub pending_conf_index: u64,
    /// raft-rs `has_pending_conf()`: `pending_conf_index > applied`.
    pub has_pending_conf: bool,
    /// For the leader only: the replication progress of this peer as the leader sees it
    /// (`matched` index), `None` on non-leaders.
    pub matched: Option<u64>,
    /// For the leader only: raft-rs's progress state of this peer as the
    /// leader sees it (`Probe`, `Replicate` or `Snapshot`), `None` on non-leaders.
    pub progress_state: Option<&'static str>,
    /// The peer's `SnapState` (`Relax`, `Generating`, `Applying`, `ApplyAborted`).
    pub snap_state: &'static str,
}

/// Summary of one region for the cluster map.
#[derive(Clone, Debug, Serialize)]
pub struct RegionView {
    /// TiKV region id.
    pub id: u64,
    /// Start of the region's key range (inclusive), as printable text.
    pub start_key: String,
    /// End of the region's key range (exclusive; empty = +inf).
    pub end_key: String,
    /// `conf_ver` of the region epoch as the leader last applied it.
    pub conf_ver: u64,
    /// `version` of the region epoch as the leader last applied it (bumped
    /// by splits and merges).
    pub version: u64,
    /// The region is a merge source between `PrepareMerge` and the end of
    /// the merge (TiKV's `PeerState::Merging`).
    pub merging: bool,
    /// True for the scenario's hot region.
    pub hot: bool,
    /// Store of the current leader, if any peer leads.
    pub leader_store: Option<u64>,
    /// Peers, ordered by store id.
    pub peers: Vec<PeerView>,
    /// Completed client writes per virtual second over the last second.
    pub qps: f64,
}

/// Kind of a Raft log entry, for the log strip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EntryKind {
    /// An empty entry (a new leader's no-op).
    Empty,
    /// A client write (`Put`).
    Normal,
    /// A conf change (`AddLearnerNode`, `AddNode`, `RemoveNode`, or a joint
    /// `ConfChangeV2`: enter or leave).
    ConfChange,
}

/// One entry of the leader's log strip.
#[derive(Clone, Debug, Serialize)]
pub struct EntryView {
    /// Log index.
    pub index: u64,
    /// Term the entry was proposed in.
    pub term: u64,
    /// Kind.
    pub kind: EntryKind,
    /// For conf changes, what it does (for example `AddLearnerNode peer 9 on store 4`).
    pub label: Option<String>,
}

/// The Raft group panel for one region.
#[derive(Clone, Debug, Serialize)]
pub struct RaftGroupView {
    /// Region id.
    pub region_id: u64,
    /// Highest term among the peers.
    pub term: u64,
    /// Peers with indices and roles.
    pub peers: Vec<PeerView>,
    /// The last entries of the leader's (or, without a leader, the longest) log,
    /// at most 64, oldest first.
    pub log_tail: Vec<EntryView>,
    /// The leader's `pending_conf_index` (0 if none or no leader).
    pub pending_conf_index: u64,
    /// The conf change entry at `pending_conf_index` in the leader's log, if that
    /// entry is a conf change (raft-rs also sets the index to the last index when
    /// a peer becomes leader, where there may be none). Present even when the
    /// entry is older than `log_tail`.
    pub pending_conf_entry: Option<EntryView>,
    /// The transfer-leader attempts seen on this region, newest last (at most 50).
    pub transfer_attempts: Vec<TransferAttempt>,
}

/// One PD operator, in flight or done.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorView {
    /// Operator id (sequence number within the run).
    pub id: u64,
    /// Region it acts on.
    pub region_id: u64,
    /// PD's description, for example `evict-slow-store` or `move-hot-write-peer`.
    pub desc: String,
    /// The steps, as PD prints them (for example `transfer leader from store 3 to store 1`).
    pub steps: Vec<String>,
    /// Index into `steps` of the step in progress (== `steps.len()` when done).
    pub current_step: usize,
    /// Status.
    pub status: OperatorStatus,
    /// Virtual ms at creation.
    pub created_ms: u64,
    /// Virtual ms at which it ended, if it has.
    pub finished_ms: Option<u64>,
}

/// A fault window, for shading charts.
#[derive(Clone, Debug, Serialize)]
pub struct FaultWindow {
    /// What kind of fault (`io-hang`, `crash`, `partition`, or `panic`: a
    /// store that aborted on a failed assertion, until its restart).
    pub kind: String,
    /// Store concerned.
    pub store: u64,
    /// Start, virtual ms.
    pub start_ms: u64,
    /// End, virtual ms (`None` while open-ended).
    pub end_ms: Option<u64>,
}

/// The whole cluster at one virtual instant.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterView {
    /// Virtual time, µs.
    pub now_us: u64,
    /// Stores ordered by id.
    pub stores: Vec<StoreView>,
    /// Regions ordered by start key.
    pub regions: Vec<RegionView>,
    /// PD operators, in flight first, then the most recent finished ones (at most 30).
    pub operators: Vec<OperatorView>,
    /// Cluster QPS over the last virtual second.
    pub qps: f64,
    /// Fault windows scheduled or past.
    pub faults: Vec<FaultWindow>,
    /// Number of invariant violations recorded so far.
    pub violations: usize,
}

/// One queue between the lock manager's components on a store, at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueView {
    /// Queue name: `waiter_manager_tasks` (scheduler → WaiterManager),
    /// `detector_tasks` (→ Detector) or `detector_stream` (the follower's
    /// unbounded `mpsc` feeding the one gRPC stream to the detector leader).
    pub name: &'static str,
    /// Items queued now.
    pub depth: u64,
    /// Bytes the queued items hold (see [`crate::memory`] for the size rules).
    pub bytes: u64,
    /// Items pushed during the last virtual second.
    pub in_per_sec: u64,
    /// Items drained during the last virtual second.
    pub out_per_sec: u64,
    /// The capacity when the queue is bounded (`fix=backpressure` on the
    /// stream), `None` when unbounded as in TiKV.
    pub capacity: Option<u64>,
}

/// The lock manager of one store.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreLockView {
    /// Store id.
    pub store: u64,
    /// False while the process is down (OOM-killed or crashed).
    pub up: bool,
    /// Detector role.
    pub role: DetectorRole,
    /// The queues, in pipeline order.
    pub queues: Vec<QueueView>,
    /// Waiters in the waiter manager's wait table.
    pub waiters: u64,
    /// Memory trace tree of the store, bytes.
    pub memory: crate::memory::MemoryTrace,
    /// Memory limit of the store (the OOM killer's threshold), bytes.
    pub memory_limit: u64,
}

/// A waiter in a store's waiter manager: `waiter_ts` waits for the lock of
/// `lock_ts` on `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitEdgeView {
    /// Store whose waiter manager holds the waiter (the key's region leader).
    pub store: u64,
    /// The waiting transaction's start_ts.
    pub waiter_ts: u64,
    /// start_ts of the lock it waits for (the current owner).
    pub lock_ts: u64,
    /// The key.
    pub key: u64,
    /// `allow_lock_with_conflict` (fair locking) of the wait.
    pub fair: bool,
    /// Virtual ms at which the wait began.
    pub since_ms: u64,
}

/// One edge in the detector leader's `DetectTable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DetectEdgeView {
    /// Waiting transaction.
    pub txn_ts: u64,
    /// Transaction it waits for.
    pub wait_for_ts: u64,
    /// Keys of the edge (key hashes are the keys themselves here).
    pub keys: Vec<u64>,
    /// Virtual ms of the last detect on this edge; it expires
    /// `wait-for-lock-timeout` later.
    pub last_detect_ms: u64,
}

/// A deadlock the detector found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeadlockView {
    /// Virtual ms of the detection on the leader.
    pub at_ms: u64,
    /// The victim (the transaction whose detect closed the cycle; it gets
    /// `Deadlock`).
    pub victim_ts: u64,
    /// The cycle as `(txn, wait_for_txn, key)` entries (`WaitForEntry`), starting
    /// at the victim.
    pub wait_chain: Vec<(u64, u64, u64)>,
}

/// The transactions, locks and deadlock detector of the whole cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockView {
    /// Store running the detector leader, if any store is leader now.
    pub detector_leader: Option<u64>,
    /// Per store.
    pub stores: Vec<StoreLockView>,
    /// Transactions in flight.
    pub txns: Vec<TxnInFlight>,
    /// Local waiters of every store.
    pub waits: Vec<WaitEdgeView>,
    /// The detector leader's table.
    pub detect_table: Vec<DetectEdgeView>,
    /// The last deadlocks found (most recent last, at most 32).
    pub deadlocks: Vec<DeadlockView>,
    /// Keys that are hot in the scenario (the contended ones).
    pub hot_keys: Vec<u64>,
}
