//! PD operators and their steps (`pkg/schedule/operator`).

use std::fmt;

use serde::Serialize;

use super::{RegionInfo, FAST_STEP_WAIT, SLOW_STEP_WAIT};
use crate::kernel::time::Micros;

/// One step of an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpStep {
    /// Move leadership from one store to another.
    TransferLeader {
        /// Current leader's store.
        from_store: u64,
        /// Target store.
        to_store: u64,
    },
    /// Add a learner peer (`AddLearnerNode`).
    AddLearner {
        /// Store that gets the learner.
        to_store: u64,
        /// New peer id.
        peer_id: u64,
    },
    /// Promote the learner to voter (`AddNode`).
    PromoteLearner {
        /// Store of the learner.
        to_store: u64,
        /// Its peer id.
        peer_id: u64,
    },
    /// Remove a peer (`RemoveNode`).
    RemovePeer {
        /// Store losing the peer.
        from_store: u64,
        /// Peer id.
        peer_id: u64,
    },
    /// PD's `ChangePeerV2Enter`: promote a learner and demote a voter in one
    /// joint-consensus conf change.
    ChangePeerV2Enter {
        /// `(store, peer)` of the learner promoted to voter.
        promote: (u64, u64),
        /// `(store, peer)` of the voter demoted to learner.
        demote: (u64, u64),
    },
    /// PD's `ChangePeerV2Leave`: leave the joint state.
    ChangePeerV2Leave {
        /// `(store, peer)` of the learner promoted to voter.
        promote: (u64, u64),
        /// `(store, peer)` of the voter demoted to learner.
        demote: (u64, u64),
    },
    /// PD's `MergeRegion`: on the source (`passive` false) PD sends the
    /// leader `merge { target }`; on the target (`passive` true) nothing is
    /// sent and the step is done once the target's range changed.
    MergeRegion {
        /// The source region.
        from_region: u64,
        /// The target region.
        to_region: u64,
        /// The target's range when the operator was made.
        to_range: (crate::proto::Key, crate::proto::Key),
        /// This operator is the target's.
        passive: bool,
    },
}

impl fmt::Display for OpStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PD's step `String()` forms.
        match self {
            OpStep::TransferLeader {
                from_store,
                to_store,
            } => {
                write!(
                    f,
                    "transfer leader from store {from_store} to store {to_store}"
                )
            }
            OpStep::AddLearner { to_store, peer_id } => {
                write!(f, "add learner peer {peer_id} on store {to_store}")
            }
            OpStep::PromoteLearner { to_store, peer_id } => {
                write!(
                    f,
                    "promote learner peer {peer_id} on store {to_store} to voter"
                )
            }
            OpStep::RemovePeer {
                from_store,
                peer_id,
            } => write!(f, "remove peer on store {from_store} (peer {peer_id})"),
            OpStep::ChangePeerV2Enter { promote, demote } => write!(
                f,
                "use joint consensus, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.1, promote.0, demote.1, demote.0
            ),
            OpStep::ChangePeerV2Leave { promote, demote } => write!(
                f,
                "leave joint state, promote learner peer {} on store {} to voter, demote voter peer {} on store {} to learner",
                promote.1, promote.0, demote.1, demote.0
            ),
            OpStep::MergeRegion {
                from_region,
                to_region,
                passive,
                ..
            } => write!(
                f,
                "merge region {from_region} into region {to_region}{}",
                if *passive { " (passive)" } else { "" }
            ),
        }
    }
}

impl OpStep {
    /// PD's `IsFinish` for the step, judged on the last region heartbeat.
    pub fn is_finished(&self, r: &RegionInfo) -> bool {
        match *self {
            OpStep::TransferLeader { to_store, .. } => {
                r.leader.is_some_and(|l| l.store_id == to_store)
            }
            OpStep::AddLearner { to_store, peer_id } => {
                r.meta.peer_on(to_store).is_some_and(|p| p.id == peer_id)
                    && !r.pending_peers.contains(&peer_id)
            }
            OpStep::PromoteLearner { to_store, peer_id } => r
                .meta
                .peer_on(to_store)
                .is_some_and(|p| p.id == peer_id && !p.is_learner),
            OpStep::RemovePeer { from_store, .. } => r.meta.peer_on(from_store).is_none(),
            // PD's IsFinish: the promoted peer is a voter (incoming or not)
            // and the demoted one a learner or demoting voter.
            OpStep::ChangePeerV2Enter { promote, demote } => {
                r.meta
                    .peer_on(promote.0)
                    .is_some_and(|p| p.id == promote.1 && !p.is_learner)
                    && r.meta.peer_on(demote.0).is_some_and(|p| {
                        p.id == demote.1 && (p.is_learner || r.demoting_peers.contains(&p.id))
                    })
            }
            // Out of the joint state: the demoted peer is a plain learner.
            OpStep::ChangePeerV2Leave { promote, demote } => {
                r.meta
                    .peer_on(promote.0)
                    .is_some_and(|p| p.id == promote.1 && !p.is_learner)
                    && r.meta
                        .peer_on(demote.0)
                        .is_some_and(|p| p.id == demote.1 && p.is_learner)
                    && r.demoting_peers.is_empty()
            }
            // The source's operator ends when PD drops the source region
            // (the target's heartbeat covers it).
            OpStep::MergeRegion {
                passive, to_range, ..
            } => passive && (r.meta.start_key, r.meta.end_key) != to_range,
        }
    }

