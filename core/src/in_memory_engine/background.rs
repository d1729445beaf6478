//! The engine's background work (TiKV `background.rs`, at `d2bf2b0510~1`):
//! `BackgroundTask`s go to the `ime-bg` runner, which runs
//! `MemoryCheckAndEvict` itself and hands `LoadRegion` to `ime-load`, `Gc` to
//! `ime-gc` and `TopRegionsLoadEvict` to `ime-evict`; `DeleteRegions` goes
//! straight to the `ime-delete` runner (`schedule_task`).
//!
//! A `LoadRegion` first checks the meta under its id, then copies its
//! snapshot: the check runs when the task gets the `ime-load` thread (a
//! short step), and the copy follows on the same thread before any other
//! load (`Ctx::spawn_next`), as TiKV's single-threaded load pool runs one
//! future to its end. Its check is TiKV's:
//! `if state != Loading { assert_eq!(state, LoadingCanceled) }`.

use serde::Serialize;

use super::region_manager::{CacheRegion, EvictReason, ImePanic, RegionState};
use super::{metrics, InMemoryEngine, IME_BG, IME_DELETE, IME_EVICT, IME_GC, IME_LOAD};
use crate::kernel::log::Level;
use crate::kernel::time::{Micros, MS};
use crate::proto::{Ctx, RegionMeta, Timer};
use crate::raftstore::storage::KvData;

/// TiKV's `BackgroundTask`, the kinds simulated.
#[derive(Clone, Debug)]
pub enum BgTask {
    /// Copy a region's RocksDB snapshot into memory.
    LoadRegion {
        /// The region (id, epoch, range) `prepare_for_apply` saw.
        region: CacheRegion,
        /// The region's data when the load was scheduled.
        snapshot: KvData,
    },
    /// Free evicted regions' data and remove their metas.
    DeleteRegions(Vec<CacheRegion>),
    /// Garbage-collect the cached regions (`gc-run-interval`).
    Gc,
    /// Load the top regions and evict the cold ones (`load-evict-interval`).
    TopRegionsLoadEvict,
    /// Evict regions until memory is below `evict-threshold`.
    MemoryCheckAndEvict,
}

impl BgTask {
    /// TiKV's name of the task (its `Debug`).
    pub fn name(&self) -> &'static str {
        match self {
            BgTask::LoadRegion { .. } => "LoadRegion",
            BgTask::DeleteRegions(_) => "DeleteRegions",
            BgTask::Gc => "Gc",
            BgTask::TopRegionsLoadEvict => "TopRegionsLoadEvict",
            BgTask::MemoryCheckAndEvict => "MemoryCheckAndEvict",
        }
    }

    /// The regions the task is about.
    pub fn regions(&self) -> Vec<CacheRegion> {
        match self {
            BgTask::LoadRegion { region, .. } => vec![*region],
            BgTask::DeleteRegions(r) => r.clone(),
            _ => Vec::new(),
        }
    }
}

/// Where a background task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TaskStage {
    /// Queued on the `ime-bg` runner.
    Runner,
    /// Queued on (or checking at the head of) its worker.
    Queued,
    /// Running its main work (a load's copy, a GC round).
    Running,
}

/// A background task and where it is.
#[derive(Clone, Debug)]
pub struct BgTaskRecord {
    /// Task id.
    pub id: u64,
    /// The task.
    pub task: BgTask,
    /// Where it is.
    pub stage: TaskStage,
    /// The pool it is on.
    pub pool: &'static str,
    /// When it was scheduled, virtual µs.
    pub scheduled_at: Micros,
}

/// CPU one step of the runner or a check takes, virtual µs.
const STEP_COST: Micros = 200;

impl InMemoryEngine {
    /// `schedule_task`: `DeleteRegions` to the delete runner, the rest to
    /// the `ime-bg` runner. Returns the task id.
    pub fn schedule(&mut self, ctx: &mut Ctx, task: BgTask) -> u64 {
        let id = self.next_task;
        self.next_task += 1;
        let (pool, stage, cost) = match &task {
            BgTask::DeleteRegions(regions) => {
                let bytes: u64 = regions.iter().map(|r| self.bytes_in(r.start, r.end)).sum();
                (
                    IME_DELETE.name,
                    TaskStage::Queued,
                    STEP_COST + self.load_cost(bytes) / 8,
                )
            }
            _ => (IME_BG.name, TaskStage::Runner, STEP_COST),
        };
        self.tasks.insert(
            id,
            BgTaskRecord {
                id,
                task,
                stage,
                pool,
                scheduled_at: ctx.now,
            },
        );
        ctx.spawn(self.store, pool, cost, Timer::ImeTaskDone { task: id });
        id
    }

