//! Snapshot files and a store's snapshot manager, as TiKV's
//! `components/raftstore/src/store/snap.rs` keeps them.
//!
//! A generated snapshot is a set of column-family files on the store that
//! generated it, named by its [`SnapKey`] (`region_term_index`). The Raft
//! `MsgSnapshot` carries only its metadata ([`SnapshotMeta`] in the
//! snapshot's `data`, as TiKV's `RaftSnapshotData`); the files travel in
//! chunks over their own stream (`crate::server::snap`) and the receiver
//! registers what arrived in its own [`SnapManager`]. No store reads another
//! store's manager: the follower has only what came over the link.
//!
//! The files' content is the region's data encoded as bytes
//! ([`encode_region_data`]): raw keys, then the lock, write and default
//! column families. Their *size* ([`region_data_bytes`]) is what TiKV's files
//! would take (key, timestamp and value bytes per record); sizes, not the
//! encoding's length, drive the chunk count, the network and the disk.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;

use super::storage::{KvData, RawValue};
use crate::mvcc::{Modify, MvccData};
use crate::proto::RegionMeta;

pub use crate::proto::SnapKey;

/// What the Raft snapshot's `data` carries (TiKV's `RaftSnapshotData`):
/// the key of the files, the region at the snapshot's index and the files'
/// total size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Key of the snapshot files.
    pub key: SnapKey,
    /// Total size of the column-family files, bytes.
    pub file_size: u64,
}

impl SnapshotMeta {
    /// Encodes into the Raft snapshot's `data`: 4 little-endian u64s.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32);
        for x in [
            self.key.region_id,
            self.key.term,
            self.key.index,
            self.file_size,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    /// Decodes [`SnapshotMeta::encode`]'s bytes; `None` when malformed.
    pub fn decode(data: &[u8]) -> Option<SnapshotMeta> {
        if data.len() != 32 {
            return None;
        }
        let n = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(SnapshotMeta {
            key: SnapKey {
                region_id: n(0),
                term: n(1),
                index: n(2),
            },
            file_size: n(3),
        })
    }
}

/// A snapshot's files on one store.
#[derive(Clone, Debug)]
pub struct SnapshotFile {
    /// Key.
    pub key: SnapKey,
    /// The region at the snapshot's index.
    pub region: RegionMeta,
    /// The files' content ([`encode_region_data`]).
    pub data: Rc<Vec<u8>>,
    /// The files' size as TiKV's would be, bytes ([`region_data_bytes`]).
    pub size: u64,
}

/// Bytes per raw record besides its value: the encoded key (TiDB-like, 20
/// bytes) and the 8-byte timestamp suffix.
pub const RAW_RECORD_OVERHEAD_BYTES: u64 = 28;
/// Bytes of one `CF_WRITE` record: key, commit ts, write type and start ts.
pub const WRITE_RECORD_BYTES: u64 = 38;
/// Bytes of one `CF_DEFAULT` record of the integer values transactions write.
pub const DEFAULT_RECORD_BYTES: u64 = 36;
/// Bytes of one `CF_LOCK` record.
pub const LOCK_RECORD_BYTES: u64 = 60;

/// The size of a region's data in TiKV's snapshot files, bytes.
pub fn region_data_bytes(kv: &KvData, mvcc: &MvccData) -> u64 {
    let raw: u64 = kv
        .values()
        .map(|v| RAW_RECORD_OVERHEAD_BYTES + v.value_len as u64)
        .sum();
    raw + mvcc.lock.len() as u64 * LOCK_RECORD_BYTES
        + mvcc.write.len() as u64 * WRITE_RECORD_BYTES
        + mvcc.default.len() as u64 * DEFAULT_RECORD_BYTES
}

/// Encodes a region's data as the snapshot files' content: the region
/// (TiKV's `RaftSnapshotData.region`), the raw records
/// (key, ts, index, value length), then the MVCC column families as
/// modifications (`crate::mvcc::encode_modifies`).
pub fn encode_region_data(region: &RegionMeta, kv: &KvData, mvcc: &MvccData) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + kv.len() * 28);
    for x in [
        region.id,
        region.start_key,
        region.end_key,
        region.conf_ver,
        region.version,
        region.peers.len() as u64,
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    for p in &region.peers {
        v.extend_from_slice(&p.id.to_le_bytes());
        v.extend_from_slice(&p.store_id.to_le_bytes());
        v.push(p.is_learner as u8);
    }
    v.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (&k, r) in kv.iter() {
        v.extend_from_slice(&k.to_le_bytes());
        v.extend_from_slice(&r.ts.to_le_bytes());
        v.extend_from_slice(&r.index.to_le_bytes());
        v.extend_from_slice(&r.version.to_le_bytes());
        v.extend_from_slice(&r.value_len.to_le_bytes());
    }
    v.extend_from_slice(&crate::mvcc::encode_modifies(&mvcc.snapshot_modifies()));
    v
}

