//! The snap worker of one store (TiKV `src/server/snap.rs`): it sends the
//! snapshots raftstore hands it over their own client stream and receives
//! the ones other stores send.
//!
//! Sending (`Task::Send`): over `concurrent-send-snap-limit` sends in flight
//! the snapshot is dropped ("too many sending snapshot tasks, drop Send
//! Snap[...]") and reported as a failure. Otherwise the first
//! `SnapshotChunk` carries the `RaftMessage` (the `MsgSnapshot`, metadata
//! only), then the files go in `SNAP_CHUNK_LEN` (1 MiB) chunks, read through
//! the store's IO limiter at `snap-io-max-bytes-per-sec` (100 MiB/s, shared
//! by every send of the store); the chunks share the link with the store's
//! Raft messages. The receiver's `Done` ends it ("sent snapshot", then
//! `report_snapshot(Finish)`); an error status or a broken connection ends
//! it as "failed to send snap" and `report_snapshot(Failure)`.
//!
//! Receiving (`Task::Recv`): over `concurrent-recv-snap-limit` streams the
//! receiver answers RESOURCE_EXHAUSTED ("the number of received snapshot
//! tasks {} exceeded the limitation {}"). Otherwise it saves the chunks and,
//! once the last arrives, answers `Done` and hands the files and the
//! `RaftMessage` to raftstore.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::Serialize;

use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::Counter;
use crate::kernel::time::{to_ms, Micros};
use crate::proto::{Ctx, Msg, SnapKey, SnapshotChunk, SnapshotHead, Timer};
use crate::raftstore::snap::{
    decode_region_data, push_stage, SnapStage, SnapStageEvent, SnapshotFile, SnapshotMeta, StageOf,
};

/// TiKV's `SNAP_CHUNK_LEN`: bytes of the files per `SnapshotChunk`.
pub const SNAP_CHUNK_LEN: u64 = 1 << 20;

/// Snapshots sent to the end (`Done` received).
pub const SNAPSHOTS_SENT: Counter = Counter::new("snapshots_sent");
/// Snapshots received to the end (every chunk arrived).
pub const SNAPSHOTS_RECEIVED: Counter = Counter::new("snapshots_received");
/// Snapshot streams refused by a limit: sends dropped over
/// `concurrent-send-snap-limit` and receives answered RESOURCE_EXHAUSTED over
/// `concurrent-recv-snap-limit`.
pub const SNAPSHOT_SEND_REJECTED: Counter = Counter::new("snapshot_send_rejected");
/// Sends that ended in an error ("failed to send snap").
pub const SNAPSHOT_SEND_FAILED: Counter = Counter::new("snapshot_send_failed");

/// Snapshot file bytes on the store's open streams, sending or receiving
/// (`snapshot_bytes_in_flight_store_N`), sampled every virtual second.
pub const SNAPSHOT_BYTES_IN_FLIGHT: crate::kernel::metrics::SeriesFamily =
    crate::kernel::metrics::SeriesFamily::per_store("snapshot_bytes_in_flight");

/// The snap worker's configuration (TiKV `[server]` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SnapConfig {
    /// `concurrent-send-snap-limit` (default 32).
    pub concurrent_send_snap_limit: usize,
    /// `concurrent-recv-snap-limit` (default 32).
    pub concurrent_recv_snap_limit: usize,
    /// `snap-io-max-bytes-per-sec` (default 100 MiB/s), bytes per virtual second.
    pub snap_io_max_bytes_per_sec: u64,
}

impl Default for SnapConfig {
    fn default() -> SnapConfig {
        SnapConfig {
            concurrent_send_snap_limit: 32,
            concurrent_recv_snap_limit: 32,
            snap_io_max_bytes_per_sec: 100 << 20,
        }
    }
}

/// raft-rs's `SnapshotStatus`, as the snap worker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapStatus {
    /// The receiver has every chunk.
    Finish,
    /// The send failed; raft-rs goes back to probing and retries.
    Failure,
}

/// What the store does after the snap worker handled something.
#[derive(Clone, Debug)]
pub enum SnapOutcome {
    /// `report_snapshot(to_peer, status)` on the region's leader; the
    /// sender's copy of the files `key` can go.
    Report {
        /// Region.
        region_id: u64,
        /// The follower peer.
        to_peer: u64,
        /// Finish or Failure.
        status: SnapStatus,
        /// The snapshot.
        key: SnapKey,
    },
    /// A snapshot arrived whole: register `file`, then step `head`.
    Received {
        /// The `RaftMessage` with the `MsgSnapshot`.
        head: Box<SnapshotHead>,
        /// The files as received.
        file: SnapshotFile,
    },
}

