//! The apply path (TiKV `components/raftstore/src/store/fsm/apply.rs`):
//! committed entries, once their apply write is durable, change the
//! region's state machine (raw data, MVCC column families, the region and
//! its conf state); the coprocessor host's observers see each applied batch
//! and each region change; the proposals the entries settle are answered.

use std::rc::Rc;

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfChangeV2, Entry, EntryType};

use super::coprocessor::{
    AdminChange, AppliedChange, AppliedCmd, CoprocessorHost, RegionChangeEvent, RegionChangeReason,
};
use super::entry::{decode_peer_ctx, decode_put};
use super::peer::{Peer, ProposalOwner};
use super::snap::{
    DEFAULT_RECORD_BYTES, LOCK_RECORD_BYTES, RAW_RECORD_OVERHEAD_BYTES, WRITE_RECORD_BYTES,
};
use super::split::{exec_batch_split, split_off_range};
use super::storage::{KvData, MvccShared};
use crate::engine_rocks::memtable::{Cf, MEMTABLE_ENTRY_OVERHEAD_BYTES};
use crate::kernel::log::Level;
use crate::proto::cmd::{
    BatchSplitRequest, CommitMergeRequest, PrepareMergeRequest, RollbackMergeRequest,
};
use crate::proto::{Ctx, PeerMeta, RegionError, RegionMeta};

/// What applying a batch produced for raftstore to finish.
#[derive(Debug, Default)]
pub struct ApplyResult {
    /// The proposals the batch settled, in log order, with their outcome.
    pub settled: Vec<(ProposalOwner, Result<(), RegionError>)>,
    /// The batch removed this peer: raftstore destroys it.
    pub destroy: bool,
    /// The batch applied a `BatchSplit`: raftstore creates the new peers.
    pub split: Option<SplitResult>,
    /// The batch applied a conf change (simple or joint): a leader
    /// heartbeats PD at once (TiKV `on_ready_change_peer`).
    pub conf_changed: bool,
    /// The batch applied a `PrepareMerge`: the source schedules its
    /// `CommitMerge` at once.
    pub prepare_merge: bool,
    /// The batch applied a `RollbackMerge` (its `commit`).
    pub rollback_merge: Option<u64>,
    /// The batch reached a `CommitMerge`: apply pauses there until
    /// raftstore has caught the local source up and merged it (TiKV's
    /// `ApplyResult::WaitMergeSource`); the entries after it follow.
    pub commit_merge: Option<CommitMergeApply>,
    /// Bytes the batch wrote into the KV engine's memtables, per CF in
    /// [`crate::engine_rocks::memtable::CFS`] order (entries and their
    /// overhead).
    pub memtable_writes: [u64; 3],
}

/// A `CommitMerge` entry waiting for raftstore, and the entries after it.
#[derive(Debug)]
pub struct CommitMergeApply {
    /// The command.
    pub req: CommitMergeRequest,
    /// Its log index in the target region.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// The committed entries after it, applied once the merge is done.
    pub rest: Vec<Entry>,
}

/// What an applied `BatchSplit` left for raftstore (TiKV's
/// `ExecResult::SplitRegion`): the new regions with their share of the data.
#[derive(Debug)]
pub struct SplitResult {
    /// Log index of the `BatchSplit`.
    pub index: u64,
    /// Every region of the split in key order (the parent among them).
    pub regions: Vec<RegionMeta>,
    /// The new regions (not the parent) with their data.
    pub new: Vec<(RegionMeta, KvData, MvccShared)>,
    /// In-memory pessimistic locks moved to each new region, by region id.
    pub locks: Vec<(
        u64,
        std::collections::BTreeMap<crate::proto::Key, crate::mvcc::Lock>,
    )>,
}

