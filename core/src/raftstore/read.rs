//! The read path's checks (TiKV `components/raftstore/src/store/worker/
//! read.rs`, `LocalReader`): a read is served by the region's leader when
//! the request's epoch and key still match the region.

use super::fsm::Raftstore;
use super::storage::KvData;
use crate::proto::{ReadRequest, RegionError, RegionMeta};

impl Raftstore {
    /// Checks a read against the store's peer of its region: the peer must
    /// exist (`RegionNotFound`) and lead (`NotLeader`, with the leader it
    /// knows), and the request's version and key must match the region
    /// (`EpochNotMatch` with the current regions around the key). Returns
    /// the region and its applied data (the read's RocksDB snapshot).
    pub fn check_read(&self, req: &ReadRequest) -> Result<(RegionMeta, KvData), RegionError> {
        let peer = self
            .peers
            .get(&req.region_id)
            .ok_or(RegionError::RegionNotFound)?;
        if !peer.is_leader() {
            return Err(RegionError::NotLeader {
                leader_store: peer.leader_store(),
            });
        }
        let region = peer.region();
        if region.version != req.region_version || !region.contains(req.key) {
            return Err(RegionError::EpochNotMatch {
                current_regions: self.current_regions(req.key),
            });
        }
        Ok((region.clone(), peer.raft.store().kv.clone()))
    }
}
