//! Scenario `snapshot-and-memory`: a follower falls behind and catches up by
//! Raft snapshots that travel through TiKV's pipeline (section 5 of the
//! mechanisms reference; raft-rs `prepare_send_snapshot` / `report_snapshot`,
//! TiKV `peer_storage.rs`, `worker/snap_gen.rs` since PR 17438,
//! `worker/region.rs`, `src/server/snap.rs`).
//!
//! Writes run on every region while one store is cut off from the network.
//! The leaders' raft log GC compacts past the cut-off peers' matched index
//! once they lag by more than the GC's limit, so when the store comes back
//! its peers cannot catch up from the log: for each, the leader's
//! `PeerStorage::snapshot` answers "temporarily unavailable" and schedules a
//! generation on the `snap-generator` pool; the files go in 1 MiB chunks
//! through the snap worker's IO limiter, over a stream of their own; the
//! follower's `region-worker` applies them and the peer goes back to
//! Replicate. With many regions at once the receive limit
//! (`concurrent-recv-snap-limit`) refuses streams, and raft-rs retries them
//! after `report_snapshot(Failure)`. The `engine` switch compares raft-kv
//! (a snapshot scans the region and writes SST files) with
//! partitioned-raft-kv (a checkpoint of the region's tablet).

use std::rc::Rc;

use crate::client::raw::{RawWorkload, WorkloadConfig};
use crate::client::FIRST_PD_CLIENT_ID;
use crate::env::oom::OomKiller;
use crate::env::{DiskConfig, Fault, Network, NetworkConfig};
use crate::kernel::time::{MS, SEC};
use crate::pd::{Pd, PdConfig};
use crate::proto::Ctx;
use crate::raftstore::metrics as rm;
use crate::raftstore::snap::{EngineKind, RAW_RECORD_OVERHEAD_BYTES};
use crate::raftstore::RaftstoreConfig;
use crate::scenario::{
    Alarm, Built, Choice, CounterSpec, PageLayout, Panel, ParamSpec, ParamValue, Params, Scenario,
    ScenarioError, ScenarioSpec, Story, Unit,
};
use crate::server::snap as ss;
use crate::world::World;

/// Scenario id.
pub const ID: &str = "snapshot-and-memory";

