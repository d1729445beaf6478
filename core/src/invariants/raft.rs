//! Election safety and state-machine safety, read from the stores' Raft state
//! after every event at a store, for the peers whose state moved in it.

use std::collections::{BTreeMap, VecDeque};

use super::Violation;
use crate::kernel::time::{to_ms, Micros};
use crate::raftstore::entry::entry_digest;
use crate::raftstore::peer::Peer;
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
    peer: u64,
    applied: u64,
    leader_term: Option<u64>,
}

/// The checker's state for the two Raft properties.
#[derive(Debug, Default)]
pub struct RaftSafety {
    leaders: BTreeMap<(u64, u64), u64>,
    applied: BTreeMap<u64, IndexLog>,
    /// By (store, region).
    seen: BTreeMap<(u64, u64), PeerSeen>,
    /// Violations found so far.
    pub violations: Vec<Violation>,
}

impl RaftSafety {
    /// Reads every peer of `store` (at the start, before any event).
    pub fn observe_store(&mut self, now: Micros, store: &Store) {
        for (&region, p) in &store.raftstore.peers {
            self.observe_peer(now, store.id, region, p);
        }
    }

    /// Reads the peers of `store` whose Raft state may have moved since the
    /// last look ([`crate::raftstore::Raftstore::moved`]).
    /// A leader is recorded for its term, and every entry applied since the
    /// last look is compared with what other peers applied at that index.
    pub fn observe_moved(&mut self, now: Micros, store: &Store) {
        for &region in store.raftstore.moved() {
            if let Some(p) = store.raftstore.peers.get(&region) {
                self.observe_peer(now, store.id, region, p);
            }
        }
    }

    fn observe_peer(&mut self, now: Micros, store: u64, region: u64, p: &Peer) {
        let st = p.raft.store();
        let applied = st.applied_index;
        let s = self.seen.entry((store, region)).or_insert(PeerSeen {
            peer: p.meta.id,
            applied,
            leader_term: None,
        });
        if s.peer != p.meta.id {
            // Another peer of the region on this store: start from what it
            // has applied now.
            *s = PeerSeen {
                peer: p.meta.id,
                applied,
                leader_term: None,
            };
        }
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
                    Some((t, d)) if (t, d) != (term, digest) => self.violations.push(Violation {
                        t_ms: to_ms(now),
                        invariant: "state-machine-safety",
                        region,
                        details: format!(
                            "peer {} applied entry (term {term}, digest {digest:016x}) at index {index}, \
                             another peer applied (term {t}, digest {d:016x})",
                            s.peer
                        ),
                    }),
                    Some(_) => {}
                    None => log.set(index, (term, digest)),
                }
            }
        }
        s.applied = applied;
    }

    /// Forgets records of `region` below `index` (every live peer has applied past it).
    pub fn prune(&mut self, region: u64, below: u64) {
        if let Some(log) = self.applied.get_mut(&region) {
            log.prune(below);
        }
    }
}
