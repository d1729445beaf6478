//! `PeerStorage`: a peer's Raft log and apply state, as TiKV's
//! `components/raftstore/src/store/peer_storage.rs` keeps them.
//!
//! raft-rs's async-ready contract requires entries to be *readable* through the
//! [`raft::Storage`] trait before `advance_append_async`, while they become
//! *durable* only when the simulated disk finishes the write (TiKV's entry cache
//! plays the readable part). So the storage keeps the readable log and remembers
//! how much of it is durable; a crash truncates the log to the durable part.
//! The apply state (applied index, key-value data, region, conf state) changes
//! only when an apply write completes, so it is always durable.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use super::snap::{SnapKey, SnapshotMeta};
use crate::proto::{Key, RegionMeta};

/// One raw key's applied value: the writer's TSO ts, the log index of the
/// entry that wrote it and the region epoch version it applied at, and the
/// value's length in bytes (the simulation keeps lengths, not value bytes).
/// `(version, index)` orders the writes of a key across splits: a region a
/// split creates starts a new log, at a higher version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawValue {
    /// The writer's TSO timestamp.
    pub ts: u64,
    /// Log index of the entry that wrote it.
    pub index: u64,
    /// Region epoch version of the region that applied it.
    pub version: u64,
    /// Value length, bytes.
    pub value_len: u32,
}

/// The applied raw key-value data of a region, shared copy-on-write so that
/// taking a snapshot of it is cheap (RocksDB's snapshot).
pub type KvData = Rc<BTreeMap<Key, RawValue>>;

/// The applied MVCC data of a region (lock, write and default column
/// families), shared copy-on-write like [`KvData`].
pub type MvccShared = Rc<crate::mvcc::MvccData>;

/// TiKV's `SnapState` (`peer_storage.rs`): where the peer's snapshot work is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapState {
    /// No snapshot being generated or applied.
    Relax,
    /// A snapshot is being generated for a follower (`request_index` is the
    /// index raft-rs asked for); the result arrives through
    /// [`PeerStorage::snapshot_generated`].
    Generating {
        /// The index raft-rs asked the snapshot to cover.
        request_index: u64,
    },
    /// A received snapshot is persisted and the region worker applies its data.
    Applying,
    /// Applying was aborted (the peer was destroyed meanwhile).
    ApplyAborted,
}

/// TiKV's `GenSnapTask`: raftstore takes it after a ready and has the
/// snapshot generated (on the `snap-generator` pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenSnapTask {
    /// Region.
    pub region_id: u64,
    /// The peer the snapshot is for.
    pub to_peer: u64,
    /// The index raft-rs asked for.
    pub request_index: u64,
}

/// What the storage's `snapshot()` did, for raftstore to log and count after
/// raft-rs returns (the `raft::Storage` trait has no context to log into).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapEvent {
    /// `requesting snapshot`: generation scheduled, `SnapshotTemporarilyUnavailable` returned.
    Requesting {
        /// Index asked for.
        request_index: u64,
        /// Peer it is for.
        to_peer: u64,
    },
    /// Asked again while generating: `SnapshotTemporarilyUnavailable`.
    StillGenerating {
        /// Peer it is for.
        to_peer: u64,
    },
    /// `start sending snapshot`: the generated snapshot is handed to raft-rs.
    StartSending {
        /// Its key.
        key: SnapKey,
        /// Peer it is for.
        to_peer: u64,
    },
    /// `snapshot is stale, generate again`.
    Stale {
        /// The stale snapshot's index.
        snap_index: u64,
        /// Index asked for.
        request_index: u64,
    },
    /// `failed to get snapshot after 5 times`.
    GaveUp {
        /// Tries made.
        tried: usize,
    },
}

/// TiKV's `MAX_SNAP_TRY_CNT`: consecutive generations before `snapshot()`
/// gives up once.
pub const MAX_SNAP_TRY_CNT: usize = 5;

/// The raft log part of a peer's storage that a snapshot replaces: durable hard
/// state, truncated index and term, entries, durable last index.
type LogState = (HardState, u64, u64, VecDeque<Entry>, u64);

