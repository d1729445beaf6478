//! Region split, as TiKV's raftstore does it:
//!
//! 1. Every `split-region-check-tick-interval` a leader whose region grew by
//!    more than `region-split-check-diff` since the last check schedules a
//!    split check on the store's `split-check` worker
//!    (`PeerFsm::on_split_region_check_tick`).
//! 2. The worker skips regions below `region-max-size`; otherwise it scans the
//!    region and picks split keys every `region-split-size`
//!    (`coprocessor/split_check/size.rs`, [`size_split_keys`]).
//! 3. The leader's PD worker asks PD for new region and peer ids
//!    (`AskBatchSplit`), logs `try to batch split region` and proposes the
//!    `BatchSplit` admin command through Raft.
//! 4. Every replica applies it ([`exec_batch_split`], TiKV's
//!    `ApplyFsm::exec_batch_split`): the epoch's version grows by the number
//!    of new regions, the parent keeps its id for the rightmost range
//!    (`right-derive-when-split`), the new regions get PD's ids and one peer
//!    per parent peer, on the same stores.
//! 5. raftstore creates the new peers on the store
//!    (`PeerFsm::on_ready_split_region`): the new regions' data is the
//!    parent's in their ranges, their raft state starts at
//!    `RAFT_INIT_LOG_INDEX`, and on the parent leader's store they campaign
//!    at once.

use std::collections::BTreeMap;

use super::snap::{
    DEFAULT_RECORD_BYTES, LOCK_RECORD_BYTES, RAW_RECORD_OVERHEAD_BYTES, WRITE_RECORD_BYTES,
};
use super::storage::RawValue;
use crate::kernel::time::{Micros, SEC};
use crate::mvcc::MvccData;
use crate::proto::cmd::BatchSplitRequest;
use crate::proto::{Key, RegionError, RegionMeta};

/// The split checker's configuration (TiKV `[coprocessor]` and
/// `[raftstore]` names). TiKV's defaults are `region-split-size` 256 MiB,
/// `region-max-size` 3/2 of it, `region-split-check-diff` 1/16 of the split
/// size, `batch-split-limit` 10 and `split-region-check-tick-interval` 10 s;
/// scenarios scale the sizes down so that splits happen in a short run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitCheckConfig {
    /// `raftstore.split-region-check-tick-interval`, virtual µs (default 10 s).
    pub split_region_check_tick_interval: Micros,
    /// `coprocessor.region-split-size`, bytes: the size of each region a split cuts off.
    pub region_split_size: u64,
    /// `coprocessor.region-max-size`, bytes: a region below it is not split.
    pub region_max_size: u64,
    /// `raftstore.region-split-check-diff`, bytes written since the last
    /// check before a leader checks again.
    pub region_split_check_diff: u64,
    /// `coprocessor.batch-split-limit`: split keys one check produces at most.
    pub batch_split_limit: usize,
}

impl SplitCheckConfig {
    /// TiKV's defaults around `region_split_size` bytes: max size 3/2 of it,
    /// check diff 1/16 of it, 10 split keys per batch, a check every 10 s.
    pub fn with_split_size(region_split_size: u64) -> SplitCheckConfig {
        SplitCheckConfig {
            split_region_check_tick_interval: 10 * SEC,
            region_split_size,
            region_max_size: region_split_size / 2 * 3,
            region_split_check_diff: region_split_size / 16,
            batch_split_limit: 10,
        }
    }
}

/// The `split-check` worker (TiKV's `Worker::new("split-check")`, one thread).
pub const SPLIT_CHECK: crate::env::pool::PoolConfig = crate::env::pool::PoolConfig {
    name: "split-check",
    threads: 1,
};

/// Virtual CPU of a split-check scan per key, µs (a RocksDB iterator step
/// over a data key, estimated).
pub const SPLIT_CHECK_COST_PER_KEY: Micros = 1;
/// Bytes a split-check scan reads per virtual µs (about 1 GB/s from the
/// block cache and page cache, estimated).
pub const SPLIT_CHECK_BYTES_PER_MICRO: u64 = 1000;

