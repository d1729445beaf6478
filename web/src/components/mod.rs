//! The panels of the page. Each takes snapshots ([`crate::snapshot`]) as
//! props and reports user actions through callbacks; none touches the
//! simulation.

pub mod backlog;
pub mod charts;
pub mod cluster_map;
pub mod control_bar;
pub mod counters;
pub mod error_panel;
pub mod event_log;
pub mod fault_injection;
pub mod in_memory_engine;
pub mod live_controls;
pub mod memory;
pub mod operators;
pub mod parameters;
pub mod raft_group;
pub mod resolved_ts;
pub mod snapshot_pipeline;
pub mod story;
pub mod wait_for;
pub mod why_stuck;
