//! The raftstore of one store (TiKV `components/raftstore/src/store/fsm/`):
//! its peers, the Raft messages, proposals and PD commands they handle, the
//! async-ready loop that persists and sends, the transfer-leader handshake,
//! and the coprocessor host its observers hang off. Committed entries are
//! applied by [`super::apply`] once their apply write is durable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use protobuf::Message as _;
use raft::eraftpb::{
    self, ConfChange, ConfChangeType, Entry, EntryType, HardState, MessageType, Snapshot,
};
use raft::StateRole;

use super::apply::{apply_entries, SplitResult};
use super::coprocessor::{CoprocessorHost, RegionChangeEvent, RegionChangeReason, RoleChange};
use super::entry::{decode_peer_ctx, encode_peer_ctx, encode_put, entry_disk_bytes};
use super::peer::TransferOutcome;
use super::peer::{Peer, ProposalOwner};
use super::snap::{
    encode_region_data, push_stage, region_data_bytes, EngineKind, SnapKey, SnapManager, SnapStage,
    SnapStageEvent, SnapshotFile, SnapshotMeta, StageOf,
};
use super::split::{
    key_sizes, size_split_keys, SplitCheckConfig, SPLIT_CHECK, SPLIT_CHECK_BYTES_PER_MICRO,
    SPLIT_CHECK_COST_PER_KEY,
};
use super::storage::{KvData, MvccShared, PeerStorage, SnapEvent};
use super::{RaftstoreConfig, TransferLeaderCheck};
use crate::engine_rocks::memtable::{Flush, MemtableOptions, Memtables, CFS};
use crate::kernel::effect::{DiskLane, Node};
use crate::kernel::log::Level;
use crate::kernel::time::to_ms;
use crate::proto::{
    Ctx, Effect, ExtraMessage, Key, Msg, PdCommand, PeerMeta, RegionError, RegionHeartbeat,
    RegionMeta, SenderRegion, Timer, WriteRequest,
};

/// The memtable options of an engine layout, for a process of `memory`
/// bytes (raft-kv2 without a known memory gets no write buffer manager).
fn memtable_options(engine: EngineKind, memory: Option<u64>) -> MemtableOptions {
    match (engine, memory) {
        (EngineKind::RaftKv, _) => MemtableOptions::raft_kv(),
        (EngineKind::PartitionedRaftKv, Some(m)) => MemtableOptions::partitioned_raft_kv(m),
        (EngineKind::PartitionedRaftKv, None) => MemtableOptions {
            per_region: true,
            ..MemtableOptions::raft_kv()
        },
    }
}

/// A write submitted to the disk, waiting to become durable.
enum PendingWrite {
    /// A raft-rs ready: entries, hard state and/or snapshot, plus the messages
    /// raft-rs allows to send only after they are persisted.
    RaftLog {
        region_id: u64,
        peer_id: u64,
        number: u64,
        last_entry: Option<u64>,
        hs: Option<HardState>,
        snapshot: Option<Box<Snapshot>>,
        persisted_msgs: Vec<eraftpb::Message>,
    },
    /// Committed entries to apply to the key-value engine.
    Apply {
        region_id: u64,
        peer_id: u64,
        entries: Vec<Entry>,
    },
    /// A generated snapshot's files.
    SnapFiles { region_id: u64, job: Box<GenJob> },
    /// A generation's scan of the region's data (a disk read).
    SnapRead { region_id: u64, peer_id: u64 },
    /// A memtable flushed to an SST file.
    MemtableFlush { id: u64 },
}

/// A snapshot being generated: the engine snapshot the apply path took
/// (TiKV's `ApplyFsm::handle_snapshot` → `SnapGenTask::Gen`).
struct GenJob {
    key: SnapKey,
    peer_id: u64,
    to_peer: u64,
    region: RegionMeta,
    conf_state: raft::eraftpb::ConfState,
    kv: KvData,
    mvcc: MvccShared,
    size: u64,
    started: crate::kernel::time::Micros,
}

/// A split check on the `split-check` worker: what its scan found, for the
/// epoch it scanned (TiKV's `SplitCheckTask` and the `SplitRegion` message
/// its runner sends back).
struct SplitCheckJob {
    peer_id: u64,
    version: u64,
    conf_ver: u64,
    size: u64,
    split_keys: Vec<Key>,
}

/// A `MsgSnapshot` raft-rs produced, for the store's snap worker to send.
#[derive(Clone, Debug)]
pub struct OutgoingSnapshot {
    /// Region.
    pub region_id: u64,
    /// The leader peer.
    pub from_peer: PeerMeta,
    /// The follower peer.
    pub to_peer: PeerMeta,
    /// The `MsgSnapshot` (metadata only).
    pub msg: eraftpb::Message,
}

/// The raftstore of one store. See the module docs.
pub struct Raftstore {
    /// Store id.
    pub store_id: u64,
    /// Peers by region id.
    pub peers: BTreeMap<u64, Peer>,
    /// `(region, peer)` pairs destroyed on this store (TiKV's tombstone state).
    tombstones: BTreeSet<(u64, u64)>,
    /// Configuration.
    pub cfg: Rc<RaftstoreConfig>,
    next_token: u64,
    writes: BTreeMap<u64, PendingWrite>,
    /// The snapshot files on this store (generated or received).
    pub snap_mgr: SnapManager,
    /// Generations running on the `snap-generator` pool, by region.
    generating: BTreeMap<u64, GenJob>,
    /// Split checks running on the `split-check` worker, by region.
    split_checks: BTreeMap<u64, SplitCheckJob>,
    /// TiKV's `StoreMeta::pending_msgs`: the first vote (or pre-vote) of a
    /// region this store cannot create yet because its parent here has not
    /// applied the split, one per target peer, oldest first, at most
    /// [`PENDING_MSG_CAP`]. `on_ready_split_region` replays them, so the new
    /// region's election does not wait for the next election timeout.
    pending_msgs: VecDeque<PendingRaftMessage>,
    /// `MsgSnapshot`s for the snap worker (taken by the store).
    pub outgoing_snapshots: Vec<OutgoingSnapshot>,
    /// The snapshot stages raftstore saw, newest last.
    pub snap_stages: VecDeque<SnapStageEvent>,
    logger: slog::Logger,
    /// Regions whose raft-rs node may have a ready.
    pub(crate) dirty: BTreeSet<u64>,
    /// Regions whose peer's Raft state (role, term, applied index) may have
    /// moved since [`Raftstore::clear_moved`] last ran: a ready was handled,
    /// entries or a snapshot applied, the peer was rebuilt. In no order, may
    /// repeat.
    moved: Vec<u64>,
    /// Txn commands whose Raft write applied (or failed) during the last
    /// applies, for the txn scheduler (taken by [`Raftstore::take_txn_applied`]).
    txn_applied: Vec<(u64, Result<(), RegionError>)>,
    /// The observers of this store's peers and applies.
    pub host: CoprocessorHost,
    /// The transfer-leader check in force (the `fix` switch: TiKV before or
    /// after PR 17643).
    pub transfer_leader_check: TransferLeaderCheck,
    /// The KV engine's memtables (one RocksDB, or one tablet per region).
    pub memtables: Memtables,
}

impl Raftstore {
    /// A raftstore with no peers yet.
    pub fn new(store_id: u64, cfg: Rc<RaftstoreConfig>, logger: slog::Logger) -> Raftstore {
        let logger = logger.new(slog::o!("store_id" => store_id));
        let cfg_engine = cfg.engine;
        Raftstore {
            store_id,
            peers: BTreeMap::new(),
            tombstones: BTreeSet::new(),
            cfg,
            next_token: 0,
            writes: BTreeMap::new(),
            snap_mgr: SnapManager::default(),
            generating: BTreeMap::new(),
            split_checks: BTreeMap::new(),
            pending_msgs: VecDeque::new(),
            outgoing_snapshots: Vec::new(),
            snap_stages: VecDeque::new(),
            logger,
            dirty: BTreeSet::new(),
            moved: Vec::new(),
            txn_applied: Vec::new(),
            host: CoprocessorHost::default(),
            transfer_leader_check: TransferLeaderCheck::BeforeFix,
            memtables: Memtables::new(memtable_options(cfg_engine, None)),
        }
    }

    /// Sizes what depends on the process's memory: raft-kv2's write buffer
    /// limit (`SysQuota::memory_limit_in_bytes`).
    pub fn set_memory_limit(&mut self, limit: Option<u64>) {
        self.memtables.options = memtable_options(self.cfg.engine, limit);
    }

    /// Starts `flushes` of memtables: each writes its bytes to an SST file
    /// on the store's disk and frees the memtable once durable.
    fn start_flushes(&mut self, ctx: &mut Ctx, flushes: Vec<Flush>) {
        for f in flushes {
            ctx.count(super::metrics::MEMTABLE_FLUSHES, 1);
            let w = PendingWrite::MemtableFlush { id: f.id };
            self.submit_lane(ctx, DiskLane::Flush, f.bytes, w);
        }
    }

    /// raft-kv2 flushes a tablet before it checkpoints it (a snapshot, a
    /// split) and before `PrepareMerge` (TiKV raftstore-v2 `self.flush()`,
    /// `start_pre_flush`).
    fn flush_tablet(&mut self, ctx: &mut Ctx, region_id: u64) {
        let flushes = self.memtables.flush_tablet(region_id);
        self.start_flushes(ctx, flushes);
    }

    /// The txn commands settled by the applies since the last call.
    pub fn take_txn_applied(&mut self) -> Vec<(u64, Result<(), RegionError>)> {
        std::mem::take(&mut self.txn_applied)
    }

    /// Writes committed MVCC data into every region of this store covering
    /// the keys, as if loaded before the run (the bank workload's balances).
    pub fn load_initial_data(&mut self, rows: &[(u64, i64)], ts: u64) {
        for peer in self.peers.values_mut() {
            let region = peer.region().clone();
            let st = peer.raft.mut_store();
            let data = Rc::make_mut(&mut st.mvcc);
            for &(k, v) in rows.iter().filter(|(k, _)| region.contains(*k)) {
                data.apply(&[
                    crate::mvcc::Modify::PutDefault(k, ts - 1, v),
                    crate::mvcc::Modify::PutWrite(
                        k,
                        ts,
                        crate::mvcc::Write {
                            write_type: crate::mvcc::WriteType::Put,
                            start_ts: ts - 1,
                        },
                    ),
                ]);
            }
        }
    }