/// A send in flight.
#[derive(Clone, Debug)]
struct SendJob {
    key: SnapKey,
    to_store: u64,
    region_id: u64,
    to_peer: u64,
    data: Rc<Vec<u8>>,
    size: u64,
    /// File bytes read and sent so far.
    sent: u64,
    started: Micros,
    /// All chunks are out; waiting for `Done`.
    waiting_done: bool,
}

/// A receive in progress.
#[derive(Clone, Debug)]
struct RecvJob {
    head: Box<SnapshotHead>,
    data: Vec<u8>,
    bytes: u64,
}

/// One store's snap worker. See the module docs.
#[derive(Clone, Debug)]
pub struct SnapWorker {
    /// Store id.
    pub store_id: u64,
    /// Limits and rate.
    pub cfg: SnapConfig,
    sending: BTreeMap<u64, SendJob>,
    receiving: BTreeMap<(u64, SnapKey), RecvJob>,
    next_send_id: u64,
    /// When the IO limiter is free again, virtual µs.
    limiter_free_at: Micros,
    /// The stages this worker saw, newest last.
    pub stages: VecDeque<SnapStageEvent>,
}

impl SnapWorker {
    /// An idle worker.
    pub fn new(store_id: u64, cfg: SnapConfig) -> SnapWorker {
        SnapWorker {
            store_id,
            cfg,
            sending: BTreeMap::new(),
            receiving: BTreeMap::new(),
            next_send_id: 0,
            limiter_free_at: 0,
            stages: VecDeque::new(),
        }
    }

    fn log(&self, ctx: &Ctx, level: Level, region: u64, msg: String) {
        ctx.log("server", level, Some(self.store_id), Some(region), msg);
    }

    /// Records a snapshot stage reached on this store and, with a level,
    /// logs its line.
    fn stage(&mut self, ctx: &Ctx, s: StageOf, level: Option<Level>, detail: String) {
        if let Some(level) = level {
            self.log(ctx, level, s.region_id, detail.clone());
        }
        push_stage(
            &mut self.stages,
            s.at(to_ms(ctx.now), self.store_id, detail),
        );
    }

    /// Sends in flight.
    pub fn sending_count(&self) -> usize {
        self.sending.len()
    }

    /// Receives in progress.
    pub fn receiving_count(&self) -> usize {
        self.receiving.len()
    }

    /// File bytes of the sends in flight not yet sent, plus the bytes of
    /// the receives in progress not yet received (unknown: counted as what
    /// arrived), bytes.
    pub fn bytes_in_flight(&self) -> u64 {
        self.sending.values().map(|j| j.size - j.sent).sum::<u64>()
            + self.receiving.values().map(|j| j.bytes).sum::<u64>()
    }

    /// Memory the worker holds: one chunk buffer per send in flight and one
    /// per receive in progress, bytes.
    pub fn buffer_bytes(&self) -> (u64, u64) {
        let send = self
            .sending
            .values()
            .map(|j| j.size.min(SNAP_CHUNK_LEN))
            .sum();
        let recv = self.receiving.len() as u64 * SNAP_CHUNK_LEN;
        (send, recv)
    }

    /// Reserves the IO limiter for `bytes` from `now`; returns when they are read.
    fn reserve(&mut self, now: Micros, bytes: u64) -> Micros {
        let start = self.limiter_free_at.max(now);
        let rate = self.cfg.snap_io_max_bytes_per_sec.max(1);
        self.limiter_free_at = start + bytes.saturating_mul(1_000_000) / rate;
        self.limiter_free_at
    }

