//! Scenario `io-hang-transfer-leader`: TiKV issue 17363, fixed by PR 17643.
//!
//! A TPCC-like write load runs on a small cluster. PD's hot-region scheduler
//! moves a peer of the hot region (add learner, promote, remove: conf changes)
//! just as the disk of the store holding that region's leader hangs. The leader
//! cannot persist or apply the conf change, so its `pending_conf_index` stays
//! above its applied index. PD's evict-slow-store scheduler sees the store's
//! slow score reach 100 and tries, again and again, to move the leader away;
//! before the fix raftstore refuses every time ("reject transfer leader due to
//! pending conf change") and the region, then the whole closed-loop workload,
//! stalls. With `fix=relaxed-check` only the transferee must have applied the
//! conf change, so the leader leaves the hung store and QPS comes back while
//! the disk is still hung.

use std::rc::Rc;

use crate::client::raw::{RawWorkload, WorkloadConfig};
use crate::client::FIRST_PD_CLIENT_ID;
use crate::env::oom::OomKiller;
use crate::env::{DiskConfig, Fault, Network, NetworkConfig};
use crate::kernel::time::{MS, SEC};
use crate::pd::{Pd, PdConfig};
use crate::proto::Ctx;
use crate::raftstore::metrics as rm;
use crate::raftstore::{RaftstoreConfig, TransferLeaderCheck};
use crate::scenario::{
    Alarm, Built, Choice, CounterSpec, PageLayout, Panel, ParamSpec, ParamValue, Params, Scenario,
    ScenarioError, ScenarioSpec, Story, Unit,
};
use crate::world::World;

/// Scenario id.
pub const ID: &str = "io-hang-transfer-leader";

/// Keys per region in the simulated keyspace.
pub const KEYS_PER_REGION: u64 = 1024;