    /// PD's `ConfVerChanged`: how much this step has raised the region's
    /// `conf_ver`, judged on the last heartbeat (1 for a conf change in
    /// effect, 2 for a joint change of a learner and a voter, 0 for a leader
    /// transfer or a merge, whose `PrepareMerge` bump PD does not count).
    pub fn conf_ver_changed(&self, r: &RegionInfo) -> u64 {
        let voter = |store: u64, id: u64| {
            r.meta
                .peer_on(store)
                .is_some_and(|p| p.id == id && !p.is_learner)
        };
        match *self {
            OpStep::TransferLeader { .. } | OpStep::MergeRegion { .. } => 0,
            OpStep::AddLearner { to_store, peer_id } => {
                u64::from(r.meta.peer_on(to_store).is_some_and(|p| p.id == peer_id))
            }
            OpStep::PromoteLearner { to_store, peer_id } => u64::from(voter(to_store, peer_id)),
            // Gone, or another peer there now.
            OpStep::RemovePeer {
                from_store,
                peer_id,
            } => u64::from(r.meta.peer_on(from_store).is_none_or(|p| p.id != peer_id)),
            // The promoted peer a voter (incoming or not), the demoted one a
            // learner, demoting, or removed since.
            OpStep::ChangePeerV2Enter { promote, demote } => {
                let demoted = r.meta.peer_on(demote.0).is_none_or(|p| {
                    p.id == demote.1 && (p.is_learner || r.demoting_peers.contains(&p.id))
                });
                2 * u64::from(voter(promote.0, promote.1) && demoted)
            }
            // Out of the joint state: the demoted peer a plain learner (not
            // a DemotingVoter) or gone, so the promoted one is no longer
            // an IncomingVoter either.
            OpStep::ChangePeerV2Leave { promote, demote } => {
                let demoted = r.meta.peer_on(demote.0).is_none_or(|p| {
                    p.id == demote.1 && p.is_learner && !r.demoting_peers.contains(&p.id)
                });
                2 * u64::from(voter(promote.0, promote.1) && demoted)
            }
        }
    }

    /// How long the step may take before the operator times out, virtual µs.
    pub fn wait(&self) -> Micros {
        match self {
            OpStep::TransferLeader { .. } => FAST_STEP_WAIT,
            _ => SLOW_STEP_WAIT,
        }
    }
}

/// PD's priority level of the operators each scheduler makes: evict-slow-store
/// operators are `Urgent` (3), the others `Normal` (1).
pub fn priority_of(desc: &str) -> u8 {
    match desc {
        "evict-slow-store" => 3,
        _ => 1,
    }
}

/// An operator: a described sequence of steps on one region.
#[derive(Clone, Debug)]
pub struct Operator {
    /// Id within the run.
    pub id: u64,
    /// Region.
    pub region_id: u64,
    /// The scheduler that made it (`evict-slow-store`, `move-hot-write-peer`, `balance-leader`).
    pub desc: &'static str,
    /// Priority level (PD `constant.PriorityLevel`): higher replaces lower.
    pub priority: u8,
    /// Steps.
    pub steps: Vec<OpStep>,
    /// Index of the current step.
    pub current: usize,
    /// Status.
    pub status: OperatorStatus,
    /// Creation time, virtual µs.
    pub created: Micros,
    /// When the current step started, virtual µs.
    pub step_started: Micros,
    /// End time, virtual µs.
    pub finished: Option<Micros>,
    /// The region's `conf_ver` when the operator was made (PD's
    /// `op.RegionEpoch()`).
    pub origin_conf_ver: u64,
}

impl Operator {
    /// PD's `Operator.ConfVerChanged`: the `conf_ver` raised by the steps up
    /// to and including the current one (it may have taken effect in this
    /// heartbeat).
    pub fn conf_ver_changed(&self, r: &RegionInfo) -> u64 {
        let last = self.current.min(self.steps.len().saturating_sub(1));
        self.steps[..=last]
            .iter()
            .map(|s| s.conf_ver_changed(r))
            .sum()
    }

    /// PD's `checkStaleOperator`: the region's `conf_ver` moved further
    /// than this operator's own steps explain, so something else changed
    /// the region (a `PrepareMerge`, another conf change) and its steps no
    /// longer fit. Returns how far it moved when stale.
    pub fn stale_by(&self, r: &RegionInfo) -> Option<u64> {
        let changes = r.meta.conf_ver.saturating_sub(self.origin_conf_ver);
        (changes > self.conf_ver_changed(r)).then_some(changes)
    }

    /// The other region of a `merge-region` pair (PD's
    /// `GetRelatedMergeRegion`), if this is one.
    pub fn related_merge_region(&self) -> Option<u64> {
        self.steps.iter().find_map(|s| match *s {
            OpStep::MergeRegion {
                from_region,
                to_region,
                passive,
                ..
            } => Some(if passive { from_region } else { to_region }),
            _ => None,
        })
    }

