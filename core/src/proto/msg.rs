//! Messages that cross the simulated network, and region metadata.
//!
//! These mirror kvproto: `RaftMessage` (raft_serverpb), the `Put` write request
//! with its region errors (errorpb), and PD's region/store heartbeats and their
//! scheduling commands (pdpb). Only the fields the simulation uses are kept.

use raft::eraftpb;
use serde::Serialize;

/// Key of the simulated keyspace. Regions cover half-open ranges of keys.
pub type Key = u64;

/// A peer of a region (kvproto `metapb::Peer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PeerMeta {
    /// Peer id, unique in the cluster.
    pub id: u64,
    /// Store holding it.
    pub store_id: u64,
    /// `PeerRole::Learner` in kvproto.
    pub is_learner: bool,
}

/// The sender's region as a `RaftMessage` carries it (kvproto
/// `RaftMessage.start_key`, `end_key`, `region_epoch.version`): a store that
/// has no peer of the region creates one only if no initialized region of its
/// own overlaps the range (TiKV `maybe_create_peer`), and a snapshot whose
/// region is newer than the local regions it covers replaces them (merge
/// sources this store never saw merged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderRegion {
    /// First key (inclusive).
    pub start_key: Key,
    /// End key (exclusive); `Key::MAX` stands for +inf.
    pub end_key: Key,
    /// Epoch `version`.
    pub version: u64,
}

impl SenderRegion {
    /// The range and version of `r`.
    pub fn of(r: &RegionMeta) -> SenderRegion {
        SenderRegion {
            start_key: r.start_key,
            end_key: r.end_key,
            version: r.version,
        }
    }
}

/// A region's metadata (kvproto `metapb::Region`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionMeta {
    /// Region id.
    pub id: u64,
    /// First key (inclusive).
    pub start_key: Key,
    /// End key (exclusive); `Key::MAX` stands for +inf.
    pub end_key: Key,
    /// Epoch `conf_ver`: bumped by every applied conf change.
    pub conf_ver: u64,
    /// Epoch `version`: bumped by splits (by the number of new regions, as
    /// TiKV's `exec_batch_split`) and merges.
    pub version: u64,
    /// Peers.
    pub peers: Vec<PeerMeta>,
}

impl RegionMeta {
    /// The peer on `store_id`, if any.
    pub fn peer_on(&self, store_id: u64) -> Option<PeerMeta> {
        self.peers.iter().copied().find(|p| p.store_id == store_id)
    }

    /// The peer with id `peer_id`, if any.
    pub fn peer_by_id(&self, peer_id: u64) -> Option<PeerMeta> {
        self.peers.iter().copied().find(|p| p.id == peer_id)
    }

    /// True if `key` falls in the region's range.
    pub fn contains(&self, key: Key) -> bool {
        key >= self.start_key && key < self.end_key
    }

    /// True if the region's range and `[start, end)` share a key (an empty
    /// range, an uninitialized peer's `0..0`, overlaps nothing).
    pub fn overlaps(&self, start: Key, end: Key) -> bool {
        self.start_key < self.end_key && start < end && self.start_key < end && start < self.end_key
    }

    /// The region as TiKV's logs print it (`id`, range, `region_epoch`,
    /// peers as `peer_id@store_id`, learners marked `L`).
    pub fn describe(&self) -> String {
        let end = if self.end_key == Key::MAX {
            "+inf".to_string()
        } else {
            self.end_key.to_string()
        };
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| {
                format!(
                    "{}@{}{}",
                    p.id,
                    p.store_id,
                    if p.is_learner { "L" } else { "" }
                )
            })
            .collect();
        format!(
            "{{id: {}, start_key: {}, end_key: {end}, region_epoch: {{conf_ver: {}, version: {}}}, peers: [{}]}}",
            self.id,
            self.start_key,
            self.conf_ver,
            self.version,
            peers.join(", ")
        )
    }

    /// TiKV's `util::is_epoch_stale`: `self`'s epoch is older than `other`'s
    /// in version or conf_ver.
    pub fn is_epoch_stale(&self, other: &RegionMeta) -> bool {
        self.version < other.version || self.conf_ver < other.conf_ver
    }
}