    /// `Task::Send`: sends `file` with the `MsgSnapshot` in `head` to
    /// `to_store`. Returns false when the send is dropped over
    /// `concurrent-send-snap-limit` (the caller reports Failure).
    pub fn send(
        &mut self,
        ctx: &mut Ctx,
        to_store: u64,
        head: SnapshotHead,
        file: &SnapshotFile,
    ) -> bool {
        let (region_id, to_peer) = (head.region_id, head.to_peer.id);
        if self.sending.len() >= self.cfg.concurrent_send_snap_limit {
            let line = format!(
                "too many sending snapshot tasks, drop Send Snap[to: store {to_store}, snap: {}]",
                file.key
            );
            let s = StageOf {
                region_id,
                key: Some(file.key),
                to_peer,
                stage: SnapStage::SendFailed,
                bytes: 0,
            };
            self.stage(ctx, s, Some(Level::Warn), line);
            ctx.count(SNAPSHOT_SEND_REJECTED, 1);
            return false;
        }
        self.next_send_id += 1;
        let id = self.next_send_id;
        ctx.send(
            Node::Store(self.store_id),
            Node::Store(to_store),
            Msg::SnapshotChunk(SnapshotChunk {
                from_store: self.store_id,
                key: file.key,
                head: Some(Box::new(head)),
                // An empty region's files (size 0) go whole with the head:
                // they still hold its region meta.
                data: if file.size == 0 {
                    file.data.to_vec()
                } else {
                    Vec::new()
                },
                len: 0,
                last: file.size == 0,
            }),
        );
        let first = file.size.min(SNAP_CHUNK_LEN);
        let at = self.reserve(ctx.now, first);
        ctx.timer(
            Node::Store(self.store_id),
            at - ctx.now,
            Timer::SnapChunkRead { send_id: id },
        );
        self.sending.insert(
            id,
            SendJob {
                key: file.key,
                to_store,
                region_id,
                to_peer,
                data: file.data.clone(),
                size: file.size,
                sent: 0,
                started: ctx.now,
                waiting_done: file.size == 0,
            },
        );
        true
    }

    /// The next chunk of send `send_id` has been read: it goes on the
    /// stream, and the one after it is read.
    pub fn on_chunk_read(&mut self, ctx: &mut Ctx, send_id: u64) {
        let Some(job) = self.sending.get(&send_id) else {
            return;
        };
        if job.waiting_done {
            return;
        }
        let len = (job.size - job.sent).min(SNAP_CHUNK_LEN);
        let d = job.data.len() as u64;
        let lo = (d as u128 * job.sent as u128 / job.size.max(1) as u128) as usize;
        let last = job.sent + len >= job.size;
        // The last chunk carries the rest of the encoded data: an empty
        // region's files (size 0) still hold its region meta.
        let hi = if last {
            d as usize
        } else {
            (d as u128 * (job.sent + len) as u128 / job.size.max(1) as u128) as usize
        };
        let msg = Msg::SnapshotChunk(SnapshotChunk {
            from_store: self.store_id,
            key: job.key,
            head: None,
            data: job.data[lo..hi].to_vec(),
            len,
            last,
        });
        let to = job.to_store;
        ctx.send(Node::Store(self.store_id), Node::Store(to), msg);
        let job = self.sending.get_mut(&send_id).expect("present");
        job.sent += len;
        if last {
            job.waiting_done = true;
            return;
        }
        let next = (job.size - job.sent).min(SNAP_CHUNK_LEN);
        let at = self.reserve(ctx.now, next);
        ctx.timer(
            Node::Store(self.store_id),
            at - ctx.now,
            Timer::SnapChunkRead { send_id },
        );
    }

    /// The receiver of `key` (store `from_store`) answered.
    pub fn on_done(
        &mut self,
        ctx: &mut Ctx,
        from_store: u64,
        key: SnapKey,
        result: Result<(), String>,
    ) -> Option<SnapOutcome> {
        let id = *self
            .sending
            .iter()
            .find(|(_, j)| j.key == key && j.to_store == from_store)?
            .0;
        let job = self.sending.remove(&id).expect("found");
        let took = to_ms(ctx.now.saturating_sub(job.started));
        let status = match result {
            Ok(()) => {
                let line = format!(
                    "sent snapshot, region_id: {}, snap_key: {key}, size: {}, duration: {took}ms",
                    job.region_id, job.size
                );
                let s = StageOf {
                    region_id: job.region_id,
                    key: Some(key),
                    to_peer: job.to_peer,
                    stage: SnapStage::Sent,
                    bytes: job.size,
                };
                self.stage(ctx, s, Some(Level::Info), line);
                ctx.count(SNAPSHOTS_SENT, 1);
                SnapStatus::Finish
            }
            Err(e) => self.fail(ctx, &job, &e),
        };
        Some(SnapOutcome::Report {
            region_id: job.region_id,
            to_peer: job.to_peer,
            status,
            key,
        })
    }

    fn fail(&mut self, ctx: &mut Ctx, job: &SendJob, err: &str) -> SnapStatus {
        let line = format!(
            "failed to send snap, to_addr: store {}, snap: {}, err: {err}",
            job.to_store, job.key
        );
        let s = StageOf {
            region_id: job.region_id,
            key: Some(job.key),
            to_peer: job.to_peer,
            stage: SnapStage::SendFailed,
            bytes: job.sent,
        };
        self.stage(ctx, s, Some(Level::Error), line);
        ctx.count(SNAPSHOT_SEND_FAILED, 1);
        SnapStatus::Failure
    }

