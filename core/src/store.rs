//! One TiKV process (`tikv-server`): the components it runs and how the
//! simulator's events reach them.
//!
//! A [`Store`] is split as TiKV is: [`Raftstore`] (peers and the ready loop,
//! with the apply path and the coprocessor host), the [`TxnScheduler`], the
//! pessimistic [`LockManager`] (waiter manager and deadlock detector, when
//! the scenario runs transactions) and the [`HealthController`]. The store
//! routes messages, timers and disk completions to them, wires the lock
//! manager's effects back to the scheduler and the network, and computes
//! the process's memory trace from what they hold.

use std::cell::RefCell;
use std::rc::Rc;

use raft::StateRole;

use crate::env::pool::PoolConfig;
use std::collections::BTreeMap;

use crate::health_controller::HealthController;
use crate::in_memory_engine::observer::LoadEvictionObserver;
use crate::in_memory_engine::{ImeConfig, InMemoryEngine, SnapshotMeta};
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::{record, SeriesMap};
use crate::kernel::time::Micros;
use crate::lock_manager::{DetectorRole, LockManager, LockManagerConfig, LockManagerEffect};
use crate::memory::MemoryTrace;
use crate::proto::{Ctx, Msg, ReadOk, ReadRequest, RegionMeta, StoreHeartbeat, Timer};
use crate::raftstore::coprocessor::{
    RegionChangeEvent, RegionChangeObserver, RoleChange, RoleObserver,
};
use crate::raftstore::fsm::Raftstore;
use crate::raftstore::split_controller::{AutoSplitController, LoadSplitConfig};
use crate::raftstore::RaftstoreConfig;
use crate::server::snap::{SnapConfig, SnapOutcome, SnapStatus, SnapWorker};
use crate::storage::lock_manager::LockManager as _;
use crate::storage::scheduler::TxnScheduler;

/// The memory trace leaves of the KV engine's memtables under `rocksdb`, in
/// [`crate::engine_rocks::memtable::CFS`] order. TiKV reports them as
/// RocksDB's `mem-tables` (`tikv_engine_memory_bytes`), outside its own
/// `MemoryTrace`.
const MEMTABLE_LEAVES: [&str; 3] = ["memtable_default", "memtable_lock", "memtable_write"];

/// One TiKV store. See the module docs.
pub struct Store {
    /// Store id.
    pub id: u64,
    /// False while the process is down.
    pub up: bool,
    /// Bumped at every restart; timers of older incarnations are ignored.
    pub incarnation: u64,
    /// raftstore: peers, the ready loop, apply and the coprocessor host.
    pub raftstore: Raftstore,
    /// The transaction scheduler.
    pub scheduler: TxnScheduler,
    /// The pessimistic lock manager, when the scenario runs transactions.
    pub lock_manager: Option<LockManager>,
    /// The health controller (slow score).
    pub health: HealthController,
    /// The snap worker: snapshot streams to and from other stores.
    pub snap_worker: SnapWorker,
    /// The memory the process may use before the OOM killer ends it, bytes
    /// (`None`: unlimited). TiKV sizes its block cache from it. Every
    /// scenario gives its stores one (`memory_limit`).
    pub memory_limit: Option<u64>,
    /// jemalloc's per-thread counters of this process, advanced every
    /// virtual second by the simulation ([`crate::memory::alloc`]).
    pub thread_ledger: crate::memory::alloc::ThreadLedger,
    /// Bytes this store had sent to and received from other stores at the
    /// last per-second sample (the Raft messages' transient allocations).
    pub raft_bytes_seen: (u64, u64),
    /// The `ChangeRole` tasks the role-change notifier produced, until the
    /// store hands them to the detector's channel.
    detector_roles: Rc<RefCell<Vec<DetectorRole>>>,
    /// The in-memory engine, when the scenario turns it on
    /// (`in-memory-engine.enable`), and the settings it restarts with.
    pub ime: Option<InMemoryEngine>,
    ime_cfg: Option<ImeConfig>,
    /// The observer that feeds the in-memory engine.
    ime_observer: LoadEvictionObserver,
    /// Load-base split, when the scenario turns it on.
    pub auto_split: Option<AutoSplitController>,
    /// Coprocessor reads scanning, by token.
    pub reads: BTreeMap<u64, PendingRead>,
    next_read: u64,
    /// CPU a coprocessor read spends per MVCC version it steps over,
    /// virtual µs.
    pub read_cost_per_version: Micros,
    /// The resolved-ts endpoint, when the scenario turns it on
    /// (`resolved-ts.enable`).
    pub resolved_ts: Option<crate::resolved_ts::Endpoint>,
    /// The observer that feeds it.
    rts_observer: crate::resolved_ts::observer::ResolvedTsObserver,
    /// The store's `TxnStatusCache` (filled by `BroadcastTxnStatus`).
    pub txn_status_cache: crate::storage::txn_status_cache::TxnStatusCache,
}

/// A coprocessor read between its snapshot and its answer.
#[derive(Clone, Debug)]
pub struct PendingRead {
    /// The request.
    pub req: ReadRequest,
    /// What it read.
    pub result: ReadOk,
    /// The in-memory engine snapshot it holds.
    pub snapshot: Option<SnapshotMeta>,
}

