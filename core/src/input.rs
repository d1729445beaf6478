//! User inputs as replayable data.
//!
//! Every action that changes a running simulation is an [`Input`]: a
//! virtual time and an [`InputAction`] (a live parameter, the `fix` switch,
//! or a fault injected into the environment). The simulation keeps the
//! inputs it applied in its input log and hashes each into the trace, so a
//! run is replayed exactly from its scenario, seed, parameters and inputs:
//! from a URL (`&at=...`), from the command line (`kvscope run --at ...`) or
//! from a test.
//!
//! An input at time `T` is applied after every event due at or before `T`
//! and before any event due later, whether it was scheduled ahead (replay)
//! or applied by the page at the moment the clock showed `T`.
//!
//! Text form: `TIME:NAME=VALUE`, for example `30s:txns=100`,
//! `20s:fix=non-fair-noop`, `40s:io-hang=3/5m` (store 3's disk hangs for
//! 5 minutes), `10s:crash=2/10s` (store 2 is down for 10 s),
//! `10s:partition=1/30s`, `15s:slow-disk=3/60s/10` (10 times slower for
//! 60 s). `TIME` is a duration from the start (`500ms`, `90s`, `2m`, or a
//! bare number of ms).

use std::fmt;

use serde::Serialize;

use crate::env::Fault;
use crate::kernel::time::{parse_duration, Micros, MS, SEC};
use crate::scenario::ScenarioError;

/// The faults an input can inject, by the name the input uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FaultKind {
    /// `io-hang`: every disk write of the store is held.
    IoHang,
    /// `slow-disk`: the store's disk is `factor` times slower.
    SlowDisk,
    /// `crash`: the store's process is down, then restarts.
    Crash,
    /// `partition`: the store is cut off from every other node.
    Partition,
}

impl FaultKind {
    /// Every kind, in the order the page offers them.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::IoHang,
        FaultKind::SlowDisk,
        FaultKind::Crash,
        FaultKind::Partition,
    ];

    /// The name in inputs (`io-hang`, `slow-disk`, `crash`, `partition`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::IoHang => "io-hang",
            FaultKind::SlowDisk => "slow-disk",
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A fault an input injects at its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FaultInput {
    /// What kind.
    pub kind: FaultKind,
    /// Store it hits.
    pub store: u64,
    /// How long it lasts (for a crash: how long the process is down), virtual µs.
    pub duration: Micros,
    /// For `slow-disk`: the latency multiplier (at least 2); 1 otherwise.
    pub factor: u64,
}

impl FaultInput {
    /// The environment's fault, starting at `start`.
    pub fn fault(&self, start: Micros) -> Fault {
        let (store, duration) = (self.store, self.duration);
        match self.kind {
            FaultKind::IoHang => Fault::IoHang {
                store,
                start,
                duration,
            },
            FaultKind::SlowDisk => Fault::SlowDisk {
                store,
                start,
                duration,
                factor: self.factor,
            },
            FaultKind::Crash => Fault::Crash {
                store,
                start,
                duration,
            },
            FaultKind::Partition => Fault::Partition {
                store,
                start,
                duration,
            },
        }
    }

    /// The value in text form: `STORE/DURATION`, and `/FACTOR` for `slow-disk`.
    pub fn value_text(&self) -> String {
        let mut v = format!("{}/{}", self.store, duration_text(self.duration));
        if self.kind == FaultKind::SlowDisk {
            v.push_str(&format!("/{}", self.factor));
        }
        v
    }

    /// Parses `STORE/DURATION` (and `/FACTOR` for `slow-disk`).
    fn parse(kind: FaultKind, value: &str) -> Result<FaultInput, String> {
        let parts: Vec<&str> = value.split('/').collect();
        let want = if kind == FaultKind::SlowDisk { 3 } else { 2 };
        let form = if kind == FaultKind::SlowDisk {
            "STORE/DURATION/FACTOR, for example 3/60s/10"
        } else {
            "STORE/DURATION, for example 3/60s"
        };
        if parts.len() != want {
            return Err(format!("expected {form}"));
        }
        let store: u64 = parts[0]
            .trim()
            .parse()
            .map_err(|_| format!("store '{}' is not a store id ({form})", parts[0]))?;
        let duration = parse_duration(parts[1], MS)?;
        let factor = if kind == FaultKind::SlowDisk {
            parts[2]
                .trim()
                .trim_end_matches('x')
                .parse()
                .map_err(|_| format!("factor '{}' is not a whole number", parts[2]))?
        } else {
            1
        };
        let fault = FaultInput {
            kind,
            store,
            duration,
            factor,
        };
        fault.validate()?;
        Ok(fault)
    }