/// Applies `entries` (committed, their apply write durable) to `peer` on
/// store `store_id`, running `host`'s observers.
pub fn apply_entries(
    ctx: &mut Ctx,
    store_id: u64,
    peer: &mut Peer,
    entries: Vec<Entry>,
    host: &mut CoprocessorHost,
) -> ApplyResult {
    let mut result = ApplyResult::default();
    let mut batch = Vec::new();
    let observe = host.has_cmd_observers();
    let mut last = None;
    let mut entries = entries.into_iter();
    while let Some(e) = entries.next() {
        let (index, term) = (e.get_index(), e.get_term());
        if index <= peer.raft.store().applied_index {
            continue;
        }
        let mut rejected: Option<RegionError> = None;
        match e.get_entry_type() {
            EntryType::EntryNormal => match decode_command(e.get_data()) {
                Command::BatchSplit(req) => {
                    match exec_split(ctx, store_id, peer, &req, index, host) {
                        Ok(split) => result.split = Some(split),
                        Err(err) => rejected = Some(err),
                    }
                }
                Command::PrepareMerge(req) => {
                    match apply_prepare_merge(ctx, store_id, peer, &req, index, host) {
                        Ok(()) => result.prepare_merge = true,
                        Err(err) => rejected = Some(err),
                    }
                }
                Command::RollbackMerge(req) => {
                    if apply_rollback_merge(peer, &req, host) {
                        result.rollback_merge = Some(req.commit);
                    }
                }
                Command::CommitMerge(req) => {
                    let r = peer.region();
                    if req.target_version != r.version || req.target_conf_ver != r.conf_ver {
                        rejected = Some(epoch_not_match(peer));
                    } else {
                        // Pause here: raftstore catches the source up and
                        // merges it, then applies the rest.
                        result.commit_merge = Some(CommitMergeApply {
                            req,
                            index,
                            term,
                            rest: entries.collect(),
                        });
                        break;
                    }
                }
                Command::Put { .. } | Command::Modifies { .. }
                    if peer.raft.store().merge_state.is_some() =>
                {
                    // Proposed after the PrepareMerge by a leader that had not
                    // applied it yet: its epoch is stale at apply.
                    rejected = Some(RegionError::ProposalInMergingMode);
                }
                Command::Put { key, ts, len } => {
                    if let Err(err) = apply_put(peer, key, ts, len, index) {
                        rejected = Some(err);
                    } else {
                        result.memtable_writes[Cf::Default.index()] +=
                            RAW_RECORD_OVERHEAD_BYTES + len as u64 + MEMTABLE_ENTRY_OVERHEAD_BYTES;
                    }
                    if rejected.is_none() && observe {
                        batch.push(AppliedCmd {
                            index,
                            term,
                            change: AppliedChange::RawPut { key, ts },
                        });
                    }
                }
                Command::Modifies { mods, bytes } => {
                    if let Err(err) = apply_modifies(peer, &mods, bytes) {
                        rejected = Some(err);
                    } else {
                        for m in &mods {
                            let (cf, bytes) = memtable_entry(m);
                            result.memtable_writes[cf.index()] += bytes;
                        }
                    }
                    if rejected.is_none() && observe {
                        batch.push(AppliedCmd {
                            index,
                            term,
                            change: AppliedChange::Mvcc(mods),
                        });
                    }
                }
                Command::Other => {}
            },
            EntryType::EntryConfChange => {
                let cc = ConfChange::parse_from_bytes(e.get_data()).ok();
                if let Some(removed_self) =
                    cc.and_then(|cc| apply_conf_change(ctx, store_id, peer, &cc, index))
                {
                    result.destroy |= removed_self;
                    result.conf_changed = true;
                    let role = peer.raft.raft.state;
                    host.on_region_changed(
                        peer.region(),
                        RegionChangeEvent::Update(RegionChangeReason::ChangePeer),
                        role,
                    );
                }
            }
            EntryType::EntryConfChangeV2 => {
                let cc = ConfChangeV2::parse_from_bytes(e.get_data()).ok();
                if let Some(cc) = cc {
                    if apply_conf_change_v2(ctx, store_id, peer, &cc, index) {
                        result.conf_changed = true;
                        let role = peer.raft.raft.state;
                        host.on_region_changed(
                            peer.region(),
                            RegionChangeEvent::Update(RegionChangeReason::ChangePeer),
                            role,
                        );
                    }
                }
            }
        }
        peer.raft.mut_store().set_applied(index, term);
        last = Some(index);
        // The proposals this entry settles.
        while let Some(p) = peer.proposals.front() {
            if p.index > index {
                break;
            }
            let p = peer.proposals.pop_front().expect("front exists");
            let outcome = if p.index == index && p.term == term {
                rejected.clone().map_or(Ok(()), Err)
            } else {
                Err(RegionError::StaleCommand)
            };
            result.settled.push((p.owner, outcome));
        }
    }
    if let Some(i) = last {
        let log = &peer.raft.raft.raft_log;
        let known = log.committed.min(log.persisted);
        // Entries a `CommitMerge` carried to a lagging source peer
        // (`CatchUpLogs`) are committed in the source's group, but this
        // peer's raft-rs has not learned so: its applied index stays where
        // raft-rs allows (the source is destroyed right after).
        peer.raft.advance_apply_to(i.min(known).max(log.applied));
    }
    host.on_flush_applied_cmd_batch(peer.region(), &batch);
    result
}

