//! Acknowledged writes are never lost: every write acknowledged to a client
//! is in the state machine of every replica that has applied past its index,
//! with its value or a later one.
//!
//! The checker reads the wire: a client's request (`Write`, or a
//! transaction's `Commit`) when it is sent, and the store's successful
//! answer when it leaves the store. At that moment the answering peer has
//! applied the write:
//!
//! - a raw `Put` is last-writer-wins in log order, so the checker reads the
//!   key's record in the leader's state machine (the acknowledged write, or a
//!   later one that overwrote it in the same apply batch) and the region
//!   epoch version and log index that wrote it: every replica that has
//!   applied that index must hold the key written at that `(version, index)`
//!   or a later one;
//! - a committed transaction's write record is ordered by `commit_ts`, and
//!   the leader's applied index bounds the commit's index from above: every
//!   replica that has applied up to that bound must hold a write record of
//!   the key at `commit_ts` or later (MVCC GC keeps the newest one).
//!
//! Splits move keys into new regions, whose replicas start from the parent's
//! state at the split (or from a snapshot of the new region): a replica of a
//! region other than the one that acknowledged the write, holding the key in
//! its range, must hold it too (a split that moved the key applied after
//! the write, or the write would have been refused for a key outside its
//! region).
//!
//! Per key only the newest acknowledged write is kept (an older one is
//! implied by it on every replica past the newer index), so memory is
//! bounded by the keyspace.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;
use crate::kernel::effect::Node;
use crate::kernel::time::{to_ms, Micros};
use crate::proto::{Key, Msg, TxnCommand};
use crate::store::Store;

/// A store's regions by start key: `start -> (end, region id)`.
type RegionsByStart = BTreeMap<Key, (Key, u64)>;
/// What an in-flight request writes, when it is acknowledged.
#[derive(Clone, Debug)]
enum Pending {
    /// A raw `Put` of `key` at version `ts`.
    Put { region: u64, key: Key, ts: u64 },
    /// A transaction's `Commit` of `keys` at `commit_ts`.
    Commit {
        region: u64,
        keys: Vec<Key>,
        commit_ts: u64,
    },
}

/// The kind of state an acknowledged write lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Space {
    /// Raw key-value data (`Put`).
    Raw,
    /// MVCC data (a committed transaction's write record).
    Mvcc,
}

/// The newest acknowledged write of one key.
#[derive(Clone, Copy, Debug)]
struct Acked {
    /// The region that acknowledged it.
    region: u64,
    /// Its epoch version then: a replica of another region is checked only
    /// if its region is at least as new (a stale replica of a parent that
    /// has not applied the split yet is not).
    region_version: u64,
    /// Raw: the region epoch version and log index that wrote the key's
    /// record on the leader; MVCC: `(0, commit_ts)`.
    version: (u64, u64),
    /// Replicas that have applied this index must hold the write.
    index_bound: u64,
    /// When it was acknowledged, virtual µs.
    at: Micros,
}

/// Requests kept per client while unanswered: clients have one request in
/// flight and number them in order, so older ones are dropped.
const KEPT_PER_CLIENT: u64 = 16;

/// The acknowledged-writes checker.
#[derive(Debug, Default)]
pub struct AckedWrites {
    pending: BTreeMap<(u32, u64), Pending>,
    acked: BTreeMap<(Space, Key), Acked>,
    reported: BTreeSet<(u64, Space, Key, u64)>,
}

impl AckedWrites {
    /// A message leaves `from` for `to` (seen before the network takes it).
    /// `stores` gives the answering store's applied index.
    pub fn on_send(
        &mut self,
        now: Micros,
        from: Node,
        to: Node,
        msg: &Msg,
        stores: &BTreeMap<u64, Store>,
    ) {
        match (from, to, msg) {
            (Node::Client(c), _, Msg::Write(w)) => {
                self.remember(
                    c,
                    w.req_id,
                    Pending::Put {
                        region: w.region_id,
                        key: w.key,
                        ts: w.ts,
                    },
                );
            }
            (
                Node::Client(c),
                _,
                Msg::TxnRequest {
                    req_id,
                    region_id,
                    cmd:
                        TxnCommand::Commit {
                            commit_ts, keys, ..
                        },
                    ..
                },
            ) => {
                self.remember(
                    c,
                    *req_id,
                    Pending::Commit {
                        region: *region_id,
                        keys: keys.clone(),
                        commit_ts: *commit_ts,
                    },
                );
            }
            (
                Node::Store(s),
                Node::Client(c),
                Msg::WriteResponse {
                    req_id,
                    result: Ok(()),
                    ..
                },
            ) => self.acknowledge(now, s, c, *req_id, stores),
            (
                Node::Store(s),
                Node::Client(c),
                Msg::TxnResponse {
                    req_id,
                    result: Ok(_),
                    ..
                },
            ) => self.acknowledge(now, s, c, *req_id, stores),
            _ => {}
        }
    }

