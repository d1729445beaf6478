//! The transactional actions (`src/storage/txn/actions/`): checks against the
//! region's MVCC data and in-memory pessimistic locks, returning the
//! modifications to write through Raft or the error for the client.

use std::collections::BTreeMap;

use crate::mvcc::{Lock, LockType, Modify, MvccData, Write, WriteType};
use crate::proto::{Key, LockInfo, Mutation, TxnError, TxnStatus, WriteConflictReason};

/// What a command reads: the leader's applied MVCC data and the region's
/// in-memory pessimistic locks (`PeerPessimisticLocks`, `in-memory = true`).
pub struct SnapshotRef<'a> {
    /// Applied MVCC data.
    pub mvcc: &'a MvccData,
    /// In-memory pessimistic locks.
    pub pessimistic: &'a BTreeMap<Key, Lock>,
}

impl SnapshotRef<'_> {
    /// The lock on `key`, in memory or in `CF_LOCK`.
    pub fn lock(&self, key: Key) -> Option<Lock> {
        self.pessimistic
            .get(&key)
            .or_else(|| self.mvcc.lock.get(&key))
            .copied()
    }
}

/// Outcome of `acquire_pessimistic_lock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// The lock is acquired: store it in memory. `conflict_commit_ts` is set
    /// when fair locking locked over a newer write (lock with conflict).
    Acquired {
        /// The new pessimistic lock.
        lock: Lock,
        /// The key's latest committed value.
        value: Option<i64>,
        /// Commit ts of the newer write locked over, if any.
        conflict_commit_ts: Option<u64>,
    },
    /// The transaction already holds the lock.
    AlreadyHeld {
        /// Latest committed value.
        value: Option<i64>,
    },
    /// Another transaction holds a lock: wait for it (or fail with `KeyIsLocked`).
    Locked(Lock),
    /// An error for the client.
    Err(TxnError),
}

/// `acquire_pessimistic_lock` (actions/acquire_pessimistic_lock.rs).
pub fn acquire_pessimistic_lock(
    snap: &SnapshotRef,
    start_ts: u64,
    for_update_ts: u64,
    primary: Key,
    key: Key,
    allow_lock_with_conflict: bool,
) -> LockOutcome {
    if let Some(l) = snap.lock(key) {
        if l.ts == start_ts {
            return LockOutcome::AlreadyHeld {
                value: snap.mvcc.value_at(key, u64::MAX),
            };
        }
        return LockOutcome::Locked(l);
    }
    let mut conflict_commit_ts = None;
    if let Some((commit_ts, w)) = snap.mvcc.latest_data_write(key) {
        if commit_ts > for_update_ts {
            if allow_lock_with_conflict {
                conflict_commit_ts = Some(commit_ts);
            } else {
                return LockOutcome::Err(TxnError::WriteConflict {
                    conflict_start_ts: w.start_ts,
                    conflict_commit_ts: commit_ts,
                    key,
                    reason: WriteConflictReason::PessimisticRetry,
                });
            }
        }
    }
    LockOutcome::Acquired {
        lock: Lock::new(
            LockType::Pessimistic,
            primary,
            start_ts,
            for_update_ts.max(conflict_commit_ts.unwrap_or(0)),
            None,
        ),
        value: snap.mvcc.value_at(key, u64::MAX),
        conflict_commit_ts,
    }
}

/// What a prewrite or flush gives the locks it writes besides the
/// mutation: TTL, `min_commit_ts` and generation (see [`Lock`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockProps {
    /// `lock_ttl`, virtual ms.
    pub ttl: u64,
    /// `min_commit_ts` (0: unset).
    pub min_commit_ts: u64,
    /// 0 for `Prewrite`; the `Flush` generation of a pipelined transaction.
    pub generation: u64,
}

