//! A thin wrapper around [`std::process::Command`] that prints each command
//! before running it and turns failures into readable error messages.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The error type of every xtask operation: a message for the user.
pub type Result<T> = std::result::Result<T, String>;

/// A child process to run, remembering a printable form of itself.
pub struct Cmd {
    /// The underlying process builder.
    inner: Command,
    /// `KEY=value program arg…`, as printed before the command runs.
    shown: String,
}

impl Cmd {
    /// A command running `program`, with the parent's environment and
    /// working directory.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        Cmd {
            inner: Command::new(program),
            shown: quote(program),
        }
    }

    /// A command running `program`, printed as `name` (for example the
    /// full path in `$CARGO`, printed as `cargo`).
    pub fn named(program: impl AsRef<OsStr>, name: &str) -> Self {
        Cmd {
            inner: Command::new(program),
            shown: name.to_owned(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        self.inner.arg(arg);
        self.shown.push(' ');
        self.shown.push_str(&quote(arg));
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    /// Sets an environment variable for the child and shows it in the
    /// printed command line.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        let value = value.as_ref();
        self.inner.env(key, value);
        self.shown = format!("{key}={} {}", quote(value), self.shown);
        self
    }

    /// Sets an environment variable for the child without printing it
    /// (used for `PATH`, which is long and the same for every command).
    pub fn env_quiet(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    /// Runs the child in `dir`.
    pub fn dir(mut self, dir: &Path) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// Prints the command, runs it with inherited stdio and fails unless it
    /// exits successfully.
    pub fn run(mut self) -> Result<()> {
        println!("$ {}", self.shown);
        let status = self
            .inner
            .status()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.shown))
        }
    }

    /// Prints the command, runs it with stdout captured (stderr is passed
    /// through) and returns stdout, failing unless it exits successfully.
    pub fn read_stdout(mut self) -> Result<String> {
        println!("$ {}", self.shown);
        let out = self
            .inner
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if !out.status.success() {
            return Err(format!("`{}` failed ({})", self.shown, out.status));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| format!("`{}` printed output that is not UTF-8", self.shown))
    }

    /// Runs the child silently and returns its raw stdout bytes, failing
    /// unless it exits successfully.
    pub fn read_bytes_quiet(mut self) -> Result<Vec<u8>> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not start `{}`: {e}", self.shown))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!("`{}` failed ({})", self.shown, out.status))
        }
    }

    /// Runs the child silently and returns its stdout and stderr joined,
    /// or `None` if it cannot start or exits unsuccessfully. Used to probe
    /// tool versions.
    pub fn probe(mut self) -> Option<String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Some(text.trim().to_owned())
    }
}

/// Quotes a word for display the way a POSIX shell would need it.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        let mut out = String::from("'");
        for c in s.chars() {
            if c == '\'' {
                out.push_str("'\\''");
            } else {
                let _ = out.write_char(c);
            }
        }
        out.push('\'');
        out
    }
}

/// Joins directories into a `PATH`-style value, skipping duplicates while
/// keeping the first occurrence of each.
pub fn join_path(dirs: &[std::path::PathBuf]) -> Result<OsString> {
    let mut seen: Vec<&std::path::PathBuf> = Vec::new();
    for dir in dirs {
        if !seen.contains(&dir) {
            seen.push(dir);
        }
    }
    std::env::join_paths(seen).map_err(|e| format!("cannot build PATH: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote(OsStr::new("cargo")), "cargo");
        assert_eq!(quote(OsStr::new("-D")), "-D");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("it's")), "'it'\\''s'");
        assert_eq!(quote(OsStr::new("")), "''");
    }

    #[test]
    fn shows_env_and_args() {
        let cmd = Cmd::new("trunk")
            .env("A", "1")
            .arg("build")
            .arg("--release");
        assert_eq!(cmd.shown, "A=1 trunk build --release");
    }

    #[test]
    fn join_path_drops_duplicates() {
        let dirs = vec!["/a".into(), "/b".into(), "/a".into()];
        assert_eq!(join_path(&dirs).unwrap(), OsString::from("/a:/b"));
    }
}
