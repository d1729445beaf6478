//! The snapshot pipeline view: each snapshot's journey, stage by stage,
//! across the leader's store (requested, generating, generated, sending,
//! sent) and the follower's (receiving, received, applying, applied), built
//! from the stage events raftstore and the snap worker record on every store.

use serde::Serialize;

use crate::proto::SnapKey;
use crate::raftstore::snap::{SnapStage, SnapStageEvent};
use crate::sim::Simulation;

/// One stage of a journey.
#[derive(Clone, Debug, Serialize)]
pub struct StageView {
    /// Stage.
    pub stage: SnapStage,
    /// When it was reached, virtual ms.
    pub at_ms: u64,
    /// The store it happened on.
    pub store: u64,
    /// Bytes involved (0 when none).
    pub bytes: u64,
    /// The log line or error that goes with it.
    pub detail: String,
}

/// One snapshot's journey to one follower peer: from the leader's
/// `requesting snapshot` to the follower's `apply new data`, or to the
/// failure that ended it (raft-rs then starts a new journey).
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotJourney {
    /// Region.
    pub region_id: u64,
    /// The follower peer it is for.
    pub to_peer: u64,
    /// Its key, once generation decided it.
    pub key: Option<SnapKey>,
    /// The stages reached, in time order.
    pub stages: Vec<StageView>,
    /// Size of the files, bytes (0 until generated).
    pub size: u64,
    /// True once the follower applied it.
    pub applied: bool,
    /// True when a failure ended it (a send refused or failed).
    pub failed: bool,
}

impl SnapshotJourney {
    /// When the journey reached `stage` first, virtual ms.
    pub fn at(&self, stage: SnapStage) -> Option<u64> {
        self.stages
            .iter()
            .find(|s| s.stage == stage)
            .map(|s| s.at_ms)
    }

    /// The last stage reached.
    pub fn current(&self) -> Option<SnapStage> {
        self.stages.last().map(|s| s.stage)
    }
}

/// Every store's stage events, in time order (ties in store order).
pub fn stage_events(sim: &Simulation) -> Vec<SnapStageEvent> {
    let mut all: Vec<SnapStageEvent> = sim
        .world()
        .stores
        .values()
        .flat_map(|st| {
            st.raftstore
                .snap_stages
                .iter()
                .chain(st.snap_worker.stages.iter())
                .cloned()
        })
        .collect();
    all.sort_by_key(|e| (e.at_ms, stage_rank(e.stage)));
    all
}

/// Pipeline order, to order stages reached in the same millisecond.
fn stage_rank(s: SnapStage) -> u8 {
    match s {
        SnapStage::Requested => 0,
        SnapStage::Generating => 1,
        SnapStage::Generated => 2,
        SnapStage::Sending => 3,
        SnapStage::Receiving => 4,
        SnapStage::RecvRefused => 5,
        SnapStage::Received => 6,
        SnapStage::Applying => 7,
        SnapStage::Sent => 8,
        SnapStage::SendFailed => 9,
        SnapStage::Applied => 10,
    }
}

/// The journeys, oldest first. A journey opens at `Requested` for a
/// (region, follower peer) and collects that pair's later stages until it
/// is applied or fails.
pub fn snapshot_journeys(sim: &Simulation) -> Vec<SnapshotJourney> {
    let mut journeys: Vec<SnapshotJourney> = Vec::new();
    for e in stage_events(sim) {
        let same_pair = |j: &SnapshotJourney| j.region_id == e.region_id && j.to_peer == e.to_peer;
        let open = journeys
            .iter()
            .rposition(|j| same_pair(j) && !j.applied && !j.failed);
        let keyed = |live: bool| {
            journeys.iter().rposition(|j| {
                same_pair(j) && e.key.is_some() && j.key == e.key && (!live || !j.failed)
            })
        };
        let idx = match (keyed(true), open, keyed(false), e.stage) {
            (_, _, _, SnapStage::Requested) | (None, None, None, _) => {
                // A new request supersedes one still on the leader's side;
                // one the follower received goes on to be applied.
                if let Some(i) = open {
                    if journeys[i].at(SnapStage::Received).is_none() {
                        journeys[i].failed = true;
                    }
                }
                journeys.push(SnapshotJourney {
                    region_id: e.region_id,
                    to_peer: e.to_peer,
                    key: None,
                    stages: Vec::new(),
                    size: 0,
                    applied: false,
                    failed: false,
                });
                journeys.len() - 1
            }
            // A stage naming its snapshot belongs to that snapshot's
            // journey, even when the leader already asked for the next one
            // (the follower still applies what it received).
            (Some(i), _, _, _) => i,
            (None, Some(i), _, _) => i,
            // A late stage of a journey that already failed (the leader
            // hears of a refusal after the receiver refused) stays with it.
            (None, None, Some(i), _) => i,
        };
        let j = &mut journeys[idx];
        if e.key.is_some() {
            j.key = e.key;
        }
        match e.stage {
            SnapStage::Generated => j.size = e.bytes,
            SnapStage::Applied => {
                j.applied = true;
                j.failed = false;
            }
            SnapStage::SendFailed | SnapStage::RecvRefused => j.failed = true,
            _ => {}
        }
        j.stages.push(StageView {
            stage: e.stage,
            at_ms: e.at_ms,
            store: e.store,
            bytes: e.bytes,
            detail: e.detail,
        });
    }
    journeys
}