/// TiKV's `RoleChangeNotifier` (`src/server/lock_manager/mod.rs`): the
/// detector leader is the store holding the leader of the initialized
/// region that contains `LEADER_KEY` (`b""`, key 0 here). Every soft-state
/// change of that region's peer (a leader change seen by a follower too),
/// and every creation or update of the region, sends `ChangeRole`; the
/// destruction of the peer sends `ChangeRole(Follower)`.
struct RoleChangeNotifier {
    roles: Rc<RefCell<Vec<DetectorRole>>>,
}

impl RoleChangeNotifier {
    fn is_leader_region(region: &RegionMeta, initialized: bool) -> bool {
        initialized && region.contains(crate::lock_manager::LEADER_KEY)
    }

    fn notify(&self, state: StateRole) {
        self.roles.borrow_mut().push(if state == StateRole::Leader {
            DetectorRole::Leader
        } else {
            DetectorRole::Follower
        });
    }
}

impl RoleObserver for RoleChangeNotifier {
    fn on_role_change(&mut self, region: &RegionMeta, change: &RoleChange) {
        if Self::is_leader_region(region, change.initialized) {
            self.notify(change.state);
        }
    }
}

impl RegionChangeObserver for RoleChangeNotifier {
    fn on_region_changed(
        &mut self,
        region: &RegionMeta,
        event: RegionChangeEvent,
        role: StateRole,
    ) {
        if !Self::is_leader_region(region, region.end_key > region.start_key) {
            return;
        }
        match event {
            RegionChangeEvent::Create | RegionChangeEvent::Update(_) => self.notify(role),
            RegionChangeEvent::Destroy => self.notify(StateRole::Follower),
        }
    }
}

impl Store {
    /// A store with no peers yet.
    pub fn new(id: u64, cfg: Rc<RaftstoreConfig>, logger: slog::Logger) -> Store {
        Store {
            id,
            up: true,
            incarnation: 0,
            snap_worker: SnapWorker::new(id, SnapConfig::default()),
            raftstore: Raftstore::new(id, cfg, logger),
            scheduler: TxnScheduler::new(id),
            lock_manager: None,
            health: HealthController::default(),
            memory_limit: None,
            thread_ledger: Default::default(),
            raft_bytes_seen: (0, 0),
            detector_roles: Rc::new(RefCell::new(Vec::new())),
            ime: None,
            ime_cfg: None,
            ime_observer: LoadEvictionObserver::default(),
            auto_split: None,
            reads: BTreeMap::new(),
            next_read: 1,
            read_cost_per_version: 1,
            resolved_ts: None,
            rts_observer: Default::default(),
            txn_status_cache: Default::default(),
        }
    }

    /// Turns resolved-ts on (TiKV's `resolved-ts.enable`): the endpoint and
    /// its observer on raftstore's apply path, admin commands and roles.
    pub fn enable_resolved_ts(&mut self, cfg: crate::resolved_ts::ResolvedTsConfig) {
        self.resolved_ts = Some(crate::resolved_ts::Endpoint::new(self.id, cfg));
        let host = &mut self.raftstore.host;
        host.register_cmd_observer(Box::new(self.rts_observer.clone()));
        host.register_admin_observer(Box::new(self.rts_observer.clone()));
        host.register_role_observer(Box::new(self.rts_observer.clone()));
        host.register_region_change_observer(Box::new(self.rts_observer.clone()));
    }

    /// Gives the store a lock manager (scenarios that run transactions) and
    /// registers its role-change notifier on raftstore.
    pub fn enable_lock_manager(&mut self, cfg: LockManagerConfig) {
        self.lock_manager = Some(LockManager::new(self.id, cfg, 0));
        let host = &mut self.raftstore.host;
        host.register_role_observer(Box::new(RoleChangeNotifier {
            roles: self.detector_roles.clone(),
        }));
        host.register_region_change_observer(Box::new(RoleChangeNotifier {
            roles: self.detector_roles.clone(),
        }));
    }

    /// Turns the in-memory engine on (TiKV's `in-memory-engine.enable`):
    /// the engine and its `LoadEvictionObserver` on raftstore's apply path,
    /// splits, merges and role changes.
    pub fn enable_in_memory_engine(&mut self, cfg: ImeConfig) {
        self.ime = Some(InMemoryEngine::new(self.id, cfg));
        self.ime_cfg = Some(cfg);
        let host = &mut self.raftstore.host;
        host.register_cmd_observer(Box::new(self.ime_observer.clone()));
        host.register_admin_observer(Box::new(self.ime_observer.clone()));
        host.register_role_observer(Box::new(self.ime_observer.clone()));
        host.register_region_change_observer(Box::new(self.ime_observer.clone()));
    }

    /// Switches the in-memory engine's load check (`fix`: PR 17550's id
    /// check on or off), now and after restarts.
    pub fn set_ime_id_check(&mut self, on: bool) {
        if let Some(cfg) = self.ime_cfg.as_mut() {
            cfg.id_check = on;
        }
        if let Some(ime) = self.ime.as_mut() {
            ime.cfg.id_check = on;
            ime.manager.id_check = on;
        }
    }