/// The scenario's description and parameters.
pub const SPEC: ScenarioSpec = ScenarioSpec {
    id: ID,
    title: "A follower falls behind: the snapshot's journey",
    source: "TiKV's Raft snapshot pipeline (raft-rs prepare_send_snapshot/report_snapshot; TiKV peer_storage.rs, worker/snap_gen.rs since PR 17438, worker/region.rs, src/server/snap.rs); the memory-observability and partitioned-raft-kv articles",
    story: Story {
        what_happens: "Clients write to every region while one store is cut off from the network. Its peers stop \
receiving appends. The regions it led stall until their other peers elect a new leader (election timeout 10 s, \
then the clients find it through PD), and the closed-loop clients waiting on them pull cluster QPS down meanwhile. \
The leaders keep committing with the two other replicas, and their raft log GC, once a follower \
lags by more than its limit, compacts the log past that follower's matched index. When the store comes back, its \
peers ask for entries the leaders no longer have, so each leader's raft-rs calls PeerStorage::snapshot. The first \
call always answers SnapshotTemporarilyUnavailable (\"requesting snapshot\") and schedules a generation on one of \
the two snap-generator threads, which scans the region's data at the applied index and writes the snapshot files. \
The next call, right after the generation pings the followers, hands the snapshot to raft-rs (\"start sending \
snapshot\"): the follower's progress goes to Snapshot and appends to it pause. The MsgSnapshot carries only \
metadata; the snap worker streams the files in 1 MiB chunks through a 100 MiB/s IO limiter shared by the store's \
sends, on the same link as the Raft messages. The receiver saves the chunks, answers Done (\"sent snapshot\", \
report_snapshot(Finish)), persists the snapshot's raft state, and its region-worker applies the data (\"begin apply \
snap data\" … \"apply new data\"); then the leader's probe finds the follower at the snapshot's index and it goes \
back to Replicate. With more streams than concurrent-recv-snap-limit the receiver answers RESOURCE_EXHAUSTED, the \
leader reports Failure and raft-rs sends a new snapshot later. Meanwhile a share of the writes inserts ever-larger keys, so the last region grows: every 10 s its leader's split-check worker measures it, and past region-max-size (3/2 of region-split-size) it asks PD for new ids (\"on split\", \"try to batch split region\") and proposes a BatchSplit through Raft. Each store applies it (\"split region\"): the parent keeps the right part and its id, the new region takes the left part and its peers are created on every store (\"insert new region\"), both epochs' version go up by one, and the new region elects its leader at once. Clients still routing to the old range get EpochNotMatch and refresh their route from PD. The first regions hold a dropped table's range and are empty: from 30 s PD's merge checker merges each into its neighbour (\"try to merge region\"). The source's leader proposes PrepareMerge (\"try to merge\", \"execute PrepareMerge\": its version and conf_ver go up by one and it refuses writes with ProposalInMergingMode), then sends the target's leader a CommitMerge carrying its last entries; every store applies it (\"execute CommitMerge\"): the target takes the range, its version becomes the larger of the two plus one, and the source's peers are destroyed. A store cut off meanwhile applies both when it returns.",
        what_to_watch: "The event log filtered on \"snap\": requesting snapshot, scan snapshot, start sending snapshot, \
saving snapshot file, sent snapshot, begin to apply snapshot, apply new data, for each region of the cut-off store. \
The counters: the first snapshot() call of every generation is counted as temporarily unavailable; generated, sent, \
received and applied climb together; refused streams show the receive limit biting. The snapshot pipeline panel: one row per \
snapshot on a shared time axis, amber while a snap-generator thread scans the region, blue while the chunks stream \
through the IO limiter, green while the region-worker applies, red when a limit refuses the stream; beside it the \
follower's progress as its leader sees it (Snapshot while the files travel, Probe after Finish, Replicate once the \
follower answers from the snapshot's index), and above it each store's open streams against the limits and its busy \
threads. The memory trace tree of the cut-off store while its streams are open: server → \
snap_recv_buffers holds a 1 MiB chunk buffer per stream (the leaders' trees hold snap_send_buffers). The memory panel \
shows the same store and moment three ways with one total: by module (the trace tree), by allocation site (a heap \
profile with jemalloc's 512 KiB samples and the call path of each site) and by thread (jemalloc's allocated and \
freed counters): on the store that came back as a follower, raftstore frees the entries gRPC threads decoded from \
MsgAppend, so its net goes negative while the gRPC threads' grows. The rocksdb node of the tree \
holds the KV engine's memtables: with raft-kv one set per store, each CF flushed to an SST file at its \
write-buffer-size (128 MiB, lockcf 32 MiB), so it rises and drops. Switch engine to \
partitioned-raft-kv on the same seed: generation takes milliseconds instead of scanning the region, and every \
region's tablet keeps memtables of its own, so the same writes hold several times more memory (up to \
write-buffer-limit, 20% of the memory). The cluster map gains a region at every split (the region-splits counter); a split while the store is cut off reaches it through the log when it returns. From 30 s the dropped table's empty regions merge away one by one (region-merges).",
        what_the_fix_changes: "There is no bug here: the switches compare designs. engine=raft-kv is one RocksDB for \
every region: generating a snapshot scans the region's keys out of the shared engine and writes SST files (cost grows \
with the region's size), and applying one clears the range and ingests them. engine=partitioned-raft-kv (TiKV 7.x) \
gives each region its own RocksDB tablet: a snapshot is a checkpoint (hard links after a memtable flush), far cheaper \
to generate, and applying it moves the received tablet in place; the price is memory, memtables per tablet instead \
of one set for the store. The snapshot limits are live: lower \
concurrent_recv_snap_limit to see streams refused and retried, or snap_io_max_bytes_per_sec to see each transfer \
take longer.",
    },
    params: &[
        ParamSpec::number("stores", "Stores", Unit::Count, "3", 3, 5, "TiKV stores; every region has 3 replicas"),
        ParamSpec::number("regions", "Regions", Unit::Count, "40", 1, 128, "Regions, pre-split over the keyspace, 3 replicas each (with 3 stores every region has a peer on the cut-off store; those whose log the leader compacted past it need a snapshot)"),
        ParamSpec::number("region_size", "Region size", Unit::Mebibytes, "16", 1, 256, "Data in each region, loaded before the run (far below TiKV's 256 MiB region-split-size so a run stays light; a region loaded past 3/2 of region_split_size splits at its first check)"),
        ParamSpec::number("region_split_size", "Region split size", Unit::Mebibytes, "24", 1, 1024, "coprocessor.region-split-size (TiKV default 256 MiB, scaled down): a region is split once it reaches region-max-size, 3/2 of this, into pieces of this size; the leader checks every 10 s (split-region-check-tick-interval) once it was written 1/16 of this since its last check"),
        ParamSpec::number("dropped_regions", "Dropped table's regions", Unit::Count, "4", 0, 127, "The first regions hold a dropped table's range: empty and never written, so from 30 s (split-merge-interval, PD's 1 h scaled down) PD's merge checker merges them, one into the next, below max-merge-region-size (54/256 of region_split_size, as PD's 54 MiB to TiKV's 256 MiB); fewer than regions"),
        ParamSpec::number("insert_ratio", "Insert share", Unit::Percent, "10", 0, 100, "Share of writes inserting a new key after the last one (an auto-increment key): they all land in the last region, which grows and splits"),
        ParamSpec::number("value_size", "Value size", Unit::Bytes, "16384", 16, 1_048_576, "Size of each value written; keys per region = region size / (value size + 28)"),
        ParamSpec::number("clients", "Client threads", Unit::Count, "32", 0, 256, "Closed-loop client threads writing random keys"),
        ParamSpec::number("think_time", "Think time", Unit::Millis, "20", 0, 10_000, "Pause of a client thread between two writes"),
        ParamSpec::number("cut_store", "Cut-off store", Unit::StoreId, "3", 1, 5, "Store partitioned from the network"),
        ParamSpec::number("cut_start", "Cut off at", Unit::Millis, "15000", 0, 3_600_000, "When the store is cut off"),
        ParamSpec::number("cut_duration", "Cut off for", Unit::Millis, "40000", 0, 3_600_000, "How long it stays cut off (0 = never)"),
        ParamSpec::number("raft_log_gc_keep", "Log GC limit", Unit::Count, "32", 16, 100_000, "Raft log GC: entries kept behind the applied index; a leader compacts past a follower's matched index once it lags by 4x this (in the spirit of raft-log-gc-count-limit, scaled down)"),
        ParamSpec::number("raft_log_gc_tick_interval", "Log GC tick", Unit::Millis, "3000", 100, 600_000, "raftstore.raft-log-gc-tick-interval (TiKV default 3 s)"),
        ParamSpec::number("concurrent_send_snap_limit", "Send limit", Unit::Count, "32", 1, 1024, "server.concurrent-send-snap-limit (TiKV default 32): snapshots a store sends at once; more are dropped and reported as failures"),
        ParamSpec::number("concurrent_recv_snap_limit", "Receive limit", Unit::Count, "32", 1, 1024, "server.concurrent-recv-snap-limit (TiKV default 32): snapshot streams a store receives at once; more get RESOURCE_EXHAUSTED"),
        ParamSpec::number("snap_io_max_bytes_per_sec", "Snapshot IO limit", Unit::MebibytesPerSec, "100", 1, 10_000, "server.snap-io-max-bytes-per-sec (TiKV default 100 MiB/s): the IO limiter every snapshot send of a store reads through"),
        ParamSpec {
            name: "engine",
            label: "Engine",
            unit: Unit::Choice,
            default: "raft-kv",
            meaning: "storage.engine: one RocksDB for all regions, or one per region",
            range: None,
            choices: &[
                Choice::new("raft-kv", "raft-kv", "one RocksDB for every region: a snapshot scans the region and writes SST files"),
                Choice::new("partitioned-raft-kv", "partitioned-raft-kv", "one RocksDB tablet per region: a snapshot is a checkpoint of the tablet"),
            ],
        },
        super::DISK_LATENCY,
        ParamSpec::number("disk_bandwidth", "Disk bandwidth", Unit::MegabytesPerSec, "500", 1, 10_000, "Sequential bandwidth of each disk, for writes and reads (a raft-kv snapshot reads the region and writes its files through it)"),
        super::NET_LATENCY,
        super::NET_JITTER,
        ParamSpec::number("net_bandwidth", "Network bandwidth", Unit::MegabytesPerSec, "1250", 1, 100_000, "Bandwidth of each directed link (1250 MB/s: a 10 Gbit/s NIC); snapshot chunks and Raft messages share it"),
        ParamSpec::number("memory_limit", "Memory limit", Unit::Mebibytes, "16384", 64, 1_048_576, "Memory of each TiKV process before the OOM killer ends it; 45% of it is the block cache"),
        ParamSpec::number("oom_restart_delay", "Restart after OOM", Unit::Millis, "10000", 0, 600_000, "Time from an OOM kill to the process serving again"),
    ],
    live: &[
        "concurrent_send_snap_limit",
        "concurrent_recv_snap_limit",
        "snap_io_max_bytes_per_sec",
    ],
    layout: PageLayout {
        left: &[
            Panel::LiveControls,
            Panel::FaultInjection,
            Panel::Parameters,
            Panel::Story,
        ],
        center: &[Panel::SnapshotPipeline, Panel::ClusterMap, Panel::RaftGroup],
        right: &[
            Panel::Counters,
            Panel::ClientCharts,
            Panel::MemoryTree,
            Panel::MemoryCharts,
        ],
    },
    featured: &["cut_store", "cut_start", "cut_duration", "engine"],
    counters: &[
        CounterSpec {
            counter: rm::SNAPSHOT_TEMPORARILY_UNAVAILABLE,
            label: "temporarily unavailable",
            meaning: "PeerStorage::snapshot answered SnapshotTemporarilyUnavailable: the first call of every generation, and calls while it runs",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rm::SNAPSHOTS_GENERATED,
            label: "generated",
            meaning: "Snapshots generated on a snap-generator thread (\"scan snapshot\")",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: ss::SNAPSHOTS_SENT,
            label: "sent",
            meaning: "Snapshot streams the receiver answered with Done (\"sent snapshot\", report_snapshot(Finish))",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: ss::SNAPSHOT_SEND_REJECTED,
            label: "refused by a limit",
            meaning: "Streams dropped over concurrent-send-snap-limit or answered RESOURCE_EXHAUSTED over concurrent-recv-snap-limit",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: ss::SNAPSHOT_SEND_FAILED,
            label: "sends failed",
            meaning: "\"failed to send snap\": an error status or a broken connection; raft-rs retries after report_snapshot(Failure)",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: rm::SNAPSHOTS_APPLIED,
            label: "applied",
            meaning: "Snapshots a region-worker applied (\"apply new data\")",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: rm::REGION_SPLITS,
            label: "region splits",
            meaning: "BatchSplit commands applied by the parent region's leader (\"notify pd with split\")",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rm::REGION_MERGES,
            label: "region merges",
            meaning: "CommitMerge commands applied by the target region's leader (\"notify pd with merge\")",
            alarm: Alarm::Neutral,
        },
    ],
};

