//! Builders of the cluster views: stores, regions and peers, the Raft group
//! of one region, PD's operators, fault windows.

use raft::StateRole;

use super::{
    ClusterView, DiskState, EntryKind, EntryView, FaultWindow, OperatorView, PeerRole, PeerView,
    RaftGroupView, RegionView, StoreView,
};
use crate::client::metrics::{QPS, QPS_REGION};
use crate::env::Fault;
use crate::kernel::metrics::SeriesKey;
use crate::kernel::time::to_ms;
use crate::pd::Operator;
use crate::raftstore::storage::SnapState;
use crate::raftstore::Peer;
use crate::sim::Simulation;
use crate::store::Store;

/// The last value of series `key` (0 before the first sample).
fn last_of(sim: &Simulation, key: &SeriesKey) -> f64 {
    sim.series()
        .get(key)
        .and_then(|s| s.last())
        .map_or(0.0, |(_, v)| *v)
}

/// The whole cluster now.
pub fn cluster_view(sim: &Simulation) -> ClusterView {
    let w = sim.world();
    let now = sim.now();
    let stores = w
        .stores
        .values()
        .map(|st| {
            let disk = &w.disks[&st.id];
            let hang = sim.faults().iter().find_map(|f| match *f {
                Fault::IoHang {
                    store,
                    start,
                    duration,
                } if store == st.id && start <= now && now < start + duration => {
                    Some((start, start + duration))
                }
                _ => None,
            });
            StoreView {
                id: st.id,
                up: st.up,
                disk: if disk.is_hung() {
                    DiskState::Hung {
                        since_ms: hang.map_or(0, |h| to_ms(h.0)),
                        until_ms: hang.map(|h| to_ms(h.1)),
                    }
                } else {
                    DiskState::Healthy
                },
                disk_queue: disk.depth(),
                disk_queue_bytes: disk.depth_bytes(),
                slow_score: st.health.slow_score.score(),
                evicted_as_slow: w.pd.stores.get(&st.id).is_some_and(|s| s.evicted_as_slow),
                leader_count: if st.up {
                    st.raftstore
                        .peers
                        .values()
                        .filter(|p| p.is_leader())
                        .count()
                } else {
                    0
                },
                peer_count: st.raftstore.peers.len(),
            }
        })
        .collect();
    let mut regions: Vec<RegionView> =
        w.pd.regions
            .keys()
            .filter_map(|&rid| region_view(sim, rid))
            .collect();
    regions.sort_by_key(|r| (r.start_key.parse::<u64>().unwrap_or(0), r.id));
    ClusterView {
        now_us: now,
        stores,
        regions,
        operators: w.pd.operators().map(operator_view).collect(),
        qps: last_of(sim, &QPS.key()),
        faults: fault_windows(sim),
        violations: sim.violations().len(),
    }
}

fn peers_of(sim: &Simulation, rid: u64) -> Vec<(&Store, &Peer)> {
    sim.world()
        .stores
        .values()
        .filter_map(|st| st.raftstore.peers.get(&rid).map(|p| (st, p)))
        .collect()
}

fn leader_of(sim: &Simulation, rid: u64) -> Option<(&Store, &Peer)> {
    peers_of(sim, rid)
        .into_iter()
        .filter(|(st, p)| st.up && p.is_leader())
        .max_by_key(|(_, p)| p.raft.raft.term)
}

/// One peer as the page draws it; `leader_matched` is the leader's `matched`
/// for it, when the region has a leader.
pub fn peer_view(
    p: &Peer,
    up: bool,
    leader_matched: Option<u64>,
    progress_state: Option<&'static str>,
) -> PeerView {
    let r = &p.raft.raft;
    let role = if !up {
        PeerRole::Down
    } else if p
        .raft
        .store()
        .conf_state
        .get_learners()
        .contains(&p.meta.id)
        || p.region()
            .peer_by_id(p.meta.id)
            .is_some_and(|m| m.is_learner)
    {
        PeerRole::Learner
    } else {
        match r.state {
            StateRole::Leader => PeerRole::Leader,
            StateRole::Follower => PeerRole::Follower,
            StateRole::Candidate => PeerRole::Candidate,
            StateRole::PreCandidate => PeerRole::PreCandidate,
        }
    };
    let st = p.raft.store();
    PeerView {
        peer_id: p.meta.id,
        store_id: p.meta.store_id,
        role,
        term: r.term,
        persisted: st.durable_last_index(),
        committed: r.raft_log.committed,
        applied: st.applied_index,
        last_index: r.raft_log.last_index(),
        first_index: st.first_index_value(),
        pending_conf_index: r.pending_conf_index,
        has_pending_conf: r.has_pending_conf(),
        matched: leader_matched,
        progress_state,
        snap_state: match st.snap_state() {
            SnapState::Relax => "Relax",
            SnapState::Generating { .. } => "Generating",
            SnapState::Applying => "Applying",
            SnapState::ApplyAborted => "ApplyAborted",
        },
    }
}

/// raft-rs's `ProgressState` by name.
fn progress_name(s: raft::ProgressState) -> &'static str {
    match s {
        raft::ProgressState::Probe => "Probe",
        raft::ProgressState::Replicate => "Replicate",
        raft::ProgressState::Snapshot => "Snapshot",
    }
}

