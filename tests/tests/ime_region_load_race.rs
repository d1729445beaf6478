//! Scenario `ime-region-load-race` (TiKV issues 17487 / 17493 / 17548, PR
//! 17550). Expected outcomes come from TiKV's rules, checked on the run from
//! outside the engine: the legal transitions of
//! `validate_update_region_state` (written out here from the mechanisms
//! reference), the `regions` / `regions_by_range` agreement TiKV's own
//! `Drop` check asserts, one `LoadRegion` per Loading episode, the log lines
//! of the incident (two "ime region to load" of one region and epoch, then
//! the assertion), and the cache's data against the region's own.

use std::collections::BTreeMap;

use kvscope_core::in_memory_engine::background::BgTask;
use kvscope_core::in_memory_engine::{metrics as im, RegionState};
use kvscope_core::time::{MS, SEC};
use kvscope_core::Simulation;
use kvscope_tests::{counter, run_scenario};

const ID: &str = "ime-region-load-race";

/// `validate_update_region_state`, from the mechanisms reference.
const LEGAL: [(&str, &str); 8] = [
    ("Pending", "Loading"),
    ("Loading", "Active"),
    ("Loading", "LoadingCanceled"),
    ("Loading", "Evicting"),
    ("Active", "PendingEvict"),
    ("LoadingCanceled", "PendingEvict"),
    ("LoadingCanceled", "Evicting"),
    ("PendingEvict", "Evicting"),
];

/// Every "ime update region meta state" line's (current, new) pair.
fn logged_transitions(sim: &Simulation) -> Vec<(String, String)> {
    sim.log()
        .iter()
        .filter(|l| l.msg.starts_with("ime update region meta state"))
        .map(|l| {
            let field = |name: &str| {
                let i = l.msg.find(name).expect("field logged") + name.len();
                l.msg[i..].split(',').next().unwrap().trim().to_string()
            };
            (field("current_state: "), field("new_state: "))
        })
        .collect()
}

/// TiKV's `RegionMetaMap` check (its `Drop` in tests): every end key
/// points at the id whose meta ends there, every meta has its end key, and
/// no two metas overlap.
fn assert_meta_map_consistent(sim: &Simulation, when: &str) {
    for st in sim.world().stores.values() {
        let Some(ime) = &st.ime else { continue };
        let m = &ime.manager;
        assert_eq!(
            m.regions.len(),
            m.regions_by_range.len(),
            "{when}: store {}",
            st.id
        );
        for (end, id) in &m.regions_by_range {
            assert_eq!(
                m.regions.get(id).map(|x| x.region.end),
                Some(*end),
                "{when}: store {}",
                st.id
            );
        }
        let metas: Vec<_> = m.regions.values().map(|x| x.region).collect();
        for (i, a) in metas.iter().enumerate() {
            for b in &metas[i + 1..] {
                assert!(!a.overlaps(b), "{when}: store {}: {a} overlaps {b}", st.id);
            }
        }
    }
}

/// No region id has two `LoadRegion` tasks at once.
fn assert_one_load_per_episode(sim: &Simulation, when: &str) {
    for st in sim.world().stores.values() {
        let Some(ime) = &st.ime else { continue };
        let mut loads: BTreeMap<u64, usize> = BTreeMap::new();
        for t in ime.tasks.values() {
            if let BgTask::LoadRegion { region, .. } = &t.task {
                *loads.entry(region.id).or_insert(0) += 1;
            }
        }
        assert!(
            loads.values().all(|n| *n == 1),
            "{when}: store {} loads {loads:?}",
            st.id
        );
    }
}

#[test]
fn on_the_default_seed_a_region_is_loaded_twice_and_its_store_aborts() {
    let sim = run_scenario(ID, 1, &[], 320);
    let aborts = &sim.world().aborts;
    assert_eq!(aborts.len(), 1, "{aborts:?}");
    let a = &aborts[0];
    assert!(
        a.abort.panic.message.contains("left: Active"),
        "{}",
        a.abort.panic.message
    );
    assert!(a.abort.panic.message.contains("right: LoadingCanceled"));
    assert!(a.abort.panic.location.contains("LoadRegion"));
    let region = a.abort.region.expect("the LoadRegion's region");
    // The two loads of the incident: one region, one epoch, both scheduled
    // before the first one finished.
    let scheduled: Vec<_> = a
        .abort
        .loads
        .iter()
        .filter(|l| l.region == region)
        .map(|l| l.at)
        .collect();
    assert!(scheduled.len() >= 2, "{:?}", a.abort.loads);
    let (first, second) = (
        scheduled[scheduled.len() - 2],
        scheduled[scheduled.len() - 1],
    );
    let tag = format!("region: {region}");
    let finished: Vec<u64> = sim
        .log()
        .iter()
        .filter(|l| {
            l.store == Some(a.store)
                && l.msg.starts_with("ime Loading region finished")
                && l.msg.contains(&tag)
        })
        .map(|l| l.t_ms)
        .collect();
    let (first_ms, second_ms) = (first / MS, second / MS);
    assert!(
        finished.iter().all(|&t| t < first_ms || t >= second_ms),
        "a load of {region} finished between its two schedules: {finished:?}"
    );
    assert!(
        finished.iter().any(|&t| t >= second_ms && t <= a.at_ms),
        "the first load finished after the second was scheduled, before the abort: {finished:?}"
    );
    // The root cause came first: a load replaced a meta held under its id.
    assert!(counter(&sim, im::IME_METAS_REPLACED) >= 1);
    assert_eq!(counter(&sim, im::IME_PANICS), 1);
    // The store restarted with an empty engine.
    let st = &sim.world().stores[&a.store];
    assert!(a.restart_ms <= 320_000 && st.up);
    assert!(st
        .ime
        .as_ref()
        .is_some_and(|e| e.manager.regions.len() < 16));
}

