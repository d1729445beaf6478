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
