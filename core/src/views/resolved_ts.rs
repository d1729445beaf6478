//! The resolved-ts panel's data: the TSO and each region's resolved-ts and
//! CDC lag over time, the large transaction's markers, and the selected
//! region's resolver: its normal locks, its large transactions with what
//! the `TxnStatusCache` says of them, and the one lock that pins it.

use serde::Serialize;

use crate::client::cdc::{CdcConsumer, CDC_LAG_MS};
use crate::client::pipelined::PipelinedWorkload;
use crate::kernel::time::to_ms;
use crate::resolved_ts::endpoint::{tso_ms, ResolverStatus};
use crate::resolved_ts::metrics::{RESOLVED_TS, RESOLVED_TS_LAG_MS, TSO};
use crate::resolved_ts::resolver::ResolverMode;
use crate::sim::Simulation;
use crate::storage::txn_status_cache::TxnState;

/// One region's line on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionLine {
    /// Region id.
    pub region_id: u64,
    /// The store whose endpoint leads it now (0: none registered).
    pub leader_store: u64,
    /// `Pending`, `Ready` or `none`.
    pub status: &'static str,
    /// Its resolved-ts now, virtual ms (0: none yet).
    pub resolved_ts_ms: u64,
    /// How far behind the clock, ms.
    pub lag_ms: u64,
    /// The CDC feed's lag, ms.
    pub cdc_lag_ms: u64,
    /// Rows the CDC feed emitted so far.
    pub cdc_emitted: u64,
    /// Rows waiting in the CDC sorter for resolved-ts to pass them.
    pub cdc_buffered: u64,
    /// `(t_ms, resolved-ts ms)` samples.
    pub resolved_ts: Vec<(u64, f64)>,
    /// `(t_ms, lag ms)` samples.
    pub lag: Vec<(u64, f64)>,
    /// `(t_ms, CDC lag ms)` samples.
    pub cdc_lag: Vec<(u64, f64)>,
    /// The large transaction writes into it.
    pub large_txn_writes_here: bool,
    /// The lock that holds its resolved-ts back, if one does.
    pub pinned_by: Option<PinningLock>,
}

/// The lock (transaction) a resolver's oldest candidate comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinningLock {
    /// `normal` (by start_ts) or `large` (through the cache).
    pub kind: &'static str,
    /// The transaction's start_ts.
    pub start_ts: u64,
    /// A key it holds (`sample_lock`, or the large txn's representative).
    pub key: Option<u64>,
    /// Locks it holds in the region.
    pub lock_count: usize,
    /// The candidate resolved-ts it allows (TSO).
    pub candidate_ts: u64,
    /// The candidate as virtual ms.
    pub candidate_ms: u64,
    /// The transaction is the large (pipelined) one.
    pub is_large_txn: bool,
}

/// A normal transaction tracked by the resolver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NormalTxnView {
    /// start_ts (its candidate).
    pub start_ts: u64,
    /// Locks.
    pub lock_count: usize,
    /// One key.
    pub sample_key: Option<u64>,
    /// The transaction is the large (pipelined) one (tracked as normal
    /// before PR 17540).
    pub is_large_txn: bool,
}

/// A large transaction tracked by its representative key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LargeTxnView {
    /// start_ts.
    pub start_ts: u64,
    /// Its representative key.
    pub key: Option<u64>,
    /// Locks tracked.
    pub lock_count: usize,
    /// What the store's cache says: `Ongoing`, `Committed`, `RolledBack`
    /// or `miss`.
    pub cache_state: &'static str,
    /// `min_commit_ts` (Ongoing) or `commit_ts` (Committed) from the cache.
    pub cache_ts: u64,
    /// Its candidate (TSO; `None`: ignored, committed or rolled back).
    pub candidate_ts: Option<u64>,
}

/// The selected region's resolver.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolverView {
    /// Region.
    pub region_id: u64,
    /// The store whose endpoint runs it.
    pub store_id: u64,
    /// `Pending` (initial scan) or `Ready`.
    pub status: &'static str,
    /// Its resolved-ts (TSO) and as virtual ms.
    pub resolved_ts: u64,
    /// Virtual ms.
    pub resolved_ts_ms: u64,
    /// Normal transactions, oldest first (at most 8).
    pub normal: Vec<NormalTxnView>,
    /// Normal transactions tracked in all.
    pub normal_total: usize,
    /// Large transactions.
    pub large: Vec<LargeTxnView>,
    /// The pinning lock.
    pub pinned_by: Option<PinningLock>,
    /// The last resolve: advanced or not, its candidate, its source
    /// (`lock` or `pd_tso`).
    pub last_attempt: Option<(bool, u64, &'static str)>,
    /// Stopped by a split or merge, waiting for re-registration.
    pub stopped: bool,
    /// Followers' safe-ts, virtual ms, by store.
    pub follower_safe_ts_ms: Vec<(u64, u64)>,
}

