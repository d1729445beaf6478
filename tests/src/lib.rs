//! Helpers shared by the scenario tests in `tests/tests/`.

use kvscope_core::kernel::metrics::{Counter, SeriesKey};
use kvscope_core::time::MS;
use kvscope_core::Simulation;

/// Builds `scenario` with `seed` and `settings` (`NAME=VALUE`) and runs it to
/// `until_s` virtual seconds.
pub fn run_scenario(scenario: &str, seed: u64, settings: &[&str], until_s: u64) -> Simulation {
    let overrides: Vec<(String, String)> = settings
        .iter()
        .map(|s| {
            let (n, v) = s.split_once('=').expect("settings are NAME=VALUE");
            (n.to_string(), v.to_string())
        })
        .collect();
    let mut sim = Simulation::new(scenario, seed, &overrides).expect("valid scenario settings");
    sim.run_until(until_s * 1000 * MS);
    sim
}

/// Maximum of series `key` (`f64::MIN` when absent).
pub fn max_of(sim: &Simulation, key: &SeriesKey) -> f64 {
    sim.series().get(key).map_or(f64::MIN, |s| {
        s.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max)
    })
}

/// The value of `counter` (0 while nothing counted it).
pub fn counter(sim: &Simulation, counter: Counter) -> u64 {
    sim.counters().get(&counter).copied().unwrap_or(0)
}

/// Builds the scenario `io-hang-transfer-leader` with `seed` and `settings`
/// (`NAME=VALUE`) and runs it to `until_s` virtual seconds.
pub fn run_io_hang(seed: u64, settings: &[&str], until_s: u64) -> Simulation {
    let overrides: Vec<(String, String)> = settings
        .iter()
        .map(|s| {
            let (n, v) = s.split_once('=').expect("settings are NAME=VALUE");
            (n.to_string(), v.to_string())
        })
        .collect();
    let mut sim = Simulation::new("io-hang-transfer-leader", seed, &overrides)
        .expect("valid scenario settings");
    sim.run_until(until_s * 1000 * MS);
    sim
}

/// Mean of series `key` over samples with `from_s <= t < to_s` (virtual seconds).
pub fn mean_between(sim: &Simulation, key: &SeriesKey, from_s: u64, to_s: u64) -> f64 {
    let points: Vec<f64> = sim
        .series()
        .get(key)
        .map(|s| {
            s.iter()
                .filter(|(t, _)| *t >= from_s * 1000 && *t < to_s * 1000)
                .map(|(_, v)| *v)
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !points.is_empty(),
        "series {} has no samples in [{from_s}s, {to_s}s)",
        key.name()
    );
    points.iter().sum::<f64>() / points.len() as f64
}

/// Lowest value of series `key` over samples with `from_s <= t < to_s`.
pub fn min_between(sim: &Simulation, key: &SeriesKey, from_s: u64, to_s: u64) -> f64 {
    sim.series()
        .get(key)
        .into_iter()
        .flatten()
        .filter(|(t, _)| *t >= from_s * 1000 && *t < to_s * 1000)
        .map(|(_, v)| *v)
        .fold(f64::INFINITY, f64::min)
}

/// Number of log lines whose message contains `needle`.
pub fn log_count(sim: &Simulation, needle: &str) -> usize {
    sim.log().iter().filter(|l| l.msg.contains(needle)).count()
}

/// Store `store`'s initialized regions, by start key.
pub fn store_regions(sim: &Simulation, store: u64) -> Vec<kvscope_core::proto::RegionMeta> {
    let mut v: Vec<_> = sim.world().stores[&store]
        .raftstore
        .peers
        .values()
        .filter(|p| p.raft.store().is_initialized())
        .map(|p| p.region().clone())
        .collect();
    v.sort_by_key(|r| r.start_key);
    v
}

/// Panics (naming `what`) if two of `regions` (sorted by start key) overlap.
pub fn assert_disjoint(regions: &[kvscope_core::proto::RegionMeta], what: &str) {
    for w in regions.windows(2) {
        assert!(
            w[0].end_key <= w[1].start_key,
            "{what}: {} overlaps {}",
            w[0].describe(),
            w[1].describe()
        );
    }
}

/// Panics (naming `what`) unless `regions` tile the whole keyspace
/// `[0, +inf)` without gap or overlap.
pub fn assert_tiles_keyspace(mut regions: Vec<kvscope_core::proto::RegionMeta>, what: &str) {
    regions.sort_by_key(|r| r.start_key);
    assert_disjoint(&regions, what);
    assert_eq!(regions.first().map(|r| r.start_key), Some(0), "{what}");
    assert_eq!(regions.last().map(|r| r.end_key), Some(u64::MAX), "{what}");
    for w in regions.windows(2) {
        assert_eq!(
            w[0].end_key,
            w[1].start_key,
            "{what}: a gap after {}",
            w[0].describe()
        );
    }
}
