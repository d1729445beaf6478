//! The OOM killer: part of the environment, as the kernel's is. A store whose
//! memory passes its limit is killed like any crashed process and restarted
//! later.

use serde::Serialize;

/// A store killed by the OOM killer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OomKill {
    /// Store.
    pub store: u64,
    /// Virtual ms of the kill.
    pub at_ms: u64,
    /// Memory of the store at the kill, bytes.
    pub memory: u64,
    /// Its limit, bytes.
    pub limit: u64,
    /// Virtual ms at which the process restarts.
    pub restart_ms: u64,
}

/// How often the OOM killer looks at the stores' memory, virtual µs.
pub const MEMORY_CHECK_INTERVAL: crate::kernel::time::Micros = 100 * crate::kernel::time::MS;

/// The OOM killer's settings and record. Every [`MEMORY_CHECK_INTERVAL`] it
/// compares each live store's memory trace sum with the store's memory limit;
/// a store over it is killed (its volatile state and unsynced writes are
/// lost) and restarts `restart_delay` later.
#[derive(Clone, Debug, Default)]
pub struct OomKiller {
    /// Time from a kill to the process serving again (systemd restart and
    /// TiKV start), virtual µs.
    pub restart_delay: crate::kernel::time::Micros,
    /// Every kill so far.
    pub kills: Vec<OomKill>,
}
