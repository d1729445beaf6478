//! Messages that cross the simulated network, and region metadata.
//!
//! These mirror kvproto: `RaftMessage` (raft_serverpb), the `Put` write request
//! with its region errors (errorpb), and PD's region/store heartbeats and their
//! scheduling commands (pdpb). Only the fields the simulation uses are kept.

use raft::eraftpb;
use serde::Serialize;

/// Key of the simulated keyspace. Regions cover half-open ranges of keys.
pub type Key = u64;

/// A peer of a region (kvproto `metapb::Peer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PeerMeta {
    /// Peer id, unique in the cluster.
    pub id: u64,
    /// Store holding it.
    pub store_id: u64,
    /// `PeerRole::Learner` in kvproto.
    pub is_learner: bool,
}

/// A region's metadata (kvproto `metapb::Region`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionMeta {
    /// Region id.
    pub id: u64,
    /// First key (inclusive).
    pub start_key: Key,
    /// End key (exclusive); `Key::MAX` stands for +inf.
    pub end_key: Key,
    /// Epoch `conf_ver`: bumped by every applied conf change.
    pub conf_ver: u64,
    /// Epoch `version`: bumped by splits and merges (constant here).
    pub version: u64,
    /// Peers.
    pub peers: Vec<PeerMeta>,
}

impl RegionMeta {
    /// The peer on `store_id`, if any.
    pub fn peer_on(&self, store_id: u64) -> Option<PeerMeta> {
        self.peers.iter().copied().find(|p| p.store_id == store_id)
    }

    /// The peer with id `peer_id`, if any.
    pub fn peer_by_id(&self, peer_id: u64) -> Option<PeerMeta> {
        self.peers.iter().copied().find(|p| p.id == peer_id)
    }

    /// True if `key` falls in the region's range.
    pub fn contains(&self, key: Key) -> bool {
        key >= self.start_key && key < self.end_key
    }
}

/// Why a write was refused (kvproto `errorpb::Error`, the variants used here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RegionError {
    /// `NotLeader`, with the leader's store if the peer knows it.
    NotLeader {
        /// Store of the leader the peer knows of.
        leader_store: Option<u64>,
    },
    /// `RegionNotFound`: no peer of the region on this store.
    RegionNotFound,
    /// raft-rs refused the proposal (`ProposalDropped`, for example during a leader transfer).
    ProposalDropped,
    /// `StaleCommand`: the entry was overwritten by a new leader before it applied.
    StaleCommand,
}

/// A scheduling command PD sends to a region leader in a heartbeat response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PdCommand {
    /// `TransferLeader`: move leadership to `peer`.
    TransferLeader {
        /// The transferee.
        peer: PeerMeta,
    },
    /// `ChangePeer`: a simple conf change.
    ChangePeer {
        /// `AddLearnerNode`, `AddNode` (promote) or `RemoveNode`.
        change: eraftpb::ConfChangeType,
        /// The peer concerned.
        peer: PeerMeta,
    },
}

/// Region heartbeat from a leader to PD (pdpb `RegionHeartbeatRequest`).
#[derive(Clone, Debug)]
pub struct RegionHeartbeat {
    /// The region as the leader has applied it.
    pub region: RegionMeta,
    /// The leader peer.
    pub leader: PeerMeta,
    /// Leader's term.
    pub term: u64,
    /// Peers that are known to lag (need a snapshot or have not caught up).
    pub pending_peers: Vec<u64>,
    /// Bytes written to the region since the last heartbeat.
    pub written_bytes: u64,
    /// Keys written since the last heartbeat.
    pub written_keys: u64,
}

/// Store heartbeat to PD (pdpb `StoreHeartbeatRequest`).
#[derive(Clone, Debug)]
pub struct StoreHeartbeat {
    /// Store id.
    pub store_id: u64,
    /// TiKV's slow score (1..=100).
    pub slow_score: u64,
}

/// A client write (a `Put` of one key, as a TPCC statement's row write).
#[derive(Clone, Debug)]
pub struct WriteRequest {
    /// Client thread index.
    pub client: u32,
    /// Request id, unique per client.
    pub req_id: u64,
    /// Target region (from the client's region cache).
    pub region_id: u64,
    /// Key.
    pub key: Key,
    /// Version written (a TSO timestamp from PD).
    pub ts: u64,
    /// Value length in bytes.
    pub value_len: u32,
}

/// Everything that travels over the simulated network.
#[derive(Clone, Debug)]
pub enum Msg {
    /// kvproto `RaftMessage`: a raft-rs message for one peer.
    Raft {
        /// Region.
        region_id: u64,
        /// Sender peer.
        from_peer: PeerMeta,
        /// Receiver peer.
        to_peer: PeerMeta,
        /// The raft-rs message.
        msg: Box<eraftpb::Message>,
    },
    /// Client write to a region leader.
    Write(WriteRequest),
    /// Answer to a write.
    WriteResponse {
        /// Request id.
        req_id: u64,
        /// Region.
        region_id: u64,
        /// `Ok` once applied on the leader, or the region error.
        result: Result<(), RegionError>,
    },
    /// Region heartbeat.
    RegionHeartbeat(RegionHeartbeat),
    /// Store heartbeat.
    StoreHeartbeat(StoreHeartbeat),
    /// PD command for a region leader.
    PdCommand {
        /// Region.
        region_id: u64,
        /// Operator id that issued it.
        operator_id: u64,
        /// The command.
        cmd: PdCommand,
    },
}

impl Msg {
    /// Approximate wire size in bytes, used for bandwidth delays.
    pub fn wire_bytes(&self) -> u64 {
        match self {
            Msg::Raft { msg, .. } => {
                let entries: u64 = msg
                    .get_entries()
                    .iter()
                    .map(|e| e.get_data().len() as u64 + 24)
                    .sum();
                64 + entries + msg.get_snapshot().get_data().len() as u64
            }
            Msg::Write(w) => 64 + w.value_len as u64,
            _ => 64,
        }
    }
}
