//! Safety properties checked from outside the components, as a model
//! checker's properties: the checker reads the stores' state after every
//! event at a store and the messages that leave a node, and never runs
//! inside a component.
//!
//! - **election-safety**: at most one leader per term per region.
//! - **state-machine-safety**: no two peers apply different entries at the same index.
//! - **acked-write-lost**: every write acknowledged to a client is in the state
//!   machine of every replica that has applied past its index, with its value
//!   or a later one ([`acked::AckedWrites`], checked at the end of every run and
//!   whenever a test asks).
//!
//! Workloads may report properties of their own (the bank workload's audits:
//! `snapshot-isolation`). A violation is recorded with its virtual time and
//! details; the run goes on.

pub mod acked;
pub mod raft;

pub use acked::AckedWrites;
pub use raft::RaftSafety;

pub use crate::kernel::violation::Violation;
