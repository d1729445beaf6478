//! TiKV's transactional storage layer on one store (`src/storage/`): MVCC data
//! ([`mvcc`]), the transactional actions ([`actions`]), the lock wait queues
//! ([`lock_wait_queues`]) and the txn scheduler ([`scheduler`]) that runs
//! commands under key latches, keeps in-memory pessimistic locks on region
//! leaders, writes through Raft, and drives the lock manager.

pub mod actions;
pub mod lock_wait_queues;
pub mod mvcc;
pub mod scheduler;

use std::collections::{BTreeMap, VecDeque};

use crate::lock_manager::LockManager;
use crate::proto::{Key, TxnCommand};
use mvcc::Lock;

/// A command admitted by the scheduler and not finished yet.
#[derive(Clone, Debug)]
pub struct RunningCmd {
    /// Client session to answer.
    pub client: u32,
    /// Request id to answer.
    pub req_id: u64,
    /// Region.
    pub region_id: u64,
    /// The command.
    pub cmd: TxnCommand,
    /// Keys latched.
    pub keys: Vec<Key>,
    /// Keys whose locks this command's Raft write releases (their waiters
    /// are woken when it applies).
    pub wake_on_apply: Vec<Key>,
}

/// A deadlock found by this store's detector: (virtual µs, victim start_ts,
/// wait chain of `(txn, wait_for_txn, key)`).
pub type FoundDeadlock = (u64, u64, Vec<(u64, u64, Key)>);

/// The storage state of one store. Everything here is volatile: a crash or
/// an OOM kill loses it, as the real process would.
#[derive(Clone, Debug, Default)]
pub struct StorageState {
    /// The lock manager, when the scenario runs transactions.
    pub lock_manager: Option<LockManager>,
    /// In-memory pessimistic locks per region (`PeerPessimisticLocks`), kept
    /// only while this store leads the region.
    pub pessimistic_locks: BTreeMap<u64, BTreeMap<Key, Lock>>,
    /// Lock wait queues.
    pub lock_wait_queues: lock_wait_queues::LockWaitQueues,
    /// Latches: per key, the commands holding or waiting for it, in order.
    pub latches: BTreeMap<Key, VecDeque<u64>>,
    /// Admitted commands by id.
    pub cmds: BTreeMap<u64, RunningCmd>,
    /// Next command id.
    pub next_cid: u64,
    /// Next lock wait token.
    pub next_token: u64,
    /// Deadlocks this store's detector found, most recent last (at most 32),
    /// as `(virtual µs, victim, chain)`.
    pub recent_deadlocks: VecDeque<FoundDeadlock>,
}

impl StorageState {
    /// Drops every volatile structure (the process died); keeps the lock
    /// manager's configuration.
    pub fn reset(&mut self) {
        let lm = self.lock_manager.take().map(|mut lm| {
            lm.reset();
            lm
        });
        *self = StorageState {
            lock_manager: lm,
            ..StorageState::default()
        };
    }

    /// Pessimistic locks held in memory, over all regions.
    pub fn pessimistic_lock_count(&self) -> usize {
        self.pessimistic_locks.values().map(BTreeMap::len).sum()
    }

    /// The storage subtree of the memory trace.
    pub fn memory_trace(&self) -> crate::memory::MemoryTrace {
        use crate::memory::*;
        let latch_slots: u64 = self.latches.values().map(|q| q.len() as u64).sum();
        MemoryTrace::node(
            "storage",
            vec![
                MemoryTrace::leaf(
                    "pessimistic_locks",
                    self.pessimistic_lock_count() as u64 * PESSIMISTIC_LOCK_BYTES,
                ),
                MemoryTrace::leaf(
                    "lock_wait_queues",
                    self.lock_wait_queues.len() as u64 * LOCK_WAIT_ENTRY_BYTES,
                ),
                MemoryTrace::leaf("latches", latch_slots * LATCH_BYTES),
            ],
        )
    }
}