/// A peer's storage. See the module docs.
pub struct PeerStorage {
    /// Readable hard state.
    hard_state: HardState,
    /// Index and term of the last entry covered by a snapshot or compaction.
    truncated_index: u64,
    truncated_term: u64,
    /// Readable entries, `truncated_index + 1 ..`.
    entries: VecDeque<Entry>,
    /// Durable prefix: entries up to this index and `durable_hs` survive a crash.
    durable_last_index: u64,
    durable_hs: HardState,
    /// Before a snapshot becomes durable, the state to fall back to on a crash.
    pre_snapshot: Option<Box<LogState>>,
    /// Applied index and its term (durable apply state, `RaftApplyState`).
    pub applied_index: u64,
    /// Term of the entry at `applied_index`.
    pub applied_term: u64,
    /// Conf state at `applied_index`.
    pub conf_state: ConfState,
    /// Region at `applied_index`.
    pub region: RegionMeta,
    /// Key-value data at `applied_index`.
    pub kv: KvData,
    /// MVCC data at `applied_index`.
    pub mvcc: MvccShared,
    /// TiKV's `snap_state` (interior: raft-rs calls `snapshot()` through `&self`).
    snap_state: Cell<SnapState>,
    /// TiKV's `snap_tried_cnt`.
    snap_tried_cnt: Cell<usize>,
    /// TiKV's `gen_snap_task`: taken by raftstore after the ready.
    gen_snap_task: Cell<Option<GenSnapTask>>,
    /// The generation's result (TiKV's `receiver` of a `sync_channel(1)`).
    generated: RefCell<Option<Snapshot>>,
    /// What `snapshot()` did since raftstore last looked.
    snap_events: RefCell<Vec<SnapEvent>>,
    /// A persisted snapshot whose data the region worker has not applied yet
    /// (durable: TiKV's `PeerState::Applying`); applied again after a restart.
    pub pending_apply: Option<SnapKey>,
    /// For a region a split created on this store: the parent region and the
    /// log index of its `BatchSplit` (the new region's data is the parent's
    /// state at that index).
    pub split_from: Option<(u64, u64)>,
    /// TiKV's `PeerState::Merging` with its `MergeState`: set when a
    /// `PrepareMerge` applied, cleared by `RollbackMerge`; durable with the
    /// region (part of `RegionLocalState`).
    pub merge_state: Option<super::merge::MergeState>,
}

/// TiKV's `RAFT_INIT_LOG_INDEX` / `RAFT_INIT_LOG_TERM`: a bootstrapped region's
/// log starts after index 5, term 5.
pub const RAFT_INIT_LOG_INDEX: u64 = 5;
/// See [`RAFT_INIT_LOG_INDEX`].
pub const RAFT_INIT_LOG_TERM: u64 = 5;

impl PeerStorage {
    /// Storage of a peer created at bootstrap: initialized with the region's voters.
    pub fn new_initialized(region: RegionMeta) -> PeerStorage {
        let mut cs = ConfState::default();
        for p in &region.peers {
            if p.is_learner {
                cs.mut_learners().push(p.id);
            } else {
                cs.mut_voters().push(p.id);
            }
        }
        let mut hs = HardState::default();
        hs.set_term(RAFT_INIT_LOG_TERM);
        hs.set_commit(RAFT_INIT_LOG_INDEX);
        PeerStorage {
            hard_state: hs.clone(),
            truncated_index: RAFT_INIT_LOG_INDEX,
            truncated_term: RAFT_INIT_LOG_TERM,
            durable_last_index: RAFT_INIT_LOG_INDEX,
            durable_hs: hs,
            applied_index: RAFT_INIT_LOG_INDEX,
            applied_term: RAFT_INIT_LOG_TERM,
            conf_state: cs,
            ..PeerStorage::new_uninitialized(region)
        }
    }

    /// Storage of a peer created by a message for a region the store does not
    /// have (TiKV's `maybe_create_peer`): empty until a snapshot arrives.
    pub fn new_uninitialized(region: RegionMeta) -> PeerStorage {
        PeerStorage {
            hard_state: HardState::default(),
            truncated_index: 0,
            truncated_term: 0,
            entries: VecDeque::new(),
            durable_last_index: 0,
            durable_hs: HardState::default(),
            pre_snapshot: None,
            applied_index: 0,
            applied_term: 0,
            conf_state: ConfState::default(),
            region,
            kv: Rc::new(BTreeMap::new()),
            mvcc: Rc::default(),
            snap_state: Cell::new(SnapState::Relax),
            snap_tried_cnt: Cell::new(0),
            gen_snap_task: Cell::new(None),
            generated: RefCell::new(None),
            snap_events: RefCell::new(Vec::new()),
            pending_apply: None,
            split_from: None,
            merge_state: None,
        }
    }

