//! Scenario `deadlock-detector-oom`: TiKV issue 17394 (and 19846), fixed by
//! PR 17500 and PR 20002; two never-merged proposals for comparison.
//!
//! Many pessimistic transactions lock a few hot keys in a region whose leader
//! is on a store that is not the deadlock detector's leader (the detector
//! leader is the store holding the leader of the first region). Each lock
//! handoff re-points every waiter of the key: per waiter, the waiter manager
//! sends a `CleanUpWaitFor` for the old edge and a `Detect` for the new one,
//! and on a follower both go to the remote detector over one unbounded stream.
//! The stream drains only as fast as the leader's single `deadlock-det`
//! thread does each request's table work (and HTTP/2 flow control lets the
//! follower send), so the backlog grows with every handoff,
//! the store's memory grows with it, and the OOM killer ends the process.

use std::rc::Rc;

use crate::client::metrics as cm;
use crate::client::txn::{SessionWorkload, TxnWorkloadConfig, WorkloadKind};
use crate::client::FIRST_PD_CLIENT_ID;
use crate::env::metrics::OOM_KILLS;
use crate::env::oom::OomKiller;
use crate::env::{DiskConfig, Network, NetworkConfig};
use crate::kernel::time::{MS, SEC};
use crate::lock_manager::metrics as lm;
use crate::lock_manager::{LockManagerConfig, UpdateWaitForFix};
use crate::pd::{Pd, PdConfig};
use crate::proto::Ctx;
use crate::raftstore::{RaftstoreConfig, TransferLeaderCheck};
use crate::scenario::{
    Alarm, Built, Choice, CounterSpec, PageLayout, Panel, ParamSpec, ParamValue, Params, Scenario,
    ScenarioError, ScenarioSpec, Story, Unit,
};
use crate::world::World;

/// Scenario id.
pub const ID: &str = "deadlock-detector-oom";

/// Keys per region.
pub const KEYS_PER_REGION: u64 = 1024;
/// Regions: region 1 holds `LEADER_KEY` (its leader is the detector leader),
/// region 2 is the contended table, regions 3 and 4 hold the bank accounts'
/// other halves.
pub const REGIONS: u64 = 4;
/// The contended ("test table") region.
pub const TABLE_REGION: u64 = 2;

