//! Scenario `snapshot-and-memory`: a cut-off store's peers catch up by Raft
//! snapshots that go through TiKV's pipeline. The expected orders and
//! messages come from TiKV's snapshot flow (mechanisms reference section 5):
//! the first `snapshot()` call is always TemporarilyUnavailable; a send is
//! reported Finish only after the receiver has every chunk; the follower
//! applies only after its raft state is persisted; over the limits streams
//! are refused with TiKV's messages and retried by raft-rs.

use kvscope_core::raftstore::metrics as rm;
use kvscope_core::raftstore::snap::SnapStage;
use kvscope_core::server::snap as ss;
use kvscope_core::views::snapshots::{snapshot_journeys, SnapshotJourney};
use kvscope_core::Simulation;
use kvscope_tests::{counter, run_scenario};

const ID: &str = "snapshot-and-memory";

fn applied(sim: &Simulation) -> Vec<SnapshotJourney> {
    snapshot_journeys(sim)
        .into_iter()
        .filter(|j| j.applied)
        .collect()
}

/// Every peer of every region has applied within `slack` entries of its
/// region's leader: the cut-off store caught up.
fn assert_caught_up(sim: &Simulation, slack: u64) {
    let world = sim.world();
    for (rid, _) in world.pd.regions.iter() {
        let peers: Vec<(u64, u64)> = world
            .stores
            .values()
            .filter_map(|st| {
                st.raftstore
                    .peers
                    .get(rid)
                    .map(|p| (st.id, p.raft.store().applied_index))
            })
            .collect();
        let top = peers.iter().map(|p| p.1).max().unwrap_or(0);
        for (store, a) in &peers {
            assert!(
                a + slack >= top,
                "region {rid}: store {store} applied {a}, the best replica {top}"
            );
        }
    }
}

#[test]
fn the_cut_off_store_catches_up_by_snapshots_through_every_stage_in_order() {
    let sim = run_scenario(ID, 1, &[], 120);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let journeys = applied(&sim);
    assert!(!journeys.is_empty(), "some peers needed a snapshot");
    let cut_store = 3;
    for j in &journeys {
        let order = [
            SnapStage::Requested,
            SnapStage::Generating,
            SnapStage::Generated,
            SnapStage::Sending,
            SnapStage::Receiving,
            SnapStage::Received,
            SnapStage::Applying,
            SnapStage::Applied,
        ];
        let times: Vec<u64> = order
            .iter()
            .map(|s| {
                j.at(*s)
                    .unwrap_or_else(|| panic!("{:?} lacks {s:?}: {:?}", j.key, j.stages))
            })
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{order:?} at {times:?}"
        );
        // The leader hears Done only after the receiver has every chunk.
        assert!(j.at(SnapStage::Sent).unwrap() >= j.at(SnapStage::Received).unwrap());
        let follower = j
            .stages
            .iter()
            .find(|s| s.stage == SnapStage::Applied)
            .unwrap()
            .store;
        assert_eq!(follower, cut_store);
        let leader = j.stages[0].store;
        assert_ne!(leader, cut_store, "a leader on another store generated it");
        // 1 MiB chunks at 100 MiB/s: a 16 MiB region takes at least 160 ms
        // on the wire, and at most what its store sends in all through the
        // one IO limiter (snap-io-max-bytes-per-sec is per store), plus 1 s.
        let wire = j.at(SnapStage::Received).unwrap() - j.at(SnapStage::Sending).unwrap();
        assert!(j.size > 15 << 20, "{}", j.size);
        let store_bytes: u64 = journeys
            .iter()
            .filter(|o| o.stages[0].store == leader)
            .map(|o| o.size)
            .sum();
        let limiter_ms = store_bytes * 1000 / (100 << 20);
        assert!(
            (150..limiter_ms + 1_000).contains(&wire),
            "{wire} ms (store {leader} sends {store_bytes} bytes)"
        );
    }
    // Invariant 1: every generation starts with a TemporarilyUnavailable answer.
    let generated = counter(&sim, rm::SNAPSHOTS_GENERATED);
    assert!(counter(&sim, rm::SNAPSHOT_TEMPORARILY_UNAVAILABLE) >= generated);
    assert_eq!(counter(&sim, rm::SNAPSHOTS_APPLIED), journeys.len() as u64);
    assert_eq!(counter(&sim, ss::SNAPSHOTS_SENT), journeys.len() as u64);
    let log = sim.log();
    let first = |needle: &str| log.iter().position(|l| l.msg.starts_with(needle));
    assert!(first("requesting snapshot").unwrap() < first("start sending snapshot").unwrap());
    assert!(first("begin to apply snapshot").unwrap() < first("apply new data").unwrap());
    assert_caught_up(&sim, 300);
    // The leaders went back to Replicate for the peers that got snapshots.
    let view = kvscope_core::views::cluster::cluster_view(&sim);
    assert!(view.regions.iter().all(|r| !r.hot), "no region is hot here");
    for r in &view.regions {
        for p in &r.peers {
            assert_ne!(p.progress_state, Some("Snapshot"), "region {}: {p:?}", r.id);
        }
    }
}