    fn remember(&mut self, client: u32, req_id: u64, p: Pending) {
        self.pending.insert((client, req_id), p);
        let stale: Vec<(u32, u64)> = self
            .pending
            .range((client, 0)..(client, req_id.saturating_sub(KEPT_PER_CLIENT)))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.pending.remove(&k);
        }
    }

    fn acknowledge(
        &mut self,
        now: Micros,
        store: u64,
        client: u32,
        req_id: u64,
        stores: &BTreeMap<u64, Store>,
    ) {
        let Some(p) = self.pending.remove(&(client, req_id)) else {
            return;
        };
        let (region, space, keys, version) = match p {
            Pending::Put { region, key, ts } => (region, Space::Raw, vec![key], ts),
            Pending::Commit {
                region,
                keys,
                commit_ts,
            } => (region, Space::Mvcc, keys, commit_ts),
        };
        let Some(leader) = stores
            .get(&store)
            .and_then(|st| st.raftstore.peers.get(&region))
            .map(|p| p.raft.store())
        else {
            return;
        };
        for key in keys {
            let (version, bound) = match space {
                Space::Raw => match leader.kv.get(&key) {
                    Some(v) => ((v.version, v.index), v.index),
                    None => continue,
                },
                Space::Mvcc => ((0, version), leader.applied_index),
            };
            let acked = Acked {
                region,
                region_version: leader.region.version,
                version,
                index_bound: bound,
                at: now,
            };
            let slot = self.acked.entry((space, key)).or_insert(acked);
            if version >= slot.version {
                *slot = acked;
            }
        }
    }

    /// Checks every acknowledged write against every replica now; returns
    /// the violations not reported before.
    pub fn check(&mut self, now: Micros, stores: &BTreeMap<u64, Store>) -> Vec<Violation> {
        let mut found = Vec::new();
        // Each store's initialized regions by start key, to find the replica
        // holding a key whatever region it is in now.
        let ranges: Vec<(u64, RegionsByStart)> = stores
            .values()
            .map(|st| {
                let by_start = st
                    .raftstore
                    .peers
                    .values()
                    .map(|p| p.region())
                    .filter(|r| r.start_key < r.end_key)
                    .map(|r| (r.start_key, (r.end_key, r.id)))
                    .collect();
                (st.id, by_start)
            })
            .collect();
        for (&(space, key), a) in &self.acked {
            for (store_id, by_start) in &ranges {
                let Some((_, &(end, region))) = by_start.range(..=key).next_back() else {
                    continue;
                };
                if key >= end {
                    continue;
                }
                let Some(p) = stores[store_id].raftstore.peers.get(&region) else {
                    continue;
                };
                let ps = p.raft.store();
                if (region == a.region && ps.applied_index < a.index_bound)
                    || (region != a.region && ps.region.version < a.region_version)
                    || ps.is_applying_snapshot()
                {
                    continue;
                }
                let held = match space {
                    Space::Raw => ps.kv.get(&key).map(|v| (v.version, v.index)),
                    Space::Mvcc => ps
                        .mvcc
                        .latest_data_write(key)
                        .map(|(commit_ts, _)| (0, commit_ts)),
                };
                if held.is_some_and(|v| v >= a.version)
                    || !self.reported.insert((region, space, key, *store_id))
                {
                    continue;
                }
                found.push(Violation {
                    t_ms: to_ms(now),
                    invariant: "acked-write-lost",
                    region,
                    details: format!(
                        "key {key} acknowledged at {} ms ({} {:?}) but store {} (applied {}) holds {}",
                        to_ms(a.at),
                        match space {
                            Space::Raw => "written at index",
                            Space::Mvcc => "commit_ts",
                        },
                        a.version,
                        store_id,
                        ps.applied_index,
                        held.map_or("nothing".to_string(), |v| format!("{v:?}"))
                    ),
                });
            }
        }
        found
    }
}
