//! `cargo xtask setup`: finds or installs every tool the other commands need,
//! and builds the [`Ctx`] they run their child processes with.
//!
//! Tools that this crate installs go under `<repo>/.tools` (git-ignored):
//! cargo-installed binaries in `.tools/bin`, the npm package `binaryen` in
//! `.tools/npm`. A tool already on `PATH`, in `.tools` or in `~/.cargo/bin`
//! is used as it is when it reports the required version.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::{join_path, Cmd, Result};

/// The Trunk version the project builds with; 0.22 needs a newer rustc.
pub const TRUNK_VERSION: &str = "0.21.14";
/// The npm `binaryen` package providing `wasm-opt` (Debian's is too old).
pub const BINARYEN_NPM_VERSION: &str = "132.0.0";
/// The `wasm-opt --version` number that package reports.
pub const WASM_OPT_VERSION: &str = "132";
/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian's `chromium-driver` package puts ChromeDriver.
pub const DEBIAN_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The Rust target the web crate is compiled for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// What every command after setup needs: where the repository is, the
/// `PATH` for child processes, and where the tools were found.
pub struct Ctx {
    /// The repository (workspace) root.
    pub root: PathBuf,
    /// `PATH` for children: `.tools/bin`, `.tools/npm/node_modules/.bin`,
    /// the directories of the tools found, then the inherited `PATH`.
    pub path: OsString,
    /// The `trunk` binary of the required version.
    pub trunk: PathBuf,
    /// The `wasm-bindgen-test-runner` matching `Cargo.lock`, or why there
    /// is none.
    pub test_runner: std::result::Result<PathBuf, String>,
    /// The ChromeDriver binary for browser tests (`$CHROMEDRIVER` or
    /// Debian's).
    pub chromedriver: PathBuf,
}

impl Ctx {
    /// Gives `cmd` the tools' `PATH` and the repository root as directory.
    fn with_env(&self, cmd: Cmd) -> Cmd {
        cmd.env_quiet("PATH", &self.path).dir(&self.root)
    }

    /// `cargo`, the same one that runs this xtask.
    pub fn cargo(&self) -> Cmd {
        self.with_env(cargo())
    }

    /// `trunk`, with its update check off and in offline mode (so it never
    /// tries to download a tool; `cargo fetch` must have run first).
    pub fn trunk(&self) -> Cmd {
        self.with_env(Cmd::named(&self.trunk, "trunk"))
            // Trunk's errors are readable without anyhow's stack backtrace.
            .env_quiet("RUST_LIB_BACKTRACE", "0")
            .env("TRUNK_SKIP_VERSION_CHECK", "true")
            .env("TRUNK_OFFLINE", "true")
    }
}

/// Fixed locations inside and around the repository.
struct Dirs {
    /// `<repo>/.tools`, the `cargo install --root`.
    tools: PathBuf,
    /// `<repo>/.tools/bin`.
    tools_bin: PathBuf,
    /// `<repo>/.tools/npm`, the `npm install --prefix`.
    npm_prefix: PathBuf,
    /// `<repo>/.tools/npm/node_modules/.bin`.
    npm_bin: PathBuf,
    /// `$CARGO_HOME/bin`, by default `~/.cargo/bin`.
    cargo_bin: Option<PathBuf>,
    /// The inherited `PATH`, split.
    inherited: Vec<PathBuf>,
}

impl Dirs {
    /// The locations for the repository at `root`.
    fn new(root: &Path) -> Dirs {
        let tools = root.join(".tools");
        let npm_prefix = tools.join("npm");
        let cargo_bin = env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .map(|d| d.join("bin"));
        let inherited = env::var_os("PATH")
            .map(|p| env::split_paths(&p).collect())
            .unwrap_or_default();
        Dirs {
            tools_bin: tools.join("bin"),
            npm_bin: npm_prefix.join("node_modules").join(".bin"),
            tools,
            npm_prefix,
            cargo_bin,
            inherited,
        }
    }

    /// Where cargo-installed tools are looked for, in order.
    fn cargo_tool_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.tools_bin.clone()];
        dirs.extend(self.inherited.iter().cloned());
        dirs.extend(self.cargo_bin.iter().cloned());
        dirs
    }

    /// Where `wasm-opt` is looked for, in order.
    fn wasm_opt_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.npm_bin.clone()];
        dirs.extend(self.inherited.iter().cloned());
        dirs
    }
}

