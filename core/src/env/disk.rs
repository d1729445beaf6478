//! The simulated disk of one store.
//!
//! Writes (raft log batches from raftstore's write path and apply batches) queue
//! in FIFO order. Two background lanes run beside them, each one request at a
//! time: reads (a snapshot generation scanning a region), taking
//! `bytes / bandwidth` without an fsync, and background writes (RocksDB's
//! memtable flushes), taking `latency + bytes / bandwidth` (one SST file and
//! its sync): a flush does not hold the raft log's fsyncs behind it, as
//! RocksDB's flush threads do not. Like TiKV's async-io `StoreWriter`, an idle disk takes every
//! queued write as one batch and completes it after `latency + bytes / bandwidth`.
//! An IO hang holds the batch in service and everything behind it until the hang
//! ends; a slow-disk fault multiplies the latency. Crashing the process drops the
//! queue (unsynced writes are lost).

use std::collections::VecDeque;

use crate::kernel::effect::DiskLane;
use crate::kernel::time::Micros;

/// Disk parameters.
#[derive(Clone, Debug)]
pub struct DiskConfig {
    /// Fixed cost of one synced write batch (fsync), virtual µs.
    pub latency: Micros,
    /// Sequential write bandwidth, bytes per virtual second.
    pub bandwidth_bytes_per_sec: u64,
}

/// A write waiting for or in service on the disk.
#[derive(Clone, Debug)]
struct Pending {
    token: u64,
    bytes: u64,
}

/// One background lane: a FIFO served one request at a time.
#[derive(Clone, Debug, Default)]
struct LaneQueue {
    queue: VecDeque<Pending>,
    in_service: Option<Pending>,
    /// Set when the request in service finished during a hang.
    done_while_hung: bool,
}

/// The disk state machine. The simulator drives it: [`Disk::submit`] queues,
/// [`Disk::maybe_start`] returns the completion time to schedule, and
/// [`Disk::complete`] hands back the finished tokens.
#[derive(Clone, Debug)]
pub struct Disk {
    /// Parameters.
    pub cfg: DiskConfig,
    queue: VecDeque<Pending>,
    in_service: Vec<Pending>,
    /// Completion events carry this generation; a crash bumps it so that stale
    /// completions are ignored.
    generation: u64,
    /// True while an IO hang holds every write.
    hung: bool,
    /// Set when the in-service batch's time elapsed during a hang.
    done_while_hung: bool,
    /// Latency multiplier of a slow-disk fault (1 = healthy).
    pub slow_factor: u64,
    reads: LaneQueue,
    flushes: LaneQueue,
}

impl Disk {
    /// An idle, healthy disk.
    pub fn new(cfg: DiskConfig) -> Disk {
        Disk {
            cfg,
            queue: VecDeque::new(),
            in_service: Vec::new(),
            generation: 0,
            hung: false,
            done_while_hung: false,
            slow_factor: 1,
            reads: LaneQueue::default(),
            flushes: LaneQueue::default(),
        }
    }

    fn lane(&mut self, lane: DiskLane) -> &mut LaneQueue {
        match lane {
            DiskLane::Read => &mut self.reads,
            DiskLane::Flush => &mut self.flushes,
        }
    }

    /// Queues a request of `bytes` identified by `token` on a background
    /// lane; [`Disk::maybe_start_lane`] starts it.
    pub fn submit_lane(&mut self, lane: DiskLane, token: u64, bytes: u64) {
        self.lane(lane).queue.push_back(Pending { token, bytes });
    }

    /// Starts the lane's next request if none is in service and the disk is
    /// not hung; returns its completion time and the generation to hand back.
    pub fn maybe_start_lane(&mut self, lane: DiskLane, now: Micros) -> Option<(Micros, u64)> {
        let (latency, bandwidth, slow) = (
            self.cfg.latency,
            self.cfg.bandwidth_bytes_per_sec.max(1),
            self.slow_factor,
        );
        if self.hung || self.lane(lane).in_service.is_some() {
            return None;
        }
        let l = self.lane(lane);
        let r = l.queue.pop_front()?;
        let transfer = r.bytes.saturating_mul(1_000_000) / bandwidth;
        let service = match lane {
            DiskLane::Read => transfer * slow,
            DiskLane::Flush => latency * slow + transfer,
        };
        l.in_service = Some(r);
        Some((now + service.max(1), self.generation))
    }