    /// PD's operator `String()`: `desc {kind} (kind:..., region:N, ...) steps:[...]`.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(|s| s.to_string()).collect();
        format!(
            "{} (region:{}) steps:[{}]",
            self.desc,
            self.region_id,
            steps.join(", ")
        )
    }
}

/// State of a PD operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum OperatorStatus {
    /// Steps remain.
    Running,
    /// Every step finished.
    Success,
    /// The operator ran past its timeout (PD `OperatorStatus::TIMEOUT`).
    Timeout,
    /// Replaced or cancelled.
    Canceled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{PeerMeta, RegionMeta};

    fn peer(id: u64, store_id: u64, is_learner: bool) -> PeerMeta {
        PeerMeta {
            id,
            store_id,
            is_learner,
        }
    }

    /// The region as PD sees it after a heartbeat.
    fn region(conf_ver: u64, peers: Vec<PeerMeta>, demoting: Vec<u64>) -> RegionInfo {
        RegionInfo {
            meta: RegionMeta {
                id: 7,
                start_key: 0,
                end_key: 100,
                conf_ver,
                version: 3,
                peers,
            },
            leader: None,
            term: 1,
            pending_peers: vec![],
            write_bytes_rate: 0,
            last_heartbeat: 0,
            hot_degree: 0,
            approximate_size: None,
            demoting_peers: demoting,
        }
    }

    fn op(steps: Vec<OpStep>, current: usize, origin_conf_ver: u64) -> Operator {
        Operator {
            id: 1,
            region_id: 7,
            desc: "test",
            priority: 1,
            steps,
            current,
            status: OperatorStatus::Running,
            created: 0,
            step_started: 0,
            finished: None,
            origin_conf_ver,
        }
    }

    /// PD's move of one voter (store 3 → store 4) with joint consensus,
    /// checked at each heartbeat against the conf_ver TiKV reaches:
    /// AddLearnerNode +1, EnterJoint of two changes +2, LeaveJoint +2,
    /// RemoveNode +1 (`exec_change_peer` / `exec_change_peer_v2`). At no
    /// step is the operator stale.
    #[test]
    fn a_joint_move_accounts_for_every_conf_ver_bump_it_makes() {
        let steps = vec![
            OpStep::AddLearner {
                to_store: 4,
                peer_id: 40,
            },
            OpStep::ChangePeerV2Enter {
                promote: (4, 40),
                demote: (3, 30),
            },
            OpStep::ChangePeerV2Leave {
                promote: (4, 40),
                demote: (3, 30),
            },
            OpStep::RemovePeer {
                from_store: 3,
                peer_id: 30,
            },
        ];
        let (p1, p2) = (peer(10, 1, false), peer(20, 2, false));
        let heartbeats = [
            // Before anything: the first step is in flight.
            (0, region(5, vec![p1, p2, peer(30, 3, false)], vec![]), 0),
            (
                0,
                region(
                    6,
                    vec![p1, p2, peer(30, 3, false), peer(40, 4, true)],
                    vec![],
                ),
                1,
            ),
            (
                1,
                region(
                    8,
                    vec![p1, p2, peer(30, 3, false), peer(40, 4, false)],
                    vec![30],
                ),
                3,
            ),
            (
                2,
                region(
                    10,
                    vec![p1, p2, peer(30, 3, true), peer(40, 4, false)],
                    vec![],
                ),
                5,
            ),
            (3, region(11, vec![p1, p2, peer(40, 4, false)], vec![]), 6),
        ];
        for (current, r, changed) in heartbeats {
            let o = op(steps.clone(), current, 5);
            assert_eq!(o.conf_ver_changed(&r), changed, "step {current}");
            assert_eq!(o.stale_by(&r), None, "step {current}");
        }
        // Another conf change PD did not make (a peer removed by hand):
        // conf_ver moved one more than the steps explain.
        let r = region(7, vec![p1, peer(30, 3, false), peer(40, 4, true)], vec![]);
        assert_eq!(op(steps, 1, 5).stale_by(&r), Some(2));
    }

    /// A merge source after `PrepareMerge` (conf_ver + 1) or a
    /// `RollbackMerge`: PD's MergeRegion step changes no conf_ver, so the
    /// operator is stale by one, as PD's `checkStaleOperator` finds it.
    #[test]
    fn a_merge_source_that_prepared_is_stale_for_pd() {
        let steps = vec![OpStep::MergeRegion {
            from_region: 7,
            to_region: 8,
            to_range: (100, 200),
            passive: false,
        }];
        let peers = vec![peer(10, 1, false), peer(20, 2, false), peer(30, 3, false)];
        let o = op(steps, 0, 4);
        assert_eq!(o.stale_by(&region(4, peers.clone(), vec![])), None);
        assert_eq!(o.stale_by(&region(5, peers, vec![])), Some(1));
        assert_eq!(o.related_merge_region(), Some(8));
    }
}
