//! Effects as data: what components ask the simulator to do.
//!
//! A component handles one event and pushes [`Effect`]s into its [`Ctx`]; the
//! simulator turns them into timed events through the environment (network
//! routing, the store's disk queue, timers). The kernel is generic over the
//! message type `M` and the timer type `T`: it routes them by [`Node`] and
//! never looks inside (the components' own types live in `crate::proto`).

use serde::Serialize;

use super::log::{Level, LogSink};
use super::metrics::{Counter, Counters};
use super::rng::SimRng;
use super::time::Micros;

/// A network endpoint: one simulated process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Node {
    /// A TiKV store (one `tikv-server` process).
    Store(u64),
    /// The placement driver.
    Pd,
    /// A client thread (TiDB session) with its index.
    Client(u32),
}

/// A background lane of a store's disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskLane {
    /// Reads (a snapshot generation scanning a region): `bytes / bandwidth`,
    /// no fsync.
    Read,
    /// Background writes (RocksDB memtable flushes): `latency + bytes /
    /// bandwidth`, one SST file and its sync.
    Flush,
}

/// An effect emitted by a component.
#[derive(Clone, Debug)]
pub enum Effect<M, T> {
    /// Send `msg` over the network.
    Send {
        /// Sender.
        from: Node,
        /// Receiver.
        to: Node,
        /// Message.
        msg: M,
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
    /// A request of `bytes` on one of the disk's background lanes (its own
    /// queue, one at a time, beside the foreground writes); the store is
    /// told when `token` is done (with the writes' tokens).
    DiskLane {
        /// Which lane: a read, or a background write.
        lane: DiskLane,
        /// Store whose disk serves it.
        store: u64,
        /// Token handed back on completion.
        token: u64,
        /// Size in bytes.
        bytes: u64,
    },
    /// Run a task of `cost` virtual µs of CPU on the worker pool `pool` of
    /// store `store`; when it finishes, `done` fires at the store like a timer.
    Spawn {
        /// Store whose pool runs it.
        store: u64,
        /// The pool's thread name.
        pool: &'static str,
        /// CPU time the task occupies a thread for, virtual µs.
        cost: Micros,
        /// What fires when it finishes.
        done: T,
        /// Queue it ahead of the pool's waiting tasks: the continuation of
        /// the task that just finished on the thread (a future polled on to
        /// its end on a single-threaded pool).
        next: bool,
    },
    /// Fire `timer` at `node` after `after` virtual µs.
    Timer {
        /// Node whose timer it is.
        node: Node,
        /// Delay, virtual µs.
        after: Micros,
        /// Which timer.
        timer: T,
    },
}

/// What a component may use while handling one event.
pub struct Ctx<'a, M, T> {
    /// Virtual now, µs.
    pub now: Micros,
    /// The simulation's RNG.
    pub rng: &'a mut SimRng,
    /// The event log.
    pub log: &'a LogSink,
    /// Effects emitted.
    pub out: &'a mut Vec<Effect<M, T>>,
    /// Counters.
    pub counters: &'a mut Counters,
}

impl<M, T> Ctx<'_, M, T> {
    /// Adds `n` to `counter`.
    pub fn count(&mut self, counter: Counter, n: u64) {
        *self.counters.entry(counter).or_insert(0) += n;
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
    pub fn send(&mut self, from: Node, to: Node, msg: M) {
        self.out.push(Effect::Send { from, to, msg });
    }

    /// Emits a timer.
    pub fn timer(&mut self, node: Node, after: Micros, timer: T) {
        self.out.push(Effect::Timer { node, after, timer });
    }

    /// Emits a task for a worker pool of `store`.
    pub fn spawn(&mut self, store: u64, pool: &'static str, cost: Micros, done: T) {
        self.out.push(Effect::Spawn {
            store,
            pool,
            cost,
            done,
            next: false,
        });
    }

    /// Emits a task that runs next on `pool` of `store`, ahead of the tasks
    /// waiting there (the continuation of the task that just finished).
    pub fn spawn_next(&mut self, store: u64, pool: &'static str, cost: Micros, done: T) {
        self.out.push(Effect::Spawn {
            store,
            pool,
            cost,
            done,
            next: true,
        });
    }
}