    fn bytes_in(&self, start: crate::proto::Key, end: crate::proto::Key) -> u64 {
        self.skiplist
            .range(start..end)
            .map(|(_, v)| Self::record_bytes(v))
            .sum()
    }

    /// A step of task `id` finished on its thread.
    pub fn on_task_done(
        &mut self,
        ctx: &mut Ctx,
        id: u64,
        leaders: &dyn Fn() -> Vec<(RegionMeta, u64)>,
    ) {
        if self.panicked() {
            return;
        }
        let Some(rec) = self.tasks.get(&id) else {
            return;
        };
        let (stage, pool) = (rec.stage, rec.pool);
        match (stage, rec.task.clone()) {
            (TaskStage::Runner, BgTask::MemoryCheckAndEvict) => {
                self.tasks.remove(&id);
                self.memory_check_and_evict(ctx);
            }
            (TaskStage::Runner, task) => {
                let (next_pool, cost) = match task {
                    BgTask::LoadRegion { .. } => (IME_LOAD.name, STEP_COST),
                    BgTask::Gc => (IME_GC.name, STEP_COST),
                    _ => (IME_EVICT.name, STEP_COST),
                };
                let rec = self.tasks.get_mut(&id).expect("checked above");
                rec.stage = TaskStage::Queued;
                rec.pool = next_pool;
                ctx.spawn(self.store, next_pool, cost, Timer::ImeTaskDone { task: id });
            }
            (TaskStage::Queued, BgTask::LoadRegion { region, snapshot }) => {
                self.load_region_start(ctx, id, region, &snapshot)
            }
            (TaskStage::Running, BgTask::LoadRegion { region, snapshot }) => {
                self.tasks.remove(&id);
                self.load_region_finish(ctx, region, &snapshot);
            }
            (TaskStage::Queued, BgTask::DeleteRegions(regions)) => {
                self.tasks.remove(&id);
                self.delete_regions(ctx, regions);
            }
            (TaskStage::Queued, BgTask::Gc) => self.gc_start(ctx, id),
            (TaskStage::Running, BgTask::Gc) => {
                self.tasks.remove(&id);
                self.gc_finish(ctx);
            }
            (TaskStage::Queued, BgTask::TopRegionsLoadEvict) => {
                self.tasks.remove(&id);
                self.top_regions_load_evict(ctx, &leaders());
            }
            _ => {
                debug_assert!(false, "task {id} in {stage:?} on {pool}");
                self.tasks.remove(&id);
            }
        }
    }

    /// The head of `LoadRegion`: the meta under the region's id must be
    /// Loading (else LoadingCanceled: the load is canceled); over
    /// `stop-load-threshold` it is canceled too.
    fn load_region_start(
        &mut self,
        ctx: &mut Ctx,
        id: u64,
        region: CacheRegion,
        snapshot: &KvData,
    ) {
        let state = match self.manager.regions.get(&region.id) {
            Some(m) => m.state,
            None => {
                let p = ImePanic::unwrap_none("background.rs BackgroundRunner::run (LoadRegion)");
                return self.abort(ctx, p, Some(region));
            }
        };
        let mut canceled = false;
        if state != RegionState::Loading {
            if state != RegionState::LoadingCanceled {
                return self.abort(
                    ctx,
                    ImePanic {
                        message: format!(
                            "assertion `left == right` failed\n  left: {}\n right: {}",
                            state.name(),
                            RegionState::LoadingCanceled.name()
                        ),
                        location: "background.rs:887 BackgroundRunner::run (LoadRegion)",
                    },
                    Some(region),
                );
            }
            canceled = true;
        }
        if self.mem_usage >= self.cfg.stop_load_threshold {
            canceled = true;
        }
        if canceled {
            self.tasks.remove(&id);
            self.log(
                ctx,
                Level::Info,
                Some(region.id),
                format!("ime snapshot load canceled, region: {region}"),
            );
            return self.on_snapshot_load_failed(ctx, region, false);
        }
        self.log(
            ctx,
            Level::Info,
            Some(region.id),
            format!("ime Loading region, region: {region}"),
        );
        let bytes: u64 = snapshot
            .range(region.start..region.end)
            .map(|(_, v)| Self::record_bytes(v))
            .sum();
        let cost = self.load_cost(bytes);
        if let Some(rec) = self.tasks.get_mut(&id) {
            rec.stage = TaskStage::Running;
        }
        ctx.spawn_next(
            self.store,
            IME_LOAD.name,
            cost,
            Timer::ImeTaskDone { task: id },
        );
    }

