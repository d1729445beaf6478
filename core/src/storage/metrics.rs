//! The txn scheduler's counters.

use crate::kernel::metrics::Counter;

/// Lock owner changes with waiters queued behind (each re-points the waiters).
pub const LOCK_HANDOFFS: Counter = Counter::new("lock_handoffs");
/// Fair-locking waiters resumed to acquire the lock themselves.
pub const LOCK_WAIT_RESUMED: Counter = Counter::new("lock_wait_resumed");
/// Legacy waiters woken with `WriteConflict` (TiDB retries).
pub const LOCK_WAIT_WOKEN_LEGACY: Counter = Counter::new("lock_wait_woken_legacy");
