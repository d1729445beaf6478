//! The in-memory engine (IME), as TiKV builds it in
//! `components/in_memory_engine/` (`range_cache_memory_engine` in 2024) and
//! hooks it to raftstore in `components/hybrid_engine/src/observer/`.
//!
//! Each store's [`InMemoryEngine`] caches the hottest regions' data in
//! memory (TiKV's skiplist, a `BTreeMap` here) and serves reads from it when
//! the region is `Active` and the read's epoch matches:
//!
//! - [`region_manager`]: the metas, their states and TiKV's checks and
//!   assertions.
//! - [`background`]: the background tasks (`LoadRegion`, `DeleteRegions`,
//!   `Gc`, `TopRegionsLoadEvict`, `MemoryCheckAndEvict`) on TiKV's worker
//!   threads: `ime-bg` runs the runner and `MemoryCheckAndEvict`, `ime-load`
//!   (one thread, loads are sequential) loads, `ime-delete` deletes,
//!   `ime-gc` collects garbage, `ime-evict` picks the top regions.
//! - [`observer`]: `LoadEvictionObserver`, the coprocessor observers that
//!   feed the engine from raftstore's apply path (`prepare_for_apply` and
//!   the writes), splits, merges and role changes.
//!
//! Loads start when the top regions are picked: `load_region` inserts a
//! `Pending` meta; the next write the region applies runs
//! `prepare_for_apply`, which moves it to `Loading`, logs "ime region to
//! load", takes a RocksDB snapshot (the region's data as applied) and
//! schedules `LoadRegion`. When a TiKV assertion fails the engine records
//! an [`ImePanic`] and the store aborts ([`InMemoryEngine::take_panic`]).

pub mod background;
pub mod metrics;
pub mod observer;
pub mod region_manager;

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::env::pool::PoolConfig;
use crate::kernel::log::Level;
use crate::kernel::time::{Micros, MS, SEC};
use crate::memory::MemoryTrace;
use crate::proto::{Ctx, Key, RegionMeta};
use crate::raftstore::snap::RAW_RECORD_OVERHEAD_BYTES;
use crate::raftstore::storage::{KvData, RawValue};

pub use region_manager::{
    CacheRegion, CacheRegionMeta, EvictReason, FailedReason, ImePanic, LoadFailedReason,
    RegionManager, RegionState, SnapshotMeta, Transition,
};

/// `ime-bg`: the background runner (TiKV `Worker::new("ime-bg")`).
pub const IME_BG: PoolConfig = PoolConfig {
    name: "ime-bg",
    threads: 1,
};
/// `ime-load`: loads regions, one at a time (TiKV: "Range load now is
/// implemented sequentially, so we must use exactly one thread").
pub const IME_LOAD: PoolConfig = PoolConfig {
    name: "ime-load",
    threads: 1,
};
/// `ime-delete`: the delete-range runner.
pub const IME_DELETE: PoolConfig = PoolConfig {
    name: "ime-delete",
    threads: 1,
};
/// `ime-gc`: garbage collection of cached regions (one thread).
pub const IME_GC: PoolConfig = PoolConfig {
    name: "ime-gc",
    threads: 1,
};
/// `ime-evict`: `TopRegionsLoadEvict`.
pub const IME_EVICT: PoolConfig = PoolConfig {
    name: "ime-evict",
    threads: 1,
};
/// The engine's pools.
pub const POOLS: [PoolConfig; 5] = [IME_BG, IME_LOAD, IME_DELETE, IME_GC, IME_EVICT];