    /// The copy finished: the records go in (stopping at the capacity, the
    /// hard limit), then `on_snapshot_load_finished`.
    fn load_region_finish(&mut self, ctx: &mut Ctx, region: CacheRegion, snapshot: &KvData) {
        let records: Vec<_> = snapshot
            .range(region.start..region.end)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (k, v) in records {
            if self.mem_usage + Self::record_bytes(&v) > self.cfg.capacity {
                self.log(
                    ctx,
                    Level::Warn,
                    Some(region.id),
                    format!(
                        "ime stop loading snapshot due to memory reaching hard limit, region: {region}, memory_usage(MB): {}",
                        self.mem_usage >> 20
                    ),
                );
                return self.on_snapshot_load_failed(ctx, region, true);
            }
            self.put(k, v);
        }
        match self.on_snapshot_load_finished(ctx, region) {
            Ok(true) => {
                ctx.count(metrics::IME_LOADS_FINISHED, 1);
                self.log(
                    ctx,
                    Level::Info,
                    Some(region.id),
                    format!("ime Loading region finished, region: {region}"),
                );
            }
            Ok(false) => self.log(
                ctx,
                Level::Info,
                Some(region.id),
                format!("ime Loading region canceled, region: {region}"),
            ),
            Err(p) => self.abort(ctx, p, Some(region)),
        }
        self.check_memory(ctx);
    }

    /// `on_snapshot_load_finished`: each meta the load covers (by id when
    /// the epoch is the same, else by range) must be Loading or
    /// LoadingCanceled (`"region meta: {:?}"`): Loading becomes Active with
    /// the writes it took meanwhile; LoadingCanceled is evicted. Returns
    /// false when the load was canceled.
    fn on_snapshot_load_finished(
        &mut self,
        ctx: &mut Ctx,
        region: CacheRegion,
    ) -> Result<bool, ImePanic> {
        const AT: &str = "background.rs BackgroundRunnerCore::on_snapshot_load_finished";
        if !self.manager.regions.contains_key(&region.id) {
            return Err(ImePanic::unwrap_none(AT));
        }
        let ids = self.manager.on_all_overlapped(&region)?;
        // Metas met by the range walk (an epoch changed) must lie within
        // the loaded range (`region.contains_range(meta.get_region())`).
        if ids
            .iter()
            .any(|id| !region.contains_range(&self.manager.regions[id].region))
        {
            return Err(ImePanic {
                message: "assertion failed: region.contains_range(meta.get_region())".into(),
                location: AT,
            });
        }
        let mut remove = Vec::new();
        // The writes the regions took while loading, in the order they
        // applied: a key written in the parent before a split and in the new
        // region after it sits in two buffers, and `(version, index)` orders
        // its writes across the split.
        let mut writes = Vec::new();
        for id in ids {
            let m = &self.manager.regions[&id];
            match m.state {
                RegionState::Loading => {
                    self.manager.set_state(ctx, id, RegionState::Active)?;
                    writes.extend(self.loading_writes.remove(&id).unwrap_or_default());
                }
                RegionState::LoadingCanceled => {
                    self.manager.set_state(ctx, id, RegionState::Evicting)?;
                    if let Some(m) = self.manager.regions.get_mut(&id) {
                        m.evict_info = Some((EvictReason::LoadFailed, ctx.now));
                    }
                    self.loading_writes.remove(&id);
                    remove.push(self.manager.regions[&id].region);
                }
                _ => {
                    return Err(ImePanic {
                        message: format!("region meta: {m}"),
                        location: "background.rs BackgroundRunnerCore::on_snapshot_load_finished",
                    })
                }
            }
        }
        writes.sort_by_key(|(_, v)| (v.version, v.index));
        for (k, v) in writes {
            self.put(k, v);
        }
        if !remove.is_empty() {
            self.schedule(ctx, BgTask::DeleteRegions(remove));
            return Ok(false);
        }
        Ok(true)
    }

