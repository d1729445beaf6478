//! The page's only door to the lock-manager side of the core: the lock view,
//! OOM kills, the memory trace tree at a past moment, and changing a live
//! parameter of a running simulation.
//!
//! The core grows these calls (`Simulation::lock_view`, `oom_kills`,
//! `memory_tree_at`, `set_live_param`) while the page is being written. With
//! the cargo feature `lock-core` this module calls them; without it, it
//! answers "nothing to show" and refuses live changes with a clear message,
//! so the page builds and the io-hang scenario works on a core without them.
//! The rest of the page only uses this module, never the core calls
//! directly.

use kvscope_core::memory::MemoryTrace;
use kvscope_core::view::{LockView, OomKill};
use kvscope_core::Simulation;

/// Whether the core this page was built against has the lock-manager calls.
pub const AVAILABLE: bool = cfg!(feature = "lock-core");

/// The lock manager, transactions and deadlock detector of the whole cluster,
/// or `None` when the core has no such view.
#[cfg(feature = "lock-core")]
pub fn lock_view(sim: &Simulation) -> Option<LockView> {
    Some(sim.lock_view())
}

/// The lock manager, transactions and deadlock detector of the whole cluster,
/// or `None` when the core has no such view.
#[cfg(not(feature = "lock-core"))]
pub fn lock_view(_sim: &Simulation) -> Option<LockView> {
    None
}

/// Every store killed by the OOM killer so far, oldest first.
#[cfg(feature = "lock-core")]
pub fn oom_kills(sim: &Simulation) -> Vec<OomKill> {
    sim.oom_kills().to_vec()
}

/// Every store killed by the OOM killer so far, oldest first.
#[cfg(not(feature = "lock-core"))]
pub fn oom_kills(_sim: &Simulation) -> Vec<OomKill> {
    Vec::new()
}

/// `store`'s memory trace tree at the last per-second sample at or before
/// `at_ms`, if the core kept one.
#[cfg(feature = "lock-core")]
pub fn memory_tree_at(sim: &Simulation, store: u64, at_ms: u64) -> Option<MemoryTrace> {
    sim.memory_tree_at(store, at_ms)
}

/// `store`'s memory trace tree at the last per-second sample at or before
/// `at_ms`, if the core kept one.
#[cfg(not(feature = "lock-core"))]
pub fn memory_tree_at(_sim: &Simulation, _store: u64, _at_ms: u64) -> Option<MemoryTrace> {
    None
}

/// Changes parameter `name` of the running simulation to `value` (text in the
/// parameter's unit). Errors: the core's message, naming the parameter.
#[cfg(feature = "lock-core")]
pub fn set_live_param(sim: &mut Simulation, name: &str, value: &str) -> Result<(), String> {
    sim.set_live_param(name, value).map_err(|e| e.to_string())
}

/// Changes parameter `name` of the running simulation to `value` (text in the
/// parameter's unit). Errors: the core's message, naming the parameter.
#[cfg(not(feature = "lock-core"))]
pub fn set_live_param(_sim: &mut Simulation, name: &str, _value: &str) -> Result<(), String> {
    Err(format!(
        "parameter '{name}' cannot change while the simulation runs: this build's core has no live parameters"
    ))
}
