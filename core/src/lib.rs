//! # kvscope-core
//!
//! A deterministic simulation of a TiKV cluster: stores running raftstore on
//! raft-rs (Multi-Raft, async ready, a simulated disk per store), PD (TSO,
//! heartbeats, operators, schedulers) and closed-loop clients, under a virtual
//! clock, with TiKV's own log strings, counters, time series, and invariant checks.
//!
//! The crate is sans-IO: no wall clock, threads, OS randomness or browser API.
//! All randomness comes from one seeded [`rng::SimRng`]; all maps that are
//! iterated are ordered (`BTreeMap`). The same scenario, seed and commands give
//! the same trace natively and in wasm ([`Simulation::trace_hash`]).
//!
//! Entry points: [`scenario::SCENARIOS`] (what can be run), [`Simulation::new`]
//! (build one), [`Simulation::run_until`] / [`Simulation::run_bounded`] (advance),
//! [`Simulation::view`] / [`Simulation::raft_group`] (read), and
//! [`summary::RunSummary`] (the command line's JSON).

pub mod client;
pub mod effect;
pub mod env;
pub mod invariants;
pub mod lock_manager;
pub mod memory;
pub mod msg;
pub mod observe;
pub mod pd;
pub mod raftstore;
pub mod rng;
pub mod scenario;
pub mod scenarios;
pub mod sim;
pub mod storage;
pub mod summary;
pub mod time;
pub mod txn_client;
pub mod view;

pub use scenario::{Params, ScenarioError, ScenarioSpec, SCENARIOS};
pub use sim::{Fault, Simulation};
