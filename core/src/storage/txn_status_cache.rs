//! The txn status cache (TiKV `src/storage/txn/txn_status_cache.rs`): recent
//! `start_ts -> status` pairs of transactions, kept for a while so that the
//! status can be known without reading the storage.
//!
//! TiKV uses it to filter late-arrived stale prewrites of committed txns
//! (`insert_committed` / `get_committed`) and, since PR 17540 ("Prevent
//! resolved-ts from being blocked by pipelined DML transactions",
//! dccee48156), to let the resolved-ts resolver map a large (pipelined)
//! transaction's `start_ts` to its current `min_commit_ts`.
//!
//! Design, as in TiKV ("Design Update-1: Dual-Cache System"):
//!
//! * `normal_cache`: most transactions, including committed and rolled-back
//!   ones.
//! * `large_txn_cache`: ongoing large transactions, i.e. any txn upserted as
//!   `Ongoing { min_commit_ts }` with `min_commit_ts > start_ts`. It has the
//!   higher priority on upsert and on [`TxnStatusCache::get`], and is
//!   isolated so that normal txns cannot evict large ones.
//!
//! Each cache is split into [`TXN_STATUS_CACHE_SLOTS`] slots (TiKV: one
//! mutex-protected `LruCache` each). A slot is a bounded LRU with TiKV's
//! `TxnStatusCacheEvictPolicy`: the least recently used entry (the tail) is
//! evicted when it was last updated more than the keep time ago
//! ([`CACHE_ITEMS_REQUIRED_KEEP_TIME`]) or when the slot is over capacity.
//! Only the tail is ever checked, so an expired entry that is not the tail
//! stays until it becomes the tail. Eviction is only evaluated when a new
//! key is inserted into the slot (TiKV `LruCache::insert_impl` and
//! `evict_until_fit`); updating or reading an existing key never evicts.
//!
//! Differences from TiKV, all deliberate:
//!
//! * Time is virtual µs passed in by the caller ([`Micros`]); TiKV stores
//!   wall-clock ms in the entry and reads `SystemTime::now()` in the evict
//!   policy. Here the same `now` is used for both, so the cases of TiKV's
//!   tests where the two clocks disagree do not exist; nothing in this
//!   module reads a clock (the mention above is TiKV's code, not ours).
//! * Deterministic: every slot is a `BTreeMap` keyed by `start_ts` plus a
//!   recency index keyed by a per-slot monotonically increasing access
//!   counter (the LRU order); nothing iterates a `HashMap`.
//! * Interior mutability: like TiKV (whose methods take `&self` and lock a
//!   `Mutex` per slot), every method takes `&self`; a slot is a `RefCell`
//!   borrowed only for the duration of one call, so `get` can promote the
//!   entry just like TiKV's `LruCache::get` does.
//! * TiKV `assert!`s `min_commit_ts <= commit_ts` when an ongoing entry turns
//!   committed, and `Storage::update_txn_status_cache` asserts a completed
//!   txn is committed or rolled back. Those assertions are not reproduced:
//!   the cache accepts its input and never panics.
//! * No metrics (`SCHED_TXN_STATUS_CACHE_SIZE`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::kernel::time::{Micros, SEC};

/// Number of slots of each of the two caches (TiKV `TXN_STATUS_CACHE_SLOTS`).
pub const TXN_STATUS_CACHE_SLOTS: usize = 128;

/// How long an entry of the normal cache is kept at least (TiKV
/// `CACHE_ITEMS_REQUIRED_KEEP_TIME`, 30 s), in virtual µs. An entry is
/// evicted by time only when `now > update_time + keep time`.
pub const CACHE_ITEMS_REQUIRED_KEEP_TIME: Micros = 30 * SEC;

/// How long an entry of the large-txn cache is kept at least (TiKV
/// `CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS`, 30 s), in virtual µs.
pub const CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS: Micros = 30 * SEC;

/// Default total capacity in entries of each cache (TiKV config
/// `storage.txn-status-cache-capacity`, default `40_000 * 128`). `0`
/// disables the cache.
pub const DEFAULT_TXN_STATUS_CACHE_CAPACITY: usize = 40_000 * 128;

/// The multiplier of the slot hash: `fxhash`'s 64-bit seed. TiKV picks the
/// slot with `fxhash::hash(&start_ts) % slots`, which on a 64-bit target is
/// exactly `start_ts.wrapping_mul(FX_SEED_64)`; the multiplication is done in
/// `u64` here so that native and wasm32 builds pick the same slot.
const FX_SEED_64: u64 = 0x517c_c1b7_2722_0a95;

/// The status of a transaction as the cache knows it (TiKV `TxnState`).
/// Timestamps are TSO values (physical ms << 18 | logical).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    /// Not finished. `min_commit_ts` is the smallest commit ts it may get;
    /// `min_commit_ts > start_ts` marks it a large txn.
    Ongoing {
        /// The txn's current min_commit_ts (TSO).
        min_commit_ts: u64,
    },
    /// Committed at `commit_ts`.
    Committed {
        /// The commit ts (TSO).
        commit_ts: u64,
    },
    /// Rolled back.
    RolledBack,
}

