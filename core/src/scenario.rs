//! Scenarios: named, documented configurations of the simulator, and the
//! seam every scenario plugs into.
//!
//! A scenario has an id, a story (what happens, what to watch, what the fix
//! changes), a list of parameters (each with a default, a unit, a meaning and
//! its allowed values, some of them live), and the panels its page shows
//! ([`ScenarioSpec`]). It builds its world and handles its own live changes
//! ([`Scenario`]); the registry of scenarios is `crate::scenarios::REGISTRY`.
//! [`Params::resolve`] turns `NAME=VALUE` overrides into a checked parameter
//! set, refusing anything unknown or out of range with a [`ScenarioError`]
//! that names it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::env::Fault;
use crate::kernel::metrics::Counter;
use crate::proto::Ctx;
use crate::world::World;

/// The unit and kind of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// A plain count (stores, regions, clients, ...).
    Count,
    /// A percentage, 0..=100.
    Percent,
    /// A duration in virtual milliseconds. Input may carry a suffix: `us`, `ms`, `s`, `m`.
    Millis,
    /// A duration in virtual microseconds. Input may carry a suffix: `us`, `ms`, `s`, `m`.
    Micros,
    /// Raft ticks (multiples of `raft_base_tick_interval`).
    Ticks,
    /// Megabytes per second (10^6 bytes).
    MegabytesPerSec,
    /// Mebibytes (2^20 bytes).
    Mebibytes,
    /// Mebibytes per second.
    MebibytesPerSec,
    /// Bytes.
    Bytes,
    /// Items (messages) per virtual second.
    PerSec,
    /// A store id (1-based; the page offers the cluster's stores).
    StoreId,
    /// One of a fixed set of names.
    Choice,
}

impl Unit {
    /// The unit as printed by `kvscope describe`.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Percent => "%",
            Unit::Millis => "ms",
            Unit::Micros => "µs",
            Unit::Ticks => "ticks",
            Unit::MegabytesPerSec => "MB/s",
            Unit::Mebibytes => "MiB",
            Unit::MebibytesPerSec => "MiB/s",
            Unit::Bytes => "B",
            Unit::PerSec => "/s",
            Unit::StoreId => "store",
            Unit::Choice => "choice",
        }
    }
}

/// One allowed value of a choice parameter.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Choice {
    /// The value, as `--set NAME=VALUE` and URLs take it.
    pub name: &'static str,
    /// Short label on the page (for a fix: which PR).
    pub label: &'static str,
    /// What it means, and where it comes from in TiKV.
    pub meaning: &'static str,
}

impl Choice {
    /// A choice `name` shown as `label`, meaning `meaning`.
    pub const fn new(name: &'static str, label: &'static str, meaning: &'static str) -> Choice {
        Choice {
            name,
            label,
            meaning,
        }
    }
}

/// The description of one parameter of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// Name used in `--set NAME=VALUE` and in URLs.
    pub name: &'static str,
    /// Short label on the page.
    pub label: &'static str,
    /// Unit (and kind) of the value.
    pub unit: Unit,
    /// Default: a number in `unit`, or a choice name.
    pub default: &'static str,
    /// What the parameter means, and where it comes from in TiKV or the incident.
    pub meaning: &'static str,
    /// For numbers, the inclusive range allowed.
    pub range: Option<(u64, u64)>,
    /// For choices, the allowed values.
    pub choices: &'static [Choice],
}

impl ParamSpec {
    /// A numeric parameter in `unit` with inclusive range `lo..=hi`.
    pub const fn number(
        name: &'static str,
        label: &'static str,
        unit: Unit,
        default: &'static str,
        lo: u64,
        hi: u64,
        meaning: &'static str,
    ) -> ParamSpec {
        ParamSpec {
            name,
            label,
            unit,
            default,
            meaning,
            range: Some((lo, hi)),
            choices: &[],
        }
    }

    /// Allowed values as printed by `kvscope describe`.
    pub fn allowed(&self) -> String {
        if !self.choices.is_empty() {
            return self
                .choices
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(" | ");
        }
        match self.range {
            Some((lo, hi)) => format!("{lo}..={hi}"),
            None => "any".to_string(),
        }
    }

