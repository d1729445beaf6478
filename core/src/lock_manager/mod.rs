//! The pessimistic lock manager of one store (`src/server/lock_manager/`):
//! the waiter manager and the deadlock detector, each a single worker
//! thread (`waiter-manager`, `deadlock-det`) fed by an unbounded channel,
//! and the follower's client stream to the detector leader.
//!
//! Pipeline (each arrow a [`Channel`]):
//!
//! ```text
//! txn scheduler ──waiter_manager_tasks──▶ WaiterManager ──detector_tasks──▶ Detector
//!        └──────────────(Detect on wait_for)───────────────────┘              │
//!        leader: DetectTable on its deadlock-det thread │ follower: detector_stream ─▶ leader
//! ```
//!
//! The workers run on the store's worker pools: each takes the tasks queued
//! in its channel, does their work, and occupies its thread for their CPU
//! cost (the detector leader's grows with the edges each search visits),
//! in slices of at most [`SLICE`]. The follower's stream drains onto the
//! network under HTTP/2 flow control: at most [`STREAM_WINDOW_BYTES`] may be
//! sent and not yet consumed by the leader's detector thread, which returns
//! window as it works through them. So the stream drains no faster than the
//! leader's thread (or the link) allows; what the follower's waiter manager
//! produces beyond that stays queued in the follower's unbounded channel
//! (TiKV issue 17394: "the generation speed of messages may be much faster
//! than sending").
//!
//! The follower's client follows `Detector::handle_detect` and
//! `send_request_to_leader`: with no client it asks PD for the leader
//! (blocking the detector thread, as TiKV does), connects ("reconnect leader
//! succeeded") and queues the request; a request that finds no leader after
//! two tries is dropped ("detect request dropped"). A stream that fails (the
//! leader died, was partitioned past gRPC's keepalive, or stepped down) loses
//! what was queued on it ("leader client failed"), and the next request
//! reconnects through PD. The leader logs "deadlock detect rpc stream
//! disconnected" when a follower's stream ends.

pub mod channel;
pub mod detector;
pub mod metrics;
pub mod waiter_manager;

use std::collections::{BTreeMap, VecDeque};

use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::Counter;
use crate::kernel::time::{Micros, MS};
use crate::proto::wire::{DEADLOCK_REQUEST_BYTES as WIRE_REQUEST_BYTES, GRPC_FRAME_BYTES};
use crate::proto::{Ctx, DeadlockRequest, DeadlockRequestType, Key, Msg, Timer, TxnError};
pub use crate::storage::lock_manager::WaitInfo;
use crate::storage::lock_wait_queues::UpdateWaitForEvent;

pub use channel::Channel;
pub use detector::{DetectTable, DetectorRole, WaitChain};
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
/// its threads in January 2026, PR 19176; `deadlock-detector` before).
pub const DETECTOR_THREAD: &str = "deadlock-det";

/// `LEADER_KEY` (`b""`): the detector leader is the leader of the region
/// that holds it.
pub const LEADER_KEY: crate::proto::Key = 0;

/// The longest stretch of work a worker does before the simulator hands
/// its effects out, virtual µs (the thread runs its tasks back to back; the
/// slices only bound how long effects wait).
pub const SLICE: Micros = MS;
/// CPU per waiter-manager task, virtual µs (a hash-map insert or removal
/// and a timer; TiKV's waiter manager is cheap).
pub const WAITER_TASK_COST: Micros = 2;
/// Extra CPU per waiter re-pointed in an `UpdateWaitFor` task, virtual µs.
pub const UPDATE_EVENT_COST: Micros = 1;
/// CPU of one detector request's table work on the `deadlock-det` thread
/// besides its search, virtual µs: the detect table's hash maps and the
/// metrics (an estimate: TiKV times `detect` with
/// `tikv_lock_manager_detect_duration` but publishes no figure).
pub const DETECT_REQUEST_COST: Micros = 8;
/// Extra CPU of a request taken off a follower's stream, virtual µs: the
/// leader polls the gRPC stream on its detector thread (`handle_detect_rpc`
/// runs in the detector's `LocalSet`), one message at a time (an estimate).
pub const STREAM_REQUEST_COST: Micros = 22;
/// CPU per edge the detector's depth-first search scans, virtual µs.
pub const DETECT_EDGE_COST: Micros = 1;
/// CPU of forwarding one request on a follower (building the
/// `DeadlockRequest`, `unbounded_send`), virtual µs.
pub const FORWARD_COST: Micros = 2;
/// Bytes of one `DeadlockRequest` on the wire, gRPC frame included.
pub const REQUEST_WIRE_BYTES: u64 = WIRE_REQUEST_BYTES + GRPC_FRAME_BYTES;
/// HTTP/2 flow-control window of the detect stream, bytes (TiKV's
/// `server.grpc-stream-initial-window-size`, 2 MB).
pub const STREAM_WINDOW_BYTES: u64 = 2 * 1024 * 1024;
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