    /// Switches the resolvers' logic (the resolved-ts scenario's `fix`).
    pub fn set_resolved_ts_mode(&mut self, mode: crate::resolved_ts::resolver::ResolverMode) {
        if let Some(rts) = self.resolved_ts.as_mut() {
            rts.set_mode(&self.raftstore, mode);
        }
    }

    /// Turns load-base split on (`split.qps-threshold`, `split.detect-times`).
    pub fn enable_load_split(&mut self, cfg: LoadSplitConfig) {
        self.auto_split = Some(AutoSplitController::new(cfg));
    }

    /// The worker pools this process runs, from its components.
    pub fn pools(&self) -> Vec<PoolConfig> {
        let mut pools = crate::raftstore::POOLS.to_vec();
        if self.raftstore.cfg.split_check.is_some() {
            pools.push(crate::raftstore::split::SPLIT_CHECK);
        }
        if self.lock_manager.is_some() {
            pools.extend_from_slice(&crate::lock_manager::POOLS);
        }
        if self.ime.is_some() {
            pools.extend_from_slice(&crate::in_memory_engine::POOLS);
        }
        if self.resolved_ts.is_some() {
            pools.push(crate::resolved_ts::endpoint::INC_SCAN);
        }
        pools
    }

    /// Writes committed MVCC data into every region of this store covering
    /// the keys, as if loaded before the run (the bank workload's balances).
    pub fn load_initial_data(&mut self, rows: &[(u64, i64)], ts: u64) {
        self.raftstore.load_initial_data(rows, ts);
    }

    /// Bootstraps a peer of a pre-split region (TiKV's bootstrap/split path).
    pub fn bootstrap_peer(&mut self, ctx: &mut Ctx, region: RegionMeta, campaign: bool) {
        self.raftstore.bootstrap_peer(ctx, region, campaign);
        self.handle_readies(ctx);
    }

    /// Arms the store's periodic timers (at start and after a restart).
    pub fn start_timers(&self, ctx: &mut Ctx) {
        let node = Node::Store(self.id);
        let cfg = &self.raftstore.cfg;
        ctx.timer(node, cfg.raft_base_tick_interval, Timer::RaftBaseTick);
        ctx.timer(node, cfg.pd_heartbeat_tick_interval, Timer::PdHeartbeatTick);
        ctx.timer(
            node,
            cfg.pd_store_heartbeat_tick_interval,
            Timer::PdStoreHeartbeatTick,
        );
        ctx.timer(node, cfg.raft_log_gc_tick_interval, Timer::RaftLogGcTick);
        if let Some(split) = &cfg.split_check {
            ctx.timer(
                node,
                split.split_region_check_tick_interval,
                Timer::SplitRegionCheckTick,
            );
        }
        ctx.timer(
            node,
            crate::health_controller::slow_score::INSPECT_INTERVAL,
            Timer::InspectTick,
        );
        if let Some(ime) = &self.ime {
            ime.start_timers(ctx);
        }
        if self.auto_split.is_some() {
            ctx.timer(node, crate::kernel::time::SEC, Timer::LoadSplitTick);
        }
        if let Some(rts) = &self.resolved_ts {
            rts.start_timers(ctx);
        }
    }

