//! Resolved-ts counters and series (TiKV `components/resolved_ts/src/metrics.rs`
//! and cdc's; the names are the command line's JSON names).

use crate::kernel::metrics::{Counter, SeriesFamily};

/// Resolves that raised a region's resolved-ts.
pub const RESOLVED_TS_ADVANCES: Counter = Counter::new("resolved_ts_advances");
/// `BroadcastTxnStatus` requests a store handled.
pub const TXN_STATUS_BROADCASTS: Counter = Counter::new("txn_status_broadcasts");
/// Stale reads served by a peer (at or below its safe-ts).
pub const STALE_READS: Counter = Counter::new("stale_reads");
/// Stale reads refused with `DataIsNotReady`.
pub const STALE_READS_REFUSED: Counter = Counter::new("stale_reads_refused");
/// PD's TSO as TiDB sees it, virtual ms (`tso`).
pub const TSO: SeriesFamily = SeriesFamily::cluster("tso");
/// A region's resolved-ts on its leader, virtual ms (`resolved_ts_region_N`).
pub const RESOLVED_TS: SeriesFamily = SeriesFamily::per_region("resolved_ts");
/// How far a region's resolved-ts is behind the TSO, ms
/// (`resolved_ts_lag_ms_region_N`, TiKV's `tikv_resolved_ts_min_resolved_ts_gap_millis`).
pub const RESOLVED_TS_LAG_MS: SeriesFamily = SeriesFamily::per_region("resolved_ts_lag_ms");
