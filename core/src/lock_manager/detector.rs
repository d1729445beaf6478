//! The detector leader's `DetectTable` (`src/server/lock_manager/deadlock.rs`).
//!
//! `wait_for_map: txn_ts → (lock_ts → Locks{keys, last_detect_time})`, every
//! edge expiring `ttl` (= `wait-for-lock-timeout`) after its last detect.
//! `detect` refreshes an existing edge and returns nothing (it does not check
//! expiry, as `register_if_existed`); otherwise it runs a depth-first search
//! from `lock_ts` looking for `txn_ts`, pruning the expired out-edges of the
//! vertices it visits, and either reports the cycle or registers the edge.
//! Expired edges elsewhere stay until `active_expire`, which `detect` runs
//! only once at least [`ACTIVE_EXPIRE_THRESHOLD`] transactions wait and
//! [`ACTIVE_EXPIRE_INTERVAL`] has passed since the last one (or since the
//! detector started; clearing the table does not restart that clock).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::kernel::time::Micros;
use crate::proto::Key;

/// One edge's keys (`Locks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locks {
    /// Keys the waiter waits on under this owner.
    pub keys: Vec<Key>,
    /// Last detect on the edge, virtual µs.
    pub last_detect_time: Micros,
}

/// A cycle: `(txn, wait_for_txn, key)` entries starting at the detecting txn.
pub type WaitChain = Vec<(u64, u64, Key)>;

/// `ACTIVE_EXPIRE_THRESHOLD`: `active_expire` runs only with at least this
/// many waiting transactions in the table.
pub const ACTIVE_EXPIRE_THRESHOLD: usize = 100_000;
/// `ACTIVE_EXPIRE_INTERVAL`: and at most once per hour.
pub const ACTIVE_EXPIRE_INTERVAL: Micros = 3600 * crate::kernel::time::SEC;

/// The detect table.
#[derive(Clone, Debug, Default)]
pub struct DetectTable {
    /// `wait_for_map`.
    pub wait_for_map: BTreeMap<u64, BTreeMap<u64, Locks>>,
    /// Edge TTL, virtual µs.
    pub ttl: Micros,
    /// Last [`DetectTable::active_expire`], virtual µs.
    last_active_expire: Micros,
}

impl DetectTable {
    /// A table whose edges live `ttl` µs, created at `now`.
    pub fn new(ttl: Micros, now: Micros) -> DetectTable {
        DetectTable {
            wait_for_map: BTreeMap::new(),
            ttl,
            last_active_expire: now,
        }
    }

    /// Drops every edge (a role change resets the detector); the
    /// active-expire clock goes on.
    pub fn clear(&mut self) {
        self.wait_for_map.clear();
    }

    /// `active_expire`: drop every expired edge, but only once the table has
    /// [`ACTIVE_EXPIRE_THRESHOLD`] waiting transactions and
    /// [`ACTIVE_EXPIRE_INTERVAL`] has passed since the last time.
    pub fn active_expire(&mut self, now: Micros) {
        if self.wait_for_map.len() < ACTIVE_EXPIRE_THRESHOLD
            || now.saturating_sub(self.last_active_expire) < ACTIVE_EXPIRE_INTERVAL
        {
            return;
        }
        self.last_active_expire = now;
        let ttl = self.ttl;
        self.wait_for_map.retain(|_, m| {
            m.retain(|_, l| now < l.last_detect_time + ttl);
            !m.is_empty()
        });
    }

    /// `detect`: `txn_ts` waits for `lock_ts` on `key`. Returns the wait chain
    /// when this edge closes a cycle (the edge is then not registered), and
    /// the number of edges the search scanned.
    pub fn detect(
        &mut self,
        now: Micros,
        txn_ts: u64,
        lock_ts: u64,
        key: Key,
    ) -> (Option<WaitChain>, u64) {
        self.active_expire(now);
        if let Some(locks) = self
            .wait_for_map
            .get_mut(&txn_ts)
            .and_then(|m| m.get_mut(&lock_ts))
        {
            if !locks.keys.contains(&key) {
                locks.keys.push(key);
            }
            locks.last_detect_time = now;
            return (None, 0);
        }
        let (chain, scanned) = self.do_detect(now, txn_ts, lock_ts);
        if let Some(chain) = chain {
            let mut full = vec![(txn_ts, lock_ts, key)];
            full.extend(chain);
            return (Some(full), scanned);
        }
        self.register(now, txn_ts, lock_ts, key);
        (None, scanned)
    }