impl TxnState {
    /// Builds the state from the fields of kvrpcpb `TxnStatus` (TiKV
    /// `TxnState::from_ts`): rolled back wins; otherwise `commit_ts == 0`
    /// means ongoing with `min_commit_ts = max(start_ts, min_commit_ts)`;
    /// otherwise committed at `commit_ts`.
    pub fn from_ts(start_ts: u64, min_commit_ts: u64, commit_ts: u64, rolled_back: bool) -> Self {
        if rolled_back {
            TxnState::RolledBack
        } else if commit_ts == 0 {
            TxnState::Ongoing {
                min_commit_ts: start_ts.max(min_commit_ts),
            }
        } else {
            TxnState::Committed { commit_ts }
        }
    }
}

/// One cached status (TiKV `CacheEntry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// The txn's status.
    pub state: TxnState,
    /// When the entry was inserted or last updated, in virtual µs (TiKV:
    /// system time in ms). Reads do not change it.
    pub update_time: Micros,
}

impl CacheEntry {
    /// The commit ts if the entry is committed (TiKV `CacheEntry::commit_ts`).
    pub fn commit_ts(&self) -> Option<u64> {
        match self.state {
            TxnState::Committed { commit_ts } => Some(commit_ts),
            _ => None,
        }
    }
}

/// One slot: a bounded LRU map with TiKV's keep-time evict policy
/// (`LruCache<TimeStamp, CacheEntry, CountTracker,
/// TxnStatusCacheEvictPolicy>` with sample mask 0, i.e. every access
/// promotes).
#[derive(Clone, Debug)]
struct Slot {
    /// Max entries (TiKV `LruCache::new` raises 0 to 1).
    capacity: usize,
    /// Keep time of the evict policy, µs.
    keep_time: Micros,
    /// start_ts -> (entry, recency tick of its last access).
    entries: BTreeMap<u64, (CacheEntry, u64)>,
    /// recency tick -> start_ts; the first key is the LRU tail.
    recency: BTreeMap<u64, u64>,
    /// Next recency tick; strictly increasing.
    next_tick: u64,
}

impl Slot {
    fn new(capacity: usize, keep_time: Micros) -> Self {
        Slot {
            capacity: capacity.max(1),
            keep_time,
            entries: BTreeMap::new(),
            recency: BTreeMap::new(),
            next_tick: 0,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        let t = self.next_tick;
        self.next_tick += 1;
        t
    }

    /// Moves `start_ts` to the most recent place (TiKV `Trace::promote`).
    fn promote(&mut self, start_ts: u64) {
        let tick = self.tick();
        if let Some((_, old)) = self.entries.get_mut(&start_ts) {
            let old_tick = std::mem::replace(old, tick);
            self.recency.remove(&old_tick);
            self.recency.insert(tick, start_ts);
        }
    }

    /// The least recently used entry.
    fn tail(&self) -> Option<(u64, &CacheEntry)> {
        let (_, &start_ts) = self.recency.iter().next()?;
        self.entries.get(&start_ts).map(|(e, _)| (start_ts, e))
    }

    fn remove_tail(&mut self) {
        if let Some((_, start_ts)) = self.recency.pop_first() {
            self.entries.remove(&start_ts);
        }
    }

    /// TiKV `TxnStatusCacheEvictPolicy::should_evict`: the tail is older than
    /// the keep time, or `current_size` exceeds the capacity.
    fn should_evict(&self, current_size: usize, now: Micros) -> bool {
        if let Some((_, tail)) = self.tail() {
            if now > tail.update_time.saturating_add(self.keep_time) {
                return true;
            }
        }
        current_size > self.capacity
    }

    /// TiKV `LruCache::insert` of a key that is absent (callers check): the
    /// evict decision is taken before inserting (with `size + 1`), reusing
    /// the tail's place; then `evict_until_fit` pops tails while the policy
    /// says so (which may pop the new entry itself if it is already
    /// expired).
    fn insert_new(&mut self, start_ts: u64, entry: CacheEntry, now: Micros) {
        if self.entries.contains_key(&start_ts) {
            // Replace-and-promote, as `insert` of an existing key would.
            if let Some((e, _)) = self.entries.get_mut(&start_ts) {
                *e = entry;
            }
            self.promote(start_ts);
        } else {
            if self.should_evict(self.len() + 1, now) {
                self.remove_tail();
            }
            let tick = self.tick();
            self.entries.insert(start_ts, (entry, tick));
            self.recency.insert(tick, start_ts);
        }
        while !self.entries.is_empty() && self.should_evict(self.len(), now) {
            self.remove_tail();
        }
    }

    /// TiKV `LruCache::get_mut`: promotes.
    fn get_mut(&mut self, start_ts: u64) -> Option<&mut CacheEntry> {
        if !self.entries.contains_key(&start_ts) {
            return None;
        }
        self.promote(start_ts);
        self.entries.get_mut(&start_ts).map(|(e, _)| e)
    }

    /// TiKV `LruCache::get`: promotes.
    fn get(&mut self, start_ts: u64) -> Option<CacheEntry> {
        self.get_mut(start_ts).map(|e| *e)
    }

    /// TiKV `LruCache::get_no_promote`.
    fn get_no_promote(&self, start_ts: u64) -> Option<CacheEntry> {
        self.entries.get(&start_ts).map(|(e, _)| *e)
    }

    fn remove(&mut self, start_ts: u64) -> Option<CacheEntry> {
        let (entry, tick) = self.entries.remove(&start_ts)?;
        self.recency.remove(&tick);
        Some(entry)
    }
}

/// Applies TiKV's update rule to an existing entry on the normal path:
/// only an `Ongoing` entry is overwritten (committed and rolled-back
/// statuses are final).
fn update_if_ongoing(existing: &mut CacheEntry, state: TxnState, now: Micros) {
    if let TxnState::Ongoing { .. } = existing.state {
        existing.state = state;
        existing.update_time = now;
    }
}

/// The txn status cache of one TiKV instance (TiKV `TxnStatusCache`), with
/// its two caches of [`TXN_STATUS_CACHE_SLOTS`] slots each. All methods take
/// `&self`, like TiKV's; see the module doc.
#[derive(Clone, Debug)]
pub struct TxnStatusCache {
    /// Default cache, for committed / rolled-back / non-large ongoing txns.
    normal_cache: Vec<RefCell<Slot>>,
    /// Ongoing large txns (any txn whose `min_commit_ts` is worth caching).
    large_txn_cache: Vec<RefCell<Slot>>,
    /// `false` when built with capacity 0: every operation is a no-op.
    is_enabled: bool,
}

impl Default for TxnStatusCache {
    /// [`TxnStatusCache::new`] with [`DEFAULT_TXN_STATUS_CACHE_CAPACITY`].
    fn default() -> Self {
        TxnStatusCache::new(DEFAULT_TXN_STATUS_CACHE_CAPACITY)
    }
}

impl TxnStatusCache {
    /// A cache of `capacity` entries per cache (normal and large each),
    /// [`TXN_STATUS_CACHE_SLOTS`] slots, and the 30 s keep times (TiKV
    /// `TxnStatusCache::new`). Each slot holds `capacity / slots` entries,
    /// at least 1. `capacity == 0` disables the cache.
    pub fn new(capacity: usize) -> Self {
        Self::with_slots_and_time_limit(
            TXN_STATUS_CACHE_SLOTS,
            CACHE_ITEMS_REQUIRED_KEEP_TIME,
            CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS,
            capacity,
        )
    }

