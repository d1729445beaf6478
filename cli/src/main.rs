//! `kvscope`: run kvscope's TiKV scenarios from the command line.
//!
//! - `kvscope scenarios`: scenario ids, one per line.
//! - `kvscope describe SCENARIO`: parameters with default, unit, meaning, allowed values.
//! - `kvscope run SCENARIO [--seed N] [--until DURATION] [--set NAME=VALUE]...
//!   [--at TIME:NAME=VALUE]... [--json]`: runs and prints a summary (with
//!   `--json`, one JSON object: see `kvscope_core::summary::RunSummary`).
//!   `--at` applies a change to the running simulation at that virtual time
//!   (a live parameter, `fix`, or a fault such as `io-hang=3/60s`), as the
//!   page records its inputs.
//! - `kvscope bench SCENARIO [--until DURATION]`: events per wall second and the
//!   virtual/wall ratio of a run with the defaults.
//!
//! Bad input (unknown scenario or parameter, malformed value, a parameter
//! that is not live in `--at`, a time past `--until`) exits with code 2 and a
//! message naming it.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use kvscope_core::input::{Input, InputError};
use kvscope_core::scenario::Params;
use kvscope_core::scenarios;
use kvscope_core::summary::RunSummary;
use kvscope_core::time::MS;
use kvscope_core::Simulation;

#[derive(Parser)]
#[command(
    name = "kvscope",
    version,
    about = "Deterministic simulations of TiKV internals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenario ids.
    Scenarios,
    /// Describe a scenario's parameters.
    Describe {
        /// Scenario id.
        scenario: String,
    },
    /// Run a scenario and print a summary.
    Run {
        /// Scenario id.
        scenario: String,
        /// Seed of the simulation's RNG.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Virtual time to simulate (e.g. 90s, 10m, 500ms).
        #[arg(long, default_value = "120s", value_parser = parse_duration_ms)]
        until: u64,
        /// Override a parameter from t = 0: NAME=VALUE (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Change the running simulation at a virtual time (repeatable): a
        /// live parameter or fix (`20s:fix=non-fair-noop`), or a fault
        /// (`40s:io-hang=3/5m`, `10s:crash=2/10s`, `10s:partition=1/30s`,
        /// `15s:slow-disk=3/60s/10`).
        #[arg(long = "at", value_name = "TIME:NAME=VALUE")]
        at: Vec<String>,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Measure simulation speed with the scenario's defaults.
    Bench {
        /// Scenario id.
        scenario: String,
        /// Virtual time to simulate.
        #[arg(long, default_value = "10m", value_parser = parse_duration_ms)]
        until: u64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Parses `90s`, `10m`, `500ms`, `1h` or a bare number of ms into virtual ms.
fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let us = kvscope_core::time::parse_duration(s, MS)?;
    if us > kvscope_core::time::HOUR * 24 {
        return Err(format!("'{s}' is longer than 24h"));
    }
    Ok(us / MS)
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("kvscope: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scenarios => {
            for s in scenarios::specs() {
                println!("{}\t{}", s.id, s.title);
            }
            ExitCode::SUCCESS
        }
        Command::Describe { scenario } => match scenarios::find(&scenario) {
            Ok(scenario) => {
                let spec = scenario.spec();
                println!("{} — {}\nsource: {}\n", spec.id, spec.title, spec.source);
                println!(
                    "{:<30} {:>10} {:<7} {:<22} meaning",
                    "name", "default", "unit", "allowed"
                );
                for p in spec.params {
                    println!(
                        "{:<30} {:>10} {:<7} {:<22} {}",
                        p.name,
                        p.default,
                        p.unit.label(),
                        p.allowed(),
                        p.meaning
                    );
                    for c in p.choices {
                        println!(
                            "{:<30} {:>10} {:<7} {:<22}   {}: {}",
                            "", "", "", "", c.name, c.meaning
                        );
                    }
                }
                if !spec.live.is_empty() {
                    println!(
                        "\nLive (change while running on the page): {}",
                        spec.live.join(", ")
                    );
                }
                println!(
                    "\nWhat happens: {}\n\nWhat to watch: {}\n\nWhat the fix changes: {}",
                    spec.story.what_happens,
                    spec.story.what_to_watch,
                    spec.story.what_the_fix_changes
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Run {
            scenario,
            seed,
            until,
            set,
            at,
            json,
        } => {
            let overrides = match Params::split_overrides(&set) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            let mut sim = match Simulation::new(&scenario, seed, &overrides) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            for text in &at {
                let input = match Input::parse(text) {
                    Ok(i) => i,
                    Err(e) => return fail(format!("--at: {e}")),
                };
                if input.at > until * MS {
                    return fail(format!(
                        "--at: {}",
                        InputError::PastTheEnd {
                            input: input.to_text(),
                            until: until * MS
                        }
                    ));
                }
                if let Err(e) = sim.schedule_input(input) {
                    return fail(format!("--at {text}: {e}"));
                }
            }
            let start = Instant::now();
            sim.run_until(until * MS);
            let wall_ms = start.elapsed().as_millis() as u64;
            let summary = RunSummary::of(&sim, until, wall_ms);
            if json {
                match serde_json::to_string(&summary) {
                    Ok(s) => println!("{s}"),
                    Err(e) => return fail(format!("cannot encode the summary: {e}")),
                }
            } else {
                print_summary(&summary);
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            scenario,
            until,
            seed,
        } => {
            let mut sim = match Simulation::new(&scenario, seed, &[]) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let start = Instant::now();
            sim.run_until(until * MS);
            let wall = start.elapsed().as_secs_f64();
            let events = sim.events_processed();
            println!(
                "bench native {scenario}: {} virtual s in {:.3} wall s",
                until / 1000,
                wall
            );
            println!("  events processed      {events}");
            println!("  events per wall s     {:.0}", events as f64 / wall);
            println!(
                "  virtual/wall ratio    {:.1}x",
                (until as f64 / 1000.0) / wall
            );
            ExitCode::SUCCESS
        }
    }
}

fn print_summary(s: &RunSummary) {
    println!(
        "scenario {} seed {} until {} ms: {} events in {} wall ms",
        s.scenario, s.seed, s.until_ms, s.events, s.wall_ms
    );
    println!("trace_hash {}", s.trace_hash);
    println!("params:");
    for (k, v) in &s.params {
        println!("  {k} = {v}");
    }
    println!("counters:");
    for (k, v) in &s.counters {
        println!("  {k} = {v}");
    }
    if let Some(qps) = s.series.get("qps") {
        let line: Vec<String> = qps
            .iter()
            .step_by(5)
            .map(|(t, v)| format!("{}s:{v:.0}", t / 1000))
            .collect();
        println!("qps every 5 s: {}", line.join(" "));
    }
    if !s.inputs.is_empty() {
        println!("inputs:");
        for i in &s.inputs {
            println!("  {}", i.text);
        }
    }
    println!("violations: {}", s.violations.len());
    for v in &s.violations {
        println!(
            "  {} ms {} region {}: {}",
            v.t_ms, v.invariant, v.region, v.details
        );
    }
}