/// The engine's settings (TiKV `[in-memory-engine]`, config.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ImeConfig {
    /// `capacity`, bytes: the hard limit; a load stops there.
    pub capacity: u64,
    /// `evict-threshold`, bytes: `MemoryCheckAndEvict` evicts above it.
    pub evict_threshold: u64,
    /// `stop-load-threshold`, bytes: loads are canceled above it.
    pub stop_load_threshold: u64,
    /// `gc-run-interval`, virtual µs (TiKV default 180 s).
    pub gc_run_interval: Micros,
    /// `load-evict-interval`, virtual µs (TiKV default 300 s, at least 120 s).
    pub load_evict_interval: Micros,
    /// `mvcc-amplification-threshold` (TiKV default 10): a region whose reads
    /// iterate this many versions per returned key or more is a candidate.
    pub mvcc_amplification_threshold: u64,
    /// The region size loads are planned with (`expected_region_size`,
    /// raftstore's `region-split-size`), bytes.
    pub expected_region_size: u64,
    /// How fast `LoadRegion` copies a snapshot into memory, bytes per
    /// virtual second.
    pub load_bytes_per_sec: u64,
    /// A cached region is not auto-evicted before it was cached this long
    /// (`DEFAULT_EVICT_MIN_DURATION`), virtual µs.
    pub evict_min_duration: Micros,
    /// PR 17550 (`fix=id-check`).
    pub id_check: bool,
}

impl ImeConfig {
    /// TiKV's thresholds from the capacity (config.rs):
    /// `evict-threshold = capacity − min(capacity/10, 200 MiB)`,
    /// `stop-load-threshold = evict-threshold − min(15% of capacity,
    /// 2·region-split-size + 200 MiB)`. Other fields take TiKV's defaults.
    pub fn from_capacity(capacity: u64, region_split_size: u64) -> ImeConfig {
        let evict = capacity - (capacity / 10).min(200 << 20);
        let stop =
            evict.saturating_sub((capacity / 100 * 15).min(2 * region_split_size + (200 << 20)));
        ImeConfig {
            capacity,
            evict_threshold: evict,
            stop_load_threshold: stop,
            gc_run_interval: 180 * SEC,
            load_evict_interval: 300 * SEC,
            mvcc_amplification_threshold: 10,
            expected_region_size: region_split_size,
            load_bytes_per_sec: 64 << 20,
            evict_min_duration: 300 * SEC,
            id_check: true,
        }
    }
}

/// What the observers saw, for the engine to act on when the store runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImeEvent {
    /// A batch of writes applied to `region` (the keys written).
    Applied {
        /// The region as it is now.
        region: RegionMeta,
        /// Keys written, in apply order.
        keys: Vec<Key>,
    },
    /// A split applied: the source before it, the regions after.
    Split {
        /// The parent region before the split.
        source: CacheRegion,
        /// Every region of the split.
        new_regions: Vec<CacheRegion>,
    },
    /// A region to evict.
    Evict {
        /// The region as the observer saw it.
        region: CacheRegion,
        /// Why.
        reason: EvictReason,
    },
}

/// A read's use of one region over the current `load-evict-interval`
/// (TiKV's region stats from the coprocessor's `cop_detail`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegionReadStats {
    /// Reads served.
    pub reads: u64,
    /// Keys the reads returned (`processed_keys`).
    pub processed_keys: u64,
    /// MVCC versions the reads stepped over (`next + prev`).
    pub iterated: u64,
}

/// How long the versions a write adds stay for reads to step over (TiKV's
/// `gc.gc-life-time`, 10 min, scaled down): RocksDB's MVCC GC drops older
/// ones.
pub const MVCC_HISTORY: Micros = 20 * SEC;

impl RegionReadStats {
    /// `mvcc_amplification = (next + prev) / processed_keys`, integer.
    pub fn mvcc_amplification(&self) -> u64 {
        self.iterated / self.processed_keys.max(1)
    }
}

/// A "ime region to load" event, kept for the panic banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadScheduled {
    /// When, virtual µs.
    pub at: Micros,
    /// The region and epoch loaded.
    pub region: CacheRegion,
    /// The background task id.
    pub task: u64,
}

/// A `load_region` call and how it ended, for the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadRequest {
    /// When, virtual µs.
    pub at: Micros,
    /// The region asked for.
    pub region: CacheRegion,
    /// `None`: accepted; else why it was refused.
    pub refused: Option<LoadFailedReason>,
    /// It replaced a meta held under the same id (before PR 17550).
    pub replaced: Option<RegionState>,
}

