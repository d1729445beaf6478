//! Safety invariants hold over many seeds with random crashes, partitions and
//! IO hangs (the scenario's `random_faults`), for both `fix` values.

use proptest::prelude::*;

use kvscope_tests::run_io_hang;

proptest! {
    #![proptest_config(ProptestConfig { cases: 50, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_invariant_is_violated_under_random_faults(seed in any::<u64>(), faults in 3u64..12, relaxed in any::<bool>()) {
        let fix = if relaxed { "fix=relaxed-check" } else { "fix=none" };
        let faults = format!("random_faults={faults}");
        let sim = run_io_hang(seed, &[fix, &faults, "hang_duration=0", "clients=16"], 200);
        prop_assert!(kvscope_tests::counter(&sim, kvscope_core::client::metrics::CLIENT_WRITES_COMPLETED) > 1000);
        prop_assert!(sim.violations().is_empty(), "seed {seed}: {:?}", sim.violations());
    }
}