    /// Writes raw keys `[start, start + keys_per_region)` of every region of
    /// this store, `value_len` bytes each, as if loaded before the run (the
    /// data a snapshot of the region carries).
    pub fn load_raw_data(&mut self, keys_per_region: u64, value_len: u32, ts: u64) {
        for peer in self.peers.values_mut() {
            let region = peer.region().clone();
            let st = peer.raft.mut_store();
            let index = st.applied_index;
            let data = Rc::make_mut(&mut st.kv);
            let end = region.end_key.min(region.start_key + keys_per_region);
            for k in region.start_key..end {
                data.insert(
                    k,
                    super::storage::RawValue {
                        ts,
                        index,
                        version: region.version,
                        value_len,
                    },
                );
            }
        }
    }

    /// The raftstore subtree of the memory trace: `peers` and `entry_cache`.
    pub fn memory_trace(&self) -> crate::memory::MemoryTrace {
        use crate::memory::*;
        let entry_cache: u64 = self
            .peers
            .values()
            .map(|p| p.raft.store().entry_cache_bytes())
            .sum();
        MemoryTrace::node(
            "raftstore",
            vec![
                MemoryTrace::leaf("peers", self.peers.len() as u64 * PEER_BYTES),
                MemoryTrace::leaf("entry_cache", entry_cache),
            ],
        )
    }

    /// The disk writes of region `region_id`'s peer not yet durable:
    /// `(raft_log, apply)`, the raft-rs readies (entries, hard state,
    /// snapshot) and the batches of committed entries waiting to be
    /// applied, with their first and last index. What a stuck proposal
    /// waits for (views' "why is this stuck?").
    pub fn pending_disk_writes(&self, region_id: u64) -> (usize, Option<(u64, u64)>) {
        let mut raft_log = 0;
        let mut apply: Option<(u64, u64)> = None;
        for w in self.writes.values() {
            match w {
                PendingWrite::RaftLog { region_id: r, .. } if *r == region_id => raft_log += 1,
                PendingWrite::Apply {
                    region_id: r,
                    entries,
                    ..
                } if *r == region_id => {
                    if let (Some(f), Some(l)) = (entries.first(), entries.last()) {
                        let (lo, hi) = apply.unwrap_or((f.get_index(), l.get_index()));
                        apply = Some((lo.min(f.get_index()), hi.max(l.get_index())));
                    }
                }
                _ => {}
            }
        }
        (raft_log, apply)
    }

    /// In-memory pessimistic locks held by this store's peers.
    pub fn pessimistic_lock_count(&self) -> u64 {
        self.peers
            .values()
            .map(|p| p.pessimistic_locks.len() as u64)
            .sum()
    }

    /// Bootstraps a peer of a pre-split region (TiKV's bootstrap/split path).
    pub fn bootstrap_peer(&mut self, ctx: &mut Ctx, region: RegionMeta, campaign: bool) {
        let meta = region
            .peer_on(self.store_id)
            .expect("region has a peer on this store");
        let storage = PeerStorage::new_initialized(region.clone());
        let mut peer = Peer::new(meta, storage, &self.cfg, &self.logger);
        if campaign {
            // As a peer created by a split on the parent's leader store campaigns at once
            // (`Peer::maybe_campaign`), the scenario's chosen leader starts the first election.
            let _ = peer.raft.campaign();
        }
        let role = peer.raft.raft.state;
        self.peers.insert(region.id, peer);
        self.host
            .on_region_changed(&region, RegionChangeEvent::Create, role);
        self.dirty.insert(region.id);
        let _ = ctx;
    }

    /// Logs a line of this store's raftstore about `region`.
    pub(super) fn log(&self, ctx: &Ctx, level: Level, region: Option<u64>, msg: String) {
        ctx.log("raftstore", level, Some(self.store_id), region, msg);
    }

    /// Remembers `w` under a new disk token.
    fn track(&mut self, w: PendingWrite) -> u64 {
        self.next_token += 1;
        self.writes.insert(self.next_token, w);
        self.next_token
    }

    fn submit(&mut self, ctx: &mut Ctx, bytes: u64, w: PendingWrite) {
        let token = self.track(w);
        ctx.out.push(Effect::DiskWrite {
            store: self.store_id,
            token,
            bytes,
        });
    }

    /// Queues `w` on one of the disk's background lanes.
    fn submit_lane(&mut self, ctx: &mut Ctx, lane: DiskLane, bytes: u64, w: PendingWrite) {
        let token = self.track(w);
        ctx.out.push(Effect::DiskLane {
            lane,
            store: self.store_id,
            token,
            bytes,
        });
    }

    fn send_raft(&mut self, ctx: &mut Ctx, region_id: u64, msgs: Vec<eraftpb::Message>) {
        let Some(peer) = self.peers.get(&region_id) else {
            return;
        };
        for m in msgs {
            let to = m.get_to();
            let Some(to_peer) = peer
                .region()
                .peer_by_id(to)
                .or_else(|| self.pending_peer_meta(peer, to))
            else {
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                // TiKV's transport hands a message with a snapshot to the snap
                // worker (`SnapTask::Send`), which streams the files.
                self.outgoing_snapshots.push(OutgoingSnapshot {
                    region_id,
                    from_peer: peer.meta,
                    to_peer,
                    msg: m,
                });
                continue;
            }
            ctx.send(
                Node::Store(self.store_id),
                Node::Store(to_peer.store_id),
                Msg::Raft {
                    region_id,
                    from_peer: peer.meta,
                    to_peer,
                    sender: SenderRegion::of(peer.region()),
                    msg: Box::new(m),
                },
            );
        }
    }

    /// A peer known to raft-rs (from a proposed, not yet applied conf change) but
    /// not yet in the applied region: find its store in the conf change entries.
    fn pending_peer_meta(&self, peer: &Peer, id: u64) -> Option<PeerMeta> {
        let st = peer.raft.store();
        let first = st.first_index_value();
        let last = peer.raft.raft.raft_log.last_index();
        (first..=last)
            .rev()
            .filter_map(|i| st.entry(i))
            .find_map(|e| {
                if e.get_entry_type() != EntryType::EntryConfChange {
                    return None;
                }
                let cc = ConfChange::parse_from_bytes(e.get_data()).ok()?;
                (cc.get_node_id() == id)
                    .then(|| decode_peer_ctx(cc.get_context(), id))
                    .flatten()
            })
    }

    /// The regions of this store a client with a stale cache should learn
    /// for `key` (errorpb `EpochNotMatch.current_regions`): the one holding
    /// the key, if any, and its neighbours.
    pub fn current_regions(&self, key: Key) -> Vec<RegionMeta> {
        let mut regions: Vec<&RegionMeta> = self
            .peers
            .values()
            .map(Peer::region)
            .filter(|r| r.start_key < r.end_key)
            .collect();
        regions.sort_by_key(|r| r.start_key);
        let Some(i) = regions.iter().position(|r| r.contains(key)) else {
            return Vec::new();
        };
        regions[i.saturating_sub(1)..(i + 2).min(regions.len())]
            .iter()
            .map(|r| (*r).clone())
            .collect()
    }

    /// An initialized region of this store other than `region_id` that
    /// overlaps the sender's range, if any.
    fn overlapping_region(&self, region_id: u64, sender: SenderRegion) -> Option<&RegionMeta> {
        self.peers
            .values()
            .map(Peer::region)
            .find(|r| r.id != region_id && r.overlaps(sender.start_key, sender.end_key))
    }

    // ---------------------------------------------------------------- events

    /// An extra message from another store's peer (TiKV
    /// `on_extra_message`). `MsgWantRollbackMerge` counts the sender toward
    /// the rollback quorum if this peer leads the source and the index is
    /// its merge's commit (`maybe_add_want_rollback_merge_peer`).
    pub fn on_extra_message(
        &mut self,
        _ctx: &mut Ctx,
        region_id: u64,
        from: PeerMeta,
        to: PeerMeta,
        extra: ExtraMessage,
    ) {
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if peer.meta.id != to.id {
            return;
        }
        match extra {
            ExtraMessage::WantRollbackMerge { index } => {
                let commit = peer.raft.store().merge_state.as_ref().map(|m| m.commit);
                if peer.is_leader() && commit == Some(index) {
                    peer.want_rollback_merge_peers.insert(from.id);
                }
            }
        }
    }

    /// A raft message from another store's peer.
    pub fn on_raft_message(
        &mut self,
        ctx: &mut Ctx,
        region_id: u64,
        from: PeerMeta,
        to: PeerMeta,
        sender: SenderRegion,
        m: eraftpb::Message,
    ) {
        if to.store_id != self.store_id {
            return;
        }
        if self.tombstones.contains(&(region_id, to.id)) {
            return;
        }
        if m.get_msg_type() == MessageType::MsgSnapshot {
            // TiKV's `check_snapshot`: a snapshot whose range overlaps another
            // initialized region of this store is dropped (the leader sends
            // again after `report_snapshot`), so a store's regions never overlap.
            // Overlapped regions the snapshot's region covers and is newer
            // than are merge sources merged while this store was away (TiKV
            // `maybe_destroy_source`): destroyed, and the snapshot goes on.
            let overlapped: Vec<RegionMeta> = self
                .peers
                .values()
                .map(Peer::region)
                .filter(|r| r.id != region_id && r.overlaps(sender.start_key, sender.end_key))
                .cloned()
                .collect();
            let stale_source = |r: &RegionMeta| {
                r.start_key >= sender.start_key
                    && r.end_key <= sender.end_key
                    && r.version < sender.version
            };
            if !overlapped.is_empty() && overlapped.iter().all(stale_source) {
                for r in overlapped {
                    self.destroy_peer(ctx, r.id, "stale merge source covered by a snapshot");
                }
            }
            if let Some(exist) = self.overlapping_region(region_id, sender) {
                self.log(
                    ctx,
                    Level::Info,
                    Some(region_id),
                    format!(
                        "region overlapped, exist: {}, snap range: [{}, {})",
                        exist.describe(),
                        sender.start_key,
                        sender.end_key
                    ),
                );
                if let Some(key) = SnapshotMeta::decode(m.get_snapshot().get_data()).map(|m| m.key)
                {
                    self.snap_mgr.delete(&key);
                }
                return;
            }
        }
        if let Some(p) = self.peers.get(&region_id) {
            if p.meta.id != to.id {
                // A message for another incarnation of this region's peer here.
                if to.id < p.meta.id {
                    return;
                }
                // A newer peer of the region replaces a stale one (TiKV destroys the stale peer).
                self.destroy_peer(ctx, region_id, "stale peer replaced by a newer one");
            }
        }
        if !self.peers.contains_key(&region_id) {
            // TiKV `maybe_create_peer`: a message for a region this store does
            // not have creates its peer, unless an initialized region of this
            // store overlaps the sender's range (this store has not applied a
            // split the sender has; it creates the peer when it does).
            if self.overlapping_region(region_id, sender).is_some() {
                if is_first_vote_msg(&m) {
                    self.pending_msgs.retain(|p| p.to != to);
                    if self.pending_msgs.len() == PENDING_MSG_CAP {
                        self.pending_msgs.pop_front();
                    }
                    self.pending_msgs.push_back(PendingRaftMessage {
                        region_id,
                        from,
                        to,
                        sender,
                        msg: m,
                    });
                }
                return;
            }
            let region = RegionMeta {
                id: region_id,
                start_key: 0,
                end_key: 0,
                conf_ver: 0,
                version: 0,
                peers: vec![to, from],
            };
            let storage = PeerStorage::new_uninitialized(region);
            let peer = Peer::new(to, storage, &self.cfg, &self.logger);
            self.log(
                ctx,
                Level::Info,
                Some(region_id),
                format!(
                    "create peer {} by raft message from peer {}",
                    to.id, from.id
                ),
            );
            self.peers.insert(region_id, peer);
        }
        if m.get_msg_type() == MessageType::MsgTransferLeader {
            self.on_transfer_leader_msg(ctx, region_id, from, m);
            return;
        }
        let peer = self.peers.get_mut(&region_id).expect("peer exists");
        // Learn the sender's store for replies even before the conf change applies.
        let st = peer.raft.mut_store();
        if st.region.peer_by_id(from.id).is_none() && !st.is_initialized() {
            st.region.peers.push(from);
        }
        let _ = peer.raft.step(m);
        self.dirty.insert(region_id);
    }

