//! The in-memory engine panel's data: one store's region metas as a state
//! machine and a table, its background tasks, the load requests, the
//! preconditions of the duplicate-load race, and every store abort.

use serde::Serialize;

use crate::in_memory_engine::background::TaskStage;
use crate::in_memory_engine::{ImeAbort, LoadFailedReason, RegionState};
use crate::kernel::time::to_ms;
use crate::sim::Simulation;

/// One state of the machine with its live count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateCount {
    /// TiKV's name (`Pending`, `Loading`, `Active`, ...).
    pub state: &'static str,
    /// Metas in it now.
    pub count: usize,
    /// The states it may change to (`validate_update_region_state`).
    pub next: Vec<&'static str>,
}

/// One state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionView {
    /// Virtual ms.
    pub at_ms: u64,
    /// Region id.
    pub region_id: u64,
    /// Epoch version of the meta.
    pub epoch: u64,
    /// From (`"new"`: a meta was inserted).
    pub from: &'static str,
    /// To (`"removed"`: the meta left the map; `"replaced"`: another meta was
    /// inserted under its id).
    pub to: &'static str,
}

/// One row of the meta table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetaView {
    /// Region id.
    pub id: u64,
    /// Range start key.
    pub start: u64,
    /// Range end key (`None`: +inf).
    pub end: Option<u64>,
    /// Epoch version.
    pub epoch: u64,
    /// State (TiKV's name).
    pub state: &'static str,
    /// Snapshots reads hold on it.
    pub snapshots: u64,
    /// A GC round runs on it.
    pub in_gc: bool,
    /// Virtual ms since it was inserted.
    pub since_ms: u64,
    /// The store's raftstore has this region id with another range or
    /// epoch (the meta is about a region that is no more).
    pub outdated: bool,
}

/// One background task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: u64,
    /// TiKV's task name (`LoadRegion`, `DeleteRegions`, ...).
    pub name: &'static str,
    /// The thread it is queued on or running on (`ime-load`, ...).
    pub pool: &'static str,
    /// `queued` or `running`.
    pub stage: &'static str,
    /// The regions it is about, as `id@epoch [start, end)`.
    pub regions: Vec<String>,
    /// Virtual ms it was scheduled.
    pub scheduled_ms: u64,
}

/// One `load_region` call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadRequestView {
    /// Virtual ms.
    pub at_ms: u64,
    /// Region as `id@epoch [start, end)`.
    pub region: String,
    /// Region id.
    pub region_id: u64,
    /// `accepted`, or the refusal (`PendingRange`, `Overlapped`, `Evicting`).
    pub outcome: &'static str,
    /// The state of the meta it replaced under the same id, if any.
    pub replaced: Option<&'static str>,
}

/// What builds up before the race (each is necessary, none is enough).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preconditions {
    /// Evicting metas (LoadingCanceled, PendingEvict, Evicting) a read still
    /// holds: eviction waits for them.
    pub evicting_held: usize,
    /// Metas about a region this store now has with another range or epoch
    /// (an id that came back through merge and split).
    pub outdated_metas: usize,
    /// Loads so far that replaced a meta held under the same id.
    pub metas_replaced: u64,
    /// End keys in `regions_by_range` that point at an id whose meta ends
    /// elsewhere or is gone.
    pub stale_range_keys: Vec<(u64, u64)>,
    /// Regions scheduled to load twice in one Loading episode.
    pub loaded_twice: Vec<u64>,
}

/// One store abort, for the banner and the timeline marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AbortView {
    /// Store.
    pub store: u64,
    /// Virtual ms of the abort.
    pub at_ms: u64,
    /// Virtual ms it serves again.
    pub restart_ms: u64,
    /// The assertion's message.
    pub message: String,
    /// Where in TiKV.
    pub location: &'static str,
    /// The region the failing code handled, as `id@epoch [start, end)`.
    pub region: Option<String>,
    /// The "ime region to load" events of that region id before it:
    /// `(virtual ms, id@epoch [start, end))`.
    pub loads: Vec<(u64, String)>,
}