/// PD's answer for one new region of a batch split (pdpb `SplitID`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SplitId {
    /// Id of the new region.
    pub new_region_id: u64,
    /// Ids of its peers, in the order of the parent region's peers.
    pub new_peer_ids: Vec<u64>,
}

/// Why a write was refused (kvproto `errorpb::Error`, the variants used here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RegionError {
    /// `NotLeader`, with the leader's store if the peer knows it.
    NotLeader {
        /// Store of the leader the peer knows of.
        leader_store: Option<u64>,
    },
    /// `RegionNotFound`: no peer of the region on this store.
    RegionNotFound,
    /// raft-rs refused the proposal (`ProposalDropped`, for example during a leader transfer).
    ProposalDropped,
    /// `StaleCommand`: the entry was overwritten by a new leader before it applied.
    StaleCommand,
    /// `EpochNotMatch`: the request's region was split (or its key is no
    /// longer in the region), with the store's current regions for the range
    /// (errorpb `EpochNotMatch.current_regions`), so the client can refresh
    /// its region cache (client-go `onRegionEpochNotMatch`).
    EpochNotMatch {
        /// The regions the store now has for the request's range.
        current_regions: Vec<RegionMeta>,
    },
    /// `ProposalInMergingMode`: the region is merging (its `PrepareMerge`
    /// applied) and takes no proposal until the merge commits or rolls
    /// back; client-go backs off (`regionScheduling`) and retries.
    ProposalInMergingMode,
    /// `DataIsNotReady`: a stale read at a ts above the peer's safe-ts
    /// (TiKV's `LocalReader`: `read_progress.safe_ts() < read_ts`); the
    /// client retries on the leader.
    DataIsNotReady {
        /// The peer's safe-ts when it refused.
        safe_ts: u64,
    },
}

/// kvrpcpb `TxnStatus`, one entry of a `BroadcastTxnStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnStatusEntry {
    /// The transaction's start_ts.
    pub start_ts: u64,
    /// Its `min_commit_ts` (while it runs).
    pub min_commit_ts: u64,
    /// Its commit ts, 0 while not committed.
    pub commit_ts: u64,
    /// Rolled back.
    pub rolled_back: bool,
    /// Every lock is resolved (the large-txn cache entry may go).
    pub is_completed: bool,
}

/// kvproto `LeaderInfo`: what a leader's store sends in `CheckLeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Region.
    pub region_id: u64,
    /// The leader's peer id.
    pub peer_id: u64,
    /// Its Raft term.
    pub term: u64,
    /// Region epoch version.
    pub version: u64,
    /// Region epoch conf_ver.
    pub conf_ver: u64,
    /// `read_state.applied_index`: the leader's applied index when its
    /// resolved-ts was `safe_ts`.
    pub applied_index: u64,
    /// `read_state.safe_ts`: the leader's resolved-ts.
    pub safe_ts: u64,
}

/// One committed row a CDC endpoint emits (cdcpb `Event.Row` of type
/// `COMMITTED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CdcRow {
    /// Key.
    pub key: Key,
    /// The writing transaction's start_ts.
    pub start_ts: u64,
    /// Its commit_ts.
    pub commit_ts: u64,
}

/// A scheduling command PD sends to a region leader in a heartbeat response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PdCommand {
    /// `TransferLeader`: move leadership to `peer`.
    TransferLeader {
        /// The transferee.
        peer: PeerMeta,
    },
    /// `ChangePeer`: a simple conf change.
    ChangePeer {
        /// `AddLearnerNode`, `AddNode` (promote) or `RemoveNode`.
        change: eraftpb::ConfChangeType,
        /// The peer concerned.
        peer: PeerMeta,
    },
    /// `ChangePeerV2` (pdpb `ChangePeerV2`): a joint-consensus conf change.
    /// With changes, enter the joint state (promote learners with
    /// `AddNode`, demote voters with `AddLearnerNode`, as one
    /// `ConfChangeV2`); with none, leave it.
    ChangePeerV2 {
        /// `(change type, peer)`, empty to leave the joint state.
        changes: Vec<(eraftpb::ConfChangeType, PeerMeta)>,
    },
    /// `Merge`: merge this region (the source) into `target`, an adjacent
    /// region (pdpb `RegionHeartbeatResponse.merge`).
    Merge {
        /// The target region as PD knows it.
        target: RegionMeta,
    },
}

