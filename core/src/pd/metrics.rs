//! PD's counters.

use crate::kernel::metrics::Counter;

/// Operators PD created.
pub const PD_OPERATORS_CREATED: Counter = Counter::new("pd_operators_created");
/// Operators whose every step finished.
pub const PD_OPERATORS_SUCCEEDED: Counter = Counter::new("pd_operators_succeeded");
/// Operators that ran past their step's wait time.
pub const PD_OPERATORS_TIMED_OUT: Counter = Counter::new("pd_operators_timed_out");
/// Operators cancelled as stale: their region's conf_ver moved past what
/// their own steps changed (PD `checkStaleOperator`, counter
/// `promote-stale`).
pub const PD_OPERATORS_STALE: Counter = Counter::new("pd_operators_stale");
/// Stores evict-slow-store marked slow.
pub const SLOW_STORE_EVICTED: Counter = Counter::new("slow_store_evicted");