/// The panel's data for one store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImeView {
    /// Store.
    pub store: u64,
    /// The store is up.
    pub up: bool,
    /// The store runs the engine.
    pub enabled: bool,
    /// PR 17550's id check is on.
    pub id_check: bool,
    /// The state machine.
    pub states: Vec<StateCount>,
    /// The most recent transitions, newest last.
    pub transitions: Vec<TransitionView>,
    /// Every meta, by region id.
    pub metas: Vec<MetaView>,
    /// Background tasks queued or running, oldest first.
    pub tasks: Vec<TaskView>,
    /// Recent `load_region` calls, newest last.
    pub load_requests: Vec<LoadRequestView>,
    /// The race's preconditions.
    pub preconditions: Preconditions,
    /// Bytes the engine holds.
    pub memory: u64,
    /// `capacity`, `evict-threshold`, `stop-load-threshold`, bytes.
    pub limits: (u64, u64, u64),
    /// Every store abort so far (all stores), oldest first.
    pub aborts: Vec<AbortView>,
}

fn region_label(r: &crate::in_memory_engine::CacheRegion) -> String {
    let end = if r.end == u64::MAX {
        "+inf".to_string()
    } else {
        r.end.to_string()
    };
    format!("{}@{} [{}, {})", r.id, r.epoch_version, r.start, end)
}

fn abort_view(store: u64, at_ms: u64, restart_ms: u64, a: &ImeAbort) -> AbortView {
    AbortView {
        store,
        at_ms,
        restart_ms,
        message: a.panic.message.clone(),
        location: a.panic.location,
        region: a.region.as_ref().map(region_label),
        loads: a
            .loads
            .iter()
            .map(|l| (to_ms(l.at), region_label(&l.region)))
            .collect(),
    }
}

/// The in-memory engine of store `store` now.
pub fn ime_view(sim: &Simulation, store: u64) -> ImeView {
    let world = sim.world();
    let aborts = world
        .aborts
        .iter()
        .map(|a| abort_view(a.store, a.at_ms, a.restart_ms, &a.abort))
        .collect();
    let st = world.stores.get(&store);
    let Some(ime) = st.and_then(|s| s.ime.as_ref()) else {
        return ImeView {
            store,
            up: st.is_some_and(|s| s.up),
            enabled: false,
            id_check: false,
            states: Vec::new(),
            transitions: Vec::new(),
            metas: Vec::new(),
            tasks: Vec::new(),
            load_requests: Vec::new(),
            preconditions: Preconditions {
                evicting_held: 0,
                outdated_metas: 0,
                metas_replaced: 0,
                stale_range_keys: Vec::new(),
                loaded_twice: Vec::new(),
            },
            memory: 0,
            limits: (0, 0, 0),
            aborts,
        };
    };
    let st = st.expect("the engine's store exists");
    let m = &ime.manager;
    let states = RegionState::ALL
        .iter()
        .map(|s| StateCount {
            state: s.name(),
            count: m.regions.values().filter(|x| x.state == *s).count(),
            next: s.can_become().iter().map(|n| n.name()).collect(),
        })
        .collect();
    let transitions = m
        .transitions
        .iter()
        .map(|t| TransitionView {
            at_ms: to_ms(t.at),
            region_id: t.region_id,
            epoch: t.epoch,
            from: t.from.map_or("new", RegionState::name),
            to: match t.to {
                Some(s) => s.name(),
                None if t.replaced => "replaced",
                None => "removed",
            },
        })
        .collect();
    let outdated = |id: u64, epoch: u64, start: u64, end: u64| {
        st.raftstore.peers.get(&id).is_some_and(|p| {
            let r = p.region();
            r.version != epoch && (r.start_key != start || r.end_key != end)
        })
    };
    let metas: Vec<MetaView> = m
        .regions
        .values()
        .map(|x| MetaView {
            id: x.region.id,
            start: x.region.start,
            end: (x.region.end != u64::MAX).then_some(x.region.end),
            epoch: x.region.epoch_version,
            state: x.state.name(),
            snapshots: x.snapshot_count(),
            in_gc: x.in_gc,
            since_ms: to_ms(x.since),
            outdated: outdated(
                x.region.id,
                x.region.epoch_version,
                x.region.start,
                x.region.end,
            ),
        })
        .collect();
    let tasks = ime
        .tasks
        .values()
        .map(|t| TaskView {
            id: t.id,
            name: t.task.name(),
            pool: t.pool,
            stage: match t.stage {
                TaskStage::Runner | TaskStage::Queued => "queued",
                TaskStage::Running => "running",
            },
            regions: t.task.regions().iter().map(region_label).collect(),
            scheduled_ms: to_ms(t.scheduled_at),
        })
        .collect();
    let load_requests = ime
        .load_requests
        .iter()
        .map(|r| LoadRequestView {
            at_ms: to_ms(r.at),
            region: region_label(&r.region),
            region_id: r.region.id,
            outcome: match r.refused {
                None => "accepted",
                Some(LoadFailedReason::PendingRange) => "PendingRange",
                Some(LoadFailedReason::Overlapped) => "Overlapped",
                Some(LoadFailedReason::Evicting) => "Evicting",
            },
            replaced: r.replaced.map(RegionState::name),
        })
        .collect();
    // A region id with two LoadRegion tasks queued or running at once.
    let mut loading: std::collections::BTreeMap<u64, usize> = Default::default();
    for t in ime.tasks.values() {
        if let crate::in_memory_engine::background::BgTask::LoadRegion { region, .. } = &t.task {
            *loading.entry(region.id).or_insert(0) += 1;
        }
    }
    let preconditions = Preconditions {
        evicting_held: m
            .regions
            .values()
            .filter(|x| x.state.is_evict() && x.snapshot_count() > 0)
            .count(),
        outdated_metas: metas.iter().filter(|x| x.outdated).count(),
        metas_replaced: sim
            .counters()
            .get(&crate::in_memory_engine::metrics::IME_METAS_REPLACED)
            .copied()
            .unwrap_or(0),
        stale_range_keys: m.stale_range_keys(),
        loaded_twice: loading
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id)
            .collect(),
    };
    ImeView {
        store,
        up: st.up,
        enabled: true,
        id_check: m.id_check,
        states,
        transitions,
        metas,
        tasks,
        load_requests,
        preconditions,
        memory: ime.mem_usage,
        limits: (
            ime.cfg.capacity,
            ime.cfg.evict_threshold,
            ime.cfg.stop_load_threshold,
        ),
        aborts,
    }
}

