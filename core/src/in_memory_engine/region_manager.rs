//! The in-memory engine's region metadata, as TiKV's
//! `components/in_memory_engine/src/region_manager.rs` keeps it (named
//! `range_cache_memory_engine/src/range_manager.rs` when the 2024 bugs were
//! reported; the code here follows that file at `d2bf2b0510~1`, the parent
//! of PR 17550, and PR 17550's change behind [`RegionManager::id_check`]).
//!
//! Every cached region has a [`CacheRegionMeta`] in `regions`, keyed by
//! region **id**, and an entry `end key → id` in `regions_by_range`. Range
//! lookups walk `regions_by_range` from the first end key after a start key
//! and read each id's meta from `regions`, stopping at the first meta that
//! starts at or after the range's end, exactly as TiKV's
//! `iter_overlapped_regions`. Before PR 17550 nothing stopped a load from
//! inserting a second meta under an id that still had one (an evicting
//! region whose id came back through merge and split with a range that does
//! not overlap the old one): `regions.insert(id, meta)` replaced it and
//! `regions_by_range` kept the old end key pointing at the id, so later range
//! lookups read the wrong meta.
//!
//! TiKV's assertions are kept as [`ImePanic`] results: the store aborts with
//! the assertion's message (the simulator restarts it), never the simulator.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Bound::{Excluded, Unbounded};

use serde::Serialize;

use crate::kernel::log::Level;
use crate::kernel::time::Micros;
use crate::proto::{Ctx, Key, RegionMeta};

/// TiKV's `RegionState` (region_manager.rs): where a cached region is in its
/// life. Legal changes are those of [`RegionState::can_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RegionState {
    /// Waiting to be loaded; its epoch may be older than raftstore's.
    Pending,
    /// `prepare_for_apply` scheduled its `LoadRegion`; writes are kept.
    Loading,
    /// Cached and serving reads (TiKV's `as_str`: "cached").
    Active,
    /// To be evicted, but its load may still be running.
    LoadingCanceled,
    /// To be evicted, but snapshots (reads) still hold it.
    PendingEvict,
    /// `DeleteRegions` is running; removed when it finishes.
    Evicting,
}

impl RegionState {
    /// Every state, in TiKV's order (`Pending = 0` … `Evicting = 5`).
    pub const ALL: [RegionState; 6] = [
        RegionState::Pending,
        RegionState::Loading,
        RegionState::Active,
        RegionState::LoadingCanceled,
        RegionState::PendingEvict,
        RegionState::Evicting,
    ];

    /// TiKV's `is_evict`: `LoadingCanceled | PendingEvict | Evicting`.
    pub fn is_evict(self) -> bool {
        matches!(
            self,
            RegionState::LoadingCanceled | RegionState::PendingEvict | RegionState::Evicting
        )
    }

    /// TiKV's `validate_update_region_state`: the states this one may
    /// change to.
    pub fn can_become(self) -> &'static [RegionState] {
        use RegionState::*;
        match self {
            Pending => &[Loading],
            Loading => &[Active, LoadingCanceled, Evicting],
            Active => &[PendingEvict],
            LoadingCanceled => &[PendingEvict, Evicting],
            PendingEvict => &[Evicting],
            Evicting => &[],
        }
    }

    /// The name TiKV's `Debug` prints (`Active`, `LoadingCanceled`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RegionState::Pending => "Pending",
            RegionState::Loading => "Loading",
            RegionState::Active => "Active",
            RegionState::LoadingCanceled => "LoadingCanceled",
            RegionState::PendingEvict => "PendingEvict",
            RegionState::Evicting => "Evicting",
        }
    }
}

/// TiKV's `CacheRegion` (engine_traits): a region as the engine knows it,
/// its id, epoch version and range `[start, end)` (keys; `end = Key::MAX` is
/// +inf, TiKV's data end key of an empty end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CacheRegion {
    /// Region id.
    pub id: u64,
    /// Region epoch version.
    pub epoch_version: u64,
    /// First key.
    pub start: Key,
    /// End key (exclusive).
    pub end: Key,
}

impl CacheRegion {
    /// `CacheRegion::from_region`.
    pub fn from_region(r: &RegionMeta) -> CacheRegion {
        CacheRegion {
            id: r.id,
            epoch_version: r.version,
            start: r.start_key,
            end: r.end_key,
        }
    }

    /// True if `other`'s range lies within this one.
    pub fn contains_range(&self, other: &CacheRegion) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// True if the two ranges share a key.
    pub fn overlaps(&self, other: &CacheRegion) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for CacheRegion {
    /// As TiKV's `Debug` of `CacheRegion` prints it in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end == Key::MAX {
            "+inf".to_string()
        } else {
            self.end.to_string()
        };
        write!(
            f,
            "CacheRegion {{ id: {}, epoch_version: {}, range: [{}, {}) }}",
            self.id, self.epoch_version, self.start, end
        )
    }
}