/// Region heartbeat from a leader to PD (pdpb `RegionHeartbeatRequest`).
#[derive(Clone, Debug)]
pub struct RegionHeartbeat {
    /// The region as the leader has applied it.
    pub region: RegionMeta,
    /// The leader peer.
    pub leader: PeerMeta,
    /// Leader's term.
    pub term: u64,
    /// Peers that are known to lag (need a snapshot or have not caught up).
    pub pending_peers: Vec<u64>,
    /// Bytes written to the region since the last heartbeat.
    pub written_bytes: u64,
    /// Keys written since the last heartbeat.
    pub written_keys: u64,
    /// The region's size from its last split check, bytes (pdpb
    /// `approximate_size`); `None` before the first check.
    pub approximate_size: Option<u64>,
    /// Peers in the `DemotingVoter` role (the region is in a joint state:
    /// voters of the outgoing configuration becoming learners).
    pub demoting_peers: Vec<u64>,
}

/// Store heartbeat to PD (pdpb `StoreHeartbeatRequest`).
#[derive(Clone, Debug)]
pub struct StoreHeartbeat {
    /// Store id.
    pub store_id: u64,
    /// TiKV's slow score (1..=100).
    pub slow_score: u64,
}

/// A client write (a `Put` of one key, as a TPCC statement's row write).
#[derive(Clone, Debug)]
pub struct WriteRequest {
    /// Client thread index.
    pub client: u32,
    /// Request id, unique per client.
    pub req_id: u64,
    /// Target region (from the client's region cache).
    pub region_id: u64,
    /// Key.
    pub key: Key,
    /// Version written (a TSO timestamp from PD).
    pub ts: u64,
    /// Value length in bytes.
    pub value_len: u32,
}

/// A client read: a coprocessor request scanning `keys` keys of one region
/// from `key` at `ts` (a TiDB table scan).
#[derive(Clone, Debug)]
pub struct ReadRequest {
    /// Client thread index.
    pub client: u32,
    /// Request id, unique per client.
    pub req_id: u64,
    /// Target region (from the client's region cache).
    pub region_id: u64,
    /// The region epoch version the client has cached.
    pub region_version: u64,
    /// First key read.
    pub key: Key,
    /// Keys the scan returns (a long scan, an `ANALYZE`, returns many).
    pub keys: u64,
    /// Read timestamp (from PD's TSO).
    pub ts: u64,
    /// How long the client keeps the response stream open (a coprocessor
    /// stream a slow consumer reads page by page): the snapshot is held at
    /// least this long, virtual µs.
    pub stream_duration: crate::kernel::time::Micros,
}

/// What a read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOk {
    /// Timestamp of the version of `key` read (`None`: no value).
    pub value_ts: Option<u64>,
    /// Served from the in-memory engine.
    pub from_cache: bool,
}

/// A mutation in a prewrite (kvrpcpb `Mutation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// `Op::Put` of a value (the simulation's values are integers).
    Put(Key, i64),
    /// `Op::Lock`: lock the key without changing it.
    Lock(Key),
}

impl Mutation {
    /// The mutated key.
    pub fn key(&self) -> Key {
        match *self {
            Mutation::Put(k, _) | Mutation::Lock(k) => k,
        }
    }
}

