//! The workloads' counters and series: client-side outcomes, as TiDB would see them.

use crate::kernel::metrics::{Counter, SeriesFamily};

/// Raw writes acknowledged to their client.
pub const CLIENT_WRITES_COMPLETED: Counter = Counter::new("client_writes_completed");
/// Raw-write requests that got no answer within the client timeout.
pub const CLIENT_REQUEST_TIMEOUTS: Counter = Counter::new("client_request_timeouts");
/// `NotLeader` answers with a leader hint (retried there at once).
pub const CLIENT_NOT_LEADER: Counter = Counter::new("client_not_leader");
/// Other region errors (backed off with `BoRegionScheduling`).
pub const CLIENT_REGION_ERRORS: Counter = Counter::new("client_region_errors");
/// Raw writes given up after the backoff budget.
pub const CLIENT_OPS_FAILED: Counter = Counter::new("client_ops_failed");
/// PD client batches (TSO or region lookups) sent again after no answer.
pub const PD_CLIENT_TIMEOUTS: Counter = Counter::new("pd_client_timeouts");
/// Transactions committed (their primary committed).
pub const TXN_COMMITTED: Counter = Counter::new("txn_committed");
/// Transactions aborted and rolled back.
pub const TXN_ROLLED_BACK: Counter = Counter::new("txn_rolled_back");
/// Transactions that got `Deadlock` (TiDB error 1213).
pub const TXN_DEADLOCK_ERRORS: Counter = Counter::new("txn_deadlock_errors");
/// Transactional requests sent again after no answer.
pub const TXN_REQUEST_TIMEOUTS: Counter = Counter::new("txn_request_timeouts");
/// Transactional requests answered with a region error.
pub const TXN_REGION_ERRORS: Counter = Counter::new("txn_region_errors");
/// Lock statements retried after `WriteConflict(PessimisticRetry)`.
pub const TXN_PESSIMISTIC_RETRIES: Counter = Counter::new("txn_pessimistic_retries");
/// Transactions that gave up after `innodb_lock_wait_timeout`.
pub const TXN_LOCK_WAIT_TIMEOUTS: Counter = Counter::new("txn_lock_wait_timeouts");
/// Prewrites that failed (the transaction aborts).
pub const TXN_PREWRITE_ERRORS: Counter = Counter::new("txn_prewrite_errors");
/// Audits started over for reading older than the GC safe point.
pub const TXN_GC_TOO_EARLY: Counter = Counter::new("txn_gc_too_early");
/// Bank audits completed.
pub const BANK_AUDITS: Counter = Counter::new("bank_audits");
/// Operations completed per virtual second (committed transactions for transaction workloads).
pub const QPS: SeriesFamily = SeriesFamily::cluster("qps");
/// Operations given up or aborted per virtual second.
pub const FAILED_OPS: SeriesFamily = SeriesFamily::cluster("failed_ops");
/// Median latency of the operations completed in the second, virtual ms.
pub const LATENCY_P50_MS: SeriesFamily = SeriesFamily::cluster("latency_p50_ms");
/// 99th percentile latency, virtual ms.
pub const LATENCY_P99_MS: SeriesFamily = SeriesFamily::cluster("latency_p99_ms");
/// Operations completed per virtual second, per region (`qps_region_N`).
pub const QPS_REGION: SeriesFamily = SeriesFamily::per_region("qps");
/// 99th percentile latency per region, virtual ms (`latency_p99_ms_region_N`).
pub const LATENCY_P99_MS_REGION: SeriesFamily = SeriesFamily::per_region("latency_p99_ms");
/// Transactions committed per virtual second.
pub const TXN_COMMITS: SeriesFamily = SeriesFamily::cluster("txn_commits");
/// Transactions aborted per virtual second.
pub const TXN_ABORTS: SeriesFamily = SeriesFamily::cluster("txn_aborts");
/// Reads clients completed.
pub const CLIENT_READS_COMPLETED: Counter = Counter::new("client_reads_completed");
