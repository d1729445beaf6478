//! TiKV's transactional storage layer on one store (`src/storage/`): the
//! transactional actions ([`actions`]) over the MVCC data ([`crate::mvcc`]),
//! the lock wait queues ([`lock_wait_queues`]), the txn scheduler
//! ([`scheduler`]) that runs commands under key latches, writes through
//! Raft and wakes up waiters, and what it needs of a lock manager
//! ([`lock_manager`]).

pub mod actions;
pub mod lock_manager;
pub mod lock_wait_queues;
pub mod metrics;
pub mod scheduler;
pub mod txn_status_cache;

use crate::proto::{Key, TxnCommand};

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
    /// What the client gets once the command's write applies (a
    /// `TxnHeartBeat` or `CheckTxnStatus` answers with the status it wrote).
    pub response: crate::proto::TxnOk,
}
