//! raft-rs logs through `slog`; this drain routes its records into the
//! simulation's event log.

use crate::kernel::log::{Level, LogSink};

/// The root slog logger that routes raft-rs's lines into `sink`.
pub fn raft_logger(sink: &LogSink) -> slog::Logger {
    slog::Logger::root(slog::Fuse(RaftLogDrain { sink: sink.clone() }), slog::o!())
}

/// A slog drain that routes raft-rs's log records into the [`LogSink`].
///
/// raft-rs logs through `slog`; each peer's logger carries `region_id` and
/// `store_id` key-values (set by raftstore when it creates the `RawNode`), which
/// this drain lifts into the log line's columns. Records below `Info` are dropped.
pub struct RaftLogDrain {
    /// Where lines go.
    pub sink: LogSink,
}

struct IdCollector {
    region: Option<u64>,
    store: Option<u64>,
    rest: String,
}

impl slog::Serializer for IdCollector {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        let text = val.to_string();
        match key {
            "region_id" => self.region = text.parse().ok(),
            "store_id" => self.store = text.parse().ok(),
            "raft_id" => {}
            _ => {
                self.rest.push_str(", ");
                self.rest.push_str(key);
                self.rest.push_str(": ");
                self.rest.push_str(&text);
            }
        }
        Ok(())
    }
}

impl slog::Drain for RaftLogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let level = match record.level() {
            slog::Level::Critical | slog::Level::Error => Level::Error,
            slog::Level::Warning => Level::Warn,
            slog::Level::Info => Level::Info,
            _ => return Ok(()),
        };
        let mut ids = IdCollector {
            region: None,
            store: None,
            rest: String::new(),
        };
        let _ = slog::KV::serialize(values, record, &mut ids);
        let _ = slog::KV::serialize(&record.kv(), record, &mut ids);
        let mut msg = record.msg().to_string();
        msg.push_str(&ids.rest);
        self.sink.push("raft", level, ids.store, ids.region, msg);
        Ok(())
    }
}