    /// A timer of this store fired (the simulator has checked it belongs to
    /// this incarnation): route it to its component, then handle readies.
    pub fn on_timer(&mut self, ctx: &mut Ctx, timer: Timer) {
        match timer {
            Timer::RaftBaseTick => self.raftstore.on_tick(ctx),
            Timer::PdHeartbeatTick => self.raftstore.on_pd_heartbeat_tick(ctx),
            Timer::PdStoreHeartbeatTick => self.on_store_heartbeat_tick(ctx),
            Timer::RaftLogGcTick => self.raftstore.on_raft_log_gc_tick(ctx),
            Timer::SplitRegionCheckTick => self.raftstore.on_split_region_check_tick(ctx),
            Timer::SplitCheckDone { region_id, peer_id } => {
                self.raftstore.on_split_check_done(ctx, region_id, peer_id)
            }
            Timer::InspectTick => self.health.on_inspect_tick(ctx, self.id),
            Timer::LockManagerSliceDone { detector } => {
                let mut out = Vec::new();
                if let Some(lm) = self.lock_manager.as_mut() {
                    lm.on_slice_done(detector, &mut out);
                }
                self.apply_lm_effects(ctx, out);
            }
            Timer::WaiterTimeout { token } => self.on_waiter_timeout(ctx, token),
            Timer::ImeTaskDone { task } => {
                if let Some(ime) = self.ime.as_mut() {
                    let rs = &self.raftstore;
                    let leaders = || {
                        rs.peers
                            .values()
                            .filter(|p| p.is_leader())
                            .map(|p| (p.region().clone(), p.raft.store().kv.len() as u64))
                            .collect()
                    };
                    ime.on_task_done(ctx, task, &leaders);
                }
            }
            Timer::ImeGcTick => {
                if let Some(ime) = self.ime.as_mut() {
                    ime.on_gc_tick(ctx);
                }
            }
            Timer::ImeLoadEvictTick => {
                if let Some(ime) = self.ime.as_mut() {
                    ime.on_load_evict_tick(ctx);
                }
            }
            Timer::CopReadDone { token } => self.on_read_done(ctx, token),
            Timer::ResolvedTsAdvanceTick => {
                if let Some(rts) = self.resolved_ts.as_mut() {
                    rts.on_advance_tick(ctx, &self.raftstore, &self.txn_status_cache);
                }
            }
            Timer::ResolvedTsScanDone {
                region_id,
                observe_id,
            } => {
                if let Some(rts) = self.resolved_ts.as_mut() {
                    rts.on_scan_done(ctx, &self.raftstore, region_id, observe_id);
                }
            }
            Timer::LoadSplitTick => {
                if let Some(c) = self.auto_split.as_mut() {
                    self.raftstore.on_load_split_tick(ctx, c);
                }
                ctx.timer(
                    Node::Store(self.id),
                    crate::kernel::time::SEC,
                    Timer::LoadSplitTick,
                );
            }
            Timer::SnapGenerated { region_id, peer_id } => {
                self.raftstore.on_snap_generated(ctx, region_id, peer_id)
            }
            Timer::SnapApplied { region_id, peer_id } => {
                self.raftstore.on_snap_applied(ctx, region_id, peer_id)
            }
            Timer::SnapChunkRead { send_id } => self.snap_worker.on_chunk_read(ctx, send_id),
            Timer::DelayedNotifyAll { key, notify_id } => self.scheduler.on_delayed_notify_all(
                ctx,
                &mut self.raftstore,
                self.lock_manager.as_mut().map(|l| l as _),
                key,
                notify_id,
            ),
            _ => {}
        }
        self.handle_readies(ctx);
    }