/// Lock manager configuration (`[pessimistic-txn]`).
#[derive(Clone, Debug)]
pub struct LockManagerConfig {
    /// `wait-for-lock-timeout`, virtual µs (default 1 s): longest wait and the
    /// detect table's edge TTL.
    pub wait_for_lock_timeout: Micros,
    /// `wake-up-delay-duration`, virtual µs (default 20 ms).
    pub wake_up_delay_duration: Micros,
    /// The owner-change rule.
    pub fix: UpdateWaitForFix,
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
    /// `Deadlock`: the detector chose `start_ts` as victim of a cycle found
    /// on `key` (the waiter is found by key hash and start_ts).
    Deadlock {
        /// Victim.
        start_ts: u64,
        /// Lock it waited for when the cycle was found.
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

    fn cost(&self) -> Micros {
        match self {
            WaiterTask::UpdateWaitFor(ev) => WAITER_TASK_COST + UPDATE_EVENT_COST * ev.len() as u64,
            _ => WAITER_TASK_COST,
        }
    }
}

/// A detector task (`deadlock::Task`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorTask {
    /// `Detect{tp, ..}` from this store's waiter manager, or a request that
    /// arrived on a follower's stream (leader only), tagged with its origin.
    Request {
        /// The request.
        req: DeadlockRequest,
        /// Store that produced it (this store for local tasks).
        from_store: u64,
    },
    /// `ChangeRole`, from the role-change notifier.
    ChangeRole(DetectorRole),
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
        error: TxnError,
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
    /// Return stream window to follower `to_store` (HTTP/2 `WINDOW_UPDATE`):
    /// the leader's detector consumed `bytes` of its stream.
    SendWindowUpdate {
        /// Follower store.
        to_store: u64,
        /// Bytes consumed.
        bytes: u64,
    },
    /// End follower `to_store`'s stream with a gRPC error status.
    SendStreamError {
        /// Follower store.
        to_store: u64,
        /// The status message.
        reason: &'static str,
    },
    /// Ask PD for the first region's leader (`get_region_info(LEADER_KEY)`).
    ResolveLeader,
    /// Run a slice of a worker's work on its thread for `cost` virtual µs.
    RunSlice {
        /// The detector's thread (else the waiter manager's).
        detector: bool,
        /// CPU, virtual µs.
        cost: Micros,
    },
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
    Log(Level, String),
    /// Add to a counter.
    Count(Counter, u64),
}

/// Where the follower's detector client stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// No client (`leader_client` is `None`): the next request asks PD.
    Disconnected,
    /// The detector thread is blocked on PD's answer
    /// (`get_region_info(LEADER_KEY)`).
    Resolving,
    /// The stream to the leader on this store is open.
    Connected(u64),
    /// The stream to the leader on this store has failed; the next request
    /// finds it closed and reconnects.
    Failed(u64),
}

/// A deadlock found by a store's detector: (virtual µs, victim start_ts,
/// wait chain of `(txn, wait_for_txn, key)`).
pub type FoundDeadlock = (u64, u64, Vec<(u64, u64, Key)>);