/// Every key of a region's data in key order with its size in the engine
/// (raw records, and the MVCC records of each key in every column family),
/// as the split checker's scan sees them (`KeyEntry::entry_size`).
pub fn key_sizes(kv: &BTreeMap<Key, RawValue>, mvcc: &MvccData) -> BTreeMap<Key, u64> {
    let mut sizes: BTreeMap<Key, u64> = kv
        .iter()
        .map(|(&k, v)| (k, RAW_RECORD_OVERHEAD_BYTES + v.value_len as u64))
        .collect();
    for &k in mvcc.lock.keys() {
        *sizes.entry(k).or_default() += LOCK_RECORD_BYTES;
    }
    for &(k, _) in mvcc.write.keys() {
        *sizes.entry(k).or_default() += WRITE_RECORD_BYTES;
    }
    for &(k, _) in mvcc.default.keys() {
        *sizes.entry(k).or_default() += DEFAULT_RECORD_BYTES;
    }
    sizes
}

/// TiKV's size split checker (`coprocessor/split_check/size.rs`) over
/// `entries` (key, entry size) in key order: nothing below `max_size` in
/// all; otherwise a split key each time the running size passes
/// `split_size`, at most `batch_split_limit` keys, and the last one dropped
/// when what follows it would be smaller than `max_size - split_size`.
pub fn size_split_keys(
    entries: impl IntoIterator<Item = (Key, u64)>,
    cfg: &SplitCheckConfig,
) -> Vec<Key> {
    let entries: Vec<(Key, u64)> = entries.into_iter().collect();
    let total: u64 = entries.iter().map(|e| e.1).sum();
    if total < cfg.region_max_size {
        // `SizeCheckObserver::add_checker`: only the approximate size is updated.
        return Vec::new();
    }
    let (split, max) = (cfg.region_split_size, cfg.region_max_size);
    let mut keys = Vec::new();
    let mut current = 0u64;
    for (key, size) in entries {
        current += size;
        let mut over_limit = keys.len() >= cfg.batch_split_limit;
        if current > split && !over_limit {
            keys.push(key);
            current = if current - size == split { size } else { 0 };
            over_limit = keys.len() >= cfg.batch_split_limit;
        }
        if over_limit && current + split >= max {
            break;
        }
    }
    if current + split < max {
        keys.pop();
    }
    keys
}

/// TiKV's `validate_batch_split` and `ApplyFsm::exec_batch_split` on the
/// region `region` as applied: the request's epoch must be the region's
/// (else `EpochNotMatch`), its keys ascending, inside the region and not its
/// start key, one id per key and one new peer id per peer. Returns every
/// region of the split in key order: the new ones with PD's ids and the
/// parent's peers (same stores and roles, new ids), the parent (same id)
/// last when `right_derive`, first otherwise; every epoch's version is the
/// parent's plus the number of new regions.
pub fn exec_batch_split(
    region: &RegionMeta,
    req: &BatchSplitRequest,
) -> Result<Vec<RegionMeta>, RegionError> {
    if req.version != region.version || req.conf_ver != region.conf_ver {
        return Err(RegionError::EpochNotMatch {
            current_regions: vec![region.clone()],
        });
    }
    let invalid = req.split_keys.is_empty()
        || req.split_keys.len() != req.ids.len()
        || req
            .ids
            .iter()
            .any(|id| id.new_peer_ids.len() != region.peers.len())
        || req.split_keys.windows(2).any(|w| w[0] >= w[1])
        || req
            .split_keys
            .iter()
            .any(|&k| k <= region.start_key || k >= region.end_key);
    if invalid {
        return Err(RegionError::EpochNotMatch {
            current_regions: vec![region.clone()],
        });
    }
    let version = region.version + req.split_keys.len() as u64;
    let mut bounds = vec![region.start_key];
    bounds.extend_from_slice(&req.split_keys);
    bounds.push(region.end_key);
    let new_region = |id: &crate::proto::SplitId, start: Key, end: Key| RegionMeta {
        id: id.new_region_id,
        start_key: start,
        end_key: end,
        conf_ver: region.conf_ver,
        version,
        peers: region
            .peers
            .iter()
            .zip(&id.new_peer_ids)
            .map(|(p, &pid)| crate::proto::PeerMeta { id: pid, ..*p })
            .collect(),
    };
    let n = req.split_keys.len();
    let mut out = Vec::with_capacity(n + 1);
    if req.right_derive {
        for (i, id) in req.ids.iter().enumerate() {
            out.push(new_region(id, bounds[i], bounds[i + 1]));
        }
        out.push(RegionMeta {
            start_key: bounds[n],
            version,
            ..region.clone()
        });
    } else {
        out.push(RegionMeta {
            end_key: bounds[1],
            version,
            ..region.clone()
        });
        for (i, id) in req.ids.iter().enumerate() {
            out.push(new_region(id, bounds[i + 1], bounds[i + 2]));
        }
    }
    Ok(out)
}

