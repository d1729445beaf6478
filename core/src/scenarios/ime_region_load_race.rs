//! Scenario `ime-region-load-race`: TiKV issues 17487 / 17493 / 17548, fixed
//! by PR 17550 (section 2 of the mechanisms reference).
//!
//! A hot table's regions are read and written hard. Every
//! `load-evict-interval` each store's in-memory engine loads its top regions
//! (MVCC amplification at or above the threshold, most iterated first); a
//! load waits its turn on the single `ime-load` thread. Load-base split
//! halves a region whose reads stay above `split.qps-threshold`, and PD's
//! merge checker merges the small halves back after `split-merge-interval`:
//! the hot table's regions are merged and split again and again. A merge
//! evicts the cached target ("ime evict range due to apply commands"); while
//! an `ANALYZE`-like long stream holds its snapshot, the target's meta stays
//! `PendingEvict` under its id with its old range. When the merged region
//! splits, the target keeps its id for the right part (`right_derive`),
//! whose range does not overlap the old one, and the next top-regions round
//! loads it: before PR 17550 `load_region` checks ranges only, so
//! `regions.insert(id, meta)` replaces the evicting meta and
//! `regions_by_range` keeps its old end key pointing at the id. Range checks
//! that meet that key read the new meta and stop early, so a load of the
//! region left of it passes even while that region is already Loading: it is
//! scheduled to load twice, the first `LoadRegion` makes it Active, and the
//! second finds `Active` where it asserts `LoadingCanceled`. The store
//! aborts. With `fix=id-check` a load is refused while a meta with its id
//! exists.

use std::rc::Rc;

use crate::client::raw::{RawWorkload, ReadMix, WorkloadConfig};
use crate::client::FIRST_PD_CLIENT_ID;
use crate::env::oom::OomKiller;
use crate::env::{DiskConfig, Network, NetworkConfig};
use crate::in_memory_engine::{metrics as im, ImeConfig};
use crate::kernel::time::{MS, SEC};
use crate::pd::{Pd, PdConfig};
use crate::proto::Ctx;
use crate::raftstore::metrics as rm;
use crate::raftstore::snap::RAW_RECORD_OVERHEAD_BYTES;
use crate::raftstore::split_controller::LoadSplitConfig;
use crate::raftstore::RaftstoreConfig;
use crate::scenario::{
    Alarm, Built, Choice, CounterSpec, PageLayout, Panel, ParamSpec, ParamValue, Params, Scenario,
    ScenarioError, ScenarioSpec, Story, Unit,
};
use crate::world::World;

/// Scenario id.
pub const ID: &str = "ime-region-load-race";