    /// TiKV `with_slots_and_time_limit`: custom slot count (at least 1) and
    /// keep times in virtual µs; both caches get `capacity`.
    pub fn with_slots_and_time_limit(
        slots: usize,
        required_keep_time: Micros,
        large_txn_required_keep_time: Micros,
        capacity: usize,
    ) -> Self {
        if capacity == 0 {
            return TxnStatusCache {
                normal_cache: Vec::new(),
                large_txn_cache: Vec::new(),
                is_enabled: false,
            };
        }
        let slots = slots.max(1);
        let per_slot = capacity / slots;
        TxnStatusCache {
            normal_cache: (0..slots)
                .map(|_| RefCell::new(Slot::new(per_slot, required_keep_time)))
                .collect(),
            large_txn_cache: (0..slots)
                .map(|_| RefCell::new(Slot::new(per_slot, large_txn_required_keep_time)))
                .collect(),
            is_enabled: true,
        }
    }

    /// Whether the cache is enabled (capacity > 0).
    pub fn is_enabled(&self) -> bool {
        self.is_enabled
    }

    /// The slot of `start_ts`: TiKV's `fxhash::hash(&start_ts) % slots`
    /// computed in 64 bits (`start_ts * 0x517cc1b727220a95 mod 2^64`, then
    /// `% slots`). Only called when enabled (slots > 0).
    fn slot_index(&self, start_ts: u64) -> usize {
        let slots = self.normal_cache.len().max(1) as u64;
        (start_ts.wrapping_mul(FX_SEED_64) % slots) as usize
    }