    /// Ends the stream of `key` from `from_store` with `Done` (`Ok`) or an
    /// error status.
    fn answer(&self, ctx: &mut Ctx, from_store: u64, key: SnapKey, result: Result<(), String>) {
        ctx.send(
            Node::Store(self.store_id),
            Node::Store(from_store),
            Msg::SnapshotDone {
                from_store: self.store_id,
                key,
                result,
            },
        );
    }

    /// A chunk of a stream arrived.
    pub fn on_chunk(&mut self, ctx: &mut Ctx, chunk: SnapshotChunk) -> Option<SnapOutcome> {
        let SnapshotChunk {
            from_store,
            key,
            head,
            data,
            len,
            last,
        } = chunk;
        if let Some(head) = head {
            let (region_id, to_peer) = (head.region_id, head.to_peer.id);
            if self.receiving.len() >= self.cfg.concurrent_recv_snap_limit {
                let err = format!(
                    "RESOURCE_EXHAUSTED: the number of received snapshot tasks {} exceeded the limitation {}",
                    self.receiving.len(),
                    self.cfg.concurrent_recv_snap_limit
                );
                let s = StageOf {
                    region_id,
                    key: Some(key),
                    to_peer,
                    stage: SnapStage::RecvRefused,
                    bytes: 0,
                };
                self.stage(ctx, s, Some(Level::Warn), err.clone());
                ctx.count(SNAPSHOT_SEND_REJECTED, 1);
                self.answer(ctx, from_store, key, Err(err));
                return None;
            }
            let line = format!("saving snapshot file, snap_key: {key}");
            let s = StageOf {
                region_id,
                key: Some(key),
                to_peer,
                stage: SnapStage::Receiving,
                bytes: 0,
            };
            self.stage(ctx, s, Some(Level::Info), line);
            self.receiving.insert(
                (from_store, key),
                RecvJob {
                    head,
                    data: Vec::new(),
                    bytes: 0,
                },
            );
        }
        let job = self.receiving.get_mut(&(from_store, key))?;
        job.data.extend_from_slice(&data);
        job.bytes += len;
        if !last {
            return None;
        }
        let job = self.receiving.remove(&(from_store, key)).expect("present");
        let expected =
            SnapshotMeta::decode(job.head.msg.get_snapshot().get_data()).map_or(0, |m| m.file_size);
        if job.bytes != expected {
            // A chunk was lost on the way (a partition that healed): the
            // files do not check out, and the sender retries.
            let err = format!(
                "snapshot {key} size mismatch, expected {expected}, got {}",
                job.bytes
            );
            self.log(ctx, Level::Error, key.region_id, err.clone());
            self.answer(ctx, from_store, key, Err(err));
            return None;
        }
        self.answer(ctx, from_store, key, Ok(()));
        let Some((region, _, _)) = decode_region_data(&job.data) else {
            self.log(
                ctx,
                Level::Error,
                key.region_id,
                format!("snapshot {key} is corrupted, drop it"),
            );
            return None;
        };
        ctx.count(SNAPSHOTS_RECEIVED, 1);
        let s = StageOf {
            region_id: job.head.region_id,
            key: Some(key),
            to_peer: job.head.to_peer.id,
            stage: SnapStage::Received,
            bytes: job.bytes,
        };
        let detail = format!("received snapshot {key}, size: {}", job.bytes);
        self.stage(ctx, s, None, detail);
        Some(SnapOutcome::Received {
            file: SnapshotFile {
                key,
                region,
                data: Rc::new(job.data),
                size: job.bytes,
            },
            head: job.head,
        })
    }

    /// The connection to `peer_store` broke: its sends fail, its receives
    /// are dropped.
    pub fn on_connection_reset(&mut self, ctx: &mut Ctx, peer_store: u64) -> Vec<SnapOutcome> {
        self.receiving.retain(|(from, _), _| *from != peer_store);
        let ids: Vec<u64> = self
            .sending
            .iter()
            .filter(|(_, j)| j.to_store == peer_store)
            .map(|(&id, _)| id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let job = self.sending.remove(&id).expect("listed");
            let status = self.fail(ctx, &job, "RpcFailure: 14-UNAVAILABLE connection reset");
            out.push(SnapOutcome::Report {
                region_id: job.region_id,
                to_peer: job.to_peer,
                status,
                key: job.key,
            });
        }
        out
    }

