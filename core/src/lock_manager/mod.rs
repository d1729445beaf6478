//! The pessimistic lock manager of one store (`src/server/lock_manager/`):
//! the waiter manager, the deadlock detector (leader or follower role) and the
//! follower's client stream to the detector leader, joined by unbounded
//! channels whose depth is observable at every moment.
//!
//! Pipeline (each arrow a [`Channel`]):
//!
//! ```text
//! txn scheduler ──waiter_manager_tasks──▶ WaiterManager ──detector_tasks──▶ Detector
//!        └──────────────(Detect on wait_for)───────────────────┘              │
//!                      leader: DetectTable locally │ follower: detector_stream ─▶ leader store
//! ```
//!
//! The workers run every [`TICK`] while any channel holds work. The waiter
//! manager and the detector drain their channels completely (they are cheap);
//! the stream sends at most `stream_capacity_per_sec` requests per second,
//! which is where a backlog builds when production outruns it (TiKV issue
//! 17394: "the generation speed of messages may be much faster than sending").

pub mod detector;
pub mod metrics;
pub mod waiter_manager;

use std::collections::VecDeque;

use crate::kernel::time::{Micros, MS, SEC};
use std::collections::VecDeque as Deque;

use crate::kernel::effect::Node;
use crate::proto::{Ctx, DeadlockRequest, DeadlockRequestType, Key, Timer};
pub use crate::storage::lock_manager::WaitInfo;
use crate::storage::lock_wait_queues::UpdateWaitForEvent;
pub use detector::DetectorRole;

pub use detector::{DetectTable, WaitChain};
pub use waiter_manager::{WaitTable, Waiter};

/// The lock manager's threads, as TiKV names them
/// (`components/tikv_util/src/thread_name_prefix.rs`): the waiter manager
/// and the deadlock detector, one thread each.
pub const POOLS: [crate::env::pool::PoolConfig; 2] = [
    crate::env::pool::PoolConfig {
        name: WAITER_MANAGER_THREAD,
        threads: 1,
    },
    crate::env::pool::PoolConfig {
        name: DETECTOR_THREAD,
        threads: 1,
    },
];
/// The waiter manager's thread name.
pub const WAITER_MANAGER_THREAD: &str = "waiter-manager";
/// The deadlock detector's thread name (`deadlock-det` since TiKV renamed
/// its threads in January 2026; `deadlock-detector` before).
pub const DETECTOR_THREAD: &str = "deadlock-det";

/// `LEADER_KEY` (`b""`): the detector leader is the leader of the region
/// that holds it.
pub const LEADER_KEY: crate::proto::Key = 0;

/// The workers' tick while work is queued, virtual µs.
pub const TICK: Micros = MS;
/// Capacity of the stream queue with `fix=backpressure`, requests.
pub const BACKPRESSURE_QUEUE_LIMIT: usize = 8192;

/// What the waiter manager does on an owner change (`handle_update_wait_for`):
/// the scenario's `fix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateWaitForFix {
    /// TiKV 7.0 until PR 17500 (issue 17394): for every waiter that is not on
    /// its first lock, `clean_up_wait_for(old)` and `detect(new)`.
    None,
    /// PR 17500: the same, but only for waiters with `allow_lock_with_conflict`;
    /// a no-op for legacy (non-fair) waiters.
    NonFairNoop,
    /// PR 20002: non-fair as PR 17500; a fair waiter sends
    /// `clean_up_wait_for(registered_edge)` on its first owner change and no
    /// Detect; later changes send nothing.
    SkipDetectOnOwnerChange,
    /// PR 17451 (never merged): one `ReplaceLocksByKeys` request per handoff,
    /// items deduplicated by key; the leader re-points the edges.
    Batching,
    /// The rule of `None`, with the stream queue bounded at
    /// [`BACKPRESSURE_QUEUE_LIMIT`]: a request that finds it full is dropped.
    Backpressure,
}

/// Lock manager configuration (`[pessimistic-txn]` plus the simulation's knobs).
#[derive(Clone, Debug)]
pub struct LockManagerConfig {
    /// `wait-for-lock-timeout`, virtual µs (default 1 s): longest wait and the
    /// detect table's edge TTL.
    pub wait_for_lock_timeout: Micros,
    /// `wake-up-delay-duration`, virtual µs (default 20 ms).
    pub wake_up_delay_duration: Micros,
    /// The owner-change rule.
    pub fix: UpdateWaitForFix,
    /// Requests per second the follower's stream carries.
    pub stream_capacity_per_sec: u64,
}