/// `prewrite` (actions/prewrite.rs) of the mutations of one region.
/// A pessimistic transaction (`for_update_ts > 0`) must hold a pessimistic
/// lock on every key; an optimistic one must find no newer write. With
/// `props.generation > 0` it is `prewrite_with_generation`, what `Flush`
/// runs: the transaction's own lock of an older generation is overwritten,
/// one of the same or a newer generation is kept.
pub fn prewrite(
    snap: &SnapshotRef,
    start_ts: u64,
    for_update_ts: u64,
    primary: Key,
    mutations: &[Mutation],
    props: LockProps,
) -> Result<Vec<Modify>, TxnError> {
    let mut mods = Vec::new();
    for m in mutations {
        let key = m.key();
        match snap.lock(key) {
            Some(l) if l.ts != start_ts => {
                return Err(TxnError::KeyIsLocked { key, lock_ts: l.ts });
            }
            Some(l) if props.generation > 0 && l.generation < props.generation => {}
            Some(l) if l.lock_type != LockType::Pessimistic => continue, // already prewritten
            Some(_) => {}
            None if for_update_ts > 0 => {
                return Err(TxnError::PessimisticLockNotFound { key });
            }
            None => {
                if let Some((commit_ts, w)) = snap.mvcc.seek_write(key, u64::MAX) {
                    if commit_ts >= start_ts || snap.mvcc.txn_write(key, start_ts).is_some() {
                        return Err(TxnError::WriteConflict {
                            conflict_start_ts: w.start_ts,
                            conflict_commit_ts: commit_ts,
                            key,
                            reason: WriteConflictReason::Optimistic,
                        });
                    }
                }
            }
        }
        let (lock_type, value) = match *m {
            Mutation::Put(_, v) => (LockType::Put, Some(v)),
            Mutation::Lock(_) => (LockType::Lock, None),
        };
        mods.push(Modify::PutLock(
            key,
            Lock {
                ttl: props.ttl,
                min_commit_ts: props.min_commit_ts,
                generation: props.generation,
                ..Lock::new(lock_type, primary, start_ts, for_update_ts, value)
            },
        ));
    }
    Ok(mods)
}

/// `TxnHeartBeat` (commands/txn_heart_beat.rs): raises the primary lock's
/// TTL to `advise_ttl` and, for a pipelined transaction (generation > 0),
/// its `min_commit_ts`; rewrites the lock when either changed. No lock of
/// the transaction on `primary`: `TxnNotFound`.
pub fn txn_heart_beat(
    snap: &SnapshotRef,
    primary: Key,
    start_ts: u64,
    advise_ttl: u64,
    min_commit_ts: u64,
) -> Result<(Vec<Modify>, TxnStatus), TxnError> {
    let Some(mut lock) = snap
        .mvcc
        .lock
        .get(&primary)
        .copied()
        .filter(|l| l.ts == start_ts)
    else {
        return Err(TxnError::TxnNotFound { start_ts });
    };
    let mut updated = false;
    if lock.ttl < advise_ttl {
        lock.ttl = advise_ttl;
        updated = true;
    }
    if lock.generation > 0 && min_commit_ts > 0 && lock.min_commit_ts < min_commit_ts {
        lock.min_commit_ts = min_commit_ts;
        updated = true;
    }
    let mods = if updated {
        vec![Modify::PutLock(primary, lock)]
    } else {
        Vec::new()
    };
    Ok((
        mods,
        TxnStatus::Uncommitted {
            lock_ttl: lock.ttl,
            min_commit_ts: lock.min_commit_ts,
        },
    ))
}

/// The physical part of a TSO timestamp, ms.
fn physical(ts: u64) -> u64 {
    ts >> 18
}

