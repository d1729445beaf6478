//! Region merge in scenario `snapshot-and-memory`: PD's merge checker merges
//! small adjacent regions (the dropped table's empty regions, or small
//! regions with data) through `PrepareMerge` and `CommitMerge`. Expected
//! values come from TiKV's rules, checked against an independent reading of
//! the stores' regions before and after each merge: `PrepareMerge` raises
//! the source's `version` and `conf_ver` by one; `CommitMerge` gives the
//! target the source's range and `version = max(source, target) + 1`, keeps
//! the target's id and `conf_ver`, and destroys the source on every store;
//! every acknowledged write of the source is found in the target.

use std::collections::BTreeMap;

use kvscope_core::client::metrics as cm;
use kvscope_core::proto::RegionMeta;
use kvscope_core::raftstore::metrics as rm;
use kvscope_core::time::MS;
use kvscope_core::Simulation;
use kvscope_tests::{assert_disjoint, assert_tiles_keyspace, counter};

const ID: &str = "snapshot-and-memory";

fn settings(list: &[(&str, String)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

/// Store `store`'s initialized regions by id, with whether each is merging.
fn regions_of(sim: &Simulation, store: u64) -> BTreeMap<u64, (RegionMeta, bool)> {
    sim.world().stores[&store]
        .raftstore
        .peers
        .values()
        .filter(|p| p.raft.store().is_initialized())
        .map(|p| {
            (
                p.region().id,
                (p.region().clone(), p.raft.store().merge_state.is_some()),
            )
        })
        .collect()
}

#[test]
fn the_dropped_tables_regions_merge_away_with_tikvs_epoch_rules() {
    let mut sim = Simulation::new(ID, 1, &settings(&[("cut_start", "3600s".into())])).unwrap();
    let mut before = regions_of(&sim, 1);
    let mut merges_seen = 0;
    for t in 1..=120u64 {
        sim.run_until(t * 1000 * MS);
        let now = regions_of(&sim, 1);
        for (gone, (src, was_merging)) in before.iter().filter(|(id, _)| !now.contains_key(id)) {
            // The region that took the source's range is its target.
            let (tgt_now, _) = now
                .values()
                .find(|(r, _)| r.start_key <= src.start_key && src.end_key <= r.end_key)
                .unwrap_or_else(|| panic!("t {t}: nobody took region {gone}'s range"));
            let (tgt_before, _) = &before[&tgt_now.id];
            let src_version = src.version + if *was_merging { 0 } else { 1 };
            assert_eq!(
                tgt_now.version,
                src_version.max(tgt_before.version) + 1,
                "t {t}: {gone} into {}",
                tgt_now.id
            );
            assert_eq!(tgt_now.conf_ver, tgt_before.conf_ver);
            assert_eq!(
                (tgt_now.start_key, tgt_now.end_key),
                (
                    tgt_before.start_key.min(src.start_key),
                    tgt_before.end_key.max(src.end_key)
                )
            );
            merges_seen += 1;
        }
        before = now;
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    // The four empty regions all merged away, into region 5, the first with data.
    assert_eq!(merges_seen, 4);
    assert_eq!(counter(&sim, rm::REGION_MERGES), 4);
    for id in 1..=4 {
        for store in 1..=3 {
            assert!(
                !regions_of(&sim, store).contains_key(&id),
                "region {id} left on store {store}"
            );
        }
    }
    let world = sim.world();
    assert_eq!(world.pd.regions[&5].meta.start_key, 0);
    let pd: Vec<RegionMeta> = world.pd.regions.values().map(|r| r.meta.clone()).collect();
    assert_eq!(pd.len() as u64, 40 - 4 + counter(&sim, rm::REGION_SPLITS));
    assert_tiles_keyspace(pd, "PD");
    for store in 1..=3 {
        let mine: Vec<RegionMeta> = regions_of(&sim, store).into_values().map(|r| r.0).collect();
        assert_tiles_keyspace(mine, &format!("store {store}"));
    }
}

#[test]
fn a_store_cut_off_during_merges_catches_up_and_destroys_the_sources() {
    // Default cut: store 3 is away from 15 s to 55 s; merges from 30 s
    // commit on stores 1 and 2, and store 3 applies them from the log.
    let sim = kvscope_tests::run_scenario(ID, 1, &[], 120);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(counter(&sim, rm::REGION_MERGES) >= 2);
    let cut_away_merges = sim
        .log()
        .iter()
        .filter(|l| {
            l.store == Some(3) && l.msg.starts_with("execute CommitMerge") && l.t_ms >= 55_000
        })
        .count();
    assert!(
        cut_away_merges >= 1,
        "store 3 applied no merge after it came back"
    );
    let on_1: Vec<u64> = regions_of(&sim, 1).into_keys().collect();
    let on_3: Vec<u64> = regions_of(&sim, 3).into_keys().collect();
    assert_eq!(on_1, on_3);
}

#[test]
fn merges_and_splits_under_faults_keep_acknowledged_writes_and_disjoint_regions() {
    // Small regions with data: 1 MiB each, below max-merge-region-size
    // (54/256 of the 8 MiB split size, 1.7 MiB), so PD merges pairs while
    // clients write to them, and the growing last region splits.
    // (seed, cut-off store, cut at s, crashed store, crash at s); the last
    // case cuts a store while a merged region merges again, so on its return
    // the source it catches up holds a CommitMerge of its own.
    let mut cases: Vec<(u64, u64, u64, u64, u64)> = (1..=6u64)
        .map(|seed| {
            (
                seed,
                seed % 3 + 1,
                25 + seed * 2,
                (seed % 3 + 1) % 3 + 1,
                45 + seed * 3,
            )
        })
        .collect();
    cases.push((1, 3, 27, 3, 48));
    for (seed, store, cut_at, other, crash_at) in cases {
        let mut sim = Simulation::new(
            ID,
            seed,
            &settings(&[
                ("regions", "10".into()),
                ("region_size", "1".into()),
                ("region_split_size", "8".into()),
                ("dropped_regions", "2".into()),
                ("insert_ratio", "30".into()),
                ("cut_store", store.to_string()),
                ("cut_start", format!("{cut_at}s")),
                ("cut_duration", "12s".into()),
            ]),
        )
        .unwrap();
        for at in [
            format!("{crash_at}s:crash={other}/6s"),
            format!("{}s:partition={store}/5s", 70 + seed),
        ] {
            sim.schedule_input(kvscope_core::input::Input::parse(&at).unwrap())
                .unwrap();
        }
        sim.run_until(130_000 * MS);
        assert!(
            sim.violations().is_empty(),
            "seed {seed}: {:?}",
            sim.violations()
        );
        assert!(counter(&sim, rm::REGION_MERGES) >= 2, "seed {seed}: merges");
        assert!(
            counter(&sim, cm::CLIENT_WRITES_COMPLETED) > 10_000,
            "seed {seed}"
        );
        for st in 1..=3 {
            let mine = kvscope_tests::store_regions(&sim, st);
            assert_disjoint(&mine, &format!("seed {seed} store {st}"));
        }
        // Replicas of a region at the same applied index hold the same data
        // and the same range.
        let world = sim.world();
        for rid in world.pd.regions.keys() {
            let replicas: Vec<_> = world
                .stores
                .values()
                .filter_map(|st| st.raftstore.peers.get(rid))
                .filter(|p| p.raft.store().is_initialized())
                .map(|p| {
                    (
                        p.raft.store().applied_index,
                        p.region().clone(),
                        p.raft.store().kv.clone(),
                    )
                })
                .collect();
            for a in &replicas {
                for b in replicas.iter().filter(|b| b.0 == a.0) {
                    assert!(
                        a.1 == b.1 && a.2 == b.2,
                        "seed {seed}: region {rid} replicas at index {} differ",
                        a.0
                    );
                }
            }
        }
    }
}

/// PD's merge checker across stores (`CreateMergeRegionOperator` when the
/// regions do not match): on five stores adjacent regions sit on different
/// stores, so the source's operator first moves its peers onto the target's
/// stores with joint consensus (leadership off a store that loses its peer
/// first), then merges. Every merge's source matched its target's stores
/// when `CommitMerge` ran (TiKV's `check_merge` rule), and writes and the
/// regions' tiling survive, with a store cut off and another crashed.
#[test]
fn regions_on_different_stores_merge_after_pd_moves_the_sources_peers() {
    for seed in 1..=3u64 {
        let mut sim = Simulation::new(
            ID,
            seed,
            &settings(&[("stores", "5".into()), ("cut_start", "3600s".into())]),
        )
        .unwrap();
        sim.schedule_input(
            kvscope_core::input::Input::parse(&format!("{}s:crash={}/6s", 50 + seed, seed + 2))
                .unwrap(),
        )
        .unwrap();
        sim.run_until(150_000 * MS);
        assert!(
            sim.violations().is_empty(),
            "seed {seed}: {:?}",
            sim.violations()
        );
        assert!(
            counter(&sim, rm::REGION_MERGES) >= 2,
            "seed {seed}: regions merged across stores"
        );
        let log = sim.log();
        let moved: Vec<_> = log
            .iter()
            .filter(|l| {
                l.msg.starts_with("add operator")
                    && l.msg.contains("merge-region")
                    && l.msg.contains("add learner")
            })
            .collect();
        assert!(
            !moved.is_empty(),
            "seed {seed}: a merge moved the source's peers first"
        );
        // The source reached PrepareMerge on the target's stores: raftstore
        // never refused it (TiKV's "peers doesn't match ..., reject merge").
        assert!(
            !log.iter().any(|l| l.msg.contains("peers doesn't match")),
            "seed {seed}: a merge was proposed before the peers matched"
        );
        let merged_sources: Vec<_> = log
            .iter()
            .filter(|l| l.msg.starts_with("execute CommitMerge"))
            .collect();
        assert!(!merged_sources.is_empty(), "seed {seed}");
        let pd_regions: Vec<_> = sim
            .world()
            .pd
            .regions
            .values()
            .map(|r| r.meta.clone())
            .collect();
        assert_tiles_keyspace(pd_regions, &format!("seed {seed}"));
        for st in 1..=5 {
            let mine = kvscope_tests::store_regions(&sim, st);
            assert_disjoint(&mine, &format!("seed {seed} store {st}"));
        }
    }
}

/// `(store, region)` → `(version, conf_ver, merging)`.
type EpochsByStoreRegion = BTreeMap<(u64, u64), (u64, u64, bool)>;

/// RollbackMerge (TiKV `exec_rollback_merge`), as it happens in
/// `ime-region-load-race` on seed 1: PD merges a hot region into its
/// neighbour, and load-base split splits the target between the source's
/// PrepareMerge and its next merge check. The source's check finds the
/// target changed ("failed to schedule merge, rollback, err: target region
/// changed"), proposes RollbackMerge, and on every store the source leaves
/// merging mode with its epoch `version` one above PrepareMerge's (which
/// raised version and conf_ver by one each) and serves writes again.
#[test]
fn a_target_split_during_a_merge_rolls_the_source_back_with_tikvs_epochs() {
    let overrides = vec![("fix".to_string(), "id-check".to_string())];
    let mut sim = Simulation::new("ime-region-load-race", 1, &overrides).unwrap();
    // Every store's (version, conf_ver, merging) of each region, per 100 ms.
    let mut history: Vec<(u64, EpochsByStoreRegion)> = Vec::new();
    let mut t = 0;
    while t < 200_000 {
        t += 100;
        sim.run_until(t * MS);
        let mut now = BTreeMap::new();
        for st in 1..=3u64 {
            for (id, (meta, merging)) in regions_of(&sim, st) {
                now.insert((st, id), (meta.version, meta.conf_ver, merging));
            }
        }
        history.push((t, now));
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let log = sim.log();
    let rollback = log
        .iter()
        .find(|l| {
            l.msg
                .starts_with("failed to schedule merge, rollback, err: target region changed")
        })
        .expect("a target changed under a merge");
    let source = rollback.region.expect("the source region");
    // TiKV ≥ 5.0: the leader rolls back only once a quorum of voters failed
    // the merge check; with three voters, at least one follower asked for it
    // ("want to rollback merge", `MsgWantRollbackMerge`) before.
    let wanted: Vec<u64> = log
        .iter()
        .filter(|l| l.region == Some(source) && l.t_ms <= rollback.t_ms)
        .filter(|l| l.msg.starts_with("want to rollback merge"))
        .filter_map(|l| l.store)
        .collect();
    assert!(
        wanted.iter().any(|&st| Some(st) != rollback.store),
        "a follower wanted the rollback before the leader proposed it: {wanted:?}"
    );
    // PD's `checkStaleOperator`: the rolled-back source's heartbeat shows
    // PrepareMerge's conf_ver bump, which a MergeRegion step does not
    // account for, so PD cancels the operator instead of sending the merge
    // again at every heartbeat.
    let stale = log
        .iter()
        .find(|l| {
            l.t_ms >= rollback.t_ms
                && l.region == Some(source)
                && l.msg
                    .starts_with(&format!("operator is stale, region-id: {source}, diff: 1"))
        })
        .expect("PD cancels the stale merge operator");
    assert!(
        !log.iter().any(|l| l.t_ms > stale.t_ms
            && l.region == Some(source)
            && l.msg.starts_with("failed to propose PrepareMerge")
            && l.t_ms < stale.t_ms + 20_000),
        "no merge command after PD cancelled it"
    );
    let prepared = log
        .iter()
        .filter(|l| l.t_ms <= rollback.t_ms && l.region == Some(source))
        .filter(|l| l.msg.starts_with("execute PrepareMerge"))
        .map(|l| l.t_ms)
        .max()
        .expect("the source's PrepareMerge");
    let at = |t_ms: u64| {
        &history
            .iter()
            .rev()
            .find(|(t, _)| *t <= t_ms)
            .expect("sampled")
            .1
    };
    let before = at(prepared.saturating_sub(100));
    let after = at(rollback.t_ms + 2_000);
    let mut checked = 0;
    for st in 1..=3u64 {
        let (Some(&(v0, c0, m0)), Some(&(v1, c1, m1))) =
            (before.get(&(st, source)), after.get(&(st, source)))
        else {
            continue;
        };
        assert!(
            !m0,
            "store {st}: region {source} was not merging before PrepareMerge"
        );
        assert!(
            !m1,
            "store {st}: region {source} left merging mode after RollbackMerge"
        );
        assert_eq!(
            v1,
            v0 + 2,
            "store {st}: PrepareMerge and RollbackMerge each raise version by one"
        );
        assert_eq!(c1, c0 + 1, "store {st}: only PrepareMerge raises conf_ver");
        checked += 1;
    }
    assert_eq!(checked, 3, "every store held the source");
    // While merging, the source was marked so on its stores.
    let during = at(prepared + 500);
    assert!(
        during.get(&(1, source)).is_some_and(|s| s.2),
        "merging between the two"
    );
    // It serves writes again: its leader applies new entries.
    let applied = |sim: &Simulation| {
        sim.world()
            .stores
            .values()
            .filter_map(|s| s.raftstore.peers.get(&source))
            .filter(|p| p.is_leader())
            .map(|p| p.raft.store().applied_index)
            .max()
    };
    let mut sim2 = Simulation::new("ime-region-load-race", 1, &overrides).unwrap();
    sim2.run_until((rollback.t_ms + 1_000) * MS);
    let a0 = applied(&sim2).expect("a leader of the source");
    sim2.run_until((rollback.t_ms + 6_000) * MS);
    let a1 = applied(&sim2).unwrap_or(0);
    assert!(
        a1 > a0 + 10,
        "the source applies writes again: {a0} -> {a1}"
    );
}