/// An unbounded (or, for backpressure, bounded) FIFO with per-second in/out counts.
#[derive(Clone, Debug)]
pub struct Channel<T> {
    items: VecDeque<T>,
    pushed: u64,
    popped: u64,
    last_in: u64,
    last_out: u64,
    /// Capacity, if bounded.
    pub capacity: Option<usize>,
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel {
            items: VecDeque::new(),
            pushed: 0,
            popped: 0,
            last_in: 0,
            last_out: 0,
            capacity: None,
        }
    }
}

impl<T> Channel<T> {
    /// `unbounded_send`; with a capacity, refuses (returns the item) when full.
    pub fn push(&mut self, t: T) -> Result<(), T> {
        if self.capacity.is_some_and(|c| self.items.len() >= c) {
            return Err(t);
        }
        self.items.push_back(t);
        self.pushed += 1;
        Ok(())
    }

    /// Takes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let t = self.items.pop_front()?;
        self.popped += 1;
        Some(t)
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops every item; returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    /// Ends a second: the counts become the last second's rates.
    pub fn roll_second(&mut self) {
        self.last_in = self.pushed;
        self.last_out = self.popped;
        self.pushed = 0;
        self.popped = 0;
    }

    /// Items pushed during the last virtual second.
    pub fn in_per_sec(&self) -> u64 {
        self.last_in
    }

    /// Items drained during the last virtual second.
    pub fn out_per_sec(&self) -> u64 {
        self.last_out
    }

    /// The queued items, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// A waiter-manager task (`waiter_manager::Task`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaiterTask {
    /// `WaitFor`: add a waiter.
    WaitFor(Box<Waiter>),
    /// `RemoveLockWait`: the waiter was woken or finished.
    RemoveLockWait {
        /// Token.
        token: u64,
    },
    /// `UpdateWaitFor`: owners changed.
    UpdateWaitFor(Vec<UpdateWaitForEvent>),
    /// `Deadlock`: the detector chose `start_ts`, waiting for `lock_ts`, as victim.
    Deadlock {
        /// Victim.
        start_ts: u64,
        /// Lock it waits for.
        lock_ts: u64,
        /// Key.
        key: Key,
        /// The cycle.
        wait_chain: WaitChain,
    },
}

impl WaiterTask {
    /// Bytes the task holds while queued.
    pub fn bytes(&self) -> u64 {
        match self {
            WaiterTask::UpdateWaitFor(ev) => 64 + 48 * ev.len() as u64,
            _ => crate::memory::WAITER_TASK_BYTES,
        }
    }
}

/// A detector task (`deadlock::Task::Detect{tp, ...}`), or a request that
/// arrived from a follower's stream (leader only), tagged with its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorTask {
    /// The request.
    pub req: DeadlockRequest,
    /// Store that produced it (this store for local tasks).
    pub from_store: u64,
}

/// What the lock manager asks its store to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockManagerEffect {
    /// Cancel a waiter: remove it from the lock wait queue and answer its
    /// request with `error` (`KeyIsLocked` on timeout, `Deadlock` for a victim).
    CancelWaiter {
        /// The waiter.
        waiter: Box<Waiter>,
        /// The error.
        error: crate::proto::TxnError,
    },
    /// Send a batch on the stream to the detector leader `to_store`.
    SendStream {
        /// Leader store.
        to_store: u64,
        /// Requests.
        batch: Vec<DeadlockRequest>,
    },
    /// Send a `DeadlockResponse` to `to_store` (a follower).
    SendDeadlockResponse {
        /// Follower store.
        to_store: u64,
        /// Victim entry.
        entry: DeadlockRequest,
        /// Cycle.
        wait_chain: WaitChain,
    },
    /// Ask PD for the first region's leader (`get_region_info(LEADER_KEY)`).
    ResolveLeader,
    /// Fire the waiter's timeout at `at` (absolute virtual µs).
    WaiterTimeout {
        /// Token.
        token: u64,
        /// When.
        at: Micros,
    },
    /// A deadlock was found by this (leader) detector.
    DeadlockFound {
        /// Victim.
        victim: u64,
        /// Cycle.
        wait_chain: WaitChain,
    },
    /// A log line (component `lock_manager`).
    Log(crate::kernel::log::Level, String),
    /// Add to a counter.
    Count(crate::kernel::metrics::Counter, u64),
}

