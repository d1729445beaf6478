//! Every store's memory trace tree now, with its memory limit (the memory
//! trace panel's data, for any scenario).

use serde::Serialize;

use crate::env::metrics::{MEMORY, THREAD_ALLOCATED, THREAD_DEALLOCATED};
use crate::memory::alloc::{heap_profile, HeapProfileEntry, ThreadStats};
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

/// The three memory views of one store at one moment, from the same
/// allocations (TiKV's memory observability article): the trace tree by
/// module, the heap profile by allocation site, jemalloc's per-thread
/// counters. Their totals are equal: the tree's sum, the profile's bytes,
/// the threads' allocated minus deallocated.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryViews {
    /// The memory trace tree.
    pub tree: MemoryTrace,
    /// Live bytes by allocation site, largest first.
    pub profile: Vec<HeapProfileEntry>,
    /// Per-thread counters by thread name (empty while the process is down).
    pub threads: Vec<(String, ThreadStats)>,
}

/// The three views of `store` now (`at_ms` `None`) or at the last
/// per-second sample at or before `at_ms`; `None` for an unknown store, a
/// store without a memory limit, or a moment before the first sample.
/// Now, the per-thread counters are the last sample's advanced by what
/// changed since, so the three totals agree at every instant.
pub fn memory_views(sim: &Simulation, store: u64, at_ms: Option<u64>) -> Option<MemoryViews> {
    match at_ms {
        Some(at) => {
            let tree = sim.memory_tree_at(store, at)?;
            let profile = sim.heap_profile_at(store, at)?;
            Some(MemoryViews {
                tree,
                profile,
                threads: thread_stats_at(sim, store, at),
            })
        }
        None => {
            let st = sim.world().stores.get(&store)?;
            st.memory_limit?;
            let tree = st.memory_trace();
            let live = st.live_allocations(&tree);
            let mut ledger = st.thread_ledger.clone();
            if st.up {
                let (sent, recv) = sim.world().raft_link_bytes(store);
                let (sent0, recv0) = st.raft_bytes_seen;
                ledger.observe(
                    &live,
                    &[
                        ("raft_messages_sent", sent.saturating_sub(sent0)),
                        ("raft_messages_received", recv.saturating_sub(recv0)),
                    ],
                );
            } else {
                ledger.reset();
            }
            Some(MemoryViews {
                profile: heap_profile(&live),
                threads: ledger
                    .threads
                    .iter()
                    .map(|(n, s)| (n.to_string(), *s))
                    .collect(),
                tree,
            })
        }
    }
}

/// jemalloc's per-thread counters of `store` at the last per-second sample
/// at or before `at_ms`, from the `thread_allocated` / `thread_deallocated`
/// series; threads of a process that died before that sample are left out.
pub fn thread_stats_at(sim: &Simulation, store: u64, at_ms: u64) -> Vec<(String, ThreadStats)> {
    let series = sim.series();
    let Some(sample) = series
        .get(&MEMORY.of(store))
        .and_then(|p| p.iter().rev().find(|(t, _)| *t <= at_ms).map(|p| p.0))
    else {
        return Vec::new();
    };
    let at = |points: &Vec<(u64, f64)>| {
        points
            .iter()
            .find(|(t, _)| *t == sample)
            .map(|p| p.1 as u64)
    };
    series
        .iter()
        .filter(|(k, _)| k.family == THREAD_ALLOCATED && k.id == store)
        .filter_map(|(k, v)| {
            let allocated = at(v)?;
            let deallocated = series
                .get(&THREAD_DEALLOCATED.at(store, &k.path))
                .and_then(at)?;
            Some((
                k.path.clone(),
                ThreadStats {
                    allocated,
                    deallocated,
                },
            ))
        })
        .collect()
}