    /// Depth-first search from `wait_for_ts` for `txn_ts`; returns the path
    /// (as entries) from `wait_for_ts` back to `txn_ts`, and the edges scanned.
    fn do_detect(
        &mut self,
        now: Micros,
        txn_ts: u64,
        wait_for_ts: u64,
    ) -> (Option<WaitChain>, u64) {
        let mut scanned = 0;
        let ttl = self.ttl;
        let mut visited = BTreeSet::new();
        let mut parent: BTreeMap<u64, (u64, Key)> = BTreeMap::new();
        let mut stack = vec![wait_for_ts];
        visited.insert(wait_for_ts);
        while let Some(t) = stack.pop() {
            let Some(edges) = self.wait_for_map.get_mut(&t) else {
                continue;
            };
            edges.retain(|_, l| now < l.last_detect_time + ttl);
            let mut found = None;
            for (&next, locks) in edges.iter() {
                scanned += 1;
                let key = locks.keys.first().copied().unwrap_or(0);
                if next == txn_ts {
                    found = Some(key);
                    break;
                }
                if visited.insert(next) {
                    parent.insert(next, (t, key));
                    stack.push(next);
                }
            }
            if edges.is_empty() {
                self.wait_for_map.remove(&t);
            }
            if let Some(key) = found {
                // Rebuild wait_for_ts -> ... -> t -> txn_ts.
                let mut path = vec![(t, txn_ts, key)];
                let mut cur = t;
                while let Some(&(p, k)) = parent.get(&cur) {
                    path.push((p, cur, k));
                    cur = p;
                }
                path.reverse();
                return (Some(path), scanned);
            }
        }
        (None, scanned)
    }

    fn register(&mut self, now: Micros, txn_ts: u64, lock_ts: u64, key: Key) {
        let locks = self
            .wait_for_map
            .entry(txn_ts)
            .or_default()
            .entry(lock_ts)
            .or_insert(Locks {
                keys: Vec::new(),
                last_detect_time: now,
            });
        if !locks.keys.contains(&key) {
            locks.keys.push(key);
        }
        locks.last_detect_time = now;
    }

    /// `clean_up_wait_for`: remove `key` from the edge `txn_ts → lock_ts`, and
    /// the edge once it has no key.
    pub fn clean_up_wait_for(&mut self, txn_ts: u64, lock_ts: u64, key: Key) {
        if let Some(m) = self.wait_for_map.get_mut(&txn_ts) {
            if let Some(l) = m.get_mut(&lock_ts) {
                l.keys.retain(|&k| k != key);
                if l.keys.is_empty() {
                    m.remove(&lock_ts);
                }
            }
            if m.is_empty() {
                self.wait_for_map.remove(&txn_ts);
            }
        }
    }

    /// `clean_up`: remove every edge of `txn_ts`.
    pub fn clean_up(&mut self, txn_ts: u64) {
        self.wait_for_map.remove(&txn_ts);
    }

    /// PR 17451's `replace_locks_by_keys` for one item: every waiter whose edge
    /// to `old_lock_ts` holds `key` now waits for `new_lock_ts`; each moved edge
    /// is detected. Returns the cycles found, with the waiter that closed
    /// each, and the edges scanned.
    pub fn replace_lock_by_key(
        &mut self,
        now: Micros,
        key: Key,
        old_lock_ts: u64,
        new_lock_ts: u64,
    ) -> (Vec<WaitChain>, u64) {
        let waiters: Vec<u64> = self
            .wait_for_map
            .iter()
            .filter(|(_, m)| m.get(&old_lock_ts).is_some_and(|l| l.keys.contains(&key)))
            .map(|(&t, _)| t)
            .collect();
        let mut cycles = Vec::new();
        let mut scanned = self.wait_for_map.len() as u64;
        for t in waiters {
            self.clean_up_wait_for(t, old_lock_ts, key);
            if t == new_lock_ts {
                continue; // the new owner no longer waits on this key
            }
            let (chain, edges) = self.detect(now, t, new_lock_ts, key);
            scanned += edges;
            if let Some(chain) = chain {
                cycles.push(chain);
            }
        }
        (cycles, scanned)
    }