    /// TiKV `on_transfer_leader_msg` (fsm/peer.rs): the pre-transfer handshake.
    fn on_transfer_leader_msg(
        &mut self,
        ctx: &mut Ctx,
        region_id: u64,
        from: PeerMeta,
        m: eraftpb::Message,
    ) {
        let check = self.transfer_leader_check;
        let max_lag = self.cfg.leader_transfer_max_log_lag;
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if m.get_log_term() != peer.raft.raft.term {
            return;
        }
        if peer.is_leader() {
            // The transferee's ack: `index` is its applied index.
            let index = m.get_index();
            let reason = ready_to_transfer_leader(peer, check, max_lag, index, from.id);
            match reason {
                Some(reason) => {
                    if reason == "pending conf change" && check == TransferLeaderCheck::RelaxedCheck
                    {
                        ctx.log("raftstore", Level::Info, Some(store_id), Some(region_id),
                            format!("not ready to transfer leader, transferee has an unapplied conf change, index: {index}, pending_conf_index: {}", peer.raft.raft.pending_conf_index));
                    }
                    ctx.log("raftstore", Level::Info, Some(store_id), Some(region_id), format!(
                        "reject to transfer leader, reason: {reason}, index: {index}, last_index: {}, peer: {}",
                        peer.raft.raft.raft_log.last_index(), from.id
                    ));
                    peer.settle_attempt(
                        from.store_id,
                        TransferOutcome::Rejected(reason.to_string()),
                    );
                    ctx.count(crate::raftstore::metrics::TRANSFER_LEADER_REJECTED, 1);
                    if reason == "pending conf change" {
                        ctx.count(
                            crate::raftstore::metrics::TRANSFER_LEADER_REJECTED_PENDING_CONF,
                            1,
                        );
                    }
                }
                None => {
                    if peer.raft.raft.has_pending_conf() {
                        ctx.log("raftstore", Level::Info, Some(store_id), Some(region_id), format!(
                            "transfer leader with pending conf on current leader, pending_conf_index: {}, applied: {}",
                            peer.raft.raft.pending_conf_index, peer.raft.store().applied_index
                        ));
                    }
                    ctx.log(
                        "raftstore",
                        Level::Info,
                        Some(store_id),
                        Some(region_id),
                        format!(
                            "transfer leader, peer: {} on store {}",
                            from.id, from.store_id
                        ),
                    );
                    peer.raft.transfer_leader(from.id);
                    peer.settle_attempt(from.store_id, TransferOutcome::Transferring);
                }
            }
            self.dirty.insert(region_id);
        } else {
            // Follower: `maybe_reject_transfer_leader_msg`, then `ack_transfer_leader_msg`.
            let is_learner = peer
                .raft
                .store()
                .conf_state
                .get_learners()
                .contains(&peer.meta.id);
            if is_learner && check == TransferLeaderCheck::RelaxedCheck {
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(store_id),
                    Some(region_id),
                    "reject transferring leader, peer is a learner".to_string(),
                );
                return;
            }
            if peer.raft.raft.leader_id != from.id {
                return;
            }
            let mut ack = eraftpb::Message::default();
            ack.set_msg_type(MessageType::MsgTransferLeader);
            ack.set_from(peer.meta.id);
            ack.set_to(from.id);
            ack.set_index(peer.raft.store().applied_index);
            ack.set_log_term(peer.raft.raft.term);
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!("ack transfer leader, applied_index: {}", ack.get_index()),
            );
            let me = peer.meta;
            let sender = SenderRegion::of(peer.region());
            ctx.send(
                Node::Store(store_id),
                Node::Store(from.store_id),
                Msg::Raft {
                    region_id,
                    from_peer: me,
                    to_peer: from,
                    sender,
                    msg: Box::new(ack),
                },
            );
        }
    }

    /// A client's raw `Put`.
    pub fn on_write(&mut self, ctx: &mut Ctx, req: WriteRequest) {
        let store_id = self.store_id;
        let reply = |ctx: &mut Ctx, result: Result<(), RegionError>| {
            ctx.send(
                Node::Store(store_id),
                Node::Client(req.client),
                Msg::WriteResponse {
                    req_id: req.req_id,
                    region_id: req.region_id,
                    result,
                },
            );
        };
        let Some(peer) = self.peers.get_mut(&req.region_id) else {
            return reply(ctx, Err(RegionError::RegionNotFound));
        };
        if !peer.is_leader() {
            let leader_store = peer.leader_store();
            return reply(ctx, Err(RegionError::NotLeader { leader_store }));
        }
        if peer.raft.store().merge_state.is_some() {
            return reply(ctx, Err(RegionError::ProposalInMergingMode));
        }
        if !peer.region().contains(req.key) {
            // The client's cache predates a split: TiKV's `check_region_epoch`.
            let current_regions = self.current_regions(req.key);
            return reply(ctx, Err(RegionError::EpochNotMatch { current_regions }));
        }
        let peer = self.peers.get_mut(&req.region_id).expect("checked above");
        let before = peer.raft.raft.raft_log.last_index();
        match peer
            .raft
            .propose(vec![], encode_put(req.key, req.ts, req.value_len))
        {
            Ok(()) if peer.raft.raft.raft_log.last_index() > before => {
                let index = peer.raft.raft.raft_log.last_index();
                let term = peer.raft.raft.term;
                peer.proposals.push_back(super::peer::Proposal {
                    index,
                    term,
                    owner: ProposalOwner::Client {
                        client: req.client,
                        req_id: req.req_id,
                    },
                });
                self.dirty.insert(req.region_id);
            }
            _ => reply(ctx, Err(RegionError::ProposalDropped)),
        }
    }

    /// A command of a PD operator for the leader of `region_id`.
    pub fn on_pd_command(&mut self, ctx: &mut Ctx, region_id: u64, cmd: PdCommand) {
        let check = self.transfer_leader_check;
        let store_id = self.store_id;
        if let PdCommand::ChangePeer {
            change,
            peer: target,
        } = &cmd
        {
            // The store's PD worker (`worker/pd.rs`) logs every heartbeat
            // response that asks for a peer change before handing it to the
            // region's peer, which may still refuse it.
            ctx.log(
                "pd_worker",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!(
                    "try to change peer, change_type: {change:?}, peer: {{id: {}, store_id: {}}}",
                    target.id, target.store_id
                ),
            );
        }
        if let PdCommand::ChangePeerV2 { changes } = &cmd {
            ctx.log(
                "pd_worker",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!("try to change peer, changes: {}", describe_changes(changes)),
            );
        }
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if !peer.is_leader() {
            return;
        }
        let conf_change = matches!(
            cmd,
            PdCommand::ChangePeer { .. } | PdCommand::ChangePeerV2 { .. }
        );
        if conf_change && peer.raft.raft.has_pending_conf() {
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!(
                    "[region {region_id}] {} there is a pending conf change, try later",
                    peer.meta.id
                ),
            );
            return;
        }
        match cmd {
            PdCommand::TransferLeader { peer: target } => {
                ctx.count(crate::raftstore::metrics::TRANSFER_LEADER_ATTEMPTS, 1);
                let t_ms = to_ms(ctx.now);
                if target.store_id == store_id {
                    return;
                }
                // `pre_transfer_leader`.
                if check == TransferLeaderCheck::BeforeFix && peer.raft.raft.has_pending_conf() {
                    ctx.log("raftstore", Level::Info, Some(store_id), Some(region_id), format!(
                        "reject transfer leader due to pending conf change, peer: {} on store {}, pending_conf_index: {}, applied: {}",
                        target.id, target.store_id, peer.raft.raft.pending_conf_index, peer.raft.store().applied_index
                    ));
                    peer.push_attempt(
                        t_ms,
                        store_id,
                        target.store_id,
                        TransferOutcome::Rejected("pending conf change".into()),
                    );
                    ctx.count(crate::raftstore::metrics::TRANSFER_LEADER_REJECTED, 1);
                    ctx.count(
                        crate::raftstore::metrics::TRANSFER_LEADER_REJECTED_PENDING_CONF,
                        1,
                    );
                    return;
                }
                peer.push_attempt(t_ms, store_id, target.store_id, TransferOutcome::InFlight);
                // Broadcast heartbeats so followers learn the commit index, then ask the transferee.
                peer.raft.ping();
                let mut m = eraftpb::Message::default();
                m.set_msg_type(MessageType::MsgTransferLeader);
                m.set_from(peer.meta.id);
                m.set_to(target.id);
                m.set_log_term(peer.raft.raft.term);
                m.set_index(peer.raft.store().first_index_value());
                let me = peer.meta;
                let sender = SenderRegion::of(peer.region());
                ctx.send(
                    Node::Store(store_id),
                    Node::Store(target.store_id),
                    Msg::Raft {
                        region_id,
                        from_peer: me,
                        to_peer: target,
                        sender,
                        msg: Box::new(m),
                    },
                );
                self.dirty.insert(region_id);
            }
            PdCommand::ChangePeer {
                change,
                peer: target,
            } => {
                let existing = peer.region().peer_by_id(target.id);
                let already = match change {
                    ConfChangeType::AddLearnerNode => existing.is_some(),
                    ConfChangeType::AddNode => existing.is_some_and(|p| !p.is_learner),
                    ConfChangeType::RemoveNode => existing.is_none(),
                };
                if already {
                    return;
                }
                let mut cc = ConfChange::default();
                cc.set_change_type(change);
                cc.set_node_id(target.id);
                cc.set_context(encode_peer_ctx(&target).into());
                ctx.log("raftstore", Level::Info, Some(store_id), Some(region_id), format!(
                    "propose conf change peer, changes: [{change:?} peer {} on store {}], kind: Simple", target.id, target.store_id
                ));
                if peer.raft.propose_conf_change(vec![], cc).is_ok() {
                    ctx.count(crate::raftstore::metrics::CONF_CHANGES_PROPOSED, 1);
                }
                self.dirty.insert(region_id);
            }
            PdCommand::ChangePeerV2 { changes } => {
                let in_joint = !peer
                    .raft
                    .store()
                    .conf_state
                    .get_voters_outgoing()
                    .is_empty();
                let leave = changes.is_empty();
                if leave != in_joint {
                    // Already entered (PD resends) or already left.
                    return;
                }
                if changes
                    .iter()
                    .any(|(ty, p)| *ty == ConfChangeType::AddLearnerNode && p.id == peer.meta.id)
                {
                    ctx.log(
                        "raftstore",
                        Level::Warn,
                        Some(store_id),
                        Some(region_id),
                        "ignore remove leader or demote leader".to_string(),
                    );
                    return;
                }
                let mut cc = raft::eraftpb::ConfChangeV2::default();
                if !leave {
                    // TiKV enters with an explicit transition and leaves with
                    // an empty ConfChangeV2 (raft-rs's `leave_joint`).
                    cc.set_transition(raft::eraftpb::ConfChangeTransition::Explicit);
                }
                cc.set_changes(
                    changes
                        .iter()
                        .map(|(ty, p)| {
                            let mut c = raft::eraftpb::ConfChangeSingle::default();
                            c.set_change_type(*ty);
                            c.set_node_id(p.id);
                            c
                        })
                        .collect(),
                );
                let kind = if leave { "LeaveJoint" } else { "EnterJoint" };
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(store_id),
                    Some(region_id),
                    format!(
                        "propose conf change peer, changes: {}, kind: {kind}",
                        describe_changes(&changes)
                    ),
                );
                if peer.raft.propose_conf_change(vec![], cc).is_ok() {
                    ctx.count(crate::raftstore::metrics::CONF_CHANGES_PROPOSED, 1);
                }
                self.dirty.insert(region_id);
            }
            PdCommand::Merge { target } => self.propose_prepare_merge(ctx, region_id, target),
        }
    }

    // ----------------------------------------------------------------- merge

    /// PD asked this source leader to merge into `target` (TiKV
    /// `worker/pd.rs` "try to merge", then `pre_propose_prepare_merge` and
    /// the proposal of `PrepareMerge`, an urgent command).
    fn propose_prepare_merge(&mut self, ctx: &mut Ctx, region_id: u64, target: RegionMeta) {
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if peer.raft.store().merge_state.is_some() || peer.splitting {
            // Already merging (PD repeats the command on every heartbeat).
            return;
        }
        ctx.log(
            "pd_worker",
            Level::Info,
            Some(store_id),
            Some(region_id),
            format!("try to merge, merge: {{target: {}}}", target.describe()),
        );
        let last_index = peer.raft.raft.raft_log.last_index();
        let mut progress: Vec<(u64, u64, bool)> = peer
            .raft
            .raft
            .prs()
            .iter()
            .map(|(id, pr)| {
                let snap = pr.state == raft::ProgressState::Snapshot
                    || pr.pending_request_snapshot != raft::INVALID_INDEX;
                (*id, pr.matched, snap)
            })
            .collect();
        progress.sort_unstable();
        let log = &peer.raft.raft.raft_log;
        let gap_has_conf_change = |from: u64| {
            log.entries(from, raft::NO_LIMIT, raft::GetEntriesContext::empty(false))
                .map(|es| {
                    es.iter()
                        .any(|e| e.get_entry_type() != EntryType::EntryNormal)
                })
                .unwrap_or(true)
        };
        let checked = if peer.raft.raft.has_pending_conf() {
            Err("there is a pending conf change, skip merge".to_string())
        } else {
            super::merge::check_prepare_merge(
                peer.region(),
                &target,
                last_index,
                &progress,
                gap_has_conf_change,
            )
        };
        let min_index = match checked {
            Ok(i) => i,
            Err(err) => {
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(store_id),
                    Some(region_id),
                    format!("failed to propose PrepareMerge, err: {err}"),
                );
                return;
            }
        };
        let req = crate::proto::cmd::PrepareMergeRequest {
            version: peer.region().version,
            conf_ver: peer.region().conf_ver,
            min_index,
            target,
        };
        if peer.propose_urgent(req.encode()) {
            self.dirty.insert(region_id);
        }
    }

    /// TiKV `on_check_merge` / `schedule_merge`: a merging source peer sends
    /// its local target peer the `CommitMerge` (only a target leader can
    /// propose it); a target whose epoch moved past PD's makes the source
    /// leader roll the merge back.
    fn on_check_merge(&mut self, ctx: &mut Ctx, region_id: u64) {
        let store_id = self.store_id;
        let Some(src) = self.peers.get_mut(&region_id) else {
            return;
        };
        src.next_merge_check = ctx.now + super::merge::MERGE_CHECK_TICK_INTERVAL;
        let Some(state) = src.raft.store().merge_state.clone() else {
            return;
        };
        let expect = &state.target;
        // `validate_merge_peer`.
        let verdict = match self.peers.get(&expect.id).map(|t| t.region().clone()) {
            Some(exist) if expect.is_epoch_stale(&exist) => Err(format!(
                "target region changed {} -> {}",
                expect.describe(),
                exist.describe()
            )),
            Some(exist) if exist.is_epoch_stale(expect) => Ok(false),
            Some(_) => Ok(true),
            None => Ok(false),
        };
        match verdict {
            Ok(false) => {}
            Ok(true) => {
                let src = &self.peers[&region_id];
                let st = src.raft.store();
                let entries = st
                    .entries_between(state.min_index, state.commit + 1)
                    .iter()
                    .map(crate::proto::cmd::CarriedEntry::of)
                    .collect();
                let req = crate::proto::cmd::CommitMergeRequest {
                    target_version: expect.version,
                    target_conf_ver: expect.conf_ver,
                    source: st.region.clone(),
                    commit: state.commit,
                    entries,
                };
                let Some(tgt) = self.peers.get_mut(&expect.id) else {
                    return;
                };
                if !tgt.is_leader() {
                    return;
                }
                if tgt.propose_urgent(req.encode()) {
                    self.dirty.insert(expect.id);
                }
            }
            Err(err) => {
                let src = self.peers.get_mut(&region_id).expect("checked above");
                if src.is_leader() {
                    // The leader counts itself, and rolls back once a quorum
                    // of voters wants it.
                    src.want_rollback_merge_peers.insert(src.meta.id);
                    // raft-rs asks for its fxhash set; only looked up, never iterated.
                    let wanting: fxhash::FxHashSet<u64> =
                        src.want_rollback_merge_peers.iter().copied().collect();
                    if !src.raft.raft.prs().has_quorum(&wanting) {
                        return;
                    }
                    ctx.log(
                        "raftstore",
                        Level::Info,
                        Some(store_id),
                        Some(region_id),
                        format!("failed to schedule merge, rollback, err: {err}"),
                    );
                    let req = crate::proto::cmd::RollbackMergeRequest {
                        commit: state.commit,
                    };
                    if src.raft.propose(vec![], req.encode()).is_ok() {
                        self.dirty.insert(region_id);
                    }
                } else if !src.meta.is_learner {
                    let leader_id = src.raft.raft.leader_id;
                    ctx.log(
                        "raftstore",
                        Level::Info,
                        Some(store_id),
                        Some(region_id),
                        format!("want to rollback merge, leader_id: {leader_id}, err: {err}"),
                    );
                    // `send_want_rollback_merge`: an extra message to the
                    // leader with the PrepareMerge's commit index.
                    let Some(to_peer) = src.region().peer_by_id(leader_id) else {
                        return;
                    };
                    ctx.send(
                        Node::Store(store_id),
                        Node::Store(to_peer.store_id),
                        Msg::RaftExtra {
                            region_id,
                            from_peer: src.meta,
                            to_peer,
                            extra: ExtraMessage::WantRollbackMerge {
                                index: state.commit,
                            },
                        },
                    );
                }
            }
        }
    }

    /// A `CommitMerge` reached apply on this store (TiKV `exec_commit_merge`
    /// with `CatchUpLogs`, then `on_ready_commit_merge`): the local source
    /// peer applies up to its `PrepareMerge` from its own log and the
    /// carried entries, the target takes its range and data, the source is
    /// destroyed, and the entries after the `CommitMerge` apply.
    fn exec_commit_merge(
        &mut self,
        ctx: &mut Ctx,
        region_id: u64,
        peer_id: u64,
        cm: super::apply::CommitMergeApply,
    ) {
        let store_id = self.store_id;
        let source_id = cm.req.source.id;
        let mut source_data = None;
        let lagging = self
            .peers
            .get(&source_id)
            .filter(|p| p.raft.store().applied_index < cm.req.commit)
            .map(|p| (p.meta.id, p.raft.store().applied_index));
        if let Some((src_peer_id, applied)) = lagging {
            // `CatchUpLogs`: the source's own entries, then the carried ones,
            // through the whole apply path (they may hold a merge or a split
            // of their own).
            let src = &self.peers[&source_id];
            let own = src
                .raft
                .store()
                .entries_between(applied + 1, cm.req.commit + 1);
            let next = own.last().map_or(applied + 1, |e| e.get_index() + 1);
            let mut entries = own;
            entries.extend(
                cm.req
                    .entries
                    .iter()
                    .filter(|c| c.index >= next)
                    .map(crate::proto::cmd::CarriedEntry::to_entry),
            );
            self.apply(ctx, source_id, src_peer_id, entries);
            if let Some(src) = self.peers.get(&source_id) {
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(store_id),
                    Some(source_id),
                    format!(
                        "source logs are all applied now, applied_index: {}, commit: {}",
                        src.raft.store().applied_index,
                        cm.req.commit
                    ),
                );
            }
        }
        if let Some(src) = self.peers.get_mut(&source_id) {
            let st = src.raft.mut_store();
            if st.merge_state.is_none() || st.region != cm.req.source {
                ctx.log(
                    "raftstore",
                    Level::Error,
                    Some(store_id),
                    Some(source_id),
                    format!(
                        "source_region {} not match exist region {}",
                        cm.req.source.describe(),
                        st.region.describe()
                    ),
                );
            }
            let kv = std::mem::take(Rc::make_mut(&mut st.kv));
            let mvcc = std::mem::take(Rc::make_mut(&mut st.mvcc));
            let locks = std::mem::take(&mut src.pessimistic_locks);
            source_data = Some((kv, mvcc, locks));
        } else {
            ctx.log(
                "raftstore",
                Level::Warn,
                Some(store_id),
                Some(source_id),
                "source peer is missing".to_string(),
            );
        }
        let Some(tgt) = self.peers.get_mut(&region_id) else {
            return;
        };
        if tgt.meta.id != peer_id {
            return;
        }
        ctx.log(
            "raftstore",
            Level::Info,
            Some(store_id),
            Some(region_id),
            format!(
                "execute CommitMerge, commit: {}, entries: {}, index: {}, source_region: {}",
                cm.req.commit,
                cm.req.entries.len(),
                cm.index,
                cm.req.source.describe()
            ),
        );
        let before = tgt.region().clone();
        self.host
            .post_exec_admin(&before, &super::coprocessor::AdminChange::CommitMerge);
        let tgt = self.peers.get_mut(&region_id).expect("checked above");
        let st = tgt.raft.mut_store();
        st.region = super::merge::commit_merge_region(&st.region, &cm.req.source);
        if let Some((mut kv, mvcc, locks)) = source_data {
            Rc::make_mut(&mut st.kv).append(&mut kv);
            Rc::make_mut(&mut st.mvcc).absorb(mvcc);
            tgt.pessimistic_locks.extend(locks);
        }
        st.set_applied(cm.index, cm.term);
        // As in `apply_entries`: a target caught up as a merge source of its
        // own (`CatchUpLogs`) applies past what its raft-rs knows committed.
        let log = &tgt.raft.raft.raft_log;
        let known = log.committed.min(log.persisted);
        let to = cm.index.min(known).max(log.applied);
        tgt.raft.advance_apply_to(to);
        tgt.clear_urgent_if_applied();
        // `on_ready_commit_merge`: check the merged region's size soon.
        tgt.may_skip_split_check = false;
        tgt.approximate_size = None;
        let is_leader = tgt.is_leader();
        let role = tgt.raft.raft.state;
        let region = tgt.region().clone();
        self.host.on_region_changed(
            &region,
            RegionChangeEvent::Update(RegionChangeReason::CommitMerge),
            role,
        );
        self.destroy_peer(ctx, source_id, "merged by target");
        self.moved.push(region_id);
        self.dirty.insert(region_id);
        if is_leader {
            ctx.count(super::metrics::REGION_MERGES, 1);
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!(
                    "notify pd with merge {} into {}",
                    cm.req.source.describe(),
                    region.describe()
                ),
            );
            self.heartbeat_pd(ctx, region_id);
        }
        if !cm.rest.is_empty() {
            self.apply(ctx, region_id, peer_id, cm.rest);
        }
    }

    /// raftstore's base tick: ticks every peer's raft-rs node.
    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        let store_id = self.store_id;
        // `merge-check-tick-interval` of each merging source peer.
        let due: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| p.raft.store().merge_state.is_some() && ctx.now >= p.next_merge_check)
            .map(|(&rid, _)| rid)
            .collect();
        for rid in due {
            self.on_check_merge(ctx, rid);
        }
        for (&rid, peer) in self.peers.iter_mut() {
            let was_transferring = peer.raft.raft.lead_transferee;
            peer.tick(ctx.rng);
            if let Some(t) = was_transferring {
                if peer.is_leader() && peer.raft.raft.lead_transferee.is_none() {
                    if let Some(tp) = peer.region().peer_by_id(t) {
                        peer.settle_attempt(
                            tp.store_id,
                            TransferOutcome::Rejected("transfer timed out".into()),
                        );
                        ctx.log(
                            "raftstore",
                            Level::Warn,
                            Some(store_id),
                            Some(rid),
                            format!("transfer leader to peer {t} aborted after election timeout"),
                        );
                    }
                }
            }
            self.dirty.insert(rid);
        }
        ctx.timer(
            Node::Store(self.store_id),
            self.cfg.raft_base_tick_interval,
            Timer::RaftBaseTick,
        );
    }

    /// Region heartbeats from every leader to PD.
    pub fn on_pd_heartbeat_tick(&mut self, ctx: &mut Ctx) {
        let rids: Vec<u64> = self.peers.keys().copied().collect();
        for rid in rids {
            self.heartbeat_pd(ctx, rid);
        }
        ctx.timer(
            Node::Store(self.store_id),
            self.cfg.pd_heartbeat_tick_interval,
            Timer::PdHeartbeatTick,
        );
    }

    fn heartbeat_pd(&mut self, ctx: &mut Ctx, region_id: u64) {
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if !peer.is_leader() {
            return;
        }
        let hb = RegionHeartbeat {
            region: peer.region().clone(),
            leader: peer.meta,
            term: peer.raft.raft.term,
            pending_peers: peer.pending_peers(),
            written_bytes: std::mem::take(&mut peer.written_bytes),
            written_keys: std::mem::take(&mut peer.written_keys),
            approximate_size: peer.approximate_size,
            demoting_peers: peer.raft.store().conf_state.get_learners_next().to_vec(),
        };
        ctx.send(
            Node::Store(self.store_id),
            Node::Pd,
            Msg::RegionHeartbeat(hb),
        );
    }

    // ----------------------------------------------------------------- split

    /// `split-region-check-tick-interval`: every leader whose region was
    /// written more than `region-split-check-diff` since its last check (or
    /// never checked) schedules a split check on the `split-check` worker
    /// (TiKV `PeerFsm::on_split_region_check_tick`).
    pub fn on_split_region_check_tick(&mut self, ctx: &mut Ctx) {
        let Some(cfg) = self.cfg.split_check else {
            return;
        };
        let rids: Vec<u64> = self.peers.keys().copied().collect();
        for rid in rids {
            self.maybe_schedule_split_check(ctx, rid, &cfg);
        }
        ctx.timer(
            Node::Store(self.store_id),
            cfg.split_region_check_tick_interval,
            Timer::SplitRegionCheckTick,
        );
    }

    fn maybe_schedule_split_check(&mut self, ctx: &mut Ctx, rid: u64, cfg: &SplitCheckConfig) {
        let Some(peer) = self.peers.get_mut(&rid) else {
            return;
        };
        if !peer.is_leader()
            || (peer.may_skip_split_check && peer.size_diff_hint < cfg.region_split_check_diff)
            || peer.splitting
            || self.split_checks.contains_key(&rid)
        {
            return;
        }
        // A snapshot being generated: skip at most 3 checks in a row
        // (`region_split_skip_max_count`), so a region too large to
        // snapshot in time still splits.
        if self.generating.contains_key(&rid) && peer.skip_split_count < 3 {
            peer.skip_split_count += 1;
            return;
        }
        peer.skip_split_count = 0;
        peer.may_skip_split_check = true;
        peer.size_diff_hint = 0;
        let st = peer.raft.store();
        let sizes = key_sizes(&st.kv, &st.mvcc);
        let size: u64 = sizes.values().sum();
        let split_keys = size_split_keys(sizes.iter().map(|(k, s)| (*k, *s)), cfg);
        // Below region-max-size the runner only reads the approximate size
        // from SST properties; above it, it scans the region.
        let cost = if size < cfg.region_max_size {
            SPLIT_CHECK_COST_PER_KEY * 10
        } else {
            SPLIT_CHECK_COST_PER_KEY * sizes.len() as u64 + size / SPLIT_CHECK_BYTES_PER_MICRO
        };
        self.split_checks.insert(
            rid,
            SplitCheckJob {
                peer_id: peer.meta.id,
                version: st.region.version,
                conf_ver: st.region.conf_ver,
                size,
                split_keys,
            },
        );
        let done = Timer::SplitCheckDone {
            region_id: rid,
            peer_id: peer.meta.id,
        };
        ctx.spawn(self.store_id, SPLIT_CHECK.name, cost.max(1), done);
    }

    /// The `split-check` worker finished: the approximate size is updated,
    /// and split keys go to PD for ids (TiKV `on_prepare_split_region`,
    /// validated by `validate_split_region`: still leader, same epoch, not
    /// splitting).
    pub fn on_split_check_done(&mut self, ctx: &mut Ctx, region_id: u64, peer_id: u64) {
        let Some(job) = self.split_checks.remove(&region_id) else {
            return;
        };
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if peer.meta.id != peer_id || job.peer_id != peer_id {
            return;
        }
        peer.approximate_size = Some(job.size);
        if job.split_keys.is_empty() {
            return;
        }
        let region = peer.region().clone();
        let reason = if !peer.is_leader() {
            Some("not leader")
        } else if region.version != job.version || region.conf_ver != job.conf_ver {
            Some("epoch changed")
        } else if peer.splitting {
            Some("is splitting")
        } else {
            None
        };
        if let Some(reason) = reason {
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!(
                    "invalid split request, err: {reason}, split_keys: {:?}",
                    job.split_keys
                ),
            );
            return;
        }
        ctx.log(
            "raftstore",
            Level::Info,
            Some(store_id),
            Some(region_id),
            format!(
                "on split, peer_id: {peer_id}, split_keys: {:?}, region size: {} bytes",
                job.split_keys, job.size
            ),
        );
        ctx.send(
            Node::Store(store_id),
            Node::Pd,
            Msg::AskBatchSplit {
                region,
                split_keys: job.split_keys,
            },
        );
    }

    /// PD allocated the new regions' ids: the PD worker logs `try to batch
    /// split region` and proposes the `BatchSplit` admin command (TiKV
    /// `worker/pd.rs` `handle_ask_batch_split`, `right_derive` true).
    pub fn on_ask_batch_split_response(
        &mut self,
        ctx: &mut Ctx,
        region: RegionMeta,
        split_keys: Vec<Key>,
        ids: Vec<crate::proto::SplitId>,
    ) {
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region.id) else {
            return;
        };
        let new_ids: Vec<u64> = ids.iter().map(|i| i.new_region_id).collect();
        ctx.log(
            "pd_worker",
            Level::Info,
            Some(store_id),
            Some(region.id),
            format!(
                "try to batch split region, new_region_ids: {new_ids:?}, region: {}",
                region.describe()
            ),
        );
        if !peer.is_leader()
            || peer.region().is_epoch_stale(&region)
            || region.is_epoch_stale(peer.region())
        {
            // Proposing would fail the epoch check at apply anyway.
            return;
        }
        let req = crate::proto::cmd::BatchSplitRequest {
            version: region.version,
            conf_ver: region.conf_ver,
            split_keys,
            ids,
            right_derive: true,
        };
        if peer.propose_urgent(req.encode()) {
            peer.splitting = true;
            self.dirty.insert(region.id);
        } else {
            ctx.log(
                "raftstore",
                Level::Warn,
                Some(store_id),
                Some(region.id),
                "propose batch split failed, proposal dropped".to_string(),
            );
        }
    }

    /// A `BatchSplit` applied on this store (TiKV
    /// `PeerFsm::on_ready_split_region`): the new regions' peers are created
    /// with their data (`insert new region`), their raft state at
    /// `RAFT_INIT_LOG_INDEX`; on the parent leader's store they campaign at
    /// once and every region of the split heartbeats PD.
    fn on_ready_split_region(&mut self, ctx: &mut Ctx, region_id: u64, split: SplitResult) {
        let store_id = self.store_id;
        let Some(parent) = self.peers.get_mut(&region_id) else {
            return;
        };
        parent.splitting = false;
        parent.may_skip_split_check = false;
        let is_leader = parent.is_leader();
        let mut locks: BTreeMap<u64, _> = split.locks.into_iter().collect();
        for (region, kv, mvcc) in split.new {
            let Some(meta) = region.peer_on(store_id) else {
                continue;
            };
            if self.tombstones.contains(&(region.id, meta.id)) {
                continue;
            }
            if let Some(existing) = self.peers.get(&region.id) {
                if existing.raft.store().is_initialized() {
                    // A snapshot already brought this region here.
                    continue;
                }
                // An uninitialized peer a message created: replaced.
                self.peers.remove(&region.id);
            }
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region.id),
                format!(
                    "insert new region, region: {}, store_id: {store_id}",
                    region.describe()
                ),
            );
            let mut storage = PeerStorage::new_initialized(region.clone());
            storage.kv = kv;
            storage.mvcc = mvcc;
            storage.split_from = Some((region_id, split.index));
            let mut peer = Peer::new(meta, storage, &self.cfg, &self.logger);
            if is_leader {
                // `Peer::maybe_campaign`: the parent's leader store starts the
                // new region's first election at once.
                let _ = peer.raft.campaign();
                peer.pessimistic_locks = locks.remove(&region.id).unwrap_or_default();
            }
            let role = peer.raft.raft.state;
            self.peers.insert(region.id, peer);
            self.host
                .on_region_changed(&region, RegionChangeEvent::Create, role);
            self.moved.push(region.id);
            self.dirty.insert(region.id);
        }
        if is_leader {
            ctx.count(super::metrics::REGION_SPLITS, 1);
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!("notify pd with split, split_count: {}", split.regions.len()),
            );
            ctx.send(
                Node::Store(store_id),
                Node::Pd,
                Msg::ReportBatchSplit {
                    regions: split.regions.clone(),
                },
            );
            for r in &split.regions {
                self.heartbeat_pd(ctx, r.id);
            }
        }
        // Replay the first votes that arrived before this store had the new
        // regions (TiKV `on_ready_split_region`, `pending_msgs`).
        let new_ids: BTreeSet<u64> = split.regions.iter().map(|r| r.id).collect();
        let (replay, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.pending_msgs)
            .into_iter()
            .partition(|p| new_ids.contains(&p.region_id));
        self.pending_msgs = keep;
        for p in replay {
            self.on_raft_message(ctx, p.region_id, p.from, p.to, p.sender, p.msg);
        }
    }

    /// Raft log GC: compact each peer's log up to `applied - raft_log_gc_keep`, and
    /// on leaders never past the slowest follower's `matched` unless it lags by more
    /// than the keep limit (it then needs a snapshot).
    pub fn on_raft_log_gc_tick(&mut self, ctx: &mut Ctx) {
        let keep = self.cfg.raft_log_gc_keep;
        for peer in self.peers.values_mut() {
            if peer.raft.store().merge_state.is_some() {
                // "in merging mode, skip compact": the CommitMerge carries
                // the source's entries from min_index.
                continue;
            }
            let applied = peer.raft.store().applied_index;
            let mut to = applied.saturating_sub(keep);
            if peer.is_leader() {
                let min_matched = peer
                    .raft
                    .raft
                    .prs()
                    .iter()
                    .map(|(_, pr)| pr.matched)
                    .min()
                    .unwrap_or(applied);
                if applied.saturating_sub(min_matched) < keep * 4 {
                    to = to
                        .min(min_matched.saturating_sub(1))
                        .max(to.min(min_matched));
                }
            }
            peer.raft.mut_store().compact_to(to);
        }
        ctx.timer(
            Node::Store(self.store_id),
            self.cfg.raft_log_gc_tick_interval,
            Timer::RaftLogGcTick,
        );
    }

    /// Writes `tokens` became durable on this store's disk.
    pub fn on_disk_done(&mut self, ctx: &mut Ctx, tokens: Vec<u64>) {
        for token in tokens {
            let Some(w) = self.writes.remove(&token) else {
                continue;
            };
            match w {
                PendingWrite::RaftLog {
                    region_id,
                    peer_id,
                    number,
                    last_entry,
                    hs,
                    snapshot,
                    persisted_msgs,
                } => {
                    let Some(peer) = self.peers.get_mut(&region_id) else {
                        continue;
                    };
                    if peer.meta.id != peer_id {
                        continue;
                    }
                    peer.inflight_log_writes -= 1;
                    if let Some(snap) = snapshot {
                        let key = SnapshotMeta::decode(snap.get_data()).map(|m| m.key);
                        let file = key.and_then(|k| self.snap_mgr.get(&k));
                        let region = file.map(|f| f.region.clone());
                        let size = file.map_or(0, |f| f.size);
                        let st = peer.raft.mut_store();
                        st.snapshot_durable(&snap, region);
                        let idx = snap.get_metadata().get_index();
                        ctx.log(
                            "raftstore",
                            Level::Info,
                            Some(self.store_id),
                            Some(region_id),
                            format!("apply snapshot with state ok, index: {idx}"),
                        );
                        peer.raft.on_persist_ready(number);
                        self.moved.push(region_id);
                        if let Some(key) = key {
                            self.schedule_applying_snapshot(ctx, region_id, peer_id, key, size);
                        }
                    } else {
                        peer.raft.mut_store().log_durable(last_entry, hs);
                        peer.raft.on_persist_ready(number);
                    }
                    self.send_raft(ctx, region_id, persisted_msgs);
                    self.dirty.insert(region_id);
                }
                PendingWrite::Apply {
                    region_id,
                    peer_id,
                    entries,
                } => {
                    self.apply(ctx, region_id, peer_id, entries);
                }
                PendingWrite::SnapFiles { region_id, job } => {
                    self.on_snap_files_written(ctx, region_id, *job);
                }
                PendingWrite::MemtableFlush { id } => self.memtables.on_flushed(id),
                PendingWrite::SnapRead { region_id, peer_id } => {
                    if let Some(job) = self.generating.get(&region_id) {
                        if job.peer_id == peer_id {
                            let size = job.size;
                            self.spawn_generation(ctx, region_id, peer_id, size);
                        }
                    }
                }
            }
        }
    }

    /// Applies committed `entries` of the peer `peer_id` of `region_id`,
    /// answers the proposals they settle and destroys the peer if they
    /// removed it.
    fn apply(&mut self, ctx: &mut Ctx, region_id: u64, peer_id: u64, entries: Vec<Entry>) {
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if peer.meta.id != peer_id {
            return;
        }
        let mut result = apply_entries(ctx, store_id, peer, entries, &mut self.host);
        peer.clear_urgent_if_applied();
        for cf in CFS {
            let flushes =
                self.memtables
                    .write(ctx.now, region_id, cf, result.memtable_writes[cf.index()]);
            self.start_flushes(ctx, flushes);
        }
        if result.split.is_some() || result.prepare_merge {
            self.flush_tablet(ctx, region_id);
        }
        self.moved.push(region_id);
        if let Some(split) = result.split.take() {
            self.on_ready_split_region(ctx, region_id, split);
        }
        if result.conf_changed && !result.destroy {
            // `on_ready_change_peer`: "notify pd immediately to let it
            // update the region meta".
            self.heartbeat_pd(ctx, region_id);
        }
        if result.prepare_merge {
            // `on_ready_prepare_merge`: schedule the CommitMerge at once.
            self.on_check_merge(ctx, region_id);
        }
        if let Some(commit) = result.rollback_merge {
            if self.peers.get(&region_id).is_some_and(Peer::is_leader) {
                ctx.count(super::metrics::REGION_MERGES_ROLLED_BACK, 1);
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(store_id),
                    Some(region_id),
                    format!("notify pd with rollback merge {commit}"),
                );
                self.heartbeat_pd(ctx, region_id);
            }
        }
        for (owner, outcome) in result.settled {
            answer_proposal(
                ctx,
                store_id,
                &mut self.txn_applied,
                owner,
                region_id,
                outcome,
            );
        }
        self.dirty.insert(region_id);
        if result.destroy {
            self.destroy_peer(ctx, region_id, "peer removed by conf change");
        }
        if let Some(cm) = result.commit_merge.take() {
            if !result.destroy {
                self.exec_commit_merge(ctx, region_id, peer_id, cm);
            }
        }
    }

    fn destroy_peer(&mut self, ctx: &mut Ctx, region_id: u64, why: &str) {
        if let Some(p) = self.peers.remove(&region_id) {
            self.tombstones.insert((region_id, p.meta.id));
            // raft-kv2 closes the peer's tablet, memtables and all.
            self.memtables.drop_tablet(region_id);
            self.host
                .on_region_changed(p.region(), RegionChangeEvent::Destroy, p.raft.raft.state);
            ctx.log(
                "raftstore",
                Level::Info,
                Some(self.store_id),
                Some(region_id),
                format!("starts destroy, peer_id: {}, reason: {why}", p.meta.id),
            );
            for pr in p.proposals {
                let result = Err(RegionError::RegionNotFound);
                answer_proposal(
                    ctx,
                    self.store_id,
                    &mut self.txn_applied,
                    pr.owner,
                    region_id,
                    result,
                );
            }
        }
        self.dirty.remove(&region_id);
    }

    /// Handles raft-rs readies of every peer touched since the last call.
    pub fn handle_readies(&mut self, ctx: &mut Ctx) {
        while let Some(rid) = self.dirty.pop_first() {
            self.handle_ready(ctx, rid);
        }
    }

    fn handle_ready(&mut self, ctx: &mut Ctx, region_id: u64) {
        self.handle_snap_work(ctx, region_id);
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        if peer.raft.store().is_applying_snapshot() {
            // TiKV handles no ready of a peer whose snapshot is being applied;
            // the messages it steps meanwhile wait in raft-rs.
            return;
        }
        if !peer.raft.has_ready() {
            return;
        }
        self.moved.push(region_id);
        let mut rd = peer.raft.ready();
        let mut became_leader = false;
        if let Some(ss) = rd.ss() {
            let role = ss.raft_state;
            let leader_id = ss.leader_id;
            if role == StateRole::Leader && peer.last_role != StateRole::Leader {
                ctx.count(crate::raftstore::metrics::LEADER_ELECTED, 1);
                became_leader = true;
            }
            if leader_id != 0 && leader_id != peer.meta.id {
                // A transfer this peer started has succeeded once it learns the transferee leads.
                if let Some(lp) = peer.region().peer_by_id(leader_id) {
                    let pending = peer.transfer_attempts.iter().any(|a| {
                        a.to_store == lp.store_id && a.outcome == TransferOutcome::Transferring
                    });
                    if pending {
                        peer.settle_attempt(lp.store_id, TransferOutcome::Succeeded);
                        ctx.count(crate::raftstore::metrics::TRANSFER_LEADER_SUCCEEDED, 1);
                    }
                }
            }
            let lost_leadership = peer.last_role == StateRole::Leader && role != StateRole::Leader;
            peer.last_role = role;
            let change = RoleChange {
                state: role,
                leader_id,
                initialized: peer.raft.store().is_initialized(),
            };
            self.host.on_role_change(peer.region(), &change);
            if lost_leadership {
                self.on_leadership_lost(ctx, region_id);
            }
        }
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        let msgs = rd.take_messages();
        let mut snapshot = None;
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            peer.raft.mut_store().apply_snapshot_readable(&snap);
            ctx.log(
                "raftstore",
                Level::Info,
                Some(self.store_id),
                Some(region_id),
                format!(
                    "begin to apply snapshot, peer_id: {}, index: {}",
                    peer.meta.id,
                    snap.get_metadata().get_index()
                ),
            );
            snapshot = Some(Box::new(snap));
        }
        let entries = rd.take_entries();
        let mut bytes: u64 = entries.iter().map(entry_disk_bytes).sum();
        peer.raft.mut_store().append(&entries);
        let hs = rd.hs().cloned();
        if let Some(h) = &hs {
            peer.raft.mut_store().set_hard_state(h.clone());
            bytes += 32;
        }
        if snapshot.is_some() {
            // The raft state, apply state and region state (`PeerState::Applying`):
            // the files themselves were saved as they arrived.
            bytes += SNAPSHOT_STATE_BYTES;
        }
        let committed = rd.take_committed_entries();
        let persisted_msgs = rd.take_persisted_messages();
        let number = rd.number();
        let last_entry = entries.last().map(|e| e.get_index());
        let needs_write = snapshot.is_some()
            || !entries.is_empty()
            || hs.is_some()
            || peer.inflight_log_writes > 0;
        peer.raft.advance_append_async(rd);
        let apply_bytes: u64 = committed.iter().map(entry_disk_bytes).sum();
        let has_committed = !committed.is_empty();
        if needs_write {
            peer.inflight_log_writes += 1;
        }
        let peer_id = peer.meta.id;
        self.send_raft(ctx, region_id, msgs);
        if needs_write {
            self.submit(
                ctx,
                bytes,
                PendingWrite::RaftLog {
                    region_id,
                    peer_id,
                    number,
                    last_entry,
                    hs,
                    snapshot,
                    persisted_msgs,
                },
            );
        } else {
            let peer = self.peers.get_mut(&region_id).expect("peer exists");
            peer.raft.on_persist_ready(number);
            self.send_raft(ctx, region_id, persisted_msgs);
            self.dirty.insert(region_id);
        }
        if has_committed {
            self.submit(
                ctx,
                apply_bytes,
                PendingWrite::Apply {
                    region_id,
                    peer_id,
                    entries: committed,
                },
            );
        }
        if became_leader {
            // TiKV heartbeats PD as soon as a peer becomes leader.
            self.heartbeat_pd(ctx, region_id);
        }
        // Anything left (e.g. messages generated by on_persist_ready) is handled next round.
        if self
            .peers
            .get(&region_id)
            .is_some_and(|p| p.raft.has_ready())
        {
            self.dirty.insert(region_id);
        }
    }

    /// Records a snapshot stage reached on this store and, with a level,
    /// logs its line.
    fn stage(&mut self, ctx: &Ctx, s: StageOf, level: Option<Level>, detail: String) {
        if let Some(level) = level {
            ctx.log(
                "raftstore",
                level,
                Some(self.store_id),
                Some(s.region_id),
                detail.clone(),
            );
        }
        push_stage(
            &mut self.snap_stages,
            s.at(to_ms(ctx.now), self.store_id, detail),
        );
    }

    /// Logs and counts what the peer's `PeerStorage::snapshot` did inside
    /// raft-rs, and hands the generation it scheduled to the
    /// `snap-generator` pool with the engine snapshot taken now (TiKV's
    /// `handle_gen_snap_task` → `ApplyFsm::handle_snapshot`, which takes the
    /// snapshot at the applied index).
    fn handle_snap_work(&mut self, ctx: &mut Ctx, region_id: u64) {
        let Some(peer) = self.peers.get(&region_id) else {
            return;
        };
        let st = peer.raft.store();
        let events = st.take_snap_events();
        let task = st.take_gen_snap_task();
        if events.is_empty() && task.is_none() {
            return;
        }
        let peer_id = peer.meta.id;
        for ev in events {
            let info = |ctx: &Ctx, msg: String| {
                ctx.log(
                    "raftstore",
                    Level::Info,
                    Some(self.store_id),
                    Some(region_id),
                    msg,
                )
            };
            match ev {
                SnapEvent::Requesting {
                    request_index,
                    to_peer,
                } => {
                    let line = format!(
                        "requesting snapshot, peer_id: {peer_id}, request_index: {request_index}, request_peer: {to_peer}"
                    );
                    ctx.count(super::metrics::SNAPSHOT_TEMPORARILY_UNAVAILABLE, 1);
                    let s = StageOf {
                        region_id,
                        key: None,
                        to_peer,
                        stage: SnapStage::Requested,
                        bytes: 0,
                    };
                    self.stage(ctx, s, Some(Level::Info), line);
                }
                SnapEvent::StillGenerating { .. } => {
                    ctx.count(super::metrics::SNAPSHOT_TEMPORARILY_UNAVAILABLE, 1);
                }
                SnapEvent::StartSending { key, to_peer } => {
                    let line = format!(
                        "start sending snapshot, peer_id: {peer_id}, snap_key: {key}, to_peer: {to_peer}"
                    );
                    let s = StageOf {
                        region_id,
                        key: Some(key),
                        to_peer,
                        stage: SnapStage::Sending,
                        bytes: self.snap_mgr.get(&key).map_or(0, |f| f.size),
                    };
                    self.stage(ctx, s, Some(Level::Info), line);
                }
                SnapEvent::Stale {
                    snap_index,
                    request_index,
                } => info(
                    ctx,
                    format!("snapshot is stale, generate again, snap_index: {snap_index}, request_index: {request_index}"),
                ),
                SnapEvent::GaveUp { tried } => ctx.log(
                    "raftstore",
                    Level::Warn,
                    Some(self.store_id),
                    Some(region_id),
                    format!("failed to get snapshot after {tried} times"),
                ),
            }
        }
        let Some(task) = task else {
            return;
        };
        let peer = self.peers.get(&region_id).expect("present");
        let st = peer.raft.store();
        let key = SnapKey {
            region_id,
            term: st.applied_term,
            index: st.applied_index,
        };
        let size = region_data_bytes(&st.kv, &st.mvcc);
        let job = GenJob {
            key,
            peer_id,
            to_peer: task.to_peer,
            region: st.region.clone(),
            conf_state: st.conf_state.clone(),
            kv: st.kv.clone(),
            mvcc: st.mvcc.clone(),
            size,
            started: ctx.now,
        };
        let read = self.cfg.engine.generate_read_bytes(size);
        if read > 0 {
            // The scan reads the region's data from the disk first.
            let w = PendingWrite::SnapRead { region_id, peer_id };
            self.submit_lane(ctx, DiskLane::Read, read, w);
        } else {
            self.spawn_generation(ctx, region_id, peer_id, size);
        }
        let s = StageOf {
            region_id,
            key: Some(key),
            to_peer: task.to_peer,
            stage: SnapStage::Generating,
            bytes: size,
        };
        let detail = format!("snap-generator: read and generate snapshot {key} of {size} bytes");
        self.stage(ctx, s, None, detail);
        self.generating.insert(region_id, job);
    }

    /// The scan's data is read: the `snap-generator` thread builds the files.
    fn spawn_generation(&self, ctx: &mut Ctx, region_id: u64, peer_id: u64, size: u64) {
        ctx.spawn(
            self.store_id,
            super::SNAP_GENERATOR.name,
            self.cfg.engine.generate_cost(size),
            Timer::SnapGenerated { region_id, peer_id },
        );
    }

    /// A `snap-generator` thread finished the scan of `region_id`: the files
    /// go to the disk, unless nobody waits for them any more ("generate snap
    /// is canceled").
    pub fn on_snap_generated(&mut self, ctx: &mut Ctx, region_id: u64, peer_id: u64) {
        let Some(job) = self.generating.remove(&region_id) else {
            return;
        };
        if job.peer_id != peer_id {
            return;
        }
        let waiting = self.peers.get(&region_id).is_some_and(|p| {
            p.meta.id == peer_id
                && matches!(
                    p.raft.store().snap_state(),
                    super::storage::SnapState::Generating { .. }
                )
        });
        if !waiting {
            ctx.log(
                "raftstore",
                Level::Info,
                Some(self.store_id),
                Some(region_id),
                "generate snap is canceled".to_string(),
            );
            return;
        }
        // raft-kv2's checkpoint flushes the tablet first (queued ahead of
        // the snapshot's own files on the disk).
        self.flush_tablet(ctx, region_id);
        let bytes = self.cfg.engine.generate_write_bytes(job.size);
        self.submit(
            ctx,
            bytes,
            PendingWrite::SnapFiles {
                region_id,
                job: Box::new(job),
            },
        );
    }

    /// The generated files are on disk: register them, hand the snapshot to
    /// the peer's storage (the notifier) and, as TiKV's
    /// `CasualMessage::SnapshotGenerated` does, ping the followers so raft-rs
    /// asks `snapshot()` again at once instead of at the next heartbeat.
    fn on_snap_files_written(&mut self, ctx: &mut Ctx, region_id: u64, job: GenJob) {
        let key = job.key;
        let file = SnapshotFile {
            key,
            region: job.region.clone(),
            data: Rc::new(encode_region_data(&job.region, &job.kv, &job.mvcc)),
            size: job.size,
        };
        let keys = job.kv.len() + job.mvcc.records();
        self.snap_mgr.register(file);
        let mut snap = Snapshot::default();
        snap.set_data(
            SnapshotMeta {
                key,
                file_size: job.size,
            }
            .encode()
            .into(),
        );
        let meta = snap.mut_metadata();
        meta.set_index(key.index);
        meta.set_term(key.term);
        meta.set_conf_state(job.conf_state.clone());
        let line = format!(
            "scan snapshot, region_id: {region_id}, snapshot: {key}, key_count: {keys}, size: {}, takes: {}ms",
            job.size,
            to_ms(ctx.now.saturating_sub(job.started))
        );
        ctx.count(super::metrics::SNAPSHOTS_GENERATED, 1);
        let s = StageOf {
            region_id,
            key: Some(key),
            to_peer: job.to_peer,
            stage: SnapStage::Generated,
            bytes: job.size,
        };
        self.stage(ctx, s, Some(Level::Info), line);
        let notified = self
            .peers
            .get(&region_id)
            .is_some_and(|p| p.meta.id == job.peer_id && p.raft.store().snapshot_generated(snap));
        if !notified {
            ctx.log(
                "raftstore",
                Level::Info,
                Some(self.store_id),
                Some(region_id),
                "failed to notify snap result, leadership may have changed, ignore error"
                    .to_string(),
            );
            self.snap_mgr.delete(&key);
            return;
        }
        let peer = self.peers.get_mut(&region_id).expect("notified");
        peer.raft.ping();
        self.dirty.insert(region_id);
    }

    /// The snapshot's raft state is persisted: the `region-worker` applies
    /// its data (TiKV's `schedule_applying_snapshot` → `RegionTask::Apply`).
    fn schedule_applying_snapshot(
        &mut self,
        ctx: &mut Ctx,
        region_id: u64,
        peer_id: u64,
        key: SnapKey,
        size: u64,
    ) {
        let line = format!("begin apply snap data, region_id: {region_id}, peer_id: {peer_id}");
        let s = StageOf {
            region_id,
            key: Some(key),
            to_peer: peer_id,
            stage: SnapStage::Applying,
            bytes: size,
        };
        self.stage(ctx, s, Some(Level::Info), line);
        ctx.spawn(
            self.store_id,
            super::REGION_WORKER.name,
            self.cfg.engine.apply_cost(size),
            Timer::SnapApplied { region_id, peer_id },
        );
    }

    /// After a restart, peers whose persisted snapshot was not applied yet
    /// apply it again (TiKV finds `PeerState::Applying` at start).
    pub fn resume_applying_snapshots(&mut self, ctx: &mut Ctx) {
        let pending: Vec<(u64, u64, SnapKey)> = self
            .peers
            .iter()
            .filter_map(|(&rid, p)| p.raft.store().pending_apply.map(|k| (rid, p.meta.id, k)))
            .collect();
        for (rid, pid, key) in pending {
            let size = self.snap_mgr.get(&key).map_or(0, |f| f.size);
            self.schedule_applying_snapshot(ctx, rid, pid, key, size);
        }
    }

    /// The `region-worker` applied the snapshot of `region_id`: its data is
    /// the region's, the peer goes on from the snapshot's index and its
    /// files are deleted ("apply new data").
    pub fn on_snap_applied(&mut self, ctx: &mut Ctx, region_id: u64, peer_id: u64) {
        let store_id = self.store_id;
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        let Some(key) = peer.raft.store().pending_apply else {
            return;
        };
        if peer.meta.id != peer_id {
            return;
        }
        let Some((_, kv, mvcc)) = self
            .snap_mgr
            .get(&key)
            .and_then(|f| super::snap::decode_region_data(&f.data))
        else {
            ctx.log(
                "raftstore",
                Level::Error,
                Some(store_id),
                Some(region_id),
                format!("failed to apply snap!!!, missing snapshot file {key}"),
            );
            peer.raft.mut_store().abort_applying();
            return;
        };
        let size = self.snap_mgr.get(&key).map_or(0, |f| f.size);
        let st = peer.raft.mut_store();
        st.install_snapshot_data(Rc::new(kv), Rc::new(mvcc));
        peer.raft.advance_apply_to(key.index);
        let region = peer.region().clone();
        let role = peer.raft.raft.state;
        let since = self
            .snap_stages
            .iter()
            .rev()
            .find(|e| e.key == Some(key) && e.stage == SnapStage::Applying)
            .map_or(to_ms(ctx.now), |e| e.at_ms);
        let line = format!(
            "apply new data, region_id: {region_id}, time_takes: {}ms",
            to_ms(ctx.now).saturating_sub(since)
        );
        ctx.count(super::metrics::SNAPSHOTS_APPLIED, 1);
        let s = StageOf {
            region_id,
            key: Some(key),
            to_peer: peer_id,
            stage: SnapStage::Applied,
            bytes: size,
        };
        self.stage(ctx, s, Some(Level::Info), line);
        self.snap_mgr.delete(&key);
        self.host
            .on_region_changed(&region, RegionChangeEvent::Create, role);
        self.moved.push(region_id);
        self.dirty.insert(region_id);
    }

    /// The snap worker's outcome for a snapshot `region_id`'s leader sent
    /// to `to_peer`: raft-rs's `report_snapshot` (Finish: probe again from
    /// the snapshot's index; Failure: probe and retry).
    pub fn report_snapshot(&mut self, ctx: &mut Ctx, region_id: u64, to_peer: u64, finished: bool) {
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        let status = if finished {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        ctx.log(
            "raftstore",
            Level::Info,
            Some(self.store_id),
            Some(region_id),
            format!("report snapshot status, to: {to_peer}, status: {status:?}"),
        );
        peer.raft.report_snapshot(to_peer, status);
        self.dirty.insert(region_id);
    }

    /// Leadership of `region_id` was lost: its in-memory pessimistic locks are
    /// gone (TiKV clears `PeerPessimisticLocks` when the peer steps down).
    fn on_leadership_lost(&mut self, ctx: &mut Ctx, region_id: u64) {
        let Some(peer) = self.peers.get_mut(&region_id) else {
            return;
        };
        peer.raft.store().cancel_generating_snap();
        let n = std::mem::take(&mut peer.pessimistic_locks).len();
        if n > 0 {
            ctx.log(
                "storage",
                Level::Info,
                Some(self.store_id),
                Some(region_id),
                format!("in-memory pessimistic locks dropped on leader change, count: {n}"),
            );
        }
    }

    /// The process crashed: volatile state is gone (unsynced writes, readies,
    /// in-memory pessimistic locks); peers keep their durable state until
    /// [`Raftstore::restart_peers`].
    pub fn crash(&mut self) {
        self.writes.clear();
        self.dirty.clear();
        self.txn_applied.clear();
        self.generating.clear();
        self.split_checks.clear();
        self.pending_msgs.clear();
        self.outgoing_snapshots.clear();
        self.memtables.clear();
        for p in self.peers.values_mut() {
            p.pessimistic_locks.clear();
        }
    }

    /// The process restarted: every peer is rebuilt from its durable state.
    pub fn restart_peers(&mut self) {
        let cfg = self.cfg.clone();
        let old = std::mem::take(&mut self.peers);
        for (rid, peer) in old {
            let meta = peer.meta;
            let mut raw = peer.raft;
            let mut storage = raw.mut_store().take();
            storage.crash();
            let mut p = Peer::new(meta, storage, &cfg, &self.logger);
            p.last_role = StateRole::Follower;
            self.peers.insert(rid, p);
            self.dirty.insert(rid);
            self.moved.push(rid);
        }
    }

    /// The regions whose peer's Raft state may have moved since the last
    /// [`Raftstore::clear_moved`] (for observers outside the store, such as
    /// the invariant checker).
    pub fn moved(&self) -> &[u64] {
        &self.moved
    }

    /// Forgets [`Raftstore::moved`] once observed.
    pub fn clear_moved(&mut self) {
        self.moved.clear();
    }
}