    /// Moves the storage out, leaving an empty uninitialized one (used to rebuild
    /// a peer's `RawNode` over the same durable state after a restart).
    pub fn take(&mut self) -> PeerStorage {
        let empty = PeerStorage::new_uninitialized(self.region.clone());
        std::mem::replace(self, empty)
    }

    /// True once the peer has data (bootstrapped or restored from a snapshot).
    pub fn is_initialized(&self) -> bool {
        self.truncated_index > 0 || !self.entries.is_empty()
    }

    /// Last readable index.
    pub fn last_index_readable(&self) -> u64 {
        self.truncated_index + self.entries.len() as u64
    }

    /// The readable entries with index in `lo..hi` (those compacted away or
    /// not appended yet are left out).
    pub fn entries_between(&self, lo: u64, hi: u64) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.get_index() >= lo && e.get_index() < hi)
            .cloned()
            .collect()
    }

    /// First index still in the log (`truncated_index + 1`).
    pub fn first_index_value(&self) -> u64 {
        self.truncated_index + 1
    }

    /// Last durable index.
    pub fn durable_last_index(&self) -> u64 {
        self.durable_last_index
    }

    /// Bytes of the readable log kept in memory (TiKV's entry cache): each
    /// entry's data plus [`crate::memory::ENTRY_CACHE_OVERHEAD_BYTES`].
    pub fn entry_cache_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.get_data().len() as u64 + crate::memory::ENTRY_CACHE_OVERHEAD_BYTES)
            .sum()
    }

    /// Makes `entries` readable, truncating any conflicting suffix first. A
    /// truncated suffix is no longer durable either (those entries were never
    /// committed, so forgetting them early is safe).
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let first_index = first.get_index();
        if first_index <= self.truncated_index {
            // Already compacted or covered by a snapshot: only keep the newer part.
            let skip = (self.truncated_index + 1 - first_index) as usize;
            if skip >= entries.len() {
                return;
            }
            return self.append(&entries[skip..]);
        }
        let keep = (first_index - self.truncated_index - 1) as usize;
        self.entries.truncate(keep);
        self.entries.extend(entries.iter().cloned());
        self.durable_last_index = self.durable_last_index.min(first_index - 1);
    }

    /// Sets the readable hard state.
    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    /// Makes a received snapshot readable: the log restarts after its index.
    /// Its data is applied when the write completes ([`PeerStorage::snapshot_durable`]).
    pub fn apply_snapshot_readable(&mut self, snap: &Snapshot) {
        self.pre_snapshot = Some(Box::new((
            self.durable_hs.clone(),
            self.truncated_index,
            self.truncated_term,
            std::mem::take(&mut self.entries),
            self.durable_last_index,
        )));
        let meta = snap.get_metadata();
        self.truncated_index = meta.index;
        self.truncated_term = meta.term;
        self.entries.clear();
        self.hard_state
            .set_term(self.hard_state.get_term().max(meta.term));
        self.hard_state.set_commit(meta.index);
    }

    /// The snapshot's raft state is persisted: the apply state moves to the
    /// snapshot's index, term, conf state and `region` (TiKV writes them with
    /// `PeerState::Applying`), and the data waits for the region worker
    /// ([`PeerStorage::install_snapshot_data`]). Reads and applies wait too.
    pub fn snapshot_durable(&mut self, snap: &Snapshot, region: Option<RegionMeta>) {
        let meta = snap.get_metadata();
        self.pre_snapshot = None;
        self.durable_last_index = self.durable_last_index.max(meta.index);
        self.durable_hs = self.hard_state.clone();
        self.applied_index = meta.index;
        self.applied_term = meta.term;
        self.conf_state = meta.get_conf_state().clone();
        if let Some(r) = region {
            self.region = r;
        }
        self.pending_apply = SnapshotMeta::decode(snap.get_data()).map(|m| m.key);
        self.snap_state.set(SnapState::Applying);
    }

    /// The region worker applied the snapshot's data (`apply new data`):
    /// `kv` and `mvcc` are the region's data at the snapshot's index.
    pub fn install_snapshot_data(&mut self, kv: KvData, mvcc: MvccShared) {
        self.kv = kv;
        self.mvcc = mvcc;
        self.pending_apply = None;
        self.snap_state.set(SnapState::Relax);
    }

    /// Applying was aborted (`ApplyAborted`): the data never arrived.
    pub fn abort_applying(&mut self) {
        self.snap_state.set(SnapState::ApplyAborted);
    }

    /// TiKV's `snap_state`.
    pub fn snap_state(&self) -> SnapState {
        self.snap_state.get()
    }

    /// True while a received snapshot's data is being applied (TiKV's
    /// `is_applying_snapshot`): raftstore handles no ready of the peer and
    /// its data is not readable.
    pub fn is_applying_snapshot(&self) -> bool {
        self.snap_state.get() == SnapState::Applying
    }

    /// Takes the generation task `snapshot()` scheduled (TiKV's
    /// `take_gen_snap_task`).
    pub fn take_gen_snap_task(&self) -> Option<GenSnapTask> {
        self.gen_snap_task.take()
    }

    /// Takes what `snapshot()` did since the last call.
    pub fn take_snap_events(&self) -> Vec<SnapEvent> {
        std::mem::take(&mut *self.snap_events.borrow_mut())
    }

    /// The generated snapshot arrived (the notifier's `try_send`). Returns
    /// false when nobody waits for it any more (TiKV: "failed to notify snap
    /// result, leadership may have changed").
    pub fn snapshot_generated(&self, snap: Snapshot) -> bool {
        if !matches!(self.snap_state.get(), SnapState::Generating { .. }) {
            return false;
        }
        *self.generated.borrow_mut() = Some(snap);
        true
    }

    /// Cancels a generation in progress (TiKV's `cancel_generating_snap`, on
    /// leadership loss).
    pub fn cancel_generating_snap(&self) {
        if matches!(self.snap_state.get(), SnapState::Generating { .. }) {
            self.snap_state.set(SnapState::Relax);
            self.generated.borrow_mut().take();
            self.gen_snap_task.take();
        }
    }

    /// TiKV's `validate_snap`: a snapshot older than the index asked for, or
    /// than the log's truncated index, is stale.
    fn validate_snap(&self, snap: &Snapshot, request_index: u64) -> bool {
        let idx = snap.get_metadata().get_index();
        if idx < request_index || idx < self.truncated_index {
            self.snap_events.borrow_mut().push(SnapEvent::Stale {
                snap_index: idx,
                request_index,
            });
            return false;
        }
        true
    }

    /// A raft log write finished: entries up to `last_index` and `hs` are durable.
    pub fn log_durable(&mut self, last_index: Option<u64>, hs: Option<HardState>) {
        if let Some(i) = last_index {
            // Only what is still readable can be durable (a later truncation wins).
            self.durable_last_index = self
                .durable_last_index
                .max(i.min(self.last_index_readable()));
        }
        if let Some(hs) = hs {
            self.durable_hs = hs;
        }
    }

    /// The process crashed: forget everything that was not durable (a
    /// generation in progress too; a persisted snapshot still waits to be applied).
    pub fn crash(&mut self) {
        self.snap_state.set(if self.pending_apply.is_some() {
            SnapState::Applying
        } else {
            SnapState::Relax
        });
        self.snap_tried_cnt.set(0);
        self.gen_snap_task.set(None);
        self.generated.borrow_mut().take();
        self.snap_events.borrow_mut().clear();
        if let Some(b) = self.pre_snapshot.take() {
            let (hs, ti, tt, entries, dl) = *b;
            self.durable_hs = hs;
            self.truncated_index = ti;
            self.truncated_term = tt;
            self.entries = entries;
            self.durable_last_index = dl;
        }
        let keep = self.durable_last_index.saturating_sub(self.truncated_index) as usize;
        self.entries.truncate(keep);
        self.hard_state = self.durable_hs.clone();
        let last = self.last_index_readable();
        if self.hard_state.get_commit() > last {
            self.hard_state.set_commit(last);
        }
    }

    /// Drops entries up to `index` (TiKV's raft log GC). Never beyond what is
    /// applied and durable.
    pub fn compact_to(&mut self, index: u64) {
        let index = index.min(self.applied_index).min(self.durable_last_index);
        if index <= self.truncated_index {
            return;
        }
        let n = (index - self.truncated_index) as usize;
        let term = self.entries[n - 1].get_term();
        self.entries.drain(..n);
        self.truncated_index = index;
        self.truncated_term = term;
    }

    /// Entry at `index`, if readable.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.truncated_index {
            return None;
        }
        self.entries
            .get((index - self.truncated_index - 1) as usize)
    }

    /// Records an applied batch: new applied index/term, data, region, conf state.
    pub fn set_applied(&mut self, index: u64, term: u64) {
        self.applied_index = index;
        self.applied_term = term;
    }
}

