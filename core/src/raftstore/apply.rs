//! The apply path (TiKV `components/raftstore/src/store/fsm/apply.rs`):
//! committed entries, once their apply write is durable, change the
//! region's state machine (raw data, MVCC column families, the region and
//! its conf state); the coprocessor host's observers see each applied batch
//! and each region change; the proposals the entries settle are answered.

use std::rc::Rc;

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};

use super::coprocessor::{
    AppliedChange, AppliedCmd, CoprocessorHost, RegionChangeEvent, RegionChangeReason,
};
use super::entry::{decode_peer_ctx, decode_put};
use super::peer::{Peer, ProposalOwner};
use crate::kernel::log::Level;
use crate::proto::{Ctx, PeerMeta, RegionError};

/// What applying a batch produced for raftstore to finish.
#[derive(Debug, Default)]
pub struct ApplyResult {
    /// The proposals the batch settled, in log order, with their outcome.
    pub settled: Vec<(ProposalOwner, Result<(), RegionError>)>,
    /// The batch removed this peer: raftstore destroys it.
    pub destroy: bool,
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
    for e in entries {
        let (index, term) = (e.get_index(), e.get_term());
        if index <= peer.raft.store().applied_index {
            continue;
        }
        match e.get_entry_type() {
            EntryType::EntryNormal => {
                if let Some((key, ts, len)) = decode_put(e.get_data()) {
                    let st = peer.raft.mut_store();
                    Rc::make_mut(&mut st.kv).insert(
                        key,
                        super::storage::RawValue {
                            ts,
                            index,
                            value_len: len,
                        },
                    );
                    peer.written_bytes += len as u64;
                    peer.written_keys += 1;
                    if observe {
                        batch.push(AppliedCmd {
                            index,
                            term,
                            change: AppliedChange::RawPut { key, ts },
                        });
                    }
                } else if let Some(mods) = crate::mvcc::decode_modifies(e.get_data()) {
                    let st = peer.raft.mut_store();
                    Rc::make_mut(&mut st.mvcc).apply(&mods);
                    peer.written_bytes += e.get_data().len() as u64;
                    peer.written_keys += mods.len() as u64;
                    // A prewrite replaces the in-memory pessimistic lock it was built on.
                    for m in &mods {
                        if let crate::mvcc::Modify::PutLock(k, l) = m {
                            if peer.pessimistic_locks.get(k).is_some_and(|p| p.ts == l.ts) {
                                peer.pessimistic_locks.remove(k);
                            }
                        }
                    }
                    if observe {
                        batch.push(AppliedCmd {
                            index,
                            term,
                            change: AppliedChange::Mvcc(mods),
                        });
                    }
                }
            }
            EntryType::EntryConfChange => {
                let cc = ConfChange::parse_from_bytes(e.get_data()).ok();
                if let Some(removed_self) =
                    cc.and_then(|cc| apply_conf_change(ctx, store_id, peer, &cc, index))
                {
                    result.destroy |= removed_self;
                    let role = peer.raft.raft.state;
                    host.on_region_changed(
                        peer.region(),
                        RegionChangeEvent::Update(RegionChangeReason::ChangePeer),
                        role,
                    );
                }
            }
            EntryType::EntryConfChangeV2 => {}
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
                Ok(())
            } else {
                Err(RegionError::StaleCommand)
            };
            result.settled.push((p.owner, outcome));
        }
    }
    if let Some(i) = last {
        peer.raft.advance_apply_to(i);
    }
    host.on_flush_applied_cmd_batch(peer.region(), &batch);
    result
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
