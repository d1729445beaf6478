//! The in-memory engine's counters and series (TiKV
//! `components/in_memory_engine/src/metrics.rs`: `tikv_in_memory_engine_*`).

use crate::kernel::metrics::{Counter, SeriesFamily};

/// `LoadRegion` tasks scheduled by `prepare_for_apply` ("ime region to load").
pub const IME_LOADS_SCHEDULED: Counter = Counter::new("ime_loads_scheduled");
/// Loads that finished with the region Active ("ime Loading region finished").
pub const IME_LOADS_FINISHED: Counter = Counter::new("ime_loads_finished");
/// `load_region` calls refused (`PendingRange`, `Overlapped`, `Evicting`).
pub const IME_LOADS_REFUSED: Counter = Counter::new("ime_loads_refused");
/// Regions removed after eviction ("ime remove evicted region").
pub const IME_EVICTIONS: Counter = Counter::new("ime_evictions");
/// Assertions of the engine that aborted a store.
pub const IME_PANICS: Counter = Counter::new("ime_panics");
/// Reads served from the cache.
pub const IME_CACHE_HITS: Counter = Counter::new("ime_cache_hits");
/// Reads the cache could not serve (any `FailedReason`), served by RocksDB.
pub const IME_CACHE_MISSES: Counter = Counter::new("ime_cache_misses");
/// Loads that replaced a meta still held under the same region id (only
/// before PR 17550; TiKV had no such counter: the replacement was silent).
pub const IME_METAS_REPLACED: Counter = Counter::new("ime_metas_replaced");
/// Regions cached (Active) on the store (`ime_cached_regions_store_N`).
pub const IME_CACHED_REGIONS: SeriesFamily = SeriesFamily::per_store("ime_cached_regions");
/// Bytes the engine holds (`ime_memory_bytes_store_N`, TiKV's
/// `tikv_in_memory_engine_memory_usage_bytes`).
pub const IME_MEMORY: SeriesFamily = SeriesFamily::per_store("ime_memory_bytes");
/// Share of reads served from the cache in the last second, percent
/// (`ime_hit_ratio_store_N`).
pub const IME_HIT_RATIO: SeriesFamily = SeriesFamily::per_store("ime_hit_ratio");