/// A transactional command sent by a client (TiDB) to a region leader
/// (kvrpcpb `PessimisticLockRequest`, `PrewriteRequest`, `CommitRequest`,
/// `BatchRollbackRequest`, `PessimisticRollbackRequest`, `GetRequest`).
/// Timestamps are PD TSO values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnCommand {
    /// `AcquirePessimisticLock` of one key.
    AcquirePessimisticLock {
        /// Transaction start_ts.
        start_ts: u64,
        /// `for_update_ts`: the statement's read ts; a newer committed write is a conflict.
        for_update_ts: u64,
        /// The transaction's primary key.
        primary: Key,
        /// Key to lock.
        key: Key,
        /// True for the transaction's first lock (it cannot be part of a deadlock,
        /// so TiKV sends no Detect for it).
        is_first_lock: bool,
        /// Wait in the lock wait queue when the key is locked (TiKV caps the wait
        /// at `wait-for-lock-timeout`); `false` fails at once with `KeyIsLocked`.
        wait: bool,
        /// `allow_lock_with_conflict`: fair locking (TiDB `tidb_pessimistic_txn_fair_locking`).
        allow_lock_with_conflict: bool,
    },
    /// `Prewrite` (pessimistic when `for_update_ts > 0`).
    Prewrite {
        /// Transaction start_ts.
        start_ts: u64,
        /// `for_update_ts` of a pessimistic transaction, 0 for an optimistic one.
        for_update_ts: u64,
        /// Primary key.
        primary: Key,
        /// Mutations in this region.
        mutations: Vec<Mutation>,
        /// `lock_ttl`, virtual ms (0: the workload never checks it).
        lock_ttl: u64,
    },
    /// `Flush` (kvrpcpb `FlushRequest`, `src/storage/txn/commands/flush.rs`):
    /// a pipelined transaction writes its buffered mutations as locks of
    /// `generation` (> 0) while it runs; a key's lock of an older generation
    /// of the same transaction is overwritten.
    Flush {
        /// Transaction start_ts.
        start_ts: u64,
        /// Primary key.
        primary: Key,
        /// Mutations in this region.
        mutations: Vec<Mutation>,
        /// The flush's generation (1, 2, ...).
        generation: u64,
        /// `lock_ttl`, virtual ms.
        lock_ttl: u64,
    },
    /// `TxnHeartBeat` (`commands/txn_heart_beat.rs`): the TTL manager keeps
    /// the primary lock alive (`ttl` raised to `advise_ttl`) and, for a
    /// pipelined transaction, pushes its `min_commit_ts`.
    TxnHeartBeat {
        /// The primary key.
        primary: Key,
        /// Transaction start_ts.
        start_ts: u64,
        /// The TTL wanted, virtual ms since start_ts's physical time.
        advise_ttl: u64,
        /// The new `min_commit_ts` (0: unchanged).
        min_commit_ts: u64,
    },
    /// `CheckTxnStatus` (`commands/check_txn_status.rs`) on the primary key:
    /// a lock past its TTL is rolled back; a missing lock is looked up in
    /// `CF_WRITE`.
    CheckTxnStatus {
        /// The primary key.
        primary: Key,
        /// The transaction's start_ts.
        lock_ts: u64,
        /// The checker's start_ts.
        caller_start_ts: u64,
        /// The checker's current ts (TTL expiry is judged on its physical part).
        current_ts: u64,
        /// Write a rollback record when neither lock nor commit record exists.
        rollback_if_not_exist: bool,
    },
    /// `ResolveLock` (`commands/resolve_lock.rs`): commit (`commit_ts > 0`)
    /// or roll back the locks of `start_ts` on `keys`, or on every key of
    /// the region when `keys` is empty.
    ResolveLock {
        /// The transaction.
        start_ts: u64,
        /// Its commit ts, 0 to roll back.
        commit_ts: u64,
        /// Keys; empty = all of the transaction's locks in the region.
        keys: Vec<Key>,
    },
    /// `ScanLock`: the region's locks with `ts <= max_version`, at most `limit`.
    ScanLock {
        /// Highest lock ts returned.
        max_version: u64,
        /// At most this many.
        limit: u32,
    },
    /// `KvGet` with `context.stale_read`: served by any peer whose safe-ts
    /// is at least `ts`, else `DataIsNotReady`.
    StaleGet {
        /// Read ts.
        ts: u64,
        /// Key.
        key: Key,
    },
    /// `Commit` of keys at `commit_ts`.
    Commit {
        /// Transaction start_ts.
        start_ts: u64,
        /// Commit ts.
        commit_ts: u64,
        /// Keys.
        keys: Vec<Key>,
    },
    /// `BatchRollback`: roll back prewritten (or pessimistic) locks of the keys.
    Rollback {
        /// Transaction start_ts.
        start_ts: u64,
        /// Keys.
        keys: Vec<Key>,
    },
    /// `PessimisticRollback`: drop pessimistic locks of the keys.
    PessimisticRollback {
        /// Transaction start_ts.
        start_ts: u64,
        /// Keys.
        keys: Vec<Key>,
    },
    /// `KvGet` at snapshot `ts`.
    Get {
        /// Read ts.
        ts: u64,
        /// Key.
        key: Key,
    },
}