/// The large transaction's markers and state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LargeTxnStatus {
    /// `Idle`, `Writing`, `CommittingPrimary`, `CommittingSecondaries`, `Dead`.
    pub phase: &'static str,
    /// start_ts (0: none yet).
    pub start_ts: u64,
    /// Generations flushed.
    pub generation: u64,
    /// Keys written / planned.
    pub written: u64,
    /// Planned size.
    pub size: u64,
    /// The newest `min_commit_ts` its heartbeats pushed.
    pub min_commit_ts: u64,
    /// commit_ts once committing.
    pub commit_ts: u64,
    /// `(t_ms, kind, detail)`: `start`, `flush` (generation), `heartbeat`
    /// (min_commit_ts), `commit` (commit_ts), `died`.
    pub markers: Vec<(u64, &'static str, u64)>,
}

/// The panel's data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedTsView {
    /// Virtual ms now.
    pub t_ms: u64,
    /// The resolver logic running (`none`, `txn-status-cache`, `min-commit-ts-minus-1`).
    pub fix: &'static str,
    /// `(t_ms, TSO ms)` samples.
    pub tso: Vec<(u64, f64)>,
    /// One line per region, by id.
    pub regions: Vec<RegionLine>,
    /// The selected region's resolver (the first region if none chosen).
    pub selected: Option<ResolverView>,
    /// The large transaction.
    pub large_txn: Option<LargeTxnStatus>,
}

fn fix_name(m: ResolverMode) -> &'static str {
    match m {
        ResolverMode::Legacy => "none",
        ResolverMode::TxnStatusCache => "txn-status-cache",
        ResolverMode::MinCommitTsMinus1 => "min-commit-ts-minus-1",
    }
}