/// `cargo`: the one running this xtask (`$CARGO`), printed as `cargo`.
fn cargo() -> Cmd {
    Cmd::named(
        env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        "cargo",
    )
}

/// Prints one line of setup progress.
fn say(step: usize, what: &str, msg: &str) {
    println!("setup [{step}/5] {what}: {msg}");
}

/// Finds or installs every tool, printing what it does, and returns the
/// context for the commands that follow.
pub fn setup(root: &Path) -> Result<Ctx> {
    let dirs = Dirs::new(root);
    // Directories of tools found outside the standard ones, to put on PATH.
    let mut found_dirs: Vec<PathBuf> = Vec::new();

    ensure_wasm_target()?;

    let trunk = ensure_trunk(root, &dirs)?;
    found_dirs.extend(trunk.parent().map(Path::to_path_buf));

    let test_runner = ensure_wasm_bindgen(root, &dirs)?;
    if let Ok(runner) = &test_runner {
        found_dirs.extend(runner.parent().map(Path::to_path_buf));
    }

    let wasm_opt = ensure_wasm_opt(root, &dirs)?;
    found_dirs.extend(wasm_opt.parent().map(Path::to_path_buf));

    let chromedriver = ensure_chromium()?;

    let mut path_dirs = vec![dirs.tools_bin.clone(), dirs.npm_bin.clone()];
    path_dirs.extend(found_dirs);
    path_dirs.extend(dirs.inherited.iter().cloned());
    Ok(Ctx {
        root: root.to_path_buf(),
        path: join_path(&path_dirs)?,
        trunk,
        test_runner,
        chromedriver,
    })
}

/// Step 1: the `wasm32-unknown-unknown` standard library.
fn ensure_wasm_target() -> Result<()> {
    let what = "rust target wasm32-unknown-unknown";
    let installed = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .probe();
    match installed {
        Some(list) if list.lines().any(|l| l.trim() == WASM_TARGET) => {
            say(1, what, "already installed");
            Ok(())
        }
        Some(_) => {
            say(1, what, "installing");
            Cmd::new("rustup")
                .args(["target", "add", WASM_TARGET])
                .run()
        }
        None => {
            // No rustup: accept a toolchain that ships the target anyway.
            let libdir = Cmd::new("rustc")
                .args(["--print", "target-libdir", "--target", WASM_TARGET])
                .probe()
                .map(PathBuf::from);
            match libdir {
                Some(dir) if dir.is_dir() => {
                    say(1, what, "present in the toolchain (no rustup)");
                    Ok(())
                }
                _ => Err(format!(
                    "the {WASM_TARGET} target is missing and rustup is not available to add it"
                )),
            }
        }
    }
}

/// Step 2: Trunk at [`TRUNK_VERSION`].
fn ensure_trunk(root: &Path, dirs: &Dirs) -> Result<PathBuf> {
    let what = format!("trunk {TRUNK_VERSION}");
    if let Some(path) = find_tool("trunk", &dirs.cargo_tool_dirs(), TRUNK_VERSION) {
        say(2, &what, &format!("found {}", path.display()));
        return Ok(path);
    }
    say(
        2,
        &what,
        "installing into .tools/bin (about 10-11 minutes cold on 2 cores)",
    );
    cargo()
        .dir(root)
        .args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"])
        .arg("--root")
        .arg(&dirs.tools)
        .run()?;
    find_tool(
        "trunk",
        std::slice::from_ref(&dirs.tools_bin),
        TRUNK_VERSION,
    )
    .ok_or_else(|| format!("installed trunk, but .tools/bin/trunk does not report {TRUNK_VERSION}"))
}