/// A worker's slice in flight: the effects it produces when it ends.
#[derive(Clone, Debug, Default)]
struct Slice {
    effects: Vec<LockManagerEffect>,
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
    /// Follower: bytes sent on the stream and not yet consumed by the leader.
    pub stream_in_flight: u64,
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
    /// Leader: the followers' open streams, with the bytes consumed and not
    /// yet returned as window.
    pub incoming_streams: BTreeMap<u64, u64>,
    waiter_slice: Option<Slice>,
    detector_slice: Option<Slice>,
    /// Deadlocks this store's detector found, most recent last (at most 32).
    pub recent_deadlocks: VecDeque<FoundDeadlock>,
}

impl LockManager {
    /// A lock manager in the follower role with nothing queued, created at
    /// virtual time `now` (its detect table's `last_active_expire`).
    pub fn new(store_id: u64, cfg: LockManagerConfig, now: Micros) -> LockManager {
        let mut stream = Channel::default();
        if cfg.fix == UpdateWaitForFix::Backpressure {
            stream.capacity = Some(BACKPRESSURE_QUEUE_LIMIT);
        }
        LockManager {
            detect_table: DetectTable::new(cfg.wait_for_lock_timeout, now),
            cfg,
            store_id,
            role: DetectorRole::Follower,
            client: ClientState::Disconnected,
            stream_in_flight: 0,
            waiter_tasks: Channel::default(),
            detector_tasks: Channel::default(),
            stream,
            wait_table: WaitTable::default(),
            incoming_streams: BTreeMap::new(),
            waiter_slice: None,
            detector_slice: None,
            recent_deadlocks: VecDeque::new(),
        }
    }

    /// Changes the owner-change rule while running (the page's fix switch).
    pub fn set_fix(&mut self, fix: UpdateWaitForFix) {
        self.cfg.fix = fix;
        self.stream.capacity =
            (fix == UpdateWaitForFix::Backpressure).then_some(BACKPRESSURE_QUEUE_LIMIT);
    }