/// The scenario's description and parameters.
pub const SPEC: ScenarioSpec = ScenarioSpec {
    id: ID,
    title: "IO hang pins a leader",
    source: "TiKV issue 17363 (v8.3.0-alpha, TPCC, one TiKV's IO hung); fix: TiKV PR 17643",
    story: Story {
        what_happens: "A TPCC-like load writes to every region; one region is hot. PD's hot-region scheduler \
moves one of the hot region's peers to another store: AddLearnerNode, then promote, then remove, each a Raft conf \
change the leader proposes. The disk of the store holding the hot region's leader hangs. The leader still appends \
and replicates the conf change entry, and the followers commit it, but the leader can neither persist nor apply it: \
its applied index freezes below its pending_conf_index. The store's slow score climbs to 100, PD's evict-slow-store \
scheduler starts moving its leaders away, and every region leaves except the hot one: raftstore answers each \
transfer request with \"reject transfer leader due to pending conf change\". Every client thread ends up waiting on \
the hot region, so cluster QPS falls to zero and stays there for the whole hang.",
        what_to_watch: "The cluster map (the hung disk, the leader that does not move). The Raft group panel of the \
hot region: the leader's persisted and applied indices stop while the followers' committed and applied indices pass \
the conf change entry; pending conf index stays above the leader's applied index; transfer-leader attempts pile up as \
rejected. PD's operators: evict-slow-store operators time out one after another; move-hot-write-peer is stuck on its \
first step. The QPS chart inside the shaded hang window, and the log (filter on level info, region of the hot region).",
        what_the_fix_changes: "fix=none is TiKV before PR 17643: pre_transfer_leader refuses while the leader itself \
has a pending conf change, which an IO hang makes permanent. fix=relaxed-check is PR 17643: the transferee's ack \
carries its applied index and the leader only requires that index to be at least pending_conf_index; the leader's \
own unapplied conf change no longer blocks (it logs \"transfer leader with pending conf on current leader\"). Safety \
holds because a transferee that has applied the conf change campaigns with the new configuration, and raft-rs's own \
guard (no campaign with unapplied conf entries) still applies. The leader moves to a healthy store within one PD \
scheduling round after the slow score reaches 100, and QPS recovers while the disk is still hung.",
    },
    params: &[
        ParamSpec::number("stores", "Stores", Unit::Count, "4", 4, 5, "TiKV stores (at least 4, so that PD has a store to move the hot region's peer to)"),
        ParamSpec::number("regions", "Regions", Unit::Count, "8", 2, 32, "Regions, pre-split over the keyspace (1024 keys each), 3 replicas each"),
        ParamSpec::number("clients", "Client threads", Unit::Count, "32", 0, 256, "Closed-loop client threads (the incident ran TPCC with 32 threads)"),
        ParamSpec::number("think_time", "Think time", Unit::Millis, "40", 0, 10_000, "Pause of a client thread between two writes"),
        ParamSpec::number("hot_write_ratio", "Hot write share", Unit::Percent, "40", 0, 100, "Share of writes aimed at the hot region"),
        ParamSpec::number("hang_store", "IO hang store", Unit::StoreId, "3", 1, 5, "Store whose disk hangs; the hot region's leader starts there"),
        ParamSpec::number("hang_start", "IO hang start", Unit::Millis, "40000", 0, 3_600_000, "When the IO hang begins"),
        ParamSpec::number("hang_duration", "IO hang duration", Unit::Millis, "300000", 0, 3_600_000, "How long the IO hang lasts (0 = no hang)"),
        ParamSpec::number("peer_move_at", "Hot-region scheduler from", Unit::Millis, "41000", 0, 3_600_000, "When PD's hot-region scheduler is enabled (pd-ctl scheduler add hot-region-scheduler); it moves a peer of the hottest region once that region has been hot for 3 region heartbeats in a row (from about 30 s with the 10 s heartbeat)"),
        super::DISK_LATENCY,
        ParamSpec::number("disk_bandwidth", "Disk bandwidth", Unit::MegabytesPerSec, "200", 1, 10_000, "Sequential write bandwidth of each disk"),
        super::NET_LATENCY,
        super::NET_JITTER,
        ParamSpec::number("net_bandwidth", "Network bandwidth", Unit::MegabytesPerSec, "1250", 1, 100_000, "Bandwidth of each directed link between two nodes (1250 MB/s: a 10 Gbit/s NIC); messages on one link queue behind each other"),
        ParamSpec {
            name: "fix",
            label: "Fix",
            unit: Unit::Choice,
            default: "none",
            meaning: "Transfer-leader check in raftstore",
            range: None,
            choices: &[
            Choice::new("none", "none (before PR 17643)", "before TiKV PR 17643: reject while the leader has a pending conf change"),
            Choice::new("relaxed-check", "relaxed-check (PR 17643)", "TiKV PR 17643: require only the transferee's applied index >= pending_conf_index"),
            ],
        },
        ParamSpec::number("raft_base_tick_interval", "Raft base tick", Unit::Millis, "1000", 10, 10_000, "raftstore.raft-base-tick-interval (TiKV default 1 s)"),
        ParamSpec::number("raft_election_timeout_ticks", "Election timeout", Unit::Ticks, "10", 3, 100, "raftstore.raft-election-timeout-ticks (TiKV default 10)"),
        ParamSpec::number("raft_heartbeat_ticks", "Heartbeat interval", Unit::Ticks, "2", 1, 50, "raftstore.raft-heartbeat-ticks (TiKV default 2)"),
        ParamSpec::number("leader_transfer_max_log_lag", "Transfer max log lag", Unit::Count, "128", 1, 100_000, "raftstore.leader-transfer-max-log-lag (TiKV default 128)"),
        ParamSpec::number("pd_heartbeat_tick_interval", "Region heartbeat interval", Unit::Millis, "10000", 1000, 600_000, "raftstore.pd-heartbeat-tick-interval: region heartbeats (TiKV default 60 s; 10 s here so the story fits in minutes)"),
        ParamSpec::number("client_timeout", "Client timeout", Unit::Millis, "2000", 10, 60_000, "How long a client waits for a write's response before backing off and retrying"),
        ParamSpec::number("random_faults", "Random faults", Unit::Count, "0", 0, 50, "Extra random faults (crash + restart, partition, IO hang) drawn from the seed between 10 s and 190 s"),
        ParamSpec::number("memory_limit", "Memory limit", Unit::Mebibytes, "32768", 64, 1_048_576, "Memory of each TiKV process before the OOM killer ends it (the incident's TiKVs had 32 GB); 45% of it is the block cache (storage.block-cache.capacity default)"),
        ParamSpec::number("oom_restart_delay", "Restart after OOM", Unit::Millis, "10000", 0, 600_000, "Time from an OOM kill to the process serving again (systemd restart and TiKV start)"),
    ],
    live: &["fix"],
    layout: PageLayout {
        left: &[
            Panel::LiveControls,
            Panel::FaultInjection,
            Panel::Parameters,
            Panel::Story,
        ],
        center: &[Panel::ClusterMap, Panel::RaftGroup],
        right: &[
            Panel::Counters,
            Panel::ClientCharts,
            Panel::WhyStuck,
            Panel::Operators,
        ],
    },
    featured: &["hang_store", "hang_start", "hang_duration"],
    counters: &[
        CounterSpec {
            counter: rm::TRANSFER_LEADER_ATTEMPTS,
            label: "transfer attempts",
            meaning: "Transfer-leader requests received by leaders",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: rm::TRANSFER_LEADER_REJECTED_PENDING_CONF,
            label: "rejected (pending conf)",
            meaning: "\"reject transfer leader due to pending conf change\" (and, with the fix, \"transferee has an unapplied conf change\")",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: rm::TRANSFER_LEADER_SUCCEEDED,
            label: "transfers succeeded",
            meaning: "Transferees that became leader",
            alarm: Alarm::GoodWhenNonZero,
        },
    ],
};

/// The scenario (see the module docs).
pub struct IoHangTransferLeader;

impl Scenario for IoHangTransferLeader {
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