/// TiKV's `EvictReason` (engine_traits), the ones the simulator raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EvictReason {
    /// The load was canceled after it started.
    LoadFailed,
    /// The load was canceled before it started.
    LoadFailedWithoutStart,
    /// Memory passed `evict-threshold` (`MemoryCheckAndEvict`).
    MemoryLimitReached,
    /// The leader stepped down.
    BecomeFollower,
    /// No longer among the top regions (`TopRegionsLoadEvict`).
    AutoEvict,
    /// `PrepareMerge` or `CommitMerge` applied ("ime evict range due to apply commands").
    Merge,
    /// A Raft snapshot was applied over the region.
    ApplySnapshot,
    /// The peer was destroyed.
    PeerDestroy,
}

/// TiKV's `LoadFailedReason`: why `load_region` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LoadFailedReason {
    /// An `Active` region overlaps.
    Overlapped,
    /// A `Pending` or `Loading` region overlaps.
    PendingRange,
    /// An evicting region overlaps (or, with PR 17550, has the same id).
    Evicting,
}

/// TiKV's `FailedReason`: why a read could not use the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FailedReason {
    /// No `Active` meta for the region id.
    NotCached,
    /// The cached epoch version differs from the read's.
    EpochNotMatch,
    /// The read's timestamp is at or below the region's GC safe point.
    TooOldRead,
}

/// A failed TiKV assertion in the in-memory engine: the store's process
/// aborts with it (`tikv_util::set_panic_hook` logs it as FATAL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImePanic {
    /// The assertion's message as Rust prints it (`assertion \`left ==
    /// right\` failed` with `left` and `right`, or the formatted message).
    pub message: String,
    /// Where it fires in TiKV (file and function at `d2bf2b0510~1`).
    pub location: &'static str,
}

impl ImePanic {
    fn assert_eq(
        location: &'static str,
        left: impl fmt::Debug,
        right: impl fmt::Debug,
    ) -> ImePanic {
        ImePanic {
            message: format!(
                "assertion `left == right` failed\n  left: {left:?}\n right: {right:?}"
            ),
            location,
        }
    }

    /// `Option::unwrap` on `None` at `location`.
    pub fn unwrap_none(location: &'static str) -> ImePanic {
        ImePanic::new(location, "called `Option::unwrap()` on a `None` value")
    }

    fn new(location: &'static str, message: impl Into<String>) -> ImePanic {
        ImePanic {
            message: message.into(),
            location,
        }
    }
}

/// A snapshot of a cached region held by a read (TiKV's
/// `RegionCacheSnapshotMeta`): the region as the read saw it and its read ts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The region, with the epoch the snapshot was taken at.
    pub region: CacheRegion,
    /// The read's timestamp.
    pub snapshot_ts: u64,
}

/// One cached region's metadata (TiKV's `CacheRegionMeta`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRegionMeta {
    /// The region as cached.
    pub region: CacheRegion,
    /// Active snapshots: read ts → count (`SnapshotList`).
    pub snapshots: BTreeMap<u64, u64>,
    /// GC safe point.
    pub safe_point: u64,
    /// State.
    pub state: RegionState,
    /// A GC task runs on it (`in_gc`): its deletion waits.
    pub in_gc: bool,
    /// Why and since when it is evicted (`evict_info`), virtual µs.
    pub evict_info: Option<(EvictReason, Micros)>,
    /// When the meta was created, virtual µs.
    pub since: Micros,
}

impl CacheRegionMeta {
    fn new(region: CacheRegion, now: Micros) -> CacheRegionMeta {
        CacheRegionMeta {
            region,
            snapshots: BTreeMap::new(),
            safe_point: 0,
            state: RegionState::Pending,
            in_gc: false,
            evict_info: None,
            since: now,
        }
    }

    /// Number of snapshots reads hold on it.
    pub fn snapshot_count(&self) -> u64 {
        self.snapshots.values().sum()
    }
}

impl fmt::Display for CacheRegionMeta {
    /// As TiKV's `Debug` of `CacheRegionMeta` prints it in logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CacheRegionMeta {{ region: {}, state: {}, safe_point: {}, in_gc: {} }}",
            self.region,
            self.state.name(),
            self.safe_point,
            self.in_gc
        )
    }
}

/// One state change of a meta, for the page's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When, virtual µs.
    pub at: Micros,
    /// Region id.
    pub region_id: u64,
    /// Epoch version of the meta.
    pub epoch: u64,
    /// From (`None`: a new meta, `Pending`).
    pub from: Option<RegionState>,
    /// To (`None`: the meta left the map).
    pub to: Option<RegionState>,
    /// The meta left because a load inserted another under its id (before
    /// PR 17550), not because it was removed.
    pub replaced: bool,
}

/// How many recent transitions a store keeps for its view.
pub const TRANSITIONS_KEPT: usize = 48;

/// The region metadata of one store's in-memory engine (TiKV's
/// `RegionManager` with its `RegionMetaMap`).
#[derive(Clone, Debug, Default)]
pub struct RegionManager {
    /// The store, for log lines.
    pub store: u64,
    /// region id → meta (`RegionMetaMap::regions`).
    pub regions: BTreeMap<u64, CacheRegionMeta>,
    /// end key → region id (`RegionMetaMap::regions_by_range`).
    pub regions_by_range: BTreeMap<Key, u64>,
    /// Metas of split regions that reads still hold, by (end key, epoch
    /// version) (`historical_regions`).
    pub historical_regions: BTreeMap<(Key, u64), CacheRegionMeta>,
    /// PR 17550: `load_region` refuses a region whose id already has a meta,
    /// and `new_region_meta` asserts no meta and no end key is replaced.
    pub id_check: bool,
    /// The last [`TRANSITIONS_KEPT`] state changes.
    pub transitions: VecDeque<Transition>,
}

