//! The environment's counters and series: faults, the network, disks, the OOM killer.

use crate::kernel::metrics::{Counter, SeriesFamily};

/// IO hangs started.
pub const IO_HANGS: Counter = Counter::new("io_hangs");
/// Process crashes injected.
pub const PROCESS_CRASHES: Counter = Counter::new("process_crashes");
/// Stores killed by the OOM killer.
pub const OOM_KILLS: Counter = Counter::new("oom_kills");
/// Message batches lost to a partition or a random drop.
pub const NETWORK_BATCHES_DROPPED: Counter = Counter::new("network_batches_dropped");
/// Disk writes queued or in service (`disk_queue_store_N`).
pub const DISK_QUEUE: SeriesFamily = SeriesFamily::per_store("disk_queue");
/// The store's memory trace sum, bytes (`memory_store_N`), and each node of its tree (`memory_store_N:PATH`).
pub const MEMORY: SeriesFamily = SeriesFamily::per_store("memory");
/// A thread's allocated minus deallocated bytes since its process started,
/// as jemalloc's per-thread counters (`thread_memory_store_N:THREAD`;
/// negative for a thread that frees what others allocated).
pub const THREAD_MEMORY: SeriesFamily = SeriesFamily::per_store("thread_memory");
/// A thread's allocated bytes since its process started
/// (`thread_allocated_store_N:THREAD`, jemalloc `thread.allocatedp`).
pub const THREAD_ALLOCATED: SeriesFamily = SeriesFamily::per_store("thread_allocated");
/// A thread's deallocated bytes since its process started
/// (`thread_deallocated_store_N:THREAD`, jemalloc `thread.deallocatedp`).
pub const THREAD_DEALLOCATED: SeriesFamily = SeriesFamily::per_store("thread_deallocated");
/// Tasks waiting in a worker pool's queue (`pool_queue_store_N:POOL`).
pub const POOL_QUEUE: SeriesFamily = SeriesFamily::per_store("pool_queue");
/// Threads of a worker pool running a task (`pool_busy_store_N:POOL`).
pub const POOL_BUSY: SeriesFamily = SeriesFamily::per_store("pool_busy");
/// CPU a worker pool used over the last virtual second, percent of one core
/// (`pool_cpu_store_N:POOL`; 100 = one thread busy all the time).
pub const POOL_CPU: SeriesFamily = SeriesFamily::per_store("pool_cpu");
