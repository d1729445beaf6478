//! Effects as data: what components ask the simulator to do.
//!
//! A component (a store's raftstore, PD, a client) handles one event and pushes
//! [`Effect`]s into its [`Ctx`]; the simulator turns them into timed events
//! through the environment (network routing, the store's disk queue, timers).

use std::collections::BTreeMap;

use crate::env::Node;
use crate::invariants::Invariants;
use crate::msg::Msg;
use crate::observe::{Level, LogSink};
use crate::rng::SimRng;
use crate::time::Micros;

/// A timer a component can set. Store timers carry the store's incarnation so
/// that timers set before a crash are ignored after the restart.
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
    /// The lock manager's workers run (every `lock_manager::TICK` while work is queued).
    LockManagerTick,
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
}

/// An effect emitted by a component.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Send `msg` over the network.
    Send {
        /// Sender.
        from: Node,
        /// Receiver.
        to: Node,
        /// Message.
        msg: Msg,
    },
    /// Write `bytes` to the store's disk; the store is told when `token` is durable.
    DiskWrite {
        /// Store whose disk takes the write.
        store: u64,
        /// Token handed back on completion.
        token: u64,
        /// Size in bytes.
        bytes: u64,
    },
    /// Fire `timer` at `node` after `after` virtual µs.
    Timer {
        /// Node whose timer it is.
        node: Node,
        /// Delay, virtual µs.
        after: Micros,
        /// Which timer.
        timer: Timer,
    },
}

/// Named counters (name -> count), exported by `kvscope run --json`.
pub type Counters = BTreeMap<&'static str, u64>;

/// What a component may use while handling one event.
pub struct Ctx<'a> {
    /// Virtual now, µs.
    pub now: Micros,
    /// The simulation's RNG.
    pub rng: &'a mut SimRng,
    /// The event log.
    pub log: &'a LogSink,
    /// Effects emitted.
    pub out: &'a mut Vec<Effect>,
    /// Counters.
    pub counters: &'a mut Counters,
    /// Invariant checker.
    pub invariants: &'a mut Invariants,
}

impl Ctx<'_> {
    /// Adds `n` to counter `name`.
    pub fn count(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_insert(0) += n;
    }

    /// Writes a log line.
    pub fn log(
        &self,
        component: &'static str,
        level: Level,
        store: Option<u64>,
        region: Option<u64>,
        msg: String,
    ) {
        self.log.push(component, level, store, region, msg);
    }

    /// Emits a send.
    pub fn send(&mut self, from: Node, to: Node, msg: Msg) {
        self.out.push(Effect::Send { from, to, msg });
    }

    /// Emits a timer.
    pub fn timer(&mut self, node: Node, after: Micros, timer: Timer) {
        self.out.push(Effect::Timer { node, after, timer });
    }
}