const RM: &str = "components/range_cache_memory_engine/src/range_manager.rs";

impl RegionManager {
    /// An empty manager for store `store`.
    pub fn new(store: u64, id_check: bool) -> RegionManager {
        RegionManager {
            store,
            id_check,
            ..Default::default()
        }
    }

    fn log(&self, ctx: &Ctx, level: Level, region: Option<u64>, msg: String) {
        ctx.log("in_memory_engine", level, Some(self.store), region, msg);
    }

    fn record(&mut self, t: Transition) {
        if self.transitions.len() == TRANSITIONS_KEPT {
            self.transitions.pop_front();
        }
        self.transitions.push_back(t);
    }

    /// `CacheRegionMeta::set_state`: asserts the change is legal
    /// (`validate_update_region_state`) and logs "ime update region meta
    /// state".
    pub fn set_state(
        &mut self,
        ctx: &Ctx,
        id: u64,
        new_state: RegionState,
    ) -> Result<(), ImePanic> {
        let Some(meta) = self.regions.get_mut(&id) else {
            return Err(ImePanic::unwrap_none(RM));
        };
        let old = meta.state;
        if !old.can_become().contains(&new_state) {
            return Err(ImePanic::new(
                "range_manager.rs CacheRegionMeta::set_state",
                "assertion failed: self.validate_update_region_state(new_state)",
            ));
        }
        meta.state = new_state;
        let region = meta.region;
        self.log(
            ctx,
            Level::Info,
            Some(id),
            format!(
                "ime update region meta state, region_id: {id}, epoch: {}, current_state: {}, new_state: {}",
                region.epoch_version,
                old.name(),
                new_state.name()
            ),
        );
        self.record(Transition {
            at: ctx.now,
            region_id: id,
            epoch: region.epoch_version,
            from: Some(old),
            to: Some(new_state),
            replaced: false,
        });
        Ok(())
    }

    /// `mark_evict`: asserts the meta is Loading, Active or LoadingCanceled,
    /// moves it to `state` (PendingEvict or Evicting) and records why.
    fn mark_evict(
        &mut self,
        ctx: &Ctx,
        id: u64,
        state: RegionState,
        reason: EvictReason,
    ) -> Result<(), ImePanic> {
        let cur = self.regions.get(&id).map(|m| m.state);
        if !matches!(
            cur,
            Some(RegionState::Loading | RegionState::Active | RegionState::LoadingCanceled)
        ) {
            return Err(ImePanic::new(
                "range_manager.rs CacheRegionMeta::mark_evict",
                format!(
                    "assertion failed: `{}` does not match `Loading | Active | LoadingCanceled`",
                    cur.map_or("None", RegionState::name)
                ),
            ));
        }
        self.set_state(ctx, id, state)?;
        if let Some(m) = self.regions.get_mut(&id) {
            m.evict_info = Some((reason, ctx.now));
        }
        Ok(())
    }

    /// `regions[id]`: TiKV indexes the map and panics on a missing id.
    fn meta_at(&self, id: u64) -> Result<&CacheRegionMeta, ImePanic> {
        self.regions
            .get(&id)
            .ok_or_else(|| ImePanic::new(RM, "no entry found for key"))
    }

    /// `iter_overlapped_regions`: the ids met walking `regions_by_range`
    /// from the first end key after `region.start`, reading each id's meta,
    /// until a meta starts at or after `region.end`. `f` returns false to
    /// stop early.
    fn iter_overlapped(
        &self,
        region: &CacheRegion,
        mut f: impl FnMut(&CacheRegionMeta) -> bool,
    ) -> Result<(), ImePanic> {
        for (_, id) in self
            .regions_by_range
            .range((Excluded(region.start), Unbounded))
        {
            let meta = self.meta_at(*id)?;
            if meta.region.start >= region.end {
                break;
            }
            if !f(meta) {
                break;
            }
        }
        Ok(())
    }

    /// The ids `iter_overlapped_regions` meets for `region`, in key order.
    pub fn overlapped_ids(&self, region: &CacheRegion) -> Result<Vec<u64>, ImePanic> {
        let mut ids = Vec::new();
        self.iter_overlapped(region, |m| {
            ids.push(m.region.id);
            true
        })?;
        Ok(ids)
    }

    /// `on_all_overlapped_regions`: the meta under `region`'s id when its
    /// epoch is the same (the fast path), else every meta the range walk
    /// meets.
    pub fn on_all_overlapped(&self, region: &CacheRegion) -> Result<Vec<u64>, ImePanic> {
        match self.regions.get(&region.id) {
            Some(m) if m.region.epoch_version == region.epoch_version => Ok(vec![region.id]),
            _ => self.overlapped_ids(region),
        }
    }

    /// `overlaps_with`: the first meta after `region.start` starts before
    /// its end.
    fn overlaps_with(&self, region: &CacheRegion) -> Result<bool, ImePanic> {
        if let Some((_, id)) = self
            .regions_by_range
            .range((Excluded(region.start), Unbounded))
            .next()
        {
            return Ok(self.meta_at(*id)?.region.start < region.end);
        }
        Ok(false)
    }