/// What a normal entry's data holds, decoded once for the apply path.
enum Command {
    /// A raw `Put`.
    Put {
        key: crate::proto::Key,
        ts: u64,
        len: u32,
    },
    /// A transactional batch of MVCC modifications (`bytes`: the entry's size).
    Modifies {
        mods: Vec<crate::mvcc::Modify>,
        bytes: u64,
    },
    /// `BatchSplit`.
    BatchSplit(BatchSplitRequest),
    /// `PrepareMerge`.
    PrepareMerge(PrepareMergeRequest),
    /// `CommitMerge`.
    CommitMerge(CommitMergeRequest),
    /// `RollbackMerge`.
    RollbackMerge(RollbackMergeRequest),
    /// Anything else (a new leader's empty entry).
    Other,
}

fn decode_command(data: &[u8]) -> Command {
    if let Some((key, ts, len)) = decode_put(data) {
        Command::Put { key, ts, len }
    } else if let Some(mods) = crate::mvcc::decode_modifies(data) {
        Command::Modifies {
            mods,
            bytes: data.len() as u64,
        }
    } else if let Some(r) = BatchSplitRequest::decode(data) {
        Command::BatchSplit(r)
    } else if let Some(r) = PrepareMergeRequest::decode(data) {
        Command::PrepareMerge(r)
    } else if let Some(r) = CommitMergeRequest::decode(data) {
        Command::CommitMerge(r)
    } else if let Some(r) = RollbackMergeRequest::decode(data) {
        Command::RollbackMerge(r)
    } else {
        Command::Other
    }
}

/// The CF and memtable bytes of one MVCC modification (a lock delete is a
/// tombstone: the key and its overhead).
fn memtable_entry(m: &crate::mvcc::Modify) -> (Cf, u64) {
    use crate::mvcc::Modify;
    let (cf, record) = match m {
        Modify::PutLock(..) => (Cf::Lock, LOCK_RECORD_BYTES),
        Modify::DeleteLock(_) => (Cf::Lock, RAW_RECORD_OVERHEAD_BYTES),
        Modify::PutWrite(..) => (Cf::Write, WRITE_RECORD_BYTES),
        Modify::PutDefault(..) => (Cf::Default, DEFAULT_RECORD_BYTES),
    };
    (cf, record + MEMTABLE_ENTRY_OVERHEAD_BYTES)
}

/// Applies a raw `Put` at `index`, or `EpochNotMatch` for a key a split
/// moved away since the proposal (TiKV's `check_region_epoch` at apply).
fn apply_put(
    peer: &mut Peer,
    key: crate::proto::Key,
    ts: u64,
    len: u32,
    index: u64,
) -> Result<(), RegionError> {
    if !peer.region().contains(key) {
        return Err(epoch_not_match(peer));
    }
    let st = peer.raft.mut_store();
    let version = st.region.version;
    Rc::make_mut(&mut st.kv).insert(
        key,
        super::storage::RawValue {
            ts,
            index,
            version,
            value_len: len,
        },
    );
    peer.written_bytes += len as u64;
    peer.written_keys += 1;
    peer.size_diff_hint += len as u64;
    Ok(())
}

/// Applies a batch of MVCC modifications (`bytes` long in the log), or
/// `EpochNotMatch` when a key is outside the region. A prewrite replaces the
/// in-memory pessimistic lock it was built on.
fn apply_modifies(
    peer: &mut Peer,
    mods: &[crate::mvcc::Modify],
    bytes: u64,
) -> Result<(), RegionError> {
    if mods.iter().any(|m| !peer.region().contains(m.key())) {
        return Err(epoch_not_match(peer));
    }
    let st = peer.raft.mut_store();
    Rc::make_mut(&mut st.mvcc).apply(mods);
    peer.written_bytes += bytes;
    peer.written_keys += mods.len() as u64;
    peer.size_diff_hint += bytes;
    for m in mods {
        if let crate::mvcc::Modify::PutLock(k, l) = m {
            if peer.pessimistic_locks.get(k).is_some_and(|p| p.ts == l.ts) {
                peer.pessimistic_locks.remove(k);
            }
        }
    }
    Ok(())
}