/// The data a snapshot's files hold: the region, its raw data, its MVCC data.
pub type RegionData = (RegionMeta, BTreeMap<u64, RawValue>, MvccData);

/// Decodes [`encode_region_data`]'s bytes; `None` when the bytes are
/// truncated or malformed.
pub fn decode_region_data(data: &[u8]) -> Option<RegionData> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
    };
    let mut region = RegionMeta {
        id: word(0)?,
        start_key: word(8)?,
        end_key: word(16)?,
        conf_ver: word(24)?,
        version: word(32)?,
        peers: Vec::new(),
    };
    let peers = word(40)? as usize;
    let mut at = 48;
    for _ in 0..peers.min(64) {
        region.peers.push(crate::proto::PeerMeta {
            id: word(at)?,
            store_id: word(at + 8)?,
            is_learner: *data.get(at + 16)? == 1,
        });
        at += 17;
    }
    let n = word(at)? as usize;
    let mut kv = BTreeMap::new();
    at += 8;
    for _ in 0..n {
        let rec = data.get(at..at + 36)?;
        let u = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(rec[32..36].try_into().ok()?);
        kv.insert(
            u(0),
            RawValue {
                ts: u(8),
                index: u(16),
                version: u(24),
                value_len: len,
            },
        );
        at += 36;
    }
    let mods: Vec<Modify> = crate::mvcc::decode_modifies(data.get(at..)?)?;
    Some((region, kv, MvccData::from_snapshot(&mods)))
}

/// A store's snapshot manager: the snapshot files it holds (generated for
/// sending, or received for applying), by key, and how many it is sending
/// and receiving (TiKV's `SnapManager` registry of `SnapEntry`s).
#[derive(Clone, Debug, Default)]
pub struct SnapManager {
    files: BTreeMap<SnapKey, SnapshotFile>,
}

/// Files a manager keeps at most; older ones are deleted first (TiKV's snap
/// GC deletes files no peer needs any more).
pub const MAX_SNAP_FILES: usize = 64;

impl SnapManager {
    /// Registers `file`, replacing older files of the same region.
    pub fn register(&mut self, file: SnapshotFile) {
        let region = file.key.region_id;
        self.files
            .retain(|k, _| k.region_id != region || k.index > file.key.index);
        self.files.insert(file.key, file);
        while self.files.len() > MAX_SNAP_FILES {
            self.files.pop_first();
        }
    }

    /// The file of `key`, if this store holds it.
    pub fn get(&self, key: &SnapKey) -> Option<&SnapshotFile> {
        self.files.get(key)
    }

    /// Deletes the file of `key`.
    pub fn delete(&mut self, key: &SnapKey) {
        self.files.remove(key);
    }

    /// Files held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is held.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::{Write, WriteType};

