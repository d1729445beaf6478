//! Scenario `deadlock-detector-oom`: the follower's detector stream backlog
//! grows until the OOM killer ends the store with `fix=none`, and stays
//! bounded with every fix; nothing grows when the detector leader is local;
//! real deadlocks get exactly one victim; the live sliders act on the run.

use kvscope_core::client::metrics as cm;
use kvscope_core::env::metrics::MEMORY;
use kvscope_core::lock_manager::metrics as lm;
use kvscope_core::time::SEC;
use kvscope_tests::{counter, max_of, run_scenario};

const ID: &str = "deadlock-detector-oom";
/// Store holding the contended region's leader with `placement=remote`.
const HOT_STORE: u64 = 2;

#[test]
fn with_no_fix_the_hot_store_is_oom_killed_for_the_reason_of_issue_17394() {
    for seed in 1..=3 {
        let sim = run_scenario(ID, seed, &[], 90);
        let kills = sim.oom_kills();
        assert!(
            kills.iter().any(|k| k.store == HOT_STORE),
            "seed {seed}: no OOM kill of store {HOT_STORE}: {kills:?}"
        );
        assert!(
            kills.iter().all(|k| k.store == HOT_STORE),
            "seed {seed}: {kills:?}"
        );
        // The memory that killed it is the detector stream's backlog.
        let backlog = max_of(&sim, &lm::DETECTOR_PENDING_MSGS.of(HOT_STORE));
        assert!(backlog > 200_000.0, "seed {seed}: backlog only {backlog}");
        let stream_mem = max_of(&sim, &MEMORY.at(HOT_STORE, "lock_manager/detector_stream"));
        assert!(
            stream_mem > 64.0 * 1024.0 * 1024.0,
            "seed {seed}: {stream_mem}"
        );
        // Each handoff re-pointed every waiter: far more requests than handoffs.
        let handoffs = counter(&sim, kvscope_core::storage::metrics::LOCK_HANDOFFS);
        let sent =
            counter(&sim, lm::DETECT_REQUESTS_SENT) + counter(&sim, lm::CLEAN_UP_WAIT_FOR_SENT);
        assert!(
            sent > 40 * handoffs,
            "seed {seed}: {sent} requests for {handoffs} handoffs"
        );
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}

#[test]
fn every_fix_keeps_the_backlog_bounded_and_the_store_alive() {
    for fix in [
        "non-fair-noop",
        "skip-detect-on-owner-change",
        "batching",
        "backpressure",
    ] {
        for seed in 1..=2 {
            let setting = format!("fix={fix}");
            let sim = run_scenario(ID, seed, &[&setting], 90);
            assert!(
                sim.oom_kills().is_empty(),
                "{fix} seed {seed}: {:?}",
                sim.oom_kills()
            );
            let backlog = max_of(&sim, &lm::DETECTOR_PENDING_MSGS.of(HOT_STORE));
            assert!(backlog <= 8192.0, "{fix} seed {seed}: backlog {backlog}");
            assert!(
                counter(&sim, cm::TXN_COMMITTED) > 10_000,
                "{fix} seed {seed}"
            );
            // The leader's detect table: the rules that clean up every edge
            // they registered keep it small; with PR 17500 a re-pointed
            // non-fair waiter later cleans up its new owner's edge, not the
            // registered one, and backpressure drops clean-ups, so stale
            // edges stay until a search visits them (TiKV runs
            // active_expire only past 100000 waiting transactions and an
            // hour): they grow, but slowly.
            let table = max_of(&sim, &MEMORY.at(1, "lock_manager/detect_table"));
            let bound = match fix {
                "non-fair-noop" | "backpressure" => 32.0,
                _ => 1.0,
            } * 1024.0
                * 1024.0;
            assert!(
                table < bound,
                "{fix} seed {seed}: detect table {table} bytes"
            );
            if fix == "backpressure" {
                assert!(
                    counter(&sim, lm::DETECTOR_REQUESTS_DROPPED) > 0,
                    "backpressure pays in drops"
                );
            }
        }
    }
}

#[test]
fn with_fair_locking_pr_17500_is_not_enough_and_pr_20002_is() {
    let sim = run_scenario(ID, 1, &["fair_locking=on", "fix=non-fair-noop"], 90);
    assert!(
        !sim.oom_kills().is_empty(),
        "issue 19846: fair waiters still re-point"
    );
    let sim = run_scenario(
        ID,
        1,
        &["fair_locking=on", "fix=skip-detect-on-owner-change"],
        90,
    );
    assert!(sim.oom_kills().is_empty());
    assert!(counter(&sim, lm::DROP_REGISTERED_EDGE) > 0);
}

#[test]
fn with_the_detector_leader_on_the_hot_store_nothing_grows() {
    let sim = run_scenario(ID, 1, &["placement=colocated"], 90);
    assert!(sim.oom_kills().is_empty());
    assert_eq!(counter(&sim, lm::DETECTOR_STREAM_SENT), 0);
    for store in 1..=3 {
        let lm = max_of(&sim, &MEMORY.at(store, "lock_manager"));
        assert!(
            lm < 1024.0 * 1024.0,
            "store {store}: lock manager {lm} bytes"
        );
    }
    assert!(
        counter(&sim, lm::DETECT_REQUESTS_SENT) > 10_000,
        "detection still runs, locally"
    );
}

#[test]
fn real_deadlocks_have_exactly_one_victim_each_for_every_fix() {
    for fix in [
        "none",
        "non-fair-noop",
        "skip-detect-on-owner-change",
        "batching",
        "backpressure",
    ] {
        let setting = format!("fix={fix}");
        let sim = run_scenario(ID, 7, &["workload=cycle", "txns=4", &setting], 10);
        let found = counter(&sim, lm::DEADLOCKS_DETECTED);
        let victims = counter(&sim, cm::TXN_DEADLOCK_ERRORS);
        assert!(found >= 10, "{fix}: {found} deadlocks");
        // One victim per cycle (a cycle found at the very end may not have answered yet).
        assert!(
            found - victims <= 2 && victims <= found,
            "{fix}: {found} found, {victims} victims"
        );
        // The other transaction of a pair goes on and commits (a restarted
        // victim can deadlock again before the winner commits, so not one for one).
        assert!(counter(&sim, cm::TXN_COMMITTED) >= victims / 2, "{fix}");
        let view = kvscope_core::views::locks::lock_view(&sim);
        assert!(
            view.deadlocks.iter().all(|d| d.wait_chain.len() == 2),
            "{:?}",
            view.deadlocks
        );
    }
}

#[test]
fn the_contention_slider_sets_the_growth_rate_of_the_running_simulation() {
    let mut sim = kvscope_core::Simulation::new(ID, 3, &[]).unwrap();
    let backlog = |sim: &kvscope_core::Simulation| {
        kvscope_core::views::locks::lock_view(sim)
            .stores
            .iter()
            .find(|s| s.store == HOT_STORE)
            .unwrap()
            .queues[2]
            .depth as f64
    };
    sim.run_until(10 * SEC);
    let b10 = backlog(&sim);
    sim.run_until(20 * SEC);
    let b20 = backlog(&sim);
    let fast = (b20 - b10) / 10.0;
    assert!(fast > 2000.0, "growth with 300 txns: {fast}/s");
    // Fewer waiters per key: the leader's detector keeps up and the stream drains.
    sim.set_live_param("txns", "150").unwrap();
    sim.run_until(30 * SEC);
    let b30 = backlog(&sim);
    assert!(b30 < b20, "150 txns: {b30} >= {b20}");
    // Back to 300: it grows again.
    sim.set_live_param("txns", "300").unwrap();
    sim.run_until(40 * SEC);
    let b40 = backlog(&sim);
    assert!(b40 > b30 + 10_000.0, "300 again: {b30} -> {b40}");
    // The fix switch stops the growth: the stream drains.
    sim.set_live_param("fix", "non-fair-noop").unwrap();
    sim.run_until(50 * SEC);
    assert!(backlog(&sim) < b40, "{} >= {b40}", backlog(&sim));
    // Parameters that shape the cluster cannot change while running.
    let e = sim.set_live_param("stores", "4").unwrap_err().to_string();
    assert!(e.contains("live parameters are"), "{e}");
    assert!(sim.set_live_param("txns", "many").is_err());
}

#[test]
fn the_run_is_deterministic_with_live_changes() {
    let run = |value: &str| {
        let mut sim = kvscope_core::Simulation::new(ID, 5, &[]).unwrap();
        sim.run_until(3 * SEC);
        sim.set_live_param("hot_keys", value).unwrap();
        sim.run_until(6 * SEC);
        sim.trace_hash()
    };
    assert_eq!(run("2"), run("2"));
    assert_ne!(run("2"), run("8"));
}