impl TxnCommand {
    /// The key a client routes the command by (the region holding it);
    /// `None` for a command addressed to a region as a whole (`ScanLock`,
    /// or `ResolveLock` with no keys).
    pub fn route_key(&self) -> Option<Key> {
        match self {
            TxnCommand::AcquirePessimisticLock { key, .. }
            | TxnCommand::Get { key, .. }
            | TxnCommand::StaleGet { key, .. } => Some(*key),
            TxnCommand::Prewrite { mutations, .. } | TxnCommand::Flush { mutations, .. } => {
                mutations.first().map(Mutation::key)
            }
            TxnCommand::Commit { keys, .. }
            | TxnCommand::Rollback { keys, .. }
            | TxnCommand::PessimisticRollback { keys, .. }
            | TxnCommand::ResolveLock { keys, .. } => keys.first().copied(),
            TxnCommand::TxnHeartBeat { primary, .. }
            | TxnCommand::CheckTxnStatus { primary, .. } => Some(*primary),
            TxnCommand::ScanLock { .. } => None,
        }
    }

    /// Keys the command latches in the txn scheduler (none for a read).
    pub fn keys(&self) -> Vec<Key> {
        let mut v = match self {
            TxnCommand::AcquirePessimisticLock { key, .. } => vec![*key],
            TxnCommand::Prewrite { mutations, .. } => mutations.iter().map(Mutation::key).collect(),
            TxnCommand::Flush { mutations, .. } => mutations.iter().map(Mutation::key).collect(),
            TxnCommand::Commit { keys, .. }
            | TxnCommand::Rollback { keys, .. }
            | TxnCommand::PessimisticRollback { keys, .. }
            | TxnCommand::ResolveLock { keys, .. } => keys.clone(),
            TxnCommand::TxnHeartBeat { primary, .. }
            | TxnCommand::CheckTxnStatus { primary, .. } => {
                vec![*primary]
            }
            TxnCommand::Get { .. } | TxnCommand::ScanLock { .. } | TxnCommand::StaleGet { .. } => {
                Vec::new()
            }
        };
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// kvrpcpb `WriteConflict.Reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WriteConflictReason {
    /// An optimistic prewrite found a newer committed write.
    Optimistic,
    /// A pessimistic lock found a newer write, or a legacy waiter was woken:
    /// TiDB retries the statement with a new `for_update_ts`.
    PessimisticRetry,
}

/// Errors a transactional command returns (TiKV's `MvccErrorInner` variants
/// that reach TiDB, plus region errors).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TxnError {
    /// A region error: retry on the right leader.
    Region(RegionError),
    /// `KeyIsLocked`: the key is locked by `lock_ts` (also what a lock wait
    /// that times out returns).
    KeyIsLocked {
        /// The key.
        key: Key,
        /// The lock's start_ts.
        lock_ts: u64,
    },
    /// `WriteConflict`.
    WriteConflict {
        /// The conflicting transaction's start_ts.
        conflict_start_ts: u64,
        /// Its commit_ts.
        conflict_commit_ts: u64,
        /// The key.
        key: Key,
        /// Why.
        reason: WriteConflictReason,
    },
    /// `Deadlock`: this transaction was chosen as the victim of a cycle.
    Deadlock {
        /// The lock it waited for.
        lock_ts: u64,
        /// The key.
        key: Key,
        /// The cycle, `(txn, wait_for_txn, key)`.
        wait_chain: Vec<(u64, u64, Key)>,
    },
    /// `PessimisticLockNotFound`: a pessimistic prewrite found no pessimistic
    /// lock (for example the in-memory lock was lost when the store restarted).
    PessimisticLockNotFound {
        /// The key.
        key: Key,
    },
    /// `TxnLockNotFound`: commit found neither the lock nor a commit record.
    TxnLockNotFound {
        /// The key.
        key: Key,
    },
    /// `TxnNotFound`: `TxnHeartBeat` (or `CheckTxnStatus` without
    /// `rollback_if_not_exist`) found no lock of the transaction.
    TxnNotFound {
        /// The transaction's start_ts.
        start_ts: u64,
    },
}

/// A successful command's result.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TxnOk {
    /// The value read (`Get`, or the locked key's latest value for a pessimistic lock).
    pub value: Option<i64>,
    /// For a fair-locking lock acquired with conflict: the conflicting write's commit_ts.
    pub locked_with_conflict_ts: Option<u64>,
    /// `TxnHeartBeat` / `CheckTxnStatus`: the transaction's status.
    pub txn_status: Option<TxnStatus>,
    /// `ScanLock`: the locks found, in key order.
    pub locks: Vec<LockInfo>,
}