/// One store as the panel's store picker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImeStoreChoice {
    /// Store id.
    pub store: u64,
    /// The store's process is up.
    pub up: bool,
    /// The store runs the in-memory engine.
    pub enabled: bool,
    /// Region metas its engine holds now.
    pub metas: usize,
    /// The store aborted at least once.
    pub aborted: bool,
}

/// The in-memory engine panel: the engine of the store shown and a line per
/// store for the picker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImePanelView {
    /// Virtual ms now.
    pub now_ms: u64,
    /// The store the user picked, when it is the one shown (`None`: the
    /// panel picked, see [`ime_panel_view`]).
    pub picked: Option<u64>,
    /// The engine of the store shown.
    pub view: ImeView,
    /// Every store, in id order.
    pub stores: Vec<ImeStoreChoice>,
}

/// The panel for the store `pick` names; without a pick (or for a store
/// that does not exist), the store of the first abort, else the store whose
/// engine holds the most metas (ties: the newest state change, then the
/// lowest id; store 1 when no engine holds or did anything).
pub fn ime_panel_view(sim: &Simulation, pick: Option<u64>) -> ImePanelView {
    let world = sim.world();
    let stores: Vec<ImeStoreChoice> = world
        .stores
        .values()
        .map(|st| ImeStoreChoice {
            store: st.id,
            up: st.up,
            enabled: st.ime.is_some(),
            metas: st.ime.as_ref().map_or(0, |e| e.manager.regions.len()),
            aborted: world.aborts.iter().any(|a| a.store == st.id),
        })
        .collect();
    let exists = |s: &u64| world.stores.contains_key(s);
    let busiest = || {
        world
            .stores
            .values()
            .filter_map(|st| {
                let m = &st.ime.as_ref()?.manager;
                let last = m.transitions.back().map(|t| t.at);
                (!m.regions.is_empty() || last.is_some())
                    .then_some(((m.regions.len(), last, std::cmp::Reverse(st.id)), st.id))
            })
            .max()
            .map(|(_, id)| id)
    };
    let shown = pick
        .filter(exists)
        .or_else(|| world.aborts.first().map(|a| a.store).filter(exists))
        .or_else(busiest)
        .unwrap_or(1);
    ImePanelView {
        now_ms: to_ms(sim.now()),
        picked: pick.filter(|s| *s == shown),
        view: ime_view(sim, shown),
        stores,
    }
}
