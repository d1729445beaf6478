//! MVCC data of a region: TiKV's three column families as ordered maps, and the
//! modifications a transactional command writes through Raft.
//!
//! - `CF_LOCK`: key → [`Lock`] (at most one per key).
//! - `CF_WRITE`: (key, commit_ts) → [`Write`] (the commit record, pointing at
//!   the value by `start_ts`; rollbacks are written here too).
//! - `CF_DEFAULT`: (key, start_ts) → value.
//!
//! Readers follow `src/storage/mvcc/reader/point_getter.rs`: a lock with
//! `ts <= read_ts` that is not pessimistic blocks the read (`KeyIsLocked`);
//! otherwise the newest write with `commit_ts <= read_ts` decides (Put gives
//! its value, Delete gives none, Lock and Rollback are skipped).

use std::collections::BTreeMap;

use crate::proto::Key;

/// `LockType` (txn_types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    /// A prewritten Put.
    Put,
    /// A prewritten Lock-only mutation.
    Lock,
    /// A pessimistic lock (acquired before prewrite).
    Pessimistic,
}

/// A lock in `CF_LOCK` (or in memory, for in-memory pessimistic locks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    /// Type.
    pub lock_type: LockType,
    /// The transaction's primary key.
    pub primary: Key,
    /// The transaction's start_ts (the lock's "version").
    pub ts: u64,
    /// `for_update_ts` (pessimistic transactions).
    pub for_update_ts: u64,
    /// The value to commit, for a Put.
    pub value: Option<i64>,
    /// `ttl`: how long after its start the lock stays alive without a
    /// heartbeat, virtual ms (TiDB's `ManagedLockTTL` is 20 s). 0 in the
    /// workloads that never check a transaction's status.
    pub ttl: u64,
    /// `min_commit_ts`: the transaction commits at no smaller ts; a reader at
    /// a ts below it may ignore the lock (txn_types `check_ts_conflict`).
    /// Pushed by `TxnHeartBeat` for a pipelined transaction. 0 = unset.
    pub min_commit_ts: u64,
    /// `generation`: 0 for a normal lock; for a pipelined (large)
    /// transaction, the `Flush` that wrote it (1, 2, ...).
    pub generation: u64,
}

impl Lock {
    /// A lock with no TTL, `min_commit_ts` or generation (what the
    /// pessimistic and bank workloads write).
    pub fn new(
        lock_type: LockType,
        primary: Key,
        ts: u64,
        for_update_ts: u64,
        value: Option<i64>,
    ) -> Lock {
        Lock {
            lock_type,
            primary,
            ts,
            for_update_ts,
            value,
            ttl: 0,
            min_commit_ts: 0,
            generation: 0,
        }
    }
}

/// `WriteType` (txn_types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteType {
    /// The value at `start_ts` in `CF_DEFAULT` became visible.
    Put,
    /// A Lock-only mutation committed (no value change).
    Lock,
    /// A rollback record (protects against a late prewrite).
    Rollback,
}

/// A record in `CF_WRITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    /// Type.
    pub write_type: WriteType,
    /// The writing transaction's start_ts.
    pub start_ts: u64,
}

/// One modification of the region's MVCC data (TiKV's `Modify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modify {
    /// Put a lock.
    PutLock(Key, Lock),
    /// Delete the lock of a key.
    DeleteLock(Key),
    /// Put a write record at `commit_ts`.
    PutWrite(Key, u64, Write),
    /// Put a value at `start_ts`.
    PutDefault(Key, u64, i64),
}

impl Modify {
    /// The key modified.
    pub fn key(&self) -> Key {
        match *self {
            Modify::PutLock(k, _)
            | Modify::DeleteLock(k)
            | Modify::PutWrite(k, _, _)
            | Modify::PutDefault(k, _, _) => k,
        }
    }
}

/// A region's MVCC data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MvccData {
    /// `CF_LOCK`.
    pub lock: BTreeMap<Key, Lock>,
    /// `CF_WRITE`, by (key, commit_ts).
    pub write: BTreeMap<(Key, u64), Write>,
    /// `CF_DEFAULT`, by (key, start_ts).
    pub default: BTreeMap<(Key, u64), i64>,
}

/// How far behind the newest commit the MVCC GC keeps old versions, in TSO
/// units (10 virtual seconds: physical ms are shifted left by 18 bits). TiKV's
/// `tikv_gc_life_time` is 10 min; it is shortened here so that a long run's
/// memory stays bounded, which no scenario's reads (all at recent timestamps) notice.
pub const GC_LIFE_TIME_TSO: u64 = 10_000 << 18;