    /// `new_region_meta`: inserts `meta` under its id and end key. Before PR
    /// 17550 both inserts replace silently; with it they assert nothing was
    /// there (`old_meta: {:?}`, `old_region_id: {}`).
    fn new_region_meta(&mut self, ctx: &Ctx, meta: CacheRegionMeta) -> Result<(), ImePanic> {
        if self.overlaps_with(&meta.region)? {
            return Err(ImePanic::new(
                "range_manager.rs RegionMetaMap::new_region_meta",
                "assertion failed: !self.overlaps_with(&meta.region)",
            ));
        }
        let id = meta.region.id;
        let end = meta.region.end;
        let epoch = meta.region.epoch_version;
        let state = meta.state;
        let old_meta = self.regions.insert(id, meta);
        if self.id_check {
            if let Some(old) = old_meta {
                return Err(ImePanic::new(
                    "range_manager.rs RegionMetaMap::new_region_meta",
                    format!("old_meta: {old}"),
                ));
            }
        } else if let Some(old) = &old_meta {
            // Nothing in TiKV noticed this before PR 17550; the simulator
            // records it for the page.
            self.record(Transition {
                at: ctx.now,
                region_id: id,
                epoch: old.region.epoch_version,
                from: Some(old.state),
                to: None,
                replaced: true,
            });
        }
        let old_id = self.regions_by_range.insert(end, id);
        if self.id_check {
            if let Some(old) = old_id {
                return Err(ImePanic::new(
                    "range_manager.rs RegionMetaMap::new_region_meta",
                    format!("old_region_id: {old}"),
                ));
            }
        }
        self.record(Transition {
            at: ctx.now,
            region_id: id,
            epoch,
            from: None,
            to: Some(state),
            replaced: false,
        });
        Ok(())
    }

    /// `remove_region`: removes the id's meta and the end key of *that*
    /// meta. TiKV unwraps the lookup.
    pub fn remove_region(&mut self, ctx: &Ctx, id: u64) -> Result<CacheRegionMeta, ImePanic> {
        let meta = self
            .regions
            .remove(&id)
            .ok_or_else(|| ImePanic::unwrap_none(RM))?;
        self.regions_by_range.remove(&meta.region.end);
        self.record(Transition {
            at: ctx.now,
            region_id: id,
            epoch: meta.region.epoch_version,
            from: Some(meta.state),
            to: None,
            replaced: false,
        });
        Ok(meta)
    }

    /// `check_overlap_with_region`: the state of an overlapping meta, after
    /// removing overlapping Pending metas of an older epoch. With PR 17550 a
    /// meta with the same id counts as overlapping.
    fn check_overlap_with_region(
        &mut self,
        ctx: &Ctx,
        region: &CacheRegion,
    ) -> Result<Option<RegionState>, ImePanic> {
        let mut removed = Vec::new();
        let mut overlapped = None;
        let mut warn = None;
        self.iter_overlapped(region, |meta| {
            if meta.state == RegionState::Pending
                && meta.region.epoch_version < region.epoch_version
            {
                removed.push(meta.region.id);
                return true;
            }
            warn = Some(meta.to_string());
            overlapped = Some(meta.state);
            false
        })?;
        if let Some(exist) = warn {
            self.log(
                ctx,
                Level::Warn,
                Some(region.id),
                format!("ime load region overlaps with existing region, region: {region}, exist_meta: {exist}"),
            );
        }
        if !removed.is_empty() {
            self.log(
                ctx,
                Level::Info,
                Some(region.id),
                format!(
                    "ime load region meet pending region with stale epoch, removed, region: {region}, stale_regions: {removed:?}"
                ),
            );
        }
        for id in removed {
            self.remove_region(ctx, id)?;
        }
        if overlapped.is_some() {
            return Ok(overlapped);
        }
        if self.id_check {
            // PR 17550: "we do not load it for implementation simplicity as
            // this kind of scenario should be very rare".
            if let Some(m) = self.regions.get(&region.id) {
                return Ok(Some(m.state));
            }
        }
        Ok(None)
    }

    /// `load_region`: inserts a Pending meta for `region` unless a region
    /// overlaps (or, with PR 17550, has its id); logs "ime load new region".
    pub fn load_region(
        &mut self,
        ctx: &Ctx,
        region: CacheRegion,
    ) -> Result<Result<(), LoadFailedReason>, ImePanic> {
        use RegionState::*;
        if let Some(state) = self.check_overlap_with_region(ctx, &region)? {
            return Ok(Err(match state {
                Pending | Loading => LoadFailedReason::PendingRange,
                Active => LoadFailedReason::Overlapped,
                LoadingCanceled | PendingEvict | Evicting => LoadFailedReason::Evicting,
            }));
        }
        self.log(
            ctx,
            Level::Info,
            Some(region.id),
            format!("ime load new region, region: {region}"),
        );
        self.new_region_meta(ctx, CacheRegionMeta::new(region, ctx.now))?;
        Ok(Ok(()))
    }

