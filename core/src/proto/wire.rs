//! Encoded sizes of the messages on the wire, after kvproto's shapes.
//!
//! The numbers are protobuf payload sizes of typical messages (proto3: a key
//! byte per field plus varints or length-prefixed bytes), worked out from
//! `pingcap/kvproto`'s `raft_serverpb`, `eraftpb`, `kvrpcpb`, `deadlock` and
//! `pdpb` with TiKV-like field values (a 9-byte TSO, a 20-byte key, a
//! region epoch, three peers). Each gRPC message adds [`GRPC_FRAME_BYTES`];
//! the network takes a batch of messages on one link as one gRPC message,
//! as TiKV's raft client sends a `BatchRaftMessage` per connection.
//! The link model ([`crate::env::network`]) turns bytes into time.

use super::cmd::decode_put;
use super::msg::{Msg, TxnCommand};

/// gRPC's 5-byte message prefix plus HTTP/2's 9-byte DATA frame header.
pub const GRPC_FRAME_BYTES: u64 = 14;
/// A `RaftMessage` without entries (region id, peers, epoch, an
/// `eraftpb.Message` heartbeat): 39 bytes.
pub const RAFT_MESSAGE_BYTES: u64 = 39;
/// Per entry inside a `RaftMessage` besides its data (TiKV's
/// `BatchMessageBuffer::message_size` counts 11 bytes per entry).
pub const RAFT_ENTRY_OVERHEAD_BYTES: u64 = 11;
/// A raw put's `RaftCmdRequest` around its value (header, CF, key).
pub const RAW_PUT_CMD_BYTES: u64 = 40;
/// `kvrpcpb.Context` as client-go fills it (region id, epoch, peer, cluster id).
pub const CONTEXT_BYTES: u64 = 27;
/// A key as TiDB encodes a row key.
pub const KEY_BYTES: u64 = 20;
/// `PessimisticLockRequest` with one key and a minimal context.
pub const PESSIMISTIC_LOCK_REQUEST_BYTES: u64 = 106;
/// `PrewriteRequest` without mutations (context, primary, versions, TTL).
pub const PREWRITE_REQUEST_BYTES: u64 = 62;
/// One `Mutation` of an integer value: op, key, 8-byte value.
pub const MUTATION_BYTES: u64 = 33;
/// `CommitRequest` / `BatchRollbackRequest` without keys.
pub const COMMIT_REQUEST_BYTES: u64 = 71;
/// A transactional response without errors (region error or key errors add more).
pub const TXN_RESPONSE_BYTES: u64 = 12;
/// A response carrying a key error (`KeyIsLocked`, `WriteConflict`, `Deadlock`).
pub const TXN_ERROR_RESPONSE_BYTES: u64 = 80;
/// `deadlock.DeadlockRequest` with a 20-byte key and no resource group tag.
pub const DEADLOCK_REQUEST_BYTES: u64 = 55;
/// `deadlock.DeadlockResponse` with a two-entry wait chain.
pub const DEADLOCK_RESPONSE_BYTES: u64 = 198;
/// `pdpb.RegionHeartbeatRequest` with three peers and typical statistics.
pub const REGION_HEARTBEAT_BYTES: u64 = 156;
/// `pdpb.StoreHeartbeatRequest` with its store statistics.
pub const STORE_HEARTBEAT_BYTES: u64 = 120;
/// `pdpb.RegionHeartbeatResponse` carrying an operator step.
pub const PD_COMMAND_BYTES: u64 = 60;
/// `pdpb.GetRegionRequest` for one key.
pub const GET_REGION_REQUEST_BYTES: u64 = 65;
/// `pdpb.GetRegionResponse` with three peers and the leader.
pub const GET_REGION_RESPONSE_BYTES: u64 = 95;
/// kvrpcpb `LockInfo` in a `ScanLockResponse` (primary, key, versions, ttl).
pub const LOCK_INFO_BYTES: u64 = 64;
/// kvrpcpb `TxnStatus` (five varints and two bools).
pub const TXN_STATUS_BYTES: u64 = 30;
/// kvproto `LeaderInfo` (region id, peer id, term, epoch, read state).
pub const LEADER_INFO_BYTES: u64 = 48;
/// cdcpb `Event.Row` of a committed row (key, start_ts, commit_ts, op,
/// value).
pub const CDC_ROW_BYTES: u64 = 60;
/// `pdpb.TsoRequest{header, count}`.
pub const TSO_REQUEST_BYTES: u64 = 14;
/// `pdpb.TsoResponse{header, count, timestamp}`.
pub const TSO_RESPONSE_BYTES: u64 = 26;
/// A `SnapshotChunk` around its data (field tags and length prefixes).
pub const SNAPSHOT_CHUNK_OVERHEAD_BYTES: u64 = 8;
/// A `metapb.Region` with three peers and two 20-byte keys (id, range,
/// epoch, peers), as in `AskBatchSplit` and `ReportBatchSplit`.
pub const REGION_META_BYTES: u64 = 80;
/// A small answer or error status.
pub const SMALL_MESSAGE_BYTES: u64 = 24;

