//! Snapshot isolation of committed transactions over many seeds: a bank
//! workload of pessimistic and optimistic transfers keeps its total in every
//! audit (a snapshot read of all accounts), so no update is lost and no
//! committed transaction is seen half-written.

use kvscope_core::client::metrics as cm;
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
        prop_assert!(counter(&sim, cm::BANK_AUDITS) >= 5, "audits: {}", counter(&sim, cm::BANK_AUDITS));
        prop_assert!(counter(&sim, cm::TXN_COMMITTED) >= 20, "commits: {}", counter(&sim, cm::TXN_COMMITTED));
    }
}

/// Regression: under heavy contention most transfers roll back, and the MVCC
/// GC once kept a rollback record as "the version at the safe point", hiding
/// the balance below it (audits read 11 018 instead of 12 000).
#[test]
fn gc_keeps_the_value_a_rollback_record_sits_on() {
    let sim = run_scenario(
        "deadlock-detector-oom",
        3491280748721490238,
        &[
            "stores=4",
            "txns=282",
            "placement=colocated",
            "fix=backpressure",
            "workload=bank",
            "wait_for_lock_timeout=781",
            "wake_up_delay_duration=30",
        ],
        15,
    );
    assert!(
        sim.violations().is_empty(),
        "{:?}",
        sim.violations().first()
    );
    assert!(counter(&sim, cm::BANK_AUDITS) > 1000);
}