/// `CheckTxnStatus` (commands/check_txn_status.rs) on the primary key.
/// - The lock is there: expired (`lock.ts.physical + ttl < current_ts.physical`)
///   → rolled back now (`TtlExpire`); else, for a normal lock,
///   `min_commit_ts` is pushed past `caller_start_ts` (`MinCommitTsPushed`,
///   so the caller may read through it), and the status is `Uncommitted`.
/// - No lock: the commit record decides (`Committed`, `RolledBack`);
///   neither → a rollback record (`LockNotExist`) when
///   `rollback_if_not_exist`, else `TxnNotFound`.
pub fn check_txn_status(
    snap: &SnapshotRef,
    primary: Key,
    lock_ts: u64,
    caller_start_ts: u64,
    current_ts: u64,
    rollback_if_not_exist: bool,
) -> Result<(Vec<Modify>, TxnStatus), TxnError> {
    if let Some(mut lock) = snap
        .mvcc
        .lock
        .get(&primary)
        .copied()
        .filter(|l| l.ts == lock_ts)
    {
        if physical(lock.ts) + lock.ttl < physical(current_ts) {
            return Ok((rollback(snap, lock_ts, &[primary]), TxnStatus::TtlExpire));
        }
        let mut mods = Vec::new();
        if lock.generation == 0 && caller_start_ts >= lock.min_commit_ts.max(lock.ts) {
            lock.min_commit_ts = caller_start_ts + 1;
            mods.push(Modify::PutLock(primary, lock));
        }
        return Ok((
            mods,
            TxnStatus::Uncommitted {
                lock_ttl: lock.ttl,
                min_commit_ts: lock.min_commit_ts,
            },
        ));
    }
    match snap.mvcc.txn_write(primary, lock_ts) {
        Some((_, w)) if w.write_type == WriteType::Rollback => {
            Ok((Vec::new(), TxnStatus::RolledBack))
        }
        Some((commit_ts, _)) => Ok((Vec::new(), TxnStatus::Committed { commit_ts })),
        None if rollback_if_not_exist => {
            Ok((rollback(snap, lock_ts, &[primary]), TxnStatus::LockNotExist))
        }
        None => Err(TxnError::TxnNotFound { start_ts: lock_ts }),
    }
}

/// `ResolveLock` (commands/resolve_lock.rs): commits (`commit_ts > 0`) or
/// rolls back the locks of `start_ts` on `keys`, or on every key of the
/// region holding one when `keys` is empty. Keys without the transaction's
/// lock are skipped.
pub fn resolve_lock(
    snap: &SnapshotRef,
    start_ts: u64,
    commit_ts: u64,
    keys: &[Key],
) -> Vec<Modify> {
    let keys: Vec<Key> = if keys.is_empty() {
        snap.mvcc
            .lock
            .iter()
            .filter(|(_, l)| l.ts == start_ts)
            .map(|(&k, _)| k)
            .collect()
    } else {
        keys.iter()
            .copied()
            .filter(|k| snap.mvcc.lock.get(k).is_some_and(|l| l.ts == start_ts))
            .collect()
    };
    if commit_ts > 0 {
        commit(snap, start_ts, commit_ts, &keys).unwrap_or_default()
    } else {
        rollback(snap, start_ts, &keys)
    }
}

/// `ScanLock`: the region's locks in `CF_LOCK` with `ts <= max_version`,
/// in key order, at most `limit`.
pub fn scan_lock(snap: &SnapshotRef, max_version: u64, limit: u32) -> Vec<LockInfo> {
    snap.mvcc
        .lock
        .iter()
        .filter(|(_, l)| l.ts <= max_version)
        .take(limit as usize)
        .map(|(&key, l)| LockInfo {
            key,
            primary: l.primary,
            lock_ts: l.ts,
            ttl: l.ttl,
            min_commit_ts: l.min_commit_ts,
            generation: l.generation,
        })
        .collect()
}

/// `commit` (actions/commit.rs): turn prewrite locks into write records.
/// A key already committed by this transaction is skipped (idempotent retry).
pub fn commit(
    snap: &SnapshotRef,
    start_ts: u64,
    commit_ts: u64,
    keys: &[Key],
) -> Result<Vec<Modify>, TxnError> {
    let mut mods = Vec::new();
    for &key in keys {
        match snap.mvcc.lock.get(&key) {
            Some(l) if l.ts == start_ts && l.lock_type != LockType::Pessimistic => {
                let write_type = match l.lock_type {
                    LockType::Put => WriteType::Put,
                    _ => WriteType::Lock,
                };
                if let Some(v) = l.value {
                    mods.push(Modify::PutDefault(key, start_ts, v));
                }
                mods.push(Modify::PutWrite(
                    key,
                    commit_ts,
                    Write {
                        write_type,
                        start_ts,
                    },
                ));
                mods.push(Modify::DeleteLock(key));
            }
            _ => match snap.mvcc.txn_write(key, start_ts) {
                Some((_, w)) if w.write_type != WriteType::Rollback => {}
                _ => return Err(TxnError::TxnLockNotFound { key }),
            },
        }
    }
    Ok(mods)
}