impl MvccData {
    /// Takes every record of `other` (a merged source region's column
    /// families; the two ranges are disjoint).
    pub fn absorb(&mut self, mut other: MvccData) {
        self.lock.append(&mut other.lock);
        self.write.append(&mut other.write);
        self.default.append(&mut other.default);
    }

    /// Applies modifications in order, then garbage-collects the versions of
    /// each written key older than [`GC_LIFE_TIME_TSO`] behind the commit,
    /// keeping the newest version below the safe point (TiKV's GC keeps the
    /// version a read at the safe point needs).
    pub fn apply(&mut self, mods: &[Modify]) {
        for m in mods {
            if let Modify::PutWrite(k, commit_ts, _) = *m {
                self.gc_key(k, commit_ts.saturating_sub(GC_LIFE_TIME_TSO));
            }
        }
        self.apply_only(mods);
    }

    /// Drops the versions of `key` that no read at or after `safe_point` can see.
    fn gc_key(&mut self, key: Key, safe_point: u64) {
        if safe_point == 0 {
            return;
        }
        // The newest Put at or below the safe point stays (a read at the safe
        // point needs it; Lock and Rollback records carry no value); older
        // records go.
        let Some(keep_ts) = self
            .write
            .range((key, 0)..=(key, safe_point))
            .rev()
            .find(|(_, w)| w.write_type == WriteType::Put)
            .map(|(&(_, c), _)| c)
        else {
            return;
        };
        let old: Vec<(u64, Write)> = self
            .write
            .range((key, 0)..(key, keep_ts))
            .map(|(&(_, c), &w)| (c, w))
            .collect();
        for (c, w) in old {
            self.write.remove(&(key, c));
            if w.write_type == WriteType::Put {
                self.default.remove(&(key, w.start_ts));
            }
        }
    }

    fn apply_only(&mut self, mods: &[Modify]) {
        for m in mods {
            match *m {
                Modify::PutLock(k, l) => {
                    self.lock.insert(k, l);
                }
                Modify::DeleteLock(k) => {
                    self.lock.remove(&k);
                }
                Modify::PutWrite(k, ts, w) => {
                    self.write.insert((k, ts), w);
                }
                Modify::PutDefault(k, ts, v) => {
                    self.default.insert((k, ts), v);
                }
            }
        }
    }

    /// The newest write of `key` with `commit_ts <= ts`, as `(commit_ts, write)`.
    pub fn seek_write(&self, key: Key, ts: u64) -> Option<(u64, Write)> {
        self.write
            .range((key, 0)..=(key, ts))
            .next_back()
            .map(|(&(_, c), &w)| (c, w))
    }

    /// The newest write of `key` that is not a rollback, as `(commit_ts, write)`.
    pub fn latest_data_write(&self, key: Key) -> Option<(u64, Write)> {
        self.write
            .range((key, 0)..=(key, u64::MAX))
            .rev()
            .find(|(_, w)| w.write_type != WriteType::Rollback)
            .map(|(&(_, c), &w)| (c, w))
    }

    /// The write record of the transaction `start_ts` on `key` (its commit or
    /// rollback), as `(commit_ts, write)`.
    pub fn txn_write(&self, key: Key, start_ts: u64) -> Option<(u64, Write)> {
        self.write
            .range((key, start_ts)..=(key, u64::MAX))
            .find(|(_, w)| w.start_ts == start_ts)
            .map(|(&(_, c), &w)| (c, w))
    }

    /// The committed value of `key` visible at `ts`, ignoring locks.
    pub fn value_at(&self, key: Key, ts: u64) -> Option<i64> {
        let mut upper = ts;
        loop {
            let (commit_ts, w) = self.seek_write(key, upper)?;
            match w.write_type {
                WriteType::Put => return self.default.get(&(key, w.start_ts)).copied(),
                WriteType::Lock | WriteType::Rollback => {
                    if commit_ts == 0 {
                        return None;
                    }
                    upper = commit_ts - 1;
                }
            }
        }
    }

