//! The per-region lock tracker of resolved-ts (TiKV
//! `components/resolved_ts/src/resolver.rs`).
//!
//! A [`Resolver`] lives on a region leader. The apply path tells it about
//! every lock written ([`Resolver::track_lock`]) and removed
//! ([`Resolver::untrack_lock`]); every advance tick the endpoint calls
//! [`Resolver::resolve`] with a fresh TSO, and the resolved ts becomes
//! `min(tso, oldest lock)`, never decreasing. A commit can never land at or
//! below the resolved ts, so stale reads and CDC can use it as a watermark.
//!
//! Large (pipelined-DML) transactions changed this in two steps, selected by
//! [`ResolverMode`]:
//!
//! * [`ResolverMode::Legacy`]: TiKV up to v8.3, before PR 17540. Every lock
//!   is tracked by its key and `start_ts`, whatever its generation, so a
//!   long pipelined txn pins the resolved ts at its `start_ts`.
//! * [`ResolverMode::TxnStatusCache`]: PR 17540 (dccee48156, "Prevent
//!   resolved-ts from being blocked by pipelined DML transactions"), with
//!   the lock counting of PR 17629 (254d1f0540). Locks with generation > 0
//!   belong to large txns; each such txn is tracked once (with one
//!   representative key) and mapped through the [`TxnStatusCache`] to its
//!   `min_commit_ts`; committed / rolled-back txns no longer block; a
//!   txn missing from the cache falls back to its `start_ts` (TiKV logs
//!   "Large txn not found in cache"). The candidate is `min_commit_ts`
//!   itself, so the resolved ts can equal a later commit ts (tikv#17728).
//! * [`ResolverMode::MinCommitTsMinus1`]: PR 17730 (7f31c92bfd, closes
//!   tikv#17728), TiKV master: as above but the candidate is
//!   `min_commit_ts - 1` (`TimeStamp::prev`), so `resolved_ts <
//!   min_commit_ts <= commit_ts`. A cache miss gives `start_ts - 1`.
//!
//! Not modelled: the memory quota (TiKV `resolved-ts.memory-quota`, 256 MiB
//! by default; exceeding it makes `track_lock` fail and the region
//! re-register), hash-map shrinking, the region read progress (the caller
//! publishes `resolved_ts`), metrics and logs. TiKV's `HashMap`s are
//! `BTreeMap`s here; where TiKV's choice depends on hash order (ties between
//! large txns with the same candidate ts) the smallest `start_ts` wins.
//! TiKV's `assert!` in `update_tracked_index` is not reproduced: an index
//! that goes backwards is ignored and reported, never a panic.

use std::collections::BTreeMap;

use crate::proto::Key;
use crate::storage::txn_status_cache::{TxnState, TxnStatusCache};

/// Which TiKV version's resolver logic to run (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolverMode {
    /// TiKV <= v8.3, before PR 17540: the generation is ignored and every
    /// lock is a normal lock pinning the resolved ts at its `start_ts`.
    Legacy,
    /// PR 17540 (dccee48156): generation > 0 locks are large txns whose
    /// candidate is their cached `min_commit_ts` (miss: `start_ts`).
    TxnStatusCache,
    /// PR 17730 (7f31c92bfd, tikv#17728): as `TxnStatusCache` but the
    /// candidate is `min_commit_ts - 1` (miss: `start_ts - 1`).
    MinCommitTsMinus1,
}

/// The locks of one transaction in a resolver (TiKV `TxnLocks`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnLocks {
    /// Number of locks tracked. For large txns it counts `track_lock` calls
    /// (TiKV PR 17629), so it is approximate: a key written in several
    /// generations counts several times.
    pub lock_count: usize,
    /// A sample key of the txn (for a large txn, its representative key).
    pub sample_lock: Option<Key>,
}

/// What determined a resolve attempt's candidate ts (TiKV `TsSource`; only
/// the sources resolved-ts itself uses are kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsSource {
    /// A lock in the LOCK CF (the oldest tracked txn).
    Lock(TxnLocks),
    /// The TSO fetched from PD.
    PdTso,
}

impl TsSource {
    /// TiKV's metric / log label: `"lock"` or `"pd_tso"`.
    pub fn label(&self) -> &'static str {
        match self {
            TsSource::Lock(_) => "lock",
            TsSource::PdTso => "pd_tso",
        }
    }

    /// The sample key of a lock source (TiKV `TsSource::key`).
    pub fn key(&self) -> Option<Key> {
        match self {
            TsSource::Lock(locks) => locks.sample_lock,
            TsSource::PdTso => None,
        }
    }
}