#[test]
fn without_the_fix_the_race_reproduces_on_several_seeds() {
    for seed in [1, 7, 11, 12] {
        let sim = run_scenario(ID, seed, &[], 600);
        assert!(
            counter(&sim, im::IME_METAS_REPLACED) >= 1,
            "seed {seed}: no meta replaced"
        );
        assert!(
            !sim.world().aborts.is_empty(),
            "seed {seed}: no store aborted"
        );
        for (from, to) in logged_transitions(&sim) {
            assert!(
                LEGAL.contains(&(from.as_str(), to.as_str())),
                "seed {seed}: {from} -> {to}"
            );
        }
    }
}

#[test]
fn with_the_id_check_no_meta_is_replaced_and_no_store_aborts() {
    for seed in 1..=6 {
        let sim = run_scenario(ID, seed, &["fix=id-check"], 400);
        assert!(
            sim.world().aborts.is_empty(),
            "seed {seed}: {:?}",
            sim.world().aborts
        );
        assert_eq!(counter(&sim, im::IME_METAS_REPLACED), 0, "seed {seed}");
        assert!(
            counter(&sim, im::IME_LOADS_FINISHED) > 0,
            "seed {seed}: nothing loaded"
        );
        assert!(
            counter(&sim, im::IME_CACHE_HITS) > 0,
            "seed {seed}: no read served from memory"
        );
        assert!(counter(&sim, kvscope_core::raftstore::metrics::REGION_MERGES) > 0);
        assert!(counter(&sim, kvscope_core::raftstore::metrics::REGION_SPLITS) > 0);
        for (from, to) in logged_transitions(&sim) {
            assert!(
                LEGAL.contains(&(from.as_str(), to.as_str())),
                "seed {seed}: {from} -> {to}"
            );
        }
    }
}

#[test]
fn with_the_id_check_the_meta_map_stays_consistent_at_every_step() {
    let mut sim = Simulation::new(ID, 2, &[("fix".into(), "id-check".into())]).unwrap();
    let mut checked = 0;
    while sim.now() < 240 * SEC && sim.step() {
        assert_meta_map_consistent(&sim, &format!("t={} ms", sim.now() / MS));
        assert_one_load_per_episode(&sim, &format!("t={} ms", sim.now() / MS));
        checked += 1;
    }
    assert!(checked > 10_000);
    assert!(counter(&sim, im::IME_LOADS_SCHEDULED) > 5);
}

#[test]
fn reads_from_the_cache_return_what_the_region_holds() {
    let mut sim = Simulation::new(ID, 3, &[("fix".into(), "id-check".into())]).unwrap();
    let mut compared = 0;
    for t in (20..=240).step_by(5) {
        sim.run_until(t * SEC);
        for st in sim.world().stores.values() {
            let Some(ime) = &st.ime else { continue };
            for meta in ime.manager.regions.values() {
                if meta.state != RegionState::Active {
                    continue;
                }
                let Some(peer) = st.raftstore.peers.get(&meta.region.id) else {
                    continue;
                };
                let r = peer.region();
                if r.version != meta.region.epoch_version || !peer.is_leader() {
                    continue;
                }
                let kv = &peer.raft.store().kv;
                for k in
                    meta.region.start..meta.region.end.min(r.end_key).min(meta.region.start + 4096)
                {
                    assert_eq!(
                        ime.get(k),
                        kv.get(&k).copied(),
                        "t={t} s store {} region {} key {k}",
                        st.id,
                        meta.region.id
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} keys compared");
}

#[test]
fn switching_the_fix_on_while_running_stops_the_replacements() {
    let mut sim = Simulation::new(ID, 1, &[]).unwrap();
    sim.run_until(200 * SEC);
    let before = counter(&sim, im::IME_METAS_REPLACED);
    sim.set_live_param("fix", "id-check").unwrap();
    sim.run_until(320 * SEC);
    assert_eq!(counter(&sim, im::IME_METAS_REPLACED), before);
    assert!(sim.world().aborts.is_empty(), "{:?}", sim.world().aborts);
    assert!(sim
        .world()
        .stores
        .values()
        .all(|s| s.ime.as_ref().is_some_and(|e| e.manager.id_check)));
}
