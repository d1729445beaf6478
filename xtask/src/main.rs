//! `cargo xtask`: the project's tooling, in Rust so that it needs nothing
//! but cargo to start (`.cargo/config.toml` defines the `xtask` alias).
//!
//! Subcommands:
//!
//! - `cargo xtask setup` installs what is missing and skips what is already
//!   there at the right version: the `wasm32-unknown-unknown` target (rustup),
//!   Trunk 0.21.14 and wasm-bindgen-cli at the `wasm-bindgen` version of
//!   `Cargo.lock` (`cargo install --root .tools`), `wasm-opt` from the npm
//!   package `binaryen@132.0.0` (`.tools/npm`), and, as root on Debian,
//!   the `chromium` and `chromium-driver` packages. Every other subcommand
//!   runs it first and puts `.tools/bin` and `.tools/npm/node_modules/.bin`
//!   first on `PATH` for its child processes.
//! - `cargo xtask serve` builds the web app with Trunk and serves it on
//!   <http://127.0.0.1:8080>, rebuilding on changes (`--address`, `--port`).
//! - `cargo xtask dist` builds the release site into `dist/` (relative URLs,
//!   so it works from any static server under any path).
//! - `cargo xtask test` runs every check, in order, stopping at the first
//!   failure and naming it: rustfmt; clippy on the native crates and on the
//!   web crate for wasm32; the native determinism trace hash (the CLI's
//!   `trace_hash` for `io-hang-transfer-leader`, seed 7, 20 s), handed to the
//!   browser tests as `KVSCOPE_NATIVE_TRACE_HASH`; the native tests (release);
//!   the browser tests in headless Chromium; the release site build. It ends
//!   with a `N passed, 0 failed` line counting these steps.
//! - `cargo xtask bench` runs the native benchmark (`kvscope bench`), the
//!   browser benchmark (the web crate's `bench` test in headless Chromium),
//!   builds the release site and prints the `.wasm` and `.js` sizes, raw and
//!   gzipped.

mod cmd;
mod setup;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::cmd::{Cmd, Result};
use crate::setup::{setup, Ctx};

/// The scenario the determinism cross-check and the benchmarks run.
const SCENARIO: &str = "io-hang-transfer-leader";
/// The seed of the determinism cross-check.
const TRACE_SEED: u64 = 7;
/// The virtual time the determinism cross-check simulates, in milliseconds.
const TRACE_UNTIL_MS: u64 = 20_000;

