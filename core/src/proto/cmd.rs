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

/// The `BatchSplit` admin command (raft_cmdpb `AdminRequest` with
/// `AdminCmdType::BatchSplit` and `BatchSplitRequest`), with the region epoch
/// of the request header that apply checks it against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchSplitRequest {
    /// The region epoch `version` the split was proposed at.
    pub version: u64,
    /// The region epoch `conf_ver` the split was proposed at.
    pub conf_ver: u64,
    /// Split keys, ascending.
    pub split_keys: Vec<u64>,
    /// PD's ids for the new regions, one per split key.
    pub ids: Vec<crate::proto::SplitId>,
    /// `right_derive` (TiKV `raftstore.right-derive-when-split`, default
    /// true): the parent keeps its id for the rightmost range.
    pub right_derive: bool,
}

/// Tag of an encoded [`BatchSplitRequest`].
const BATCH_SPLIT_TAG: u8 = 3;

impl BatchSplitRequest {
    /// Encodes the command as a Raft entry's data: tag 3, version, conf_ver,
    /// right_derive, count, then per split its key, region id, peer count and
    /// peer ids (little-endian `u64`s).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![BATCH_SPLIT_TAG];
        let put = |x: u64, v: &mut Vec<u8>| v.extend_from_slice(&x.to_le_bytes());
        put(self.version, &mut v);
        put(self.conf_ver, &mut v);
        v.push(self.right_derive as u8);
        put(self.split_keys.len() as u64, &mut v);
        for (k, id) in self.split_keys.iter().zip(&self.ids) {
            put(*k, &mut v);
            put(id.new_region_id, &mut v);
            put(id.new_peer_ids.len() as u64, &mut v);
            for p in &id.new_peer_ids {
                put(*p, &mut v);
            }
        }
        v
    }

    /// Decodes [`BatchSplitRequest::encode`]'s bytes (`None` for any other entry).
    pub fn decode(data: &[u8]) -> Option<BatchSplitRequest> {
        if data.first() != Some(&BATCH_SPLIT_TAG) {
            return None;
        }
        let mut pos = 1;
        let get = |pos: &mut usize| -> Option<u64> {
            let x = u64::from_le_bytes(data.get(*pos..*pos + 8)?.try_into().ok()?);
            *pos += 8;
            Some(x)
        };
        let version = get(&mut pos)?;
        let conf_ver = get(&mut pos)?;
        let right_derive = *data.get(pos)? == 1;
        pos += 1;
        let n = get(&mut pos)?;
        let (mut split_keys, mut ids) = (Vec::new(), Vec::new());
        for _ in 0..n {
            split_keys.push(get(&mut pos)?);
            let new_region_id = get(&mut pos)?;
            let peers = get(&mut pos)?;
            let new_peer_ids = (0..peers).map(|_| get(&mut pos)).collect::<Option<_>>()?;
            ids.push(crate::proto::SplitId {
                new_region_id,
                new_peer_ids,
            });
        }
        (pos == data.len()).then_some(BatchSplitRequest {
            version,
            conf_ver,
            split_keys,
            ids,
            right_derive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_split_round_trips_and_is_not_a_put() {
        let req = BatchSplitRequest {
            version: 4,
            conf_ver: 7,
            split_keys: vec![100, 200],
            ids: vec![
                crate::proto::SplitId {
                    new_region_id: 41,
                    new_peer_ids: vec![1001, 1002, 1003],
                },
                crate::proto::SplitId {
                    new_region_id: 42,
                    new_peer_ids: vec![1004, 1005, 1006],
                },
            ],
            right_derive: true,
        };
        let data = req.encode();
        assert_eq!(BatchSplitRequest::decode(&data), Some(req));
        assert_eq!(decode_put(&data), None);
        assert_eq!(BatchSplitRequest::decode(&encode_put(1, 2, 3)), None);
        assert_eq!(BatchSplitRequest::decode(&data[..data.len() - 1]), None);
    }
}