    /// `on_snapshot_load_failed`: the metas the load covers go to Evicting
    /// and are deleted.
    fn on_snapshot_load_failed(&mut self, ctx: &mut Ctx, region: CacheRegion, started: bool) {
        let reason = if started {
            EvictReason::LoadFailed
        } else {
            EvictReason::LoadFailedWithoutStart
        };
        let ids = if self.manager.regions.contains_key(&region.id) {
            self.manager.on_all_overlapped(&region)
        } else {
            Err(ImePanic::unwrap_none(
                "background.rs BackgroundRunnerCore::on_snapshot_load_failed",
            ))
        };
        let ids = match ids {
            Ok(ids) => ids,
            Err(p) => return self.abort(ctx, p, Some(region)),
        };
        let mut remove = Vec::new();
        for id in ids {
            let st = self.manager.regions[&id].state;
            if !matches!(st, RegionState::Loading | RegionState::LoadingCanceled) {
                return self.abort(
                    ctx,
                    ImePanic {
                        message: "assertion failed: meta.get_state() == RegionState::Loading || meta.get_state() == RegionState::LoadingCanceled".into(),
                        location: "background.rs BackgroundRunnerCore::on_snapshot_load_failed",
                    },
                    Some(region),
                );
            }
            if let Err(p) = self.manager.set_state(ctx, id, RegionState::Evicting) {
                return self.abort(ctx, p, Some(region));
            }
            if let Some(m) = self.manager.regions.get_mut(&id) {
                m.evict_info = Some((reason, ctx.now));
            }
            self.loading_writes.remove(&id);
            remove.push(self.manager.regions[&id].region);
        }
        self.schedule(ctx, BgTask::DeleteRegions(remove));
    }

    /// The delete runner: regions in GC wait (`delay_regions`, retried
    /// with the next GC's end); the others' data is freed and their metas
    /// removed.
    fn delete_regions(&mut self, ctx: &mut Ctx, regions: Vec<CacheRegion>) {
        let (delay, now): (Vec<_>, Vec<_>) = regions.into_iter().partition(|r| {
            self.manager
                .regions
                .get(&r.id)
                .is_some_and(|m| m.in_gc && m.region.epoch_version == r.epoch_version)
        });
        self.delayed_deletes.extend(delay);
        if now.is_empty() {
            return;
        }
        if let Err(p) = self.manager.on_delete_regions(ctx, &now) {
            let r = now.first().copied();
            return self.abort(ctx, p, r);
        }
        for r in &now {
            self.delete_range(r.start, r.end);
            ctx.count(metrics::IME_EVICTIONS, 1);
        }
    }

    /// A GC round starts: every Active region is in GC while it runs.
    fn gc_start(&mut self, ctx: &mut Ctx, id: u64) {
        self.log(
            ctx,
            Level::Info,
            None,
            "ime start a new round of gc for range cache engine".to_string(),
        );
        let mut bytes = 0;
        let ids: Vec<u64> = self
            .manager
            .regions
            .values()
            .filter(|m| m.state == RegionState::Active)
            .map(|m| m.region.id)
            .collect();
        for rid in &ids {
            let r = self.manager.regions[rid].region;
            bytes += self.bytes_in(r.start, r.end);
            if let Some(m) = self.manager.regions.get_mut(rid) {
                m.in_gc = true;
            }
        }
        self.gc_running = true;
        if let Some(rec) = self.tasks.get_mut(&id) {
            rec.stage = TaskStage::Running;
        }
        let cost = self.load_cost(bytes) / 4;
        ctx.spawn_next(
            self.store,
            IME_GC.name,
            cost.max(MS),
            Timer::ImeTaskDone { task: id },
        );
    }

    /// The GC round ends ("ime range gc complete"); delayed deletes retry.
    fn gc_finish(&mut self, ctx: &mut Ctx) {
        for m in self.manager.regions.values_mut() {
            m.in_gc = false;
        }
        self.gc_running = false;
        self.log(ctx, Level::Info, None, "ime range gc complete".to_string());
        let delayed = std::mem::take(&mut self.delayed_deletes);
        if !delayed.is_empty() {
            self.schedule(ctx, BgTask::DeleteRegions(delayed));
        }
    }

    /// The GC tick: a new round unless one runs.
    pub fn on_gc_tick(&mut self, ctx: &mut Ctx) {
        if !self.gc_running && !self.panicked() {
            self.schedule(ctx, BgTask::Gc);
        }
        ctx.timer(
            crate::kernel::effect::Node::Store(self.store),
            self.cfg.gc_run_interval,
            Timer::ImeGcTick,
        );
    }

