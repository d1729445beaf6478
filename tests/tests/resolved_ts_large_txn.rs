//! Scenario `resolved-ts-large-txn` (TiKV RFC 0114, PRs 17540 and 17730).
//! Expected outcomes come from the rules of section 4 of the mechanisms
//! reference, checked on the run from outside the resolver: the region's
//! lock CF and the large transaction's own timestamps (start_ts,
//! min_commit_ts, commit_ts) bound what resolved-ts may be; the TiCDC
//! capture's and the stale readers' own checks (no late row, no stale read
//! missing a committed write) must find nothing, with and without faults.

use std::collections::BTreeMap;

use kvscope_core::client::cdc::CDC_LOCKS_RESOLVED;
use kvscope_core::client::pipelined::{LargePhase, PipelinedWorkload, LARGE_TXNS_COMMITTED};
use kvscope_core::input::Input;
use kvscope_core::resolved_ts::endpoint::{tso_ms, ResolverStatus};
use kvscope_core::resolved_ts::metrics as rtm;
use kvscope_core::time::{MS, SEC};
use kvscope_core::Simulation;
use kvscope_tests::counter;

const ID: &str = "resolved-ts-large-txn";

fn sim(seed: u64, settings: &[&str]) -> Simulation {
    let overrides: Vec<(String, String)> = settings
        .iter()
        .map(|s| {
            let (n, v) = s.split_once('=').expect("NAME=VALUE");
            (n.to_string(), v.to_string())
        })
        .collect();
    Simulation::new(ID, seed, &overrides).expect("valid settings")
}

fn tidb(sim: &Simulation) -> &PipelinedWorkload {
    sim.world()
        .workloads
        .iter()
        .find_map(|w| w.as_any().downcast_ref::<PipelinedWorkload>())
        .expect("the TiDB instance")
}

/// Each region's leader resolver as `(store, resolved_ts, Ready)`.
fn leader_resolved(sim: &Simulation) -> BTreeMap<u64, (u64, u64, bool)> {
    let mut out = BTreeMap::new();
    for st in sim.world().stores.values().filter(|s| s.up) {
        let Some(rts) = &st.resolved_ts else { continue };
        for (&rid, o) in &rts.regions {
            if st.raftstore.peers.get(&rid).is_some_and(|p| p.is_leader()) {
                out.insert(
                    rid,
                    (
                        st.id,
                        o.resolver.resolved_ts,
                        o.status == ResolverStatus::Ready,
                    ),
                );
            }
        }
    }
    out
}

/// Runs to `until_s`, calling `check` every 500 virtual ms.
fn run_checking(sim: &mut Simulation, until_s: u64, mut check: impl FnMut(&Simulation)) {
    let mut t = 0;
    while t < until_s * SEC {
        t += 500 * MS;
        sim.run_until(t);
        check(sim);
    }
}

fn no_violations(sim: &Simulation, what: &str) {
    let v = sim.violations();
    assert!(v.is_empty(), "{what}: {:?}", &v[..v.len().min(3)]);
}