/// Where the follower's detector client stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// No leader known and no lookup running.
    Disconnected,
    /// Waiting for PD's answer (TiKV blocks the detector thread on it).
    Resolving,
    /// The stream to the leader on this store is open.
    Connected(u64),
}

/// The lock manager of one store.
#[derive(Clone, Debug)]
pub struct LockManager {
    /// Configuration (the `fix` may change while running).
    pub cfg: LockManagerConfig,
    /// This store.
    pub store_id: u64,
    /// Detector role.
    pub role: DetectorRole,
    /// Follower: the client's state.
    pub client: ClientState,
    /// scheduler → waiter manager.
    pub waiter_tasks: Channel<WaiterTask>,
    /// → detector.
    pub detector_tasks: Channel<DetectorTask>,
    /// The follower's unbounded sender feeding the one gRPC stream.
    pub stream: Channel<DeadlockRequest>,
    /// The waiter manager's wait table.
    pub wait_table: WaitTable,
    /// The leader's detect table (empty on a follower).
    pub detect_table: DetectTable,
    /// Fractional send credit of the stream, in (requests × µs).
    stream_credit: u64,
    /// True while the store's tick timer is armed.
    pub tick_armed: bool,
    /// Deadlocks this store's detector found, most recent last (at most 32).
    pub recent_deadlocks: Deque<FoundDeadlock>,
}

/// A deadlock found by a store's detector: (virtual µs, victim start_ts,
/// wait chain of `(txn, wait_for_txn, key)`).
pub type FoundDeadlock = (u64, u64, Vec<(u64, u64, Key)>);

impl LockManager {
    /// A lock manager in the follower role with nothing queued.
    pub fn new(store_id: u64, cfg: LockManagerConfig) -> LockManager {
        let mut stream = Channel::default();
        if cfg.fix == UpdateWaitForFix::Backpressure {
            stream.capacity = Some(BACKPRESSURE_QUEUE_LIMIT);
        }
        LockManager {
            detect_table: DetectTable::new(cfg.wait_for_lock_timeout),
            cfg,
            store_id,
            role: DetectorRole::Follower,
            client: ClientState::Disconnected,
            waiter_tasks: Channel::default(),
            detector_tasks: Channel::default(),
            stream,
            wait_table: WaitTable::default(),
            stream_credit: 0,
            tick_armed: false,
            recent_deadlocks: Deque::new(),
        }
    }

    /// Changes the owner-change rule while running (the page's fix switch).
    pub fn set_fix(&mut self, fix: UpdateWaitForFix) {
        self.cfg.fix = fix;
        self.stream.capacity =
            (fix == UpdateWaitForFix::Backpressure).then_some(BACKPRESSURE_QUEUE_LIMIT);
    }

    /// True when any channel holds work.
    pub fn has_work(&self) -> bool {
        !self.waiter_tasks.is_empty() || !self.detector_tasks.is_empty() || !self.stream.is_empty()
    }

    /// `LockManager::wait_for`: schedule the waiter, and a Detect unless it is
    /// the transaction's first lock.
    pub fn wait_for(&mut self, waiter: Waiter, out: &mut Vec<LockManagerEffect>) {
        if !waiter.is_first_lock {
            self.schedule_detect(
                DeadlockRequestType::Detect,
                waiter.start_ts,
                waiter.wait_info,
                out,
            );
        }
        let _ = self
            .waiter_tasks
            .push(WaiterTask::WaitFor(Box::new(waiter)));
    }

    /// `remove_lock_wait`: the waiter `token` was woken up or its request finished.
    pub fn remove_lock_wait(&mut self, token: u64) {
        let _ = self.waiter_tasks.push(WaiterTask::RemoveLockWait { token });
    }