    /// Checks what parsing checks, for a fault built in code: a duration
    /// above 0 and at most [`MAX_FAULT_DURATION`], a `slow-disk` factor in
    /// 2..=1000, and 1 for the other kinds. So every accepted fault has a
    /// text form that parses back to it.
    ///
    /// Errors: what is wrong, in words.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration == 0 {
            return Err("the duration must be above 0".to_string());
        }
        if self.duration > MAX_FAULT_DURATION {
            return Err(format!(
                "the duration {} is longer than the longest fault, {}",
                duration_text(self.duration),
                duration_text(MAX_FAULT_DURATION)
            ));
        }
        match self.kind {
            FaultKind::SlowDisk if !(2..=1000).contains(&self.factor) => {
                Err(format!("factor {} must be in 2..=1000", self.factor))
            }
            FaultKind::SlowDisk => Ok(()),
            _ if self.factor != 1 => Err(format!(
                "{} takes no factor (got {})",
                self.kind.name(),
                self.factor
            )),
            _ => Ok(()),
        }
    }
}

/// The longest fault an input may inject: 30 virtual days, in µs. Far beyond
/// any run (the page and the command line stop within hours), and small
/// enough that a fault's end never overflows the virtual clock.
pub const MAX_FAULT_DURATION: Micros = 30 * 24 * 3600 * SEC;

/// What an input does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum InputAction {
    /// A live parameter (the `fix` switch among them) takes `value`, as text
    /// in the parameter's unit.
    SetParam {
        /// Parameter name.
        name: String,
        /// New value.
        value: String,
    },
    /// A fault injected into the environment at the input's time.
    Fault(FaultInput),
}

impl InputAction {
    /// The name in text form: the parameter, or the fault kind.
    pub fn name(&self) -> &str {
        match self {
            InputAction::SetParam { name, .. } => name,
            InputAction::Fault(f) => f.kind.name(),
        }
    }

    /// The value in text form.
    pub fn value(&self) -> String {
        match self {
            InputAction::SetParam { value, .. } => value.clone(),
            InputAction::Fault(f) => f.value_text(),
        }
    }

    /// Parses `NAME=VALUE`: a fault kind's name makes a fault, any other
    /// name a parameter change (checked against the scenario when applied).
    ///
    /// Errors: [`InputError::Malformed`] naming the text and what was wrong.
    pub fn parse(text: &str) -> Result<InputAction, InputError> {
        let malformed = |reason: String| InputError::Malformed {
            text: text.to_string(),
            reason,
        };
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| malformed("expected NAME=VALUE".to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(malformed("the name is empty".to_string()));
        }
        match FaultKind::from_name(name) {
            Some(kind) => FaultInput::parse(kind, value)
                .map(InputAction::Fault)
                .map_err(malformed),
            None => Ok(InputAction::SetParam {
                name: name.to_string(),
                value: value.to_string(),
            }),
        }
    }
}

/// One user action with its virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Input {
    /// When it applies, virtual µs since the start.
    pub at: Micros,
    /// What it does.
    pub action: InputAction,
}

impl Input {
    /// Parses `TIME:NAME=VALUE` (see the module docs).
    ///
    /// Errors: [`InputError::Malformed`] naming the text and what was wrong.
    pub fn parse(text: &str) -> Result<Input, InputError> {
        let malformed = |reason: String| InputError::Malformed {
            text: text.to_string(),
            reason,
        };
        let (time, change) = text.split_once(':').ok_or_else(|| {
            malformed("expected TIME:NAME=VALUE, for example 30s:txns=100".to_string())
        })?;
        let at = parse_duration(time, MS).map_err(malformed)?;
        let action = InputAction::parse(change).map_err(|e| match e {
            InputError::Malformed { reason, .. } => malformed(reason),
            other => other,
        })?;
        Ok(Input { at, action })
    }