/// Bytes of the raft, apply and region state a snapshot's ready writes.
const SNAPSHOT_STATE_BYTES: u64 = 256;

/// A `ChangePeerV2`'s changes as TiKV logs them: `[AddNode peer 7 on store
/// 4, AddLearnerNode peer 3 on store 1]`.
fn describe_changes(changes: &[(ConfChangeType, PeerMeta)]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|(ty, p)| format!("{ty:?} peer {} on store {}", p.id, p.store_id))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// TiKV's `PENDING_MSG_CAP` (fsm/store.rs): how many first votes
/// [`Raftstore`] keeps for regions it cannot create yet.
pub const PENDING_MSG_CAP: usize = 100;

/// A raft message kept until the region it is for exists on this store.
struct PendingRaftMessage {
    region_id: u64,
    from: PeerMeta,
    to: PeerMeta,
    sender: SenderRegion,
    msg: eraftpb::Message,
}

/// TiKV `util::is_first_vote_msg`: a vote or pre-vote of a region's first
/// election (term `RAFT_INIT_LOG_TERM + 1`), sent by a peer just created by
/// a split.
fn is_first_vote_msg(m: &eraftpb::Message) -> bool {
    matches!(
        m.get_msg_type(),
        MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
    ) && m.get_term() == super::storage::RAFT_INIT_LOG_TERM + 1
}

