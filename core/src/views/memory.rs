//! Every store's memory trace tree now, with its memory limit (the memory
//! trace panel's data, for any scenario).

use serde::Serialize;

use crate::memory::MemoryTrace;
use crate::sim::Simulation;

/// One store's memory now.
#[derive(Clone, Debug, Serialize)]
pub struct StoreMemoryView {
    /// Store id.
    pub store: u64,
    /// False while the process is down (its tree is empty).
    pub up: bool,
    /// The memory limit the OOM killer enforces, bytes (0: none).
    pub memory_limit: u64,
    /// The store's memory trace tree (TiKV's `MemoryTrace`).
    pub memory: MemoryTrace,
}

/// Every store's memory now, in store id order.
pub fn memory_view(sim: &Simulation) -> Vec<StoreMemoryView> {
    sim.world()
        .stores
        .values()
        .map(|st| StoreMemoryView {
            store: st.id,
            up: st.up,
            memory_limit: st.memory_limit.unwrap_or(0),
            memory: st.memory_trace(),
        })
        .collect()
}