#[test]
fn a_snapshot_lost_on_the_way_is_retried_and_the_follower_catches_up() {
    // Cut the store off again while the first snapshots are on the wire.
    let mut sim = Simulation::new(ID, 1, &[]).unwrap();
    let first_send = {
        let mut probe = Simulation::new(ID, 1, &[]).unwrap();
        probe.run_until(120_000_000);
        applied(&probe)
            .iter()
            .filter_map(|j| j.at(SnapStage::Sending))
            .min()
            .unwrap()
    };
    let at = format!("{}ms:partition=3/3s", first_send + 50);
    sim.schedule_input(kvscope_core::input::Input::parse(&at).expect("a valid input"))
        .expect("schedulable");
    sim.run_until(150_000_000);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(
        counter(&sim, ss::SNAPSHOT_SEND_FAILED) > 0,
        "some sends broke"
    );
    let journeys = snapshot_journeys(&sim);
    let failed: Vec<_> = journeys.iter().filter(|j| j.failed).collect();
    assert!(!failed.is_empty());
    for f in failed {
        assert!(
            journeys
                .iter()
                .any(|j| j.applied && j.region_id == f.region_id && j.to_peer == f.to_peer),
            "region {} was retried to the end",
            f.region_id
        );
    }
    assert!(sim
        .log()
        .iter()
        .any(|l| l.msg.starts_with("failed to send snap")));
    assert_caught_up(&sim, 300);
}