/// Command-line interface of `cargo xtask`.
#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "kvscope's build, test and tooling commands"
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; see the crate documentation.
#[derive(Subcommand)]
enum Command {
    /// Install what is missing: wasm32 target, Trunk, wasm-bindgen-cli, wasm-opt, Chromium.
    Setup,
    /// Set up, then serve the app with `trunk serve`, rebuilding on changes.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        address: String,
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Set up, then build the release site into dist/.
    Dist,
    /// Set up, then run every check: fmt, clippy, native and browser tests, release build.
    Test,
    /// Set up, then run the native and browser benchmarks and report bundle sizes.
    Bench,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = repo_root();
    let result = match cli.command {
        Command::Setup => setup(&root).map(|ctx| {
            println!("setup: done; tools are first on PATH for xtask's commands:");
            println!("  {}", root.join(".tools/bin").display());
            println!("  {}", root.join(".tools/npm/node_modules/.bin").display());
            if let Err(why) = &ctx.test_runner {
                println!("setup: browser tests cannot run yet: {why}");
            }
        }),
        Command::Serve { address, port } => serve(&root, &address, port),
        Command::Dist => setup(&root).and_then(|ctx| dist(&ctx)),
        Command::Test => test(&root),
        Command::Bench => bench(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory. `cargo run`
/// sets `CARGO_MANIFEST_DIR` at run time too, which survives moving the
/// checkout; the compile-time value is the fallback.
fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// `cargo xtask serve`.
fn serve(root: &Path, address: &str, port: u16) -> Result<()> {
    let ctx = setup(root)?;
    // Trunk runs offline (so it never tries to download a tool), which makes
    // its cargo offline too: fetch the dependencies first.
    ctx.cargo().arg("fetch").run()?;
    println!("serving on http://{address}:{port}/ (Ctrl-C stops)");
    ctx.trunk()
        .args(["serve", "--address", address, "--port"])
        .arg(port.to_string())
        .run()
}

/// `cargo xtask dist`: the release site in `<repo>/dist`.
fn dist(ctx: &Ctx) -> Result<()> {
    ctx.cargo().arg("fetch").run()?;
    ctx.trunk().args(["build", "--release"]).run()?;
    let index = ctx.root.join("dist").join("index.html");
    if !index.is_file() {
        return Err(format!("trunk finished but {} is missing", index.display()));
    }
    println!("dist: site written to {}", ctx.root.join("dist").display());
    Ok(())
}

/// Runs numbered steps, stopping at the first failure, and prints an
/// `N passed, N failed` summary.
struct Steps {
    /// Number of steps planned.
    total: usize,
    /// Names and durations of the steps that passed.
    passed: Vec<(&'static str, Duration)>,
}

impl Steps {
    /// A run of `total` steps.
    fn new(total: usize) -> Steps {
        Steps {
            total,
            passed: Vec::new(),
        }
    }

    /// Runs the next step; on failure prints which one and the summary.
    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let n = self.passed.len() + 1;
        let total = self.total;
        println!("\n==> [{n}/{total}] {name}");
        let start = Instant::now();
        match f() {
            Ok(value) => {
                let took = start.elapsed();
                println!("==> [{n}/{total}] {name}: ok in {}", secs(took));
                self.passed.push((name, took));
                Ok(value)
            }
            Err(e) => {
                eprintln!("\n==> [{n}/{total}] {name}: FAILED\n{e}");
                self.print_times();
                println!(
                    "{} passed, 1 failed, {} skipped",
                    self.passed.len(),
                    total - n
                );
                Err(format!("step {n}/{total} `{name}` failed"))
            }
        }
    }

    /// Prints the time each passed step took.
    fn print_times(&self) {
        println!("\nsteps:");
        for (name, took) in &self.passed {
            println!("  {:>8}  {name}", secs(*took));
        }
    }

    /// Prints the summary after every step passed.
    fn finish(self) {
        self.print_times();
        println!("{} passed, 0 failed", self.passed.len());
    }
}

/// A duration as seconds with one decimal.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `cargo xtask test`.
fn test(root: &Path) -> Result<()> {
    let mut steps = Steps::new(8);
    let ctx = steps.run("setup", || setup(root))?;
    steps.run("rustfmt", || {
        ctx.cargo().args(["fmt", "--all", "--", "--check"]).run()
    })?;
    steps.run("clippy (native)", || {
        ctx.cargo()
            .args(["clippy", "--workspace", "--exclude", "kvscope-web"])
            .args(["--all-targets", "--", "-D", "warnings"])
            .run()
    })?;
    // The trace hash comes before the wasm32 clippy run because the browser
    // test may read it with `env!`, which must be set for clippy too.
    let hash = steps.run("native trace hash", || native_trace_hash(&ctx))?;
    steps.run("clippy (wasm32, kvscope-web)", || {
        with_trace_env(ctx.cargo(), &hash)
            .args([
                "clippy",
                "-p",
                "kvscope-web",
                "--target",
                setup::WASM_TARGET,
            ])
            .args(["--all-targets", "--", "-D", "warnings"])
            .run()
    })?;
    steps.run("native tests (release)", || {
        ctx.cargo()
            .args([
                "test",
                "--workspace",
                "--exclude",
                "kvscope-web",
                "--release",
            ])
            .run()
    })?;
    steps.run("browser tests (headless Chromium)", || {
        with_trace_env(browser_cargo(&ctx)?, &hash)
            .args(["test", "-p", "kvscope-web", "--target", setup::WASM_TARGET])
            .args(["--test", "browser"])
            .run()
    })?;
    steps.run("release site build (dist)", || dist(&ctx))?;
    steps.finish();
    Ok(())
}

/// Runs the native CLI on the cross-check scenario and returns the
/// `trace_hash` of its JSON report.
fn native_trace_hash(ctx: &Ctx) -> Result<String> {
    let until = format!("{}s", TRACE_UNTIL_MS / 1000);
    let out = ctx
        .cargo()
        .args([
            "run",
            "--release",
            "--bin",
            "kvscope",
            "--",
            "run",
            SCENARIO,
        ])
        .args([
            "--seed",
            &TRACE_SEED.to_string(),
            "--until",
            &until,
            "--json",
        ])
        .read_stdout()?;
    let hash = trace_hash_of(&out)?;
    println!("native trace hash ({SCENARIO}, seed {TRACE_SEED}, {until}): {hash}");
    Ok(hash)
}

/// The `trace_hash` field of the JSON object that `kvscope run --json`
/// printed: the whole output, or else its last line that parses as JSON.
fn trace_hash_of(stdout: &str) -> Result<String> {
    let whole = serde_json::from_str::<serde_json::Value>(stdout.trim()).ok();
    let value = whole
        .or_else(|| {
            stdout
                .lines()
                .rev()
                .filter(|l| l.trim_start().starts_with('{'))
                .find_map(|l| serde_json::from_str(l).ok())
        })
        .ok_or("`kvscope run --json` printed no JSON object")?;
    match value.get("trace_hash") {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("`trace_hash` is not a string or number: {other}")),
        None => Err("the JSON printed by `kvscope run --json` has no `trace_hash` field".into()),
    }
}

/// Adds the native trace figures the browser test compares against.
fn with_trace_env(cmd: Cmd, hash: &str) -> Cmd {
    cmd.env("KVSCOPE_NATIVE_TRACE_HASH", hash)
        .env("KVSCOPE_NATIVE_TRACE_SEED", TRACE_SEED.to_string())
        .env("KVSCOPE_NATIVE_TRACE_UNTIL_MS", TRACE_UNTIL_MS.to_string())
}

/// `cargo`, set up to run wasm32 tests in headless Chromium through
/// `wasm-bindgen-test-runner` and ChromeDriver.
fn browser_cargo(ctx: &Ctx) -> Result<Cmd> {
    let runner = ctx
        .test_runner
        .as_ref()
        .map_err(|why| format!("wasm-bindgen-test-runner is not installed: {why}"))?;
    if !ctx.chromedriver.is_file() {
        return Err(format!(
            "ChromeDriver not found at {} (set CHROMEDRIVER, or run `cargo xtask setup` as root on Debian)",
            ctx.chromedriver.display()
        ));
    }
    Ok(ctx
        .cargo()
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner)
        .env("CHROMEDRIVER", &ctx.chromedriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            ctx.root.join("xtask").join("webdriver.json"),
        ))
}

/// `cargo xtask bench`.
fn bench(root: &Path) -> Result<()> {
    let mut steps = Steps::new(5);
    let ctx = steps.run("setup", || setup(root))?;
    steps.run("native bench", || {
        // Every registered scenario, as `kvscope scenarios` lists them.
        let list = ctx
            .cargo()
            .args(["run", "--release", "--bin", "kvscope", "--", "scenarios"])
            .read_stdout()?;
        let ids: Vec<&str> = list.lines().filter_map(|l| l.split('\t').next()).collect();
        for scenario in ids {
            ctx.cargo()
                .args([
                    "run",
                    "--release",
                    "--bin",
                    "kvscope",
                    "--",
                    "bench",
                    scenario,
                ])
                .run()?;
        }
        Ok(())
    })?;
    steps.run("browser bench (headless Chromium)", || {
        browser_cargo(&ctx)?
            .args(["test", "-p", "kvscope-web", "--target", setup::WASM_TARGET])
            .args(["--release", "--test", "bench", "--", "--nocapture"])
            .run()
    })?;
    steps.run("release site build (dist)", || dist(&ctx))?;
    steps.run("bundle sizes", || bundle_sizes(&ctx.root.join("dist")))?;
    steps.finish();
    Ok(())
}

/// Prints the size of every `.wasm` and `.js` file under `dist`, raw and
/// compressed with `gzip -9`.
fn bundle_sizes(dist: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect_files(dist, &mut files)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "wasm" || e == "js"));
    files.sort();
    if files.is_empty() {
        return Err(format!("no .wasm or .js files in {}", dist.display()));
    }
    println!("{:>12} {:>12}  file", "bytes", "gzip -9");
    let (mut raw_total, mut gz_total) = (0u64, 0u64);
    for file in &files {
        let raw = fs::metadata(file)
            .map_err(|e| format!("cannot stat {}: {e}", file.display()))?
            .len();
        let gz = Cmd::new("gzip")
            .args(["-9", "-c"])
            .arg(file)
            .read_bytes_quiet()?
            .len() as u64;
        raw_total += raw;
        gz_total += gz;
        let name = file.strip_prefix(dist).unwrap_or(file);
        println!("{raw:>12} {gz:>12}  {}", name.display());
    }
    println!("{raw_total:>12} {gz_total:>12}  total");
    Ok(())
}

/// Appends every file below `dir` to `out`.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trace_hash_from_whole_output() {
        let out = "{\"scenario\":\"x\",\"trace_hash\":\"ab12\"}\n";
        assert_eq!(trace_hash_of(out).unwrap(), "ab12");
    }

    #[test]
    fn reads_trace_hash_from_last_json_line() {
        let out = "running...\n{\"trace_hash\": 42}\n";
        assert_eq!(trace_hash_of(out).unwrap(), "42");
    }

    #[test]
    fn reports_missing_trace_hash() {
        assert!(trace_hash_of("{\"other\":1}").is_err());
        assert!(trace_hash_of("no json here").is_err());
    }

    #[test]
    fn root_has_workspace_manifest() {
        assert!(repo_root().join("Cargo.toml").is_file());
    }
}
