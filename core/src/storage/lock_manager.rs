//! What the transaction scheduler needs of a lock manager
//! (`src/storage/lock_manager/mod.rs`): a waiter starts, leaves, or has its
//! lock's owner changed. The implementation is the server's
//! [`crate::lock_manager::LockManager`], which queues each call as a task
//! for its waiter manager and detector, as TiKV's does.

use crate::proto::{Ctx, Key};
use crate::storage::lock_wait_queues::UpdateWaitForEvent;

/// `KeyLockWaitInfo` reduced to what the detector needs, plus fairness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitInfo {
    /// Key waited on.
    pub key: Key,
    /// Start ts of the lock (owner) waited for: `lock_digest.ts`.
    pub lock_ts: u64,
    /// `allow_lock_with_conflict`.
    pub allow_lock_with_conflict: bool,
}

/// The lock manager as the scheduler calls it (TiKV's `LockManager` trait).
pub trait LockManager {
    /// `wait_for`: the request `token` of `start_ts` waits for `wait_info`;
    /// unless it is the transaction's first lock, the detector is asked too.
    fn wait_for(
        &mut self,
        ctx: &mut Ctx,
        token: u64,
        start_ts: u64,
        wait_info: WaitInfo,
        is_first_lock: bool,
        region_id: u64,
    );

    /// `remove_lock_wait`: the waiter `token` was woken up or finished.
    fn remove_lock_wait(&mut self, token: u64);

    /// `update_wait_for`: owners changed (`LockWaitQueues::update_lock_wait`).
    fn update_wait_for(&mut self, events: Vec<UpdateWaitForEvent>);

    /// `wake-up-delay-duration`, virtual µs.
    fn wake_up_delay_duration(&self) -> u64;

    /// Wakes the lock manager's workers if they have work (the simulator's
    /// stand-in for the channels waking their threads).
    fn arm(&mut self, ctx: &mut Ctx);
}