/// The scenario's description and parameters.
pub const SPEC: ScenarioSpec = ScenarioSpec {
    id: ID,
    title: "Deadlock-detector backlog and OOM",
    source: "TiKV issue 17394 (7.1-8.5, high-concurrency lock contention) and 19846; fixes: TiKV PR 17500, PR 20002; proposals PR 17451 (batching) and flow control",
    story: Story {
        what_happens: "Hundreds of pessimistic transactions each lock their own row and then one of a few hot keys, \
hold it briefly, then prewrite and commit. The hot keys live in a region whose leader is on a store that is not the \
deadlock detector's leader (the detector leader is the store holding the leader of the first region). Every \
transaction that waits registers a waiter in that store's waiter manager, and because the hot key is not its first \
lock, a Detect goes to the detector. When the key's owner changes, TiKV's LockWaitQueues::update_lock_wait emits one \
UpdateWaitForEvent per queued waiter, and the waiter manager re-points each one: a CleanUpWaitFor for the old edge and \
a Detect for the new one, 2N messages per handoff, not batched. On a follower they all go into one unbounded channel \
feeding one gRPC stream to the detector leader. The stream drains only as fast as the leader's one deadlock-det thread \
does each request's table work, and HTTP/2 flow control holds the rest on the follower; the backlog, and the store's \
memory with it, grows with every handoff until the OOM killer ends the process. It restarts, losing its in-memory \
pessimistic locks and waiters; clients see errors, retry, and the backlog starts growing again.",
        what_to_watch: "The backlog panel: detector_stream depth on the hot region's leader store, with messages in \
per second far above messages out. The memory chart: that store's lock_manager band climbing to the limit line, then \
the OOM marker and the restart. The wait-for graph: waiters fanned in on each hot key, the edges re-pointed at every \
handoff; the detector leader's table beside it. Drag the transactions slider: the growth rate follows the number of \
waiters per key. Set placement=colocated: the detector is local, nothing queues for the network, nothing grows.",
        what_the_fix_changes: "none is TiKV 7.0-8.3 (issue 17394): every owner change re-points every waiter, 2N \
DeadlockRequests per handoff. non-fair-noop is PR 17500: update_wait_for is a no-op for waiters without fair locking \
(allow_lock_with_conflict=false), as before 7.0; with fair_locking=on the growth stays (issue 19846). \
skip-detect-on-owner-change is PR 20002: a fair waiter sends one CleanUpWaitFor for its registered edge at its first \
owner change and no new Detect, later changes send nothing; the cost is that a deadlock formed by an owner change is \
found only when the wait times out (wait-for-lock-timeout) and the client retries. batching is PR 17451's proposal \
(closed, judged too risky): one ReplaceLocksByKeys message per handoff, the leader re-points the edges itself; the \
cost is a protocol change both sides must understand and a leader that does N edge moves and detections per message. \
backpressure is a bounded stream queue (8192 requests): when full, new requests are dropped and counted; a dropped \
Detect means a deadlock is found only by the wait timing out, a dropped CleanUpWaitFor leaves an edge that expires \
after its TTL; memory stays bounded.",
    },
    params: &[
        ParamSpec::number("stores", "Stores", Unit::Count, "3", 2, 5, "TiKV stores (at least 2: the article's reproduction needs the hot region's leader and the first region's leader on different stores)"),
        ParamSpec::number("txns", "Concurrent transactions", Unit::Count, "300", 1, 1000, "Concurrent transactions: client sessions, each running one pessimistic transaction after another (the lock-contention slider)"),
        ParamSpec::number("hot_keys", "Hot keys", Unit::Count, "4", 1, 64, "Hot keys the transactions contend for; waiters per key is about txns / hot_keys"),
        ParamSpec::number("lock_hold_time", "Lock hold time", Unit::Millis, "5", 0, 10_000, "How long a transaction holds its hot-key lock before it prewrites (its work between statements)"),
        ParamSpec {
            name: "fair_locking",
            label: "Fair locking (allow_lock_with_conflict)",
            unit: Unit::Choice,
            default: "off",
            meaning: "TiDB's tidb_pessimistic_txn_fair_locking: lock requests carry allow_lock_with_conflict",
            range: None,
            choices: &[
            Choice::new("off", "off", "legacy wake-up: the woken waiter retries; the others are woken after wake-up-delay-duration with WriteConflict"),
            Choice::new("on", "on", "fair locking: the head waiter is resumed and acquires the lock directly (lock with conflict)"),
            ],
        },
        ParamSpec {
            name: "placement",
            label: "Placement",
            unit: Unit::Choice,
            default: "remote",
            meaning: "Where the contended region's leader is, relative to the detector leader (the first region's leader)",
            range: None,
            choices: &[
            Choice::new("remote", "remote", "on another store, as the article's placement rule: detect requests cross the network"),
            Choice::new("colocated", "colocated", "on the detector leader's store: detection is local, nothing queues for the network"),
            ],
        },
        ParamSpec::number("memory_limit", "Memory limit", Unit::Mebibytes, "256", 64, 65_536, "Memory of each TiKV process before the OOM killer ends it; 45% of it is the block cache (storage.block-cache.capacity default)"),
        ParamSpec {
            name: "fix",
            label: "Fix",
            unit: Unit::Choice,
            default: "none",
            meaning: "How the waiter manager handles an owner change (handle_update_wait_for)",
            range: None,
            choices: &[
            Choice::new("none", "none (as reported)", "TiKV 7.0-8.3, issue 17394: CleanUpWaitFor + Detect for every waiter on every handoff"),
            Choice::new("non-fair-noop", "non-fair-noop", "PR 17500: no messages for waiters without fair locking"),
            Choice::new("skip-detect-on-owner-change", "skip-detect-on-owner-change", "PR 20002: a fair waiter sends at most one CleanUpWaitFor and no new Detect"),
            Choice::new("batching", "batching", "PR 17451 (never merged): one ReplaceLocksByKeys message per handoff"),
            Choice::new("backpressure", "backpressure", "a bounded stream queue (8192): when full, requests are dropped and counted"),
            ],
        },
        ParamSpec {
            name: "workload",
            label: "Workload",
            unit: Unit::Choice,
            default: "hot-keys",
            meaning: "What the client sessions run",
            range: None,
            choices: &[
            Choice::new("hot-keys", "hot-keys", "lock an own row, then a hot key; hold; prewrite; commit (the article's test)"),
            Choice::new("bank", "bank", "transfers between accounts (pessimistic and optimistic), with audits of the total"),
            Choice::new("cycle", "cycle", "pairs of sessions locking two keys in opposite orders: real deadlocks"),
            ],
        },
        ParamSpec::number("wait_for_lock_timeout", "Wait-for-lock timeout", Unit::Millis, "1000", 1, 60_000, "pessimistic-txn.wait-for-lock-timeout (TiKV default 1 s): longest wait, and the detect table's edge TTL"),
        ParamSpec::number("wake_up_delay_duration", "Wake-up delay", Unit::Millis, "20", 0, 10_000, "pessimistic-txn.wake-up-delay-duration (TiKV default 20 ms): delay before the other legacy waiters are woken"),
        ParamSpec::number("oom_restart_delay", "Restart after OOM", Unit::Millis, "10000", 0, 600_000, "Time from an OOM kill to the process serving again (systemd restart and TiKV start)"),
        ParamSpec::number("disk_latency", "Disk fsync latency", Unit::Micros, "1000", 10, 1_000_000, "Latency of one synced write batch (fsync)"),
        super::NET_LATENCY,
        ParamSpec::number("net_jitter", "Network jitter", Unit::Micros, "100", 0, 1_000_000, "Extra random one-way delay, drawn uniformly in 0..=jitter"),
        ParamSpec::number("net_bandwidth", "Network bandwidth", Unit::MegabytesPerSec, "1250", 1, 100_000, "Bandwidth of each directed link between two nodes (1250 MB/s: a 10 Gbit/s NIC); messages on one link queue behind each other"),
    ],
    live: &["txns", "hot_keys", "lock_hold_time", "fix", "fair_locking"],
    layout: PageLayout {
        left: &[
            Panel::LiveControls,
            Panel::FaultInjection,
            Panel::Parameters,
            Panel::Story,
        ],
        center: &[
            Panel::WaitForGraph,
            Panel::LockManagerQueues,
            Panel::DetectorBacklogChart,
            Panel::ClusterMap,
            Panel::RaftGroup,
        ],
        right: &[
            Panel::Counters,
            Panel::MemoryCharts,
            Panel::MemoryTree,
            Panel::ClientCharts,
        ],
    },
    featured: &["placement", "workload", "memory_limit"],
    counters: &[
        CounterSpec {
            counter: cm::TXN_COMMITTED,
            label: "txns committed",
            meaning: "Transactions committed",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: cm::TXN_ROLLED_BACK,
            label: "rolled back",
            meaning: "Transactions rolled back",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: lm::DEADLOCKS_DETECTED,
            label: "deadlocks",
            meaning: "Deadlocks found by the detector leader",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: lm::LOCK_WAIT_TIMEOUTS,
            label: "wait timeouts",
            meaning: "Lock waits that reached wait-for-lock-timeout",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: lm::DETECT_REQUESTS_SENT,
            label: "detect sent",
            meaning: "DeadlockRequest Detect scheduled to the detector",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: lm::CLEAN_UP_WAIT_FOR_SENT,
            label: "clean-up-wait-for",
            meaning: "DeadlockRequest CleanUpWaitFor scheduled to the detector",
            alarm: Alarm::Neutral,
        },
        CounterSpec {
            counter: lm::DETECTOR_REQUESTS_DROPPED,
            label: "requests dropped",
            meaning: "Detector requests dropped (a bounded stream, a lost stream, or no leader found)",
            alarm: Alarm::BadWhenNonZero,
        },
        CounterSpec {
            counter: OOM_KILLS,
            label: "OOM kills",
            meaning: "Stores killed by the OOM killer",
            alarm: Alarm::BadWhenNonZero,
        },
    ],
};