    /// `region_snapshot`: a read at `read_ts` may use the cache if the id's
    /// meta is Active, of the same epoch version, and `read_ts` is above its
    /// safe point; the snapshot is then counted on the meta.
    pub fn region_snapshot(
        &mut self,
        id: u64,
        epoch: u64,
        read_ts: u64,
    ) -> Result<(), FailedReason> {
        let Some(meta) = self.regions.get_mut(&id) else {
            return Err(FailedReason::NotCached);
        };
        if meta.state != RegionState::Active {
            return Err(FailedReason::NotCached);
        }
        if meta.region.epoch_version != epoch {
            return Err(FailedReason::EpochNotMatch);
        }
        if read_ts <= meta.safe_point {
            return Err(FailedReason::TooOldRead);
        }
        *meta.snapshots.entry(read_ts).or_insert(0) += 1;
        Ok(())
    }

    fn remove_from_list(list: &mut BTreeMap<u64, u64>, ts: u64) -> Result<(), ImePanic> {
        let Some(count) = list.get_mut(&ts) else {
            return Err(ImePanic::unwrap_none(
                "range_manager.rs SnapshotList::remove_snapshot",
            ));
        };
        *count -= 1;
        if *count == 0 {
            list.remove(&ts);
        }
        Ok(())
    }

    fn overlaps_with_historical(&self, region: &CacheRegion) -> bool {
        self.historical_regions
            .range((Excluded((region.start, u64::MAX)), Unbounded))
            .any(|(_, m)| m.region.start < region.end)
    }

    fn ready_to_evict(&self, meta: &CacheRegionMeta) -> bool {
        meta.state == RegionState::PendingEvict
            && meta.snapshots.is_empty()
            && !self.overlaps_with_historical(&meta.region)
    }

    /// `remove_region_snapshot`: a read released its snapshot. Returns the
    /// regions that became deletable (PendingEvict with no snapshot left,
    /// now Evicting). A snapshot of an older epoch must be in
    /// `historical_regions` (TiKV unwraps it).
    pub fn remove_region_snapshot(
        &mut self,
        ctx: &Ctx,
        snap: &SnapshotMeta,
    ) -> Result<Vec<CacheRegion>, ImePanic> {
        let id = snap.region.id;
        if let Some(meta) = self.regions.get_mut(&id) {
            if meta.region.epoch_version == snap.region.epoch_version {
                Self::remove_from_list(&mut meta.snapshots, snap.snapshot_ts)?;
                let meta = &self.regions[&id];
                if self.ready_to_evict(meta) {
                    let r = meta.region;
                    self.set_state(ctx, id, RegionState::Evicting)?;
                    return Ok(vec![r]);
                }
                return Ok(vec![]);
            }
        }
        let key = (snap.region.end, snap.region.epoch_version);
        let Some(hist) = self.historical_regions.get_mut(&key) else {
            return Err(ImePanic::unwrap_none(
                "range_manager.rs RegionManager::remove_region_snapshot",
            ));
        };
        Self::remove_from_list(&mut hist.snapshots, snap.snapshot_ts)?;
        let mut deletable = Vec::new();
        if hist.snapshots.is_empty() {
            self.historical_regions.remove(&key);
            let mut candidates = Vec::new();
            self.iter_overlapped(&snap.region, |m| {
                if matches!(m.state, RegionState::PendingEvict | RegionState::Evicting) {
                    candidates.push(m.region.id);
                }
                true
            })?;
            for cid in candidates {
                let m = self.meta_at(cid)?;
                if m.state != RegionState::PendingEvict {
                    return Err(ImePanic::assert_eq(
                        "range_manager.rs RegionManager::remove_region_snapshot",
                        m.state,
                        RegionState::PendingEvict,
                    ));
                }
                if self.ready_to_evict(m) {
                    deletable.push(m.region);
                }
            }
            for r in &deletable {
                self.set_state(ctx, r.id, RegionState::Evicting)?;
            }
        }
        Ok(deletable)
    }

    /// `evict_region`: evicts the metas `evict` covers (by id when the epoch
    /// matches, else by range). Returns the regions that can be deleted now.
    pub fn evict_region(
        &mut self,
        ctx: &Ctx,
        evict: &CacheRegion,
        reason: EvictReason,
    ) -> Result<Vec<CacheRegion>, ImePanic> {
        let ids = self.on_all_overlapped(evict)?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.log(
            ctx,
            Level::Info,
            Some(evict.id),
            format!("ime try to evict region, evict_region: {evict}, reason: {reason:?}"),
        );
        let mut deletable = Vec::new();
        for id in ids {
            if let Some(r) = self.do_evict_region(ctx, id, evict, reason)? {
                deletable.push(r);
            }
        }
        Ok(deletable)
    }