/// The outcome of the last [`Resolver::resolve`], for diagnosis (TiKV
/// `LastAttempt`, logged by the endpoint when resolved-ts is stuck).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastAttempt {
    /// Whether the resolved ts advanced.
    pub success: bool,
    /// The candidate ts of the attempt (TSO), even if it did not advance.
    pub ts: u64,
    /// What the candidate came from.
    pub reason: TsSource,
}

/// What [`Resolver::resolve`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The resolved ts after the call (TSO; never decreases).
    pub resolved_ts: u64,
    /// `start_ts` of the large txns not found in the txn status cache (each
    /// is a TiKV "Large txn not found in cache" log line), ascending.
    pub cache_misses: Vec<u64>,
}

/// The lock tracker of one region (TiKV `Resolver`). Timestamps are TSO
/// values (physical ms << 18 | logical).
#[derive(Clone, Debug)]
pub struct Resolver {
    /// The region.
    pub region_id: u64,
    /// Normal locks: key -> start_ts.
    pub locks_by_key: BTreeMap<Key, u64>,
    /// Normal txns: start_ts -> their locks; the first is the oldest.
    pub lock_ts_heap: BTreeMap<u64, TxnLocks>,
    /// Large txns (generation > 0 locks, not in `Legacy`): start_ts -> locks.
    pub large_txns: BTreeMap<u64, TxnLocks>,
    /// The representative key of each large txn (its first tracked lock) ->
    /// start_ts; untracking it stops tracking the whole txn.
    pub large_txn_key_representative: BTreeMap<Key, u64>,
    /// No commit will happen at or below this ts (TSO).
    pub resolved_ts: u64,
    /// The highest raft apply index tracked.
    pub tracked_index: u64,
    /// The ts that advances the resolved ts when there are no writes (TSO;
    /// never decreases).
    pub min_ts: u64,
    /// Set by [`Resolver::stop_tracking`]; `resolve` then no longer advances.
    pub stopped: bool,
    /// The last resolve attempt.
    pub last_attempt: Option<LastAttempt>,
    /// Which TiKV version's logic this resolver runs.
    pub mode: ResolverMode,
}

impl Resolver {
    /// An empty resolver, resolved ts 0 (TiKV `Resolver::new`).
    pub fn new(region_id: u64, mode: ResolverMode) -> Self {
        Resolver {
            region_id,
            locks_by_key: BTreeMap::new(),
            lock_ts_heap: BTreeMap::new(),
            large_txns: BTreeMap::new(),
            large_txn_key_representative: BTreeMap::new(),
            resolved_ts: 0,
            tracked_index: 0,
            min_ts: 0,
            stopped: false,
            last_attempt: None,
            mode,
        }
    }

    /// Stops advancing (TiKV `stop_tracking`, on split / merge until the
    /// region re-registers). Like TiKV, only sets `stopped`: the tracked
    /// locks are kept (TiKV: "TODO: should we also clear the lock heap?").
    pub fn stop_tracking(&mut self) {
        self.stopped = true;
    }

    /// Records the apply index (TiKV `update_tracked_index`). TiKV asserts
    /// the index does not go backwards; here a smaller index is ignored and
    /// `false` returned.
    pub fn update_tracked_index(&mut self, index: u64) -> bool {
        if index < self.tracked_index {
            return false;
        }
        self.tracked_index = index;
        true
    }

    /// Tracks a lock of `start_ts` on `key` written at apply `index` (TiKV
    /// `track_lock`). `generation` is the pipelined-DML flush generation
    /// (0 for normal txns). In `Legacy` mode every lock is a normal lock;
    /// otherwise generation > 0 marks a large txn, tracked once by its first
    /// key. Idempotent for normal locks: a key already tracked is ignored.
    pub fn track_lock(&mut self, start_ts: u64, key: Key, index: Option<u64>, generation: u64) {
        if let Some(index) = index {
            self.update_tracked_index(index);
        }
        if generation == 0 || self.mode == ResolverMode::Legacy {
            self.track_normal_lock(start_ts, key);
        } else {
            self.track_large_txn_lock(start_ts, key);
        }
    }