/// Invariant 2: before the fix, the large transaction's locks count by its
/// start_ts, so from its first flush to its commit the regions it writes
/// stay at or below its start_ts, while the other regions follow the TSO.
#[test]
fn without_the_fix_the_large_txn_pins_its_regions_for_its_whole_life() {
    let mut s = sim(1, &[]);
    let mut pinned_checks = 0;
    let mut max_other_lag = 0;
    run_checking(&mut s, 90, |s| {
        let w = tidb(s);
        let flushed = w.markers.iter().any(|m| m.kind == "flush");
        let now_ms = s.now() / MS;
        for (rid, (_, rts, ready)) in leader_resolved(s) {
            if !ready {
                continue;
            }
            if rid <= 2 && w.large.phase == LargePhase::Writing && flushed {
                assert!(
                    rts <= w.large.start_ts,
                    "region {rid} passed the large txn's start_ts {} at {now_ms} ms: {rts}",
                    w.large.start_ts
                );
                pinned_checks += 1;
            }
            if rid > 2 && now_ms > 5_000 {
                max_other_lag = max_other_lag.max(now_ms.saturating_sub(tso_ms(rts)));
            }
        }
    });
    assert!(
        pinned_checks > 100,
        "the txn was observed writing: {pinned_checks}"
    );
    assert!(
        max_other_lag < 6_000,
        "untouched regions follow the TSO: {max_other_lag} ms"
    );
    let w = tidb(&s);
    assert_eq!(counter(&s, LARGE_TXNS_COMMITTED), 1);
    // The pin lasted the transaction's life: region 1's lag reached about
    // its duration (60 s from the first flush).
    let lag = s
        .series()
        .get(&rtm::RESOLVED_TS_LAG_MS.of(1))
        .map_or(0.0, |p| p.iter().map(|x| x.1).fold(0.0, f64::max));
    assert!(lag > 50_000.0, "region 1 lagged {lag} ms");
    // After the commit it follows the TSO again.
    let (_, rts, _) = leader_resolved(&s)[&1];
    assert!(
        tso_ms(rts) + 6_000 > s.now() / MS,
        "region 1 caught up after the commit"
    );
    assert!(
        rts > w
            .markers
            .iter()
            .find(|m| m.kind == "commit")
            .unwrap()
            .detail
    );
    assert!(
        counter(&s, rtm::STALE_READS_REFUSED) > 0,
        "stale reads past the pinned safe-ts are refused"
    );
    no_violations(&s, "fix=none");
}

/// Invariants 1 and 3, and PR 17730's guarantee: with either fix the
/// regions advance while the transaction runs (to its min_commit_ts, or one
/// below), never past what is still undetermined: below every
/// min_commit_ts its heartbeats pushed and below its commit_ts.
#[test]
fn with_either_fix_resolved_ts_advances_during_the_large_txn_but_never_past_it() {
    for fix in ["txn-status-cache", "min-commit-ts-minus-1"] {
        let mut s = sim(2, &[&format!("fix={fix}")]);
        let mut max_during = 0u64;
        let mut advanced_past_start = false;
        run_checking(&mut s, 85, |s| {
            let w = tidb(s);
            let undetermined = matches!(
                w.large.phase,
                LargePhase::Writing | LargePhase::CommittingPrimary
            );
            for (rid, (_, rts, ready)) in leader_resolved(s) {
                if rid > 2 || !ready || !undetermined || w.large.start_ts == 0 {
                    continue;
                }
                max_during = max_during.max(rts);
                advanced_past_start |= rts > w.large.start_ts;
                // The newest min_commit_ts a heartbeat pushed bounds it (one
                // below with PR 17730).
                let bound = if fix == "min-commit-ts-minus-1" {
                    w.large.min_commit_ts - 1
                } else {
                    w.large.min_commit_ts
                };
                assert!(
                    rts <= bound.max(w.large.start_ts),
                    "{fix}: region {rid} at {rts} passed min_commit_ts {}",
                    w.large.min_commit_ts
                );
            }
        });
        let w = tidb(&s);
        let commit_ts = w
            .markers
            .iter()
            .find(|m| m.kind == "commit")
            .expect("committed")
            .detail;
        assert!(
            advanced_past_start,
            "{fix}: resolved-ts moved during the txn"
        );
        assert!(
            max_during < commit_ts,
            "{fix}: {max_during} < commit_ts {commit_ts}"
        );
        // It kept within a few heartbeat intervals of the TSO all along.
        let lag = s
            .series()
            .get(&rtm::RESOLVED_TS_LAG_MS.of(1))
            .map_or(0.0, |p| {
                p.iter()
                    .filter(|x| x.0 > 5_000)
                    .map(|x| x.1)
                    .fold(0.0, f64::max)
            });
        assert!(
            lag < 12_000.0,
            "{fix}: region 1's lag stayed small: {lag} ms"
        );
        // TiKV's CDC delegate tracks every lock by start_ts on its own
        // (`cdc/src/delegate.rs`), so the change feed still stalls.
        let cdc_lag = s
            .series()
            .get(&kvscope_core::client::cdc::CDC_LAG_MS.of(1))
            .map_or(0.0, |p| p.iter().map(|x| x.1).fold(0.0, f64::max));
        assert!(cdc_lag > 40_000.0, "{fix}: the feed stalled: {cdc_lag} ms");
        no_violations(&s, fix);
    }
}