impl Msg {
    /// The message's encoded size in bytes, without the gRPC frame the
    /// network adds per batch.
    pub fn wire_bytes(&self) -> u64 {
        match self {
            Msg::Raft { msg, .. } => {
                let entries: u64 = msg
                    .get_entries()
                    .iter()
                    .map(|e| {
                        let data = decode_put(e.get_data())
                            .map_or(e.get_data().len() as u64, |p| {
                                RAW_PUT_CMD_BYTES + p.2 as u64
                            });
                        RAFT_ENTRY_OVERHEAD_BYTES + data
                    })
                    .sum();
                RAFT_MESSAGE_BYTES + entries + msg.get_snapshot().get_data().len() as u64
            }
            // Header, epoch, two peers and the extra message's type and index.
            Msg::RaftExtra { .. } => RAFT_MESSAGE_BYTES + 10,
            Msg::Write(w) => CONTEXT_BYTES + KEY_BYTES + 5 + w.value_len as u64,
            Msg::WriteResponse { result, .. } => match result {
                Ok(()) => TXN_RESPONSE_BYTES,
                Err(_) => SMALL_MESSAGE_BYTES,
            },
            Msg::Read(_) => CONTEXT_BYTES + KEY_BYTES + 24,
            Msg::ReadResponse { result, .. } => match result {
                Ok(_) => TXN_RESPONSE_BYTES,
                Err(_) => SMALL_MESSAGE_BYTES,
            },
            Msg::TxnRequest { cmd, .. } => match cmd {
                TxnCommand::AcquirePessimisticLock { .. } => PESSIMISTIC_LOCK_REQUEST_BYTES,
                TxnCommand::Prewrite { mutations, .. } => {
                    PREWRITE_REQUEST_BYTES + MUTATION_BYTES * mutations.len() as u64
                }
                TxnCommand::Flush { mutations, .. } => {
                    PREWRITE_REQUEST_BYTES + 8 + MUTATION_BYTES * mutations.len() as u64
                }
                TxnCommand::Commit { keys, .. }
                | TxnCommand::Rollback { keys, .. }
                | TxnCommand::PessimisticRollback { keys, .. }
                | TxnCommand::ResolveLock { keys, .. } => {
                    COMMIT_REQUEST_BYTES + (KEY_BYTES + 2) * keys.len() as u64
                }
                TxnCommand::TxnHeartBeat { .. } | TxnCommand::CheckTxnStatus { .. } => {
                    CONTEXT_BYTES + KEY_BYTES + 30
                }
                TxnCommand::ScanLock { .. } => CONTEXT_BYTES + 16,
                TxnCommand::Get { .. } | TxnCommand::StaleGet { .. } => {
                    CONTEXT_BYTES + KEY_BYTES + 12
                }
            },
            Msg::TxnResponse { result, .. } => match result {
                Ok(ok) if !ok.locks.is_empty() => {
                    TXN_RESPONSE_BYTES + LOCK_INFO_BYTES * ok.locks.len() as u64
                }
                Ok(_) => TXN_RESPONSE_BYTES,
                Err(_) => TXN_ERROR_RESPONSE_BYTES,
            },
            Msg::DeadlockRequests { reqs, .. } => {
                (DEADLOCK_REQUEST_BYTES + GRPC_FRAME_BYTES) * reqs.len() as u64
            }
            Msg::DeadlockResponse { .. } => DEADLOCK_RESPONSE_BYTES,
            Msg::RegionHeartbeat(_) => REGION_HEARTBEAT_BYTES,
            Msg::StoreHeartbeat(_) => STORE_HEARTBEAT_BYTES,
            Msg::PdCommand { .. } => PD_COMMAND_BYTES,
            Msg::AskBatchSplit { split_keys, .. } => {
                REGION_META_BYTES + 8 + (KEY_BYTES + 2) * split_keys.len() as u64
            }
            Msg::AskBatchSplitResponse { ids, .. } => {
                8 + ids
                    .iter()
                    .map(|i| 12 + 10 * i.new_peer_ids.len() as u64)
                    .sum::<u64>()
            }
            Msg::ReportBatchSplit { regions } => 8 + REGION_META_BYTES * regions.len() as u64,
            Msg::TsoRequest { .. } => TSO_REQUEST_BYTES,
            Msg::TsoResponse { .. } => TSO_RESPONSE_BYTES,
            Msg::QueryRegion { keys, .. } => {
                GET_REGION_REQUEST_BYTES + (KEY_BYTES + 2) * keys.len().saturating_sub(1) as u64
            }
            Msg::QueryRegionResponse { regions, .. } => {
                GET_REGION_RESPONSE_BYTES * regions.len().max(1) as u64
            }
            Msg::SnapshotChunk(c) => {
                SNAPSHOT_CHUNK_OVERHEAD_BYTES
                    + c.len
                    + c.head.as_ref().map_or(0, |h| {
                        RAFT_MESSAGE_BYTES + h.msg.get_snapshot().get_data().len() as u64
                    })
            }
            Msg::SnapshotDone { result, .. } => {
                SMALL_MESSAGE_BYTES + result.as_ref().err().map_or(0, |e| e.len() as u64)
            }
            Msg::BroadcastTxnStatus { statuses } => {
                CONTEXT_BYTES + TXN_STATUS_BYTES * statuses.len() as u64
            }
            Msg::CheckLeader { regions, .. } => 8 + LEADER_INFO_BYTES * regions.len() as u64,
            Msg::CheckLeaderResponse { regions, .. } => 16 + 8 * regions.len() as u64,
            Msg::ChangeDataEvent { rows, .. } => {
                SMALL_MESSAGE_BYTES + CDC_ROW_BYTES * rows.len() as u64
            }
            Msg::DeadlockStreamError { .. }
            | Msg::DeadlockStreamWindowUpdate { .. }
            | Msg::ConnectionReset { .. } => SMALL_MESSAGE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{PeerMeta, WriteRequest};
    use raft::eraftpb::{Entry, Message, MessageType};

    fn raft(entries: Vec<Entry>) -> Msg {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.set_entries(entries.into());
        let p = PeerMeta {
            id: 1,
            store_id: 1,
            is_learner: false,
        };
        Msg::Raft {
            region_id: 1,
            from_peer: p,
            to_peer: p,
            sender: crate::proto::SenderRegion {
                start_key: 0,
                end_key: u64::MAX,
                version: 1,
            },
            msg: Box::new(m),
        }
    }

    #[test]
    fn sizes_follow_kvprotos_typical_messages() {
        // A heartbeat: 39 bytes, 53 with its frame.
        assert_eq!(raft(vec![]).wire_bytes(), 39);
        // MsgAppend with one entry of 256 bytes of data: kvproto's 314, within 10%.
        let mut e = Entry::default();
        e.set_data(vec![0u8; 256].into());
        let append = raft(vec![e]).wire_bytes();
        assert!((283..=345).contains(&append), "{append}");
        // A raw put of a 256-byte value carries its command around the value.
        let mut put = Entry::default();
        put.set_data(crate::proto::cmd::encode_put(7, 1, 256).into());
        assert_eq!(raft(vec![put]).wire_bytes(), append + RAW_PUT_CMD_BYTES);
        let w = Msg::Write(WriteRequest {
            client: 0,
            req_id: 1,
            region_id: 1,
            key: 7,
            ts: 1,
            value_len: 256,
        });
        assert!(w.wire_bytes() > 256);
        // 1000 detector requests take about 69 KB on the stream.
        let reqs = vec![
            crate::proto::DeadlockRequest {
                tp: crate::proto::DeadlockRequestType::Detect,
                txn: 1,
                wait_for_txn: 2,
                key: 3,
            };
            1000
        ];
        let d = Msg::DeadlockRequests {
            from_store: 2,
            reqs,
        };
        assert_eq!(d.wire_bytes(), 69_000);
    }
}