    #[test]
    fn region_data_round_trips_through_the_files() {
        let mut kv = BTreeMap::new();
        for k in 0..50u64 {
            kv.insert(
                k,
                RawValue {
                    ts: k * 3,
                    index: 6 + k,
                    version: 1 + k % 3,
                    value_len: 1000,
                },
            );
        }
        let mut mvcc = MvccData::default();
        mvcc.apply(&[
            Modify::PutDefault(7, 10, 42),
            Modify::PutWrite(
                7,
                11,
                Write {
                    write_type: WriteType::Put,
                    start_ts: 10,
                },
            ),
        ]);
        let kv: KvData = Rc::new(kv);
        let region = RegionMeta {
            id: 3,
            start_key: 0,
            end_key: 100,
            conf_ver: 2,
            version: 4,
            peers: vec![crate::proto::PeerMeta {
                id: 101,
                store_id: 1,
                is_learner: true,
            }],
        };
        let bytes = encode_region_data(&region, &kv, &mvcc);
        let (region2, kv2, mvcc2) = decode_region_data(&bytes).expect("decodes");
        assert_eq!(region2, region);
        assert_eq!(&kv2, &*kv);
        assert_eq!(mvcc2, mvcc);
        assert_eq!(
            region_data_bytes(&kv, &mvcc),
            50 * (28 + 1000) + WRITE_RECORD_BYTES + DEFAULT_RECORD_BYTES
        );
        assert!(decode_region_data(&bytes[..bytes.len() / 2]).is_none());
    }

    #[test]
    fn meta_round_trips_and_the_manager_keeps_the_newest_file_per_region() {
        let key = SnapKey {
            region_id: 3,
            term: 6,
            index: 90,
        };
        let meta = SnapshotMeta {
            key,
            file_size: 1 << 20,
        };
        assert_eq!(SnapshotMeta::decode(&meta.encode()), Some(meta));
        assert_eq!(key.to_string(), "3_6_90");
        let file = |index| SnapshotFile {
            key: SnapKey { index, ..key },
            region: RegionMeta {
                id: 3,
                start_key: 0,
                end_key: 10,
                conf_ver: 1,
                version: 1,
                peers: vec![],
            },
            data: Rc::new(vec![]),
            size: 10,
        };
        let mut m = SnapManager::default();
        m.register(file(90));
        m.register(file(120));
        assert!(m.get(&key).is_none(), "the older file of region 3 is gone");
        assert_eq!(m.len(), 1);
        m.delete(&SnapKey { index: 120, ..key });
        assert!(m.is_empty());
    }
}

/// The storage engine layout (the scenario's `engine` switch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EngineKind {
    /// One RocksDB for every region (TiKV's `raft-kv`): a snapshot scans the
    /// region's keys out of the shared engine and writes SST files; applying
    /// one clears the range and ingests the files.
    RaftKv,
    /// One RocksDB per region (TiKV's `partitioned-raft-kv`, v7.x): a
    /// snapshot is a checkpoint of the region's tablet (hard links to its SST
    /// files after a flush); applying one moves the received tablet in place.
    PartitionedRaftKv,
}

/// CPU rate of a raft-kv snapshot generation (iterate the region's CFs and
/// build SST files; the data itself is read from the disk first), bytes per
/// virtual second. An estimate, not a TiKV figure.
pub const RAFT_KV_SCAN_BYTES_PER_SEC: u64 = 200_000_000;
/// Ingest rate of a raft-kv snapshot apply (delete the range, ingest the
/// SSTs), bytes per virtual second. An estimate.
pub const RAFT_KV_INGEST_BYTES_PER_SEC: u64 = 500_000_000;
/// Fixed CPU of a generation or an apply (open files, write the meta), µs.
pub const SNAP_TASK_BASE_COST: crate::kernel::time::Micros = 2_000;
/// The files a tablet checkpoint writes itself, bytes: its `MANIFEST`,
/// `CURRENT` and `OPTIONS` (the SST files are hard links). An estimate.
pub const CHECKPOINT_META_BYTES: u64 = 64 << 10;

impl EngineKind {
    /// The `snap-generator` thread's CPU to generate a snapshot of `size`
    /// bytes, virtual µs.
    pub fn generate_cost(self, size: u64) -> crate::kernel::time::Micros {
        match self {
            EngineKind::RaftKv => {
                SNAP_TASK_BASE_COST + size.saturating_mul(1_000_000) / RAFT_KV_SCAN_BYTES_PER_SEC
            }
            EngineKind::PartitionedRaftKv => SNAP_TASK_BASE_COST,
        }
    }

    /// Bytes the generation reads from the store's disk: the region's data
    /// (raft-kv scans it; a tablet checkpoint reads nothing).
    pub fn generate_read_bytes(self, size: u64) -> u64 {
        match self {
            EngineKind::RaftKv => size,
            EngineKind::PartitionedRaftKv => 0,
        }
    }