/// The store abort an assertion caused, with what led to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImeAbort {
    /// When, virtual µs.
    pub at: Micros,
    /// The assertion.
    pub panic: ImePanic,
    /// The region the failing code was handling.
    pub region: Option<CacheRegion>,
    /// The loads scheduled for that region id before it.
    pub loads: Vec<LoadScheduled>,
}

/// One store's in-memory engine. See the module docs.
#[derive(Clone, Debug)]
pub struct InMemoryEngine {
    /// Store id.
    pub store: u64,
    /// Settings.
    pub cfg: ImeConfig,
    /// The region metas.
    pub manager: RegionManager,
    /// The cached data (TiKV's skiplist engine): key → value.
    pub skiplist: BTreeMap<Key, RawValue>,
    /// Bytes the skiplist holds (the memory controller's `mem_usage`).
    pub mem_usage: u64,
    /// Background tasks queued or running, by id.
    pub tasks: BTreeMap<u64, background::BgTaskRecord>,
    next_task: u64,
    /// Writes applied to Loading regions, replayed when their load ends.
    pub loading_writes: BTreeMap<u64, Vec<(Key, RawValue)>>,
    /// Read stats per region since the last `TopRegionsLoadEvict`.
    pub stats: BTreeMap<u64, RegionReadStats>,
    /// Writes each region applied per virtual second over the last
    /// [`MVCC_HISTORY`]: the versions its keys hold.
    pub recent_writes: BTreeMap<u64, VecDeque<(Micros, u64)>>,
    /// Regions the delete runner delayed (in GC), retried on its timer.
    pub delayed_deletes: Vec<CacheRegion>,
    /// A GC round runs.
    pub gc_running: bool,
    /// A `MemoryCheckAndEvict` is queued or running.
    pub memory_check_scheduled: bool,
    /// Recent "ime region to load" events.
    pub loads_scheduled: VecDeque<LoadScheduled>,
    /// Recent `load_region` calls.
    pub load_requests: VecDeque<LoadRequest>,
    /// Cache hits and misses in the current second.
    pub second_hits: (u64, u64),
    panic: Option<ImeAbort>,
}

const RECENT: usize = 32;

impl InMemoryEngine {
    /// An empty engine (at start and after a restart).
    pub fn new(store: u64, cfg: ImeConfig) -> InMemoryEngine {
        InMemoryEngine {
            store,
            cfg,
            manager: RegionManager::new(store, cfg.id_check),
            skiplist: BTreeMap::new(),
            mem_usage: 0,
            tasks: BTreeMap::new(),
            next_task: 1,
            loading_writes: BTreeMap::new(),
            stats: BTreeMap::new(),
            recent_writes: BTreeMap::new(),
            delayed_deletes: Vec::new(),
            gc_running: false,
            memory_check_scheduled: false,
            loads_scheduled: VecDeque::new(),
            load_requests: VecDeque::new(),
            second_hits: (0, 0),
            panic: None,
        }
    }

    fn log(&self, ctx: &Ctx, level: Level, region: Option<u64>, msg: String) {
        ctx.log("in_memory_engine", level, Some(self.store), region, msg);
    }

    /// The abort an assertion caused, once (the store then crashes).
    pub fn take_panic(&mut self) -> Option<ImeAbort> {
        self.panic.take()
    }

    /// True once an assertion failed (the store aborts after this event).
    pub fn panicked(&self) -> bool {
        self.panic.is_some()
    }

