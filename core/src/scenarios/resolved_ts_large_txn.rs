//! Scenario `resolved-ts-large-txn`: a pipelined (large) transaction pins
//! resolved-ts (TiKV RFC 0114, tracking issue 17459), fixed by PR 17540
//! (dccee48156, the txn status cache) and PR 17730 (closes 17728,
//! `min_commit_ts − 1`). Section 4 of the mechanisms reference.
//!
//! Writers commit small transactions all the time; every region's leader
//! advances its resolved-ts every `advance-ts-interval` to
//! `min(tso, oldest lock)`, a TiCDC capture emits each region's rows up to
//! it, and stale reads are served by followers below their safe-ts. Then a
//! pipelined DML transaction starts: it flushes locks in generations into
//! the first regions for `large_txn_duration`. Before the fix each of its
//! locks counts by its `start_ts`, so those regions' resolved-ts stops at
//! the transaction's start_ts for its whole life; the CDC feed stalls and
//! stale reads are refused (`DataIsNotReady`). With the fix the resolver
//! tracks the transaction by one representative key and maps it through the
//! store's `TxnStatusCache`, which the TTL manager's `BroadcastTxnStatus`
//! fills with the `min_commit_ts` each heartbeat pushes.

use std::rc::Rc;

use crate::client::cdc::{self, CdcConsumer};
use crate::client::pipelined::{self, PipelinedConfig, PipelinedWorkload};
use crate::client::FIRST_PD_CLIENT_ID;
use crate::env::oom::OomKiller;
use crate::env::{DiskConfig, Network, NetworkConfig};
use crate::kernel::time::{MS, SEC};
use crate::pd::{Pd, PdConfig};
use crate::proto::Ctx;
use crate::raftstore::RaftstoreConfig;
use crate::resolved_ts::metrics as rtm;
use crate::resolved_ts::resolver::ResolverMode;
use crate::resolved_ts::ResolvedTsConfig;
use crate::scenario::{
    Alarm, Built, Choice, CounterSpec, PageLayout, Panel, ParamSpec, ParamValue, Params, Scenario,
    ScenarioError, ScenarioSpec, Story, Unit,
};
use crate::world::World;

/// Scenario id.
pub const ID: &str = "resolved-ts-large-txn";

/// Key width of each pre-split region.
pub const KEYS_PER_REGION: u64 = 1 << 20;

/// The client id of the TiCDC capture.
pub const CDC_CLIENT: u32 = 1 << 19;

