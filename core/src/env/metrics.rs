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
