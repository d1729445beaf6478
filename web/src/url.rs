//! The run in the page's query string, so that a run can be shared and
//! replayed exactly.
//!
//! `?scenario=ID&seed=7&NAME=VALUE&at=41250ms:io-hang=3/60s&at=90s:NAME=VALUE`
//! names the scenario, the seed, every parameter the run was *built* with
//! that differs from its default (`Simulation::build_params().non_defaults()`),
//! and one `at=TIME:NAME=VALUE` per user input, in the order they were
//! applied (`kvscope_core::input::Input::to_text`: a live parameter changed,
//! or a fault injected, at that virtual time). Opening the URL builds the
//! run and schedules every input for its time, so the run replays exactly
//! (the same trace hash as the run that wrote it).
//!
//! Three viewing keys are read too but never written back: `speed` (a
//! [`Speed`] key such as `100` or `max`), `play=1` (start playing on load) and
//! `until=120` (pause at that virtual time: seconds, or with a unit `90s`,
//! `2m`, `1500ms`).
//!
//! A malformed value never stops the page: [`parse_query`] returns the run
//! with that value left at its default (a malformed `at=` is skipped), and a
//! message for the error banner naming it.

use kvscope_core::input::Input;
use kvscope_core::scenario::ScenarioSpec;
use kvscope_core::scenarios::{self, specs};

use crate::speed::Speed;

/// The seed used when the URL names none.
pub const DEFAULT_SEED: u64 = 1;

/// A run to start: what to simulate and how to play it.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    /// Scenario id (one of `kvscope_core::scenarios::REGISTRY`).
    pub scenario: String,
    /// Seed of the simulation's RNG.
    pub seed: u64,
    /// Parameter overrides the run is built with, `(name, value)` as text.
    pub overrides: Vec<(String, String)>,
    /// User inputs to replay, in the order they were applied (each is
    /// scheduled for its virtual time before the run plays).
    pub inputs: Vec<Input>,
    /// Playback speed.
    pub speed: Speed,
    /// Start playing at once.
    pub autoplay: bool,
    /// Pause when the virtual clock reaches this many ms.
    pub until_ms: Option<u64>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            scenario: specs().next().map_or("", |s| s.id).to_string(),
            seed: DEFAULT_SEED,
            overrides: Vec::new(),
            inputs: Vec::new(),
            speed: Speed::default(),
            autoplay: false,
            until_ms: None,
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn decode(text: &str) -> Result<String, String> {
    let spaced = text.replace('+', " ");
    js_sys::decode_uri_component(&spaced)
        .map(String::from)
        .map_err(|_| format!("'{text}' is not valid URL encoding"))
}

/// Encodes one query component.
fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

/// Encodes an input's text for an `at=` value: like [`encode`], but `:`,
/// `/` and `=` stay as they are (all three are allowed in a query value),
/// so that `at=30s:NAME=VALUE` stays readable.
fn encode_input(text: &str) -> String {
    encode(text)
        .replace("%3A", ":")
        .replace("%2F", "/")
        .replace("%3D", "=")
}

/// Splits a query string (with or without its leading `?`) into decoded
/// `(key, value)` pairs, reporting pairs that cannot be decoded.
pub fn split_query(query: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for part in query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match (decode(k), decode(v)) {
            (Ok(k), Ok(v)) => pairs.push((k, v)),
            (Err(e), _) | (_, Err(e)) => errors.push(format!("URL: {e}; ignored")),
        }
    }
    (pairs, errors)
}

/// Parses a duration given in seconds (`120`, `2.5`) or with a unit
/// (`90s`, `1500ms`, `2m`) into ms (see `kvscope_core::time::parse_duration`).
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    kvscope_core::time::parse_duration(text, kvscope_core::time::SEC)
        .map(|us| us / kvscope_core::time::MS)
}

/// Reads a run from a query string. Returns the run and one message per
/// value that was malformed or unknown (each such value is left at its
/// default; a malformed `at=` input is skipped). Whether an input applies to
/// the scenario (a live parameter, a store the cluster has) is checked when
/// the app schedules it.
pub fn parse_query(query: &str) -> (Launch, Vec<String>) {
    let (pairs, mut errors) = split_query(query);
    let mut launch = Launch::default();
    let spec: &ScenarioSpec = match pairs.iter().rev().find(|(k, _)| k == "scenario") {
        Some((_, id)) => match scenarios::find(id) {
            Ok(s) => s.spec(),
            Err(e) => {
                errors.push(format!("URL: {e}; showing '{}' instead", launch.scenario));
                match scenarios::find(&launch.scenario) {
                    Ok(s) => s.spec(),
                    Err(_) => return (launch, errors),
                }
            }
        },
        None => match scenarios::find(&launch.scenario) {
            Ok(s) => s.spec(),
            Err(_) => return (launch, errors),
        },
    };
    launch.scenario = spec.id.to_string();
    for (key, value) in pairs {
        match key.as_str() {
            "scenario" => {}
            "seed" => match value.trim().parse::<u64>() {
                Ok(s) => launch.seed = s,
                Err(_) => errors.push(format!(
                    "URL: seed '{value}' is not a whole non-negative number; using seed {DEFAULT_SEED}"
                )),
            },
            "speed" => match Speed::parse(&value) {
                Ok(s) => launch.speed = s,
                Err(e) => errors.push(format!("URL: {e}; using {}", Speed::default())),
            },
            "play" => match value.as_str() {
                "1" | "true" | "yes" | "" => launch.autoplay = true,
                "0" | "false" | "no" => launch.autoplay = false,
                _ => errors.push(format!("URL: play '{value}' should be 1 or 0; not playing")),
            },
            "until" => match parse_duration_ms(&value) {
                Ok(ms) => launch.until_ms = Some(ms),
                Err(e) => errors.push(format!("URL: until: {e}; ignored")),
            },
            "at" => match Input::parse(&value) {
                Ok(input) => launch.inputs.push(input),
                Err(e) => errors.push(format!("URL: at={value}: {e}; skipped")),
            },
            name => match spec.params.iter().find(|p| p.name == name) {
                Some(p) => match p.parse(&value) {
                    Ok(_) => {
                        launch.overrides.retain(|(n, _)| n != name);
                        launch.overrides.push((name.to_string(), value));
                    }
                    Err(e) => errors.push(format!("URL: {e}; using the default {}", p.default)),
                },
                None => errors.push(format!(
                    "URL: scenario '{}' has no parameter '{name}'; ignored",
                    spec.id
                )),
            },
        }
    }
    (launch, errors)
}

/// Builds the query string (with its leading `?`) naming a run: scenario,
/// seed, the non-default build parameters, and one `at=TIME:NAME=VALUE` per
/// input, in order ([`parse_query`] reads it back).
pub fn to_query(
    scenario: &str,
    seed: u64,
    non_defaults: &[(String, String)],
    inputs: &[Input],
) -> String {
    let mut q = format!("?scenario={}&seed={seed}", encode(scenario));
    for (k, v) in non_defaults {
        q.push('&');
        q.push_str(&encode(k));
        q.push('=');
        q.push_str(&encode(v));
    }
    for input in inputs {
        q.push_str("&at=");
        q.push_str(&encode_input(&input.to_text()));
    }
    q
}

/// The page's current query string (empty outside a browser window).
pub fn current_query() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// Replaces the page's query string without reloading or adding history.
pub fn replace_query(query: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        // Failure (for example on a `file:` page) only loses the shareable URL.
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(query));
    }
}