    /// Records a failed assertion with the region it concerns.
    fn abort(&mut self, ctx: &mut Ctx, p: ImePanic, region: Option<CacheRegion>) {
        if self.panic.is_some() {
            return;
        }
        ctx.count(metrics::IME_PANICS, 1);
        self.log(
            ctx,
            Level::Fatal,
            region.map(|r| r.id),
            format!("{}, location: {}", p.message.replace('\n', " "), p.location),
        );
        let loads = region
            .map(|r| {
                self.loads_scheduled
                    .iter()
                    .filter(|l| l.region.id == r.id)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        self.panic = Some(ImeAbort {
            at: ctx.now,
            panic: p,
            region,
            loads,
        });
    }

    /// Arms the engine's ticker (TiKV's `ime-ticker`): GC every
    /// `gc-run-interval`, `TopRegionsLoadEvict` every `load-evict-interval`.
    pub fn start_timers(&self, ctx: &mut Ctx) {
        let node = crate::kernel::effect::Node::Store(self.store);
        ctx.timer(
            node,
            self.cfg.gc_run_interval,
            crate::proto::Timer::ImeGcTick,
        );
        ctx.timer(
            node,
            self.cfg.load_evict_interval,
            crate::proto::Timer::ImeLoadEvictTick,
        );
    }

    /// Bytes one cached record takes.
    pub fn record_bytes(v: &RawValue) -> u64 {
        RAW_RECORD_OVERHEAD_BYTES + v.value_len as u64
    }

    fn put(&mut self, key: Key, v: RawValue) {
        if let Some(old) = self.skiplist.insert(key, v) {
            self.mem_usage -= Self::record_bytes(&old);
        }
        self.mem_usage += Self::record_bytes(&v);
    }

    /// Removes the cached data of `[start, end)`, returning the bytes freed.
    fn delete_range(&mut self, start: Key, end: Key) -> u64 {
        let keys: Vec<Key> = self.skiplist.range(start..end).map(|(k, _)| *k).collect();
        let mut freed = 0;
        for k in keys {
            if let Some(v) = self.skiplist.remove(&k) {
                freed += Self::record_bytes(&v);
            }
        }
        self.mem_usage -= freed;
        freed
    }

    /// `load_region` with its log lines and the page's record.
    pub fn load_region(&mut self, ctx: &mut Ctx, region: CacheRegion) {
        let held = self.manager.regions.get(&region.id).map(|m| m.state);
        match self.manager.load_region(ctx, region) {
            Err(p) => self.abort(ctx, p, Some(region)),
            Ok(result) => {
                let refused = result.err();
                let replaced = if refused.is_none() { held } else { None };
                if let Some(reason) = refused {
                    ctx.count(metrics::IME_LOADS_REFUSED, 1);
                    self.log(
                        ctx,
                        Level::Error,
                        Some(region.id),
                        format!("ime error loading range, cache_range: {region}, err: {reason:?}"),
                    );
                }
                if replaced.is_some() {
                    ctx.count(metrics::IME_METAS_REPLACED, 1);
                }
                if self.load_requests.len() == RECENT {
                    self.load_requests.pop_front();
                }
                self.load_requests.push_back(LoadRequest {
                    at: ctx.now,
                    region,
                    refused,
                    replaced,
                });
            }
        }
    }

    /// Handles what the observers saw. `data_of` gives a region's applied
    /// data on this store (the RocksDB snapshot a load copies).
    pub fn on_events(
        &mut self,
        ctx: &mut Ctx,
        events: Vec<ImeEvent>,
        data_of: &dyn Fn(u64) -> Option<KvData>,
    ) {
        for e in events {
            if self.panicked() {
                return;
            }
            match e {
                ImeEvent::Applied { region, keys } => self.on_applied(ctx, &region, &keys, data_of),
                ImeEvent::Split {
                    source,
                    new_regions,
                } => {
                    if let Err(p) = self.manager.split_region(ctx, &source, new_regions) {
                        self.abort(ctx, p, Some(source));
                    }
                }
                ImeEvent::Evict { region, reason } => {
                    if reason == EvictReason::Merge {
                        self.log(
                            ctx,
                            Level::Info,
                            Some(region.id),
                            format!("ime evict range due to apply commands, region: {region}"),
                        );
                    }
                    self.evict(ctx, &region, reason);
                }
            }
        }
    }

    /// `evict_region` and `DeleteRegions` for what can go at once.
    pub fn evict(&mut self, ctx: &mut Ctx, region: &CacheRegion, reason: EvictReason) {
        match self.manager.evict_region(ctx, region, reason) {
            Ok(deletable) if !deletable.is_empty() => {
                self.schedule(ctx, background::BgTask::DeleteRegions(deletable));
            }
            Ok(_) => {}
            Err(p) => self.abort(ctx, p, Some(*region)),
        }
    }

    /// `prepare_for_apply` (engine.rs) and the write batch: a Pending meta
    /// becomes Loading and its `LoadRegion` is scheduled with a snapshot of
    /// the region's data; writes go to the skiplist for an Active region and
    /// wait for the load for a Loading one.
    fn on_applied(
        &mut self,
        ctx: &mut Ctx,
        region: &RegionMeta,
        keys: &[Key],
        data_of: &dyn Fn(u64) -> Option<KvData>,
    ) {
        let cr = CacheRegion::from_region(region);
        let sec = ctx.now / SEC * SEC;
        let w = self.recent_writes.entry(cr.id).or_default();
        match w.back_mut() {
            Some((t, n)) if *t == sec => *n += keys.len() as u64,
            _ => w.push_back((sec, keys.len() as u64)),
        }
        while w.front().is_some_and(|(t, _)| *t + MVCC_HISTORY <= sec) {
            w.pop_front();
        }
        let Some(meta) = self.manager.regions.get(&cr.id) else {
            return;
        };
        let mut state = meta.state;
        if state == RegionState::Pending && meta.region.epoch_version < cr.epoch_version {
            // An outdated Pending meta: updated if its range holds the
            // region's, dropped otherwise.
            let old = meta.region;
            if let Err(p) = self.manager.remove_region(ctx, cr.id) {
                return self.abort(ctx, p, Some(cr));
            }
            if old.contains_range(&cr) {
                self.log(
                    ctx,
                    Level::Info,
                    Some(cr.id),
                    format!(
                        "ime update outdated pending region, current_meta: {old}, new_region: {cr}"
                    ),
                );
                match self.manager.load_region(ctx, cr) {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(p) => return self.abort(ctx, p, Some(cr)),
                }
            } else {
                self.log(
                    ctx,
                    Level::Info,
                    Some(cr.id),
                    format!("ime remove outdated pending region, pending_region: {old}, new_region: {cr}"),
                );
                return;
            }
        }
        if state == RegionState::Pending {
            if let Err(p) = self.manager.set_state(ctx, cr.id, RegionState::Loading) {
                return self.abort(ctx, p, Some(cr));
            }
            let cached = self.manager.regions.len();
            self.log(
                ctx,
                Level::Info,
                Some(cr.id),
                format!("ime region to load, region: {cr}, cached: {cached}"),
            );
            ctx.count(metrics::IME_LOADS_SCHEDULED, 1);
            let snapshot = data_of(cr.id).unwrap_or_default();
            let task = self.schedule(
                ctx,
                background::BgTask::LoadRegion {
                    region: cr,
                    snapshot,
                },
            );
            if self.loads_scheduled.len() == RECENT {
                self.loads_scheduled.pop_front();
            }
            self.loads_scheduled.push_back(LoadScheduled {
                at: ctx.now,
                region: cr,
                task,
            });
            state = RegionState::Loading;
        }
        let values: Vec<(Key, RawValue)> = match data_of(cr.id) {
            Some(data) => keys
                .iter()
                .filter_map(|k| data.get(k).map(|v| (*k, *v)))
                .collect(),
            None => return,
        };
        match state {
            RegionState::Active => {
                for (k, v) in values {
                    self.put(k, v);
                }
                self.check_memory(ctx);
            }
            RegionState::Loading => self.loading_writes.entry(cr.id).or_default().extend(values),
            _ => {}
        }
    }

    /// Schedules `MemoryCheckAndEvict` when memory passed `evict-threshold`
    /// (the memory controller's `acquire`).
    fn check_memory(&mut self, ctx: &mut Ctx) {
        if self.mem_usage > self.cfg.evict_threshold && !self.memory_check_scheduled {
            self.memory_check_scheduled = true;
            self.schedule(ctx, background::BgTask::MemoryCheckAndEvict);
        }
    }

    /// A read at `read_ts` of `region` (as the leader has it now): a cache
    /// snapshot if `region_snapshot` allows, else the reason (the read then
    /// goes to RocksDB). Counts hits and misses.
    pub fn snapshot(
        &mut self,
        ctx: &mut Ctx,
        region: &RegionMeta,
        read_ts: u64,
    ) -> Result<SnapshotMeta, FailedReason> {
        let r = self
            .manager
            .region_snapshot(region.id, region.version, read_ts)
            .map(|()| SnapshotMeta {
                region: CacheRegion::from_region(region),
                snapshot_ts: read_ts,
            });
        match &r {
            Ok(_) => {
                ctx.count(metrics::IME_CACHE_HITS, 1);
                self.second_hits.0 += 1;
            }
            Err(_) => {
                ctx.count(metrics::IME_CACHE_MISSES, 1);
                self.second_hits.1 += 1;
            }
        }
        r
    }

    /// Counts a read of `region` returning `keys` keys for the top-regions
    /// pick: it iterated every version its keys hold (one plus the writes
    /// the region took over the last [`MVCC_HISTORY`], spread over its
    /// keys), or one version per key when served from the cache (its GC
    /// keeps them short). Returns the versions per key the read stepped
    /// over.
    pub fn record_read(
        &mut self,
        now: Micros,
        region_id: u64,
        keys: u64,
        region_keys: u64,
        from_cache: bool,
    ) -> u64 {
        let written: u64 = self.recent_writes.get(&region_id).map_or(0, |w| {
            w.iter()
                .filter(|(t, _)| *t + MVCC_HISTORY > now)
                .map(|(_, n)| n)
                .sum()
        });
        let s = self.stats.entry(region_id).or_default();
        s.reads += 1;
        s.processed_keys += keys;
        let versions = if from_cache {
            1
        } else {
            1 + written / region_keys.max(1)
        };
        s.iterated += keys * versions;
        versions
    }

    /// A read released its cache snapshot (`remove_region_snapshot`); an
    /// evicted region no read holds any more is deleted.
    pub fn release_snapshot(&mut self, ctx: &mut Ctx, snap: SnapshotMeta) {
        if self.panicked() {
            return;
        }
        match self.manager.remove_region_snapshot(ctx, &snap) {
            Ok(deletable) if !deletable.is_empty() => {
                self.schedule(ctx, background::BgTask::DeleteRegions(deletable));
            }
            Ok(_) => {}
            Err(p) => self.abort(ctx, p, Some(snap.region)),
        };
    }

    /// The cached value of `key` (a read with a cache snapshot).
    pub fn get(&self, key: Key) -> Option<RawValue> {
        self.skiplist.get(&key).copied()
    }

    /// Ends a virtual second: the hit and miss counts roll over; returns
    /// (hits, misses) of the second.
    pub fn roll_second(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.second_hits)
    }

    /// Regions in the Active state.
    pub fn cached_regions(&self) -> usize {
        self.manager
            .regions
            .values()
            .filter(|m| m.state == RegionState::Active)
            .count()
    }

    /// The engine's memory trace node (`in_memory_engine`: the skiplist's
    /// records).
    pub fn memory_trace(&self) -> MemoryTrace {
        MemoryTrace::leaf("in_memory_engine", self.mem_usage)
    }

    /// Time `LoadRegion` takes to copy `bytes`, virtual µs.
    fn load_cost(&self, bytes: u64) -> Micros {
        (bytes.saturating_mul(SEC) / self.cfg.load_bytes_per_sec.max(1)).max(MS)
    }
}