    /// The scheduled completion of the lane's request of generation
    /// `generation` fired: its token, unless stale or held by a hang.
    pub fn complete_lane(&mut self, lane: DiskLane, generation: u64) -> Vec<u64> {
        let (stale, hung) = (generation != self.generation, self.hung);
        let l = self.lane(lane);
        if stale || l.in_service.is_none() {
            return Vec::new();
        }
        if hung {
            l.done_while_hung = true;
            return Vec::new();
        }
        l.in_service.take().map(|p| p.token).into_iter().collect()
    }

    /// Queues a write of `bytes` identified by `token`; [`Disk::maybe_start`]
    /// starts it.
    pub fn submit(&mut self, token: u64, bytes: u64) {
        self.queue.push_back(Pending { token, bytes });
    }

    /// Starts a batch of everything queued if the disk is idle and not hung.
    pub fn maybe_start(&mut self, now: Micros) -> Option<(Micros, u64)> {
        if self.hung || !self.in_service.is_empty() || self.queue.is_empty() {
            return None;
        }
        self.in_service = self.queue.drain(..).collect();
        let bytes: u64 = self.in_service.iter().map(|p| p.bytes).sum();
        let transfer = bytes.saturating_mul(1_000_000) / self.cfg.bandwidth_bytes_per_sec.max(1);
        let service = self.cfg.latency * self.slow_factor + transfer;
        Some((now + service.max(1), self.generation))
    }

    /// The scheduled completion of generation `generation` fired. Returns the
    /// tokens that are now durable (empty if stale or held by a hang).
    pub fn complete(&mut self, generation: u64) -> Vec<u64> {
        if generation != self.generation || self.in_service.is_empty() {
            return Vec::new();
        }
        if self.hung {
            self.done_while_hung = true;
            return Vec::new();
        }
        self.in_service.drain(..).map(|p| p.token).collect()
    }

    /// Starts an IO hang: nothing completes until [`Disk::end_hang`].
    pub fn start_hang(&mut self) {
        self.hung = true;
    }

    /// Ends an IO hang. Returns the tokens of a batch whose time elapsed during the
    /// hang (durable now); the caller then calls [`Disk::maybe_start`].
    pub fn end_hang(&mut self) -> Vec<u64> {
        self.hung = false;
        let mut done = Vec::new();
        if self.done_while_hung {
            self.done_while_hung = false;
            done.extend(self.in_service.drain(..).map(|p| p.token));
        }
        for l in [&mut self.reads, &mut self.flushes] {
            if l.done_while_hung {
                l.done_while_hung = false;
                done.extend(l.in_service.take().map(|p| p.token));
            }
        }
        done
    }

    /// True while hung.
    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// Writes queued or in service.
    pub fn depth(&self) -> usize {
        self.queue.len() + self.in_service.len()
    }

    /// Bytes queued or in service.
    pub fn depth_bytes(&self) -> u64 {
        self.queue
            .iter()
            .chain(self.in_service.iter())
            .map(|p| p.bytes)
            .sum()
    }

