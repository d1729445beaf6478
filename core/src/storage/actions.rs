//! The transactional actions (`src/storage/txn/actions/`): checks against the
//! region's MVCC data and in-memory pessimistic locks, returning the
//! modifications to write through Raft or the error for the client.

use std::collections::BTreeMap;

use crate::mvcc::{Lock, LockType, Modify, MvccData, Write, WriteType};
use crate::proto::{Key, Mutation, TxnError, WriteConflictReason};

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
        lock: Lock {
            lock_type: LockType::Pessimistic,
            primary,
            ts: start_ts,
            for_update_ts: for_update_ts.max(conflict_commit_ts.unwrap_or(0)),
            value: None,
        },
        value: snap.mvcc.value_at(key, u64::MAX),
        conflict_commit_ts,
    }
}

/// `prewrite` (actions/prewrite.rs) of the mutations of one region.
/// A pessimistic transaction (`for_update_ts > 0`) must hold a pessimistic
/// lock on every key; an optimistic one must find no newer write.
pub fn prewrite(
    snap: &SnapshotRef,
    start_ts: u64,
    for_update_ts: u64,
    primary: Key,
    mutations: &[Mutation],
) -> Result<Vec<Modify>, TxnError> {
    let mut mods = Vec::new();
    for m in mutations {
        let key = m.key();
        match snap.lock(key) {
            Some(l) if l.ts != start_ts => {
                return Err(TxnError::KeyIsLocked { key, lock_ts: l.ts });
            }
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
                lock_type,
                primary,
                ts: start_ts,
                for_update_ts,
                value,
            },
        ));
    }
    Ok(mods)
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
        let mods = prewrite(&snap(&data, &mem), 10, 10, 1, &[Mutation::Put(1, 5)]).unwrap();
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
            prewrite(&snap(&data, &mem), 13, 13, 1, &[Mutation::Put(1, 6)]),
            Err(TxnError::PessimisticLockNotFound { key: 1 })
        );
    }

    #[test]
    fn optimistic_prewrite_detects_a_newer_write_and_rollback_blocks_late_prewrite() {
        let mut data = MvccData::default();
        let mem = BTreeMap::new();
        let mods = prewrite(&snap(&data, &mem), 20, 0, 2, &[Mutation::Put(2, 1)]).unwrap();
        data.apply(&mods);
        data.apply(&commit(&snap(&data, &mem), 20, 25, &[2]).unwrap());
        assert!(matches!(
            prewrite(&snap(&data, &mem), 22, 0, 2, &[Mutation::Put(2, 9)]),
            Err(TxnError::WriteConflict { .. })
        ));
        data.apply(&rollback(&snap(&data, &mem), 30, &[2]));
        assert!(prewrite(&snap(&data, &mem), 30, 0, 2, &[Mutation::Put(2, 9)]).is_err());
        assert_eq!(data.get(2, 40), Ok(Some(1)));
    }
}