/// kvrpcpb `LockInfo`: a lock as a client sees it (`ScanLock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// The locked key.
    pub key: Key,
    /// `primary_lock`.
    pub primary: Key,
    /// `lock_version`: the transaction's start_ts.
    pub lock_ts: u64,
    /// `lock_ttl`, virtual ms.
    pub ttl: u64,
    /// `min_commit_ts`.
    pub min_commit_ts: u64,
    /// The pipelined transaction's generation (0: a normal lock).
    pub generation: u64,
}

/// TiKV's `TxnStatus` (`src/storage/types.rs`), what `CheckTxnStatus` and
/// `TxnHeartBeat` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    /// The primary lock is alive: its TTL (virtual ms) and `min_commit_ts`.
    Uncommitted {
        /// `lock_ttl`, virtual ms.
        lock_ttl: u64,
        /// `min_commit_ts`.
        min_commit_ts: u64,
    },
    /// Committed at `commit_ts`.
    Committed {
        /// The commit ts.
        commit_ts: u64,
    },
    /// A rollback record exists.
    RolledBack,
    /// The lock's TTL had expired: it was rolled back now (`TtlExpireRollback`).
    TtlExpire,
    /// Neither lock nor record: a rollback record was written (`LockNotExistRollback`).
    LockNotExist,
}

/// One request on the detector stream (kvproto `deadlock.proto` `DeadlockRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlockRequest {
    /// `DeadlockRequestType`.
    pub tp: DeadlockRequestType,
    /// `WaitForEntry.txn`.
    pub txn: u64,
    /// `WaitForEntry.wait_for_txn`.
    pub wait_for_txn: u64,
    /// `WaitForEntry.key` (its hash is the key itself here).
    pub key: Key,
}

/// kvproto `DeadlockRequestType`, plus the proposal PR 17451 added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum DeadlockRequestType {
    /// `Detect = 0`: register the edge, or report the cycle it closes.
    Detect,
    /// `CleanUpWaitFor = 1`: remove one key of an edge.
    CleanUpWaitFor,
    /// `CleanUp = 2`: remove every edge of a transaction.
    CleanUp,
    /// PR 17451's `ReplaceLocksByKeys` item: move every edge waiting on `key`
    /// from `txn` (old lock ts) to `wait_for_txn` (new lock ts).
    ReplaceLockByKey,
}

/// TiKV's `SnapKey`: region, term and index of a snapshot (its files are
/// named `region_term_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SnapKey {
    /// Region id.
    pub region_id: u64,
    /// Term of the entry at `index`.
    pub term: u64,
    /// Applied index the snapshot was taken at.
    pub index: u64,
}

impl std::fmt::Display for SnapKey {
    /// TiKV's display: `region_term_index`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}_{}", self.region_id, self.term, self.index)
    }
}

/// One chunk of a snapshot stream ([`Msg::SnapshotChunk`]).
#[derive(Clone, Debug)]
pub struct SnapshotChunk {
    /// The sending store.
    pub from_store: u64,
    /// Which snapshot.
    pub key: SnapKey,
    /// The `RaftMessage`, on the first chunk only.
    pub head: Option<Box<SnapshotHead>>,
    /// The part of the files' content this chunk carries.
    pub data: Vec<u8>,
    /// The chunk's size as TiKV's would be, bytes.
    pub len: u64,
    /// True on the stream's last chunk.
    pub last: bool,
}

/// The `RaftMessage` a snapshot stream's first chunk carries.
#[derive(Clone, Debug)]
pub struct SnapshotHead {
    /// Region.
    pub region_id: u64,
    /// Sender peer.
    pub from_peer: PeerMeta,
    /// Receiver peer.
    pub to_peer: PeerMeta,
    /// The `MsgSnapshot`.
    pub msg: eraftpb::Message,
}

/// kvproto `raft_serverpb::ExtraMessage`: the types kvscope models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraMessage {
    /// `MsgWantRollbackMerge`: a follower of a merging source whose merge
    /// check failed asks its leader to roll back; `index` is the
    /// `PrepareMerge`'s commit index (TiKV `send_want_rollback_merge`).
    WantRollbackMerge {
        /// The merge state's `commit`.
        index: u64,
    },
}