    /// The text form, `TIME:NAME=VALUE`; [`Input::parse`] reads it back.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}={}",
            duration_text(self.at),
            self.action.name(),
            self.action.value()
        )
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A duration in the shortest exact text form: `90s`, `1500ms` or `1250us`.
pub fn duration_text(us: Micros) -> String {
    if us % SEC == 0 {
        format!("{}s", us / SEC)
    } else if us % MS == 0 {
        format!("{}ms", us / MS)
    } else {
        format!("{us}us")
    }
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The text is not `TIME:NAME=VALUE` or its value is malformed.
    Malformed {
        /// The text given.
        text: String,
        /// What was wrong.
        reason: String,
    },
    /// The parameter is unknown, cannot change while running, or the value
    /// is bad for it.
    Param(ScenarioError),
    /// The fault names a store the cluster does not have.
    UnknownStore {
        /// The store given.
        store: u64,
        /// The stores there are.
        stores: Vec<u64>,
    },
    /// The input's time has already passed.
    InThePast {
        /// The input.
        input: String,
        /// Virtual now, µs.
        now: Micros,
    },
    /// The input's time is past the end of the run.
    PastTheEnd {
        /// The input.
        input: String,
        /// The end of the run, virtual µs.
        until: Micros,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Malformed { text, reason } => {
                write!(f, "malformed input '{text}': {reason}")
            }
            InputError::Param(e) => write!(f, "{e}"),
            InputError::UnknownStore { store, stores } => {
                let ids: Vec<String> = stores.iter().map(u64::to_string).collect();
                write!(f, "there is no store {store} (stores: {})", ids.join(", "))
            }
            InputError::InThePast { input, now } => write!(
                f,
                "input '{input}' is before the simulation's clock ({})",
                duration_text(*now)
            ),
            InputError::PastTheEnd { input, until } => write!(
                f,
                "input '{input}' is past the end of the run (--until {})",
                duration_text(*until)
            ),
        }
    }
}

impl std::error::Error for InputError {}

impl From<ScenarioError> for InputError {
    fn from(e: ScenarioError) -> Self {
        InputError::Param(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_back_from_their_text() {
        for text in [
            "30s:txns=100",
            "20s:fix=non-fair-noop",
            "40s:io-hang=3/300s",
            "10s:crash=2/10s",
            "1500ms:partition=1/30s",
            "15s:slow-disk=3/60s/10",
            "1250us:hot_keys=2",
        ] {
            let i = Input::parse(text).unwrap();
            assert_eq!(i.to_text(), text);
            assert_eq!(Input::parse(&i.to_text()).unwrap(), i);
        }
        let i = Input::parse("2m:io-hang=3/5m").unwrap();
        assert_eq!(i.at, 120 * SEC);
        assert_eq!(
            i.action,
            InputAction::Fault(FaultInput {
                kind: FaultKind::IoHang,
                store: 3,
                duration: 300 * SEC,
                factor: 1
            })
        );
        assert_eq!(Input::parse("750:txns=3").unwrap().at, 750 * MS);
    }

    #[test]
    fn malformed_inputs_are_refused_with_the_reason() {
        for (text, needle) in [
            ("txns=100", "TIME:NAME=VALUE"),
            ("30s:txns", "NAME=VALUE"),
            ("x:txns=1", "not a duration"),
            ("30s:=4", "empty"),
            ("30s:io-hang=3", "STORE/DURATION"),
            ("30s:io-hang=three/10s", "store 'three'"),
            ("30s:crash=2/0s", "above 0"),
            ("30s:slow-disk=2/10s/1", "2..=1000"),
            ("30s:slow-disk=2/10s", "FACTOR"),
            ("1s:io-hang=3/31d", "not a duration"),
            ("1s:io-hang=3/18446744073709s", "longest fault"),
        ] {
            let e = Input::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.contains(text), "{text}: {e}");
        }
    }

    /// A fault built in code is held to what its text form allows, so every
    /// accepted fault replays from its text.
    #[test]
    fn faults_built_in_code_are_checked_as_parsed_ones() {
        let ok = FaultInput {
            kind: FaultKind::SlowDisk,
            store: 1,
            duration: 10 * SEC,
            factor: 10,
        };
        assert_eq!(ok.validate(), Ok(()));
        for (bad, needle) in [
            (FaultInput { duration: 0, ..ok }, "above 0"),
            (FaultInput { factor: 1, ..ok }, "2..=1000"),
            (
                FaultInput {
                    duration: MAX_FAULT_DURATION + 1,
                    ..ok
                },
                "longest fault",
            ),
            (
                FaultInput {
                    kind: FaultKind::Crash,
                    ..ok
                },
                "no factor",
            ),
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.contains(needle), "{bad:?}: {e}");
            // Its text form either is refused too or reads back as another
            // fault (a crash's text has no factor).
            let text = InputAction::Fault(bad).value();
            assert!(
                !FaultInput::parse(bad.kind, &text).is_ok_and(|f| f == bad),
                "{text} does not replay as {bad:?}"
            );
        }
    }
}