    /// `update_wait_for`: owner changes from `LockWaitQueues::update_lock_wait`.
    pub fn update_wait_for(&mut self, events: Vec<UpdateWaitForEvent>) {
        if !events.is_empty() {
            let _ = self.waiter_tasks.push(WaiterTask::UpdateWaitFor(events));
        }
    }

    /// A `DeadlockResponse` (or a local deadlock) for a waiter of this store.
    pub fn on_deadlock(&mut self, entry: DeadlockRequest, wait_chain: WaitChain) {
        let _ = self.waiter_tasks.push(WaiterTask::Deadlock {
            start_ts: entry.txn,
            lock_ts: entry.wait_for_txn,
            key: entry.key,
            wait_chain,
        });
    }

    /// Requests that arrived on a follower's stream (leader side).
    pub fn on_remote_requests(
        &mut self,
        from_store: u64,
        reqs: &[DeadlockRequest],
        out: &mut Vec<LockManagerEffect>,
    ) -> bool {
        if self.role != DetectorRole::Leader {
            out.push(LockManagerEffect::Log(
                crate::kernel::log::Level::Warn,
                "I'm not the leader of deadlock detector".to_string(),
            ));
            return false;
        }
        for &req in reqs {
            let _ = self.detector_tasks.push(DetectorTask { req, from_store });
        }
        true
    }

    /// Schedules a detector task of `tp` for `txn_ts` and `wait_info`.
    fn schedule_detect(
        &mut self,
        tp: DeadlockRequestType,
        txn_ts: u64,
        w: WaitInfo,
        out: &mut Vec<LockManagerEffect>,
    ) {
        out.push(LockManagerEffect::Count(
            match tp {
                DeadlockRequestType::Detect => metrics::DETECT_REQUESTS_SENT,
                DeadlockRequestType::CleanUpWaitFor => metrics::CLEAN_UP_WAIT_FOR_SENT,
                DeadlockRequestType::CleanUp => metrics::CLEAN_UP_SENT,
                DeadlockRequestType::ReplaceLockByKey => metrics::REPLACE_LOCKS_BY_KEYS_SENT,
            },
            1,
        ));
        let _ = self.detector_tasks.push(DetectorTask {
            req: DeadlockRequest {
                tp,
                txn: txn_ts,
                wait_for_txn: w.lock_ts,
                key: w.key,
            },
            from_store: self.store_id,
        });
    }

    /// `ChangeRole`: every role change resets the detect table and drops the client.
    pub fn change_role(&mut self, role: DetectorRole, out: &mut Vec<LockManagerEffect>) {
        if role == self.role {
            return;
        }
        self.role = role;
        self.detect_table = DetectTable::new(self.cfg.wait_for_lock_timeout);
        self.drop_client(out);
        if role == DetectorRole::Leader {
            out.push(LockManagerEffect::Log(
                crate::kernel::log::Level::Info,
                "became the leader of deadlock detector!".to_string(),
            ));
        }
    }

    /// The stream ended: queued requests are gone with the channel.
    pub fn drop_client(&mut self, out: &mut Vec<LockManagerEffect>) {
        let was_connected = matches!(self.client, ClientState::Connected(_));
        self.client = ClientState::Disconnected;
        let dropped = self.stream.clear() as u64;
        if dropped > 0 {
            out.push(LockManagerEffect::Count(
                metrics::DETECTOR_REQUESTS_DROPPED,
                dropped,
            ));
        }
        if was_connected {
            out.push(LockManagerEffect::Log(
                crate::kernel::log::Level::Warn,
                "deadlock detect rpc stream disconnected".to_string(),
            ));
        }
    }

    /// PD answered the leader lookup.
    pub fn on_leader_resolved(
        &mut self,
        leader_store: Option<u64>,
        out: &mut Vec<LockManagerEffect>,
    ) {
        if self.client != ClientState::Resolving {
            return;
        }
        match leader_store {
            Some(s) if s != self.store_id => {
                self.client = ClientState::Connected(s);
                out.push(LockManagerEffect::Log(
                    crate::kernel::log::Level::Info,
                    format!("reconnect leader succeeded, leader_store_id: {s}"),
                ));
            }
            _ => {
                // No leader elsewhere: the queued requests are dropped after the tries.
                self.client = ClientState::Disconnected;
                let n = self.detector_tasks.clear() as u64;
                if n > 0 {
                    out.push(LockManagerEffect::Count(
                        crate::lock_manager::metrics::DETECTOR_REQUESTS_DROPPED,
                        n,
                    ));
                    out.push(LockManagerEffect::Log(
                        crate::kernel::log::Level::Warn,
                        "detect request dropped".to_string(),
                    ));
                }
            }
        }
    }