    /// `do_evict_region`: Pending is removed; an evicting meta is left;
    /// Active → PendingEvict (→ Evicting at once without snapshots);
    /// Loading → LoadingCanceled.
    fn do_evict_region(
        &mut self,
        ctx: &Ctx,
        id: u64,
        evict: &CacheRegion,
        reason: EvictReason,
    ) -> Result<Option<CacheRegion>, ImePanic> {
        let meta = self.meta_at(id)?;
        let prev = meta.state;
        let region = meta.region;
        if !region.overlaps(evict) {
            return Err(ImePanic::new(
                "range_manager.rs RegionManager::do_evict_region",
                format!("meta: {meta}, evict_region: {evict}"),
            ));
        }
        if prev == RegionState::Pending {
            self.remove_region(ctx, id)?;
            self.log(
                ctx,
                Level::Info,
                Some(id),
                format!("ime evict overlap pending region, reason: {reason:?}, target_region: {evict}, overlap_region: {region}, state: Pending"),
            );
            return Ok(None);
        }
        if prev.is_evict() {
            self.log(
                ctx,
                Level::Info,
                Some(id),
                format!(
                    "ime region already evicted, region: {region}, state: {}",
                    prev.name()
                ),
            );
            return Ok(None);
        }
        if prev == RegionState::Active {
            self.mark_evict(ctx, id, RegionState::PendingEvict, reason)?;
        } else {
            self.set_state(ctx, id, RegionState::LoadingCanceled)?;
        }
        let now_state = self.regions[&id].state;
        self.log(
            ctx,
            Level::Info,
            Some(id),
            format!(
                "ime evict overlap region, reason: {reason:?}, target_region: {evict}, overlap_region: {region}, state: {}, new_state: {}",
                prev.name(),
                now_state.name()
            ),
        );
        if now_state == RegionState::PendingEvict && self.ready_to_evict(&self.regions[&id]) {
            self.set_state(ctx, id, RegionState::Evicting)?;
            return Ok(Some(region));
        }
        Ok(None)
    }

    /// `DeleteRangeRunner::run`'s checks, then `on_delete_regions`: each
    /// region's meta must be Evicting at the same epoch; it is removed
    /// ("ime remove evicted region", "ime range eviction done").
    pub fn on_delete_regions(
        &mut self,
        ctx: &Ctx,
        regions: &[CacheRegion],
    ) -> Result<(), ImePanic> {
        const AT: &str = "background.rs DeleteRangeRunner::run";
        for r in regions {
            let meta = self
                .regions
                .get(&r.id)
                .ok_or_else(|| ImePanic::unwrap_none(AT))?;
            if meta.region.epoch_version != r.epoch_version {
                return Err(ImePanic::assert_eq(
                    AT,
                    meta.region.epoch_version,
                    r.epoch_version,
                ));
            }
            if meta.state != RegionState::Evicting {
                return Err(ImePanic::assert_eq(AT, meta.state, RegionState::Evicting));
            }
        }
        for r in regions {
            let meta = self.remove_region(ctx, r.id)?;
            self.log(
                ctx,
                Level::Info,
                Some(r.id),
                format!("ime remove evicted region, meta: {meta}"),
            );
            self.log(
                ctx,
                Level::Info,
                Some(r.id),
                format!("ime range eviction done, region: {r}"),
            );
        }
        Ok(())
    }

    /// `split_region`: a cached (not evicting) source is replaced by the new
    /// regions, which inherit its state and safe point; a source a read
    /// still holds goes to `historical_regions`.
    pub fn split_region(
        &mut self,
        ctx: &Ctx,
        source: &CacheRegion,
        mut new_regions: Vec<CacheRegion>,
    ) -> Result<(), ImePanic> {
        match self.regions.get(&source.id) {
            Some(m) if m.state.is_evict() => {
                let m = m.to_string();
                self.log(
                    ctx,
                    Level::Info,
                    Some(source.id),
                    format!("ime region is evicted, skip split, meta: {m}"),
                );
                return Ok(());
            }
            Some(_) => {}
            None => return Ok(()),
        }
        let meta = self.remove_region(ctx, source.id)?;
        if meta.region.epoch_version != source.epoch_version {
            if meta.state != RegionState::Pending {
                return Err(ImePanic::assert_eq(
                    "range_manager.rs RegionManager::split_region",
                    meta.state,
                    RegionState::Pending,
                ));
            }
            new_regions.retain(|r| meta.region.overlaps(r));
        }
        self.log(
            ctx,
            Level::Info,
            Some(source.id),
            format!(
                "ime handle region split, region_id: {}, meta: {meta}, new_regions: {}",
                source.id,
                new_regions.len()
            ),
        );
        for r in new_regions {
            let mut m = CacheRegionMeta::new(r, ctx.now);
            m.safe_point = meta.safe_point;
            m.state = meta.state;
            m.in_gc = meta.in_gc;
            self.new_region_meta(ctx, m)?;
        }
        if !meta.snapshots.is_empty() {
            self.historical_regions
                .insert((meta.region.end, meta.region.epoch_version), meta);
        }
        Ok(())
    }

