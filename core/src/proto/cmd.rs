//! What a Raft entry carries, in the simulation's encoding of TiKV's
//! `RaftCmdRequest`: a raw `Put` (below), or a transactional batch of MVCC
//! modifications (`crate::mvcc::encode_modifies`).

/// A write (`Put`) as stored in a log entry: tag 1, key, ts, value length.
pub fn encode_put(key: u64, ts: u64, value_len: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(21);
    v.push(1u8);
    v.extend_from_slice(&key.to_le_bytes());
    v.extend_from_slice(&ts.to_le_bytes());
    v.extend_from_slice(&value_len.to_le_bytes());
    v
}

/// Decodes [`encode_put`]'s bytes.
pub fn decode_put(data: &[u8]) -> Option<(u64, u64, u32)> {
    if data.len() != 21 || data[0] != 1 {
        return None;
    }
    let key = u64::from_le_bytes(data[1..9].try_into().ok()?);
    let ts = u64::from_le_bytes(data[9..17].try_into().ok()?);
    let len = u32::from_le_bytes(data[17..21].try_into().ok()?);
    Some((key, ts, len))
}
