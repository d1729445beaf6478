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

/// Appends `x` little-endian.
fn put_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Reads a little-endian `u64` at `*pos` and moves past it.
fn get_u64(data: &[u8], pos: &mut usize) -> Option<u64> {
    let x = u64::from_le_bytes(data.get(*pos..*pos + 8)?.try_into().ok()?);
    *pos += 8;
    Some(x)
}

/// Appends a region (id, range, epoch, peers with their learner flag).
fn put_region(v: &mut Vec<u8>, r: &crate::proto::RegionMeta) {
    for x in [r.id, r.start_key, r.end_key, r.conf_ver, r.version] {
        put_u64(v, x);
    }
    put_u64(v, r.peers.len() as u64);
    for p in &r.peers {
        put_u64(v, p.id);
        put_u64(v, p.store_id);
        v.push(p.is_learner as u8);
    }
}

/// Reads what [`put_region`] wrote.
fn get_region(data: &[u8], pos: &mut usize) -> Option<crate::proto::RegionMeta> {
    let id = get_u64(data, pos)?;
    let start_key = get_u64(data, pos)?;
    let end_key = get_u64(data, pos)?;
    let conf_ver = get_u64(data, pos)?;
    let version = get_u64(data, pos)?;
    let n = get_u64(data, pos)?;
    let mut peers = Vec::new();
    for _ in 0..n {
        let id = get_u64(data, pos)?;
        let store_id = get_u64(data, pos)?;
        let is_learner = *data.get(*pos)? == 1;
        *pos += 1;
        peers.push(crate::proto::PeerMeta {
            id,
            store_id,
            is_learner,
        });
    }
    Some(crate::proto::RegionMeta {
        id,
        start_key,
        end_key,
        conf_ver,
        version,
        peers,
    })
}

/// Tag of an encoded [`PrepareMergeRequest`].
const PREPARE_MERGE_TAG: u8 = 4;
/// Tag of an encoded [`CommitMergeRequest`].
const COMMIT_MERGE_TAG: u8 = 5;
/// Tag of an encoded [`RollbackMergeRequest`].
const ROLLBACK_MERGE_TAG: u8 = 6;

/// The `PrepareMerge` admin command (raft_cmdpb `PrepareMergeRequest`),
/// proposed by the source region's leader, with the epoch of its request
/// header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareMergeRequest {
    /// The source's epoch `version` at the proposal.
    pub version: u64,
    /// The source's epoch `conf_ver` at the proposal.
    pub conf_ver: u64,
    /// `min_index`: the lowest index every source peer has (min matched + 1);
    /// the `CommitMerge` carries the source's entries from there.
    pub min_index: u64,
    /// The target region, as PD sent it.
    pub target: crate::proto::RegionMeta,
}

impl PrepareMergeRequest {
    /// Encodes it as a Raft entry's data: tag 4, version, conf_ver,
    /// min_index, the target region.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![PREPARE_MERGE_TAG];
        put_u64(&mut v, self.version);
        put_u64(&mut v, self.conf_ver);
        put_u64(&mut v, self.min_index);
        put_region(&mut v, &self.target);
        v
    }

    /// Decodes [`PrepareMergeRequest::encode`]'s bytes (`None` for any other entry).
    pub fn decode(data: &[u8]) -> Option<PrepareMergeRequest> {
        if data.first() != Some(&PREPARE_MERGE_TAG) {
            return None;
        }
        let mut pos = 1;
        let version = get_u64(data, &mut pos)?;
        let conf_ver = get_u64(data, &mut pos)?;
        let min_index = get_u64(data, &mut pos)?;
        let target = get_region(data, &mut pos)?;
        (pos == data.len()).then_some(PrepareMergeRequest {
            version,
            conf_ver,
            min_index,
            target,
        })
    }
}

/// One source entry a `CommitMerge` carries: index, term and data (normal
/// entries only; a conf change in the gap makes `PrepareMerge` refuse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedEntry {
    /// Log index in the source region.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// Its data.
    pub data: Vec<u8>,
}

impl CarriedEntry {
    /// The source's log entry `e` as the `CommitMerge` carries it.
    pub fn of(e: &raft::eraftpb::Entry) -> CarriedEntry {
        CarriedEntry {
            index: e.get_index(),
            term: e.get_term(),
            data: e.get_data().to_vec(),
        }
    }

    /// Back to a normal log entry, for the source peer to apply.
    pub fn to_entry(&self) -> raft::eraftpb::Entry {
        let mut e = raft::eraftpb::Entry::default();
        e.set_index(self.index);
        e.set_term(self.term);
        e.set_data(self.data.clone().into());
        e
    }
}

/// The `CommitMerge` admin command (raft_cmdpb `CommitMergeRequest`),
/// proposed to the target region by a source peer on the target leader's
/// store, with the target epoch the source expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitMergeRequest {
    /// The target's epoch `version` the source expects.
    pub target_version: u64,
    /// The target's epoch `conf_ver` the source expects.
    pub target_conf_ver: u64,
    /// The source region as its `PrepareMerge` left it.
    pub source: crate::proto::RegionMeta,
    /// `commit`: the index of the source's `PrepareMerge`.
    pub commit: u64,
    /// The source's entries from `min_index` to `commit`, for a source peer
    /// that has not got them yet (TiKV's `CatchUpLogs`).
    pub entries: Vec<CarriedEntry>,
}