/// The scenario (see the module docs).
pub struct DeadlockDetectorOom;

impl Scenario for DeadlockDetectorOom {
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

    /// The contention sliders change the sessions; `fix` changes every
    /// store's lock manager.
    fn set_live(
        &self,
        world: &mut World,
        ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError> {
        let World {
            workloads, stores, ..
        } = world;
        let sessions = workloads
            .iter_mut()
            .find_map(|w| w.as_any_mut().downcast_mut::<SessionWorkload>());
        match (name, value, sessions) {
            ("txns", ParamValue::Number(n), Some(w)) => w.set_sessions(ctx, *n as u32),
            ("hot_keys", ParamValue::Number(n), Some(w)) => w.cfg.hot_keys = *n,
            ("lock_hold_time", ParamValue::Number(n), Some(w)) => w.cfg.lock_hold_time = n * MS,
            ("fair_locking", ParamValue::Choice(c), Some(w)) => w.cfg.fair_locking = *c == "on",
            ("fix", ParamValue::Choice(c), _) => {
                let fix = fix_of(c);
                for st in stores.values_mut() {
                    if let Some(lm) = st.lock_manager.as_mut() {
                        lm.set_fix(fix);
                    }
                }
            }
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

/// The `fix` parameter as the lock manager's switch.
pub fn fix_of(name: &str) -> UpdateWaitForFix {
    match name {
        "non-fair-noop" => UpdateWaitForFix::NonFairNoop,
        "skip-detect-on-owner-change" => UpdateWaitForFix::SkipDetectOnOwnerChange,
        "batching" => UpdateWaitForFix::Batching,
        "backpressure" => UpdateWaitForFix::Backpressure,
        _ => UpdateWaitForFix::None,
    }
}

/// Builds the world: stores, the four regions, PD, the client sessions.
fn build(p: &Params, ctx: &mut Ctx, logger: &slog::Logger) -> Result<Built, ScenarioError> {
    let n_stores = p.num("stores");
    let cfg = Rc::new(RaftstoreConfig {
        raft_base_tick_interval: SEC,
        raft_election_timeout_ticks: 10,
        raft_heartbeat_ticks: 2,
        leader_transfer_max_log_lag: 128,
        pd_heartbeat_tick_interval: 10 * SEC,
        pd_store_heartbeat_tick_interval: 10 * SEC,
        raft_log_gc_tick_interval: 3 * SEC,
        raft_log_gc_keep: 256,
        engine: crate::raftstore::snap::EngineKind::RaftKv,
        split_check: None,
    });
    let lm_cfg = LockManagerConfig {
        wait_for_lock_timeout: p.num("wait_for_lock_timeout") * MS,
        wake_up_delay_duration: p.num("wake_up_delay_duration") * MS,
        fix: fix_of(p.choice("fix")),
    };
    let memory_limit = p.num("memory_limit") << 20;
    let store_ids: Vec<u64> = (1..=n_stores).collect();
    // Region 1 (LEADER_KEY) leads on store 1: the detector leader. The table
    // region leads on store 2 (remote) or store 1 (colocated).
    let table_leader = if p.choice("placement") == "colocated" {
        1
    } else {
        2
    };
    let (regions, last_peer_id) = super::pre_split_regions(REGIONS, KEYS_PER_REGION, |rid| {
        let leader_store = match rid {
            1 => 1,
            TABLE_REGION => table_leader,
            _ => (rid - 1) % n_stores + 1,
        };
        let mut stores_of = vec![leader_store];
        for k in 0..n_stores {
            let s = (leader_store + k) % n_stores + 1;
            if !stores_of.contains(&s) && stores_of.len() < 3 {
                stores_of.push(s);
            }
        }
        stores_of
    });
    let (mut stores, disks) = super::bootstrap_stores(
        ctx,
        &store_ids,
        &cfg,
        DiskConfig {
            latency: p.num("disk_latency"),
            bandwidth_bytes_per_sec: 500 * 1_000_000,
        },
        &regions,
        logger,
        |st| {
            st.raftstore.transfer_leader_check = TransferLeaderCheck::RelaxedCheck;
            st.set_memory_limit(memory_limit);
            st.enable_lock_manager(lm_cfg.clone());
        },
    );
    if p.choice("workload") == "bank" {
        let accounts_regions: Vec<u64> = (TABLE_REGION..=REGIONS)
            .map(|r| (r - 1) * KEYS_PER_REGION)
            .collect();
        let probe = TxnWorkloadConfig {
            kind: WorkloadKind::Bank,
            sessions: 0,
            hot_keys: 1,
            lock_hold_time: 0,
            fair_locking: false,
            table_start: 0,
            accounts_regions,
            request_timeout: SEC,
        };
        let rows: Vec<(u64, i64)> = probe
            .bank_accounts()
            .into_iter()
            .map(|k| (k, crate::client::txn::INITIAL_BALANCE))
            .collect();
        for st in stores.values_mut() {
            st.load_initial_data(&rows, 2);
        }
    }
    for st in stores.values() {
        st.start_timers(ctx);
    }
    let pd = Pd::new(
        PdConfig {
            schedule_interval: SEC,
            hot_region_scheduler_from: None,
            hot_write_bytes_threshold: u64::MAX,
            balance_leader: false,
            leader_rules: vec![(1, 1), (TABLE_REGION, table_leader)],
            merge: None,
        },
        &regions,
        &store_ids,
        last_peer_id + 1000,
    );
    pd.start(ctx);
    let table = &regions[(TABLE_REGION - 1) as usize].0;
    let kind = match p.choice("workload") {
        "bank" => WorkloadKind::Bank,
        "cycle" => WorkloadKind::Cycle,
        _ => WorkloadKind::HotKeys,
    };
    let mut sessions = SessionWorkload::new(
        TxnWorkloadConfig {
            kind,
            sessions: p.num("txns") as u32,
            hot_keys: p.num("hot_keys"),
            lock_hold_time: p.num("lock_hold_time") * MS,
            fair_locking: p.choice("fair_locking") == "on",
            table_start: table.start_key,
            accounts_regions: (TABLE_REGION..=REGIONS)
                .map(|r| (r - 1) * KEYS_PER_REGION)
                .collect(),
            request_timeout: 5 * SEC,
        },
        &pd,
        ctx.rng,
        FIRST_PD_CLIENT_ID,
    );
    sessions.start(ctx);
    let network = Network::new(NetworkConfig {
        latency: p.num("net_latency"),
        jitter: p.num("net_jitter"),
        drop_ppm: 0,
        bandwidth_bytes_per_sec: p.num("net_bandwidth") * 1_000_000,
    });
    Ok(Built {
        world: World {
            stores,
            disks,
            network,
            pd,
            workloads: vec![Box::new(sessions)],
            pools: Default::default(),
            focus_region: TABLE_REGION,
            focus_is_hot: true,
            aborts: Vec::new(),
            oom: OomKiller {
                restart_delay: p.num("oom_restart_delay") * MS,
                kills: Vec::new(),
            },
        },
        faults: Vec::new(),
    })
}
