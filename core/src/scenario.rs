//! Scenarios: named, documented configurations of the simulator.
//!
//! A scenario has an id, a story (what happens, what to watch, what the fix
//! changes) and a list of parameters, each with a default, a unit, a meaning and
//! its allowed values. [`Params::resolve`] turns `NAME=VALUE` overrides into a
//! checked parameter set, refusing anything unknown or out of range with a
//! [`ScenarioError`] that names it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

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
    /// Items (messages) per virtual second.
    PerSec,
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
            Unit::PerSec => "/s",
            Unit::Choice => "choice",
        }
    }
}

/// The description of one parameter of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// Name used in `--set NAME=VALUE` and in URLs.
    pub name: &'static str,
    /// Unit (and kind) of the value.
    pub unit: Unit,
    /// Default: a number in `unit`, or a choice name.
    pub default: &'static str,
    /// What the parameter means, and where it comes from in TiKV or the incident.
    pub meaning: &'static str,
    /// For numbers, the inclusive range allowed.
    pub range: Option<(u64, u64)>,
    /// For choices, the allowed names with what each means.
    pub choices: &'static [(&'static str, &'static str)],
}

impl ParamSpec {
    /// Allowed values as printed by `kvscope describe`.
    pub fn allowed(&self) -> String {
        if !self.choices.is_empty() {
            return self
                .choices
                .iter()
                .map(|(n, _)| *n)
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
            return match self.choices.iter().find(|(n, _)| *n == t) {
                Some((n, _)) => Ok(ParamValue::Choice(n)),
                None => Err(bad(format!("expected one of {}", self.allowed()))),
            };
        }
        let number = match self.unit {
            Unit::Millis | Unit::Micros => {
                let unit_us = if self.unit == Unit::Millis {
                    crate::time::MS
                } else {
                    1
                };
                let us = crate::time::parse_duration(t, unit_us).map_err(bad)?;
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
    UnknownScenario(String),
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
            ScenarioError::UnknownScenario(id) => {
                let ids: Vec<_> = SCENARIOS.iter().map(|s| s.id).collect();
                write!(f, "unknown scenario '{id}' (known: {})", ids.join(", "))
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
}

/// Every scenario the simulator knows.
pub static SCENARIOS: &[ScenarioSpec] = &[
    crate::scenarios::io_hang::SPEC,
    crate::scenarios::deadlock_oom::SPEC,
];

/// Looks a scenario up by id. Errors: [`ScenarioError::UnknownScenario`].
pub fn find(id: &str) -> Result<&'static ScenarioSpec, ScenarioError> {
    SCENARIOS
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ScenarioError::UnknownScenario(id.to_string()))
}

/// A full, checked parameter set for one scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Params {
    /// Scenario id.
    pub scenario: &'static str,
    /// Every parameter, defaults filled in, by name.
    pub values: BTreeMap<&'static str, ParamValue>,
}

impl Params {
    /// Resolves `overrides` (name, textual value) against the scenario's defaults.
    ///
    /// Errors: unknown scenario, unknown parameter, or a bad value, each naming the culprit.
    pub fn resolve(
        scenario: &str,
        overrides: &[(String, String)],
    ) -> Result<Params, ScenarioError> {
        let spec = find(scenario)?;
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
        Ok(Params {
            scenario: spec.id,
            values,
        })
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
        let spec = find(self.scenario).expect("resolved params name a known scenario");
        spec.params
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

    #[test]
    fn unknown_names_and_bad_values_are_refused_with_the_culprit_named() {
        let e = Params::resolve("nope", &[]).unwrap_err();
        assert!(e.to_string().contains("nope"));
        let e = Params::resolve("io-hang-transfer-leader", &[("bogus".into(), "1".into())])
            .unwrap_err();
        assert!(e.to_string().contains("bogus"));
        let e = Params::resolve("io-hang-transfer-leader", &[("fix".into(), "maybe".into())])
            .unwrap_err();
        assert!(e.to_string().contains("relaxed-check"), "{e}");
        let e = Params::resolve("io-hang-transfer-leader", &[("stores".into(), "99".into())])
            .unwrap_err();
        assert!(e.to_string().contains("stores"));
        let e = Params::resolve(
            "io-hang-transfer-leader",
            &[("hang_start".into(), "4x".into())],
        )
        .unwrap_err();
        assert!(e.to_string().contains("hang_start"));
    }

    #[test]
    fn durations_accept_suffixes_in_the_params_unit() {
        let p = Params::resolve(
            "io-hang-transfer-leader",
            &[
                ("hang_start".into(), "2m".into()),
                ("disk_latency".into(), "2ms".into()),
            ],
        )
        .unwrap();
        assert_eq!(p.num("hang_start"), 120_000);
        assert_eq!(p.num("disk_latency"), 2_000);
        assert_eq!(p.non_defaults().len(), 2);
    }
}
