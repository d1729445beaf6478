//! How the simulation encodes what a Raft entry carries: a raw `Put`, or a
//! conf change's target peer in the `ConfChange` context, and the sizes and
//! digests the disk model and the invariant checks use.

use raft::eraftpb::Entry;

pub use crate::proto::cmd::{decode_put, encode_put};
use crate::proto::PeerMeta;

/// Encoded size overhead of one log entry on disk (header, key, checksum), bytes.
pub const ENTRY_OVERHEAD: u64 = 64;

/// Bytes one entry takes on the disk (its value, or its data, plus [`ENTRY_OVERHEAD`]).
pub fn entry_disk_bytes(e: &Entry) -> u64 {
    let value = decode_put(e.get_data()).map_or(e.get_data().len() as u64, |(_, _, l)| l as u64);
    value + ENTRY_OVERHEAD
}

/// Digest of an entry's data for the invariant checker.
pub fn entry_digest(e: &Entry) -> u64 {
    fxhash::hash64(e.get_data()) ^ (e.get_entry_type() as u64).rotate_left(7)
}

/// The conf change context carrying the target peer's store and role.
pub fn encode_peer_ctx(p: &PeerMeta) -> Vec<u8> {
    let mut v = p.store_id.to_le_bytes().to_vec();
    v.push(p.is_learner as u8);
    v
}

/// Decodes [`encode_peer_ctx`] for peer `id`.
pub fn decode_peer_ctx(ctx: &[u8], id: u64) -> Option<PeerMeta> {
    let store_id = u64::from_le_bytes(ctx.get(..8)?.try_into().ok()?);
    let is_learner = *ctx.get(8)? == 1;
    Some(PeerMeta {
        id,
        store_id,
        is_learner,
    })
}