    /// Handles a message delivered to this store.
    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) {
        match msg {
            Msg::Raft {
                region_id,
                from_peer,
                to_peer,
                sender,
                msg,
            } => self
                .raftstore
                .on_raft_message(ctx, region_id, from_peer, to_peer, sender, *msg),
            Msg::RaftExtra {
                region_id,
                from_peer,
                to_peer,
                extra,
            } => self
                .raftstore
                .on_extra_message(ctx, region_id, from_peer, to_peer, extra),
            Msg::AskBatchSplitResponse {
                region,
                split_keys,
                ids,
            } => self
                .raftstore
                .on_ask_batch_split_response(ctx, region, split_keys, ids),
            Msg::Write(req) => self.raftstore.on_write(ctx, req),
            Msg::Read(req) => self.on_read(ctx, req),
            Msg::PdCommand { region_id, cmd, .. } => {
                self.raftstore.on_pd_command(ctx, region_id, cmd)
            }
            Msg::TxnRequest {
                client,
                req_id,
                region_id,
                cmd: crate::proto::TxnCommand::StaleGet { ts, key },
            } => self.on_stale_read(ctx, client, req_id, region_id, ts, key),
            Msg::TxnRequest {
                client,
                req_id,
                region_id,
                cmd,
            } => self.scheduler.on_txn_request(
                ctx,
                &mut self.raftstore,
                self.lock_manager.as_mut().map(|l| l as _),
                client,
                req_id,
                region_id,
                cmd,
            ),
            Msg::BroadcastTxnStatus { statuses } => {
                ctx.count(crate::resolved_ts::metrics::TXN_STATUS_BROADCASTS, 1);
                for t in statuses {
                    self.txn_status_cache.update_txn_status(
                        t.start_ts,
                        t.min_commit_ts,
                        t.commit_ts,
                        t.rolled_back,
                        t.is_completed,
                        ctx.now,
                    );
                }
            }
            Msg::TsoResponse { req_id, last, .. } => {
                if let Some(rts) = self.resolved_ts.as_mut() {
                    rts.on_tso(ctx, &self.raftstore, &self.txn_status_cache, req_id, last);
                }
            }
            Msg::CheckLeader {
                from_store,
                ts,
                regions,
            } => {
                if let Some(rts) = self.resolved_ts.as_mut() {
                    let confirmed = rts.handle_check_leader(&self.raftstore, &regions);
                    ctx.send(
                        Node::Store(self.id),
                        Node::Store(from_store),
                        Msg::CheckLeaderResponse {
                            from_store: self.id,
                            ts,
                            regions: confirmed,
                        },
                    );
                }
            }
            Msg::CheckLeaderResponse {
                from_store,
                ts,
                regions,
            } => {
                if let Some(rts) = self.resolved_ts.as_mut() {
                    rts.on_check_leader_response(
                        ctx,
                        &self.raftstore,
                        &self.txn_status_cache,
                        from_store,
                        ts,
                        &regions,
                    );
                }
            }
            Msg::SnapshotChunk(chunk) => {
                if let Some(o) = self.snap_worker.on_chunk(ctx, chunk) {
                    self.on_snap_outcome(ctx, o);
                }
            }
            Msg::SnapshotDone {
                from_store,
                key,
                result,
            } => {
                if let Some(o) = self.snap_worker.on_done(ctx, from_store, key, result) {
                    self.on_snap_outcome(ctx, o);
                }
            }
            Msg::ConnectionReset { peer } => {
                if let Node::Store(peer_store) = peer {
                    for o in self.snap_worker.on_connection_reset(ctx, peer_store) {
                        self.on_snap_outcome(ctx, o);
                    }
                }
                self.on_lock_manager_msg(ctx, Msg::ConnectionReset { peer });
            }
            m @ (Msg::DeadlockRequests { .. }
            | Msg::DeadlockResponse { .. }
            | Msg::DeadlockStreamError { .. }
            | Msg::DeadlockStreamWindowUpdate { .. }
            | Msg::QueryRegionResponse { .. }) => self.on_lock_manager_msg(ctx, m),
            _ => {}
        }
        self.handle_readies(ctx);
    }

    /// Writes `tokens` became durable on this store's disk.
    pub fn on_disk_done(&mut self, ctx: &mut Ctx, tokens: Vec<u64>) {
        let (inspect, raft): (Vec<u64>, Vec<u64>) = tokens
            .into_iter()
            .partition(|&t| HealthController::owns_token(t));
        for _ in inspect {
            self.health.on_inspect_done(ctx);
        }
        self.raftstore.on_disk_done(ctx, raft);
        self.handle_readies(ctx);
    }

    /// Finishes an event: the txn commands settled by the last applies
    /// answer first (releasing their latches may run and propose the commands
    /// waiting on them), then raftstore handles its readies, then the lock
    /// manager learns the detector role the notifier saw.
    pub fn handle_readies(&mut self, ctx: &mut Ctx) {
        for (cid, result) in self.raftstore.take_txn_applied() {
            self.scheduler.on_txn_applied(
                ctx,
                &mut self.raftstore,
                self.lock_manager.as_mut().map(|l| l as _),
                cid,
                result,
            );
        }
        self.scheduler.on_applied(
            ctx,
            &mut self.raftstore,
            self.lock_manager.as_mut().map(|l| l as _),
        );
        self.raftstore.handle_readies(ctx);
        // Snapshots raft-rs sent go to the snap worker; a refused one is
        // reported at once, which may produce another ready.
        while !self.raftstore.outgoing_snapshots.is_empty() {
            for o in std::mem::take(&mut self.raftstore.outgoing_snapshots) {
                self.send_snapshot(ctx, o);
            }
            self.raftstore.handle_readies(ctx);
        }
        let rts_events = self.rts_observer.take();
        if let Some(rts) = self.resolved_ts.as_mut() {
            if !rts_events.is_empty() {
                rts.on_events(ctx, rts_events, &self.raftstore);
            }
        }
        let events = self.ime_observer.take();
        if let Some(ime) = self.ime.as_mut() {
            if !events.is_empty() {
                let rs = &self.raftstore;
                let data_of = |rid: u64| rs.peers.get(&rid).map(|p| p.raft.store().kv.clone());
                ime.on_events(ctx, events, &data_of);
            }
        }
        let roles = std::mem::take(&mut *self.detector_roles.borrow_mut());
        if let Some(lm) = self.lock_manager.as_mut() {
            if !roles.is_empty() {
                for role in roles {
                    lm.schedule_change_role(role);
                }
                lm.arm(ctx);
            }
        }
    }

    /// A stale read (`KvGet` with `context.stale_read`, TiKV's
    /// `LocalReader::try_local_stale_read`): any peer of the region whose
    /// safe-ts is at least `ts` reads its applied data at `ts`; otherwise
    /// `DataIsNotReady` with its safe-ts.
    fn on_stale_read(
        &mut self,
        ctx: &mut Ctx,
        client: u32,
        req_id: u64,
        region_id: u64,
        ts: u64,
        key: crate::proto::Key,
    ) {
        use crate::proto::{RegionError, TxnError, TxnOk};
        let safe_ts = self
            .resolved_ts
            .as_ref()
            .map_or(0, |r| r.safe_ts(region_id));
        let result = match self.raftstore.peers.get(&region_id) {
            None => Err(TxnError::Region(RegionError::RegionNotFound)),
            Some(p) if !p.region().contains(key) => {
                Err(TxnError::Region(RegionError::EpochNotMatch {
                    current_regions: self.raftstore.current_regions(key),
                }))
            }
            Some(_) if safe_ts < ts => {
                ctx.count(crate::resolved_ts::metrics::STALE_READS_REFUSED, 1);
                Err(TxnError::Region(RegionError::DataIsNotReady { safe_ts }))
            }
            Some(p) => {
                ctx.count(crate::resolved_ts::metrics::STALE_READS, 1);
                p.raft
                    .store()
                    .mvcc
                    .get(key, ts)
                    .map(|value| TxnOk {
                        value,
                        ..TxnOk::default()
                    })
                    .map_err(|lock_ts| TxnError::KeyIsLocked { key, lock_ts })
            }
        };
        ctx.send(
            Node::Store(self.id),
            Node::Client(client),
            Msg::TxnResponse { req_id, result },
        );
    }

    /// A coprocessor read (TiKV's `LocalReader` then the coprocessor): the
    /// leader checks it, takes a snapshot (the in-memory engine's when the
    /// region is cached there, else RocksDB's) and scans; the answer goes
    /// when the scan is done, and the snapshot is released then.
    fn on_read(&mut self, ctx: &mut Ctx, req: ReadRequest) {
        let (region, data) = match self.raftstore.check_read(&req) {
            Ok(r) => r,
            Err(e) => {
                return ctx.send(
                    Node::Store(self.id),
                    Node::Client(req.client),
                    Msg::ReadResponse {
                        req_id: req.req_id,
                        region_id: req.region_id,
                        result: Err(e),
                    },
                )
            }
        };
        let region_keys = data.len() as u64;
        let mut snapshot = None;
        let mut value_ts = data.get(&req.key).map(|v| v.ts);
        if let Some(ime) = self.ime.as_mut() {
            if let Ok(s) = ime.snapshot(ctx, &region, req.ts) {
                value_ts = ime.get(req.key).map(|v| v.ts);
                snapshot = Some(s);
            }
        }
        let from_cache = snapshot.is_some();
        let keys = req.keys.min(region_keys).max(1);
        let per_key = self.ime.as_mut().map_or(1, |ime| {
            ime.record_read(ctx.now, region.id, keys, region_keys, from_cache)
        });
        if let Some(c) = self.auto_split.as_mut() {
            c.record(region.id, req.key);
        }
        let cost = (keys * per_key * self.read_cost_per_version).max(req.stream_duration);
        let token = self.next_read;
        self.next_read += 1;
        self.reads.insert(
            token,
            PendingRead {
                req,
                result: ReadOk {
                    value_ts,
                    from_cache,
                },
                snapshot,
            },
        );
        ctx.timer(
            Node::Store(self.id),
            cost.max(1),
            Timer::CopReadDone { token },
        );
    }

    /// A read's scan finished: its snapshot is released, its answer goes.
    fn on_read_done(&mut self, ctx: &mut Ctx, token: u64) {
        let Some(r) = self.reads.remove(&token) else {
            return;
        };
        if let (Some(snap), Some(ime)) = (r.snapshot, self.ime.as_mut()) {
            ime.release_snapshot(ctx, snap);
        }
        ctx.send(
            Node::Store(self.id),
            Node::Client(r.req.client),
            Msg::ReadResponse {
                req_id: r.req.req_id,
                region_id: r.req.region_id,
                result: Ok(r.result),
            },
        );
    }

    /// An assertion of the in-memory engine failed during this event: the
    /// process aborts (the simulator restarts it).
    pub fn take_panic(&mut self) -> Option<crate::in_memory_engine::ImeAbort> {
        self.ime.as_mut().and_then(InMemoryEngine::take_panic)
    }

    /// Hands a `MsgSnapshot` to the snap worker with the files it names; a
    /// missing file or a send over the limit is reported as a failure.
    fn send_snapshot(&mut self, ctx: &mut Ctx, o: crate::raftstore::fsm::OutgoingSnapshot) {
        let meta = crate::raftstore::snap::SnapshotMeta::decode(o.msg.get_snapshot().get_data());
        let file = meta.and_then(|m| self.raftstore.snap_mgr.get(&m.key).cloned());
        let (region_id, to_peer) = (o.region_id, o.to_peer.id);
        let sent = file.is_some_and(|f| {
            let head = crate::proto::SnapshotHead {
                region_id,
                from_peer: o.from_peer,
                to_peer: o.to_peer,
                msg: o.msg,
            };
            self.snap_worker.send(ctx, o.to_peer.store_id, head, &f)
        });
        if !sent {
            self.raftstore
                .report_snapshot(ctx, region_id, to_peer, false);
        }
    }

    /// What the snap worker finished: a report for raftstore (the sent
    /// files can go), or a snapshot received whole (its files are
    /// registered, then its `MsgSnapshot` steps the follower).
    fn on_snap_outcome(&mut self, ctx: &mut Ctx, o: SnapOutcome) {
        match o {
            SnapOutcome::Report {
                region_id,
                to_peer,
                status,
                key,
            } => {
                self.raftstore.snap_mgr.delete(&key);
                self.raftstore.report_snapshot(
                    ctx,
                    region_id,
                    to_peer,
                    status == SnapStatus::Finish,
                );
            }
            SnapOutcome::Received { head, file } => {
                let h = *head;
                let sender = crate::proto::SenderRegion::of(&file.region);
                self.raftstore.snap_mgr.register(file);
                self.raftstore.on_raft_message(
                    ctx,
                    h.region_id,
                    h.from_peer,
                    h.to_peer,
                    sender,
                    h.msg,
                );
            }
        }
    }

    /// The store heartbeat to PD, carrying the slow score.
    fn on_store_heartbeat_tick(&mut self, ctx: &mut Ctx) {
        let hb = StoreHeartbeat {
            store_id: self.id,
            slow_score: self.health.slow_score.score(),
        };
        ctx.send(Node::Store(self.id), Node::Pd, Msg::StoreHeartbeat(hb));
        ctx.timer(
            Node::Store(self.id),
            self.raftstore.cfg.pd_store_heartbeat_tick_interval,
            Timer::PdStoreHeartbeatTick,
        );
    }

    /// A waiter's timeout timer fired.
    fn on_waiter_timeout(&mut self, ctx: &mut Ctx, token: u64) {
        let mut out = Vec::new();
        if let Some(lm) = self.lock_manager.as_mut() {
            lm.on_waiter_timeout(ctx.now, token, &mut out);
        }
        self.apply_lm_effects(ctx, out);
    }

    /// Hands the lock manager's effects out: the network, timers and pools
    /// through [`crate::lock_manager::emit`], the rest here; then wakes its
    /// workers for what is queued.
    fn apply_lm_effects(&mut self, ctx: &mut Ctx, out: Vec<LockManagerEffect>) {
        for e in crate::lock_manager::emit(ctx, self.id, out) {
            match e {
                LockManagerEffect::CancelWaiter { waiter, error } => self.scheduler.cancel_waiter(
                    ctx,
                    waiter.wait_info.key,
                    waiter.start_ts,
                    waiter.token,
                    error,
                ),
                LockManagerEffect::DeadlockFound { victim, wait_chain } => {
                    if let Some(lm) = self.lock_manager.as_mut() {
                        let d = &mut lm.recent_deadlocks;
                        d.push_back((ctx.now, victim, wait_chain));
                        while d.len() > 32 {
                            d.pop_front();
                        }
                    }
                }
                other => debug_assert!(false, "unhandled lock manager effect {other:?}"),
            }
        }
        if let Some(lm) = self.lock_manager.as_mut() {
            lm.arm(ctx);
        }
    }

    /// Lock manager messages between stores, from PD, and the environment's
    /// connection resets.
    fn on_lock_manager_msg(&mut self, ctx: &mut Ctx, msg: Msg) {
        let mut out = Vec::new();
        let Some(lm) = self.lock_manager.as_mut() else {
            return;
        };
        match msg {
            Msg::DeadlockRequests { from_store, reqs } => {
                lm.on_remote_requests(from_store, &reqs, &mut out)
            }
            Msg::DeadlockResponse { entry, wait_chain } => lm.on_deadlock(entry, wait_chain),
            Msg::DeadlockStreamError { reason } => lm.on_stream_error(reason, &mut out),
            Msg::DeadlockStreamWindowUpdate { bytes } => lm.on_window_update(bytes),
            Msg::ConnectionReset {
                peer: Node::Store(peer),
            } => lm.on_connection_reset(peer, &mut out),
            Msg::QueryRegionResponse { regions, .. } => {
                let leader_store = regions
                    .into_iter()
                    .next()
                    .flatten()
                    .and_then(|(_, leader)| leader)
                    .map(|l| l.store_id);
                lm.on_leader_resolved(leader_store, &mut out)
            }
            _ => {}
        }
        self.apply_lm_effects(ctx, out);
    }

    /// Sets the memory the process may use (`memory_limit`), which also
    /// sizes raft-kv2's write buffer limit.
    pub fn set_memory_limit(&mut self, limit: u64) {
        self.memory_limit = Some(limit);
        self.raftstore.set_memory_limit(Some(limit));
    }

    /// The store's memory trace tree (TiKV's `MemoryTrace`), computed from its
    /// state with the size rules of [`crate::memory`]. The memory limit sizes
    /// the block cache (45% of it, TiKV's `storage.block-cache.capacity` default).
    pub fn memory_trace(&self) -> MemoryTrace {
        use crate::memory::*;
        if !self.up {
            return MemoryTrace::node("tikv", Vec::new());
        }
        let limit = self.memory_limit.unwrap_or(0);
        let mut children = vec![
            MemoryTrace::leaf("block_cache", limit / 100 * 45),
            MemoryTrace::leaf("other", 32 << 20),
            self.raftstore.memory_trace(),
            self.scheduler
                .memory_trace(self.raftstore.pessimistic_lock_count()),
        ];
        if let Some(lm) = &self.lock_manager {
            children.push(lm.memory_trace());
        }
        if let Some(ime) = &self.ime {
            children.push(ime.memory_trace());
        }
        let mt = &self.raftstore.memtables;
        children.push(MemoryTrace::node(
            "rocksdb",
            crate::engine_rocks::memtable::CFS
                .iter()
                .map(|&cf| MemoryTrace::leaf(MEMTABLE_LEAVES[cf.index()], mt.bytes(cf)))
                .collect(),
        ));
        let (send, recv) = self.snap_worker.buffer_bytes();
        children.push(MemoryTrace::node(
            "server",
            vec![
                MemoryTrace::leaf("snap_send_buffers", send),
                MemoryTrace::leaf("snap_recv_buffers", recv),
            ],
        ));
        MemoryTrace::node("tikv", children)
    }

    /// Live bytes per allocation site ([`crate::memory::alloc::SITES`]
    /// indexes), from the memory trace tree and the entry cache the store's
    /// leaders hold (the rest of the entry cache came in `MsgAppend`s).
    pub fn live_allocations(&self, tree: &MemoryTrace) -> Vec<(usize, u64)> {
        let leader_entries: u64 = self
            .raftstore
            .peers
            .values()
            .filter(|p| p.is_leader())
            .map(|p| p.raft.store().entry_cache_bytes())
            .sum();
        crate::memory::alloc::live_allocations(tree, &[("entry_cache_leader", leader_entries)])
    }

    /// Ends the virtual second at `t_ms`: the store's own series
    /// (`slow_score_store_N`, `leaders_store_N`, `snapshot_bytes_in_flight_store_N`, and with a lock manager
    /// `tikv_lock_manager_detector_pending_msgs_store_N`, `waiters_store_N`), and the channels'
    /// per-second rates roll over.
    pub fn sample_second(&mut self, t_ms: u64, series: &mut SeriesMap) {
        let sid = self.id;
        record(
            series,
            crate::health_controller::SLOW_SCORE.of(sid),
            t_ms,
            self.health.slow_score.score() as f64,
        );
        let leaders = self
            .raftstore
            .peers
            .values()
            .filter(|p| self.up && p.is_leader())
            .count();
        record(
            series,
            crate::raftstore::metrics::LEADERS.of(sid),
            t_ms,
            leaders as f64,
        );
        record(
            series,
            crate::server::snap::SNAPSHOT_BYTES_IN_FLIGHT.of(sid),
            t_ms,
            self.snap_worker.bytes_in_flight() as f64,
        );
        if let Some(ime) = self.ime.as_mut() {
            use crate::in_memory_engine::metrics::{IME_CACHED_REGIONS, IME_HIT_RATIO, IME_MEMORY};
            let (hits, misses) = ime.roll_second();
            let ratio = (hits * 100).checked_div(hits + misses).unwrap_or(0) as f64;
            record(
                series,
                IME_CACHED_REGIONS.of(sid),
                t_ms,
                ime.cached_regions() as f64,
            );
            record(series, IME_MEMORY.of(sid), t_ms, ime.mem_usage as f64);
            record(series, IME_HIT_RATIO.of(sid), t_ms, ratio);
        }
        if let Some(rts) = self.resolved_ts.as_ref().filter(|_| self.up) {
            use crate::resolved_ts::endpoint::{tso_ms, ResolverStatus};
            use crate::resolved_ts::metrics::{RESOLVED_TS, RESOLVED_TS_LAG_MS};
            for (&rid, o) in &rts.regions {
                let leads = self
                    .raftstore
                    .peers
                    .get(&rid)
                    .is_some_and(|p| p.is_leader());
                if !leads || o.status != ResolverStatus::Ready || o.resolver.resolved_ts == 0 {
                    continue;
                }
                let rts_ms = tso_ms(o.resolver.resolved_ts);
                record(series, RESOLVED_TS.of(rid), t_ms, rts_ms as f64);
                record(
                    series,
                    RESOLVED_TS_LAG_MS.of(rid),
                    t_ms,
                    t_ms.saturating_sub(rts_ms) as f64,
                );
            }
        }
        if let Some(lm) = self.lock_manager.as_mut() {
            let (backlog, waiters) = if self.up {
                (lm.stream.len() as f64, lm.wait_table.len() as f64)
            } else {
                (0.0, 0.0)
            };
            lm.roll_second();
            use crate::lock_manager::metrics::{DETECTOR_PENDING_MSGS, WAITERS};
            record(series, DETECTOR_PENDING_MSGS.of(sid), t_ms, backlog);
            record(series, WAITERS.of(sid), t_ms, waiters);
        }
    }

    /// The process crashed: volatile state is gone, unsynced writes are lost.
    pub fn crash(&mut self, ctx: &mut Ctx) {
        self.up = false;
        self.incarnation += 1;
        self.raftstore.crash();
        self.snap_worker.crash();
        self.health.reset();
        self.scheduler.reset();
        if let Some(lm) = self.lock_manager.as_mut() {
            lm.reset(ctx.now);
        }
        self.detector_roles.borrow_mut().clear();
        self.ime_observer.take();
        self.rts_observer.take();
        if let Some(rts) = self.resolved_ts.as_mut() {
            rts.reset();
        }
        self.txn_status_cache = Default::default();
        self.reads.clear();
        if let Some(cfg) = self.ime_cfg {
            // The engine is memory only: it starts empty.
            self.ime = Some(InMemoryEngine::new(self.id, cfg));
        }
        if let Some(c) = self.auto_split.as_mut() {
            *c = AutoSplitController::new(c.cfg);
        }
        ctx.log(
            "sim",
            Level::Error,
            Some(self.id),
            None,
            "process crashed; volatile state lost".to_string(),
        );
    }

    /// The process restarted: every peer is rebuilt from its durable state.
    pub fn restart(&mut self, ctx: &mut Ctx) {
        self.up = true;
        self.raftstore.restart_peers();
        self.raftstore.resume_applying_snapshots(ctx);
        ctx.log(
            "sim",
            Level::Info,
            Some(self.id),
            None,
            "process restarted; peers recovered from durable raft and apply state".to_string(),
        );
        self.start_timers(ctx);
        self.handle_readies(ctx);
    }
}