/// A dead client's locks live until their TTL (20 s after the last
/// heartbeat) expires; then TiCDC's lock resolver's CheckTxnStatus rolls
/// the primary back, ResolveLock clears the region, and resolved-ts moves on.
#[test]
fn a_dead_clients_locks_are_resolved_after_their_ttl_and_resolved_ts_moves_on() {
    let mut s = sim(3, &["client_dies=yes"]);
    s.run_until(150 * SEC);
    let w = tidb(&s);
    let died = w
        .markers
        .iter()
        .find(|m| m.kind == "died")
        .expect("the client died")
        .t_ms;
    let last_beat = w
        .markers
        .iter()
        .filter(|m| m.kind == "heartbeat" && m.t_ms <= died)
        .map(|m| m.t_ms)
        .max()
        .unwrap_or(died);
    let start_ts = w.large.start_ts;
    assert_eq!(counter(&s, LARGE_TXNS_COMMITTED), 0);
    assert!(
        counter(&s, CDC_LOCKS_RESOLVED) >= 2,
        "each pinned region resolved"
    );
    let resolved_at: Vec<u64> = s
        .log()
        .iter()
        .filter(|l| {
            l.msg
                .starts_with(&format!("resolve lock of txn {start_ts}"))
        })
        .map(|l| l.t_ms)
        .collect();
    assert!(
        !resolved_at.is_empty(),
        "TiCDC resolved the dead txn's locks"
    );
    for &t in &resolved_at {
        assert!(
            t >= last_beat + 20_000,
            "resolved at {t} ms, before the TTL from the last heartbeat at {last_beat} ms expired"
        );
    }
    // No lock of the dead transaction is left, and the pinned regions caught up.
    for st in s.world().stores.values() {
        for p in st.raftstore.peers.values() {
            assert!(p.raft.store().mvcc.lock.values().all(|l| l.ts != start_ts));
        }
    }
    for (rid, (_, rts, _)) in leader_resolved(&s) {
        assert!(rts > start_ts, "region {rid} moved past the dead txn");
        assert!(
            tso_ms(rts) + 6_000 > s.now() / MS,
            "region {rid} follows the TSO"
        );
    }
    no_violations(&s, "client_dies");
}

/// The safety checks of section 4 over many seeds, with faults injected at
/// random (crashes, partitions, hung disks): resolved-ts never goes back on
/// a leader, never advances while a resolver is Pending, no CDC row
/// arrives after a resolved-ts that passed it and no stale read misses a
/// committed write.
#[test]
fn safety_holds_over_seeds_with_random_faults() {
    for seed in 1..=6u64 {
        let fix = ["none", "txn-status-cache", "min-commit-ts-minus-1"][(seed % 3) as usize];
        let mut s = sim(
            seed,
            &[
                &format!("fix={fix}"),
                "large_txn_duration=30000",
                "client_dies=no",
            ],
        );
        let store = seed % 3 + 1;
        let faults = [
            format!("{}s:crash={store}/8s", 10 + seed),
            format!("{}s:partition={}/6s", 30 + seed, (seed + 1) % 3 + 1),
            format!("{}s:io-hang={}/5s", 45 + seed, (seed + 2) % 3 + 1),
        ];
        for f in &faults {
            s.schedule_input(Input::parse(f).expect("fault"))
                .expect("scheduled");
        }
        let mut last: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        run_checking(&mut s, 70, |s| {
            for st in s.world().stores.values().filter(|st| st.up) {
                let Some(rts) = &st.resolved_ts else { continue };
                for (&rid, o) in &rts.regions {
                    let key = (st.id, rid);
                    let prev = last.get(&key).copied().unwrap_or(0);
                    assert!(
                        o.resolver.resolved_ts >= prev,
                        "seed {seed}: region {rid} on store {} went back from {prev} to {}",
                        st.id,
                        o.resolver.resolved_ts
                    );
                    if !matches!(o.status, ResolverStatus::Ready) {
                        assert_eq!(o.resolver.resolved_ts, prev.min(o.resolver.resolved_ts));
                    }
                    last.insert(key, o.resolver.resolved_ts);
                }
            }
        });
        assert!(
            counter(&s, rtm::RESOLVED_TS_ADVANCES) > 50,
            "seed {seed}: it advanced"
        );
        no_violations(&s, &format!("seed {seed} fix {fix} faults {faults:?}"));
    }
}

