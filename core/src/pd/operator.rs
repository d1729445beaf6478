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
}

impl Operator {
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
