//! The run summary printed by `kvscope run --json` (and shown by the page).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::invariants::Violation;
use crate::kernel::log::LogLine;
use crate::scenario::ParamValue;
use crate::sim::Simulation;

/// One run's summary. See `kvscope run --help` for the field list.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// Scenario id.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Every parameter as the run was built, in its unit (live changes are in `inputs`).
    pub params: BTreeMap<&'static str, ParamValue>,
    /// Virtual ms simulated.
    pub until_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Wall-clock ms the run took (measured by the caller; 0 if not measured).
    pub wall_ms: u64,
    /// Hex SHA-256 of the event trace.
    pub trace_hash: String,
    /// Series sampled each virtual second: name -> `[t_ms, value]` points.
    pub series: BTreeMap<String, Vec<(u64, f64)>>,
    /// Counters.
    pub counters: BTreeMap<&'static str, u64>,
    /// The event log.
    pub log: Vec<LogLine>,
    /// Invariant violations.
    pub violations: Vec<Violation>,
    /// The inputs applied to the running simulation, in order.
    pub inputs: Vec<InputRecord>,
}

/// One applied input as the JSON lists it.
#[derive(Debug, Serialize)]
pub struct InputRecord {
    /// Virtual ms at which it applied.
    pub at_ms: u64,
    /// Parameter or fault kind.
    pub name: String,
    /// Value, in the parameter's unit (or the fault's `STORE/DURATION[/FACTOR]`).
    pub value: String,
    /// The text form, as `kvscope run --at` takes it.
    pub text: String,
}

impl RunSummary {
    /// Summarizes `sim` after a run to `until_ms` that took `wall_ms`.
    pub fn of(sim: &Simulation, until_ms: u64, wall_ms: u64) -> RunSummary {
        let mut counters = sim.counters().clone();
        use crate::raftstore::metrics::*;
        for c in [
            TRANSFER_LEADER_ATTEMPTS,
            TRANSFER_LEADER_REJECTED,
            TRANSFER_LEADER_REJECTED_PENDING_CONF,
            TRANSFER_LEADER_SUCCEEDED,
        ] {
            counters.entry(c).or_insert(0);
        }
        RunSummary {
            scenario: sim.params().scenario(),
            seed: sim.seed(),
            params: sim.build_params().values.clone(),
            until_ms,
            events: sim.events_processed(),
            wall_ms,
            trace_hash: sim.trace_hash(),
            series: sim
                .series()
                .iter()
                .map(|(k, v)| (k.name(), v.clone()))
                .collect(),
            counters: counters.into_iter().map(|(c, n)| (c.name(), n)).collect(),
            log: sim.log().to_vec(),
            violations: sim.violations().to_vec(),
            inputs: sim
                .inputs()
                .iter()
                .map(|i| InputRecord {
                    at_ms: crate::kernel::time::to_ms(i.at),
                    name: i.action.name().to_string(),
                    value: i.action.value(),
                    text: i.to_text(),
                })
                .collect(),
        }
    }
}