/// `rollback` / `cleanup` (actions/cleanup.rs): remove the transaction's
/// prewrite locks and write rollback records so a late prewrite cannot succeed.
pub fn rollback(snap: &SnapshotRef, start_ts: u64, keys: &[Key]) -> Vec<Modify> {
    let mut mods = Vec::new();
    for &key in keys {
        if let Some(l) = snap.mvcc.lock.get(&key) {
            if l.ts == start_ts {
                mods.push(Modify::DeleteLock(key));
            }
        }
        if snap.mvcc.txn_write(key, start_ts).is_none() {
            mods.push(Modify::PutWrite(
                key,
                start_ts,
                Write {
                    write_type: WriteType::Rollback,
                    start_ts,
                },
            ));
        }
    }
    mods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap<'a>(m: &'a MvccData, p: &'a BTreeMap<Key, Lock>) -> SnapshotRef<'a> {
        SnapshotRef {
            mvcc: m,
            pessimistic: p,
        }
    }

    #[test]
    fn pessimistic_txn_locks_prewrites_and_commits() {
        let mut data = MvccData::default();
        let mut mem = BTreeMap::new();
        let out = acquire_pessimistic_lock(&snap(&data, &mem), 10, 10, 1, 1, false);
        let LockOutcome::Acquired { lock, .. } = out else {
            panic!("{out:?}")
        };
        mem.insert(1, lock);
        // Another transaction must wait.
        assert!(matches!(
            acquire_pessimistic_lock(&snap(&data, &mem), 11, 11, 1, 1, false),
            LockOutcome::Locked(l) if l.ts == 10
        ));
        let mods = prewrite(
            &snap(&data, &mem),
            10,
            10,
            1,
            &[Mutation::Put(1, 5)],
            LockProps::default(),
        )
        .unwrap();
        mem.remove(&1);
        data.apply(&mods);
        let mods = commit(&snap(&data, &mem), 10, 12, &[1]).unwrap();
        data.apply(&mods);
        assert_eq!(data.get(1, 12), Ok(Some(5)));
        assert!(data.lock.is_empty());
        // A pessimistic lock with an older for_update_ts conflicts, unless fair.
        assert!(matches!(
            acquire_pessimistic_lock(&snap(&data, &mem), 11, 11, 1, 1, false),
            LockOutcome::Err(TxnError::WriteConflict { .. })
        ));
        assert!(matches!(
            acquire_pessimistic_lock(&snap(&data, &mem), 11, 11, 1, 1, true),
            LockOutcome::Acquired {
                conflict_commit_ts: Some(12),
                ..
            }
        ));
        // Prewrite without the pessimistic lock fails.
        assert_eq!(
            prewrite(
                &snap(&data, &mem),
                13,
                13,
                1,
                &[Mutation::Put(1, 6)],
                LockProps::default()
            ),
            Err(TxnError::PessimisticLockNotFound { key: 1 })
        );
    }

    #[test]
    fn optimistic_prewrite_detects_a_newer_write_and_rollback_blocks_late_prewrite() {
        let mut data = MvccData::default();
        let mem = BTreeMap::new();
        let mods = prewrite(
            &snap(&data, &mem),
            20,
            0,
            2,
            &[Mutation::Put(2, 1)],
            LockProps::default(),
        )
        .unwrap();
        data.apply(&mods);
        data.apply(&commit(&snap(&data, &mem), 20, 25, &[2]).unwrap());
        assert!(matches!(
            prewrite(
                &snap(&data, &mem),
                22,
                0,
                2,
                &[Mutation::Put(2, 9)],
                LockProps::default()
            ),
            Err(TxnError::WriteConflict { .. })
        ));
        data.apply(&rollback(&snap(&data, &mem), 30, &[2]));
        assert!(prewrite(
            &snap(&data, &mem),
            30,
            0,
            2,
            &[Mutation::Put(2, 9)],
            LockProps::default()
        )
        .is_err());
        assert_eq!(data.get(2, 40), Ok(Some(1)));
    }
}