#[test]
fn over_the_receive_limit_streams_are_refused_with_tikvs_message_and_retried() {
    // Partitioned-raft-kv generates in milliseconds, so the sends pile up at
    // the receiver: a limit of 2 refuses the third stream.
    let sim = run_scenario(
        ID,
        1,
        &["engine=partitioned-raft-kv", "concurrent_recv_snap_limit=2"],
        150,
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(counter(&sim, ss::SNAPSHOT_SEND_REJECTED) > 0);
    assert!(sim.log().iter().any(|l| {
        l.msg
        == "RESOURCE_EXHAUSTED: the number of received snapshot tasks 2 exceeded the limitation 2"
    }));
    let journeys = snapshot_journeys(&sim);
    let refused: Vec<_> = journeys
        .iter()
        .filter(|j| j.at(SnapStage::RecvRefused).is_some())
        .collect();
    assert!(!refused.is_empty());
    for r in &refused {
        assert!(r.failed && !r.applied);
        assert!(journeys
            .iter()
            .any(|j| j.applied && j.region_id == r.region_id && j.to_peer == r.to_peer));
    }
    assert_caught_up(&sim, 300);
}

#[test]
fn partitioned_raft_kv_generates_snapshots_faster_on_the_same_seed() {
    let mean_gen = |engine: &str| {
        let sim = run_scenario(ID, 2, &[&format!("engine={engine}")], 120);
        let js = applied(&sim);
        assert!(!js.is_empty());
        let total: u64 = js
            .iter()
            .map(|j| j.at(SnapStage::Generated).unwrap() - j.at(SnapStage::Generating).unwrap())
            .sum();
        total as f64 / js.len() as f64
    };
    let raft_kv = mean_gen("raft-kv");
    let partitioned = mean_gen("partitioned-raft-kv");
    // raft-kv scans 16 MiB at 200 MB/s (about 84 ms) plus queueing on 2 threads.
    assert!(raft_kv >= 80.0, "{raft_kv}");
    assert!(partitioned * 4.0 < raft_kv, "{partitioned} vs {raft_kv}");
}

#[test]
fn snapshots_keep_every_acknowledged_write_over_seeds_and_cut_offs() {
    for seed in 1..=4u64 {
        let store = seed % 3 + 1;
        let start = 10 + seed * 3;
        let sim = run_scenario(
            ID,
            seed,
            &[
                &format!("cut_store={store}"),
                &format!("cut_start={start}s"),
                "regions=12",
                "region_size=4",
            ],
            110,
        );
        assert!(
            sim.violations().is_empty(),
            "seed {seed}: {:?}",
            sim.violations()
        );
        assert!(
            counter(&sim, rm::SNAPSHOTS_APPLIED) > 0,
            "seed {seed} needed snapshots"
        );
        assert_caught_up(&sim, 300);
    }
}

#[test]
fn a_hung_disk_on_the_leaders_store_holds_its_generations_until_the_hang_ends() {
    // Store 1's disk hangs from 54 s to 64 s: its raft-kv generations read
    // the region from that disk (and write their files to it), so none is
    // generated before the hang ends; store 2's go on.
    let mut sim = Simulation::new(ID, 1, &[]).unwrap();
    sim.schedule_input(kvscope_core::input::Input::parse("54s:io-hang=1/10s").unwrap())
        .unwrap();
    sim.run_until(120_000_000);
    let journeys = applied(&sim);
    let by = |store: u64| -> Vec<u64> {
        journeys
            .iter()
            .filter(|j| j.stages[0].store == store)
            .map(|j| j.at(SnapStage::Generated).unwrap())
            .collect()
    };
    let (s1, s2) = (by(1), by(2));
    assert!(
        !s1.is_empty() && !s2.is_empty(),
        "both leaders' stores generate"
    );
    assert!(
        s1.iter().all(|&t| t >= 64_000),
        "store 1 generated at {s1:?}"
    );
    assert!(
        s2.iter().any(|&t| t < 60_000),
        "store 2 generated at {s2:?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// TiKV's two layouts hold memtables differently (`DbConfig::optimize_for`):
/// raft-kv has one set for the store, each CF flushed at its
/// `write-buffer-size` (128 MiB, lockcf 32 MiB), so a store's memtables stay
/// within one active and one flushing memtable per CF whatever the number of
/// regions; partitioned-raft-kv gives every tablet its own, bounded only by
/// `write-buffer-limit` (20% of the memory), so on the same seed the stores
/// hold several times more memtable memory, and the memory trace shows it.
#[test]
fn partitioned_raft_kv_holds_memtables_per_tablet_and_more_memory_on_the_same_seed() {
    use kvscope_core::engine_rocks::memtable::{MemtableOptions, CFS};
    const MIB: u64 = 1 << 20;
    // Per engine: (the largest memtable total of any store, the most
    // RocksDB instances holding memtables, the final memory trace sums).
    let run = |engine: &str| {
        let overrides = vec![("engine".to_string(), engine.to_string())];
        let mut sim = Simulation::new(ID, 1, &overrides).unwrap();
        let (mut peak, mut dbs) = (0u64, 0usize);
        for t in 1..=120u64 {
            sim.run_until(t * kvscope_core::time::SEC);
            for st in sim.world().stores.values() {
                let m = &st.raftstore.memtables;
                if engine == "raft-kv" {
                    for cf in CFS {
                        assert!(
                            m.bytes(cf) <= 2 * MemtableOptions::write_buffer_size(cf),
                            "store {} at {t} s: {} MiB in {} memtables",
                            st.id,
                            m.bytes(cf) / MIB,
                            cf.name()
                        );
                    }
                }
                peak = peak.max(m.total_bytes());
                dbs = dbs.max(m.db_count());
            }
        }
        let flushes = counter(&sim, rm::MEMTABLE_FLUSHES);
        let sums: Vec<u64> = sim
            .world()
            .stores
            .values()
            .map(|s| s.memory_trace().sum())
            .collect();
        let limit = sim.world().stores[&1].memory_limit.unwrap();
        (peak, dbs, flushes, sums, limit)
    };
    let (kv_peak, kv_dbs, kv_flushes, kv_sums, limit) = run("raft-kv");
    let (p_peak, p_dbs, _, p_sums, _) = run("partitioned-raft-kv");
    assert_eq!(kv_dbs, 1, "raft-kv: one RocksDB per store");
    assert!(
        kv_flushes >= 3,
        "raft-kv flushed its full memtables: {kv_flushes}"
    );
    assert!(p_dbs >= 30, "a tablet per region written: {p_dbs}");
    assert!(
        p_peak >= 4 * kv_peak,
        "partitioned {} MiB vs raft-kv {} MiB",
        p_peak / MIB,
        kv_peak / MIB
    );
    assert!(p_peak <= limit / 100 * 20, "within write-buffer-limit");
    for (kv, p) in kv_sums.iter().zip(&p_sums) {
        assert!(p > kv, "the memory trace shows the memtables: {p} vs {kv}");
    }
}

/// With 2 of 3 replicas up every region keeps a quorum: once the cut-off
/// store's leaders are re-elected elsewhere (an election timeout after the
/// cut), the writes go on at their rate, because the client threads share
/// their TiDB's region cache (client-go's `RegionCache`) and so route to
/// the new leaders as soon as one of them learned the new leader.
#[test]
fn writes_continue_on_the_other_stores_while_one_is_cut_off() {
    let sim = run_scenario(ID, 1, &[], 60);
    let qps = &sim.series()[&kvscope_core::client::metrics::QPS.key()];
    let mean = |from: u64, to: u64| {
        let v: Vec<f64> = qps
            .iter()
            .filter(|p| p.0 >= from && p.0 < to)
            .map(|p| p.1)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    // Cut from 15 s to 55 s; leaders on store 3 are re-elected by about 35 s.
    let before = mean(5_000, 15_000);
    let during = mean(40_000, 55_000);
    assert!(before > 500.0, "{before}");
    assert!(during > before * 0.8, "{during} vs {before} before the cut");
}