    /// Number of edges and keys on them.
    pub fn size(&self) -> (u64, u64) {
        let mut edges = 0;
        let mut keys = 0;
        for m in self.wait_for_map.values() {
            edges += m.len() as u64;
            keys += m.values().map(|l| l.keys.len() as u64).sum::<u64>();
        }
        (edges, keys)
    }
}

/// The deadlock detector role of a store (TiKV `server/lock_manager/deadlock.rs` `Role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DetectorRole {
    /// The store holds the leader of the first region (`LEADER_KEY = b""`) and
    /// runs the detect table.
    Leader,
    /// Every other store: forwards detect requests to the leader over one stream.
    Follower,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cycle_and_reports_the_chain() {
        let mut t = DetectTable::new(1_000_000, 0);
        assert_eq!(t.detect(0, 1, 2, 10).0, None);
        assert_eq!(t.detect(0, 2, 3, 11).0, None);
        let (chain, scanned) = t.detect(0, 3, 1, 12);
        let chain = chain.expect("cycle");
        assert_eq!(scanned, 2, "1 -> 2 and 2 -> 3");
        assert_eq!(chain, vec![(3, 1, 12), (1, 2, 10), (2, 3, 11)]);
        // The closing edge is not registered.
        assert!(!t.wait_for_map.contains_key(&3));
    }

    #[test]
    fn expired_edges_do_not_form_cycles() {
        let mut t = DetectTable::new(1_000, 0);
        assert_eq!(t.detect(0, 1, 2, 10).0, None);
        assert_eq!(t.detect(5_000, 2, 1, 11).0, None);
        assert_eq!(t.size(), (1, 1));
    }

    #[test]
    fn stale_edges_stay_until_a_search_visits_them_or_active_expire_runs() {
        let mut t = DetectTable::new(1_000, 0);
        t.detect(0, 1, 2, 10);
        t.detect(900, 3, 4, 11);
        // Long expired, but no search visits 1 and the table is far below
        // ACTIVE_EXPIRE_THRESHOLD: both edges stay.
        t.detect(10_000_000, 5, 6, 12);
        assert_eq!(t.size(), (3, 3));
        // A search from 1 (someone waits for 1) prunes 1's expired edge.
        t.detect(10_000_000, 7, 1, 13);
        assert_eq!(t.size(), (3, 3), "1 -> 2 pruned, 7 -> 1 registered");
        assert!(!t.wait_for_map.contains_key(&1));
        // With enough waiting transactions, after an hour, active_expire runs.
        let mut big = DetectTable::new(1_000, 0);
        for txn in 0..ACTIVE_EXPIRE_THRESHOLD as u64 {
            big.detect(0, 1_000_000 + txn, 1, 14);
        }
        big.detect(ACTIVE_EXPIRE_INTERVAL - 1, 1, 2, 15);
        assert_eq!(big.wait_for_map.len(), ACTIVE_EXPIRE_THRESHOLD + 1);
        big.detect(ACTIVE_EXPIRE_INTERVAL, 3, 4, 16);
        assert_eq!(big.size(), (2, 2), "the stale ones went, the fresh stay");
    }

    #[test]
    fn clean_up_wait_for_removes_one_key_then_the_edge() {
        let mut t = DetectTable::new(1_000_000, 0);
        t.detect(0, 1, 2, 10);
        t.detect(0, 1, 2, 11);
        t.clean_up_wait_for(1, 2, 10);
        assert_eq!(t.size(), (1, 1));
        t.clean_up_wait_for(1, 2, 11);
        assert_eq!(t.size(), (0, 0));
    }

    #[test]
    fn replace_lock_by_key_moves_edges_and_detects() {
        let mut t = DetectTable::new(1_000_000, 0);
        t.detect(0, 5, 1, 10);
        t.detect(0, 6, 1, 10);
        // 6 holds another key that 2 waits for: 2 -> 6.
        t.detect(0, 2, 6, 20);
        // Key 10 passes from 1 to 2: 5 -> 2 and 6 -> 2; 6 -> 2 -> 6 is a cycle.
        let (cycles, _) = t.replace_lock_by_key(0, 10, 1, 2);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0][0], (6, 2, 10));
        assert!(t.wait_for_map[&5].contains_key(&2));
    }
}