    /// The process died: every stream is gone.
    pub fn crash(&mut self) {
        self.sending.clear();
        self.receiving.clear();
        self.limiter_free_at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::log::LogSink;
    use crate::kernel::metrics::Counters;
    use crate::kernel::rng::SimRng;
    use crate::proto::{Effect, PeerMeta, RegionMeta};
    use crate::raftstore::snap::{encode_region_data, SnapshotMeta};
    use raft::eraftpb::{Message, MessageType};

    struct Env {
        rng: SimRng,
        log: LogSink,
        out: Vec<Effect>,
        counters: Counters,
    }

    impl Env {
        fn new() -> Env {
            Env {
                rng: SimRng::new(1),
                log: LogSink::default(),
                out: Vec::new(),
                counters: Counters::new(),
            }
        }
        fn ctx(&mut self, now: Micros) -> Ctx<'_> {
            Ctx {
                now,
                rng: &mut self.rng,
                log: &self.log,
                out: &mut self.out,
                counters: &mut self.counters,
            }
        }
        fn lines(&self) -> Vec<String> {
            self.log.drain().into_iter().map(|l| l.msg).collect()
        }
    }

    fn file(region_id: u64, size: u64) -> SnapshotFile {
        let region = RegionMeta {
            id: region_id,
            start_key: 0,
            end_key: 10,
            conf_ver: 1,
            version: 1,
            peers: vec![],
        };
        SnapshotFile {
            key: SnapKey {
                region_id,
                term: 6,
                index: 100,
            },
            data: Rc::new(encode_region_data(
                &region,
                &Rc::default(),
                &Default::default(),
            )),
            region,
            size,
        }
    }

    fn head(f: &SnapshotFile) -> SnapshotHead {
        let p = |id, store_id| PeerMeta {
            id,
            store_id,
            is_learner: false,
        };
        let mut msg = Message::default();
        msg.set_msg_type(MessageType::MsgSnapshot);
        msg.mut_snapshot().set_data(
            SnapshotMeta {
                key: f.key,
                file_size: f.size,
            }
            .encode()
            .into(),
        );
        SnapshotHead {
            region_id: f.key.region_id,
            from_peer: p(101, 1),
            to_peer: p(102, 2),
            msg,
        }
    }

    /// Carries every chunk the sender emitted to the receiver and returns
    /// what the receiver did with the last one.
    fn deliver(env: &mut Env, rx: &mut SnapWorker, now: Micros) -> Option<SnapOutcome> {
        let mut outcome = None;
        let (sends, rest): (Vec<Effect>, Vec<Effect>) = std::mem::take(&mut env.out)
            .into_iter()
            .partition(|e| matches!(e, Effect::Send { .. }));
        env.out = rest;
        for e in sends {
            if let Effect::Send {
                msg: Msg::SnapshotChunk(chunk),
                ..
            } = e
            {
                let mut ctx = env.ctx(now);
                outcome = rx.on_chunk(&mut ctx, chunk).or(outcome);
            }
        }
        outcome
    }

    /// Drives the sender's chunk timers in time order; returns when the
    /// last chunk left and how many data chunks went.
    fn run_sender(
        env: &mut Env,
        tx: &mut SnapWorker,
        rx: &mut SnapWorker,
    ) -> (Micros, usize, Option<SnapOutcome>) {
        let mut chunks = 0;
        let mut now = 0;
        let mut received = deliver(env, rx, now);
        loop {
            let timers: Vec<(Micros, u64)> = env
                .out
                .iter()
                .filter_map(|e| match e {
                    Effect::Timer {
                        after,
                        timer: Timer::SnapChunkRead { send_id },
                        ..
                    } => Some((now + after, *send_id)),
                    _ => None,
                })
                .collect();
            env.out.retain(|e| !matches!(e, Effect::Timer { .. }));
            let Some(&(at, id)) = timers.first() else {
                return (now, chunks, received);
            };
            now = at;
            let mut ctx = env.ctx(now);
            tx.on_chunk_read(&mut ctx, id);
            chunks += 1;
            received = deliver(env, rx, now).or(received);
            env.out.retain(|e| matches!(e, Effect::Timer { .. }));
        }
    }