/// The scenario (see the module docs).
pub struct SnapshotAndMemory;

impl Scenario for SnapshotAndMemory {
    fn spec(&self) -> &'static ScenarioSpec {
        &SPEC
    }

    fn build(
        &self,
        params: &Params,
        ctx: &mut Ctx,
        logger: &slog::Logger,
    ) -> Result<Built, ScenarioError> {
        build(params, ctx, logger)
    }

    /// The snapshot limits and the IO limit apply to every store's snap
    /// worker at once (streams already open keep going).
    fn set_live(
        &self,
        world: &mut World,
        _ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError> {
        let ParamValue::Number(n) = *value else {
            return Err(bad(name, value, "expected a number"));
        };
        for st in world.stores.values_mut() {
            let cfg = &mut st.snap_worker.cfg;
            match name {
                "concurrent_send_snap_limit" => cfg.concurrent_send_snap_limit = n as usize,
                "concurrent_recv_snap_limit" => cfg.concurrent_recv_snap_limit = n as usize,
                "snap_io_max_bytes_per_sec" => cfg.snap_io_max_bytes_per_sec = n << 20,
                _ => return Err(bad(name, value, "cannot change while running")),
            }
        }
        Ok(())
    }
}

fn bad(name: &str, value: &ParamValue, reason: &str) -> ScenarioError {
    ScenarioError::BadValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The `engine` parameter as raftstore's engine layout.
fn engine_of(name: &str) -> EngineKind {
    match name {
        "partitioned-raft-kv" => EngineKind::PartitionedRaftKv,
        _ => EngineKind::RaftKv,
    }
}

/// Keys per region for `p`: the region size over the record size.
pub fn keys_per_region(p: &Params) -> u64 {
    ((p.num("region_size") << 20) / (p.num("value_size") + RAW_RECORD_OVERHEAD_BYTES)).max(1)
}

/// PD's merge checker for this scenario: `max-merge-region-size` 54/256 of
/// the split size (PD's 54 MiB against TiKV's 256 MiB), `region-max-size`
/// 3/2 of the split size, `split-merge-interval` 30 s (PD's 1 h, scaled
/// down so merges start within the run), `merge-schedule-limit` 8.
fn merge_checker_config(p: &Params) -> crate::pd::MergeCheckerConfig {
    let split = p.num("region_split_size") << 20;
    crate::pd::MergeCheckerConfig {
        max_merge_region_size: split / 256 * 54,
        max_region_size: split / 2 * 3,
        split_merge_interval: 30 * SEC,
        merge_schedule_limit: 8,
    }
}

/// Builds the world: stores with the regions' data loaded, PD, the writers,
/// and the cut-off.
fn build(p: &Params, ctx: &mut Ctx, logger: &slog::Logger) -> Result<Built, ScenarioError> {
    let n_stores = p.num("stores");
    let n_regions = p.num("regions");
    let cut_store = p.num("cut_store");
    let dropped = p.num("dropped_regions");
    if dropped >= n_regions {
        return Err(ScenarioError::BadValue {
            name: "dropped_regions".into(),
            value: dropped.to_string(),
            reason: format!(
                "must leave at least one region with data: 0..={}",
                n_regions - 1
            ),
        });
    }
    if cut_store > n_stores {
        return Err(ScenarioError::BadValue {
            name: "cut_store".into(),
            value: cut_store.to_string(),
            reason: format!("must be a store id in 1..={n_stores}"),
        });
    }
    let cfg = Rc::new(RaftstoreConfig {
        raft_base_tick_interval: SEC,
        raft_election_timeout_ticks: 10,
        raft_heartbeat_ticks: 2,
        leader_transfer_max_log_lag: 128,
        pd_heartbeat_tick_interval: 10 * SEC,
        pd_store_heartbeat_tick_interval: 10 * SEC,
        raft_log_gc_tick_interval: p.num("raft_log_gc_tick_interval") * MS,
        raft_log_gc_keep: p.num("raft_log_gc_keep"),
        engine: engine_of(p.choice("engine")),
        split_check: Some(crate::raftstore::split::SplitCheckConfig::with_split_size(
            p.num("region_split_size") << 20,
        )),
    });
    let keys = keys_per_region(p);
    let value_len = p.num("value_size") as u32;
    let store_ids: Vec<u64> = (1..=n_stores).collect();
    let (regions, last_peer_id) = super::pre_split_regions(n_regions, keys, |rid| {
        (0..3).map(|k| (rid - 1 + k) % n_stores + 1).collect()
    });
    let snap_cfg = ss::SnapConfig {
        concurrent_send_snap_limit: p.num("concurrent_send_snap_limit") as usize,
        concurrent_recv_snap_limit: p.num("concurrent_recv_snap_limit") as usize,
        snap_io_max_bytes_per_sec: p.num("snap_io_max_bytes_per_sec") << 20,
    };
    let (mut stores, disks) = super::bootstrap_stores(
        ctx,
        &store_ids,
        &cfg,
        DiskConfig {
            latency: p.num("disk_latency"),
            bandwidth_bytes_per_sec: p.num("disk_bandwidth") * 1_000_000,
        },
        &regions,
        logger,
        |st| {
            st.set_memory_limit(p.num("memory_limit") << 20);
            st.snap_worker.cfg = snap_cfg;
        },
    );
    for st in stores.values_mut() {
        st.raftstore.load_raw_data(keys, value_len, 1);
        // The dropped table's regions: their data is gone (deleted and
        // compacted away) before the run.
        for rid in 1..=dropped {
            if let Some(peer) = st.raftstore.peers.get_mut(&rid) {
                std::rc::Rc::make_mut(&mut peer.raft.mut_store().kv).clear();
            }
        }
        st.start_timers(ctx);
    }
    let pd = Pd::new(
        PdConfig {
            schedule_interval: SEC,
            hot_region_scheduler_from: None,
            hot_write_bytes_threshold: u64::MAX,
            // Off: balance-leader would move leaders onto the cut-off store
            // (it has the fewest) until PD stops counting it as usable, which
            // here takes 60 s without a store heartbeat (PD's
            // storeDisconnectDuration is 20 s), and the transfers it starts
            // stall those regions. The story is about the follower's return.
            balance_leader: false,
            leader_rules: Vec::new(),
            merge: Some(merge_checker_config(p)),
        },
        &regions,
        &store_ids,
        last_peer_id + 1000,
    );
    pd.start(ctx);
    let mut workload = RawWorkload::new(
        WorkloadConfig {
            clients: p.num("clients") as u32,
            think_time: p.num("think_time") * MS,
            hot_write_ratio: 0,
            insert_ratio: p.num("insert_ratio"),
            hot_range: (0, 0),
            keyspace: n_regions * keys,
            keyspace_start: dropped * keys,
            value_len,
            request_timeout: 2 * SEC,
            max_backoff: 20 * SEC,
            reads: None,
            first_client: 0,
            // One TiDB instance: its threads share one region cache, so
            // once the cut-off store's regions have new leaders every
            // thread routes to them.
            tidb_instances: 1,
        },
        ctx.rng,
        &pd,
        FIRST_PD_CLIENT_ID,
    );
    workload.start(ctx);
    let network = Network::new(NetworkConfig {
        latency: p.num("net_latency"),
        jitter: p.num("net_jitter"),
        drop_ppm: 0,
        bandwidth_bytes_per_sec: p.num("net_bandwidth") * 1_000_000,
    });
    let mut faults = Vec::new();
    if p.num("cut_duration") > 0 {
        faults.push(Fault::Partition {
            store: cut_store,
            start: p.num("cut_start") * MS,
            duration: p.num("cut_duration") * MS,
        });
    }
    Ok(Built {
        world: World {
            stores,
            disks,
            network,
            pd,
            workloads: vec![Box::new(workload)],
            pools: Default::default(),
            focus_region: 1,
            focus_is_hot: false,
            aborts: Vec::new(),
            oom: OomKiller {
                restart_delay: p.num("oom_restart_delay") * MS,
                kills: Vec::new(),
            },
        },
        faults,
    })
}
