//! Faults: properties of the simulated environment (a hung or slow disk, a
//! crashed process, a partitioned store), never special cases in components.

use serde::Serialize;

use crate::kernel::time::Micros;

/// A fault injected into the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// Every disk write of `store` is held from `start` for `duration` (virtual µs).
    IoHang {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
    },
    /// The disk of `store` is `factor` times slower during the window.
    SlowDisk {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
        /// Latency multiplier.
        factor: u64,
    },
    /// `store`'s process crashes at `start` and restarts `duration` later.
    Crash {
        /// Store.
        store: u64,
        /// Crash time, virtual µs.
        start: Micros,
        /// Down time, virtual µs.
        duration: Micros,
    },
    /// `store` is cut off from the network during the window.
    Partition {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
    },
}

impl Fault {
    /// The fault's kind as the page and the JSON name it (`io-hang`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::IoHang { .. } => "io-hang",
            Fault::SlowDisk { .. } => "slow-disk",
            Fault::Crash { .. } => "crash",
            Fault::Partition { .. } => "partition",
        }
    }

    /// `(store, start, duration)`, virtual µs.
    pub fn window(&self) -> (u64, Micros, Micros) {
        match *self {
            Fault::IoHang {
                store,
                start,
                duration,
            }
            | Fault::SlowDisk {
                store,
                start,
                duration,
                ..
            }
            | Fault::Crash {
                store,
                start,
                duration,
            }
            | Fault::Partition {
                store,
                start,
                duration,
            } => (store, start, duration),
        }
    }
}