/// The scenario's description and parameters.
pub const SPEC: ScenarioSpec = ScenarioSpec {
    id: ID,
    title: "In-memory engine: a region loaded twice",
    source: "TiKV issues 17487, 17493, 17548 (in-memory engine, September 2024: \"BackgroundTask::LoadRegion assert fails\"); fix: TiKV PR 17550 (d2bf2b0510)",
    story: Story {
        what_happens: "Clients read and write a hot table (the first regions of the keyspace) on three stores, each running \
TiKV's in-memory engine. Every load-evict-interval each store's engine picks its top regions: regions it leads whose reads \
step over at least mvcc-amplification-threshold versions per key returned, most iterated first. Each gets a Pending meta \
(\"ime load new region\"); the region's next applied write runs prepare_for_apply, which moves it to Loading (\"ime region \
to load\") and schedules LoadRegion with a RocksDB snapshot. Loads run one at a time on the ime-load thread, so a round's \
loads queue for seconds; a region still queued at the next round is asked for again and refused (PendingRange). Reads of \
an Active region with a matching epoch are served from memory. Load-base split halves a region whose reads stay above \
split-qps-threshold for split-detect-times seconds (\"load base split region\"), and after split-merge-interval PD's merge \
checker merges the small halves back (\"try to merge region\"): the hot table is merged and split again and again. A \
merge evicts the target's cached meta (\"ime evict range due to apply commands\"). An ANALYZE-like long stream holds a \
snapshot of it, so the meta stays PendingEvict, under its id, with its old range, until the stream ends. When the merged \
region splits, the target keeps its id for the right part (right_derive), and that part's range does not overlap the old \
one. Before PR 17550 load_region checks ranges only. The next round loads the id again: regions.insert(id, meta) replaces \
the evicting meta, and regions_by_range keeps the old end key pointing at the id. A range check of the region left of \
that key now reads the new meta and stops early, so while that region waits in the ime-load queue a second round's load \
passes: it is scheduled to load twice. The first LoadRegion makes it Active; the second asserts the state is \
LoadingCanceled and finds Active (issue 17487). The store aborts with the assertion and restarts empty. Where the old \
meta's stream ends first, its snapshot release finds neither the meta nor a historical region and the unwrap fails \
(a sibling panic).",
        what_to_watch: "The in-memory engine panel, one store at a time: the state machine (live counts per state, the \
transitions just taken), the table of metas (id, range, epoch, state, snapshots held; a replaced meta and an end key \
left pointing at the wrong meta are marked), the ime-load queue with each task's region and epoch, and the load \
requests with how each ended. The preconditions panel counts what builds up: evicting metas held by snapshots, ids that \
came back through a split, metas replaced under their id, stale end keys. Then the banner: the assertion, the store, \
and the two \"ime region to load\" of the region that led to it. The counters: loads scheduled, refused, metas replaced, \
panics; region splits and merges. The event log filtered on \"ime\".",
        what_the_fix_changes: "fix=none is TiKV before PR 17550: check_overlap_with_region looks at ranges only, and \
new_region_meta inserts into regions and regions_by_range whatever they held. fix=id-check is PR 17550: the check also \
refuses a load (Evicting, PendingRange or Overlapped by that meta's state) while a meta with the same region id exists, \
\"for implementation simplicity as this kind of scenario should be very rare\", and new_region_meta asserts it replaced \
no meta (old_meta) and no end key (old_region_id). The region that came back waits until its old meta is deleted, then \
loads normally: no meta is ever replaced, no end key is left behind, no region is loaded twice.",
    },
    params: &[
        ParamSpec::number("stores", "Stores", Unit::Count, "3", 3, 5, "TiKV stores; every region has 3 replicas"),
        ParamSpec::number("regions", "Regions", Unit::Count, "16", 2, 64, "Regions, pre-split over the keyspace"),
        ParamSpec::number("hot_regions", "Hot table's regions", Unit::Count, "4", 1, 64, "The first regions hold the hot table that the reads and most writes go to (at most regions)"),
        ParamSpec::number("region_size", "Region size", Unit::Mebibytes, "8", 1, 256, "Data in each region, loaded before the run"),
        ParamSpec::number("value_size", "Value size", Unit::Bytes, "131072", 16, 1_048_576, "Size of each value; keys per region = region size / (value size + 28)"),
        ParamSpec::number("region_split_size", "Region split size", Unit::Mebibytes, "24", 1, 1024, "coprocessor.region-split-size (TiKV 256 MiB, scaled down): PD merges regions below 54/256 of it (max-merge-region-size) while the pair stays within 3/2 of it"),
        ParamSpec::number("clients", "Client threads", Unit::Count, "16", 1, 256, "Closed-loop client threads reading and writing"),
        ParamSpec::number("think_time", "Think time", Unit::Millis, "20", 0, 10_000, "Pause of a client thread between two operations"),
        ParamSpec::number("read_ratio", "Read share", Unit::Percent, "70", 0, 100, "Share of operations that are reads (coprocessor scans)"),
        ParamSpec::number("hot_ratio", "Hot share", Unit::Percent, "90", 0, 100, "Share of reads and writes aimed at the hot table"),
        ParamSpec::number("scan_keys", "Keys per scan", Unit::Count, "16", 1, 100_000, "Keys one read returns"),
        ParamSpec::number("analyze_clients", "Long streams", Unit::Count, "2", 0, 16, "Threads running ANALYZE-like long streams over the hot table, one after another; each holds its snapshot for long_scan_duration"),
        ParamSpec::number("long_scan_duration", "Long stream", Unit::Millis, "120000", 0, 600_000, "How long a long stream keeps its region snapshot (a cached region's eviction waits for it)"),
        ParamSpec::number("ime_capacity", "IME capacity", Unit::Mebibytes, "256", 16, 65_536, "in-memory-engine.capacity; evict-threshold = capacity − min(capacity/10, 200 MiB), stop-load-threshold = evict-threshold − min(15% capacity, 2·region-split-size + 200 MiB), as TiKV computes them"),
        ParamSpec::number("load_evict_interval", "Load-evict interval", Unit::Millis, "8000", 1000, 600_000, "in-memory-engine.load-evict-interval (TiKV default 300 s, at least 120 s; scaled down): how often the top regions are loaded and cold ones evicted"),
        ParamSpec::number("gc_run_interval", "GC interval", Unit::Millis, "30000", 1000, 600_000, "in-memory-engine.gc-run-interval (TiKV default 180 s, scaled down): a GC round marks the cached regions in_gc and their deletion waits for it"),
        ParamSpec::number("mvcc_amplification_threshold", "MVCC amplification threshold", Unit::Count, "10", 1, 1000, "in-memory-engine.mvcc-amplification-threshold (TiKV default 10): versions a region's reads step over per key returned before it is a candidate"),
        ParamSpec::number("ime_load_speed", "Load speed", Unit::MebibytesPerSec, "1", 1, 10_000, "How fast LoadRegion copies a snapshot into memory (scaled down with the region size, so a round's loads queue on the single ime-load thread)"),
        ParamSpec::number("split_qps_threshold", "Split QPS threshold", Unit::PerSec, "60", 1, 100_000, "split.qps-threshold (TiKV default 3000, scaled down): reads per second of one region that make it hot for load-base split"),
        ParamSpec::number("split_detect_times", "Split detect times", Unit::Count, "10", 1, 60, "split.detect-times (TiKV default 10): hot seconds in a row before load-base split"),
        ParamSpec::number("split_merge_interval", "Split-merge interval", Unit::Millis, "30000", 1000, 3_600_000, "PD's split-merge-interval (1 h, scaled down): how long after a split PD may merge the region again, and when PD's merge checker starts"),
        ParamSpec {
            name: "fix",
            label: "Fix",
            unit: Unit::Choice,
            default: "none",
            meaning: "Which load check the in-memory engine runs",
            range: None,
            choices: &[
                Choice::new("none", "none (before PR 17550)", "load_region checks ranges only; new_region_meta replaces whatever meta and end key it meets"),
                Choice::new("id-check", "id-check (PR 17550)", "load_region is refused while a meta with the same region id exists; new_region_meta asserts it replaced nothing"),
            ],
        },
        super::DISK_LATENCY,
        super::NET_LATENCY,
        super::NET_JITTER,
        ParamSpec::number("memory_limit", "Memory limit", Unit::Mebibytes, "16384", 64, 1_048_576, "Memory of each TiKV process before the OOM killer ends it"),
        ParamSpec::number("restart_delay", "Restart after abort", Unit::Millis, "10000", 0, 600_000, "Time from a panic (or an OOM kill) to the process serving again"),
    ],
    live: &["fix"],
    layout: PageLayout {
        left: &[
            Panel::LiveControls,
            Panel::Counters,
            Panel::Parameters,
            Panel::Story,
        ],
        center: &[Panel::InMemoryEngine],
        right: &[Panel::ClusterMap, Panel::ClientCharts, Panel::FaultInjection],
    },
    featured: &["fix", "long_scan_duration", "load_evict_interval", "split_merge_interval"],
    counters: &[
        CounterSpec {
            counter: im::IME_PANICS,
            label: "store panics",
            meaning: "Assertions of the in-memory engine that aborted a store (FATAL in the log)",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: im::IME_METAS_REPLACED,
            label: "metas replaced",
            meaning: "Loads that replaced a meta still held under the same region id (regions.insert before PR 17550)",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: im::IME_LOADS_SCHEDULED,
            label: "loads scheduled",
            meaning: "\"ime region to load\": prepare_for_apply moved a Pending meta to Loading and scheduled LoadRegion",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: im::IME_LOADS_FINISHED,
            label: "loads finished",
            meaning: "\"ime Loading region finished\": the region is Active",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: im::IME_LOADS_REFUSED,
            label: "loads refused",
            meaning: "load_region refused: PendingRange, Overlapped or Evicting (\"ime error loading range\")",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: im::IME_EVICTIONS,
            label: "evictions",
            meaning: "Evicted regions deleted (\"ime remove evicted region\")",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: im::IME_CACHE_HITS,
            label: "cache hits",
            meaning: "Reads served from the in-memory engine",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: im::IME_CACHE_MISSES,
            label: "cache misses",
            meaning: "Reads served by RocksDB (NotCached, EpochNotMatch, TooOldRead)",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rm::REGION_SPLITS,
            label: "region splits",
            meaning: "BatchSplit commands applied (load-base split)",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rm::REGION_MERGES,
            label: "region merges",
            meaning: "CommitMerge commands applied (PD's merge checker)",
            alarm: Alarm::Neutral,
        },
    ],
};

