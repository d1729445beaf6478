//! The timers components set, by name. Store timers are tagged with the
//! store's incarnation by the simulator, so that timers set before a crash
//! are ignored after the restart.

/// A timer a component can set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// raftstore's `raft-base-tick-interval` tick for every peer of the store.
    RaftBaseTick,
    /// `pd-heartbeat-tick-interval`: region heartbeats from every leader.
    PdHeartbeatTick,
    /// `pd-store-heartbeat-tick-interval`: the store heartbeat.
    PdStoreHeartbeatTick,
    /// `raft-log-gc-tick-interval`: compact applied raft logs.
    RaftLogGcTick,
    /// The health checker's inspect tick (`inspect-interval`).
    InspectTick,
    /// PD's scheduling loop.
    PdSchedule,
    /// A client is ready to issue its next operation.
    ClientNext,
    /// A client's request timeout check (see `client::Client`).
    ClientTimeout,
    /// A slice of a lock manager worker's work finished on its thread.
    LockManagerSliceDone {
        /// The detector's (else the waiter manager's).
        detector: bool,
    },
    /// A lock waiter's `wait-for-lock-timeout` deadline.
    WaiterTimeout {
        /// `LockWaitToken`.
        token: u64,
    },
    /// `delayed_notify_all` of a key's legacy waiters (`wake-up-delay-duration`).
    DelayedNotifyAll {
        /// Key.
        key: u64,
        /// Id of the scheduled notification.
        notify_id: u64,
    },
    /// A transaction session's next step (after a hold time, a backoff or a think time).
    SessionNext,
    /// A transaction session's request timeout check.
    SessionTimeout,
    /// A PD client's request timeout check (TSO and region lookups).
    PdClientTimeout,
    /// The snap worker's IO limiter has read the next chunk of a send.
    SnapChunkRead {
        /// The send.
        send_id: u64,
    },
    /// A `snap-generator` thread finished scanning a region for a snapshot.
    SnapGenerated {
        /// Region.
        region_id: u64,
        /// The generating (leader) peer.
        peer_id: u64,
    },
    /// The `region-worker` finished applying a received snapshot's data.
    SnapApplied {
        /// Region.
        region_id: u64,
        /// The applying peer.
        peer_id: u64,
    },
    /// The resolved-ts endpoint's `advance-ts-interval` tick.
    ResolvedTsAdvanceTick,
    /// The resolved-ts initial lock scan of a region finished on `inc-scan`.
    ResolvedTsScanDone {
        /// Region.
        region_id: u64,
        /// The observe id of the registration it belongs to.
        observe_id: u64,
    },
    /// raftstore's `split-region-check-tick-interval` tick for every leader.
    SplitRegionCheckTick,
    /// The `split-check` worker finished checking a region.
    SplitCheckDone {
        /// Region.
        region_id: u64,
        /// The leader peer that asked.
        peer_id: u64,
    },
    /// A step of an in-memory engine background task finished on its thread.
    ImeTaskDone {
        /// Task id.
        task: u64,
    },
    /// The in-memory engine's `gc-run-interval` tick.
    ImeGcTick,
    /// The in-memory engine's `load-evict-interval` tick.
    ImeLoadEvictTick,
    /// A coprocessor read finished its scan and answers.
    CopReadDone {
        /// The read's token on the store.
        token: u64,
    },
    /// The store's per-second tick of the load-base split controller
    /// (`AutoSplitController`).
    LoadSplitTick,
}