impl CommitMergeRequest {
    /// Encodes it as a Raft entry's data: tag 5, target version and conf_ver,
    /// the source region, commit, then each entry's index, term, length and
    /// bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![COMMIT_MERGE_TAG];
        put_u64(&mut v, self.target_version);
        put_u64(&mut v, self.target_conf_ver);
        put_region(&mut v, &self.source);
        put_u64(&mut v, self.commit);
        put_u64(&mut v, self.entries.len() as u64);
        for e in &self.entries {
            put_u64(&mut v, e.index);
            put_u64(&mut v, e.term);
            put_u64(&mut v, e.data.len() as u64);
            v.extend_from_slice(&e.data);
        }
        v
    }

    /// Decodes [`CommitMergeRequest::encode`]'s bytes (`None` for any other entry).
    pub fn decode(data: &[u8]) -> Option<CommitMergeRequest> {
        if data.first() != Some(&COMMIT_MERGE_TAG) {
            return None;
        }
        let mut pos = 1;
        let target_version = get_u64(data, &mut pos)?;
        let target_conf_ver = get_u64(data, &mut pos)?;
        let source = get_region(data, &mut pos)?;
        let commit = get_u64(data, &mut pos)?;
        let n = get_u64(data, &mut pos)?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let index = get_u64(data, &mut pos)?;
            let term = get_u64(data, &mut pos)?;
            let len = get_u64(data, &mut pos)? as usize;
            let bytes = data.get(pos..pos.checked_add(len)?)?.to_vec();
            pos += len;
            entries.push(CarriedEntry {
                index,
                term,
                data: bytes,
            });
        }
        (pos == data.len()).then_some(CommitMergeRequest {
            target_version,
            target_conf_ver,
            source,
            commit,
            entries,
        })
    }
}

/// The `RollbackMerge` admin command (raft_cmdpb `RollbackMergeRequest`):
/// the source leader gives up a merge whose `CommitMerge` cannot happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollbackMergeRequest {
    /// The index of the `PrepareMerge` rolled back (checked at apply).
    pub commit: u64,
}

impl RollbackMergeRequest {
    /// Encodes it: tag 6, commit.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![ROLLBACK_MERGE_TAG];
        put_u64(&mut v, self.commit);
        v
    }

    /// Decodes [`RollbackMergeRequest::encode`]'s bytes (`None` for any other entry).
    pub fn decode(data: &[u8]) -> Option<RollbackMergeRequest> {
        if data.len() != 9 || data[0] != ROLLBACK_MERGE_TAG {
            return None;
        }
        let mut pos = 1;
        Some(RollbackMergeRequest {
            commit: get_u64(data, &mut pos)?,
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

    fn region(id: u64, start: u64, end: u64) -> crate::proto::RegionMeta {
        crate::proto::RegionMeta {
            id,
            start_key: start,
            end_key: end,
            conf_ver: 2,
            version: 5,
            peers: vec![
                crate::proto::PeerMeta {
                    id: id * 10 + 1,
                    store_id: 1,
                    is_learner: false,
                },
                crate::proto::PeerMeta {
                    id: id * 10 + 2,
                    store_id: 2,
                    is_learner: true,
                },
            ],
        }
    }

    #[test]
    fn merge_commands_round_trip_and_are_told_apart() {
        let prepare = PrepareMergeRequest {
            version: 5,
            conf_ver: 2,
            min_index: 17,
            target: region(3, 0, 100),
        };
        let commit = CommitMergeRequest {
            target_version: 5,
            target_conf_ver: 2,
            source: region(4, 100, u64::MAX),
            commit: 20,
            entries: vec![
                CarriedEntry {
                    index: 18,
                    term: 6,
                    data: encode_put(150, 9, 16),
                },
                CarriedEntry {
                    index: 20,
                    term: 6,
                    data: prepare.encode(),
                },
            ],
        };
        let rollback = RollbackMergeRequest { commit: 20 };
        let (p, c, r) = (prepare.encode(), commit.encode(), rollback.encode());
        assert_eq!(PrepareMergeRequest::decode(&p), Some(prepare));
        assert_eq!(CommitMergeRequest::decode(&c), Some(commit));
        assert_eq!(RollbackMergeRequest::decode(&r), Some(rollback));
        for data in [&p, &c, &r] {
            assert_eq!(decode_put(data), None);
            assert_eq!(BatchSplitRequest::decode(data), None);
        }
        assert!(
            PrepareMergeRequest::decode(&c).is_none() && PrepareMergeRequest::decode(&r).is_none()
        );
        assert!(
            CommitMergeRequest::decode(&p).is_none() && CommitMergeRequest::decode(&r).is_none()
        );
        assert!(
            RollbackMergeRequest::decode(&p).is_none()
                && RollbackMergeRequest::decode(&c).is_none()
        );
        assert_eq!(CommitMergeRequest::decode(&c[..c.len() - 1]), None);
        assert_eq!(PrepareMergeRequest::decode(&p[..p.len() - 3]), None);
    }
}
