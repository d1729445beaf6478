//! Snapshot isolation of committed transactions over many seeds: a bank
//! workload of pessimistic and optimistic transfers keeps its total in every
//! audit (a snapshot read of all accounts), so no update is lost and no
//! committed transaction is seen half-written.

use kvscope_tests::{counter, run_scenario};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn bank_transfers_keep_the_total(
        seed in 1u64..1_000_000,
        fix in prop::sample::select(vec!["none", "non-fair-noop", "skip-detect-on-owner-change", "batching", "backpressure"]),
        fair in prop::sample::select(vec!["off", "on"]),
        txns in 2u64..24,
    ) {
        let settings = [
            "workload=bank".to_string(),
            format!("fix={fix}"),
            format!("fair_locking={fair}"),
            format!("txns={txns}"),
        ];
        let refs: Vec<&str> = settings.iter().map(String::as_str).collect();
        let sim = run_scenario("deadlock-detector-oom", seed, &refs, 15);
        prop_assert!(sim.violations().is_empty(), "{} violations, first: {:?}", sim.violations().len(), sim.violations().first());
        prop_assert!(counter(&sim, "bank_audits") >= 5, "audits: {}", counter(&sim, "bank_audits"));
        prop_assert!(counter(&sim, "txn_committed") >= 20, "commits: {}", counter(&sim, "txn_committed"));
    }
}