    /// Inserts or updates the status of `start_ts` at virtual time `now`
    /// (TiKV `TxnStatusCache::upsert`):
    ///
    /// * `Ongoing { min_commit_ts }` with `min_commit_ts > start_ts` (a large
    ///   txn) goes to the large-txn cache: a new entry is inserted; an
    ///   existing `Ongoing` entry is updated only if the new `min_commit_ts`
    ///   is larger; a committed / rolled-back entry is never changed.
    /// * Anything else goes to the normal cache: a new entry is inserted; an
    ///   existing `Ongoing` entry is overwritten; a committed / rolled-back
    ///   one is never changed. Then an existing `Ongoing` entry of the
    ///   large-txn cache is overwritten the same way (that is how a large
    ///   txn's entry becomes committed there) — a new entry is never created
    ///   in the large-txn cache on this path.
    ///
    /// Touching an existing entry promotes it in its slot's LRU order and
    /// never evicts; inserting a new key may evict (see the module doc).
    pub fn upsert(&self, start_ts: u64, state: TxnState, now: Micros) {
        if !self.is_enabled {
            return;
        }
        let idx = self.slot_index(start_ts);
        let entry = CacheEntry {
            state,
            update_time: now,
        };
        match state {
            TxnState::Ongoing { min_commit_ts } if min_commit_ts > start_ts => {
                let mut large = self.large_txn_cache[idx].borrow_mut();
                if let Some(existing) = large.get_mut(start_ts) {
                    if let TxnState::Ongoing {
                        min_commit_ts: existing_min_commit_ts,
                    } = existing.state
                    {
                        if min_commit_ts > existing_min_commit_ts {
                            *existing = entry;
                        }
                    }
                } else {
                    large.insert_new(start_ts, entry, now);
                }
            }
            _ => {
                {
                    let mut normal = self.normal_cache[idx].borrow_mut();
                    if let Some(existing) = normal.get_mut(start_ts) {
                        update_if_ongoing(existing, state, now);
                    } else {
                        normal.insert_new(start_ts, entry, now);
                    }
                }
                let mut large = self.large_txn_cache[idx].borrow_mut();
                if let Some(existing) = large.get_mut(start_ts) {
                    update_if_ongoing(existing, state, now);
                }
            }
        }
    }

    /// Records that `start_ts` committed at `commit_ts` (TiKV
    /// `insert_committed`): `upsert` of `Committed { commit_ts }`.
    pub fn insert_committed(&self, start_ts: u64, commit_ts: u64, now: Micros) {
        self.upsert(start_ts, TxnState::Committed { commit_ts }, now);
    }

    /// The status of `start_ts` (TiKV `get`): the large-txn cache first (it
    /// is the more up to date when both hold the txn), then the normal one.
    /// Promotes the entry found, like TiKV's `LruCache::get`.
    pub fn get(&self, start_ts: u64) -> Option<TxnState> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        if let Some(e) = self.large_txn_cache[idx].borrow_mut().get(start_ts) {
            return Some(e.state);
        }
        self.normal_cache[idx]
            .borrow_mut()
            .get(start_ts)
            .map(|e| e.state)
    }