    /// Runs the workers once at `now`: the waiter manager drains its channel,
    /// the detector drains its channel, the stream sends what its rate allows.
    pub fn tick(&mut self, now: Micros, out: &mut Vec<LockManagerEffect>) {
        while let Some(task) = self.waiter_tasks.pop() {
            self.run_waiter_task(now, task, out);
        }
        self.run_detector(now, out);
        if let ClientState::Connected(to_store) = self.client {
            let cap = self.cfg.stream_capacity_per_sec;
            self.stream_credit = (self.stream_credit + cap * TICK).min(cap * TICK * 2);
            let n = (self.stream_credit / SEC) as usize;
            if n > 0 && !self.stream.is_empty() {
                let n = n.min(self.stream.len());
                self.stream_credit -= n as u64 * SEC;
                let batch: Vec<DeadlockRequest> =
                    (0..n).filter_map(|_| self.stream.pop()).collect();
                out.push(LockManagerEffect::SendStream { to_store, batch });
            }
        }
    }

    fn run_detector(&mut self, now: Micros, out: &mut Vec<LockManagerEffect>) {
        match self.role {
            DetectorRole::Leader => {
                while let Some(t) = self.detector_tasks.pop() {
                    self.handle_detect_locally(now, t, out);
                }
                self.detect_table.active_expire(now);
            }
            DetectorRole::Follower => match self.client {
                ClientState::Connected(_) => {
                    while let Some(t) = self.detector_tasks.pop() {
                        if self.stream.push(t.req).is_err() {
                            out.push(LockManagerEffect::Count(
                                crate::lock_manager::metrics::DETECTOR_REQUESTS_DROPPED,
                                1,
                            ));
                        }
                    }
                }
                ClientState::Disconnected => {
                    if !self.detector_tasks.is_empty() {
                        self.client = ClientState::Resolving;
                        out.push(LockManagerEffect::ResolveLeader);
                    }
                }
                ClientState::Resolving => {}
            },
        }
    }

    fn handle_detect_locally(
        &mut self,
        now: Micros,
        t: DetectorTask,
        out: &mut Vec<LockManagerEffect>,
    ) {
        let r = t.req;
        let cycles: Vec<(DeadlockRequest, WaitChain)> = match r.tp {
            DeadlockRequestType::Detect => self
                .detect_table
                .detect(now, r.txn, r.wait_for_txn, r.key)
                .map(|c| (r, c))
                .into_iter()
                .collect(),
            DeadlockRequestType::CleanUpWaitFor => {
                self.detect_table
                    .clean_up_wait_for(r.txn, r.wait_for_txn, r.key);
                Vec::new()
            }
            DeadlockRequestType::CleanUp => {
                self.detect_table.clean_up(r.txn);
                Vec::new()
            }
            DeadlockRequestType::ReplaceLockByKey => self
                .detect_table
                .replace_lock_by_key(now, r.key, r.txn, r.wait_for_txn)
                .into_iter()
                .map(|c| {
                    let (victim, lock, key) = c[0];
                    (
                        DeadlockRequest {
                            tp: DeadlockRequestType::Detect,
                            txn: victim,
                            wait_for_txn: lock,
                            key,
                        },
                        c,
                    )
                })
                .collect(),
        };
        for (entry, chain) in cycles {
            out.push(LockManagerEffect::Count(
                crate::lock_manager::metrics::DEADLOCKS_DETECTED,
                1,
            ));
            out.push(LockManagerEffect::DeadlockFound {
                victim: entry.txn,
                wait_chain: chain.clone(),
            });
            if t.from_store == self.store_id {
                self.on_deadlock(entry, chain);
            } else {
                out.push(LockManagerEffect::SendDeadlockResponse {
                    to_store: t.from_store,
                    entry,
                    wait_chain: chain,
                });
            }
        }
    }