impl raft::Storage for PeerStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index_readable() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut size = 0u64;
        for i in low..high {
            let e = self
                .entry(i)
                .ok_or(raft::Error::Store(StorageError::Unavailable))?;
            size += e.get_data().len() as u64 + 16;
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.truncated_index {
            return Ok(self.truncated_term);
        }
        if idx < self.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        match self.entry(idx) {
            Some(e) => Ok(e.get_term()),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index_readable())
    }

    /// TiKV's `PeerStorage::snapshot`: the first call schedules a generation
    /// ([`GenSnapTask`], taken by raftstore) and returns
    /// `SnapshotTemporarilyUnavailable`; calls while it runs return the same;
    /// the call after it finished hands the snapshot over (if still valid).
    /// At most one generation per peer at a time. After
    /// [`MAX_SNAP_TRY_CNT`] requests without a valid snapshot TiKV returns an
    /// error, which raft-rs 0.7 treats as fatal; here the counter resets and
    /// the call returns `SnapshotTemporarilyUnavailable` after logging
    /// TiKV's line, so the leader retries.
    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let unavailable = Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ));
        match self.snap_state.get() {
            SnapState::Generating { .. } => {
                let Some(snap) = self.generated.borrow_mut().take() else {
                    self.snap_events
                        .borrow_mut()
                        .push(SnapEvent::StillGenerating { to_peer: to });
                    return unavailable;
                };
                self.snap_state.set(SnapState::Relax);
                if self.validate_snap(&snap, request_index) {
                    self.snap_tried_cnt.set(0);
                    if let Some(meta) = SnapshotMeta::decode(snap.get_data()) {
                        self.snap_events.borrow_mut().push(SnapEvent::StartSending {
                            key: meta.key,
                            to_peer: to,
                        });
                    }
                    return Ok(snap);
                }
            }
            SnapState::Relax => {}
            SnapState::Applying | SnapState::ApplyAborted => return unavailable,
        }
        let tried = self.snap_tried_cnt.get();
        if tried >= MAX_SNAP_TRY_CNT {
            self.snap_tried_cnt.set(0);
            self.snap_events
                .borrow_mut()
                .push(SnapEvent::GaveUp { tried });
            return unavailable;
        }
        self.snap_tried_cnt.set(tried + 1);
        self.snap_events.borrow_mut().push(SnapEvent::Requesting {
            request_index,
            to_peer: to,
        });
        self.snap_state.set(SnapState::Generating { request_index });
        self.gen_snap_task.set(Some(GenSnapTask {
            region_id: self.region.id,
            to_peer: to,
            request_index,
        }));
        unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PeerMeta;
    use raft::Storage as _;

    fn storage() -> PeerStorage {
        PeerStorage::new_initialized(RegionMeta {
            id: 7,
            start_key: 0,
            end_key: 100,
            conf_ver: 1,
            version: 1,
            peers: vec![PeerMeta {
                id: 101,
                store_id: 1,
                is_learner: false,
            }],
        })
    }

    fn unavailable(r: raft::Result<Snapshot>) -> bool {
        matches!(
            r,
            Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable
            ))
        )
    }

    fn generated(index: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().set_index(index);
        s.mut_metadata().set_term(RAFT_INIT_LOG_TERM);
        s.set_data(
            SnapshotMeta {
                key: SnapKey {
                    region_id: 7,
                    term: RAFT_INIT_LOG_TERM,
                    index,
                },
                file_size: 10,
            }
            .encode()
            .into(),
        );
        s
    }

    /// Teaching invariants 1 and 2 of TiKV's snapshot flow: the first call
    /// schedules one generation and answers TemporarilyUnavailable; calls
    /// while it runs schedule nothing more; the call after it finished
    /// hands the snapshot over and the state is Relax again.
    #[test]
    fn the_first_call_is_temporarily_unavailable_and_schedules_one_generation() {
        let st = storage();
        assert!(unavailable(st.snapshot(0, 102)));
        assert_eq!(
            st.take_gen_snap_task(),
            Some(GenSnapTask {
                region_id: 7,
                to_peer: 102,
                request_index: 0
            })
        );
        assert!(matches!(st.snap_state(), SnapState::Generating { .. }));
        for _ in 0..3 {
            assert!(unavailable(st.snapshot(0, 102)), "still generating");
        }
        assert_eq!(st.take_gen_snap_task(), None, "one generation at a time");
        assert!(st.snapshot_generated(generated(RAFT_INIT_LOG_INDEX)));
        let snap = st.snapshot(0, 102).expect("handed over");
        assert_eq!(snap.get_metadata().get_index(), RAFT_INIT_LOG_INDEX);
        assert_eq!(st.snap_state(), SnapState::Relax);
        let events = st.take_snap_events();
        assert!(matches!(
            events[0],
            SnapEvent::Requesting { to_peer: 102, .. }
        ));
        assert!(matches!(
            events.last(),
            Some(SnapEvent::StartSending { to_peer: 102, .. })
        ));
        // The next follower's snapshot starts over with a new generation.
        assert!(unavailable(st.snapshot(0, 103)));
        assert!(st.take_gen_snap_task().is_some());
    }

    /// `validate_snap`: a snapshot older than the index asked for is stale;
    /// after MAX_SNAP_TRY_CNT requests without a valid one the storage gives
    /// up once ("failed to get snapshot after 5 times") and starts counting again.
    #[test]
    fn stale_snapshots_are_generated_again_until_the_storage_gives_up_once() {
        let st = storage();
        let request_index = 50;
        for _ in 0..MAX_SNAP_TRY_CNT {
            assert!(unavailable(st.snapshot(request_index, 102)));
            assert!(st.take_gen_snap_task().is_some());
            st.snapshot_generated(generated(10));
        }
        assert!(unavailable(st.snapshot(request_index, 102)));
        let events = st.take_snap_events();
        let stale = events
            .iter()
            .filter(|e| matches!(e, SnapEvent::Stale { .. }))
            .count();
        assert_eq!(stale, MAX_SNAP_TRY_CNT);
        assert!(matches!(
            events.last(),
            Some(SnapEvent::GaveUp {
                tried: MAX_SNAP_TRY_CNT
            })
        ));
        assert_eq!(st.take_gen_snap_task(), None, "giving up schedules nothing");
        assert!(unavailable(st.snapshot(request_index, 102)));
        assert!(st.take_gen_snap_task().is_some(), "the count starts again");
    }

    #[test]
    fn a_crash_forgets_a_generation_but_not_a_persisted_snapshot_to_apply() {
        let mut st = storage();
        assert!(unavailable(st.snapshot(0, 102)));
        st.crash();
        assert_eq!(st.snap_state(), SnapState::Relax);
        assert!(st.take_gen_snap_task().is_none());
        let snap = generated(RAFT_INIT_LOG_INDEX + 10);
        st.apply_snapshot_readable(&snap);
        st.snapshot_durable(&snap, None);
        assert!(st.is_applying_snapshot());
        st.crash();
        assert!(st.is_applying_snapshot(), "PeerState::Applying is durable");
        assert_eq!(
            st.pending_apply.map(|k| k.index),
            Some(RAFT_INIT_LOG_INDEX + 10)
        );
        st.install_snapshot_data(Rc::default(), Rc::default());
        assert_eq!(st.snap_state(), SnapState::Relax);
        assert_eq!(st.applied_index, RAFT_INIT_LOG_INDEX + 10);
    }
}
