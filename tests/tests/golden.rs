//! Golden traces: fixed runs whose `trace_hash` must not move (see
//! `tests/golden/README.md`). A refactor keeps them equal; a commit that
//! changes behaviour on purpose rewrites them (`KVSCOPE_BLESS=1`) and says why.

use std::fmt::Write as _;
use std::path::PathBuf;

use kvscope_core::input::Input;
use kvscope_core::time::{parse_duration, MS};
use kvscope_core::Simulation;

/// One line of `traces.txt`.
#[derive(Debug)]
struct GoldenRun {
    line: usize,
    scenario: String,
    seed: u64,
    until: u64,
    until_text: String,
    sets: Vec<(String, String)>,
    inputs: Vec<(u64, String, String, String)>,
    hash: Option<String>,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/traces.txt")
}

fn parse(text: &str) -> Vec<GoldenRun> {
    let mut runs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut run = GoldenRun {
            line: i + 1,
            scenario: String::new(),
            seed: 1,
            until: 0,
            until_text: String::new(),
            sets: Vec::new(),
            inputs: Vec::new(),
            hash: None,
        };
        for tok in line.split_whitespace() {
            let (k, v) = tok
                .split_once('=')
                .unwrap_or_else(|| panic!("line {}: '{tok}' is not key=value", i + 1));
            match k {
                "scenario" => run.scenario = v.to_string(),
                "seed" => run.seed = v.parse().expect("seed is a number"),
                "until" => {
                    run.until = parse_duration(v, MS).expect("until is a duration");
                    run.until_text = v.to_string();
                }
                "set" => {
                    let (n, val) = v.split_once('=').expect("set=NAME=VALUE");
                    run.sets.push((n.to_string(), val.to_string()));
                }
                "at" => {
                    let (t, change) = v.split_once(':').expect("at=TIME:NAME=VALUE");
                    let (n, val) = change.split_once('=').expect("at=TIME:NAME=VALUE");
                    let at = parse_duration(t, MS).expect("at TIME is a duration");
                    run.inputs
                        .push((at, t.to_string(), n.to_string(), val.to_string()));
                }
                "hash" => run.hash = Some(v.to_string()),
                other => panic!("line {}: unknown key '{other}'", i + 1),
            }
        }
        runs.push(run);
    }
    runs
}

fn replay(run: &GoldenRun) -> String {
    let mut sim = Simulation::new(&run.scenario, run.seed, &run.sets)
        .unwrap_or_else(|e| panic!("line {}: {e}", run.line));
    for (_, t, name, value) in &run.inputs {
        let input = Input::parse(&format!("{t}:{name}={value}"))
            .unwrap_or_else(|e| panic!("line {}: {e}", run.line));
        sim.schedule_input(input)
            .unwrap_or_else(|e| panic!("line {}: {e}", run.line));
    }
    sim.run_until(run.until);
    sim.trace_hash()
}

fn render(run: &GoldenRun, hash: &str) -> String {
    let mut s = format!(
        "scenario={} seed={} until={}",
        run.scenario, run.seed, run.until_text
    );
    for (n, v) in &run.sets {
        let _ = write!(s, " set={n}={v}");
    }
    for (_, t, n, v) in &run.inputs {
        let _ = write!(s, " at={t}:{n}={v}");
    }
    let _ = write!(s, " hash={hash}");
    s
}

#[test]
fn golden_traces_replay_to_their_hashes() {
    let text = std::fs::read_to_string(path()).expect("tests/golden/traces.txt exists");
    let runs = parse(&text);
    assert!(!runs.is_empty(), "no golden runs in {}", path().display());
    let bless = std::env::var_os("KVSCOPE_BLESS").is_some();
    let mut moved = Vec::new();
    let mut out_lines: Vec<String> = text.lines().map(str::to_string).collect();
    for run in &runs {
        let got = replay(run);
        if run.hash.as_deref() != Some(got.as_str()) {
            moved.push(format!(
                "line {}: {} seed {} until {}: expected {}, got {got}",
                run.line,
                run.scenario,
                run.seed,
                run.until_text,
                run.hash.as_deref().unwrap_or("(none)")
            ));
            out_lines[run.line - 1] = render(run, &got);
        }
    }
    if bless && !moved.is_empty() {
        let mut new_text = out_lines.join("\n");
        new_text.push('\n');
        std::fs::write(path(), new_text).expect("rewrite traces.txt");
        eprintln!(
            "rewrote {} golden hashes:\n{}",
            moved.len(),
            moved.join("\n")
        );
        return;
    }
    assert!(
        moved.is_empty(),
        "{} golden trace(s) moved (a refactor must keep them; a behaviour change \
         rewrites them with KVSCOPE_BLESS=1 and says why in its commit):\n{}",
        moved.len(),
        moved.join("\n")
    );
}

#[test]
fn every_scenario_has_three_seeds_and_a_run_with_timed_inputs() {
    let text = std::fs::read_to_string(path()).expect("tests/golden/traces.txt exists");
    let runs = parse(&text);
    for spec in kvscope_core::scenarios::specs() {
        let mine: Vec<&GoldenRun> = runs.iter().filter(|r| r.scenario == spec.id).collect();
        let mut seeds: Vec<u64> = mine
            .iter()
            .filter(|r| r.sets.is_empty() && r.inputs.is_empty())
            .map(|r| r.seed)
            .collect();
        seeds.dedup();
        assert!(
            seeds.len() >= 3,
            "{}: default runs for seeds {seeds:?}",
            spec.id
        );
        assert!(
            mine.iter().any(|r| !r.inputs.is_empty()),
            "{}: no golden run with timed inputs",
            spec.id
        );
    }
}
