//! raftstore: Multi-Raft on raft-rs, as TiKV's `components/raftstore` runs it.
//!
//! A [`Store`] owns one [`Peer`] per region it holds; each peer drives a raft-rs
//! `RawNode` through the async-ready API: entries and hard state are written to
//! the store's simulated disk and acknowledged to raft-rs with
//! `on_persist_ready` when the write completes, and committed entries are
//! applied by a second disk write (the apply path). A hung disk therefore
//! freezes both persistence and apply on that store while raftstore itself
//! keeps handling messages, exactly as TiKV's raftstore thread keeps running
//! while its async-io writers are stuck.
//!
//! The transfer-leader handshake (`pre_transfer_leader`, the follower's ack
//! carrying its applied index, `ready_to_transfer_leader`) follows
//! `components/raftstore/src/store/peer.rs`, in the two versions selected by
//! [`TransferLeaderCheck`].

pub mod apply;
pub mod coprocessor;
pub mod entry;
pub mod fsm;
pub mod logger;
pub mod merge;
pub mod metrics;
pub mod peer;
pub mod read;
pub mod snap;
pub mod split;
pub mod split_controller;
pub mod storage;

pub use fsm::Raftstore;
pub use peer::Peer;

use crate::kernel::time::Micros;

/// Which transfer-leader check raftstore runs (the scenario's `fix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferLeaderCheck {
    /// Before TiKV PR 17643: `pre_transfer_leader` refuses while the *leader*
    /// has a pending conf change (`has_pending_conf()`), logging
    /// "reject transfer leader due to pending conf change"; `ready_to_transfer_leader`
    /// also refuses on `has_pending_conf() || pending_conf_index > index`.
    BeforeFix,
    /// TiKV PR 17643 (closes issue 17363): only the transferee must have applied
    /// the conf change: refuse iff `pending_conf_index > ack.index` (the
    /// transferee's applied index); the leader's own pending conf change no
    /// longer blocks ("transfer leader with pending conf on current leader").
    RelaxedCheck,
}

/// raftstore configuration (TiKV `[raftstore]` names, simulation units).
#[derive(Clone, Debug)]
pub struct RaftstoreConfig {
    /// `raft-base-tick-interval`, virtual µs (TiKV default 1 s).
    pub raft_base_tick_interval: Micros,
    /// `raft-election-timeout-ticks` (default 10). Each peer's randomized
    /// timeout is drawn from the simulation's RNG in `[ticks, 2·ticks)`.
    pub raft_election_timeout_ticks: usize,
    /// `raft-heartbeat-ticks` (default 2).
    pub raft_heartbeat_ticks: usize,
    /// `leader-transfer-max-log-lag` (default 128).
    pub leader_transfer_max_log_lag: u64,
    /// `pd-heartbeat-tick-interval`, virtual µs (TiKV default 60 s).
    pub pd_heartbeat_tick_interval: Micros,
    /// `pd-store-heartbeat-tick-interval`, virtual µs (TiKV default 10 s).
    pub pd_store_heartbeat_tick_interval: Micros,
    /// `raft-log-gc-tick-interval`, virtual µs (TiKV default 3 s).
    pub raft_log_gc_tick_interval: Micros,
    /// Entries kept behind the applied index when the log is compacted
    /// (in the spirit of `raft-log-gc-count-limit`).
    pub raft_log_gc_keep: u64,
    /// The storage engine layout (`storage.engine`: `raft-kv` or
    /// `partitioned-raft-kv`), which sets what a snapshot costs.
    pub engine: snap::EngineKind,
    /// The split checker (`None`: not run; the scenario's regions never
    /// approach a split size, and no `split-region-check-tick` is armed).
    pub split_check: Option<split::SplitCheckConfig>,
}

/// The `snap-generator` pool (TiKV `raftstore.snap-generator-pool-size`,
/// default 2): generates snapshots since TiKV PR 17438.
pub const SNAP_GENERATOR: crate::env::pool::PoolConfig = crate::env::pool::PoolConfig {
    name: "snap-generator",
    threads: 2,
};
/// The `region-worker` thread that applies received snapshots
/// (`worker/region.rs`).
pub const REGION_WORKER: crate::env::pool::PoolConfig = crate::env::pool::PoolConfig {
    name: "region-worker",
    threads: 1,
};
/// The worker pools raftstore runs on every store.
pub const POOLS: [crate::env::pool::PoolConfig; 2] = [SNAP_GENERATOR, REGION_WORKER];
