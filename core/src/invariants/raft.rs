//! Election safety and state-machine safety, read from the stores' Raft state
//! after every event at a store.

use std::collections::{BTreeMap, VecDeque};

use super::Violation;
use crate::kernel::time::{to_ms, Micros};
use crate::raftstore::entry::entry_digest;
use crate::store::Store;

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

/// What the checker last saw of one peer.
#[derive(Clone, Copy, Debug)]
struct PeerSeen {
    region: u64,
    peer: u64,
    applied: u64,
    leader_term: Option<u64>,
}

/// The checker's state for the two Raft properties.
#[derive(Debug, Default)]
pub struct RaftSafety {
    leaders: BTreeMap<(u64, u64), u64>,
    applied: BTreeMap<u64, IndexLog>,
    seen: BTreeMap<u64, Vec<PeerSeen>>,
    /// Violations found so far.
    pub violations: Vec<Violation>,
}

impl RaftSafety {
    /// Reads every peer of `store`: a leader is recorded for its term, and
    /// every entry applied since the last look is compared with what other
    /// peers applied at that index.
    pub fn observe_store(&mut self, now: Micros, store: &Store) {
        let seen = self.seen.entry(store.id).or_default();
        let mut i = 0;
        for (&region, p) in &store.raftstore.peers {
            let st = p.raft.store();
            let applied = st.applied_index;
            if seen
                .get(i)
                .is_none_or(|s| s.region != region || s.peer != p.meta.id)
            {
                // A peer the checker has not seen here (new, or the set changed):
                // start from what it has applied now.
                let fresh = PeerSeen {
                    region,
                    peer: p.meta.id,
                    applied,
                    leader_term: None,
                };
                if i < seen.len() {
                    seen[i] = fresh;
                    seen.truncate(i + 1);
                } else {
                    seen.push(fresh);
                }
            }
            let s = &mut seen[i];
            if p.is_leader() {
                let term = p.raft.raft.term;
                if s.leader_term != Some(term) {
                    s.leader_term = Some(term);
                    match self.leaders.get(&(region, term)) {
                        Some(&other) if other != s.peer => self.violations.push(Violation {
                            t_ms: to_ms(now),
                            invariant: "election-safety",
                            region,
                            details: format!(
                                "peers {other} and {} both became leader in term {term}",
                                s.peer
                            ),
                        }),
                        _ => {
                            self.leaders.insert((region, term), s.peer);
                        }
                    }
                }
            } else {
                s.leader_term = None;
            }
            if applied > s.applied {
                let log = self.applied.entry(region).or_default();
                for index in s.applied + 1..=applied {
                    let Some(e) = st.entry(index) else { continue };
                    let (term, digest) = (e.get_term(), entry_digest(e));
                    match log.get(index) {
                        Some((t, d)) if (t, d) != (term, digest) => {
                            self.violations.push(Violation {
                                t_ms: to_ms(now),
                                invariant: "state-machine-safety",
                                region,
                                details: format!(
                                    "peer {} applied entry (term {term}, digest {digest:016x}) at index {index}, \
                                     another peer applied (term {t}, digest {d:016x})",
                                    s.peer
                                ),
                            })
                        }
                        Some(_) => {}
                        None => log.set(index, (term, digest)),
                    }
                }
            }
            s.applied = applied;
            i += 1;
        }
        seen.truncate(i);
    }

    /// Forgets records of `region` below `index` (every live peer has applied past it).
    pub fn prune(&mut self, region: u64, below: u64) {
        if let Some(log) = self.applied.get_mut(&region) {
            log.prune(below);
        }
    }
}
