//! The event log: every component writes its lines, in TiKV's and raft-rs's
//! own wording, into one [`LogSink`] stamped with virtual time.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Severity of a log line, as TiKV's and raft-rs's loggers use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Debug detail (not recorded by default).
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual (rejections, retries).
    Warn,
    /// Errors and invariant violations.
    Error,
    /// A panic: the process aborts (TiKV's panic hook logs `FATAL`).
    Fatal,
}

impl Level {
    /// Lower-case name (`info`, `warn`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses a lower-case level name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            "fatal" => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Virtual ms at which it was written.
    pub t_ms: u64,
    /// Store it concerns (`None` for PD and clients).
    pub store: Option<u64>,
    /// Region it concerns, if any.
    pub region: Option<u64>,
    /// Severity.
    pub level: Level,
    /// Which component wrote it: `raft` (raft-rs), `raftstore`, `pd`, `client`, `sim`.
    pub component: &'static str,
    /// The message, using TiKV's and raft-rs's own wording.
    pub msg: String,
}

/// The shared sink that raft-rs's slog logger, raftstore, PD and clients write to.
///
/// It is shared (`Arc<Mutex<..>>`) only because slog drains must be `Send + Sync`;
/// the simulation is single-threaded and the lock is never contended.
#[derive(Clone, Debug, Default)]
pub struct LogSink {
    inner: Arc<Mutex<LogBuffer>>,
}

#[derive(Debug, Default)]
struct LogBuffer {
    now_ms: u64,
    lines: Vec<LogLine>,
}

impl LogSink {
    /// Sets the virtual time stamped on the next lines.
    pub fn set_now_ms(&self, now_ms: u64) {
        self.lock().now_ms = now_ms;
    }

    /// Appends a line stamped with the current virtual time.
    pub fn push(
        &self,
        component: &'static str,
        level: Level,
        store: Option<u64>,
        region: Option<u64>,
        msg: String,
    ) {
        let mut b = self.lock();
        let t_ms = b.now_ms;
        b.lines.push(LogLine {
            t_ms,
            store,
            region,
            level,
            component,
            msg,
        });
    }

    /// Moves every line written since the last call out of the sink.
    pub fn drain(&self) -> Vec<LogLine> {
        std::mem::take(&mut self.lock().lines)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogBuffer> {
        // A poisoned lock can only follow a panic elsewhere; the buffer is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