    /// Parses a textual value into a [`ParamValue`], checking the range or choices.
    ///
    /// Durations accept a suffix (`250us`, `40ms`, `3s`, `2m`) and are converted to
    /// the parameter's unit; a bare number is taken in the parameter's unit.
    /// Errors: [`ScenarioError::BadValue`] saying what was wrong.
    pub fn parse(&self, text: &str) -> Result<ParamValue, ScenarioError> {
        let bad = |reason: String| ScenarioError::BadValue {
            name: self.name.to_string(),
            value: text.to_string(),
            reason,
        };
        let t = text.trim();
        if self.unit == Unit::Choice {
            return match self.choices.iter().find(|c| c.name == t) {
                Some(c) => Ok(ParamValue::Choice(c.name)),
                None => Err(bad(format!("expected one of {}", self.allowed()))),
            };
        }
        let number = match self.unit {
            Unit::Millis | Unit::Micros => {
                let unit_us = if self.unit == Unit::Millis {
                    crate::kernel::time::MS
                } else {
                    1
                };
                let us = crate::kernel::time::parse_duration(t, unit_us).map_err(bad)?;
                if us % unit_us != 0 {
                    return Err(bad(format!(
                        "must be a whole number of {}",
                        self.unit.label()
                    )));
                }
                us / unit_us
            }
            _ => t
                .parse::<u64>()
                .map_err(|_| bad("expected a whole non-negative number".into()))?,
        };
        if let Some((lo, hi)) = self.range {
            if number < lo || number > hi {
                return Err(bad(format!("must be in {lo}..={hi} {}", self.unit.label())));
            }
        }
        Ok(ParamValue::Number(number))
    }
}

/// A resolved parameter value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number in the parameter's unit.
    Number(u64),
    /// A choice name.
    Choice(&'static str),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Number(n) => write!(f, "{n}"),
            ParamValue::Choice(c) => f.write_str(c),
        }
    }
}

/// Errors from choosing a scenario or setting its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioError {
    /// No scenario has this id.
    UnknownScenario {
        /// The id given.
        id: String,
        /// The ids that exist.
        known: Vec<&'static str>,
    },
    /// The scenario has no parameter of this name.
    UnknownParam {
        /// Scenario id.
        scenario: String,
        /// The name given.
        name: String,
    },
    /// The value is malformed or out of range.
    BadValue {
        /// Parameter name.
        name: String,
        /// The value given.
        value: String,
        /// What was wrong.
        reason: String,
    },
    /// A `NAME=VALUE` override without `=`.
    MalformedOverride(String),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::UnknownScenario { id, known } => {
                write!(f, "unknown scenario '{id}' (known: {})", known.join(", "))
            }
            ScenarioError::UnknownParam { scenario, name } => {
                write!(f, "scenario '{scenario}' has no parameter '{name}' (see `kvscope describe {scenario}`)")
            }
            ScenarioError::BadValue {
                name,
                value,
                reason,
            } => {
                write!(f, "bad value '{value}' for parameter '{name}': {reason}")
            }
            ScenarioError::MalformedOverride(s) => {
                write!(f, "malformed setting '{s}': expected NAME=VALUE")
            }
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The story panel of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Story {
    /// What is going on, in a few sentences.
    pub what_happens: &'static str,
    /// Where to look on the page.
    pub what_to_watch: &'static str,
    /// What each `fix` value changes, and why.
    pub what_the_fix_changes: &'static str,
}

/// A scenario: id, title, story and parameters.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioSpec {
    /// Stable id used on the command line and in URLs.
    pub id: &'static str,
    /// Title shown in the picker.
    pub title: &'static str,
    /// TiKV issue and fix it reproduces.
    pub source: &'static str,
    /// Story panel text.
    pub story: Story,
    /// Parameters, in display order.
    pub params: &'static [ParamSpec],
    /// Parameters that can change while the simulation runs
    /// ([`crate::Simulation::set_live_param`]); the others need a rebuild.
    pub live: &'static [&'static str],
    /// The page's panels.
    pub layout: PageLayout,
    /// The counters the page shows, in order (besides cluster QPS and the
    /// invariant violations, which every page shows).
    pub counters: &'static [CounterSpec],
    /// The parameters the page puts first in its parameters panel (the
    /// scenario's fault, say); the others are under "All parameters".
    pub featured: &'static [&'static str],
}