    fn run_waiter_task(&mut self, now: Micros, task: WaiterTask, out: &mut Vec<LockManagerEffect>) {
        match task {
            WaiterTask::WaitFor(mut w) => {
                w.deadline = w.start_waiting_time + self.cfg.wait_for_lock_timeout;
                out.push(LockManagerEffect::WaiterTimeout {
                    token: w.token,
                    at: w.deadline.max(now),
                });
                self.wait_table.add_waiter(*w);
            }
            WaiterTask::RemoveLockWait { token } => {
                if let Some(w) = self.wait_table.take_waiter(token) {
                    self.clean_up_leaving_waiter(&w, out);
                }
            }
            WaiterTask::UpdateWaitFor(events) => self.handle_update_wait_for(events, out),
            WaiterTask::Deadlock {
                start_ts,
                lock_ts,
                key,
                wait_chain,
            } => {
                if let Some(w) = self
                    .wait_table
                    .take_waiter_by_lock_digest(lock_ts, start_ts)
                {
                    out.push(LockManagerEffect::CancelWaiter {
                        waiter: Box::new(w),
                        error: crate::proto::TxnError::Deadlock {
                            lock_ts,
                            key,
                            wait_chain,
                        },
                    });
                }
            }
        }
    }

    /// The waiter's edge leaves the detector when it stops waiting: its
    /// current wait info, or with PR 20002 its registered edge if any.
    fn clean_up_leaving_waiter(&mut self, w: &Waiter, out: &mut Vec<LockManagerEffect>) {
        match self.cfg.fix {
            UpdateWaitForFix::SkipDetectOnOwnerChange => {
                if let Some(edge) = w.registered_edge {
                    self.schedule_detect(
                        DeadlockRequestType::CleanUpWaitFor,
                        w.start_ts,
                        edge,
                        out,
                    );
                }
            }
            _ => self.schedule_detect(
                DeadlockRequestType::CleanUpWaitFor,
                w.start_ts,
                w.wait_info,
                out,
            ),
        }
    }

    /// The waiter `token`'s timeout fired at `now`.
    pub fn on_waiter_timeout(&mut self, now: Micros, token: u64, out: &mut Vec<LockManagerEffect>) {
        let due = self
            .wait_table
            .get(token)
            .is_some_and(|w| w.deadline <= now);
        if !due {
            return;
        }
        let w = self.wait_table.take_waiter(token).expect("present");
        out.push(LockManagerEffect::Count(
            crate::lock_manager::metrics::LOCK_WAIT_TIMEOUTS,
            1,
        ));
        self.clean_up_leaving_waiter(&w, out);
        out.push(LockManagerEffect::CancelWaiter {
            error: crate::proto::TxnError::KeyIsLocked {
                key: w.wait_info.key,
                lock_ts: w.wait_info.lock_ts,
            },
            waiter: Box::new(w),
        });
    }

    /// `handle_update_wait_for` under the configured rule.
    fn handle_update_wait_for(
        &mut self,
        events: Vec<UpdateWaitForEvent>,
        out: &mut Vec<LockManagerEffect>,
    ) {
        let fix = self.cfg.fix;
        let mut replace: Vec<(Key, u64, u64)> = Vec::new();
        for ev in events {
            let Some(prev) = self.wait_table.update_waiter(&ev) else {
                continue;
            };
            if ev.is_first_lock {
                continue;
            }
            let new = WaitInfo {
                key: ev.key,
                lock_ts: ev.lock_ts,
                allow_lock_with_conflict: prev.allow_lock_with_conflict,
            };
            match fix {
                // PR 17500 made the re-pointing a no-op for non-fair waiters.
                UpdateWaitForFix::NonFairNoop if !prev.allow_lock_with_conflict => {}
                UpdateWaitForFix::None
                | UpdateWaitForFix::Backpressure
                | UpdateWaitForFix::NonFairNoop => {
                    self.schedule_detect(
                        DeadlockRequestType::CleanUpWaitFor,
                        ev.start_ts,
                        prev,
                        out,
                    );
                    self.schedule_detect(DeadlockRequestType::Detect, ev.start_ts, new, out);
                }
                UpdateWaitForFix::SkipDetectOnOwnerChange => {
                    if prev.allow_lock_with_conflict {
                        if let Some(edge) = self.wait_table.take_registered_edge(ev.token) {
                            self.schedule_detect(
                                DeadlockRequestType::CleanUpWaitFor,
                                ev.start_ts,
                                edge,
                                out,
                            );
                            out.push(LockManagerEffect::Count(
                                crate::lock_manager::metrics::DROP_REGISTERED_EDGE,
                                1,
                            ));
                        }
                    }
                }
                UpdateWaitForFix::Batching => {
                    replace.push((ev.key, prev.lock_ts, ev.lock_ts));
                }
            }
        }
        replace.sort_unstable();
        replace.dedup_by_key(|r| r.0);
        for (key, old, new) in replace {
            self.schedule_detect(
                DeadlockRequestType::ReplaceLockByKey,
                old,
                WaitInfo {
                    key,
                    lock_ts: new,
                    allow_lock_with_conflict: false,
                },
                out,
            );
        }
    }