    /// `fix` switches every store's transfer-leader check.
    fn set_live(
        &self,
        world: &mut World,
        _ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError> {
        match (name, value) {
            ("fix", ParamValue::Choice(c)) => {
                for st in world.stores.values_mut() {
                    st.raftstore.transfer_leader_check = fix_of(c);
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

/// The `fix` parameter as raftstore's transfer-leader check.
fn fix_of(name: &str) -> TransferLeaderCheck {
    match name {
        "relaxed-check" => TransferLeaderCheck::RelaxedCheck,
        _ => TransferLeaderCheck::BeforeFix,
    }
}

/// Builds the world: stores with bootstrapped peers, PD, clients, and the faults.
fn build(p: &Params, ctx: &mut Ctx, logger: &slog::Logger) -> Result<Built, ScenarioError> {
    let n_stores = p.num("stores");
    let n_regions = p.num("regions");
    let hang_store = p.num("hang_store");
    if hang_store > n_stores {
        return Err(ScenarioError::BadValue {
            name: "hang_store".into(),
            value: hang_store.to_string(),
            reason: format!("must be a store id in 1..={n_stores}"),
        });
    }
    let fix = fix_of(p.choice("fix"));
    let cfg = Rc::new(RaftstoreConfig {
        raft_base_tick_interval: p.num("raft_base_tick_interval") * MS,
        raft_election_timeout_ticks: p.num("raft_election_timeout_ticks") as usize,
        raft_heartbeat_ticks: p.num("raft_heartbeat_ticks") as usize,
        leader_transfer_max_log_lag: p.num("leader_transfer_max_log_lag"),
        pd_heartbeat_tick_interval: p.num("pd_heartbeat_tick_interval") * MS,
        pd_store_heartbeat_tick_interval: 10 * SEC,
        raft_log_gc_tick_interval: 3 * SEC,
        raft_log_gc_keep: 256,
        engine: crate::raftstore::snap::EngineKind::RaftKv,
        split_check: None,
    });
    let hot_region = n_regions.min(4);
    let store_ids: Vec<u64> = (1..=n_stores).collect();

    // Placement: region i gets stores i, i+1, i+2 (mod n), leader on the first;
    // the hot region gets the hang store (as leader) and the two lowest other stores.
    let (regions, last_peer_id) = super::pre_split_regions(n_regions, KEYS_PER_REGION, |rid| {
        if rid == hot_region {
            let mut others: Vec<u64> = store_ids
                .iter()
                .copied()
                .filter(|&s| s != hang_store)
                .take(2)
                .collect();
            others.insert(0, hang_store);
            others
        } else {
            (0..3).map(|k| (rid - 1 + k) % n_stores + 1).collect()
        }
    });
    let (stores, disks) = super::bootstrap_stores(
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
            st.raftstore.transfer_leader_check = fix;
            st.set_memory_limit(p.num("memory_limit") << 20);
        },
    );
    for st in stores.values() {
        st.start_timers(ctx);
    }
    let pd = Pd::new(
        PdConfig {
            schedule_interval: SEC,
            hot_region_scheduler_from: Some(p.num("peer_move_at") * MS),
            hot_write_bytes_threshold: 32 * 1024,
            balance_leader: true,
            leader_rules: Vec::new(),
            merge: None,
        },
        &regions,
        &store_ids,
        last_peer_id + 1000,
    );
    pd.start(ctx);
    let hot_meta = &regions[(hot_region - 1) as usize].0;
    let mut workload = RawWorkload::new(
        WorkloadConfig {
            clients: p.num("clients") as u32,
            think_time: p.num("think_time") * MS,
            hot_write_ratio: p.num("hot_write_ratio"),
            insert_ratio: 0,
            hot_range: (
                hot_meta.start_key,
                hot_meta.end_key.min(n_regions * KEYS_PER_REGION),
            ),
            keyspace: n_regions * KEYS_PER_REGION,
            keyspace_start: 0,
            value_len: 256,
            request_timeout: p.num("client_timeout") * MS,
            max_backoff: 20 * SEC,
            reads: None,
            first_client: 0,
            // The TPCC threads run through one TiDB instance (one region cache).
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
    if p.num("hang_duration") > 0 {
        faults.push(Fault::IoHang {
            store: hang_store,
            start: p.num("hang_start") * MS,
            duration: p.num("hang_duration") * MS,
        });
    }
    for _ in 0..p.num("random_faults") {
        let store = ctx.rng.range(1, n_stores + 1);
        let start = ctx.rng.range(10 * SEC, 190 * SEC);
        let duration = ctx.rng.range(2 * SEC, 30 * SEC);
        faults.push(match ctx.rng.below(3) {
            0 => Fault::Crash {
                store,
                start,
                duration,
            },
            1 => Fault::Partition {
                store,
                start,
                duration,
            },
            _ => Fault::IoHang {
                store,
                start,
                duration,
            },
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
            focus_region: hot_region,
            focus_is_hot: true,
            aborts: Vec::new(),
            oom: OomKiller {
                restart_delay: p.num("oom_restart_delay") * MS,
                kills: Vec::new(),
            },
        },
        faults,
    })
}