    /// The process crashed: every unsynced write is lost.
    pub fn crash(&mut self) {
        self.queue.clear();
        self.in_service.clear();
        self.done_while_hung = false;
        self.reads = LaneQueue::default();
        self.flushes = LaneQueue::default();
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> Disk {
        Disk::new(DiskConfig {
            latency: 1_000,
            bandwidth_bytes_per_sec: 1_000_000,
        })
    }

    #[test]
    fn batches_queue_behind_the_write_in_service() {
        let mut d = disk();
        d.submit(1, 1_000);
        let (t1, g) = d.maybe_start(0).unwrap();
        assert_eq!(t1, 2_000);
        d.submit(2, 0);
        d.submit(3, 0);
        assert!(
            d.maybe_start(20).is_none(),
            "busy until the batch in service completes"
        );
        assert_eq!(d.complete(g), vec![1]);
        let (t2, g2) = d.maybe_start(t1).unwrap();
        assert_eq!(t2, t1 + 1_000);
        assert_eq!(d.complete(g2), vec![2, 3]);
    }

    #[test]
    fn a_hang_holds_every_write_until_it_ends() {
        let mut d = disk();
        d.submit(1, 0);
        let (_, g) = d.maybe_start(0).unwrap();
        d.start_hang();
        assert!(d.complete(g).is_empty());
        d.submit(2, 0);
        assert!(d.maybe_start(5).is_none(), "a hung disk starts nothing");
        assert_eq!(d.depth(), 2);
        assert_eq!(d.end_hang(), vec![1]);
        assert!(d.maybe_start(100).is_some());
    }

    #[test]
    fn reads_queue_on_their_own_take_bytes_over_bandwidth_and_wait_out_a_hang() {
        let mut d = disk();
        d.submit(1, 1_000);
        let (tw, gw) = d.maybe_start(0).unwrap();
        d.submit_lane(DiskLane::Read, 7, 5_000);
        d.submit_lane(DiskLane::Read, 8, 1_000);
        let (t1, g) = d.maybe_start_lane(DiskLane::Read, 0).unwrap();
        assert_eq!(t1, 5_000, "5 KB at 1 MB/s, no fsync, beside the write");
        assert!(tw < t1);
        assert!(
            d.maybe_start_lane(DiskLane::Read, 10).is_none(),
            "one read at a time"
        );
        assert_eq!(d.complete(gw), vec![1]);
        d.start_hang();
        assert!(
            d.complete_lane(DiskLane::Read, g).is_empty(),
            "held by the hang"
        );
        assert!(d.maybe_start_lane(DiskLane::Read, t1).is_none());
        assert_eq!(d.end_hang(), vec![7]);
        let (t2, g2) = d.maybe_start_lane(DiskLane::Read, t1).unwrap();
        assert_eq!(t2, t1 + 1_000);
        assert_eq!(d.complete_lane(DiskLane::Read, g2), vec![8]);
    }

    #[test]
    fn a_flush_runs_beside_the_raft_writes_with_one_sync_and_waits_out_a_hang() {
        let mut d = disk();
        d.submit_lane(DiskLane::Flush, 9, 100_000);
        let (tf, gf) = d.maybe_start_lane(DiskLane::Flush, 0).unwrap();
        assert_eq!(tf, 1_000 + 100_000, "latency + 100 KB at 1 MB/s");
        d.submit(1, 0);
        let (tw, gw) = d.maybe_start(10).unwrap();
        assert_eq!(tw, 1_010, "the raft write does not wait behind the flush");
        assert_eq!(d.complete(gw), vec![1]);
        d.submit_lane(DiskLane::Flush, 10, 0);
        assert!(
            d.maybe_start_lane(DiskLane::Flush, 20).is_none(),
            "one flush at a time"
        );
        d.start_hang();
        assert!(
            d.complete_lane(DiskLane::Flush, gf).is_empty(),
            "held by the hang"
        );
        assert_eq!(d.end_hang(), vec![9]);
        let (_, g2) = d.maybe_start_lane(DiskLane::Flush, tf).unwrap();
        assert_eq!(d.complete_lane(DiskLane::Flush, g2), vec![10]);
    }

    #[test]
    fn a_crash_loses_unsynced_writes_and_stale_completions() {
        let mut d = disk();
        d.submit(1, 0);
        let (_, g) = d.maybe_start(0).unwrap();
        d.crash();
        assert!(d.complete(g).is_empty());
        assert_eq!(d.depth(), 0);
    }
}