/// One region for the cluster map, or `None` if no store has it.
pub fn region_view(sim: &Simulation, rid: u64) -> Option<RegionView> {
    let peers = peers_of(sim, rid);
    if peers.is_empty() {
        return None;
    }
    let leader = leader_of(sim, rid);
    let meta_src = leader.or_else(|| {
        peers
            .iter()
            .copied()
            .max_by_key(|(_, p)| p.region().conf_ver)
    })?;
    let meta = meta_src.1.region().clone();
    let mut pv: Vec<_> = peers
        .iter()
        .map(|(st, p)| {
            let pr = leader.and_then(|(_, l)| l.raft.raft.prs().get(p.meta.id));
            peer_view(
                p,
                st.up,
                pr.map(|pr| pr.matched),
                pr.map(|pr| progress_name(pr.state)),
            )
        })
        .collect();
    pv.sort_by_key(|p| p.store_id);
    Some(RegionView {
        id: rid,
        start_key: meta.start_key.to_string(),
        end_key: if meta.end_key == u64::MAX {
            String::new()
        } else {
            meta.end_key.to_string()
        },
        conf_ver: meta.conf_ver,
        version: meta.version,
        merging: meta_src.1.raft.store().merge_state.is_some(),
        hot: rid == sim.focus_region() && sim.world().focus_is_hot,
        leader_store: leader.map(|(st, _)| st.id),
        peers: pv,
        qps: last_of(sim, &QPS_REGION.of(rid)),
    })
}

/// The Raft group panel for `region_id`, or `None` if no store has it.
pub fn raft_group(sim: &Simulation, region_id: u64) -> Option<RaftGroupView> {
    let rv = region_view(sim, region_id)?;
    let peers = peers_of(sim, region_id);
    let leader = leader_of(sim, region_id);
    let src = leader.or_else(|| {
        peers
            .iter()
            .copied()
            .max_by_key(|(_, p)| p.raft.raft.raft_log.last_index())
    })?;
    let log_tail = src.1.log_tail(64).iter().map(entry_view).collect();
    let pending_conf_index = leader.map_or(0, |(_, l)| l.raft.raft.pending_conf_index);
    let pending_conf_entry = leader
        .and_then(|(_, l)| l.entry_at(pending_conf_index))
        .map(|e| entry_view(&e))
        .filter(|e| e.kind == EntryKind::ConfChange);
    let mut attempts: Vec<_> = peers
        .iter()
        .flat_map(|(_, p)| p.transfer_attempts.iter().cloned())
        .collect();
    attempts.sort_by_key(|a| a.t_ms);
    let skip = attempts.len().saturating_sub(50);
    Some(RaftGroupView {
        region_id,
        term: rv.peers.iter().map(|p| p.term).max().unwrap_or(0),
        pending_conf_index,
        pending_conf_entry,
        peers: rv.peers,
        log_tail,
        transfer_attempts: attempts.into_iter().skip(skip).collect(),
    })
}

/// One PD operator.
pub fn operator_view(op: &Operator) -> OperatorView {
    OperatorView {
        id: op.id,
        region_id: op.region_id,
        desc: op.desc.to_string(),
        steps: op.steps.iter().map(|s| s.to_string()).collect(),
        current_step: op.current,
        status: op.status.clone(),
        created_ms: to_ms(op.created),
        finished_ms: op.finished.map(to_ms),
    }
}

/// Fault windows, for chart shading: the injected faults, then every store
/// abort (kind `panic`, from the failed assertion to the restart).
pub fn fault_windows(sim: &Simulation) -> Vec<FaultWindow> {
    let injected = sim.faults().iter().map(|f| {
        let (store, start, duration) = f.window();
        FaultWindow {
            kind: f.kind().to_string(),
            store,
            start_ms: to_ms(start),
            end_ms: Some(to_ms(start + duration)),
        }
    });
    let aborts = sim.world().aborts.iter().map(|a| FaultWindow {
        kind: "panic".to_string(),
        store: a.store,
        start_ms: a.at_ms,
        end_ms: Some(a.restart_ms),
    });
    injected.chain(aborts).collect()
}

/// The page's view of one log entry; conf changes are labelled with what they do.
pub fn entry_view(e: &raft::eraftpb::Entry) -> EntryView {
    let (kind, label) = match e.get_entry_type() {
        raft::eraftpb::EntryType::EntryConfChange => {
            use protobuf::Message as _;
            let label = raft::eraftpb::ConfChange::parse_from_bytes(e.get_data())
                .ok()
                .map(|cc| format!("{:?} peer {}", cc.get_change_type(), cc.get_node_id()));
            (EntryKind::ConfChange, label)
        }
        raft::eraftpb::EntryType::EntryConfChangeV2 => {
            use protobuf::Message as _;
            let label = raft::eraftpb::ConfChangeV2::parse_from_bytes(e.get_data())
                .ok()
                .map(|cc| {
                    if cc.get_changes().is_empty() {
                        "LeaveJoint".to_string()
                    } else {
                        let changes: Vec<String> = cc
                            .get_changes()
                            .iter()
                            .map(|c| format!("{:?} peer {}", c.get_change_type(), c.get_node_id()))
                            .collect();
                        format!("EnterJoint {}", changes.join(", "))
                    }
                });
            (EntryKind::ConfChange, label)
        }
        _ if e.get_data().is_empty() => (EntryKind::Empty, None),
        _ => (EntryKind::Normal, None),
    };
    EntryView {
        index: e.get_index(),
        term: e.get_term(),
        kind,
        label,
    }
}
