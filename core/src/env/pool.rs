//! Worker pools: a store's named thread pools (TiKV's thread names:
//! `deadlock-det`, `waiter-manager`, later `snap-generator`, `region-worker`,
//! `ime-bg`, ...), each with a FIFO task queue and a number of threads.
//!
//! A component submits a task with its virtual CPU cost; the task waits for
//! a free thread, occupies it for its cost, and its completion is handed
//! back to the component (the simulator fires the task's completion timer).
//! A crash of the process drops every queued and running task. Queue depth,
//! busy threads and CPU time are observable per pool.

use std::collections::VecDeque;

use serde::Serialize;

use crate::kernel::time::Micros;

/// A pool a store runs: its thread name and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PoolConfig {
    /// TiKV's thread name (prefix) for the pool.
    pub name: &'static str,
    /// Threads.
    pub threads: usize,
}

/// A task waiting for or running on a thread.
#[derive(Clone, Debug)]
struct Task<T> {
    cost: Micros,
    done: T,
    started: Micros,
}

/// One pool. `T` is what the component gets back when a task finishes.
#[derive(Clone, Debug)]
pub struct WorkerPool<T> {
    /// Thread name and size.
    pub cfg: PoolConfig,
    queue: VecDeque<Task<T>>,
    /// Running tasks by thread slot.
    running: Vec<Option<Task<T>>>,
    /// Completions carry this generation; a crash bumps it.
    generation: u64,
    /// Busy thread-µs accumulated up to `accounted_at`.
    busy_us: u64,
    accounted_at: Micros,
    /// `busy_us` at the last [`WorkerPool::take_second`].
    busy_us_at_sample: u64,
    /// Tasks finished.
    pub finished: u64,
}

/// A task that started on a thread: the simulator schedules its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    /// When it finishes, virtual µs.
    pub at: Micros,
    /// Thread slot.
    pub slot: usize,
    /// The pool's generation (completions of an older one are stale).
    pub generation: u64,
}

impl<T> WorkerPool<T> {
    /// An idle pool.
    pub fn new(cfg: PoolConfig) -> WorkerPool<T> {
        WorkerPool {
            running: (0..cfg.threads.max(1)).map(|_| None).collect(),
            cfg,
            queue: VecDeque::new(),
            generation: 0,
            busy_us: 0,
            accounted_at: 0,
            busy_us_at_sample: 0,
            finished: 0,
        }
    }

    fn account(&mut self, now: Micros) {
        let busy = self.busy_threads() as u64;
        self.busy_us += busy * now.saturating_sub(self.accounted_at);
        self.accounted_at = now.max(self.accounted_at);
    }

    /// Queues a task of `cost` virtual µs of CPU; `done` comes back when it
    /// finishes.
    pub fn submit(&mut self, cost: Micros, done: T) {
        self.queue.push_back(Task {
            cost,
            done,
            started: 0,
        });
    }

    /// Queues a task ahead of every waiting one (it starts on the next
    /// free thread).
    pub fn submit_front(&mut self, cost: Micros, done: T) {
        self.queue.push_front(Task {
            cost,
            done,
            started: 0,
        });
    }

    /// Starts queued tasks on free threads at `now`; returns what started.
    pub fn start_ready(&mut self, now: Micros) -> Vec<Started> {
        let mut started = Vec::new();
        if self.queue.is_empty() {
            return started;
        }
        self.account(now);
        for slot in 0..self.running.len() {
            if self.running[slot].is_some() {
                continue;
            }
            let Some(mut t) = self.queue.pop_front() else {
                break;
            };
            t.started = now;
            let at = now + t.cost.max(1);
            self.running[slot] = Some(t);
            started.push(Started {
                at,
                slot,
                generation: self.generation,
            });
        }
        started
    }

    /// The task on `slot` of `generation` finished at `now`; returns what
    /// the component gets back (`None` for a stale completion).
    pub fn complete(&mut self, now: Micros, slot: usize, generation: u64) -> Option<T> {
        if generation != self.generation {
            return None;
        }
        self.account(now);
        let t = self.running.get_mut(slot)?.take()?;
        self.finished += 1;
        Some(t.done)
    }

    /// The process died: every queued and running task is gone.
    pub fn crash(&mut self, now: Micros) {
        self.account(now);
        self.queue.clear();
        for r in &mut self.running {
            *r = None;
        }
        self.generation += 1;
    }

    /// Tasks waiting for a thread.
    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// Threads running a task.
    pub fn busy_threads(&self) -> usize {
        self.running.iter().filter(|r| r.is_some()).count()
    }

    /// Ends a sampling period at `now`: the CPU the pool's threads used since
    /// the last call, in thread-µs.
    pub fn take_second(&mut self, now: Micros) -> u64 {
        self.account(now);
        let used = self.busy_us - self.busy_us_at_sample;
        self.busy_us_at_sample = self.busy_us;
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> WorkerPool<u32> {
        WorkerPool::new(PoolConfig {
            name: "test-pool",
            threads,
        })
    }

    #[test]
    fn tasks_wait_for_a_free_thread_and_occupy_it_for_their_cost() {
        let mut p = pool(2);
        for id in 0..3 {
            p.submit(100, id);
        }
        let s = p.start_ready(0);
        assert_eq!(s.len(), 2, "two threads");
        assert_eq!(s[0].at, 100);
        assert_eq!(p.queue_depth(), 1);
        assert_eq!(p.busy_threads(), 2);
        assert_eq!(p.complete(100, s[0].slot, s[0].generation), Some(0));
        let s2 = p.start_ready(100);
        assert_eq!(s2.len(), 1);
        assert_eq!(s2[0].at, 200, "the third waited for the first");
        assert_eq!(p.complete(100, s[1].slot, s[1].generation), Some(1));
        assert_eq!(p.complete(200, s2[0].slot, s2[0].generation), Some(2));
        // 2 threads busy 0..100, one 100..200: 300 thread-µs.
        assert_eq!(p.take_second(1_000), 300);
        assert_eq!(p.take_second(2_000), 0);
        assert_eq!(p.finished, 3);
    }

    #[test]
    fn a_crash_drops_queued_and_running_tasks() {
        let mut p = pool(1);
        p.submit(100, 1);
        p.submit(100, 2);
        let s = p.start_ready(0);
        p.crash(50);
        assert_eq!(p.complete(100, s[0].slot, s[0].generation), None);
        assert_eq!(p.queue_depth(), 0);
        assert!(p.start_ready(60).is_empty());
        assert_eq!(p.take_second(100), 50, "busy until the crash");
    }
}
