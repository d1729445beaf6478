//! Safety invariants checked during every run.
//!
//! - **election-safety**: at most one leader per term per region.
//! - **state-machine-safety**: no two peers apply different entries at the same index.
//! - **acked-write-lost**: an entry acknowledged to a client is the entry every
//!   peer later applies at that index (a write acknowledged and then replaced by
//!   another entry at its index would be lost).
//!
//! A violation is recorded with its virtual time and details; the run goes on.

use std::collections::{BTreeMap, VecDeque};

use crate::observe::Violation;
use crate::time::{to_ms, Micros};

/// `(term, digest)` records of one region by log index, kept as a window
/// `[base, base + len)`; `(0, 0)` marks an index not recorded (skipped by a snapshot).
#[derive(Debug, Default)]
struct IndexLog {
    base: u64,
    slots: VecDeque<(u64, u64)>,
}

impl IndexLog {
    fn get(&self, index: u64) -> Option<(u64, u64)> {
        let i = index.checked_sub(self.base)?;
        self.slots.get(i as usize).copied().filter(|s| *s != (0, 0))
    }

    fn set(&mut self, index: u64, v: (u64, u64)) {
        if self.slots.is_empty() {
            self.base = index;
        }
        let Some(i) = index.checked_sub(self.base) else {
            return;
        };
        let i = i as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (0, 0));
        }
        self.slots[i] = v;
    }

    fn prune(&mut self, below: u64) {
        while self.base < below && !self.slots.is_empty() {
            self.slots.pop_front();
            self.base += 1;
        }
        if self.slots.is_empty() {
            self.base = self.base.max(below);
        }
    }
}

/// The invariant checker's state.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: BTreeMap<(u64, u64), u64>,
    applied: BTreeMap<u64, IndexLog>,
    acked: BTreeMap<u64, IndexLog>,
    /// Violations found so far.
    pub violations: Vec<Violation>,
}

impl Invariants {
    /// Peer `peer_id` became leader of `region` in `term`.
    pub fn on_leader(&mut self, now: Micros, region: u64, term: u64, peer_id: u64) {
        match self.leaders.get(&(region, term)) {
            Some(&other) if other != peer_id => self.violations.push(Violation {
                t_ms: to_ms(now),
                invariant: "election-safety",
                region,
                details: format!("peers {other} and {peer_id} both became leader in term {term}"),
            }),
            _ => {
                self.leaders.insert((region, term), peer_id);
            }
        }
    }

    /// A peer applied the entry `(index, term)` whose data hashes to `digest`.
    pub fn on_apply(
        &mut self,
        now: Micros,
        region: u64,
        index: u64,
        term: u64,
        digest: u64,
        peer_id: u64,
    ) {
        let applied = self.applied.entry(region).or_default();
        match applied.get(index) {
            Some((t, d)) if (t, d) != (term, digest) => self.violations.push(Violation {
                t_ms: to_ms(now),
                invariant: "state-machine-safety",
                region,
                details: format!(
                    "peer {peer_id} applied entry (term {term}, digest {digest:016x}) at index {index}, \
                     another peer applied (term {t}, digest {d:016x})"
                ),
            }),
            Some(_) => {}
            None => applied.set(index, (term, digest)),
        }
        if let Some((t, d)) = self.acked.get(&region).and_then(|a| a.get(index)) {
            if (t, d) != (term, digest) {
                self.violations.push(Violation {
                    t_ms: to_ms(now),
                    invariant: "acked-write-lost",
                    region,
                    details: format!(
                        "write acknowledged at index {index} (term {t}) but peer {peer_id} applied a different \
                         entry (term {term}) there"
                    ),
                });
            }
        }
    }

    /// A write applied at `(index, term)` was acknowledged to its client.
    pub fn on_ack(&mut self, region: u64, index: u64, term: u64, digest: u64) {
        self.acked
            .entry(region)
            .or_default()
            .set(index, (term, digest));
    }

    /// Forgets records of `region` below `index` (every live peer has applied past it).
    pub fn prune(&mut self, region: u64, below: u64) {
        for map in [&mut self.applied, &mut self.acked] {
            if let Some(log) = map.get_mut(&region) {
                log.prune(below);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_in_one_term_is_a_violation() {
        let mut inv = Invariants::default();
        inv.on_leader(0, 1, 6, 11);
        inv.on_leader(1, 1, 6, 11);
        assert!(inv.violations.is_empty());
        inv.on_leader(2, 1, 6, 12);
        assert_eq!(inv.violations[0].invariant, "election-safety");
    }

    #[test]
    fn different_entries_at_one_index_and_lost_acks_are_violations() {
        let mut inv = Invariants::default();
        inv.on_apply(0, 1, 10, 6, 0xaa, 11);
        inv.on_ack(1, 10, 6, 0xaa);
        inv.on_apply(0, 1, 10, 6, 0xaa, 12);
        assert!(inv.violations.is_empty());
        inv.on_apply(0, 1, 10, 7, 0xbb, 13);
        let kinds: Vec<_> = inv.violations.iter().map(|v| v.invariant).collect();
        assert_eq!(kinds, vec!["state-machine-safety", "acked-write-lost"]);
    }

    #[test]
    fn pruning_keeps_other_regions_and_newer_indices() {
        let mut inv = Invariants::default();
        inv.on_apply(0, 1, 5, 6, 1, 1);
        inv.on_apply(0, 1, 9, 6, 1, 1);
        inv.on_apply(0, 2, 5, 6, 1, 1);
        inv.prune(1, 8);
        inv.on_apply(0, 1, 5, 7, 2, 2); // forgotten: no violation
        inv.on_apply(0, 1, 9, 7, 2, 2); // kept: violation
        inv.on_apply(0, 2, 5, 7, 2, 2); // other region kept: violation
        assert_eq!(inv.violations.len(), 2);
    }
}
