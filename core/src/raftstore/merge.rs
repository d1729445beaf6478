//! Region merge, as TiKV's raftstore (v1) does it:
//!
//! 1. PD's merge checker picks a small region and an adjacent one on the
//!    same stores and sends the source's leader `merge { target }` in a
//!    heartbeat response.
//! 2. The source leader checks it can merge (`pre_propose_prepare_merge`,
//!    [`check_prepare_merge`]): the two regions are siblings on the same
//!    stores, no follower waits for a snapshot, the log gap behind the
//!    slowest follower is at most `merge-max-log-gap` and holds no conf
//!    change. It proposes `PrepareMerge { min_index, target }` as an urgent
//!    command.
//! 3. Every source replica applies it ([`exec_prepare_merge`]): epoch
//!    `version` and `conf_ver` both + 1, the peer is `Merging` with a
//!    [`MergeState`]; it refuses every new proposal
//!    (`ProposalInMergingMode`) and skips log compaction.
//! 4. Every `merge-check-tick-interval` each source peer sends its local
//!    target peer a `CommitMerge` with the source's entries since
//!    `min_index` (`schedule_merge`); only the target's leader can propose
//!    it. A target whose epoch moved on makes the source leader propose
//!    `RollbackMerge` ("failed to schedule merge, rollback").
//! 5. Every target replica applies `CommitMerge`: the local source peer
//!    first catches up to the `PrepareMerge` (`CatchUpLogs`, from its own
//!    log and the carried entries), then the target takes its range and
//!    data ([`commit_merge_region`]: `version = max(source, target) + 1`),
//!    and the source peer is destroyed.
//! 6. `RollbackMerge` ([`exec_rollback_merge`]): `version` + 1, the source
//!    serves again.

use crate::kernel::time::{Micros, SEC};
use crate::proto::cmd::PrepareMergeRequest;
use crate::proto::{RegionError, RegionMeta};

/// TiKV's `raftstore.merge-check-tick-interval` (default 2 s): how often a
/// merging source peer (re)sends its `CommitMerge`.
pub const MERGE_CHECK_TICK_INTERVAL: Micros = 2 * SEC;

/// TiKV's `raftstore.merge-max-log-gap` (default 10): the most entries a
/// `PrepareMerge` may leave behind the slowest follower (they travel in the
/// `CommitMerge`).
pub const MERGE_MAX_LOG_GAP: u64 = 10;

/// TiKV's `raft_serverpb::MergeState`, kept with the region's local state
/// (durable: a restarted source peer is still merging).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeState {
    /// The first index the `CommitMerge` must carry.
    pub min_index: u64,
    /// The target region as PD sent it.
    pub target: RegionMeta,
    /// The index of the `PrepareMerge` entry.
    pub commit: u64,
}

/// TiKV `util::is_sibling_regions`: `a` ends where `b` starts or the other
/// way round.
pub fn is_sibling_regions(a: &RegionMeta, b: &RegionMeta) -> bool {
    a.id != b.id && (a.end_key == b.start_key || b.end_key == a.start_key)
}

/// TiKV `region_on_same_stores`: both regions have their peers on the same
/// stores, with the same learner flags.
pub fn region_on_same_stores(a: &RegionMeta, b: &RegionMeta) -> bool {
    let stores = |r: &RegionMeta| {
        let mut v: Vec<(u64, bool)> = r.peers.iter().map(|p| (p.store_id, p.is_learner)).collect();
        v.sort_unstable();
        v
    };
    stores(a) == stores(b)
}

/// The leader's side of `pre_propose_prepare_merge`: with the source region
/// `source`, PD's `target`, its last log index and, per peer, `(matched,
/// in Snapshot or waiting for one)`, and the kinds of the entries after the
/// lowest matched index (`true` for a conf change), the `min_index` to
/// propose, or TiKV's refusal message.
pub fn check_prepare_merge(
    source: &RegionMeta,
    target: &RegionMeta,
    last_index: u64,
    progress: &[(u64, u64, bool)],
    gap_has_conf_change: impl FnOnce(u64) -> bool,
) -> Result<u64, String> {
    if !is_sibling_regions(source, target) {
        return Err(format!(
            "{} and {} are not sibling, skip proposing.",
            target.describe(),
            source.describe()
        ));
    }
    if !region_on_same_stores(source, target) {
        return Err(format!(
            "peers doesn't match {:?} != {:?}, reject merge",
            source.peers, target.peers
        ));
    }
    if let Some((id, _, _)) = progress.iter().find(|p| p.2) {
        return Err(format!("there is a pending snapshot peer {id}, skip merge"));
    }
    let min_matched = progress.iter().map(|p| p.1).min().unwrap_or(0);
    if min_matched == 0 || last_index - min_matched > MERGE_MAX_LOG_GAP {
        return Err(format!(
            "log gap ({min_matched}, {last_index}] is too large, skip merge"
        ));
    }
    if gap_has_conf_change(min_matched + 1) {
        return Err("log gap contains conf change, skip merging.".to_string());
    }
    Ok(min_matched + 1)
}