/// The scenario (see the module docs).
pub struct ImeRegionLoadRace;

impl Scenario for ImeRegionLoadRace {
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

    /// `fix` switches every store's load check at once (a restarted store
    /// keeps it).
    fn set_live(
        &self,
        world: &mut World,
        _ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError> {
        match (name, value) {
            ("fix", ParamValue::Choice(c)) => {
                let id_check = *c == "id-check";
                for st in world.stores.values_mut() {
                    st.set_ime_id_check(id_check);
                }
                Ok(())
            }
            _ => Err(ScenarioError::BadValue {
                name: name.to_string(),
                value: value.to_string(),
                reason: "cannot change while running".to_string(),
            }),
        }
    }
}

/// Keys per region for `p`: the region size over the record size.
pub fn keys_per_region(p: &Params) -> u64 {
    ((p.num("region_size") << 20) / (p.num("value_size") + RAW_RECORD_OVERHEAD_BYTES)).max(1)
}

fn build(p: &Params, ctx: &mut Ctx, logger: &slog::Logger) -> Result<Built, ScenarioError> {
    let n_stores = p.num("stores");
    let n_regions = p.num("regions");
    let hot = p.num("hot_regions");
    if hot > n_regions {
        return Err(ScenarioError::BadValue {
            name: "hot_regions".into(),
            value: hot.to_string(),
            reason: format!("must be at most regions ({n_regions})"),
        });
    }
    let split_size = p.num("region_split_size") << 20;
    let cfg = Rc::new(RaftstoreConfig {
        raft_base_tick_interval: SEC,
        raft_election_timeout_ticks: 10,
        raft_heartbeat_ticks: 2,
        leader_transfer_max_log_lag: 128,
        pd_heartbeat_tick_interval: 10 * SEC,
        pd_store_heartbeat_tick_interval: 10 * SEC,
        raft_log_gc_tick_interval: 3 * SEC,
        raft_log_gc_keep: 1024,
        engine: crate::raftstore::snap::EngineKind::RaftKv,
        split_check: Some(crate::raftstore::split::SplitCheckConfig::with_split_size(
            split_size,
        )),
    });
    let keys = keys_per_region(p);
    let value_len = p.num("value_size") as u32;
    let store_ids: Vec<u64> = (1..=n_stores).collect();
    let (regions, last_peer_id) = super::pre_split_regions(n_regions, keys, |rid| {
        (0..3).map(|k| (rid - 1 + k) % n_stores + 1).collect()
    });
    let mut ime = ImeConfig::from_capacity(p.num("ime_capacity") << 20, split_size);
    ime.load_evict_interval = p.num("load_evict_interval") * MS;
    ime.gc_run_interval = p.num("gc_run_interval") * MS;
    ime.mvcc_amplification_threshold = p.num("mvcc_amplification_threshold");
    ime.load_bytes_per_sec = p.num("ime_load_speed") << 20;
    ime.evict_min_duration = ime.load_evict_interval * 3;
    ime.id_check = p.choice("fix") == "id-check";
    let split = LoadSplitConfig {
        qps_threshold: p.num("split_qps_threshold"),
        detect_times: p.num("split_detect_times"),
    };
    let (mut stores, disks) = super::bootstrap_stores(
        ctx,
        &store_ids,
        &cfg,
        DiskConfig {
            latency: p.num("disk_latency"),
            bandwidth_bytes_per_sec: 500_000_000,
        },
        &regions,
        logger,
        |st| {
            st.set_memory_limit(p.num("memory_limit") << 20);
            st.enable_in_memory_engine(ime);
            st.enable_load_split(split);
        },
    );
    for st in stores.values_mut() {
        st.raftstore.load_raw_data(keys, value_len, 1);
        st.start_timers(ctx);
    }
    let interval = p.num("split_merge_interval") * MS;
    let pd = Pd::new(
        PdConfig {
            schedule_interval: SEC,
            hot_region_scheduler_from: None,
            hot_write_bytes_threshold: u64::MAX,
            balance_leader: false,
            leader_rules: Vec::new(),
            merge: Some(crate::pd::MergeCheckerConfig {
                max_merge_region_size: split_size / 256 * 54,
                max_region_size: split_size / 2 * 3,
                split_merge_interval: interval,
                merge_schedule_limit: 8,
            }),
        },
        &regions,
        &store_ids,
        last_peer_id + 1000,
    );
    pd.start(ctx);
    let hot_range = (0, hot * keys);
    let keyspace = n_regions * keys;
    let clients = p.num("clients") as u32;
    let base = WorkloadConfig {
        clients,
        think_time: p.num("think_time") * MS,
        hot_write_ratio: p.num("hot_ratio"),
        hot_range,
        keyspace,
        keyspace_start: 0,
        insert_ratio: 0,
        value_len,
        request_timeout: 2 * SEC,
        max_backoff: 20 * SEC,
        reads: Some(ReadMix {
            read_ratio: p.num("read_ratio"),
            hot_read_ratio: p.num("hot_ratio"),
            hot_range,
            scan_keys: p.num("scan_keys"),
            long_scan_permille: 0,
            long_scan_duration: 0,
        }),
        first_client: 0,
        // Every thread keeps its own region cache (one TiDB instance per
        // session), the client topology the seed-1 incident was found
        // with: it retries more on stale routes after each split and
        // merge. With one shared cache the region errors fall from about
        // 1 400 to 400 in 320 s and seeds 1 to 40 do not reach the race
        // within 400 s; the race itself is the engine's, not the client's.
        tidb_instances: clients,
    };
    let mut workloads: Vec<Box<dyn crate::client::Workload>> = Vec::new();
    let mut oltp = RawWorkload::new(base.clone(), ctx.rng, &pd, FIRST_PD_CLIENT_ID);
    oltp.start(ctx);
    workloads.push(Box::new(oltp));
    let analyze = p.num("analyze_clients") as u32;
    if analyze > 0 {
        let mut long = RawWorkload::new(
            WorkloadConfig {
                clients: analyze,
                think_time: SEC,
                reads: Some(ReadMix {
                    read_ratio: 100,
                    hot_read_ratio: 100,
                    hot_range,
                    scan_keys: keys,
                    long_scan_permille: 1000,
                    long_scan_duration: p.num("long_scan_duration") * MS,
                }),
                first_client: clients,
                tidb_instances: analyze,
                ..base
            },
            ctx.rng,
            &pd,
            FIRST_PD_CLIENT_ID + 1,
        );
        long.start(ctx);
        workloads.push(Box::new(long));
    }
    let network = Network::new(NetworkConfig {
        latency: p.num("net_latency"),
        jitter: p.num("net_jitter"),
        drop_ppm: 0,
        bandwidth_bytes_per_sec: 1_250_000_000,
    });
    Ok(Built {
        world: World {
            stores,
            disks,
            network,
            pd,
            workloads,
            pools: Default::default(),
            focus_region: 1,
            focus_is_hot: true,
            aborts: Vec::new(),
            oom: OomKiller {
                restart_delay: p.num("restart_delay") * MS,
                kills: Vec::new(),
            },
        },
        faults: Vec::new(),
    })
}