    /// The `(end key, id)` entries of `regions_by_range` whose id's meta ends
    /// elsewhere or is gone (left behind when a meta was replaced under its
    /// id).
    pub fn stale_range_keys(&self) -> Vec<(Key, u64)> {
        self.regions_by_range
            .iter()
            .filter(|(end, id)| self.regions.get(id).is_none_or(|m| m.region.end != **end))
            .map(|(e, i)| (*e, *i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! TiKV's own `region_manager.rs` tests (`test_range_load`,
    //! `test_range_load_overlapped`, `test_evict_regions`), with TiKV's
    //! keys `k00`..`k75` as numbers, and the bug PR 17550 fixed.
    use super::*;
    use crate::kernel::effect::Ctx as KCtx;
    use crate::kernel::log::LogSink;
    use crate::kernel::metrics::Counters;
    use crate::kernel::rng::SimRng;

    struct Env {
        rng: SimRng,
        log: LogSink,
        out: Vec<crate::kernel::effect::Effect<crate::proto::Msg, crate::proto::Timer>>,
        counters: Counters,
    }

    impl Env {
        fn new() -> Env {
            Env {
                rng: SimRng::new(1),
                log: LogSink::default(),
                out: Vec::new(),
                counters: Counters::new(),
            }
        }
        fn ctx(&mut self) -> Ctx<'_> {
            KCtx {
                now: 0,
                rng: &mut self.rng,
                log: &self.log,
                out: &mut self.out,
                counters: &mut self.counters,
            }
        }
    }

    fn r(id: u64, epoch: u64, start: u64, end: u64) -> CacheRegion {
        CacheRegion {
            id,
            epoch_version: epoch,
            start,
            end,
        }
    }

    /// TiKV's `RegionManager::new_region`: a region loaded directly Active.
    fn new_region(m: &mut RegionManager, ctx: &Ctx, region: CacheRegion) {
        let mut meta = CacheRegionMeta::new(region, 0);
        meta.state = RegionState::Active;
        m.new_region_meta(ctx, meta).unwrap();
    }

    #[test]
    fn test_range_load() {
        let mut env = Env::new();
        let ctx = env.ctx();
        let mut m = RegionManager::new(1, true);
        let r1 = r(1, 0, 0, 10);
        let mut r2 = r(2, 2, 10, 20);
        let r3 = r(3, 0, 20, 30);
        let r4 = r(4, 0, 25, 35);
        new_region(&mut m, &ctx, r1);
        m.load_region(&ctx, r2).unwrap().unwrap();
        new_region(&mut m, &ctx, r3);
        m.evict_region(&ctx, &r1, EvictReason::AutoEvict).unwrap();
        assert_eq!(
            m.load_region(&ctx, r1).unwrap(),
            Err(LoadFailedReason::Evicting)
        );
        // load r2 with an outdated epoch.
        r2.epoch_version = 1;
        assert_eq!(
            m.load_region(&ctx, r2).unwrap(),
            Err(LoadFailedReason::PendingRange)
        );
        assert_eq!(
            m.load_region(&ctx, r4).unwrap(),
            Err(LoadFailedReason::Overlapped)
        );
    }

    #[test]
    fn test_range_load_overlapped() {
        let mut env = Env::new();
        let ctx = env.ctx();
        let mut m = RegionManager::new(1, true);
        let r1 = r(1, 0, 0, 10);
        let r3 = r(3, 0, 40, 50);
        new_region(&mut m, &ctx, r1);
        m.evict_region(&ctx, &r1, EvictReason::AutoEvict).unwrap();
        m.load_region(&ctx, r3).unwrap().unwrap();
        for (range, want) in [
            ((0, 5), LoadFailedReason::Evicting),
            ((5, 15), LoadFailedReason::Evicting),
            ((35, 45), LoadFailedReason::PendingRange),
            ((45, 55), LoadFailedReason::PendingRange),
        ] {
            assert_eq!(
                m.load_region(&ctx, r(4, 0, range.0, range.1)).unwrap(),
                Err(want)
            );
        }
        // PR 17550's case: the range does not overlap, the id does.
        assert_eq!(
            m.load_region(&ctx, r(1, 2, 20, 30)).unwrap(),
            Err(LoadFailedReason::Evicting)
        );
    }

    #[test]
    fn test_evict_regions() {
        let cases: [((u64, u64), Vec<u64>, usize); 3] = [
            ((0, 5), vec![1], 2),
            ((0, 51), vec![1, 2, 3], 0),
            ((25, 55), vec![2, 3], 1),
        ];
        for ((s, e), deleted, active_left) in cases {
            let mut env = Env::new();
            let ctx = env.ctx();
            let mut m = RegionManager::new(1, true);
            for (id, start) in [(1, 0), (2, 20), (3, 40)] {
                new_region(&mut m, &ctx, r(id, 0, start, start + 10));
            }
            let got = m
                .evict_region(&ctx, &r(4, 2, s, e), EvictReason::AutoEvict)
                .unwrap();
            assert_eq!(got.iter().map(|x| x.id).collect::<Vec<_>>(), deleted);
            let active = m
                .regions
                .values()
                .filter(|x| x.state == RegionState::Active)
                .count();
            assert_eq!(active, active_left);
            assert!(got
                .iter()
                .all(|x| m.regions[&x.id].state == RegionState::Evicting));
        }
    }

    /// `validate_update_region_state` as the mechanisms reference lists it.
    #[test]
    fn only_tikvs_transitions_are_legal() {
        use RegionState::*;
        let legal = [
            (Pending, Loading),
            (Loading, Active),
            (Loading, LoadingCanceled),
            (Loading, Evicting),
            (Active, PendingEvict),
            (LoadingCanceled, PendingEvict),
            (LoadingCanceled, Evicting),
            (PendingEvict, Evicting),
        ];
        let mut env = Env::new();
        let ctx = env.ctx();
        for from in RegionState::ALL {
            for to in RegionState::ALL {
                let mut m = RegionManager::new(1, true);
                let mut meta = CacheRegionMeta::new(r(1, 1, 0, 10), 0);
                meta.state = from;
                m.new_region_meta(&ctx, meta).unwrap();
                let ok = m.set_state(&ctx, 1, to).is_ok();
                assert_eq!(ok, legal.contains(&(from, to)), "{from:?} -> {to:?}");
                assert_eq!(m.regions[&1].state, if ok { to } else { from });
            }
        }
    }

    /// A snapshot holds an evicted Active region in PendingEvict; releasing
    /// the last one makes it Evicting and deletable.
    #[test]
    fn eviction_waits_for_snapshots() {
        let mut env = Env::new();
        let ctx = env.ctx();
        let mut m = RegionManager::new(1, true);
        let r1 = r(1, 3, 0, 10);
        new_region(&mut m, &ctx, r1);
        m.region_snapshot(1, 3, 5).unwrap();
        assert_eq!(m.region_snapshot(1, 2, 5), Err(FailedReason::EpochNotMatch));
        assert!(m
            .evict_region(&ctx, &r1, EvictReason::Merge)
            .unwrap()
            .is_empty());
        assert_eq!(m.regions[&1].state, RegionState::PendingEvict);
        assert_eq!(m.region_snapshot(1, 3, 6), Err(FailedReason::NotCached));
        let snap = SnapshotMeta {
            region: r1,
            snapshot_ts: 5,
        };
        assert_eq!(m.remove_region_snapshot(&ctx, &snap).unwrap(), vec![r1]);
        assert_eq!(m.regions[&1].state, RegionState::Evicting);
        m.on_delete_regions(&ctx, &[r1]).unwrap();
        assert!(m.regions.is_empty() && m.regions_by_range.is_empty());
    }

    /// Issue 17487's root cause: a region merged and split comes back under
    /// the id of an evicting meta with a range that does not overlap it.
    /// Before PR 17550 the load replaces the meta and leaves its end key
    /// pointing at the id; a later range check meets that key first, reads
    /// the new meta and stops, so a region already Loading is loaded again.
    #[test]
    fn an_id_that_comes_back_replaces_the_evicting_meta_without_the_id_check() {
        let mut env = Env::new();
        let ctx = env.ctx();
        let mut m = RegionManager::new(1, false);
        // Region 5 cached over [0, 30); a merge evicts it while a read
        // holds a snapshot.
        let old = r(5, 2, 0, 30);
        new_region(&mut m, &ctx, old);
        m.region_snapshot(5, 2, 7).unwrap();
        m.evict_region(&ctx, &old, EvictReason::Merge).unwrap();
        assert_eq!(m.regions[&5].state, RegionState::PendingEvict);
        // Merged to [0, 60), then split at 40: 5 keeps [40, 60) (right
        // derive), region 9 takes [0, 40).
        assert_eq!(m.load_region(&ctx, r(5, 5, 40, 60)).unwrap(), Ok(()));
        assert_eq!(m.regions[&5].region, r(5, 5, 40, 60));
        assert_eq!(m.stale_range_keys(), vec![(30, 5)]);
        // Region 9 loads and starts Loading...
        let left = r(9, 5, 0, 40);
        assert_eq!(m.load_region(&ctx, left).unwrap(), Ok(()));
        m.set_state(&ctx, 9, RegionState::Loading).unwrap();
        // ...and is asked again: the walk from 0 meets end key 30 first,
        // reads region 5's new meta [40, 60), which starts at the load's
        // end, and stops: nothing overlaps, the Loading meta is replaced.
        assert_eq!(m.load_region(&ctx, left).unwrap(), Ok(()));
        assert_eq!(m.regions[&9].state, RegionState::Pending);
        // The held snapshot's release finds neither its meta nor a
        // historical region: the sibling panic.
        let snap = SnapshotMeta {
            region: old,
            snapshot_ts: 7,
        };
        let p = m.remove_region_snapshot(&ctx, &snap).unwrap_err();
        assert!(p.message.contains("unwrap"), "{}", p.message);
    }

    #[test]
    fn the_id_check_refuses_the_id_that_comes_back() {
        let mut env = Env::new();
        let ctx = env.ctx();
        let mut m = RegionManager::new(1, true);
        let old = r(5, 2, 0, 30);
        new_region(&mut m, &ctx, old);
        m.region_snapshot(5, 2, 7).unwrap();
        m.evict_region(&ctx, &old, EvictReason::Merge).unwrap();
        assert_eq!(
            m.load_region(&ctx, r(5, 5, 40, 60)).unwrap(),
            Err(LoadFailedReason::Evicting)
        );
        assert!(m.stale_range_keys().is_empty());
        let left = r(9, 5, 0, 40);
        m.load_region(&ctx, left).unwrap().unwrap_err();
        // Once the read is done the old meta goes, and the id loads.
        let snap = SnapshotMeta {
            region: old,
            snapshot_ts: 7,
        };
        let gone = m.remove_region_snapshot(&ctx, &snap).unwrap();
        m.on_delete_regions(&ctx, &gone).unwrap();
        assert_eq!(m.load_region(&ctx, r(5, 5, 40, 60)).unwrap(), Ok(()));
        assert_eq!(m.load_region(&ctx, left).unwrap(), Ok(()));
    }
}