    /// Snapshot read of `key` at `ts` (point getter). Errors with the blocking
    /// lock's start_ts when a non-pessimistic lock with `ts <= read ts` exists.
    pub fn get(&self, key: Key, ts: u64) -> Result<Option<i64>, u64> {
        if let Some(l) = self.lock.get(&key) {
            // txn_types `check_ts_conflict`: a lock whose `min_commit_ts` is
            // above the read ts commits after it, so the read ignores it.
            if l.lock_type != LockType::Pessimistic && l.ts <= ts && l.min_commit_ts <= ts {
                return Err(l.ts);
            }
        }
        Ok(self.value_at(key, ts))
    }

    /// Number of records over the three column families.
    pub fn records(&self) -> usize {
        self.lock.len() + self.write.len() + self.default.len()
    }

    /// Every record as the modification that writes it, column family by
    /// column family (lock, write, default): what a Raft snapshot's files
    /// carry (`crate::raftstore::snap`).
    pub fn snapshot_modifies(&self) -> Vec<Modify> {
        let mut mods = Vec::with_capacity(self.records());
        mods.extend(self.lock.iter().map(|(&k, &l)| Modify::PutLock(k, l)));
        mods.extend(
            self.write
                .iter()
                .map(|(&(k, ts), &w)| Modify::PutWrite(k, ts, w)),
        );
        mods.extend(
            self.default
                .iter()
                .map(|(&(k, ts), &v)| Modify::PutDefault(k, ts, v)),
        );
        mods
    }

    /// The data a snapshot's [`MvccData::snapshot_modifies`] describe, as
    /// written (no GC runs: the snapshot holds what its sender held).
    pub fn from_snapshot(mods: &[Modify]) -> MvccData {
        let mut data = MvccData::default();
        data.apply_only(mods);
        data
    }
}

/// Encodes modifications as a Raft entry's data (tag 2, then 34 bytes each).
pub fn encode_modifies(mods: &[Modify]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + mods.len() * 34);
    v.push(2u8);
    for m in mods {
        let (tag, key, a, b, c) = match *m {
            Modify::PutLock(k, l) => {
                let ty = match l.lock_type {
                    LockType::Put => 0u8,
                    LockType::Lock => 1,
                    LockType::Pessimistic => 2,
                };
                let has_value = l.value.is_some() as u8;
                let extended = l.ttl != 0 || l.min_commit_ts != 0 || l.generation != 0;
                // Pack the lock: ts, for_update_ts, primary, value (tag 5:
                // then ttl, min_commit_ts, generation).
                v.push(if extended { 5 } else { 1 });
                v.push(ty | (has_value << 4));
                v.extend_from_slice(&k.to_le_bytes());
                v.extend_from_slice(&l.ts.to_le_bytes());
                v.extend_from_slice(&l.for_update_ts.to_le_bytes());
                v.extend_from_slice(&l.primary.to_le_bytes());
                v.extend_from_slice(&l.value.unwrap_or(0).to_le_bytes());
                if extended {
                    v.extend_from_slice(&l.ttl.to_le_bytes());
                    v.extend_from_slice(&l.min_commit_ts.to_le_bytes());
                    v.extend_from_slice(&l.generation.to_le_bytes());
                }
                continue;
            }
            Modify::DeleteLock(k) => (2u8, k, 0u64, 0u64, 0u8),
            Modify::PutWrite(k, ts, w) => {
                let ty = match w.write_type {
                    WriteType::Put => 0u8,
                    WriteType::Lock => 1,
                    WriteType::Rollback => 2,
                };
                (3, k, ts, w.start_ts, ty)
            }
            Modify::PutDefault(k, ts, val) => (4, k, ts, val as u64, 0),
        };
        v.push(tag);
        v.push(c);
        v.extend_from_slice(&key.to_le_bytes());
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
    }
    v
}