    /// Like [`TxnStatusCache::get`] but without promoting the entry; for
    /// views and diagnostics that must not perturb the LRU order.
    pub fn peek(&self, start_ts: u64) -> Option<TxnState> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        if let Some(e) = self.large_txn_cache[idx].borrow().get_no_promote(start_ts) {
            return Some(e.state);
        }
        self.normal_cache[idx]
            .borrow()
            .get_no_promote(start_ts)
            .map(|e| e.state)
    }

    /// The commit ts of `start_ts` if the normal cache holds it committed
    /// (TiKV `get_committed`; promotes). `None` if ongoing, rolled back or
    /// absent.
    pub fn get_committed(&self, start_ts: u64) -> Option<u64> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        self.normal_cache[idx]
            .borrow_mut()
            .get(start_ts)
            .and_then(|e| e.commit_ts())
    }

    /// [`TxnStatusCache::get_committed`] without promoting (TiKV
    /// `get_committed_no_promote`, used by the prewrite path).
    pub fn get_committed_no_promote(&self, start_ts: u64) -> Option<u64> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        self.normal_cache[idx]
            .borrow()
            .get_no_promote(start_ts)
            .and_then(|e| e.commit_ts())
    }

    /// Removes `start_ts` from the large-txn cache (TiKV `remove_large_txn`,
    /// called when a large txn is completed: all its locks are resolved).
    /// Returns the removed entry.
    pub fn remove_large_txn(&self, start_ts: u64) -> Option<CacheEntry> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        self.large_txn_cache[idx].borrow_mut().remove(start_ts)
    }

    /// Removes `start_ts` from the normal cache (TiKV `remove_normal`, a
    /// test helper there to build cache misses). Returns its commit ts if it
    /// was committed.
    pub fn remove_normal(&self, start_ts: u64) -> Option<u64> {
        if !self.is_enabled {
            return None;
        }
        let idx = self.slot_index(start_ts);
        self.normal_cache[idx]
            .borrow_mut()
            .remove(start_ts)
            .and_then(|e| e.commit_ts())
    }

    /// Applies one kvrpcpb `TxnStatus` of an `UpdateTxnStatusCache` request
    /// at virtual time `now` (TiKV `Storage::update_txn_status_cache` in
    /// `src/storage/mod.rs`): the state is
    /// [`TxnState::from_ts`]`(start_ts, min_commit_ts, commit_ts,
    /// rolled_back)`; if `is_completed` the txn is first removed from the
    /// large-txn cache (which is for ongoing txns only); then it is upserted.
    /// Returns the state upserted.
    pub fn update_txn_status(
        &self,
        start_ts: u64,
        min_commit_ts: u64,
        commit_ts: u64,
        rolled_back: bool,
        is_completed: bool,
        now: Micros,
    ) -> TxnState {
        let state = TxnState::from_ts(start_ts, min_commit_ts, commit_ts, rolled_back);
        if is_completed {
            self.remove_large_txn(start_ts);
        }
        self.upsert(start_ts, state, now);
        state
    }

    /// Every entry of the large-txn cache as `(start_ts, entry)`, sorted by
    /// `start_ts` (read-only; does not promote).
    pub fn large_txn_entries(&self) -> Vec<(u64, CacheEntry)> {
        let mut out: Vec<(u64, CacheEntry)> = self
            .large_txn_cache
            .iter()
            .flat_map(|slot| {
                slot.borrow()
                    .entries
                    .iter()
                    .map(|(&ts, (e, _))| (ts, *e))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by_key(|(ts, _)| *ts);
        out
    }

    /// Number of entries in the normal cache.
    pub fn normal_len(&self) -> usize {
        self.normal_cache.iter().map(|s| s.borrow().len()).sum()
    }

    /// Number of entries in the large-txn cache.
    pub fn large_txn_len(&self) -> usize {
        self.large_txn_cache.iter().map(|s| s.borrow().len()).sum()
    }

    /// Number of entries in both caches (a txn held by both counts twice).
    pub fn len(&self) -> usize {
        self.normal_len() + self.large_txn_len()
    }

    /// Whether both caches are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::time::MS;

    fn ongoing(min_commit_ts: u64) -> TxnState {
        TxnState::Ongoing { min_commit_ts }
    }

    fn committed(commit_ts: u64) -> TxnState {
        TxnState::Committed { commit_ts }
    }

    /// TiKV `setup_cache`: 16 slots, 30 s / 60 s keep times, capacity 1000.
    fn setup_cache() -> TxnStatusCache {
        TxnStatusCache::with_slots_and_time_limit(16, 30 * SEC, 60 * SEC, 1000)
    }

    /// TiKV `with_simulated_system_time(slots, keep, capacity)`.
    fn simulated(slots: usize, keep: Micros, capacity: usize) -> TxnStatusCache {
        TxnStatusCache::with_slots_and_time_limit(
            slots,
            keep,
            CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS,
            capacity,
        )
    }

    #[test]
    fn slot_index_is_tikv_fxhash() {
        let c = TxnStatusCache::new(1 << 20);
        for ts in [
            0u64,
            1,
            2,
            127,
            128,
            1 << 18,
            u64::MAX,
            449_613_390_077_657_089,
        ] {
            let expect = (fxhash::hash64(&ts) % TXN_STATUS_CACHE_SLOTS as u64) as usize;
            assert_eq!(c.slot_index(ts), expect, "ts {ts}");
        }
    }

    #[test]
    fn test_insert_and_get() {
        // TiKV `test_insert_and_get` (new_for_test: 16 slots, 1 << 20), with
        // a fixed order instead of a shuffled one.
        let c = TxnStatusCache::with_slots_and_time_limit(
            16,
            CACHE_ITEMS_REQUIRED_KEEP_TIME,
            CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS,
            1 << 20,
        );
        assert!(c.get_committed_no_promote(1).is_none());
        let now = 0;
        c.insert_committed(1, 2, now);
        assert_eq!(c.get_committed_no_promote(1), Some(2));
        c.insert_committed(3, 4, now);
        assert_eq!(c.get_committed_no_promote(3), Some(4));
        let list: Vec<u64> = (1..100).step_by(2).collect();
        for &ts in list.iter().rev() {
            c.insert_committed(ts, ts + 1, now);
        }
        for &ts in &list {
            assert_eq!(c.get_committed_no_promote(ts), Some(ts + 1));
        }
    }

    #[test]
    fn test_evicting_expired() {
        // TiKV `test_evicting_expired` (1 slot, keep 1000 ms, capacity 1000),
        // the part where the insert time equals the evict-policy time.
        let c = simulated(1, 1000 * MS, 1000);
        let t = |ms: u64| ms * MS;
        c.insert_committed(1, 2, t(0));
        c.insert_committed(3, 4, t(1));
        c.insert_committed(5, 6, t(2));
        assert_eq!(c.normal_len(), 3);
        assert_eq!(c.get_committed_no_promote(1), Some(2));
        assert_eq!(c.get_committed_no_promote(3), Some(4));
        assert_eq!(c.get_committed_no_promote(5), Some(6));

        c.insert_committed(7, 8, t(1001));
        // Entry 1 is popped out.
        assert!(c.get_committed_no_promote(1).is_none());
        assert_eq!(c.get_committed_no_promote(3), Some(4));
        assert_eq!(c.get_committed_no_promote(5), Some(6));
        c.insert_committed(9, 10, t(1004));
        // More than one expired entry at the tail is popped: 3 and 5.
        assert!(c.get_committed_no_promote(3).is_none());
        assert!(c.get_committed_no_promote(5).is_none());
        assert_eq!(c.get_committed_no_promote(7), Some(8));
        assert_eq!(c.get_committed_no_promote(9), Some(10));

        // 7@1001, 9@1004. `get` promotes 7, so entries are no longer in
        // insert-time order.
        assert_eq!(c.get_committed(7), Some(8));
        c.insert_committed(11, 12, t(2003));
        assert_eq!(c.get_committed_no_promote(7), Some(8));
        assert_eq!(c.get_committed_no_promote(9), Some(10));
        assert_eq!(c.get_committed_no_promote(11), Some(12));

        c.insert_committed(13, 14, t(2005));
        assert!(c.get_committed_no_promote(7).is_none());
        assert!(c.get_committed_no_promote(9).is_none());
        assert_eq!(c.get_committed_no_promote(11), Some(12));

        // 11@2003, 13@2005
        c.insert_committed(14, 14, t(3004));
        assert!(c.get_committed_no_promote(11).is_none());
        assert_eq!(c.get_committed_no_promote(13), Some(14));

        c.remove_normal(13);
        c.insert_committed(15, 16, t(3006));
        c.insert_committed(17, 18, t(3008));
        c.insert_committed(19, 20, t(4007));
        // 15 is at the tail and expired.
        assert!(c.get_committed_no_promote(15).is_none());
        assert_eq!(c.get_committed_no_promote(17), Some(18));

        // 17@3008, 19@4007. Time going backwards: nothing is expired.
        c.insert_committed(21, 22, t(2000));
        assert_eq!(c.get_committed_no_promote(17), Some(18));
        assert_eq!(c.get_committed_no_promote(19), Some(20));
        assert_eq!(c.get_committed_no_promote(21), Some(22));
        c.insert_committed(23, 24, t(3500));
        assert_eq!(c.get_committed_no_promote(21), Some(22));
        assert_eq!(c.get_committed(17), Some(18));
        assert_eq!(c.get_committed(19), Some(20));
        assert_eq!(c.get_committed(23), Some(24));
        // `get` promoted the others; 21 is the tail and gets popped.
        c.insert_committed(24, 24, t(3500));
        assert_eq!(c.get_committed_no_promote(17), Some(18));
        assert_eq!(c.get_committed_no_promote(19), Some(20));
        assert!(c.get_committed_no_promote(21).is_none());
        assert_eq!(c.get_committed_no_promote(23), Some(24));

        c.insert_committed(25, 26, t(4009));
        assert!(c.get_committed_no_promote(17).is_none());
        assert_eq!(c.get_committed_no_promote(19), Some(20));
    }

    #[test]
    fn test_setting_capacity() {
        let c = TxnStatusCache::with_slots_and_time_limit(2, 1000 * MS, 1000 * MS, 10);
        assert!(c.is_enabled());
        assert_eq!(c.normal_cache.len(), 2);
        assert_eq!(c.normal_cache[0].borrow().capacity, 5);
        assert_eq!(c.normal_cache[1].borrow().capacity, 5);

        let c = TxnStatusCache::with_slots_and_time_limit(2, 1000 * MS, 1000 * MS, 0);
        assert!(!c.is_enabled());
        assert_eq!(c.normal_cache.len(), 0);
        // All operations are no-ops.
        c.insert_committed(1, 2, 0);
        assert!(c.get_committed_no_promote(1).is_none());
        assert!(c.get_committed(1).is_none());
        c.upsert(3, ongoing(10), 0);
        assert!(c.get(3).is_none());
        assert!(c.remove_large_txn(3).is_none());
        assert!(c.is_empty());

        // Per-slot capacity is at least 1 (TiKV `LruCache::new`):
        // `TxnStatusCache::new(100)` with 128 slots.
        let c = TxnStatusCache::new(100);
        assert_eq!(c.normal_cache.len(), TXN_STATUS_CACHE_SLOTS);
        assert_eq!(c.large_txn_cache.len(), TXN_STATUS_CACHE_SLOTS);
        assert_eq!(c.large_txn_cache[0].borrow().capacity, 1);
        assert_eq!(
            TxnStatusCache::default().normal_cache[0].borrow().capacity,
            40_000
        );
    }

    #[test]
    fn test_evicting_by_capacity() {
        // TiKV `test_evicting_by_capacity`: 1 slot, keep 1000 ms, capacity 5.
        let c = simulated(1, 1000 * MS, 5);
        let t = |ms: u64| ms * MS;
        c.insert_committed(1, 2, t(0));
        c.insert_committed(3, 4, t(2));
        c.insert_committed(5, 6, t(4));
        c.insert_committed(7, 8, t(6));
        c.insert_committed(9, 10, t(8));
        // Entry 1 not evicted: 5 entries.
        assert_eq!(c.normal_len(), 5);
        assert_eq!(c.get_committed_no_promote(1), Some(2));
        c.insert_committed(11, 12, t(10));
        // Entry 1 evicted, still 5 entries.
        assert_eq!(c.normal_len(), 5);
        assert!(c.get_committed_no_promote(1).is_none());
        assert_eq!(c.get_committed_no_promote(3), Some(4));

        // Inserting an existing key evicts nothing.
        c.insert_committed(11, 12, t(10));
        assert_eq!(c.normal_len(), 5);
        assert_eq!(c.get_committed_no_promote(3), Some(4));

        // 3@2, 5@4, 7@6, 9@8, 11@10: evicting by time works as well.
        c.insert_committed(13, 14, t(1005));
        assert_eq!(c.normal_len(), 4);
        assert!(c.get_committed_no_promote(3).is_none());
        assert!(c.get_committed_no_promote(5).is_none());
        assert_eq!(c.get_committed_no_promote(7), Some(8));

        // Reorder by `get`.
        assert_eq!(c.get_committed(7), Some(8));
        assert_eq!(c.get_committed(9), Some(10));
        assert_eq!(c.get_committed(11), Some(12));

        c.insert_committed(15, 16, t(1005));
        // 13@1005, 7@6, 9@8, 11@10, 15@1005
        assert_eq!(c.normal_len(), 5);
        // Expired entries behind the tail are evicted once the tail is
        // evicted for capacity.
        c.insert_committed(17, 18, t(1011));
        assert_eq!(c.normal_len(), 2);
        assert!(c.get_committed_no_promote(13).is_none());
        assert!(c.get_committed_no_promote(7).is_none());
        assert!(c.get_committed_no_promote(9).is_none());
        assert!(c.get_committed_no_promote(11).is_none());
        assert_eq!(c.get_committed(15), Some(16));
        assert_eq!(c.get_committed(17), Some(18));
    }

    #[test]
    fn test_upsert_and_get_normal_txn() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(2), 0);
        assert_eq!(cache.get(1), Some(ongoing(2)));
        cache.upsert(1, committed(3), 0);
        assert_eq!(cache.get(1), Some(committed(3)));
    }

    #[test]
    fn test_upsert_and_get_large_txn() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(10000), 0);
        assert_eq!(cache.get(1), Some(ongoing(10000)));
        assert_eq!(cache.large_txn_len(), 1);
        assert_eq!(cache.normal_len(), 0);
        cache.upsert(1, committed(10000), 0);
        assert_eq!(cache.get(1), Some(committed(10000)));
    }

    #[test]
    fn test_update_ongoing_txn() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(2), 0);
        cache.upsert(1, ongoing(3), 0);
        assert_eq!(cache.get(1), Some(ongoing(3)));
    }

    #[test]
    fn test_update_committed_txn() {
        // A completed status is never overwritten.
        let cache = setup_cache();
        cache.upsert(1, committed(2), 0);
        cache.upsert(1, TxnState::RolledBack, 0);
        assert_eq!(cache.get(1), Some(committed(2)));
        cache.upsert(1, ongoing(5), 0);
        // The large cache got an Ongoing entry (a new key there), which
        // `get` returns first: TiKV's priority rule.
        assert_eq!(cache.get(1), Some(ongoing(5)));
        assert_eq!(cache.get_committed(1), Some(2));

        let cache = setup_cache();
        cache.upsert(7, TxnState::RolledBack, 0);
        cache.upsert(7, committed(9), 0);
        assert_eq!(cache.get(7), Some(TxnState::RolledBack));
    }

    #[test]
    fn test_large_cache_completed_not_overwritten() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(10), 0);
        cache.upsert(1, committed(12), 0);
        // Committed in the large cache: a later larger min_commit_ts does not
        // turn it back to ongoing.
        cache.upsert(1, ongoing(20), 0);
        assert_eq!(cache.get(1), Some(committed(12)));
    }

    #[test]
    fn test_min_commit_ts_only_raised_in_large_cache() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(10), 5 * SEC);
        cache.upsert(1, ongoing(8), 6 * SEC);
        assert_eq!(cache.get(1), Some(ongoing(10)));
        // Not raised: update_time unchanged.
        assert_eq!(cache.large_txn_entries()[0].1.update_time, 5 * SEC);
        cache.upsert(1, ongoing(11), 7 * SEC);
        assert_eq!(cache.get(1), Some(ongoing(11)));
        assert_eq!(cache.large_txn_entries()[0].1.update_time, 7 * SEC);
        // TiKV rule: `Ongoing { min_commit_ts: start_ts }` takes the normal
        // path, which overwrites an existing ongoing large-cache entry.
        cache.upsert(1, ongoing(1), 8 * SEC);
        assert_eq!(cache.get(1), Some(ongoing(1)));
    }

    #[test]
    fn test_normal_to_large_txn_transition() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(1), 0);
        assert_eq!(cache.get(1), Some(ongoing(1)));
        assert_eq!(cache.normal_len(), 1);
        cache.upsert(1, ongoing(2), 0);
        assert_eq!(cache.get(1), Some(ongoing(2)));
        assert_eq!(cache.large_txn_len(), 1);
    }

    #[test]
    fn test_large_to_normal_txn_transition() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(10000), 0);
        assert_eq!(cache.get(1), Some(ongoing(10000)));
        cache.upsert(1, committed(10001), 0);
        assert_eq!(cache.get(1), Some(committed(10001)));
        // Both caches hold it committed now.
        assert_eq!(cache.get_committed(1), Some(10001));
        assert_eq!(cache.large_txn_entries()[0].1.state, committed(10001));
    }

    #[test]
    fn test_eviction_normal_txn() {
        let cache = simulated(1, 30 * SEC, 1);
        cache.upsert(1, ongoing(2), 0);
        cache.upsert(3, ongoing(4), 31 * SEC);
        assert_eq!(cache.get(1), None);
        assert_eq!(cache.get(3), Some(ongoing(4)));
    }

    #[test]
    fn test_eviction_large_txn() {
        let cache = simulated(1, 60 * SEC, 1);
        cache.upsert(1, ongoing(10000), 0);
        cache.upsert(2, ongoing(20000), 61 * SEC);
        assert_eq!(cache.get(1), None);
        assert_eq!(cache.get(2), Some(ongoing(20000)));
    }

    #[test]
    fn test_keep_time_eviction_large_txn() {
        // Large-cache keep time is 30 s and eviction needs `now > update +
        // keep` (TiKV's strict comparison); capacity is not the cause here.
        let cache = simulated(1, 30 * SEC, 1000);
        cache.upsert(1, ongoing(100), 0);
        cache.upsert(2, ongoing(200), 30 * SEC);
        assert_eq!(cache.get(1), Some(ongoing(100)));
        // Reading does not refresh update_time, but promotes: 2 is the tail
        // now, and it is not expired, so 1 survives as well.
        cache.upsert(3, ongoing(300), 30 * SEC + 1);
        assert_eq!(cache.peek(1), Some(ongoing(100)));
        // Only the tail is checked: 2 (update 30 s) then 1 (update 0) are
        // both expired at 60 s + 1 µs; 3 (30 s + 1 µs) is not.
        cache.upsert(4, ongoing(400), 60 * SEC + 1);
        assert_eq!(cache.peek(1), None);
        assert_eq!(cache.peek(2), None);
        assert_eq!(cache.peek(3), Some(ongoing(300)));
        assert_eq!(cache.peek(4), Some(ongoing(400)));
        // Updating min_commit_ts refreshes update_time.
        cache.upsert(3, ongoing(301), 80 * SEC);
        cache.upsert(5, ongoing(500), 91 * SEC);
        assert_eq!(cache.peek(3), Some(ongoing(301)));
        assert_eq!(cache.peek(4), None);
    }

    #[test]
    fn test_capacity_limit() {
        let cache = TxnStatusCache::with_slots_and_time_limit(1, 30 * SEC, 60 * SEC, 5);
        for i in 1..=5 {
            cache.upsert(i, ongoing(i + 1), 0);
        }
        cache.upsert(6, ongoing(7), 0);
        assert_eq!(cache.get(1), None);
        assert_eq!(cache.get(6), Some(ongoing(7)));
    }

    #[test]
    fn test_get_committed() {
        let cache = setup_cache();
        cache.upsert(1, committed(2), 0);
        cache.upsert(3, ongoing(4), 0);
        assert_eq!(cache.get_committed(1), Some(2));
        assert_eq!(cache.get_committed(3), None);
    }

    #[test]
    fn test_remove_large_txn() {
        let cache = setup_cache();
        cache.upsert(1, ongoing(10000), 0);
        assert_eq!(cache.get(1), Some(ongoing(10000)));
        let removed = cache.remove_large_txn(1);
        assert_eq!(
            removed,
            Some(CacheEntry {
                state: ongoing(10000),
                update_time: 0
            })
        );
        assert_eq!(cache.get(1), None);
    }

    #[test]
    fn test_update_txn_status() {
        let cache = setup_cache();
        // Heartbeat of a large txn: min_commit_ts pushed.
        assert_eq!(
            cache.update_txn_status(10, 50, 0, false, false, 0),
            ongoing(50)
        );
        assert_eq!(cache.get(10), Some(ongoing(50)));
        // min_commit_ts below start_ts is raised to start_ts (from_ts).
        assert_eq!(
            TxnState::from_ts(10, 3, 0, false),
            TxnState::Ongoing { min_commit_ts: 10 }
        );
        assert_eq!(TxnState::from_ts(10, 3, 12, true), TxnState::RolledBack);
        // Committed but not completed: both caches say committed.
        cache.update_txn_status(10, 50, 60, false, false, SEC);
        assert_eq!(cache.get(10), Some(committed(60)));
        assert_eq!(cache.large_txn_len(), 1);
        // Completed: removed from the large cache, kept in the normal one.
        cache.update_txn_status(10, 50, 60, false, true, 2 * SEC);
        assert_eq!(cache.large_txn_len(), 0);
        assert_eq!(cache.get(10), Some(committed(60)));

        // Rolled back and completed.
        cache.update_txn_status(20, 70, 0, false, false, 0);
        cache.update_txn_status(20, 0, 0, true, true, 0);
        assert!(cache.large_txn_entries().iter().all(|(ts, _)| *ts != 20));
        assert_eq!(cache.get(20), Some(TxnState::RolledBack));
    }

    #[test]
    fn test_large_txn_entries_sorted() {
        let cache = TxnStatusCache::new(1 << 20);
        for ts in [900u64, 5, 300, 77, 1 << 40] {
            cache.upsert(ts, ongoing(ts + 1), 0);
        }
        cache.insert_committed(1, 2, 0);
        let got: Vec<u64> = cache.large_txn_entries().iter().map(|(t, _)| *t).collect();
        assert_eq!(got, vec![5, 77, 300, 900, 1 << 40]);
        assert_eq!(cache.len(), 6);
        assert!(!cache.is_empty());
    }
}