/// The scenario's description and parameters.
pub const SPEC: ScenarioSpec = ScenarioSpec {
    id: ID,
    title: "Large transactions block resolved-ts",
    source: "TiKV RFC 0114 \"resolved-ts for large transactions\" (tracking issue 17459); fixes: TiKV PR 17540 (dccee48156, txn status cache) and PR 17730 (closes 17728, min_commit_ts − 1)",
    story: Story {
        what_happens: "Writers commit small transactions over every region. On each store the resolved-ts endpoint keeps a \
resolver per region it leads, fed by the apply path: a Prewrite tracks its lock, a Commit untracks it. Every \
advance-ts-interval the endpoint takes a TSO from PD, confirms its leadership with the followers' stores (check_leader) and \
advances each region: resolved_ts = max(previous, min(tso, oldest lock)). A TiCDC capture emits each region's committed rows \
up to its resolved-ts, and stale reads at now − staleness are served by followers up to their safe-ts. Then a pipelined DML \
transaction starts: TiDB flushes its mutations as locks in generations (Flush, generation 1, 2, ...) into the first regions \
while it runs, for large_txn_duration; its TTL manager heartbeats the primary (TxnHeartBeat), pushing min_commit_ts, and \
broadcasts it to every store (BroadcastTxnStatus). Before the fix the resolver counts each of its locks by its start_ts: \
from the first flush on, those regions' resolved-ts stops at the transaction's start_ts and the lag grows for as long as the \
transaction lives; the CDC feed of those regions emits nothing, and stale reads there are refused (DataIsNotReady). TiCDC \
tries to resolve the locks after 20 s, but the transaction is alive (its TTL renewed), so nothing moves until it commits. \
If its client dies, the heartbeats stop, the TTL (20 s) expires, TiCDC's CheckTxnStatus rolls the primary back and \
ResolveLock removes the locks: resolved-ts moves on.",
        what_to_watch: "The resolved-ts timeline: the TSO climbing and each region's resolved-ts a few seconds behind it, then \
flat from the large transaction's start (markers: start, flushes, heartbeats, commit) on the regions it writes, while the \
others keep following; the lag per region and the CDC feed's lag. The resolver panel for the selected region: its normal \
locks by start_ts, the large transactions it tracks, the lock that pins it and the cache entry that lets it pass. The \
counters: resolved-ts advances, stale reads served and refused, CDC rows emitted. The event log filtered on \"resolved\" \
shows \"the max gap of leader resolved-ts is large\" with the pinning lock.",
        what_the_fix_changes: "fix=none is TiKV up to v8.3: every lock counts by start_ts, so one long-lived lock pins the \
region. fix=txn-status-cache is PR 17540: a lock with generation > 0 belongs to a large transaction, tracked by one \
representative key; the resolver looks its start_ts up in the store's TxnStatusCache (filled by BroadcastTxnStatus) and uses \
its min_commit_ts, ignores it once the cache says committed or rolled back, and falls back to start_ts on a miss (\"Large txn \
not found in cache\"). resolved-ts then advances with every heartbeat. fix=min-commit-ts-minus-1 is PR 17730: the candidate \
is min_commit_ts − 1, so resolved_ts < min_commit_ts ≤ commit_ts even if a transaction committed exactly at its \
min_commit_ts; with the cache alone resolved-ts could equal a later commit_ts. As issue 17728 says, this cannot happen \
to pipelined transactions (their min_commit_ts come from the TSO and their commit_ts is a later TSO), so here the two fixes \
draw the same lines one logical tick apart. Either way resolved-ts never passes a \
transaction that is still undetermined and stale reads on the followers are served again, but the TiCDC feed still \
stalls: TiKV's CDC delegate tracks every lock by its start_ts on its own (cdc/src/delegate.rs LockTracker). It must: once \
the primary commits, the cache says Committed and resolved-ts passes the commit_ts, while the secondaries' ResolveLock \
still has to write rows at that commit_ts; a feed fed from resolved-ts would receive them late.",
    },
    params: &[
        ParamSpec::number("stores", "Stores", Unit::Count, "3", 3, 5, "TiKV stores; every region has 3 replicas"),
        ParamSpec::number("regions", "Regions", Unit::Count, "4", 2, 32, "Regions, pre-split over the keyspace"),
        ParamSpec::number("large_txn_regions", "Regions of the large txn", Unit::Count, "2", 1, 32, "The large transaction writes into the first regions (at most regions)"),
        ParamSpec::number("writers", "Writers", Unit::Count, "8", 1, 256, "Threads committing small transactions (one key each) over every region"),
        ParamSpec::number("think_time", "Think time", Unit::Millis, "100", 0, 10_000, "Pause of a writer between two transactions"),
        ParamSpec::number("large_txn_size", "Large txn size", Unit::Count, "20000", 1, 200_000, "Keys the large transaction writes (every key is a lock on three replicas held in memory, so the page caps it at 200 000)"),
        ParamSpec::number("large_txn_duration", "Large txn duration", Unit::Millis, "60000", 1000, 3_600_000, "How long the large transaction writes before it commits"),
        ParamSpec::number("generation_size", "Flush generation size", Unit::Count, "2000", 1, 1_000_000, "Keys buffered before each Flush (TiDB flushes its memdb when it grows past a threshold)"),
        ParamSpec::number("heartbeat_interval", "Heartbeat interval", Unit::Millis, "5000", 100, 60_000, "The TTL manager's TxnHeartBeat + BroadcastTxnStatus interval (client-go keeps pipelined locks alive every ManagedLockTTL / 2 = 10 s; shortened)"),
        ParamSpec::number("advance_ts_interval", "advance-ts-interval", Unit::Millis, "2000", 100, 60_000, "resolved-ts.advance-ts-interval (TiKV 20 s; shortened so the normal lag is a few seconds)"),
        ParamSpec::number("large_txn_start", "Large txn starts at", Unit::Millis, "15000", 0, 3_600_000, "When the first large transaction starts"),
        ParamSpec::number("large_txn_pause", "Pause between large txns", Unit::Millis, "30000", 1000, 3_600_000, "After a large transaction ends, the next one starts this much later"),
        ParamSpec {
            name: "client_dies",
            label: "Large txn's client dies",
            unit: Unit::Choice,
            default: "no",
            meaning: "Whether the TiDB instance running the large transaction dies halfway through it",
            range: None,
            choices: &[
                Choice::new("no", "no", "the transaction commits after its duration"),
                Choice::new("yes", "yes (halfway)", "heartbeats stop halfway; the locks outlive their 20 s TTL until TiCDC's lock resolver rolls them back"),
            ],
        },
        ParamSpec {
            name: "fix",
            label: "Fix",
            unit: Unit::Choice,
            default: "none",
            meaning: "Which resolver logic the stores run",
            range: None,
            choices: &[
                Choice::new("none", "none (TiKV ≤ v8.3)", "every lock counts by its start_ts: a large transaction pins resolved-ts for its whole life"),
                Choice::new("txn-status-cache", "txn-status-cache (PR 17540)", "large transactions map through the TxnStatusCache to min_commit_ts; committed or rolled back ones are ignored; a miss falls back to start_ts"),
                Choice::new("min-commit-ts-minus-1", "min-commit-ts − 1 (PR 17730)", "as PR 17540 with the candidate min_commit_ts − 1, so resolved_ts < min_commit_ts ≤ commit_ts"),
            ],
        },
        ParamSpec::number("region_split_size", "Region split size", Unit::Mebibytes, "256", 1, 1024, "coprocessor.region-split-size (TiKV 256 MiB): a region past 3/2 of it splits (BatchSplit), and its resolver stops tracking until it re-registers"),
        ParamSpec::number("stale_readers", "Stale readers", Unit::Count, "2", 0, 64, "Threads running stale reads (AS OF TIMESTAMP NOW() − staleness) on random peers"),
        ParamSpec::number("staleness", "Staleness", Unit::Millis, "5000", 0, 600_000, "tidb_read_staleness: how far behind the TSO a stale read reads"),
        super::DISK_LATENCY,
        super::NET_LATENCY,
        super::NET_JITTER,
    ],
    live: &["fix", "large_txn_size", "large_txn_duration", "client_dies"],
    layout: PageLayout {
        left: &[
            Panel::LiveControls,
            Panel::Counters,
            Panel::Parameters,
            Panel::Story,
        ],
        center: &[Panel::ResolvedTs],
        right: &[Panel::ClusterMap, Panel::ClientCharts, Panel::FaultInjection],
    },
    featured: &["fix", "large_txn_size", "large_txn_duration", "client_dies"],
    counters: &[
        CounterSpec {
            counter: rtm::RESOLVED_TS_ADVANCES,
            label: "resolved-ts advances",
            meaning: "Resolves that raised a region's resolved-ts",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: pipelined::LARGE_TXN_FLUSHES,
            label: "large txn flushes",
            meaning: "Flush generations the large transaction wrote",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rtm::TXN_STATUS_BROADCASTS,
            label: "txn status broadcasts",
            meaning: "BroadcastTxnStatus requests the stores handled (they fill the TxnStatusCache)",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: cdc::CDC_ROWS_EMITTED,
            label: "CDC rows emitted",
            meaning: "Rows TiCDC emitted downstream (up to each region's resolved-ts)",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: rtm::STALE_READS,
            label: "stale reads",
            meaning: "Stale reads served by a peer at or below its safe-ts",
            alarm: Alarm::GoodWhenNonZero,
        },
        CounterSpec {
            counter: rtm::STALE_READS_REFUSED,
            label: "stale reads refused",
            meaning: "Stale reads refused with DataIsNotReady: the peer's safe-ts is below the read ts",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: cdc::CDC_LOCKS_RESOLVED,
            label: "locks resolved by TiCDC",
            meaning: "Transactions whose locks TiCDC's lock resolver resolved in a stuck region",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: pipelined::SMALL_TXNS_COMMITTED,
            label: "small txns committed",
            meaning: "Small transactions the writers committed",
            alarm: Alarm::Neutral,
        },
    ],
};