/// Settles a proposal: a raw write's client gets its `WriteResponse`; a txn
/// command's outcome is queued for the scheduler (`on_txn_applied`), which
/// runs once the apply loop has released the peer.
fn answer_proposal(
    ctx: &mut Ctx,
    store_id: u64,
    txn_applied: &mut Vec<(u64, Result<(), RegionError>)>,
    owner: ProposalOwner,
    region_id: u64,
    result: Result<(), RegionError>,
) {
    match owner {
        ProposalOwner::Client { client, req_id } => ctx.send(
            Node::Store(store_id),
            Node::Client(client),
            Msg::WriteResponse {
                req_id,
                region_id,
                result,
            },
        ),
        ProposalOwner::Txn { cid } => txn_applied.push((cid, result)),
    }
}

/// TiKV `ready_to_transfer_leader` (peer.rs), before and after PR 17643.
/// Returns the rejection reason, or `None` when the transfer may go ahead.
fn ready_to_transfer_leader(
    peer: &Peer,
    check: TransferLeaderCheck,
    max_lag: u64,
    mut index: u64,
    transferee: u64,
) -> Option<&'static str> {
    let r = &peer.raft.raft;
    if !r.prs().conf().voters().contains(transferee) {
        return Some("non voter");
    }
    for (id, pr) in r.prs().iter() {
        if pr.state == raft::ProgressState::Snapshot {
            return Some("pending snapshot");
        }
        if *id == transferee && index == 0 {
            index = pr.matched;
        }
    }
    let pending = match check {
        TransferLeaderCheck::BeforeFix => r.has_pending_conf() || r.pending_conf_index > index,
        TransferLeaderCheck::RelaxedCheck => r.pending_conf_index > index,
    };
    if pending {
        return Some("pending conf change");
    }
    let last_index = r.raft_log.last_index();
    if last_index >= index + max_lag {
        return Some("log gap");
    }
    None
}