    /// True when any channel holds work or a slice is running.
    pub fn has_work(&self) -> bool {
        !self.waiter_tasks.is_empty()
            || !self.detector_tasks.is_empty()
            || !self.stream.is_empty()
            || self.waiter_slice.is_some()
            || self.detector_slice.is_some()
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

    /// `ChangeRole` from the role-change notifier: queued for the detector.
    pub fn schedule_change_role(&mut self, role: DetectorRole) {
        let _ = self.detector_tasks.push(DetectorTask::ChangeRole(role));
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

    /// Requests that arrived on follower `from_store`'s stream. A new stream
    /// reaching a store that does not lead is refused (`FAILED_PRECONDITION
    /// "I'm not the leader of deadlock detector"`); on an open one they wait
    /// for the detector thread like any task (`handle_detect_rpc` runs on it).
    pub fn on_remote_requests(
        &mut self,
        from_store: u64,
        reqs: &[DeadlockRequest],
        out: &mut Vec<LockManagerEffect>,
    ) {
        if !self.incoming_streams.contains_key(&from_store) {
            if self.role != DetectorRole::Leader {
                out.push(LockManagerEffect::Log(
                    Level::Warn,
                    "I'm not the leader of deadlock detector".to_string(),
                ));
                out.push(LockManagerEffect::SendStreamError {
                    to_store: from_store,
                    reason: "I'm not the leader of deadlock detector",
                });
                return;
            }
            self.incoming_streams.insert(from_store, 0);
        }
        for &req in reqs {
            let _ = self
                .detector_tasks
                .push(DetectorTask::Request { req, from_store });
        }
    }

    /// The leader returned `bytes` of window on this follower's stream.
    pub fn on_window_update(&mut self, bytes: u64) {
        self.stream_in_flight = self.stream_in_flight.saturating_sub(bytes);
    }

    /// The stream to the leader ended with a gRPC error (the leader refused
    /// it or stepped down): the send task fails, what was queued is lost.
    pub fn on_stream_error(&mut self, reason: &str, out: &mut Vec<LockManagerEffect>) {
        if let ClientState::Connected(leader) = self.client {
            self.fail_stream(leader, reason, out);
        }
    }

    /// The connection to `peer` broke (the process died, or a partition
    /// outlasted gRPC's keepalive): a follower's stream to it fails; a
    /// leader forgets its stream from it.
    pub fn on_connection_reset(&mut self, peer: u64, out: &mut Vec<LockManagerEffect>) {
        if self.client == ClientState::Connected(peer) {
            self.fail_stream(peer, "connection reset", out);
        }
        if self.incoming_streams.remove(&peer).is_some() {
            out.push(LockManagerEffect::Log(
                Level::Warn,
                format!(
                    "deadlock detect rpc stream disconnected, error: connection to store {peer} closed"
                ),
            ));
        }
    }

    fn fail_stream(&mut self, leader: u64, reason: &str, out: &mut Vec<LockManagerEffect>) {
        self.client = ClientState::Failed(leader);
        self.stream_in_flight = 0;
        let lost = self.stream.clear() as u64;
        if lost > 0 {
            out.push(LockManagerEffect::Count(
                metrics::DETECTOR_REQUESTS_DROPPED,
                lost,
            ));
        }
        out.push(LockManagerEffect::Log(
            Level::Error,
            format!("leader client failed, err: {reason}, lost: {lost}"),
        ));
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
        let _ = self.detector_tasks.push(DetectorTask::Request {
            req: DeadlockRequest {
                tp,
                txn: txn_ts,
                wait_for_txn: w.lock_ts,
                key: w.key,
            },
            from_store: self.store_id,
        });
    }

    /// `change_role`: logs only a change, but always resets (TiKV
    /// `Detector::change_role`): the detect table is cleared and the client
    /// dropped, with what its stream still held.
    fn change_role(&mut self, role: DetectorRole, out: &mut Vec<LockManagerEffect>) {
        if role != self.role {
            out.push(LockManagerEffect::Log(
                Level::Info,
                match role {
                    DetectorRole::Leader => "became the leader of deadlock detector!".to_string(),
                    DetectorRole::Follower => {
                        "changed from the leader of deadlock detector to follower!".to_string()
                    }
                },
            ));
        }
        self.role = role;
        self.detect_table.clear();
        self.drop_client(out);
    }

    /// The client is dropped (a reset): its channel and what it held go.
    fn drop_client(&mut self, out: &mut Vec<LockManagerEffect>) {
        self.client = ClientState::Disconnected;
        self.stream_in_flight = 0;
        let dropped = self.stream.clear() as u64;
        if dropped > 0 {
            out.push(LockManagerEffect::Count(
                metrics::DETECTOR_REQUESTS_DROPPED,
                dropped,
            ));
        }
    }

    /// PD answered the leader lookup (`refresh_leader_info`): connect and
    /// send what waited, or drop it.
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
                    Level::Info,
                    format!("reconnect leader succeeded, leader_id: {s}"),
                ));
            }
            other => {
                self.client = ClientState::Disconnected;
                if other.is_none() {
                    out.push(LockManagerEffect::Log(Level::Info, "no leader".to_string()));
                } else {
                    out.push(LockManagerEffect::Log(
                        Level::Info,
                        "stale leader info".to_string(),
                    ));
                }
                // The request that asked is dropped; the waiter will time out.
                if let Some(DetectorTask::Request { .. }) = self.detector_tasks.front() {
                    let _ = self.detector_tasks.pop();
                    out.push(LockManagerEffect::Count(
                        metrics::DETECTOR_REQUESTS_DROPPED,
                        1,
                    ));
                    out.push(LockManagerEffect::Log(
                        Level::Warn,
                        "detect request dropped".to_string(),
                    ));
                }
            }
        }
    }

    /// Hands out work: the follower's stream sends what its window allows,
    /// and each idle worker with queued tasks starts a slice (its effects
    /// come when the slice ends, [`LockManager::on_slice_done`]).
    pub fn kick(&mut self, now: Micros, out: &mut Vec<LockManagerEffect>) {
        self.flush_stream(out);
        if self.waiter_slice.is_none() && !self.waiter_tasks.is_empty() {
            let mut slice = Slice::default();
            let mut cost = 0;
            while cost < SLICE {
                let Some(task) = self.waiter_tasks.pop() else {
                    break;
                };
                cost += task.cost();
                self.run_waiter_task(now, task, &mut slice.effects);
            }
            self.waiter_slice = Some(slice);
            out.push(LockManagerEffect::RunSlice {
                detector: false,
                cost,
            });
        }
        if self.detector_slice.is_none()
            && self.client != ClientState::Resolving
            && !self.detector_tasks.is_empty()
        {
            let mut slice = Slice::default();
            let mut cost = 0;
            while cost < SLICE && self.client != ClientState::Resolving {
                let Some(task) = self.detector_tasks.front().copied() else {
                    break;
                };
                match self.run_detector_task(now, task, &mut slice.effects) {
                    Some(c) => {
                        let _ = self.detector_tasks.pop();
                        cost += c;
                    }
                    // Blocked on PD: the task stays at the head.
                    None => break,
                }
            }
            self.detector_slice = Some(slice);
            out.push(LockManagerEffect::RunSlice {
                detector: true,
                cost: cost.max(1),
            });
        }
        self.flush_stream(out);
    }

    /// A worker's slice ended: its effects go out.
    pub fn on_slice_done(&mut self, detector: bool, out: &mut Vec<LockManagerEffect>) {
        let slice = if detector {
            self.detector_slice.take()
        } else {
            self.waiter_slice.take()
        };
        if let Some(s) = slice {
            out.extend(s.effects);
        }
    }

    /// Runs every worker until nothing is queued, as if their threads were
    /// always free (for tests of the message rules; the simulator drives the
    /// workers on the store's pools instead). Returns every effect, slices
    /// excluded.
    pub fn run_to_idle(&mut self, now: Micros, out: &mut Vec<LockManagerEffect>) {
        for _ in 0..100_000 {
            let mut step = Vec::new();
            self.kick(now, &mut step);
            let mut ran = false;
            for e in step {
                match e {
                    LockManagerEffect::RunSlice { detector, .. } => {
                        ran = true;
                        self.on_slice_done(detector, out);
                    }
                    other => out.push(other),
                }
            }
            if !ran {
                return;
            }
        }
    }

    /// The follower's stream: what the flow-control window allows goes on
    /// the wire as one batch.
    fn flush_stream(&mut self, out: &mut Vec<LockManagerEffect>) {
        let ClientState::Connected(to_store) = self.client else {
            return;
        };
        let room = STREAM_WINDOW_BYTES.saturating_sub(self.stream_in_flight) / REQUEST_WIRE_BYTES;
        let n = (room as usize).min(self.stream.len());
        if n == 0 {
            return;
        }
        let batch: Vec<DeadlockRequest> = (0..n).filter_map(|_| self.stream.pop()).collect();
        self.stream_in_flight += n as u64 * REQUEST_WIRE_BYTES;
        out.push(LockManagerEffect::SendStream { to_store, batch });
    }

    /// One detector task; returns its CPU cost, or `None` when the thread
    /// must block on PD first (the task stays queued).
    fn run_detector_task(
        &mut self,
        now: Micros,
        task: DetectorTask,
        out: &mut Vec<LockManagerEffect>,
    ) -> Option<Micros> {
        match task {
            DetectorTask::ChangeRole(role) => {
                self.change_role(role, out);
                Some(WAITER_TASK_COST)
            }
            DetectorTask::Request { req, from_store } if from_store != self.store_id => {
                Some(self.handle_detect_rpc(now, req, from_store, out))
            }
            DetectorTask::Request { req, .. } => match self.role {
                DetectorRole::Leader => {
                    Some(self.handle_detect_locally(now, req, self.store_id, out))
                }
                DetectorRole::Follower => self.send_to_leader(req, out),
            },
        }
    }

    /// `handle_detect_rpc`: a request from a follower's stream, checked
    /// against the role when it is processed.
    fn handle_detect_rpc(
        &mut self,
        now: Micros,
        req: DeadlockRequest,
        from_store: u64,
        out: &mut Vec<LockManagerEffect>,
    ) -> Micros {
        let open = self.incoming_streams.contains_key(&from_store);
        if self.role != DetectorRole::Leader {
            if open {
                // The stream was opened while leading: "leader changed" ends it.
                self.incoming_streams.remove(&from_store);
                out.push(LockManagerEffect::Log(
                    Level::Warn,
                    "deadlock detect rpc stream disconnected, error: leader changed".to_string(),
                ));
                out.push(LockManagerEffect::SendStreamError {
                    to_store: from_store,
                    reason: "leader changed",
                });
            }
            return WAITER_TASK_COST;
        }
        if !open {
            // A stream that already ended: its late requests are dropped.
            return WAITER_TASK_COST;
        }
        let cost = STREAM_REQUEST_COST + self.handle_detect_locally(now, req, from_store, out);
        let consumed = self.incoming_streams.entry(from_store).or_insert(0);
        *consumed += REQUEST_WIRE_BYTES;
        if *consumed >= STREAM_WINDOW_BYTES / 2 {
            out.push(LockManagerEffect::SendWindowUpdate {
                to_store: from_store,
                bytes: *consumed,
            });
            *consumed = 0;
        }
        cost
    }

    /// `handle_detect` on a follower: with no client, ask PD (blocking);
    /// with a failed one, the send fails, the client is taken and the second
    /// try asks PD; then the request is queued on the stream.
    fn send_to_leader(
        &mut self,
        req: DeadlockRequest,
        out: &mut Vec<LockManagerEffect>,
    ) -> Option<Micros> {
        if let ClientState::Failed(_) = self.client {
            self.client = ClientState::Disconnected;
        }
        match self.client {
            ClientState::Connected(_) => {
                if self.stream.push(req).is_err() {
                    out.push(LockManagerEffect::Count(
                        metrics::DETECTOR_REQUESTS_DROPPED,
                        1,
                    ));
                }
                Some(FORWARD_COST)
            }
            _ => {
                self.client = ClientState::Resolving;
                out.push(LockManagerEffect::ResolveLeader);
                None
            }
        }
    }

    /// A request handled by this (leader) detector's table; returns its CPU
    /// cost (a base plus the edges the search scanned).
    fn handle_detect_locally(
        &mut self,
        now: Micros,
        r: DeadlockRequest,
        from_store: u64,
        out: &mut Vec<LockManagerEffect>,
    ) -> Micros {
        let mut scanned = 0;
        let cycles: Vec<(DeadlockRequest, WaitChain)> = match r.tp {
            DeadlockRequestType::Detect => {
                let (chain, edges) = self.detect_table.detect(now, r.txn, r.wait_for_txn, r.key);
                scanned += edges;
                chain.map(|c| (r, c)).into_iter().collect()
            }
            DeadlockRequestType::CleanUpWaitFor => {
                self.detect_table
                    .clean_up_wait_for(r.txn, r.wait_for_txn, r.key);
                Vec::new()
            }
            DeadlockRequestType::CleanUp => {
                self.detect_table.clean_up(r.txn);
                Vec::new()
            }
            DeadlockRequestType::ReplaceLockByKey => {
                let (found, edges) =
                    self.detect_table
                        .replace_lock_by_key(now, r.key, r.txn, r.wait_for_txn);
                scanned += edges;
                found
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
                    .collect()
            }
        };
        for (entry, chain) in cycles {
            out.push(LockManagerEffect::Count(metrics::DEADLOCKS_DETECTED, 1));
            out.push(LockManagerEffect::DeadlockFound {
                victim: entry.txn,
                wait_chain: chain.clone(),
            });
            if from_store == self.store_id {
                self.on_deadlock(entry, chain);
            } else {
                out.push(LockManagerEffect::SendDeadlockResponse {
                    to_store: from_store,
                    entry,
                    wait_chain: chain,
                });
            }
        }
        DETECT_REQUEST_COST + DETECT_EDGE_COST * scanned
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
                // TiKV finds the waiter by (key hash, start_ts): the owner it
                // waits for now may differ from the one the cycle went through.
                if let Some(w) = self.wait_table.take_waiter_by_key(key, start_ts) {
                    out.push(LockManagerEffect::CancelWaiter {
                        waiter: Box::new(w),
                        error: TxnError::Deadlock {
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
        out.push(LockManagerEffect::Count(metrics::LOCK_WAIT_TIMEOUTS, 1));
        self.clean_up_leaving_waiter(&w, out);
        out.push(LockManagerEffect::CancelWaiter {
            error: TxnError::KeyIsLocked {
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

    /// The process died: every queue, waiter and table is gone; the new
    /// process starts at `now`.
    pub fn reset(&mut self, now: Micros) {
        let cfg = self.cfg.clone();
        *self = LockManager::new(self.store_id, cfg, now);
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

/// Turns the lock manager's effects that need only the network, timers and
/// the store's pools into `ctx` effects for store `store_id`; returns the
/// ones the store itself must handle (cancelling a waiter in the scheduler,
/// recording a deadlock).
pub fn emit(
    ctx: &mut Ctx,
    store_id: u64,
    effects: Vec<LockManagerEffect>,
) -> Vec<LockManagerEffect> {
    let me = Node::Store(store_id);
    let mut rest = Vec::new();
    for e in effects {
        match e {
            LockManagerEffect::SendStream { to_store, batch } => {
                ctx.count(metrics::DETECTOR_STREAM_SENT, batch.len() as u64);
                ctx.send(
                    me,
                    Node::Store(to_store),
                    Msg::DeadlockRequests {
                        from_store: store_id,
                        reqs: batch,
                    },
                );
            }
            LockManagerEffect::SendDeadlockResponse {
                to_store,
                entry,
                wait_chain,
            } => ctx.send(
                me,
                Node::Store(to_store),
                Msg::DeadlockResponse { entry, wait_chain },
            ),
            LockManagerEffect::SendWindowUpdate { to_store, bytes } => ctx.send(
                me,
                Node::Store(to_store),
                Msg::DeadlockStreamWindowUpdate { bytes },
            ),
            LockManagerEffect::SendStreamError { to_store, reason } => ctx.send(
                me,
                Node::Store(to_store),
                Msg::DeadlockStreamError { reason },
            ),
            LockManagerEffect::ResolveLeader => ctx.send(
                me,
                Node::Pd,
                Msg::QueryRegion {
                    req_id: 0,
                    keys: vec![LEADER_KEY],
                },
            ),
            LockManagerEffect::RunSlice { detector, cost } => ctx.spawn(
                store_id,
                if detector {
                    DETECTOR_THREAD
                } else {
                    WAITER_MANAGER_THREAD
                },
                cost,
                Timer::LockManagerSliceDone { detector },
            ),
            LockManagerEffect::WaiterTimeout { token, at } => ctx.timer(
                me,
                at.saturating_sub(ctx.now),
                Timer::WaiterTimeout { token },
            ),
            LockManagerEffect::Log(level, msg) => {
                ctx.log("lock_manager", level, Some(store_id), None, msg)
            }
            LockManagerEffect::Count(name, n) => ctx.count(name, n),
            other => rest.push(other),
        }
    }
    rest
}

/// The scheduler's calls queue tasks, as TiKV's `LockManager` does through
/// its workers' schedulers.
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
        let rest = emit(ctx, self.store_id, out);
        debug_assert!(rest.is_empty(), "wait_for only counts: {rest:?}");
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
        let mut out = Vec::new();
        self.kick(ctx.now, &mut out);
        let rest = emit(ctx, self.store_id, out);
        debug_assert!(rest.is_empty(), "kick only starts work: {rest:?}");
    }
}