    /// The process died: every queue, waiter and table is gone.
    pub fn reset(&mut self) {
        let cfg = self.cfg.clone();
        *self = LockManager::new(self.store_id, cfg);
    }

    /// Ends a virtual second for the channels' rates.
    pub fn roll_second(&mut self) {
        self.waiter_tasks.roll_second();
        self.detector_tasks.roll_second();
        self.stream.roll_second();
    }

    /// Bytes each channel holds, in pipeline order (waiter manager tasks,
    /// detector tasks, the stream), by the size rules of [`crate::memory`].
    pub fn channel_bytes(&self) -> [u64; 3] {
        use crate::memory::{DEADLOCK_REQUEST_BYTES, DETECTOR_TASK_BYTES};
        [
            self.waiter_tasks.iter().map(WaiterTask::bytes).sum(),
            self.detector_tasks.len() as u64 * DETECTOR_TASK_BYTES,
            self.stream.len() as u64 * DEADLOCK_REQUEST_BYTES,
        ]
    }

    /// The lock manager's subtree of the memory trace.
    pub fn memory_trace(&self) -> crate::memory::MemoryTrace {
        use crate::memory::*;
        let q = self.channel_bytes();
        let (edges, keys) = self.detect_table.size();
        MemoryTrace::node(
            "lock_manager",
            vec![
                MemoryTrace::leaf("waiter_manager_tasks", q[0]),
                MemoryTrace::leaf("waiters", self.wait_table.len() as u64 * WAITER_BYTES),
                MemoryTrace::leaf("detector_tasks", q[1]),
                MemoryTrace::leaf("detector_stream", q[2]),
                MemoryTrace::leaf(
                    "detect_table",
                    edges * DETECT_EDGE_BYTES + keys * DETECT_EDGE_KEY_BYTES,
                ),
            ],
        )
    }
}

/// The scheduler's calls queue tasks, as TiKV's `LockManager` does through
/// its workers' schedulers; the effects of queuing (counters) go to `ctx`.
impl crate::storage::lock_manager::LockManager for LockManager {
    fn wait_for(
        &mut self,
        ctx: &mut Ctx,
        token: u64,
        start_ts: u64,
        wait_info: WaitInfo,
        is_first_lock: bool,
        region_id: u64,
    ) {
        let waiter = Waiter::new(
            token,
            start_ts,
            wait_info,
            is_first_lock,
            region_id,
            ctx.now,
        );
        let mut out = Vec::new();
        LockManager::wait_for(self, waiter, &mut out);
        for e in out {
            match e {
                LockManagerEffect::Count(name, n) => ctx.count(name, n),
                other => debug_assert!(false, "wait_for only counts, got {other:?}"),
            }
        }
    }

    fn remove_lock_wait(&mut self, token: u64) {
        LockManager::remove_lock_wait(self, token)
    }

    fn update_wait_for(&mut self, events: Vec<UpdateWaitForEvent>) {
        LockManager::update_wait_for(self, events)
    }

    fn wake_up_delay_duration(&self) -> u64 {
        self.cfg.wake_up_delay_duration
    }

    fn arm(&mut self, ctx: &mut Ctx) {
        if self.has_work() && !self.tick_armed {
            self.tick_armed = true;
            ctx.timer(Node::Store(self.store_id), TICK, Timer::LockManagerTick);
        }
    }
}
