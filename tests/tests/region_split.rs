//! Region split in scenario `snapshot-and-memory`: the last region takes the
//! auto-increment inserts, grows past `region-max-size` and splits through
//! Raft. Expected values come from TiKV's rules: `exec_batch_split` bumps the
//! parent's and every new region's epoch version by the number of new
//! regions; a store's regions never overlap and together cover the keyspace
//! once it applied every split; every store of the parent creates the new
//! region's peer; the parent leader's store campaigns at once
//! (`maybe_campaign`) and first votes that reach a store before it applied
//! the split are replayed (`pending_msgs`), so the new region has a leader
//! long before an election timeout; clients that hit `EpochNotMatch` refresh
//! their route.

use kvscope_core::client::metrics as cm;
use kvscope_core::kernel::log::LogLine;
use kvscope_core::proto::RegionMeta;
use kvscope_core::raftstore::metrics as rm;
use kvscope_core::time::MS;
use kvscope_core::Simulation;
use kvscope_tests::{assert_disjoint, assert_tiles_keyspace, counter, run_scenario, store_regions};

const ID: &str = "snapshot-and-memory";
/// No store is cut off before the run ends.
const NO_CUT: &str = "cut_start=3600s";

fn lines<'a>(sim: &'a Simulation, needle: &'a str) -> impl Iterator<Item = &'a LogLine> + 'a {
    sim.log().iter().filter(move |l| l.msg.starts_with(needle))
}

#[test]
fn the_growing_last_region_splits_on_every_store_with_tikvs_epoch_rule() {
    let sim = run_scenario(ID, 1, &[NO_CUT], 120);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let world = sim.world();
    let splits = counter(&sim, rm::REGION_SPLITS);
    assert!(splits >= 3, "the last region split {splits} times");
    // PD learned every new region, and its regions tile the keyspace.
    let pd: Vec<RegionMeta> = {
        let mut v: Vec<_> = world.pd.regions.values().map(|r| r.meta.clone()).collect();
        v.sort_by_key(|r| r.start_key);
        v
    };
    // (The dropped table's empty regions merge away meanwhile.)
    assert_eq!(
        pd.len() as u64,
        40 + splits - counter(&sim, rm::REGION_MERGES)
    );
    assert_tiles_keyspace(pd.clone(), "PD");
    // Every split had one split key: the parent's version went up by one per
    // split, and each new region carries the parent's version at its split.
    let last = pd.last().unwrap();
    assert_eq!(last.version, 1 + splits, "{}", last.describe());
    // (right_derive: the parent keeps the right part and its id.)
    assert_eq!(last.id, 40);
    let mut versions: Vec<u64> = pd.iter().filter(|r| r.id > 40).map(|r| r.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=1 + splits).collect::<Vec<_>>());
    // Every store holds every region (3 stores, 3 replicas), none overlapping.
    for store in 1..=3 {
        let mine = store_regions(&sim, store);
        assert_tiles_keyspace(mine.clone(), &format!("store {store}"));
        assert_eq!(mine.len(), pd.len(), "store {store}");
    }
    // Each split is logged on every store, and its new regions' peers are
    // inserted on every store.
    assert_eq!(lines(&sim, "split region,").count() as u64, 3 * splits);
    assert_eq!(lines(&sim, "insert new region,").count() as u64, 3 * splits);
    assert_eq!(lines(&sim, "notify pd with split").count() as u64, splits);
}

#[test]
fn followers_apply_the_split_and_the_new_region_elects_at_once() {
    let sim = run_scenario(ID, 2, &[NO_CUT], 120);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let election_timeout_ms = 10_000;
    let inserted: Vec<&LogLine> = lines(&sim, "insert new region,").collect();
    assert!(!inserted.is_empty());
    for ins in &inserted {
        let rid = ins.region.unwrap();
        // Every store inserts the new region within 100 ms of the first:
        // the split commits with a broadcast (an urgent proposal).
        let first = inserted
            .iter()
            .filter(|l| l.region == Some(rid))
            .map(|l| l.t_ms)
            .min()
            .unwrap();
        assert!(
            ins.t_ms <= first + 100,
            "region {rid} on {:?} at {} ms, first at {first} ms",
            ins.store,
            ins.t_ms
        );
        // A leader well before an election timeout.
        let elected = sim
            .log()
            .iter()
            .find(|l| l.region == Some(rid) && l.msg.starts_with("became leader"))
            .unwrap_or_else(|| panic!("region {rid} never elected a leader"));
        assert!(
            elected.t_ms < first + election_timeout_ms / 10,
            "region {rid}: split at {first} ms, leader at {} ms",
            elected.t_ms
        );
    }
}

#[test]
fn clients_refresh_their_route_on_epoch_not_match_and_keep_writing() {
    let sim = run_scenario(ID, 3, &[NO_CUT, "insert_ratio=50"], 120);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(counter(&sim, rm::REGION_SPLITS) >= 3);
    assert!(counter(&sim, cm::CLIENT_REGION_ERRORS) > 0);
    // Writes land in the new regions: their leaders applied entries past the
    // split's initial index.
    let world = sim.world();
    let mut written = 0;
    for (rid, info) in world.pd.regions.iter() {
        if info.meta.version == 1 {
            continue;
        }
        let Some(leader) = info.leader else { continue };
        let applied = world.stores[&leader.store_id].raftstore.peers[rid]
            .raft
            .store()
            .applied_index;
        if applied > 5 + 10 {
            written += 1;
        }
    }
    assert!(written >= 2, "{written} new regions took writes");
    // Cluster throughput does not collapse while the last region splits.
    let qps = kvscope_tests::mean_between(&sim, &cm::QPS.key(), 60, 120);
    let before = kvscope_tests::mean_between(&sim, &cm::QPS.key(), 2, 19);
    assert!(qps > before * 0.8, "{qps} after vs {before} before");
}

#[test]
fn splits_under_crashes_and_partitions_keep_acknowledged_writes_and_disjoint_regions() {
    for seed in 1..=6u64 {
        let store = seed % 3 + 1;
        let mut sim = Simulation::new(
            ID,
            seed,
            &[
                ("regions".into(), "6".into()),
                ("region_size".into(), "2".into()),
                ("region_split_size".into(), "2".into()),
                ("insert_ratio".into(), "40".into()),
                ("cut_store".into(), store.to_string()),
                ("cut_start".into(), format!("{}s", 8 + seed * 3)),
                ("cut_duration".into(), "15s".into()),
            ],
        )
        .unwrap();
        let other = store % 3 + 1;
        for at in [
            format!("{}s:crash={other}/8s", 30 + seed * 2),
            format!("{}s:partition={store}/6s", 55 + seed),
        ] {
            sim.schedule_input(kvscope_core::input::Input::parse(&at).unwrap())
                .unwrap();
        }
        sim.run_until(100_000 * MS);
        assert!(
            sim.violations().is_empty(),
            "seed {seed}: {:?}",
            sim.violations()
        );
        assert!(counter(&sim, rm::REGION_SPLITS) >= 2, "seed {seed}");
        for st in 1..=3 {
            assert_disjoint(&store_regions(&sim, st), &format!("seed {seed} store {st}"));
        }
    }
}