    fn track_normal_lock(&mut self, start_ts: u64, key: Key) {
        if self.locks_by_key.contains_key(&key) {
            return;
        }
        let txn_locks = self
            .lock_ts_heap
            .entry(start_ts)
            .or_insert_with(|| TxnLocks {
                lock_count: 0,
                sample_lock: Some(key),
            });
        txn_locks.lock_count += 1;
        self.locks_by_key.insert(key, start_ts);
    }

    fn track_large_txn_lock(&mut self, start_ts: u64, key: Key) {
        if let Some(locks) = self.large_txns.get_mut(&start_ts) {
            locks.lock_count += 1;
        } else {
            self.large_txn_key_representative.insert(key, start_ts);
            self.large_txns.insert(
                start_ts,
                TxnLocks {
                    lock_count: 1,
                    sample_lock: Some(key),
                },
            );
        }
    }

    /// Untracks the lock on `key` (TiKV `untrack_lock`): a normal lock is
    /// removed and its txn dropped when its count reaches 0; a large txn's
    /// representative key drops the whole large txn; any other key (a
    /// rollback of an unlocked key, a non-representative large-txn lock) is
    /// ignored. Idempotent.
    pub fn untrack_lock(&mut self, key: Key, index: Option<u64>) {
        if let Some(index) = index {
            self.update_tracked_index(index);
        }
        if let Some(start_ts) = self.locks_by_key.remove(&key) {
            if let Some(txn_locks) = self.lock_ts_heap.get_mut(&start_ts) {
                txn_locks.lock_count = txn_locks.lock_count.saturating_sub(1);
                if txn_locks.lock_count == 0 {
                    self.lock_ts_heap.remove(&start_ts);
                }
            }
        } else if let Some(start_ts) = self.large_txn_key_representative.remove(&key) {
            self.large_txns.remove(&start_ts);
        }
    }

    /// Tries to advance the resolved ts with `min_ts` (a TSO from `source`)
    /// (TiKV `resolve`): if stopped, returns the current value; otherwise
    /// the candidate is `min(oldest txn ts, min_ts)` (see
    /// [`Resolver::oldest_transaction`]), recorded in `last_attempt` with the
    /// lock as reason if the lock is strictly below `min_ts`; the resolved
    /// ts becomes `max(resolved_ts, candidate)`; `min_ts` becomes
    /// `max(min_ts, candidate if there is a lock else min_ts)`. Looking the
    /// large txns up promotes their cache entries, as in TiKV.
    pub fn resolve(&mut self, min_ts: u64, source: TsSource, cache: &TxnStatusCache) -> Resolved {
        if self.stopped {
            return Resolved {
                resolved_ts: self.resolved_ts,
                cache_misses: Vec::new(),
            };
        }
        let (min_lock, cache_misses) = self.oldest_transaction(cache);
        let has_lock = min_lock.is_some();
        let min_txn_ts = min_lock.as_ref().map_or(min_ts, |(ts, _)| *ts);
        let new_resolved_ts = min_txn_ts.min(min_ts);
        let reason = match min_lock {
            Some((lock_ts, txn_locks)) if lock_ts < min_ts => TsSource::Lock(txn_locks),
            _ => source,
        };
        self.last_attempt = Some(LastAttempt {
            success: self.resolved_ts < new_resolved_ts,
            ts: new_resolved_ts,
            reason,
        });
        self.resolved_ts = self.resolved_ts.max(new_resolved_ts);
        let new_min_ts = if has_lock { new_resolved_ts } else { min_ts };
        self.min_ts = self.min_ts.max(new_min_ts);
        Resolved {
            resolved_ts: self.resolved_ts,
            cache_misses,
        }
    }

    /// The candidate a large txn of `start_ts` gives, from what the cache
    /// says of it (`state`; `None` is a miss): its `min_commit_ts`
    /// (`TxnStatusCache` mode) or `min_commit_ts - 1` (`MinCommitTsMinus1`),
    /// with `start_ts` in place of `min_commit_ts` on a miss (TiKV
    /// `lookup_min_commit_ts` then `prev()`); `None` for a committed or
    /// rolled-back txn, which does not block.
    pub fn large_txn_candidate(&self, start_ts: u64, state: Option<TxnState>) -> Option<u64> {
        let min_commit_ts = match state {
            None => start_ts,
            Some(TxnState::Ongoing { min_commit_ts }) => min_commit_ts,
            Some(TxnState::Committed { .. }) | Some(TxnState::RolledBack) => return None,
        };
        Some(match self.mode {
            ResolverMode::MinCommitTsMinus1 => min_commit_ts.saturating_sub(1),
            _ => min_commit_ts,
        })
    }