/// Moves the records of `[start, end)` out of `kv` and `mvcc` into new maps
/// (the new region's share of the parent's data; in one RocksDB they stay
/// where they are, in partitioned-raft-kv a checkpoint of the tablet).
pub fn split_off_range(
    kv: &mut BTreeMap<Key, RawValue>,
    mvcc: &mut MvccData,
    start: Key,
    end: Key,
) -> (BTreeMap<Key, RawValue>, MvccData) {
    fn take<K: Ord + Clone, V>(m: &mut BTreeMap<K, V>, lo: K, hi: Option<K>) -> BTreeMap<K, V> {
        let mut mid = m.split_off(&lo);
        if let Some(hi) = hi {
            let mut rest = mid.split_off(&hi);
            m.append(&mut rest);
        }
        mid
    }
    let hi = (end != Key::MAX).then_some(end);
    let kv_part = take(kv, start, hi);
    let lock = take(&mut mvcc.lock, start, hi);
    let write = take(&mut mvcc.write, (start, 0), hi.map(|h| (h, 0)));
    let default = take(&mut mvcc.default, (start, 0), hi.map(|h| (h, 0)));
    (
        kv_part,
        MvccData {
            lock,
            write,
            default,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{PeerMeta, SplitId};

    /// TiKV's `test_split_check` (`split_check/size.rs`): entries of 10 bytes
    /// (key `z000i` and the same value), max size 100, split size 60, batch
    /// split limit 5.
    fn tikv_cfg() -> SplitCheckConfig {
        SplitCheckConfig {
            split_region_check_tick_interval: 10 * SEC,
            region_split_size: 60,
            region_max_size: 100,
            region_split_check_diff: 6,
            batch_split_limit: 5,
        }
    }

    fn entries(n: u64) -> Vec<(Key, u64)> {
        (0..n).map(|i| (i, 10)).collect()
    }

    #[test]
    fn size_checker_splits_where_tikvs_test_expects() {
        let cfg = tikv_cfg();
        // 7 entries: 70 bytes, under max size.
        assert!(size_split_keys(entries(7), &cfg).is_empty());
        assert_eq!(size_split_keys(entries(11), &cfg), vec![6]);
        assert_eq!(size_split_keys(entries(19), &cfg), vec![6, 12]);
        assert_eq!(size_split_keys(entries(41), &cfg), vec![6, 12, 18, 24, 30]);
    }

    fn region() -> RegionMeta {
        RegionMeta {
            id: 1,
            start_key: 0,
            end_key: 1000,
            conf_ver: 3,
            version: 5,
            peers: (1..=3)
                .map(|s| PeerMeta {
                    id: 10 + s,
                    store_id: s,
                    is_learner: s == 3,
                })
                .collect(),
        }
    }

    fn req(keys: &[Key], right_derive: bool) -> BatchSplitRequest {
        BatchSplitRequest {
            version: 5,
            conf_ver: 3,
            split_keys: keys.to_vec(),
            ids: keys
                .iter()
                .enumerate()
                .map(|(i, _)| SplitId {
                    new_region_id: 100 + i as u64,
                    new_peer_ids: (0..3).map(|p| 200 + 10 * i as u64 + p).collect(),
                })
                .collect(),
            right_derive,
        }
    }

    #[test]
    fn right_derive_keeps_the_parent_id_on_the_rightmost_range() {
        let out = exec_batch_split(&region(), &req(&[300, 600], true)).unwrap();
        let ranges: Vec<(u64, Key, Key)> =
            out.iter().map(|r| (r.id, r.start_key, r.end_key)).collect();
        assert_eq!(ranges, vec![(100, 0, 300), (101, 300, 600), (1, 600, 1000)]);
        // TiKV: new_version = version + new_region_cnt, on every region.
        assert!(out.iter().all(|r| r.version == 7 && r.conf_ver == 3));
        // Same stores and roles, PD's peer ids.
        assert_eq!(
            out[1]
                .peers
                .iter()
                .map(|p| (p.id, p.store_id, p.is_learner))
                .collect::<Vec<_>>(),
            vec![(210, 1, false), (211, 2, false), (212, 3, true)]
        );
        assert_eq!(out[2].peers, region().peers);
    }

    #[test]
    fn left_derive_keeps_the_parent_id_on_the_leftmost_range() {
        let out = exec_batch_split(&region(), &req(&[300], false)).unwrap();
        let ranges: Vec<(u64, Key, Key)> =
            out.iter().map(|r| (r.id, r.start_key, r.end_key)).collect();
        assert_eq!(ranges, vec![(1, 0, 300), (100, 300, 1000)]);
    }

    #[test]
    fn a_split_proposed_at_another_epoch_or_with_bad_keys_is_refused() {
        let mut stale = req(&[300], true);
        stale.version = 4;
        assert!(matches!(
            exec_batch_split(&region(), &stale),
            Err(RegionError::EpochNotMatch { .. })
        ));
        for keys in [&[0][..], &[1000], &[600, 300], &[300, 300]] {
            assert!(
                exec_batch_split(&region(), &req(keys, true)).is_err(),
                "{keys:?}"
            );
        }
    }

    #[test]
    fn split_off_range_moves_exactly_the_range() {
        let mut kv: BTreeMap<Key, RawValue> = (0..10)
            .map(|k| {
                (
                    k,
                    RawValue {
                        ts: 1,
                        index: 6,
                        version: 1,
                        value_len: 4,
                    },
                )
            })
            .collect();
        let mut mvcc = MvccData::default();
        mvcc.write.insert(
            (3, 9),
            crate::mvcc::Write {
                start_ts: 8,
                write_type: crate::mvcc::WriteType::Put,
            },
        );
        mvcc.write.insert(
            (7, 9),
            crate::mvcc::Write {
                start_ts: 8,
                write_type: crate::mvcc::WriteType::Put,
            },
        );
        let (part, m) = split_off_range(&mut kv, &mut mvcc, 2, 5);
        assert_eq!(part.keys().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(
            kv.keys().copied().collect::<Vec<_>>(),
            vec![0, 1, 5, 6, 7, 8, 9]
        );
        assert_eq!(m.write.len(), 1);
        assert_eq!(mvcc.write.len(), 1);
        let (tail, _) = split_off_range(&mut kv, &mut mvcc, 6, Key::MAX);
        assert_eq!(tail.keys().copied().collect::<Vec<_>>(), vec![6, 7, 8, 9]);
    }
}
