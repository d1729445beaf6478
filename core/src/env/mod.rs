//! The simulated environment: the network between nodes, one disk per
//! store, the stores' worker pools, faults and the OOM killer.
//!
//! Faults live here, never inside components: a hung disk holds writes, a
//! partition drops messages, a crashed process loses its volatile state (see
//! [`crate::sim`] for crashes). Components only emit effects; the environment
//! decides when (and whether) they take effect.

pub mod disk;
pub mod fault;
pub mod metrics;
pub mod network;
pub mod oom;
pub mod pool;

pub use disk::{Disk, DiskConfig};
pub use fault::Fault;
pub use network::{Network, NetworkConfig};