/// Step 3: wasm-bindgen-cli (`wasm-bindgen`, `wasm-bindgen-test-runner`) at
/// the version of the `wasm-bindgen` crate in `Cargo.lock`. Returns the test
/// runner, or why there is none when `Cargo.lock` does not name the crate.
fn ensure_wasm_bindgen(root: &Path, dirs: &Dirs) -> Result<std::result::Result<PathBuf, String>> {
    let lock_path = root.join("Cargo.lock");
    let lock = match fs::read_to_string(&lock_path) {
        Ok(text) => text,
        Err(e) => {
            let why = format!("cannot read {}: {e}", lock_path.display());
            say(3, "wasm-bindgen-cli", &format!("skipped: {why}"));
            return Ok(Err(why));
        }
    };
    let versions = locked_versions(&lock, "wasm-bindgen");
    let Some(version) = versions.last().cloned() else {
        let why = "no wasm-bindgen in Cargo.lock yet".to_owned();
        say(3, "wasm-bindgen-cli", &format!("skipped: {why}"));
        return Ok(Err(why));
    };
    if versions.len() > 1 {
        println!(
            "warning: Cargo.lock has several wasm-bindgen versions ({}); using {version}",
            versions.join(", ")
        );
    }
    let what = format!("wasm-bindgen-cli {version} (from Cargo.lock)");
    let search = dirs.cargo_tool_dirs();
    if let Some(runner) = find_wasm_bindgen(&search, &version) {
        let dir = runner.parent().unwrap_or(&runner);
        say(3, &what, &format!("found in {}", dir.display()));
        return Ok(Ok(runner));
    }
    say(
        3,
        &what,
        "installing into .tools/bin (about 5 minutes cold on 2 cores)",
    );
    // Not `--locked`: the CLI's own lock file pins a crate version that the
    // registry does not serve.
    cargo()
        .dir(root)
        .args(["install", "wasm-bindgen-cli", "--version", &version])
        .arg("--root")
        .arg(&dirs.tools)
        .run()?;
    find_wasm_bindgen(std::slice::from_ref(&dirs.tools_bin), &version)
        .map(Ok)
        .ok_or_else(|| {
            format!(
                "installed wasm-bindgen-cli, but .tools/bin/wasm-bindgen does not report {version}"
            )
        })
}

/// Finds a `wasm-bindgen` reporting `version` with a
/// `wasm-bindgen-test-runner` beside it; returns the runner.
fn find_wasm_bindgen(search: &[PathBuf], version: &str) -> Option<PathBuf> {
    search.iter().find_map(|dir| {
        let bindgen = dir.join("wasm-bindgen");
        let runner = dir.join("wasm-bindgen-test-runner");
        let ok = runner.is_file()
            && Cmd::new(&bindgen)
                .arg("--version")
                .probe()
                .is_some_and(|out| reports_version(&out, version));
        ok.then_some(runner)
    })
}

/// Step 4: `wasm-opt` from the npm package `binaryen`.
fn ensure_wasm_opt(root: &Path, dirs: &Dirs) -> Result<PathBuf> {
    let what = format!("wasm-opt {WASM_OPT_VERSION} (npm binaryen@{BINARYEN_NPM_VERSION})");
    if let Some(path) = find_tool("wasm-opt", &dirs.wasm_opt_dirs(), WASM_OPT_VERSION) {
        say(4, &what, &format!("found {}", path.display()));
        return Ok(path);
    }
    say(4, &what, "installing into .tools/npm");
    fs::create_dir_all(&dirs.npm_prefix)
        .map_err(|e| format!("cannot create {}: {e}", dirs.npm_prefix.display()))?;
    Cmd::new("npm")
        .dir(root)
        .arg("install")
        .arg("--prefix")
        .arg(&dirs.npm_prefix)
        .args(["--no-audit", "--no-fund"])
        .arg(format!("binaryen@{BINARYEN_NPM_VERSION}"))
        .run()?;
    find_tool("wasm-opt", std::slice::from_ref(&dirs.npm_bin), WASM_OPT_VERSION).ok_or_else(|| {
        format!("installed binaryen, but .tools/npm/node_modules/.bin/wasm-opt does not report {WASM_OPT_VERSION}")
    })
}