    /// The txn that may get the smallest commit ts, as `(candidate ts,
    /// locks)` (TiKV `oldest_transaction`), plus the `start_ts` of large txns
    /// missing from `cache`. Normal txns give their `start_ts`; large txns
    /// give [`Resolver::large_txn_candidate`]; committed / rolled-back large
    /// txns are skipped. On a tie the large txn wins (TiKV: `if ts1 < ts2`).
    /// Looking the large txns up promotes their cache entries, as in TiKV.
    pub fn oldest_transaction(
        &self,
        cache: &TxnStatusCache,
    ) -> (Option<(u64, TxnLocks)>, Vec<u64>) {
        self.oldest_with(|ts| cache.get(ts))
    }

    /// [`Resolver::oldest_transaction`] for a reader from outside (a view):
    /// it peeks at the cache, so the cache's LRU order stays as the
    /// simulation left it.
    pub fn peek_oldest_transaction(&self, cache: &TxnStatusCache) -> Option<(u64, TxnLocks)> {
        self.oldest_with(|ts| cache.peek(ts)).0
    }

    fn oldest_with(
        &self,
        lookup: impl Fn(u64) -> Option<TxnState>,
    ) -> (Option<(u64, TxnLocks)>, Vec<u64>) {
        let oldest_normal = self
            .lock_ts_heap
            .iter()
            .next()
            .map(|(&ts, locks)| (ts, locks.clone()));

        let mut misses = Vec::new();
        let mut oldest_large: Option<(u64, &TxnLocks)> = None;
        if self.mode != ResolverMode::Legacy {
            for (&start_ts, locks) in &self.large_txns {
                let state = lookup(start_ts);
                if state.is_none() {
                    misses.push(start_ts);
                }
                let Some(ts) = self.large_txn_candidate(start_ts, state) else {
                    continue;
                };
                if oldest_large.is_none_or(|(best, _)| ts < best) {
                    oldest_large = Some((ts, locks));
                }
            }
        }

        let oldest = match (oldest_normal, oldest_large) {
            (Some((ts1, locks1)), Some((ts2, locks2))) => {
                if ts1 < ts2 {
                    Some((ts1, locks1))
                } else {
                    Some((ts2, locks2.clone()))
                }
            }
            (Some(normal), None) => Some(normal),
            (None, Some((ts, locks))) => Some((ts, locks.clone())),
            (None, None) => None,
        };
        (oldest, misses)
    }

    /// Takes the last resolve attempt (TiKV `take_last_attempt`).
    pub fn take_last_attempt(&mut self) -> Option<LastAttempt> {
        self.last_attempt.take()
    }

    /// Number of locks tracked (TiKV `num_locks`): normal locks plus the
    /// approximate lock counts of large txns.
    pub fn num_locks(&self) -> u64 {
        let large: usize = self.large_txns.values().map(|l| l.lock_count).sum();
        (self.locks_by_key.len() + large) as u64
    }