/// TiKV `exec_prepare_merge` on this replica: logs `execute PrepareMerge`,
/// sets the new epoch and the merge state, and tells the observers.
fn apply_prepare_merge(
    ctx: &mut Ctx,
    store_id: u64,
    peer: &mut Peer,
    req: &PrepareMergeRequest,
    index: u64,
    host: &mut CoprocessorHost,
) -> Result<(), RegionError> {
    let (region, state) = super::merge::exec_prepare_merge(peer.region(), req, index)?;
    host.post_exec_admin(peer.region(), &AdminChange::PrepareMerge);
    ctx.log(
        "raftstore",
        Level::Info,
        Some(store_id),
        Some(peer.region_id()),
        format!(
            "execute PrepareMerge, min_index: {}, index: {index}, target_region: {}",
            state.min_index,
            state.target.describe()
        ),
    );
    let st = peer.raft.mut_store();
    st.region = region;
    st.merge_state = Some(state);
    host.on_region_changed(
        peer.region(),
        RegionChangeEvent::Update(RegionChangeReason::PrepareMerge),
        peer.raft.raft.state,
    );
    Ok(())
}

/// TiKV `exec_rollback_merge` on this replica, for the merge whose
/// `PrepareMerge` is at `req.commit`; returns whether it applied (a
/// duplicate or stale rollback is ignored).
fn apply_rollback_merge(
    peer: &mut Peer,
    req: &RollbackMergeRequest,
    host: &mut CoprocessorHost,
) -> bool {
    let st = peer.raft.mut_store();
    if st
        .merge_state
        .as_ref()
        .is_none_or(|m| m.commit != req.commit)
    {
        return false;
    }
    st.region = super::merge::exec_rollback_merge(&st.region);
    st.merge_state = None;
    // `on_ready_rollback_merge`: "Clear merge releted data".
    peer.want_rollback_merge_peers.clear();
    host.on_region_changed(
        peer.region(),
        RegionChangeEvent::Update(RegionChangeReason::RollbackMerge),
        peer.raft.raft.state,
    );
    true
}

/// `EpochNotMatch` with the peer's region as it is now.
fn epoch_not_match(peer: &Peer) -> RegionError {
    RegionError::EpochNotMatch {
        current_regions: vec![peer.region().clone()],
    }
}

/// Applies a `BatchSplit` (TiKV's `exec_batch_split`): checks it against the
/// region, logs `split region`, narrows the parent to its new range with the
/// new epoch and moves the other ranges' data and in-memory pessimistic
/// locks out for the new regions.
fn exec_split(
    ctx: &mut Ctx,
    store_id: u64,
    peer: &mut Peer,
    req: &BatchSplitRequest,
    index: u64,
    host: &mut CoprocessorHost,
) -> Result<SplitResult, RegionError> {
    let regions = exec_batch_split(peer.region(), req)?;
    host.post_exec_admin(peer.region(), &AdminChange::BatchSplit(regions.clone()));
    let region_id = peer.region_id();
    ctx.log(
        "raftstore",
        Level::Info,
        Some(store_id),
        Some(region_id),
        format!(
            "split region, peer_id: {}, region: {}, keys: {:?}",
            peer.meta.id,
            peer.region().describe(),
            req.split_keys
        ),
    );
    let st = peer.raft.mut_store();
    let kv = Rc::make_mut(&mut st.kv);
    let mvcc = Rc::make_mut(&mut st.mvcc);
    let mut new = Vec::new();
    let mut locks = Vec::new();
    for r in regions.iter().filter(|r| r.id != region_id) {
        let (part_kv, part_mvcc) = split_off_range(kv, mvcc, r.start_key, r.end_key);
        new.push((r.clone(), Rc::new(part_kv), Rc::new(part_mvcc)));
    }
    let derived = regions
        .iter()
        .find(|r| r.id == region_id)
        .expect("the parent is among the split's regions")
        .clone();
    st.region = derived;
    for (r, _, _) in &new {
        let moved: std::collections::BTreeMap<_, _> = peer
            .pessimistic_locks
            .iter()
            .filter(|(k, _)| r.contains(**k))
            .map(|(k, l)| (*k, *l))
            .collect();
        for k in moved.keys() {
            peer.pessimistic_locks.remove(k);
        }
        locks.push((r.id, moved));
    }
    host.on_region_changed(
        peer.region(),
        RegionChangeEvent::Update(RegionChangeReason::Split),
        peer.raft.raft.state,
    );
    Ok(SplitResult {
        index,
        regions,
        new,
        locks,
    })
}

