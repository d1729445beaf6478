//! The page's door to the lock-manager side of the core: the lock view, OOM
//! kills, the memory trace tree at a past moment, and changing a live
//! parameter of a running simulation. The panels only read what these return.

use kvscope_core::memory::MemoryTrace;
use kvscope_core::view::{LockView, OomKill};
use kvscope_core::Simulation;

/// The lock manager, transactions and deadlock detector of the whole
/// cluster. `None` when the run has no lock manager at all (no store runs
/// one, as in io-hang-transfer-leader).
pub fn lock_view(sim: &Simulation) -> Option<LockView> {
    let v = sim.lock_view();
    (!v.stores.is_empty()).then_some(v)
}

/// Every store killed by the OOM killer so far, oldest first.
pub fn oom_kills(sim: &Simulation) -> Vec<OomKill> {
    sim.oom_kills().to_vec()
}

/// `store`'s memory trace tree at the last per-second sample at or before
/// `at_ms`, if the core kept one.
pub fn memory_tree_at(sim: &Simulation, store: u64, at_ms: u64) -> Option<MemoryTrace> {
    sim.memory_tree_at(store, at_ms)
}

/// Changes parameter `name` of the running simulation to `value` (text in the
/// parameter's unit). Errors: the core's message, naming the parameter.
pub fn set_live_param(sim: &mut Simulation, name: &str, value: &str) -> Result<(), String> {
    sim.set_live_param(name, value).map_err(|e| e.to_string())
}