/// Builds the panel's data with `region` selected (`None`: the first).
pub fn resolved_ts_view(sim: &Simulation, region: Option<u64>) -> ResolvedTsView {
    let world = sim.world();
    let series = sim.series();
    let t_ms = to_ms(sim.now());
    let tidb = world
        .workloads
        .iter()
        .find_map(|w| w.as_any().downcast_ref::<PipelinedWorkload>());
    let capture = world
        .workloads
        .iter()
        .find_map(|w| w.as_any().downcast_ref::<CdcConsumer>());
    let large_start = tidb.map_or(0, |w| w.large.start_ts);
    let large_ranges: Vec<(u64, u64)> = tidb.map_or(Vec::new(), |w| w.cfg.large_txn_ranges.clone());
    let pts = |k| series.get(&k).cloned().unwrap_or_default();
    let mut fix = "none";
    let mut regions = Vec::new();
    let mut selected = None;
    let wanted = region.or_else(|| world.pd.regions.keys().next().copied());
    for (&rid, pr) in &world.pd.regions {
        let leader = world.stores.values().find_map(|st| {
            let rts = st.resolved_ts.as_ref()?;
            let o = rts.regions.get(&rid)?;
            st.raftstore
                .peers
                .get(&rid)
                .filter(|p| st.up && p.is_leader())?;
            Some((st, rts, o))
        });
        let mut line = RegionLine {
            region_id: rid,
            leader_store: 0,
            status: "none",
            resolved_ts_ms: 0,
            lag_ms: 0,
            cdc_lag_ms: 0,
            cdc_emitted: 0,
            cdc_buffered: 0,
            resolved_ts: pts(RESOLVED_TS.of(rid)),
            lag: pts(RESOLVED_TS_LAG_MS.of(rid)),
            cdc_lag: pts(CDC_LAG_MS.of(rid)),
            large_txn_writes_here: large_ranges
                .iter()
                .any(|&(s, w)| s + w / 2 >= pr.meta.start_key && s + w / 2 < pr.meta.end_key),
            pinned_by: None,
        };
        if let Some(f) = capture.and_then(|c| c.feeds.get(&rid)) {
            line.cdc_lag_ms = t_ms.saturating_sub(tso_ms(f.resolved_ts));
            line.cdc_emitted = f.emitted;
            line.cdc_buffered = f.sorter.len() as u64;
        }
        if let Some((st, rts, o)) = leader {
            fix = fix_name(rts.cfg.mode);
            let cache = &st.txn_status_cache;
            line.leader_store = st.id;
            line.status = match o.status {
                ResolverStatus::Pending { .. } => "Pending",
                ResolverStatus::Ready => "Ready",
            };
            let r = &o.resolver;
            line.resolved_ts_ms = tso_ms(r.resolved_ts);
            line.lag_ms = t_ms.saturating_sub(line.resolved_ts_ms);
            let large: Vec<LargeTxnView> = r
                .large_txns
                .iter()
                .map(|(&ts, l)| {
                    let (cache_state, cache_ts) = match cache.peek(ts) {
                        None => ("miss", 0),
                        Some(TxnState::Ongoing { min_commit_ts }) => ("Ongoing", min_commit_ts),
                        Some(TxnState::Committed { commit_ts }) => ("Committed", commit_ts),
                        Some(TxnState::RolledBack) => ("RolledBack", 0),
                    };
                    let candidate_ts = r.large_txn_candidate(ts, cache.peek(ts));
                    LargeTxnView {
                        start_ts: ts,
                        key: l.sample_lock,
                        lock_count: l.lock_count,
                        cache_state,
                        cache_ts,
                        candidate_ts,
                    }
                })
                .collect();
            let oldest = r.peek_oldest_transaction(cache);
            let pinning = oldest
                .and_then(|(ts, locks)| {
                    let normal = r.lock_ts_heap.keys().next() == Some(&ts);
                    let start_ts = if normal {
                        ts
                    } else {
                        large.iter().find(|v| v.candidate_ts == Some(ts))?.start_ts
                    };
                    Some(PinningLock {
                        kind: if normal { "normal" } else { "large" },
                        start_ts,
                        key: locks.sample_lock,
                        lock_count: locks.lock_count,
                        candidate_ts: ts,
                        candidate_ms: tso_ms(ts),
                        is_large_txn: large_start != 0 && start_ts == large_start,
                    })
                })
                // Only a lock below the TSO holds the region back.
                .filter(|_| {
                    r.last_attempt
                        .as_ref()
                        .is_some_and(|a| a.reason.label() == "lock")
                });
            line.pinned_by = pinning.clone();
            if Some(rid) == wanted {
                let normal = r
                    .lock_ts_heap
                    .iter()
                    .take(8)
                    .map(|(&ts, l)| NormalTxnView {
                        start_ts: ts,
                        lock_count: l.lock_count,
                        sample_key: l.sample_lock,
                        is_large_txn: ts == large_start,
                    })
                    .collect();
                let follower_safe_ts_ms = world
                    .stores
                    .values()
                    .filter(|s| s.id != st.id)
                    .filter_map(|s| {
                        let rp = s.resolved_ts.as_ref()?.read_progress.get(&rid)?;
                        Some((s.id, tso_ms(rp.safe_ts)))
                    })
                    .collect();
                selected = Some(ResolverView {
                    region_id: rid,
                    store_id: st.id,
                    status: line.status,
                    resolved_ts: r.resolved_ts,
                    resolved_ts_ms: line.resolved_ts_ms,
                    normal,
                    normal_total: r.lock_ts_heap.len(),
                    large,
                    pinned_by: pinning,
                    last_attempt: r
                        .last_attempt
                        .as_ref()
                        .map(|a| (a.success, a.ts, a.reason.label())),
                    stopped: r.stopped,
                    follower_safe_ts_ms,
                });
            }
        }
        regions.push(line);
    }
    let large_txn = tidb.map(|w| LargeTxnStatus {
        phase: match w.large.phase {
            crate::client::pipelined::LargePhase::Idle => "Idle",
            crate::client::pipelined::LargePhase::Writing => "Writing",
            crate::client::pipelined::LargePhase::CommittingPrimary => "CommittingPrimary",
            crate::client::pipelined::LargePhase::CommittingSecondaries => "CommittingSecondaries",
            crate::client::pipelined::LargePhase::Dead => "Dead",
        },
        start_ts: w.large.start_ts,
        generation: w.large.generation,
        written: w.large.written,
        size: w.cfg.large_txn_size,
        min_commit_ts: w.large.min_commit_ts,
        commit_ts: w.large.commit_ts,
        markers: w
            .markers
            .iter()
            .map(|m| (m.t_ms, m.kind, m.detail))
            .collect(),
    });
    ResolvedTsView {
        t_ms,
        fix,
        tso: pts(TSO.key()),
        regions,
        selected,
        large_txn,
    }
}