    #[test]
    fn a_snapshot_goes_in_1_mib_chunks_at_the_io_limit_and_arrives_whole() {
        let mut env = Env::new();
        let mut tx = SnapWorker::new(1, SnapConfig::default());
        let mut rx = SnapWorker::new(2, SnapConfig::default());
        let f = file(3, 10 << 20);
        let mut ctx = env.ctx(0);
        assert!(tx.send(&mut ctx, 2, head(&f), &f));
        assert_eq!(tx.sending_count(), 1);
        let (last_at, chunks, received) = run_sender(&mut env, &mut tx, &mut rx);
        assert_eq!(chunks, 10, "10 MiB in 1 MiB chunks");
        // 10 MiB through a 100 MiB/s limiter: 100 ms.
        assert_eq!(last_at, 100_000);
        let Some(SnapOutcome::Received { file: got, head: h }) = received else {
            panic!("the receiver has the snapshot");
        };
        assert_eq!(got.size, f.size);
        assert_eq!(got.data, f.data, "the files arrived as sent");
        assert_eq!(h.to_peer.id, 102);
        let lines = env.lines();
        assert!(lines.iter().any(|l| l.starts_with("saving snapshot file")));
        // The receiver's Done ends the send as Finish.
        let mut ctx = env.ctx(last_at + 1);
        let o = tx.on_done(&mut ctx, 2, f.key, Ok(())).expect("a report");
        assert!(matches!(
            o,
            SnapOutcome::Report {
                status: SnapStatus::Finish,
                to_peer: 102,
                ..
            }
        ));
        assert!(env.lines().iter().any(|l| l.starts_with("sent snapshot")));
        assert_eq!(tx.sending_count(), 0);
    }

    #[test]
    fn over_the_limits_sends_are_dropped_and_receives_refused_with_tikvs_messages() {
        let mut env = Env::new();
        let cfg = SnapConfig {
            concurrent_send_snap_limit: 2,
            concurrent_recv_snap_limit: 1,
            ..SnapConfig::default()
        };
        let mut tx = SnapWorker::new(1, cfg);
        let mut ctx = env.ctx(0);
        assert!(tx.send(&mut ctx, 2, head(&file(3, 1 << 20)), &file(3, 1 << 20)));
        assert!(tx.send(&mut ctx, 2, head(&file(4, 1 << 20)), &file(4, 1 << 20)));
        assert!(!tx.send(&mut ctx, 2, head(&file(5, 1 << 20)), &file(5, 1 << 20)));
        assert!(env
            .lines()
            .iter()
            .any(|l| l.starts_with("too many sending snapshot tasks, drop Send Snap[")));
        // The receiver takes one stream and refuses the second.
        let mut rx = SnapWorker::new(2, cfg);
        env.out.retain(|e| matches!(e, Effect::Send { .. }));
        deliver(&mut env, &mut rx, 10);
        assert_eq!(rx.receiving_count(), 1);
        let refusal = env.out.iter().find_map(|e| match e {
            Effect::Send {
                msg:
                    Msg::SnapshotDone {
                        result: Err(e),
                        key,
                        ..
                    },
                ..
            } => Some((e.clone(), *key)),
            _ => None,
        });
        let (err, key) = refusal.expect("RESOURCE_EXHAUSTED");
        assert_eq!(
            err,
            "RESOURCE_EXHAUSTED: the number of received snapshot tasks 1 exceeded the limitation 1"
        );
        let mut ctx = env.ctx(20);
        let o = tx.on_done(&mut ctx, 2, key, Err(err)).expect("a report");
        assert!(matches!(
            o,
            SnapOutcome::Report {
                status: SnapStatus::Failure,
                ..
            }
        ));
        assert!(env
            .lines()
            .iter()
            .any(|l| l.starts_with("failed to send snap")));
        assert_eq!(env.counters.get(&SNAPSHOT_SEND_REJECTED), Some(&2));
    }

    #[test]
    fn a_broken_connection_fails_the_sends_to_that_store_only() {
        let mut env = Env::new();
        let mut tx = SnapWorker::new(1, SnapConfig::default());
        let mut ctx = env.ctx(0);
        let (a, b) = (file(3, 4 << 20), file(4, 4 << 20));
        assert!(tx.send(&mut ctx, 2, head(&a), &a));
        assert!(tx.send(&mut ctx, 3, head(&b), &b));
        let out = tx.on_connection_reset(&mut ctx, 2);
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out[0],
            SnapOutcome::Report {
                region_id: 3,
                status: SnapStatus::Failure,
                ..
            }
        ));
        assert_eq!(tx.sending_count(), 1);
    }
}