/// Everything that travels over the simulated network.
#[derive(Clone, Debug)]
pub enum Msg {
    /// kvproto `RaftMessage`: a raft-rs message for one peer.
    Raft {
        /// Region.
        region_id: u64,
        /// Sender peer.
        from_peer: PeerMeta,
        /// Receiver peer.
        to_peer: PeerMeta,
        /// The sender's region range and epoch version.
        sender: SenderRegion,
        /// The raft-rs message.
        msg: Box<eraftpb::Message>,
    },
    /// kvproto `RaftMessage` with an `extra_msg` and no raft-rs message:
    /// raftstore's own peer-to-peer signals.
    RaftExtra {
        /// Region.
        region_id: u64,
        /// Sender peer.
        from_peer: PeerMeta,
        /// Receiver peer.
        to_peer: PeerMeta,
        /// The extra message.
        extra: ExtraMessage,
    },
    /// Client write to a region leader.
    Write(WriteRequest),
    /// Answer to a write.
    WriteResponse {
        /// Request id.
        req_id: u64,
        /// Region.
        region_id: u64,
        /// `Ok` once applied on the leader, or the region error.
        result: Result<(), RegionError>,
    },
    /// Client read to a region leader.
    Read(ReadRequest),
    /// Answer to a read.
    ReadResponse {
        /// Request id.
        req_id: u64,
        /// Region.
        region_id: u64,
        /// What it read, or the region error.
        result: Result<ReadOk, RegionError>,
    },
    /// Region heartbeat.
    RegionHeartbeat(RegionHeartbeat),
    /// Store heartbeat.
    StoreHeartbeat(StoreHeartbeat),
    /// A transactional command from a client session to a region leader.
    TxnRequest {
        /// Client session.
        client: u32,
        /// Request id, unique per session.
        req_id: u64,
        /// Region (from the session's region cache).
        region_id: u64,
        /// The command.
        cmd: TxnCommand,
    },
    /// Answer to a [`Msg::TxnRequest`].
    TxnResponse {
        /// Request id.
        req_id: u64,
        /// Result.
        result: Result<TxnOk, TxnError>,
    },
    /// A batch of `DeadlockRequest`s a follower's detector client sends on its
    /// stream to the detector leader (gRPC batches stream messages).
    DeadlockRequests {
        /// The follower store that sent them.
        from_store: u64,
        /// The requests, oldest first.
        reqs: Vec<DeadlockRequest>,
    },
    /// A `DeadlockResponse` from the detector leader (sent only on a deadlock).
    DeadlockResponse {
        /// The victim's entry: txn (victim), wait_for_txn (lock ts), key.
        entry: DeadlockRequest,
        /// `wait_chain`.
        wait_chain: Vec<(u64, u64, Key)>,
    },
    /// The detector leader ended the stream with a gRPC error
    /// (`FAILED_PRECONDITION "I'm not the leader of deadlock detector"`, or
    /// "leader changed").
    DeadlockStreamError {
        /// The gRPC status message.
        reason: &'static str,
    },
    /// HTTP/2 flow control on the detect stream: the leader's detector has
    /// consumed `bytes` more of the follower's stream (`WINDOW_UPDATE`).
    DeadlockStreamWindowUpdate {
        /// Bytes of window returned.
        bytes: u64,
    },
    /// The environment tells a node that its connection to `peer` broke: the
    /// peer's process is down (a reset on the next send, or its sockets
    /// closing when it dies), or a partition outlasted gRPC's keepalive.
    ConnectionReset {
        /// The other end.
        peer: crate::kernel::effect::Node,
    },
    /// One `SnapshotChunk` of the client stream `Tikv.Snapshot` a store opens
    /// to send a snapshot's files (TiKV's `src/server/snap.rs`): the first
    /// carries the `RaftMessage` with the `MsgSnapshot` (metadata only), the
    /// others up to `SNAP_CHUNK_LEN` (1 MiB) of the files each.
    SnapshotChunk(SnapshotChunk),
    /// The receiver's answer when a snapshot stream ends: `Done`, or the
    /// error status that ended it (RESOURCE_EXHAUSTED over the receive limit).
    SnapshotDone {
        /// The answering (receiving) store.
        from_store: u64,
        /// Which snapshot.
        key: SnapKey,
        /// `Ok` for `Done`, else the gRPC status text.
        result: Result<(), String>,
    },
    /// `TsoRequest` on a PD client's TSO stream: `count` timestamps.
    TsoRequest {
        /// The client's request id (answers to older ones are stale).
        req_id: u64,
        /// How many timestamps.
        count: u32,
    },
    /// PD's answer: the largest timestamp of the batch (`physical << 18 |
    /// logical`); the batch is `last - count + 1 ..= last`.
    TsoResponse {
        /// The request answered.
        req_id: u64,
        /// The largest timestamp allocated.
        last: u64,
        /// How many.
        count: u32,
    },
    /// Region lookups by key (`GetRegion`, batched as the PD client's
    /// router client batches them into `QueryRegion`), from a TiDB instance
    /// or a store (the deadlock detector's `get_region_info(LEADER_KEY)`).
    QueryRegion {
        /// The requester's request id.
        req_id: u64,
        /// Keys, one region each.
        keys: Vec<Key>,
    },
    /// PD's answer: for each key, the region and its leader as PD knows them.
    QueryRegionResponse {
        /// The request answered.
        req_id: u64,
        /// In key order.
        regions: Vec<Option<(RegionMeta, Option<PeerMeta>)>>,
    },
    /// pdpb `AskBatchSplitRequest`: a region leader's PD worker asks PD for
    /// the ids of `split_count` new regions and their peers.
    AskBatchSplit {
        /// The region as the leader has applied it.
        region: RegionMeta,
        /// Split keys (TiKV keeps them in the PD worker's task; they ride
        /// along here so the answer can be matched to them).
        split_keys: Vec<Key>,
    },
    /// pdpb `AskBatchSplitResponse`.
    AskBatchSplitResponse {
        /// The region (with the epoch it was asked at).
        region: RegionMeta,
        /// The split keys asked with.
        split_keys: Vec<Key>,
        /// One per split key.
        ids: Vec<SplitId>,
    },
    /// pdpb `ReportBatchSplitRequest`: the regions a split produced (PD keeps
    /// it for its history; its region tree learns them from heartbeats).
    ReportBatchSplit {
        /// Every region of the split, in key order.
        regions: Vec<RegionMeta>,
    },
    /// kvrpcpb `BroadcastTxnStatusRequest`: a TiDB instance tells every
    /// store the status of transactions (a pipelined transaction's TTL
    /// manager: its `min_commit_ts` while it runs, then its outcome), which
    /// fills the store's `TxnStatusCache`.
    BroadcastTxnStatus {
        /// kvrpcpb `TxnStatus` entries.
        statuses: Vec<TxnStatusEntry>,
    },
    /// kvproto `CheckLeaderRequest` (resolved-ts `LeadershipResolver`): a
    /// leader's store asks a follower's store to confirm its leadership of
    /// each region (same term and epoch), carrying the leader's
    /// `read_state` so the follower can advance its safe-ts.
    CheckLeader {
        /// The leaders' store, which the answer goes to.
        from_store: u64,
        /// The TSO the leader's store is advancing to.
        ts: u64,
        /// `LeaderInfo`s.
        regions: Vec<LeaderInfo>,
    },
    /// kvproto `CheckLeaderResponse`: the regions whose leadership the
    /// follower's store confirmed.
    CheckLeaderResponse {
        /// The answering store.
        from_store: u64,
        /// The request's ts.
        ts: u64,
        /// Region ids confirmed.
        regions: Vec<u64>,
    },
    /// cdcpb `ChangeDataEvent` from a region leader's CDC endpoint to its
    /// downstream: committed rows, then the region's resolved-ts.
    ChangeDataEvent {
        /// The leader's store that sent it.
        from_store: u64,
        /// Region.
        region_id: u64,
        /// Committed rows since the last event, in apply order.
        rows: Vec<CdcRow>,
        /// The region's resolved-ts after them (`ResolvedTs` event), if it
        /// advanced.
        resolved_ts: Option<u64>,
    },
    /// PD command for a region leader.
    PdCommand {
        /// Region.
        region_id: u64,
        /// Operator id that issued it.
        operator_id: u64,
        /// The command.
        cmd: PdCommand,
    },
}
