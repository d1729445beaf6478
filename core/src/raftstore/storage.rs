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

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use crate::proto::{Key, RegionMeta};

/// The applied key-value data of a region: key -> (version, the writer's
/// TSO ts; log index of the entry that wrote it). Shared copy-on-write so
/// that snapshots are cheap.
pub type KvData = Rc<BTreeMap<Key, (u64, u64)>>;

/// The applied MVCC data of a region (lock, write and default column
/// families), shared copy-on-write like [`KvData`].
pub type MvccShared = Rc<crate::mvcc::MvccData>;

/// What a Raft snapshot carries (TiKV sends SST files; here the data itself).
#[derive(Clone, Debug)]
pub struct SnapshotData {
    /// The region at the snapshot's index.
    pub region: RegionMeta,
    /// The key-value data at the snapshot's index.
    pub kv: KvData,
    /// The MVCC data at the snapshot's index.
    pub mvcc: MvccShared,
}

/// The snapshot manager shared by all stores (TiKV's `SnapManager` moves files
/// between stores; the simulation keeps generated snapshots here by id, and the
/// Raft snapshot message carries the id).
#[derive(Clone, Debug, Default)]
pub struct SnapManager {
    inner: Rc<RefCell<SnapRegistry>>,
}

#[derive(Debug, Default)]
struct SnapRegistry {
    next_id: u64,
    snaps: BTreeMap<u64, SnapshotData>,
}

impl SnapManager {
    /// Registers a snapshot and returns its id (8 bytes, little endian, as the
    /// Raft snapshot's `data`).
    pub fn register(&self, data: SnapshotData) -> Vec<u8> {
        let mut r = self.inner.borrow_mut();
        r.next_id += 1;
        let id = r.next_id;
        r.snaps.insert(id, data);
        // Keep memory bounded: snapshots older than the last 16 are gone (TiKV's
        // snap GC), and a receiver asking for one gets nothing and re-requests.
        while r.snaps.len() > 16 {
            let first = *r.snaps.keys().next().expect("non-empty");
            r.snaps.remove(&first);
        }
        id.to_le_bytes().to_vec()
    }

    /// Looks up a snapshot by its `data` bytes.
    pub fn get(&self, data: &[u8]) -> Option<SnapshotData> {
        let id = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
        self.inner.borrow().snaps.get(&id).cloned()
    }
}

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
    /// Snapshot manager used to generate snapshots.
    snaps: SnapManager,
}

/// TiKV's `RAFT_INIT_LOG_INDEX` / `RAFT_INIT_LOG_TERM`: a bootstrapped region's
/// log starts after index 5, term 5.
pub const RAFT_INIT_LOG_INDEX: u64 = 5;
/// See [`RAFT_INIT_LOG_INDEX`].
pub const RAFT_INIT_LOG_TERM: u64 = 5;

impl PeerStorage {
    /// Storage of a peer created at bootstrap: initialized with the region's voters.
    pub fn new_initialized(region: RegionMeta, snaps: SnapManager) -> PeerStorage {
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
            entries: VecDeque::new(),
            durable_last_index: RAFT_INIT_LOG_INDEX,
            durable_hs: hs,
            pre_snapshot: None,
            applied_index: RAFT_INIT_LOG_INDEX,
            applied_term: RAFT_INIT_LOG_TERM,
            conf_state: cs,
            region,
            kv: Rc::new(BTreeMap::new()),
            mvcc: Rc::default(),
            snaps,
        }
    }

    /// Storage of a peer created by a message for a region the store does not
    /// have (TiKV's `maybe_create_peer`): empty until a snapshot arrives.
    pub fn new_uninitialized(region: RegionMeta, snaps: SnapManager) -> PeerStorage {
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
            snaps,
        }
    }

    /// Moves the storage out, leaving an empty uninitialized one (used to rebuild
    /// a peer's `RawNode` over the same durable state after a restart).
    pub fn take(&mut self) -> PeerStorage {
        let empty = PeerStorage::new_uninitialized(self.region.clone(), self.snaps.clone());
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

    /// The snapshot write finished: the snapshot's data is now the apply state.
    pub fn snapshot_durable(&mut self, snap: &Snapshot, data: Option<SnapshotData>) {
        let meta = snap.get_metadata();
        self.pre_snapshot = None;
        self.durable_last_index = self.durable_last_index.max(meta.index);
        self.durable_hs = self.hard_state.clone();
        self.applied_index = meta.index;
        self.applied_term = meta.term;
        self.conf_state = meta.get_conf_state().clone();
        if let Some(d) = data {
            self.region = d.region;
            self.kv = d.kv;
            self.mvcc = d.mvcc;
        }
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

    /// The process crashed: forget everything that was not durable.
    pub fn crash(&mut self) {
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

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.applied_index < request_index || self.applied_index == 0 {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snap = Snapshot::default();
        let data = self.snaps.register(SnapshotData {
            region: self.region.clone(),
            kv: self.kv.clone(),
            mvcc: self.mvcc.clone(),
        });
        snap.set_data(data.into());
        let meta = snap.mut_metadata();
        meta.set_index(self.applied_index);
        meta.set_term(self.applied_term);
        meta.set_conf_state(self.conf_state.clone());
        Ok(snap)
    }
}
