//! Any valid parameter combination runs without a panic and without an
//! invariant violation.

use proptest::prelude::*;

use kvscope_core::time::SEC;
use kvscope_core::Simulation;

fn settings() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        (4u64..=5, 2u64..=12, 0u64..=64, 0u64..=200, 0u64..=100),
        (1u64..=4, 0u64..=30_000, 0u64..=40_000, 0u64..=40_000),
        (10u64..=20_000, 0u64..=5_000, 0u64..=5_000, any::<bool>()),
        (3u64..=20, 1u64..=3, 100u64..=2_000, 0u64..=6),
    )
        .prop_map(
            |(
                (stores, regions, clients, think, hot),
                (hang_store, hang_start, hang_dur, move_at),
                (disk, net, jitter, relaxed),
                (election, heartbeat, tick, faults),
            )| {
                let heartbeat = heartbeat.min(election - 1);
                [
                    ("stores", stores.to_string()),
                    ("regions", regions.to_string()),
                    ("clients", clients.to_string()),
                    ("think_time", think.to_string()),
                    ("hot_write_ratio", hot.to_string()),
                    ("hang_store", hang_store.min(stores).to_string()),
                    ("hang_start", hang_start.to_string()),
                    ("hang_duration", hang_dur.to_string()),
                    ("peer_move_at", move_at.to_string()),
                    ("disk_latency", disk.to_string()),
                    ("net_latency", net.to_string()),
                    ("net_jitter", jitter.to_string()),
                    (
                        "fix",
                        if relaxed { "relaxed-check" } else { "none" }.to_string(),
                    ),
                    ("raft_election_timeout_ticks", election.to_string()),
                    ("raft_heartbeat_ticks", heartbeat.to_string()),
                    ("raft_base_tick_interval", tick.to_string()),
                    ("random_faults", faults.to_string()),
                ]
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_parameters_run_cleanly(seed in any::<u64>(), overrides in settings()) {
        let mut sim = Simulation::new("io-hang-transfer-leader", seed, &overrides).expect("valid settings");
        sim.run_until(60 * SEC);
        prop_assert!(sim.violations().is_empty(), "{overrides:?}: {:?}", sim.violations());
        let view = kvscope_core::views::cluster::cluster_view(&sim);
        prop_assert!(!view.stores.is_empty());
        prop_assert!(view.regions.iter().all(|r| !r.peers.is_empty()));
    }
}

fn lock_settings() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        (2u64..=5, 1u64..=300, 1u64..=16, 0u64..=50),
        (
            prop::sample::select(vec!["off", "on"]),
            prop::sample::select(vec!["remote", "colocated"]),
            prop::sample::select(vec![
                "none",
                "non-fair-noop",
                "skip-detect-on-owner-change",
                "batching",
                "backpressure",
            ]),
            prop::sample::select(vec!["hot-keys", "bank", "cycle"]),
        ),
        (64u64..=512, 1u64..=3000, 0u64..=100),
    )
        .prop_map(
            |(
                (stores, txns, hot, hold),
                (fair, placement, fix, workload),
                (mem, timeout, wake),
            )| {
                [
                    ("stores", stores.to_string()),
                    ("txns", txns.to_string()),
                    ("hot_keys", hot.to_string()),
                    ("lock_hold_time", hold.to_string()),
                    ("fair_locking", fair.to_string()),
                    ("placement", placement.to_string()),
                    ("fix", fix.to_string()),
                    ("workload", workload.to_string()),
                    ("memory_limit", mem.to_string()),
                    ("wait_for_lock_timeout", timeout.to_string()),
                    ("wake_up_delay_duration", wake.to_string()),
                ]
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    /// The deadlock-detector scenario: any valid combination, including tight
    /// memory limits that OOM-kill stores over and over, runs cleanly and keeps
    /// its invariants (including the bank audits' snapshot isolation).
    #[test]
    fn valid_lock_parameters_run_cleanly(seed in any::<u64>(), overrides in lock_settings()) {
        let mut sim = Simulation::new("deadlock-detector-oom", seed, &overrides).expect("valid settings");
        sim.run_until(15 * SEC);
        prop_assert!(sim.violations().is_empty(), "{overrides:?}: {:?}", sim.violations().first());
        let view = kvscope_core::views::locks::lock_view(&sim);
        prop_assert!(view.stores.iter().all(|s| s.memory.sum() > 0 || !s.up));
        for s in &view.stores {
            let q = &s.queues[2];
            prop_assert!(q.capacity.is_none_or(|c| q.depth <= c));
        }
    }
}