    /// The load-evict tick.
    pub fn on_load_evict_tick(&mut self, ctx: &mut Ctx) {
        if !self.panicked() {
            self.schedule(ctx, BgTask::TopRegionsLoadEvict);
        }
        ctx.timer(
            crate::kernel::effect::Node::Store(self.store),
            self.cfg.load_evict_interval,
            Timer::ImeLoadEvictTick,
        );
    }

    /// `top_regions_load_evict` (TiKV's `RangeStatsManager`): of the
    /// regions this store leads (`leaders`: region and its key count), those
    /// whose reads' MVCC amplification reached the threshold, most iterated
    /// first, as many as `stop-load-threshold / region size` allows, are
    /// the top regions. Active regions no longer among them, cached longer
    /// than the minimum, are evicted; top regions not Active are loaded
    /// (`load_region` on each: one already Pending or Loading is refused).
    fn top_regions_load_evict(&mut self, ctx: &mut Ctx, leaders: &[(RegionMeta, u64)]) {
        let max_regions =
            (self.cfg.stop_load_threshold / self.cfg.expected_region_size.max(1)).max(1) as usize;
        let mut candidates: Vec<(u64, RegionMeta)> = leaders
            .iter()
            .filter_map(|(r, _)| {
                let s = self.stats.get(&r.id)?;
                (s.mvcc_amplification() >= self.cfg.mvcc_amplification_threshold)
                    .then(|| (s.iterated, r.clone()))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        candidates.truncate(max_regions);
        let top: Vec<CacheRegion> = candidates
            .iter()
            .map(|(_, r)| CacheRegion::from_region(r))
            .collect();
        let to_load: Vec<CacheRegion> = top
            .iter()
            .filter(|r| {
                self.manager
                    .regions
                    .get(&r.id)
                    .is_none_or(|m| m.state != RegionState::Active)
            })
            .copied()
            .collect();
        let to_evict: Vec<CacheRegion> = self
            .manager
            .regions
            .values()
            .filter(|m| {
                m.state == RegionState::Active
                    && !top.iter().any(|t| t.id == m.region.id)
                    && ctx.now.saturating_sub(m.since) >= self.cfg.evict_min_duration
            })
            .map(|m| m.region)
            .collect();
        let ids = |v: &[CacheRegion]| v.iter().map(|r| r.id).collect::<Vec<_>>();
        self.log(
            ctx,
            Level::Info,
            None,
            format!(
                "ime load_evict, regions_to_load: {:?}, regions_to_evict: {:?}",
                ids(&to_load),
                ids(&to_evict)
            ),
        );
        for r in to_evict {
            self.evict(ctx, &r, EvictReason::AutoEvict);
            if self.panicked() {
                return;
            }
        }
        for r in to_load {
            self.load_region(ctx, r);
            if self.panicked() {
                return;
            }
        }
        // A new interval: the reads start over.
        self.stats.clear();
        let now = ctx.now;
        self.recent_writes.retain(|_, w| {
            w.back()
                .is_some_and(|(t, _)| *t + super::MVCC_HISTORY > now)
        });
        self.log(
            ctx,
            Level::Info,
            None,
            "ime load_evict complete".to_string(),
        );
    }

    /// `MemoryCheckAndEvict`: evicts Active regions, least read first,
    /// until the memory their eviction frees brings usage under
    /// `evict-threshold`.
    fn memory_check_and_evict(&mut self, ctx: &mut Ctx) {
        self.memory_check_scheduled = false;
        if self.mem_usage <= self.cfg.evict_threshold {
            return;
        }
        self.log(
            ctx,
            Level::Info,
            None,
            format!(
                "ime start memory usage check and evict, mem_usage(MB): {}",
                self.mem_usage >> 20
            ),
        );
        let mut active: Vec<(u64, CacheRegion)> = self
            .manager
            .regions
            .values()
            .filter(|m| m.state == RegionState::Active)
            .map(|m| {
                (
                    self.stats.get(&m.region.id).map_or(0, |s| s.iterated),
                    m.region,
                )
            })
            .collect();
        active.sort_by_key(|(it, r)| (*it, r.id));
        let mut remaining = self.mem_usage;
        for (_, r) in active {
            if remaining <= self.cfg.evict_threshold {
                break;
            }
            remaining -= self.bytes_in(r.start, r.end);
            self.evict(ctx, &r, EvictReason::MemoryLimitReached);
            if self.panicked() {
                return;
            }
        }
        self.log(
            ctx,
            Level::Info,
            None,
            "ime memory usage check and evict completes".to_string(),
        );
    }
}