/// Step 5: Chromium and ChromeDriver for the browser tests. Installs
/// Debian's packages when running as root on Debian; elsewhere only warns,
/// since `serve` and `dist` do not need a browser.
fn ensure_chromium() -> Result<PathBuf> {
    let what = "chromium + chromedriver";
    let chromedriver = env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_CHROMEDRIVER));
    let have_chromium = Path::new(CHROMIUM).is_file();
    if have_chromium && chromedriver.is_file() {
        say(
            5,
            what,
            &format!("found {CHROMIUM} and {}", chromedriver.display()),
        );
        return Ok(chromedriver);
    }
    let debian = Path::new("/etc/debian_version").is_file();
    let root_user = Cmd::new("id")
        .arg("-u")
        .probe()
        .is_some_and(|uid| uid.trim() == "0");
    if !(debian && root_user) {
        say(
            5,
            what,
            "missing, and not root on Debian: install Chromium and ChromeDriver yourself \
             (set CHROMEDRIVER if it is not /usr/bin/chromedriver); only the browser tests need them",
        );
        return Ok(chromedriver);
    }
    say(
        5,
        what,
        "installing Debian packages chromium and chromium-driver",
    );
    Cmd::new("apt-get").arg("update").run()?;
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "chromium", "chromium-driver"])
        .run()?;
    let chromedriver = PathBuf::from(DEBIAN_CHROMEDRIVER);
    if Path::new(CHROMIUM).is_file() && chromedriver.is_file() {
        Ok(chromedriver)
    } else {
        Err(format!(
            "apt-get installed chromium, but {CHROMIUM} or {DEBIAN_CHROMEDRIVER} is still missing"
        ))
    }
}

/// The first `name` in `search` whose `--version` output reports `want`.
/// Prints the candidates that report another version.
fn find_tool(name: &str, search: &[PathBuf], want: &str) -> Option<PathBuf> {
    for dir in search {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        match Cmd::new(&path).arg("--version").probe() {
            Some(out) if reports_version(&out, want) => return Some(path),
            Some(out) => println!(
                "  ignoring {} (reports `{}`, need {want})",
                path.display(),
                out.lines().next().unwrap_or("")
            ),
            None => println!("  ignoring {} (`--version` failed)", path.display()),
        }
    }
    None
}

/// Whether a tool's `--version` output names version `want`, as a word
/// (`trunk 0.21.14`), with a `v` (`v0.21.14`), as binaryen's `version_132`,
/// or as a longer dotted version starting with it (`132.0.0` for `132`).
pub fn reports_version(output: &str, want: &str) -> bool {
    let dotted = format!("{want}.");
    output
        .split(|c: char| c.is_whitespace() || "(),;".contains(c))
        .map(|tok| tok.strip_prefix("version_").unwrap_or(tok))
        .map(|tok| tok.strip_prefix('v').unwrap_or(tok))
        .any(|tok| tok == want || tok.starts_with(&dotted))
}

/// The versions of package `name` listed in the text of a `Cargo.lock`, in
/// file order.
pub fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut current: Option<&str> = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            current = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            current = Some(value.trim_matches('"'));
        } else if let Some(value) = line.strip_prefix("version = ") {
            if current == Some(name) {
                versions.push(value.trim_matches('"').to_owned());
            }
        }
    }
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "wasm-bindgen-macro",
]

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.131"

[[package]]
name = "xtask"
version = "0.1.0"
"#;

    #[test]
    fn finds_locked_version() {
        assert_eq!(locked_versions(LOCK, "wasm-bindgen"), vec!["0.2.130"]);
        assert_eq!(locked_versions(LOCK, "xtask"), vec!["0.1.0"]);
        assert!(locked_versions(LOCK, "yew").is_empty());
    }

    #[test]
    fn matches_version_outputs() {
        assert!(reports_version("trunk 0.21.14", "0.21.14"));
        assert!(!reports_version("trunk 0.22.0", "0.21.14"));
        assert!(reports_version("wasm-bindgen 0.2.130 (abc1234)", "0.2.130"));
        assert!(!reports_version("wasm-bindgen 0.2.13", "0.2.130"));
        assert!(!reports_version("wasm-bindgen 0.2.130", "0.2.13"));
        assert!(reports_version("wasm-opt version 132 (version_132)", "132"));
        assert!(reports_version("wasm-opt version_132", "132"));
        assert!(!reports_version("wasm-opt version 108", "132"));
        assert!(!reports_version("wasm-opt version 1320", "132"));
    }
}