/// A panel of the page. A scenario lists the panels its page shows
/// ([`PageLayout`]); the page draws each from the views the core gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Panel {
    /// Stores as columns with their disks and roles, regions with their peers.
    ClusterMap,
    /// The selected region's Raft group: indices per peer, log strip, pending
    /// conf change, transfer-leader attempts.
    RaftGroup,
    /// PD's operators, running and finished.
    Operators,
    /// "Why is it stuck?": the client requests waiting longest, each with
    /// the chain of what it waits on down to its root
    /// ([`crate::views::why`]).
    WhyStuck,
    /// The scenario's counters ([`ScenarioSpec::counters`]).
    Counters,
    /// QPS and client latency over time, with fault windows shaded.
    ClientCharts,
    /// The scenario's parameters that need a new run (replayed from t = 0).
    Parameters,
    /// The scenario's live parameters ([`ScenarioSpec::live`]), acting on the
    /// running simulation.
    LiveControls,
    /// The story: what happens, what to watch, what the fix changes.
    Story,
    /// Transactions and the locks they wait for, the detector leader's table,
    /// cycles and victims.
    WaitForGraph,
    /// The lock manager's channels per store (depth, bytes, in and out per second).
    LockManagerQueues,
    /// The detector stream's backlog per store over time.
    DetectorBacklogChart,
    /// Memory per store by module over time, with the limit and OOM kills.
    MemoryCharts,
    /// One store's memory trace tree at a chosen moment.
    MemoryTree,
    /// Inject a fault now (hang or slow a disk, crash a process, partition
    /// a store), and the log of the inputs applied so far.
    FaultInjection,
    /// Each Raft snapshot's journey stage by stage on a timeline (requested,
    /// generated, sent in chunks, received, applied), the followers'
    /// progress state, and the limits and pools in use.
    SnapshotPipeline,
    /// One store's in-memory engine: its region metas as a state machine and
    /// a table, the background task queue, the load requests, the race's
    /// preconditions and the panic banner.
    InMemoryEngine,
    /// Resolved-ts: the TSO and each region's resolved-ts over time with the
    /// lag and the CDC feed's lag, markers of the large transaction, and
    /// the selected region's resolver (its locks, the one that pins it, the
    /// cache entry that lets it pass).
    ResolvedTs,
}

/// Where the page puts the panels, column by column (at 1440 px wide the
/// three columns show side by side; the event log runs below them).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PageLayout {
    /// Left column (controls and story).
    pub left: &'static [Panel],
    /// Centre column.
    pub center: &'static [Panel],
    /// Right column.
    pub right: &'static [Panel],
}

impl PageLayout {
    /// True when the layout shows `panel` anywhere.
    pub fn shows(&self, panel: Panel) -> bool {
        self.left
            .iter()
            .chain(self.center)
            .chain(self.right)
            .any(|p| *p == panel)
    }
}

/// How the page colours a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Alarm {
    /// Informational.
    Neutral,
    /// Shown as bad once it is above zero (rejections, drops, kills).
    BadWhenNonZero,
    /// Shown as good once it is above zero (the fix working).
    GoodWhenNonZero,
}

/// A counter the scenario's page shows, with its label.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CounterSpec {
    /// The counter.
    pub counter: Counter,
    /// Short label under the value.
    pub label: &'static str,
    /// What it counts (the tooltip), in TiKV's terms.
    pub meaning: &'static str,
    /// How the page colours it.
    pub alarm: Alarm,
}

/// What a scenario builds: the world and the faults scheduled from t = 0.
pub struct Built {
    /// Components and environment.
    pub world: World,
    /// Faults to schedule.
    pub faults: Vec<Fault>,
}

/// A scenario: its spec, how it builds its world, and how it applies its
/// live parameters to the running world. Adding a scenario is a new file
/// under `scenarios/` implementing this, its components, and one line in
/// `crate::scenarios::REGISTRY`.
pub trait Scenario: Sync {
    /// The scenario's description, parameters and page.
    fn spec(&self) -> &'static ScenarioSpec;

    /// Builds the world for `params` (already checked against the spec).
    /// `ctx` is the simulation's context at t = 0 (its RNG and effects);
    /// `logger` routes raft-rs's lines into the event log.
    ///
    /// Errors: combinations of values the scenario refuses, as
    /// [`ScenarioError::BadValue`].
    fn build(
        &self,
        params: &Params,
        ctx: &mut Ctx,
        logger: &slog::Logger,
    ) -> Result<Built, ScenarioError>;

    /// Applies the live parameter `name` (one of [`ScenarioSpec::live`],
    /// already parsed into `value`) to the running `world`.
    ///
    /// Errors: [`ScenarioError::BadValue`] when the value cannot apply now.
    fn set_live(
        &self,
        world: &mut World,
        ctx: &mut Ctx,
        name: &str,
        value: &ParamValue,
    ) -> Result<(), ScenarioError>;
}