/// The scenario (see the module docs).
pub struct ResolvedTsLargeTxn;

/// The `fix` parameter as the resolver's mode.
pub fn mode_of(fix: &str) -> ResolverMode {
    match fix {
        "txn-status-cache" => ResolverMode::TxnStatusCache,
        "min-commit-ts-minus-1" => ResolverMode::MinCommitTsMinus1,
        _ => ResolverMode::Legacy,
    }
}

impl Scenario for ResolvedTsLargeTxn {
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

    /// `fix` switches every store's resolvers; the large transaction's size,
    /// duration and `client_dies` act on the running transaction.
    fn set_live(
        &self,
        world: &mut World,
        _ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError> {
        let World {
            workloads, stores, ..
        } = world;
        let w = workloads
            .iter_mut()
            .find_map(|w| w.as_any_mut().downcast_mut::<PipelinedWorkload>());
        match (name, value, w) {
            ("fix", ParamValue::Choice(c), _) => {
                for st in stores.values_mut() {
                    st.set_resolved_ts_mode(mode_of(c));
                }
            }
            ("large_txn_size", ParamValue::Number(n), Some(w)) => w.cfg.large_txn_size = *n,
            ("large_txn_duration", ParamValue::Number(n), Some(w)) => {
                w.cfg.large_txn_duration = n * MS
            }
            ("client_dies", ParamValue::Choice(c), Some(w)) => w.cfg.client_dies = *c == "yes",
            _ => {
                return Err(ScenarioError::BadValue {
                    name: name.to_string(),
                    value: value.to_string(),
                    reason: "cannot change while running".to_string(),
                })
            }
        }
        Ok(())
    }
}

fn build(p: &Params, ctx: &mut Ctx, logger: &slog::Logger) -> Result<Built, ScenarioError> {
    let n_stores = p.num("stores");
    let n_regions = p.num("regions");
    let large_regions = p.num("large_txn_regions");
    if large_regions > n_regions {
        return Err(ScenarioError::BadValue {
            name: "large_txn_regions".into(),
            value: large_regions.to_string(),
            reason: format!("must be at most regions ({n_regions})"),
        });
    }
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
            p.num("region_split_size") << 20,
        )),
    });
    let store_ids: Vec<u64> = (1..=n_stores).collect();
    let (regions, last_peer_id) = super::pre_split_regions(n_regions, KEYS_PER_REGION, |rid| {
        (0..3).map(|k| (rid - 1 + k) % n_stores + 1).collect()
    });
    let rts_cfg = ResolvedTsConfig {
        advance_ts_interval: p.num("advance_ts_interval") * MS,
        mode: mode_of(p.choice("fix")),
        scan_cost_per_record: 2,
        cdc_downstream: Some(CDC_CLIENT),
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
            st.set_memory_limit(16 << 30);
            st.enable_resolved_ts(rts_cfg);
        },
    );
    for st in stores.values_mut() {
        st.start_timers(ctx);
    }
    let pd = Pd::new(
        PdConfig {
            schedule_interval: SEC,
            hot_region_scheduler_from: None,
            hot_write_bytes_threshold: u64::MAX,
            balance_leader: false,
            leader_rules: Vec::new(),
            merge: None,
        },
        &regions,
        &store_ids,
        last_peer_id + 1000,
    );
    pd.start(ctx);
    let ranges: Vec<(u64, u64)> = (0..n_regions)
        .map(|i| (i * KEYS_PER_REGION, KEYS_PER_REGION))
        .collect();
    let mut tidb = PipelinedWorkload::new(
        PipelinedConfig {
            writers: p.num("writers") as u32,
            think_time: p.num("think_time") * MS,
            stale_readers: p.num("stale_readers") as u32,
            stale_read_interval: 200 * MS,
            staleness_ms: p.num("staleness"),
            large_txn_size: p.num("large_txn_size"),
            large_txn_duration: p.num("large_txn_duration") * MS,
            generation_size: p.num("generation_size"),
            heartbeat_interval: p.num("heartbeat_interval") * MS,
            large_txn_start: p.num("large_txn_start") * MS,
            large_txn_pause: p.num("large_txn_pause") * MS,
            large_txn_ranges: ranges[..large_regions as usize].to_vec(),
            write_ranges: ranges.clone(),
            client_dies: p.choice("client_dies") == "yes",
            stores: store_ids.clone(),
        },
        &pd,
        FIRST_PD_CLIENT_ID,
        0,
    );
    tidb.start(ctx);
    let capture = CdcConsumer::new(CDC_CLIENT, FIRST_PD_CLIENT_ID + 1);
    capture.start(ctx);
    let workloads: Vec<Box<dyn crate::client::Workload>> = vec![Box::new(tidb), Box::new(capture)];
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
                restart_delay: 10 * SEC,
                kills: Vec::new(),
            },
        },
        faults: Vec::new(),
    })
}
