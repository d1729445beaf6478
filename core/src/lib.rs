//! # kvscope-core
//!
//! A deterministic simulation of a TiKV cluster: stores running raftstore on
//! raft-rs (Multi-Raft, async ready, a simulated disk per store), PD (TSO,
//! heartbeats, operators, schedulers) and closed-loop clients, under a virtual
//! clock, with TiKV's own log strings, counters, time series, and invariant checks.
//!
//! The crate is sans-IO: no wall clock, threads, OS randomness or browser API.
//! All randomness comes from one seeded [`kernel::rng::SimRng`]; all maps that
//! are iterated are ordered (`BTreeMap`). The same scenario, seed and commands
//! give the same trace natively and in wasm ([`Simulation::trace_hash`]).
//!
//! Layers, each using only those above it in this list:
//! [`kernel`] (time, RNG, event queue, effects, log, metrics, trace hash) →
//! [`proto`] (messages and timers) → [`env`] (network, disks, faults, OOM
//! killer), [`memory`] and [`engine_rocks`] (the KV engine's memtables) → the components ([`raftstore`], [`storage`],
//! [`lock_manager`], [`pd`], [`client`]), with [`server`] (the snap worker) above raftstore → [`invariants`] and [`world`] →
//! [`scenario`] (the seam) → [`scenarios`] (the registry) → [`sim`] →
//! [`views`] and [`summary`].
//!
//! Entry points: [`scenarios::REGISTRY`] (what can be run), [`Simulation::new`]
//! (build one), [`Simulation::run_until`] / [`Simulation::run_bounded`] (advance),
//! [`views::cluster::cluster_view`] and the other builders of [`views`] (read),
//! and [`summary::RunSummary`] (the command line's JSON).

pub mod client;
pub mod engine_rocks;
pub mod env;
pub mod health_controller;
pub mod in_memory_engine;
pub mod input;
pub mod invariants;
pub mod kernel;
pub mod lock_manager;
pub mod memory;
pub mod mvcc;
pub mod pd;
pub mod proto;
pub mod raftstore;
pub mod resolved_ts;
pub mod scenario;
pub mod scenarios;
pub mod server;
pub mod sim;
pub mod storage;
pub mod store;
pub mod summary;
pub mod views;
pub mod world;

pub use kernel::time;
pub use scenario::{Params, ScenarioError, ScenarioSpec};
pub use scenarios::REGISTRY;
pub use sim::Simulation;
