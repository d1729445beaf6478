//! What the resolver reads from the apply path (TiKV
//! `components/resolved_ts/src/cmd.rs`): each applied command's MVCC
//! modifications grouped by key and turned into [`ChangeRow`]s, as
//! `ChangeLog::encode_rows` does.
//!
//! - A write record put: `Commit` (with `commit_ts`, none for a
//!   `Rollback`); `Lock`-type records are skipped (`decode_write`).
//! - Else a lock put: `Prewrite` with its `start_ts` and `generation`, for
//!   `Put` locks only (`decode_lock` skips `Lock` and `Pessimistic` locks).
//! - Else a lock deleted: `Commit` of a `Rollback` with neither ts.

use std::collections::BTreeMap;

use crate::mvcc::{LockType, Modify, WriteType};
use crate::proto::Key;

/// TiKV's `ChangeRow` (the variants a transactional write produces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeRow {
    /// A lock was written.
    Prewrite {
        /// Key.
        key: Key,
        /// The lock's start_ts.
        start_ts: u64,
        /// The lock's generation (0: a normal lock).
        generation: u64,
    },
    /// A lock was committed or rolled back.
    Commit {
        /// Key.
        key: Key,
        /// What the write record is.
        write_type: WriteType,
        /// The transaction's start_ts (none when only the lock was deleted).
        start_ts: Option<u64>,
        /// The commit ts (none for a rollback).
        commit_ts: Option<u64>,
    },
}

impl ChangeRow {
    /// The row's key.
    pub fn key(&self) -> Key {
        match *self {
            ChangeRow::Prewrite { key, .. } | ChangeRow::Commit { key, .. } => key,
        }
    }
}

#[derive(Default)]
struct RowChange {
    write: Option<(u64, crate::mvcc::Write)>,
    lock_put: Option<crate::mvcc::Lock>,
    lock_deleted: bool,
}

/// `ChangeLog::encode_rows` of one applied command's modifications, in key
/// order.
pub fn encode_rows(mods: &[Modify]) -> Vec<ChangeRow> {
    let mut by_key: BTreeMap<Key, RowChange> = BTreeMap::new();
    for m in mods {
        let row = by_key.entry(m.key()).or_default();
        match *m {
            Modify::PutLock(_, l) => row.lock_put = Some(l),
            Modify::DeleteLock(_) => row.lock_deleted = true,
            Modify::PutWrite(_, commit_ts, w) => row.write = Some((commit_ts, w)),
            Modify::PutDefault(..) => {}
        }
    }
    by_key
        .into_iter()
        .filter_map(
            |(key, row)| match (row.write, row.lock_put, row.lock_deleted) {
                (Some((commit_ts, w)), _, _) => match w.write_type {
                    WriteType::Lock => None,
                    WriteType::Rollback => Some(ChangeRow::Commit {
                        key,
                        write_type: WriteType::Rollback,
                        start_ts: Some(w.start_ts),
                        commit_ts: None,
                    }),
                    WriteType::Put => Some(ChangeRow::Commit {
                        key,
                        write_type: WriteType::Put,
                        start_ts: Some(w.start_ts),
                        commit_ts: Some(commit_ts),
                    }),
                },
                (None, Some(l), _) => {
                    (l.lock_type == LockType::Put).then_some(ChangeRow::Prewrite {
                        key,
                        start_ts: l.ts,
                        generation: l.generation,
                    })
                }
                (None, None, true) => Some(ChangeRow::Commit {
                    key,
                    write_type: WriteType::Rollback,
                    start_ts: None,
                    commit_ts: None,
                }),
                (None, None, false) => None,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::{Lock, Write};

    #[test]
    fn rows_follow_tikvs_encode_rows() {
        let put = Lock::new(LockType::Put, 1, 10, 0, Some(5));
        let lock_only = Lock::new(LockType::Lock, 1, 10, 0, None);
        let rows = encode_rows(&[
            Modify::PutLock(
                1,
                Lock {
                    generation: 2,
                    ..put
                },
            ),
            Modify::PutLock(2, lock_only),
            Modify::PutDefault(3, 10, 7),
            Modify::PutWrite(
                3,
                12,
                Write {
                    write_type: WriteType::Put,
                    start_ts: 10,
                },
            ),
            Modify::DeleteLock(3),
            Modify::DeleteLock(4),
            Modify::PutWrite(
                5,
                10,
                Write {
                    write_type: WriteType::Rollback,
                    start_ts: 10,
                },
            ),
            Modify::DeleteLock(5),
            Modify::PutWrite(
                6,
                12,
                Write {
                    write_type: WriteType::Lock,
                    start_ts: 10,
                },
            ),
            Modify::DeleteLock(6),
        ]);
        assert_eq!(
            rows,
            vec![
                ChangeRow::Prewrite {
                    key: 1,
                    start_ts: 10,
                    generation: 2
                },
                ChangeRow::Commit {
                    key: 3,
                    write_type: WriteType::Put,
                    start_ts: Some(10),
                    commit_ts: Some(12)
                },
                ChangeRow::Commit {
                    key: 4,
                    write_type: WriteType::Rollback,
                    start_ts: None,
                    commit_ts: None
                },
                ChangeRow::Commit {
                    key: 5,
                    write_type: WriteType::Rollback,
                    start_ts: Some(10),
                    commit_ts: None
                },
            ]
        );
    }
}