/// One store's snapshot machinery now.
#[derive(Clone, Debug, Serialize)]
pub struct StoreSnapView {
    /// Store id.
    pub store: u64,
    /// Snapshot sends in flight (against `concurrent_send_snap_limit`).
    pub sending: usize,
    /// Snapshot streams being received (against `concurrent_recv_snap_limit`).
    pub receiving: usize,
    /// Snapshot file bytes still to send or already received on open streams.
    pub bytes_in_flight: u64,
    /// Generations waiting for a `snap-generator` thread.
    pub generator_queue: usize,
    /// `snap-generator` threads busy.
    pub generator_busy: usize,
    /// Applies waiting for the `region-worker`.
    pub region_worker_queue: usize,
    /// True while the `region-worker` applies a snapshot.
    pub region_worker_busy: bool,
}

/// The snapshot pipeline panel's data.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineView {
    /// Virtual ms now.
    pub now_ms: u64,
    /// The journeys shown (at most [`PIPELINE_JOURNEYS`], those ended long
    /// ago dropped first), oldest first.
    pub journeys: Vec<SnapshotJourney>,
    /// Journeys so far, all of them.
    pub total_journeys: usize,
    /// Per store, in id order.
    pub stores: Vec<StoreSnapView>,
    /// The limits in use (every store has the same).
    pub limits: crate::server::snap::SnapConfig,
    /// `snap-generator` threads per store.
    pub generator_threads: usize,
    /// The engine layout (`raft-kv` or `partitioned-raft-kv`).
    pub engine: &'static str,
}

/// Journeys the pipeline view carries.
pub const PIPELINE_JOURNEYS: usize = 40;

/// A journey that ended this long ago (virtual ms) gives its row up first.
pub const PIPELINE_FINISHED_KEEP_MS: u64 = 10_000;

/// The journeys the panel shows at `now_ms`, in creation order: at most
/// [`PIPELINE_JOURNEYS`], dropping first those that ended more than
/// [`PIPELINE_FINISHED_KEEP_MS`] ago, then the oldest, so a snapshot still on
/// its way keeps its row while many others start.
fn latest_journeys(journeys: Vec<SnapshotJourney>, now_ms: u64) -> Vec<SnapshotJourney> {
    let ended_long_ago = |j: &SnapshotJourney| {
        (j.applied || j.failed)
            && j.stages
                .last()
                .is_some_and(|s| s.at_ms + PIPELINE_FINISHED_KEEP_MS < now_ms)
    };
    let mut excess = journeys.len().saturating_sub(PIPELINE_JOURNEYS);
    let mut kept: Vec<SnapshotJourney> = Vec::with_capacity(journeys.len());
    for j in journeys {
        if excess > 0 && ended_long_ago(&j) {
            excess -= 1;
            continue;
        }
        kept.push(j);
    }
    // Still too many: the oldest go.
    kept.drain(..excess.min(kept.len()));
    kept
}

/// The pipeline view of `sim` now.
pub fn pipeline_view(sim: &Simulation) -> PipelineView {
    let world = sim.world();
    let pool = |store: u64, name: &'static str| world.pools.get(&(store, name));
    let stores = world
        .stores
        .values()
        .map(|st| {
            let generator = pool(st.id, crate::raftstore::SNAP_GENERATOR.name);
            let region = pool(st.id, crate::raftstore::REGION_WORKER.name);
            StoreSnapView {
                store: st.id,
                sending: st.snap_worker.sending_count(),
                receiving: st.snap_worker.receiving_count(),
                bytes_in_flight: st.snap_worker.bytes_in_flight(),
                generator_queue: generator.map_or(0, |p| p.queue_depth()),
                generator_busy: generator.map_or(0, |p| p.busy_threads()),
                region_worker_queue: region.map_or(0, |p| p.queue_depth()),
                region_worker_busy: region.is_some_and(|p| p.busy_threads() > 0),
            }
        })
        .collect();
    let first = world.stores.values().next();
    let journeys = snapshot_journeys(sim);
    let total_journeys = journeys.len();
    let journeys = latest_journeys(journeys, sim.now() / crate::kernel::time::MS);
    PipelineView {
        now_ms: sim.now() / crate::kernel::time::MS,
        journeys,
        total_journeys,
        stores,
        limits: first.map(|s| s.snap_worker.cfg).unwrap_or_default(),
        generator_threads: crate::raftstore::SNAP_GENERATOR.threads,
        engine: match first.map(|s| s.raftstore.cfg.engine) {
            Some(crate::raftstore::snap::EngineKind::PartitionedRaftKv) => "partitioned-raft-kv",
            _ => "raft-kv",
        },
    }
}