/// Applies a joint-consensus conf change (TiKV `exec_change_peer_v2`):
/// entering, a promoted learner becomes a voter (`IncomingVoter`) and a
/// demoted voter stays one until the joint state ends (`DemotingVoter`),
/// `conf_ver` up by the number of changes ("conf change successfully");
/// leaving (no changes), the demoted voters become learners, `conf_ver` up by
/// the number of peers whose role changed ("leave joint state
/// successfully"). Returns whether raft-rs took it.
fn apply_conf_change_v2(
    ctx: &mut Ctx,
    store_id: u64,
    peer: &mut Peer,
    cc: &ConfChangeV2,
    index: u64,
) -> bool {
    let region_id = peer.region_id();
    let demoting: Vec<u64> = peer.raft.store().conf_state.get_learners_next().to_vec();
    let incoming: Vec<u64> = {
        let cs = &peer.raft.store().conf_state;
        cs.get_voters()
            .iter()
            .filter(|v| !cs.get_voters_outgoing().contains(v))
            .copied()
            .collect()
    };
    match peer.raft.apply_conf_change(cc) {
        Ok(cs) => {
            let st = peer.raft.mut_store();
            st.conf_state = cs;
            let msg = if cc.get_changes().is_empty() {
                for p in st.region.peers.iter_mut() {
                    if demoting.contains(&p.id) {
                        p.is_learner = true;
                    }
                }
                let changed = demoting.len() + incoming.len();
                st.region.conf_ver += changed as u64;
                format!(
                    "leave joint state successfully, conf_ver: {}, index: {index}",
                    st.region.conf_ver
                )
            } else {
                for c in cc.get_changes() {
                    if c.get_change_type() == ConfChangeType::AddNode {
                        if let Some(p) =
                            st.region.peers.iter_mut().find(|p| p.id == c.get_node_id())
                        {
                            p.is_learner = false;
                        }
                    }
                }
                st.region.conf_ver += cc.get_changes().len() as u64;
                let changes: Vec<String> = cc
                    .get_changes()
                    .iter()
                    .map(|c| format!("{:?} peer {}", c.get_change_type(), c.get_node_id()))
                    .collect();
                format!(
                    "conf change successfully, changes: [{}], conf_ver: {}, index: {index}",
                    changes.join(", "),
                    st.region.conf_ver
                )
            };
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                msg,
            );
            true
        }
        Err(err) => {
            ctx.log(
                "raftstore",
                Level::Warn,
                Some(store_id),
                Some(region_id),
                format!("failed to apply conf change: {err}"),
            );
            false
        }
    }
}

/// Applies one conf change to the peer's raft node, conf state and region.
/// Returns whether it removed this very peer, or `None` when raft-rs
/// refused it.
fn apply_conf_change(
    ctx: &mut Ctx,
    store_id: u64,
    peer: &mut Peer,
    cc: &ConfChange,
    index: u64,
) -> Option<bool> {
    let region_id = peer.region_id();
    let peer_id = peer.meta.id;
    let mut removed_self = false;
    match peer.raft.apply_conf_change(cc) {
        Ok(cs) => {
            let target = decode_peer_ctx(cc.get_context(), cc.get_node_id());
            let st = peer.raft.mut_store();
            st.conf_state = cs;
            st.region.conf_ver += 1;
            let ty = cc.get_change_type();
            match (ty, target) {
                (ConfChangeType::AddLearnerNode, Some(t)) => {
                    st.region.peers.retain(|p| p.id != t.id);
                    st.region.peers.push(PeerMeta {
                        is_learner: true,
                        ..t
                    });
                }
                (ConfChangeType::AddNode, Some(t)) => {
                    st.region.peers.retain(|p| p.id != t.id);
                    st.region.peers.push(PeerMeta {
                        is_learner: false,
                        ..t
                    });
                }
                (ConfChangeType::RemoveNode, _) => {
                    st.region.peers.retain(|p| p.id != cc.get_node_id());
                    if cc.get_node_id() == peer_id {
                        removed_self = true;
                    }
                }
                _ => {}
            }
            st.region.peers.sort();
            ctx.log(
                "raftstore",
                Level::Info,
                Some(store_id),
                Some(region_id),
                format!(
                    "conf change successfully, changes: [{ty:?} peer {}], conf_ver: {}, index: {index}",
                    cc.get_node_id(),
                    st.region.conf_ver
                ),
            );
        }
        Err(err) => {
            ctx.log(
                "raftstore",
                Level::Warn,
                Some(store_id),
                Some(region_id),
                format!("failed to apply conf change: {err}"),
            );
            return None;
        }
    }
    Some(removed_self)
}