/// A full, checked parameter set for one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    /// The scenario.
    #[serde(skip)]
    pub spec: &'static ScenarioSpec,
    /// Every parameter, defaults filled in, by name.
    pub values: BTreeMap<&'static str, ParamValue>,
}

impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.spec.id == other.spec.id && self.values == other.values
    }
}

impl Params {
    /// Resolves `overrides` (name, textual value) against the defaults of `spec`.
    ///
    /// Errors: an unknown parameter or a bad value, each naming the culprit.
    pub fn resolve(
        spec: &'static ScenarioSpec,
        overrides: &[(String, String)],
    ) -> Result<Params, ScenarioError> {
        let mut values = BTreeMap::new();
        for p in spec.params {
            values.insert(
                p.name,
                p.parse(p.default).expect("scenario defaults are valid"),
            );
        }
        for (name, value) in overrides {
            let p = spec.params.iter().find(|p| p.name == name).ok_or_else(|| {
                ScenarioError::UnknownParam {
                    scenario: spec.id.to_string(),
                    name: name.clone(),
                }
            })?;
            values.insert(p.name, p.parse(value)?);
        }
        Ok(Params { spec, values })
    }

    /// The scenario's id.
    pub fn scenario(&self) -> &'static str {
        self.spec.id
    }

    /// Splits `NAME=VALUE` strings into pairs. Errors: [`ScenarioError::MalformedOverride`].
    pub fn split_overrides(settings: &[String]) -> Result<Vec<(String, String)>, ScenarioError> {
        settings
            .iter()
            .map(|s| match s.split_once('=') {
                Some((n, v)) if !n.trim().is_empty() => {
                    Ok((n.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(ScenarioError::MalformedOverride(s.clone())),
            })
            .collect()
    }

    /// The number value of `name`. Panics if the scenario has no such numeric parameter
    /// (a programming error: every name used by the simulator is in the scenario's spec).
    pub fn num(&self, name: &str) -> u64 {
        match self.values.get(name) {
            Some(ParamValue::Number(n)) => *n,
            other => panic!("parameter {name} is not a number: {other:?}"),
        }
    }

    /// The choice value of `name`. Panics like [`Params::num`].
    pub fn choice(&self, name: &str) -> &'static str {
        match self.values.get(name) {
            Some(ParamValue::Choice(c)) => c,
            other => panic!("parameter {name} is not a choice: {other:?}"),
        }
    }

    /// The overrides that differ from the defaults, as `(name, value)` text pairs
    /// (for URLs and reproduction notes).
    pub fn non_defaults(&self) -> Vec<(String, String)> {
        self.spec
            .params
            .iter()
            .filter_map(|p| {
                let v = self.values.get(p.name)?;
                let d = p.parse(p.default).ok()?;
                (v != &d).then(|| (p.name.to_string(), v.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{find, io_hang};

    fn resolve(id: &str, overrides: &[(&str, &str)]) -> Result<Params, ScenarioError> {
        let o: Vec<(String, String)> = overrides
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Params::resolve(find(id)?.spec(), &o)
    }

    #[test]
    fn unknown_names_and_bad_values_are_refused_with_the_culprit_named() {
        let e = resolve("nope", &[]).unwrap_err();
        assert!(e.to_string().contains("nope"));
        assert!(e.to_string().contains(io_hang::ID), "{e}");
        let e = resolve(io_hang::ID, &[("bogus", "1")]).unwrap_err();
        assert!(e.to_string().contains("bogus"));
        let e = resolve(io_hang::ID, &[("fix", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("relaxed-check"), "{e}");
        let e = resolve(io_hang::ID, &[("stores", "99")]).unwrap_err();
        assert!(e.to_string().contains("stores"));
        let e = resolve(io_hang::ID, &[("hang_start", "4x")]).unwrap_err();
        assert!(e.to_string().contains("hang_start"));
    }

    #[test]
    fn durations_accept_suffixes_in_the_params_unit() {
        let p = resolve(
            io_hang::ID,
            &[("hang_start", "2m"), ("disk_latency", "2ms")],
        )
        .unwrap();
        assert_eq!(p.num("hang_start"), 120_000);
        assert_eq!(p.num("disk_latency"), 2_000);
        assert_eq!(p.non_defaults().len(), 2);
    }
}