/// A live switch of `fix` while the large transaction pins its regions
/// releases them within a heartbeat or two.
#[test]
fn switching_the_fix_live_releases_the_pinned_regions() {
    let mut s = sim(1, &[]);
    s.run_until(40 * SEC);
    let lag_before = 40_000 - tso_ms(leader_resolved(&s)[&1].1);
    assert!(
        lag_before > 15_000,
        "pinned before the switch: {lag_before} ms"
    );
    s.set_live_param("fix", "txn-status-cache")
        .expect("live fix");
    s.run_until(55 * SEC);
    let (_, rts, ready) = leader_resolved(&s)[&1];
    assert!(ready);
    let lag_after = 55_000 - tso_ms(rts);
    assert!(
        lag_after < 10_000,
        "released after the switch: {lag_after} ms"
    );
    assert!(rts > tidb(&s).large.start_ts);
    no_violations(&s, "live fix");
}

/// Invariant 4: a split applied to a tracked region stops its resolver
/// ("region met split/merge command, stop tracking since key range changed,
/// wait for re-register"); the region and the split's new regions register
/// again with an initial lock scan that finds the large transaction's locks
/// ("Resolver initialized" with them), and none of them advances past the
/// transaction before it commits.
#[test]
fn a_split_stops_tracking_until_the_regions_re_register_with_their_locks() {
    let mut s = sim(
        1,
        &[
            "region_split_size=1",
            "large_txn_size=80000",
            "generation_size=8000",
        ],
    );
    let mut during_max = BTreeMap::new();
    run_checking(&mut s, 100, |s| {
        let w = tidb(s);
        if w.large.phase != LargePhase::Writing || w.large.generation < 2 {
            return;
        }
        for (rid, (_, rts, _)) in leader_resolved(s) {
            let e = during_max.entry(rid).or_insert(0);
            *e = rts.max(*e);
        }
    });
    let w = tidb(&s);
    let start_ts = tidb(&s)
        .markers
        .iter()
        .find(|m| m.kind == "start")
        .unwrap()
        .detail;
    let stops: Vec<_> = s
        .log()
        .iter()
        .filter(|l| {
            l.msg
                .starts_with("region met split/merge command, stop tracking")
        })
        .collect();
    assert!(!stops.is_empty(), "the large txn's regions split");
    for stop in &stops {
        let region = stop.region.expect("a region");
        let reinit = s.log().iter().find(|l| {
            l.t_ms >= stop.t_ms
                && l.region == Some(region)
                && l.msg.starts_with("Resolver initialized")
        });
        let reinit =
            reinit.unwrap_or_else(|| panic!("region {region} re-registered after {}", stop.t_ms));
        if stop.t_ms < w.markers.iter().find(|m| m.kind == "commit").unwrap().t_ms {
            assert!(
                !reinit.msg.contains("locks: 0,"),
                "the scan found the locks: {}",
                reinit.msg
            );
        }
    }
    // Regions created by the split (ids above the four pre-split ones).
    assert!(
        during_max.keys().any(|&r| r > 4),
        "the split's regions are tracked"
    );
    for (rid, max) in &during_max {
        if *rid <= 2 || *rid > 4 {
            assert!(
                *max <= start_ts,
                "region {rid} stayed at or below start_ts: {max}"
            );
        }
    }
    for (rid, (_, rts, _)) in leader_resolved(&s) {
        assert!(
            tso_ms(rts) + 6_000 > s.now() / MS,
            "region {rid} follows the TSO at the end"
        );
    }
    no_violations(&s, "split");
}
