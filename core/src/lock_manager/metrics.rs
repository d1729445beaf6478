//! The lock manager's counters and series (TiKV `src/server/lock_manager/metrics.rs`).

use crate::kernel::metrics::{Counter, SeriesFamily};

/// `Detect` requests scheduled to the detector.
pub const DETECT_REQUESTS_SENT: Counter = Counter::new("detect_requests_sent");
/// `CleanUpWaitFor` requests scheduled to the detector.
pub const CLEAN_UP_WAIT_FOR_SENT: Counter = Counter::new("clean_up_wait_for_sent");
/// `CleanUp` requests scheduled (0: TiKV master sends none when a transaction ends).
pub const CLEAN_UP_SENT: Counter = Counter::new("clean_up_sent");
/// `ReplaceLocksByKeys` items scheduled (PR 17451's proposal, `fix=batching`).
pub const REPLACE_LOCKS_BY_KEYS_SENT: Counter = Counter::new("replace_locks_by_keys_sent");
/// `DeadlockRequest`s a follower sent on its stream to the detector leader.
pub const DETECTOR_STREAM_SENT: Counter = Counter::new("detector_stream_sent");
/// Detector requests dropped (a full bounded stream, a lost stream, or no leader found).
pub const DETECTOR_REQUESTS_DROPPED: Counter = Counter::new("detector_requests_dropped");
/// Deadlocks the detector leader found.
pub const DEADLOCKS_DETECTED: Counter = Counter::new("deadlocks_detected");
/// Lock waits that reached `wait-for-lock-timeout`.
pub const LOCK_WAIT_TIMEOUTS: Counter = Counter::new("lock_wait_timeouts");
/// Registered edges cleaned up at a fair waiter's first owner change (PR 20002).
pub const DROP_REGISTERED_EDGE: Counter = Counter::new("drop_registered_edge");
/// Requests queued on the follower's detector stream and not yet sent, as
/// PR 20002's gauge `tikv_lock_manager_detector_pending_msgs` counts them
/// (`tikv_lock_manager_detector_pending_msgs_store_N`).
pub const DETECTOR_PENDING_MSGS: SeriesFamily =
    SeriesFamily::per_store("tikv_lock_manager_detector_pending_msgs");
/// Waiters in the store's wait table (`waiters_store_N`).
pub const WAITERS: SeriesFamily = SeriesFamily::per_store("waiters");