    /// Number of txns tracked, normal and large (TiKV `num_transactions`).
    pub fn num_transactions(&self) -> u64 {
        (self.lock_ts_heap.len() + self.large_txns.len()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_MODES: [ResolverMode; 3] = [
        ResolverMode::Legacy,
        ResolverMode::TxnStatusCache,
        ResolverMode::MinCommitTsMinus1,
    ];

    #[derive(Clone)]
    enum Event {
        // start_ts, key
        Lock(u64, Key),
        // key
        Unlock(Key),
        // min_ts, expect
        Resolve(u64, u64),
    }

    /// TiKV `TxnStatusCache::new_for_test`.
    fn cache_for_test() -> TxnStatusCache {
        TxnStatusCache::with_slots_and_time_limit(
            16,
            crate::storage::txn_status_cache::CACHE_ITEMS_REQUIRED_KEEP_TIME,
            crate::storage::txn_status_cache::CACHE_ITEMS_REQUIRED_KEEP_TIME_FOR_LARGE_TXNS,
            1 << 20,
        )
    }

    #[test]
    fn test_resolve() {
        use Event::*;
        let (a, b) = (1, 2);
        let cases = [
            vec![Lock(1, a), Resolve(2, 1)],
            vec![Lock(1, a), Unlock(a), Resolve(2, 2)],
            vec![Lock(3, a), Unlock(a), Resolve(2, 2)],
            vec![Lock(1, a), Unlock(a), Lock(1, b), Resolve(2, 1)],
            vec![
                Lock(2, a),
                Unlock(a),
                Resolve(2, 2),
                // Pessimistic txn may write a smaller start_ts.
                Lock(1, a),
                Resolve(2, 2),
                Unlock(a),
                Resolve(3, 3),
            ],
            vec![Unlock(a), Lock(2, a), Unlock(a), Unlock(a), Resolve(3, 3)],
            vec![Lock(2, a), Resolve(4, 2), Unlock(a), Resolve(5, 5)],
            // Rollback may contain a key that is not locked.
            vec![Lock(1, a), Unlock(b), Unlock(a)],
        ];
        for mode in ALL_MODES {
            let cache = cache_for_test();
            for (i, case) in cases.iter().enumerate() {
                let mut resolver = Resolver::new(1, mode);
                for e in case.clone() {
                    match e {
                        Lock(start_ts, key) => resolver.track_lock(start_ts, key, None, 0),
                        Unlock(key) => resolver.untrack_lock(key, None),
                        Resolve(min_ts, expect) => assert_eq!(
                            resolver.resolve(min_ts, TsSource::PdTso, &cache),
                            Resolved {
                                resolved_ts: expect,
                                cache_misses: vec![]
                            },
                            "case {i} {mode:?}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn test_idempotent_track_and_untrack_lock() {
        let cache = cache_for_test();
        let mut resolver = Resolver::new(1, ResolverMode::MinCommitTsMinus1);
        // TiKV's 16-byte key k ++ ts, as one u64.
        let key = |k: u64, ts: u64| (k << 32) | ts;

        for c in 0..10usize {
            let ts = c as u64 + 1;
            for k in 0..100 {
                resolver.track_lock(ts, key(k, ts), None, 0);
            }
            let key_count1 = resolver.locks_by_key.len();
            let txn_count1 = resolver.lock_ts_heap.len();
            let txn_lock_count1 = resolver.lock_ts_heap[&ts].lock_count;
            assert_eq!(key_count1, (c + 1) * 100);
            assert_eq!(txn_count1, c + 1);

            // Same keys again: the state must be idempotent.
            for k in 0..100 {
                resolver.track_lock(ts, key(k, ts), None, 0);
            }
            assert_eq!(resolver.locks_by_key.len(), key_count1);
            assert_eq!(resolver.lock_ts_heap.len(), txn_count1);
            assert_eq!(resolver.lock_ts_heap[&ts].lock_count, txn_lock_count1);
        }
        assert_eq!(resolver.resolve(10, TsSource::PdTso, &cache).resolved_ts, 1);

        for ts in 1..=10u64 {
            for k in 0..100 {
                resolver.untrack_lock(key(k, ts), None);
            }
            let key_count1 = resolver.locks_by_key.len();
            let txn_count1 = resolver.lock_ts_heap.len();
            for k in 0..100 {
                resolver.untrack_lock(key(k, ts), None);
            }
            assert_eq!(resolver.locks_by_key.len(), key_count1);
            assert_eq!(resolver.lock_ts_heap.len(), txn_count1);
            assert_eq!(
                resolver.resolve(ts, TsSource::PdTso, &cache).resolved_ts,
                ts
            );
        }
        assert_eq!(resolver.locks_by_key.len(), 0);
        assert_eq!(resolver.lock_ts_heap.len(), 0);
    }

    /// TiKV `test_large_txn_tracking` at master (PR 17730) and, for
    /// `TxnStatusCache` mode, as it was at PR 17540 (expects 1 then 5).
    fn large_txn_tracking(mode: ResolverMode, expect_miss: u64, expect_hit: u64) {
        let cache = TxnStatusCache::new(100);
        let mut resolver = Resolver::new(1, mode);
        let (key1, key2, key3) = (0x0102_0304, 0x0506_0708, 0x090a_0b0c);

        // Two large txns, T1{key1}, T2{key2, key3}.
        resolver.track_lock(1, key1, None, 1);
        resolver.track_lock(2, key2, None, 1);
        resolver.track_lock(2, key3, None, 2);
        assert_eq!(resolver.num_locks(), 3);
        assert_eq!(resolver.num_transactions(), 2);
        assert_eq!(resolver.locks_by_key.len(), 0);
        assert_eq!(resolver.large_txns.len(), 2);
        assert_eq!(resolver.large_txn_key_representative.len(), 2);
        assert_eq!(resolver.resolved_ts, 0);

        let r = resolver.resolve(20, TsSource::PdTso, &cache);
        assert_eq!(r.resolved_ts, expect_miss);
        assert_eq!(r.cache_misses, vec![1, 2]);

        cache.upsert(1, TxnState::Ongoing { min_commit_ts: 10 }, 0);
        cache.upsert(2, TxnState::Ongoing { min_commit_ts: 5 }, 0);

        let r = resolver.resolve(20, TsSource::PdTso, &cache);
        assert_eq!(r.resolved_ts, expect_hit);
        assert!(r.cache_misses.is_empty());
        let (oldest, misses) = resolver.oldest_transaction(&cache);
        let oldest = oldest.expect("a large txn is tracked");
        assert!(misses.is_empty());
        assert_eq!(oldest.0, expect_hit);
        assert_eq!(oldest.1.lock_count, 2);
        assert_eq!(oldest.1.sample_lock, Some(key2));
    }

    #[test]
    fn test_large_txn_tracking() {
        large_txn_tracking(ResolverMode::MinCommitTsMinus1, 0, 4);
        large_txn_tracking(ResolverMode::TxnStatusCache, 1, 5);
    }

    #[test]
    fn test_resolved_ts_always_greater_than_following_commit_ts() {
        // A later commit_ts must be strictly larger than resolved-ts.
        let cache = TxnStatusCache::new(100);
        let mut resolver = Resolver::new(1, ResolverMode::MinCommitTsMinus1);
        resolver.track_lock(1, 0x0102_0304, None, 1);
        // PD TSO = 9. A read with ts 9 pushes min_commit_ts to 10, above the
        // current PD ts.
        cache.upsert(1, TxnState::Ongoing { min_commit_ts: 10 }, 0);
        // The resolved-ts cannot be 10: a later commit ts could be 10.
        assert_eq!(resolver.resolve(10, TsSource::PdTso, &cache).resolved_ts, 9);

        // The same with PR 17540's logic: the tikv#17728 bug, resolved ts 10
        // equals the smallest possible commit ts.
        let mut resolver = Resolver::new(1, ResolverMode::TxnStatusCache);
        resolver.track_lock(1, 0x0102_0304, None, 1);
        assert_eq!(
            resolver.resolve(10, TsSource::PdTso, &cache).resolved_ts,
            10
        );
    }

    #[test]
    fn test_large_txn_by_mode() {
        let cache = TxnStatusCache::new(1 << 20);
        let start_ts = 100;
        let min_commit_ts = 150;
        cache.upsert(start_ts, TxnState::Ongoing { min_commit_ts }, 0);
        let resolve = |mode| {
            let mut r = Resolver::new(7, mode);
            r.track_lock(start_ts, 42, Some(5), 1);
            r.track_lock(start_ts, 43, Some(6), 1);
            let res = r.resolve(200, TsSource::PdTso, &cache);
            assert!(res.cache_misses.is_empty());
            assert_eq!(r.tracked_index, 6);
            (res.resolved_ts, r)
        };

        // Legacy: the pipelined lock pins resolved ts at start_ts.
        let (ts, r) = resolve(ResolverMode::Legacy);
        assert_eq!(ts, start_ts);
        assert_eq!(r.locks_by_key.len(), 2);
        assert!(r.large_txns.is_empty());
        assert_eq!(
            r.last_attempt.as_ref().map(|a| a.reason.label()),
            Some("lock")
        );
        // PR 17540: min_commit_ts.
        let (ts, r) = resolve(ResolverMode::TxnStatusCache);
        assert_eq!(ts, min_commit_ts);
        assert_eq!(r.num_locks(), 2);
        assert_eq!(r.num_transactions(), 1);
        // PR 17730: min_commit_ts - 1.
        let (ts, mut r) = resolve(ResolverMode::MinCommitTsMinus1);
        assert_eq!(ts, min_commit_ts - 1);
        let attempt = r.take_last_attempt().expect("resolved once");
        assert!(attempt.success);
        assert_eq!(attempt.ts, min_commit_ts - 1);
        assert_eq!(attempt.reason.key(), Some(42));

        // Committed (and rolled-back) large txns do not block.
        cache.upsert(start_ts, TxnState::Committed { commit_ts: 160 }, 0);
        for mode in [
            ResolverMode::TxnStatusCache,
            ResolverMode::MinCommitTsMinus1,
        ] {
            let (ts, r) = resolve(mode);
            assert_eq!(ts, 200);
            assert_eq!(
                r.last_attempt.as_ref().map(|a| a.reason.label()),
                Some("pd_tso")
            );
        }
        let (ts, _) = resolve(ResolverMode::Legacy);
        assert_eq!(ts, start_ts);
        let cache2 = TxnStatusCache::new(1 << 20);
        cache2.upsert(start_ts, TxnState::RolledBack, 0);
        let mut r = Resolver::new(7, ResolverMode::MinCommitTsMinus1);
        r.track_lock(start_ts, 42, None, 3);
        assert_eq!(r.resolve(200, TsSource::PdTso, &cache2).resolved_ts, 200);
    }

    #[test]
    fn test_large_txn_untrack_by_representative() {
        let cache = TxnStatusCache::new(1 << 20);
        let mut r = Resolver::new(1, ResolverMode::MinCommitTsMinus1);
        r.track_lock(10, 5, None, 1);
        r.track_lock(10, 6, None, 1);
        // A non-representative key is not tracked: untracking it is a no-op.
        r.untrack_lock(6, None);
        assert_eq!(r.num_transactions(), 1);
        let res = r.resolve(50, TsSource::PdTso, &cache);
        // Miss: falls back to start_ts, minus 1.
        assert_eq!(res.resolved_ts, 9);
        assert_eq!(res.cache_misses, vec![10]);
        r.untrack_lock(5, None);
        assert_eq!(r.num_transactions(), 0);
        assert!(r.large_txn_key_representative.is_empty());
        assert_eq!(r.resolve(50, TsSource::PdTso, &cache).resolved_ts, 50);
    }

    #[test]
    fn test_normal_and_large_mix_and_tie() {
        let cache = TxnStatusCache::new(1 << 20);
        cache.upsert(20, TxnState::Ongoing { min_commit_ts: 31 }, 0);
        let mut r = Resolver::new(1, ResolverMode::MinCommitTsMinus1);
        r.track_lock(30, 1, None, 0);
        r.track_lock(20, 2, None, 1);
        // Tie at 30 between the normal txn (start 30) and the large one
        // (31 - 1): TiKV picks the large txn (`if ts1 < ts2`).
        let (oldest, _) = r.oldest_transaction(&cache);
        assert_eq!(
            oldest,
            Some((
                30,
                TxnLocks {
                    lock_count: 1,
                    sample_lock: Some(2)
                }
            ))
        );
        assert_eq!(r.resolve(100, TsSource::PdTso, &cache).resolved_ts, 30);
        assert_eq!(r.min_ts, 30);
    }

    #[test]
    fn test_never_decrease_and_stopped() {
        let cache = cache_for_test();
        let mut r = Resolver::new(1, ResolverMode::Legacy);
        assert_eq!(r.resolve(10, TsSource::PdTso, &cache).resolved_ts, 10);
        assert_eq!(r.min_ts, 10);
        // A late lock below the resolved ts does not move it back.
        r.track_lock(5, 1, Some(3), 0);
        assert_eq!(r.resolve(20, TsSource::PdTso, &cache).resolved_ts, 10);
        let attempt = r.last_attempt.clone().expect("attempted");
        assert!(!attempt.success);
        assert_eq!(attempt.ts, 5);
        assert_eq!(attempt.reason.label(), "lock");
        assert_eq!(r.min_ts, 10);
        // Index going backwards is ignored.
        assert!(!r.update_tracked_index(2));
        assert_eq!(r.tracked_index, 3);

        r.untrack_lock(1, Some(4));
        r.stop_tracking();
        // Stopped: no advance, and no lookups.
        assert_eq!(r.resolve(30, TsSource::PdTso, &cache).resolved_ts, 10);
        assert!(r.stopped);
        r.track_lock(7, 9, None, 0);
        assert_eq!(r.num_locks(), 1);
    }
}