/// TiKV's `exec_prepare_merge`: the source region with `version` and
/// `conf_ver` each one higher (no conf change may follow a `PrepareMerge`),
/// and its merge state, or `EpochNotMatch` when the proposal's epoch is
/// stale.
pub fn exec_prepare_merge(
    region: &RegionMeta,
    req: &PrepareMergeRequest,
    index: u64,
) -> Result<(RegionMeta, MergeState), RegionError> {
    if req.version != region.version || req.conf_ver != region.conf_ver {
        return Err(RegionError::EpochNotMatch {
            current_regions: vec![region.clone()],
        });
    }
    let mut merged = region.clone();
    merged.version += 1;
    merged.conf_ver += 1;
    Ok((
        merged,
        MergeState {
            min_index: req.min_index,
            target: req.target.clone(),
            commit: index,
        },
    ))
}

/// TiKV's `exec_commit_merge`: the target region after taking `source`'s
/// range, its `version` one above the larger of the two ("so that PD can
/// ensure overlapped region has a priority").
pub fn commit_merge_region(target: &RegionMeta, source: &RegionMeta) -> RegionMeta {
    let mut region = target.clone();
    region.version = target.version.max(source.version) + 1;
    if target.end_key == source.start_key {
        region.end_key = source.end_key;
    } else {
        region.start_key = source.start_key;
    }
    region
}

/// TiKV's `exec_rollback_merge`: the source region with `version` + 1 (so a
/// duplicated rollback fails its epoch check), once more serving.
pub fn exec_rollback_merge(region: &RegionMeta) -> RegionMeta {
    let mut r = region.clone();
    r.version += 1;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PeerMeta;

    fn region(id: u64, start: u64, end: u64, version: u64, stores: &[u64]) -> RegionMeta {
        RegionMeta {
            id,
            start_key: start,
            end_key: end,
            conf_ver: 3,
            version,
            peers: stores
                .iter()
                .map(|&s| PeerMeta {
                    id: id * 100 + s,
                    store_id: s,
                    is_learner: false,
                })
                .collect(),
        }
    }

    #[test]
    fn commit_merge_takes_the_larger_version_plus_one_and_the_source_range() {
        // TiKV test_node_merge_* expectations: a left target grows its end
        // key, a right target its start key; version max(src, tgt) + 1.
        let left = region(1, 0, 100, 4, &[1, 2, 3]);
        let right = region(2, 100, u64::MAX, 7, &[1, 2, 3]);
        let m = commit_merge_region(&left, &right);
        assert_eq!(
            (m.id, m.start_key, m.end_key, m.version, m.conf_ver),
            (1, 0, u64::MAX, 8, 3)
        );
        let m = commit_merge_region(&right, &left);
        assert_eq!(
            (m.id, m.start_key, m.end_key, m.version),
            (2, 0, u64::MAX, 8)
        );
    }

    #[test]
    fn prepare_merge_bumps_both_epochs_and_rollback_bumps_version() {
        let src = region(2, 100, 200, 5, &[1, 2, 3]);
        let req = PrepareMergeRequest {
            version: 5,
            conf_ver: 3,
            min_index: 40,
            target: region(1, 0, 100, 5, &[1, 2, 3]),
        };
        let (r, st) = exec_prepare_merge(&src, &req, 44).unwrap();
        assert_eq!((r.version, r.conf_ver), (6, 4));
        assert_eq!((st.min_index, st.commit, st.target.id), (40, 44, 1));
        assert_eq!(exec_rollback_merge(&r).version, 7);
        // A PrepareMerge proposed before a split applied is refused.
        let stale = PrepareMergeRequest { version: 4, ..req };
        assert!(matches!(
            exec_prepare_merge(&src, &stale, 44),
            Err(RegionError::EpochNotMatch { .. })
        ));
    }

    #[test]
    fn prepare_merge_is_refused_for_the_reasons_tikv_gives() {
        let src = region(2, 100, 200, 5, &[1, 2, 3]);
        let tgt = region(1, 0, 100, 5, &[1, 2, 3]);
        let healthy = [(201, 50, false), (202, 48, false), (203, 45, false)];
        assert_eq!(
            check_prepare_merge(&src, &tgt, 50, &healthy, |_| false),
            Ok(46)
        );
        let far = region(3, 300, 400, 5, &[1, 2, 3]);
        assert!(check_prepare_merge(&src, &far, 50, &healthy, |_| false)
            .unwrap_err()
            .contains("are not sibling"));
        let elsewhere = region(1, 0, 100, 5, &[1, 2, 4]);
        assert!(
            check_prepare_merge(&src, &elsewhere, 50, &healthy, |_| false)
                .unwrap_err()
                .starts_with("peers doesn't match")
        );
        let snap = [(201, 50, false), (202, 48, true), (203, 45, false)];
        assert!(check_prepare_merge(&src, &tgt, 50, &snap, |_| false)
            .unwrap_err()
            .contains("pending snapshot peer 202"));
        // 61 - 45 > merge-max-log-gap (10).
        assert_eq!(
            check_prepare_merge(&src, &tgt, 61, &healthy, |_| false),
            Err("log gap (45, 61] is too large, skip merge".to_string())
        );
        assert_eq!(
            check_prepare_merge(&src, &tgt, 50, &healthy, |from| from == 46),
            Err("log gap contains conf change, skip merging.".to_string())
        );
    }
}
