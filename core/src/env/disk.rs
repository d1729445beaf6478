//! The simulated disk of one store.
//!
//! Writes (raft log batches from raftstore's write path and apply batches) queue
//! in FIFO order. Reads (a snapshot generation scanning a region) queue in
//! their own FIFO, one at a time, taking `bytes / bandwidth` without an
//! fsync. Like TiKV's async-io `StoreWriter`, an idle disk takes every
//! queued write as one batch and completes it after `latency + bytes / bandwidth`.
//! An IO hang holds the batch in service and everything behind it until the hang
//! ends; a slow-disk fault multiplies the latency. Crashing the process drops the
//! queue (unsynced writes are lost).

use std::collections::VecDeque;

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
    reads: VecDeque<Pending>,
    read_in_service: Option<Pending>,
    /// Set when the read in service finished during a hang.
    read_done_while_hung: bool,
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
            reads: VecDeque::new(),
            read_in_service: None,
            read_done_while_hung: false,
        }
    }

    /// Queues a read of `bytes` identified by `token`; [`Disk::maybe_start_read`]
    /// starts it.
    pub fn submit_read(&mut self, token: u64, bytes: u64) {
        self.reads.push_back(Pending { token, bytes });
    }

    /// Starts the next read if none is in service and the disk is not hung;
    /// returns its completion time and the generation to hand back.
    pub fn maybe_start_read(&mut self, now: Micros) -> Option<(Micros, u64)> {
        if self.hung || self.read_in_service.is_some() {
            return None;
        }
        let r = self.reads.pop_front()?;
        let transfer = r.bytes.saturating_mul(1_000_000) / self.cfg.bandwidth_bytes_per_sec.max(1);
        let service = transfer * self.slow_factor;
        self.read_in_service = Some(r);
        Some((now + service.max(1), self.generation))
    }

    /// The scheduled completion of a read of generation `generation` fired:
    /// its token, unless stale or held by a hang.
    pub fn complete_read(&mut self, generation: u64) -> Vec<u64> {
        if generation != self.generation || self.read_in_service.is_none() {
            return Vec::new();
        }
        if self.hung {
            self.read_done_while_hung = true;
            return Vec::new();
        }
        self.read_in_service
            .take()
            .map(|p| p.token)
            .into_iter()
            .collect()
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
        if self.read_done_while_hung {
            self.read_done_while_hung = false;
            done.extend(self.read_in_service.take().map(|p| p.token));
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
        self.reads.clear();
        self.read_in_service = None;
        self.read_done_while_hung = false;
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
        d.submit_read(7, 5_000);
        d.submit_read(8, 1_000);
        let (t1, g) = d.maybe_start_read(0).unwrap();
        assert_eq!(t1, 5_000, "5 KB at 1 MB/s, no fsync, beside the write");
        assert!(tw < t1);
        assert!(d.maybe_start_read(10).is_none(), "one read at a time");
        assert_eq!(d.complete(gw), vec![1]);
        d.start_hang();
        assert!(d.complete_read(g).is_empty(), "held by the hang");
        assert!(d.maybe_start_read(t1).is_none());
        assert_eq!(d.end_hang(), vec![7]);
        let (t2, g2) = d.maybe_start_read(t1).unwrap();
        assert_eq!(t2, t1 + 1_000);
        assert_eq!(d.complete_read(g2), vec![8]);
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