/// Decodes [`encode_modifies`]'s bytes; `None` when `data` is not a modify batch.
pub fn decode_modifies(data: &[u8]) -> Option<Vec<Modify>> {
    if data.first() != Some(&2) {
        return None;
    }
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let mut out = Vec::new();
    let mut i = 1;
    while i < data.len() {
        let tag = data[i];
        let flags = *data.get(i + 1)?;
        match tag {
            1 | 5 => {
                let len = if tag == 5 { 66 } else { 42 };
                let b = data.get(i + 2..i + len)?;
                let lock_type = match flags & 0x0f {
                    0 => LockType::Put,
                    1 => LockType::Lock,
                    _ => LockType::Pessimistic,
                };
                let value = (flags >> 4 == 1).then(|| u(&b[32..40]) as i64);
                out.push(Modify::PutLock(
                    u(&b[0..8]),
                    Lock {
                        lock_type,
                        ts: u(&b[8..16]),
                        for_update_ts: u(&b[16..24]),
                        primary: u(&b[24..32]),
                        value,
                        ttl: if tag == 5 { u(&b[40..48]) } else { 0 },
                        min_commit_ts: if tag == 5 { u(&b[48..56]) } else { 0 },
                        generation: if tag == 5 { u(&b[56..64]) } else { 0 },
                    },
                ));
                i += len;
            }
            2..=4 => {
                let b = data.get(i + 2..i + 26)?;
                let (k, a, c) = (u(&b[0..8]), u(&b[8..16]), u(&b[16..24]));
                out.push(match tag {
                    2 => Modify::DeleteLock(k),
                    3 => Modify::PutWrite(
                        k,
                        a,
                        Write {
                            write_type: match flags {
                                0 => WriteType::Put,
                                1 => WriteType::Lock,
                                _ => WriteType::Rollback,
                            },
                            start_ts: c,
                        },
                    ),
                    _ => Modify::PutDefault(k, a, c as i64),
                });
                i += 26;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifies_round_trip_through_entry_bytes() {
        let mods = vec![
            Modify::PutLock(7, Lock::new(LockType::Put, 3, 10, 12, Some(-5))),
            Modify::PutLock(8, Lock::new(LockType::Lock, 3, 10, 0, None)),
            Modify::DeleteLock(9),
            Modify::PutWrite(
                7,
                20,
                Write {
                    write_type: WriteType::Rollback,
                    start_ts: 10,
                },
            ),
            Modify::PutDefault(7, 10, -42),
        ];
        assert_eq!(decode_modifies(&encode_modifies(&mods)), Some(mods));
        assert_eq!(decode_modifies(&[1, 2, 3]), None);
    }

    #[test]
    fn gc_drops_versions_no_read_after_the_safe_point_can_see() {
        let mut d = MvccData::default();
        let put = |start| Write {
            write_type: WriteType::Put,
            start_ts: start,
        };
        let t = |ms: u64| ms << 18;
        for ms in [1_000u64, 2_000, 3_000] {
            d.apply(&[
                Modify::PutDefault(5, t(ms) - 1, ms as i64),
                Modify::PutWrite(5, t(ms), put(t(ms) - 1)),
            ]);
        }
        // A rollback record below the safe point must not hide the value.
        d.apply(&[Modify::PutWrite(
            5,
            t(9_000),
            Write {
                write_type: WriteType::Rollback,
                start_ts: t(9_000),
            },
        )]);
        d.apply(&[
            Modify::PutDefault(5, t(20_000) - 1, 20_000),
            Modify::PutWrite(5, t(20_000), put(t(20_000) - 1)),
        ]);
        // Safe point 10 s behind 20 s: the 3 s version is what a read at 10 s
        // sees; the 1 s and 2 s versions are gone.
        assert_eq!(d.write.len(), 3);
        assert_eq!(d.default.len(), 2);
        assert_eq!(d.get(5, t(10_000)), Ok(Some(3_000)));
        assert_eq!(d.get(5, t(20_000)), Ok(Some(20_000)));
    }

    #[test]
    fn reads_see_the_newest_commit_at_or_before_their_ts() {
        let mut d = MvccData::default();
        let put = |start| Write {
            write_type: WriteType::Put,
            start_ts: start,
        };
        d.apply(&[
            Modify::PutDefault(1, 10, 100),
            Modify::PutWrite(1, 11, put(10)),
            Modify::PutWrite(
                1,
                21,
                Write {
                    write_type: WriteType::Rollback,
                    start_ts: 21,
                },
            ),
            Modify::PutDefault(1, 30, 300),
            Modify::PutWrite(1, 31, put(30)),
        ]);
        assert_eq!(d.get(1, 5), Ok(None));
        assert_eq!(d.get(1, 11), Ok(Some(100)));
        assert_eq!(d.get(1, 25), Ok(Some(100)));
        assert_eq!(d.get(1, 40), Ok(Some(300)));
        assert_eq!(d.latest_data_write(1).map(|(c, _)| c), Some(31));
        d.apply(&[Modify::PutLock(
            1,
            Lock::new(LockType::Put, 1, 35, 0, Some(1)),
        )]);
        assert_eq!(d.get(1, 34), Ok(Some(300)));
        assert_eq!(d.get(1, 36), Err(35));
    }
}
