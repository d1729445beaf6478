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
        let view = sim.view();
        prop_assert!(!view.stores.is_empty());
        prop_assert!(view.regions.iter().all(|r| !r.peers.is_empty()));
    }
}