    /// Bytes the generation writes to the store's disk: the SST files
    /// (raft-kv), or a checkpoint's metadata (partitioned-raft-kv: the SST
    /// files are linked, after the tablet's memtables were flushed, which
    /// are written as flushes of their own).
    pub fn generate_write_bytes(self, size: u64) -> u64 {
        match self {
            EngineKind::RaftKv => size,
            EngineKind::PartitionedRaftKv => CHECKPOINT_META_BYTES.min(size),
        }
    }

    /// The `region-worker` thread's CPU to apply a snapshot of `size` bytes,
    /// virtual µs.
    pub fn apply_cost(self, size: u64) -> crate::kernel::time::Micros {
        match self {
            EngineKind::RaftKv => {
                SNAP_TASK_BASE_COST + size.saturating_mul(1_000_000) / RAFT_KV_INGEST_BYTES_PER_SEC
            }
            EngineKind::PartitionedRaftKv => SNAP_TASK_BASE_COST,
        }
    }
}

/// A stage of a snapshot's journey (for the pipeline timeline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SnapStage {
    /// The leader's `snapshot()` scheduled a generation ("requesting snapshot").
    Requested,
    /// The generation task went to the `snap-generator` pool.
    Generating,
    /// The files are written ("scan snapshot").
    Generated,
    /// raft-rs took the snapshot; the stream opened ("start sending snapshot").
    Sending,
    /// The receiver answered Done ("sent snapshot"); `report_snapshot(Finish)`.
    Sent,
    /// The send ended in an error ("failed to send snap", or over the send
    /// limit); `report_snapshot(Failure)`.
    SendFailed,
    /// The receiver opened the files ("saving snapshot file").
    Receiving,
    /// The receiver refused the stream (over `concurrent-recv-snap-limit`).
    RecvRefused,
    /// Every chunk arrived; the `MsgSnapshot` goes to raftstore.
    Received,
    /// The raft state is persisted; the `region-worker` applies the data.
    Applying,
    /// The data is applied ("apply new data"); the peer goes on from the
    /// snapshot's index.
    Applied,
}

/// One stage reached, on one store.
#[derive(Clone, Debug, Serialize)]
pub struct SnapStageEvent {
    /// When, virtual ms.
    pub at_ms: u64,
    /// The store it happened on.
    pub store: u64,
    /// Region.
    pub region_id: u64,
    /// The snapshot, once it has a key (generation decides it).
    pub key: Option<SnapKey>,
    /// The follower peer the snapshot is for.
    pub to_peer: u64,
    /// Stage.
    pub stage: SnapStage,
    /// Bytes involved (file size, bytes sent), 0 when none.
    pub bytes: u64,
    /// The log line or error that goes with it.
    pub detail: String,
}

/// A stage to record: which snapshot journey it belongs to and what it carries
/// (the recording component adds the time and its store).
#[derive(Clone, Copy, Debug)]
pub struct StageOf {
    /// Region.
    pub region_id: u64,
    /// The snapshot, once it has a key.
    pub key: Option<SnapKey>,
    /// The follower peer the snapshot is for.
    pub to_peer: u64,
    /// Stage.
    pub stage: SnapStage,
    /// Bytes involved, 0 when none.
    pub bytes: u64,
}

impl StageOf {
    /// The event for `s` reached at `at_ms` on `store`, with its `detail`.
    pub fn at(self, at_ms: u64, store: u64, detail: String) -> SnapStageEvent {
        SnapStageEvent {
            at_ms,
            store,
            region_id: self.region_id,
            key: self.key,
            to_peer: self.to_peer,
            stage: self.stage,
            bytes: self.bytes,
            detail,
        }
    }
}

/// Stage events a component keeps, newest last.
pub const MAX_STAGE_EVENTS: usize = 1024;

/// Appends `e` to `events`, dropping the oldest beyond [`MAX_STAGE_EVENTS`].
pub fn push_stage(events: &mut std::collections::VecDeque<SnapStageEvent>, e: SnapStageEvent) {
    events.push_back(e);
    while events.len() > MAX_STAGE_EVENTS {
        events.pop_front();
    }
}
