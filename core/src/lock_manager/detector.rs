//! The detector leader's `DetectTable` (`src/server/lock_manager/deadlock.rs`).
//!
//! `wait_for_map: txn_ts → (lock_ts → Locks{keys, last_detect_time})`, every
//! edge expiring `ttl` (= `wait-for-lock-timeout`) after its last detect.
//! `detect` refreshes an existing edge and returns nothing; otherwise it runs a
//! depth-first search from `lock_ts` looking for `txn_ts` (pruning expired
//! edges) and either reports the cycle or registers the edge.

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
    /// A table whose edges live `ttl` µs.
    pub fn new(ttl: Micros) -> DetectTable {
        DetectTable {
            wait_for_map: BTreeMap::new(),
            ttl,
            last_active_expire: 0,
        }
    }

    /// `active_expire`: at most once per TTL, drop every expired edge (edges
    /// of transactions that left without a matching clean-up would otherwise
    /// stay until a search happens to visit them).
    pub fn active_expire(&mut self, now: Micros) {
        if now < self.last_active_expire + self.ttl {
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
    /// when this edge closes a cycle (the edge is then not registered).
    pub fn detect(
        &mut self,
        now: Micros,
        txn_ts: u64,
        lock_ts: u64,
        key: Key,
    ) -> Option<WaitChain> {
        if let Some(locks) = self
            .wait_for_map
            .get_mut(&txn_ts)
            .and_then(|m| m.get_mut(&lock_ts))
        {
            if !locks.keys.contains(&key) {
                locks.keys.push(key);
            }
            locks.last_detect_time = now;
            return None;
        }
        if let Some(chain) = self.do_detect(now, txn_ts, lock_ts) {
            let mut full = vec![(txn_ts, lock_ts, key)];
            full.extend(chain);
            return Some(full);
        }
        self.register(now, txn_ts, lock_ts, key);
        None
    }

    /// Depth-first search from `wait_for_ts` for `txn_ts`; returns the path
    /// (as entries) from `wait_for_ts` back to `txn_ts`.
    fn do_detect(&mut self, now: Micros, txn_ts: u64, wait_for_ts: u64) -> Option<WaitChain> {
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
                return Some(path);
            }
        }
        None
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
    /// is detected. Returns the cycles found, with the waiter that closed each.
    pub fn replace_lock_by_key(
        &mut self,
        now: Micros,
        key: Key,
        old_lock_ts: u64,
        new_lock_ts: u64,
    ) -> Vec<WaitChain> {
        let waiters: Vec<u64> = self
            .wait_for_map
            .iter()
            .filter(|(_, m)| m.get(&old_lock_ts).is_some_and(|l| l.keys.contains(&key)))
            .map(|(&t, _)| t)
            .collect();
        let mut cycles = Vec::new();
        for t in waiters {
            self.clean_up_wait_for(t, old_lock_ts, key);
            if t == new_lock_ts {
                continue; // the new owner no longer waits on this key
            }
            if let Some(chain) = self.detect(now, t, new_lock_ts, key) {
                cycles.push(chain);
            }
        }
        cycles
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
        let mut t = DetectTable::new(1_000_000);
        assert_eq!(t.detect(0, 1, 2, 10), None);
        assert_eq!(t.detect(0, 2, 3, 11), None);
        let chain = t.detect(0, 3, 1, 12).expect("cycle");
        assert_eq!(chain, vec![(3, 1, 12), (1, 2, 10), (2, 3, 11)]);
        // The closing edge is not registered.
        assert!(!t.wait_for_map.contains_key(&3));
    }

    #[test]
    fn expired_edges_do_not_form_cycles() {
        let mut t = DetectTable::new(1_000);
        assert_eq!(t.detect(0, 1, 2, 10), None);
        assert_eq!(t.detect(5_000, 2, 1, 11), None);
        assert_eq!(t.size(), (1, 1));
    }

    #[test]
    fn active_expire_drops_stale_edges() {
        let mut t = DetectTable::new(1_000);
        t.detect(0, 1, 2, 10);
        t.detect(900, 3, 4, 11);
        t.active_expire(1_500);
        assert_eq!(t.size(), (1, 1));
    }

    #[test]
    fn clean_up_wait_for_removes_one_key_then_the_edge() {
        let mut t = DetectTable::new(1_000_000);
        t.detect(0, 1, 2, 10);
        t.detect(0, 1, 2, 11);
        t.clean_up_wait_for(1, 2, 10);
        assert_eq!(t.size(), (1, 1));
        t.clean_up_wait_for(1, 2, 11);
        assert_eq!(t.size(), (0, 0));
    }

    #[test]
    fn replace_lock_by_key_moves_edges_and_detects() {
        let mut t = DetectTable::new(1_000_000);
        t.detect(0, 5, 1, 10);
        t.detect(0, 6, 1, 10);
        // 6 holds another key that 2 waits for: 2 -> 6.
        t.detect(0, 2, 6, 20);
        // Key 10 passes from 1 to 2: 5 -> 2 and 6 -> 2; 6 -> 2 -> 6 is a cycle.
        let cycles = t.replace_lock_by_key(0, 10, 1, 2);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0][0], (6, 2, 10));
        assert!(t.wait_for_map[&5].contains_key(&2));
    }
}
