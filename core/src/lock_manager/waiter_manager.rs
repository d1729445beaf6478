//! The waiter manager's `Waiter` and `WaitTable`
//! (`src/server/lock_manager/waiter_manager.rs`).

use std::collections::BTreeMap;

use super::WaitInfo;
use crate::kernel::time::Micros;
use crate::proto::Key;
use crate::storage::lock_wait_queues::UpdateWaitForEvent;

/// A pessimistic lock request waiting for a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// `LockWaitToken`.
    pub token: u64,
    /// Waiter's start_ts.
    pub start_ts: u64,
    /// What it waits for now.
    pub wait_info: WaitInfo,
    /// `is_first_lock` of the request.
    pub is_first_lock: bool,
    /// PR 20002's `registered_edge`: the edge the detector knows of, until the
    /// first owner change cleans it up (`None` for a first lock).
    pub registered_edge: Option<WaitInfo>,
    /// Region of the key.
    pub region_id: u64,
    /// When the wait began, virtual µs.
    pub start_waiting_time: Micros,
    /// When it times out (`start_waiting_time + wait-for-lock-timeout`), virtual µs.
    pub deadline: Micros,
}

impl Waiter {
    /// A waiter beginning at `now`; the deadline is set by the waiter manager.
    pub fn new(
        token: u64,
        start_ts: u64,
        wait_info: WaitInfo,
        is_first_lock: bool,
        region_id: u64,
        now: Micros,
    ) -> Waiter {
        Waiter {
            token,
            start_ts,
            wait_info,
            is_first_lock,
            registered_edge: (!is_first_lock).then_some(wait_info),
            region_id,
            start_waiting_time: now,
            deadline: now,
        }
    }
}

/// `WaitTable`: waiters by token.
#[derive(Clone, Debug, Default)]
pub struct WaitTable {
    waiters: BTreeMap<u64, Waiter>,
}

impl WaitTable {
    /// `add_waiter`.
    pub fn add_waiter(&mut self, w: Waiter) {
        self.waiters.insert(w.token, w);
    }

    /// `take_waiter`.
    pub fn take_waiter(&mut self, token: u64) -> Option<Waiter> {
        self.waiters.remove(&token)
    }

    /// The waiter `token`.
    pub fn get(&self, token: u64) -> Option<&Waiter> {
        self.waiters.get(&token)
    }

    /// `take_waiter_by_lock_digest`: the waiter of `waiter_ts` on `key`. As
    /// TiKV's wait table is keyed by `(lock_digest.hash, start_ts)`, the
    /// owner the waiter waits for is not compared: a deadlock found through
    /// an earlier owner still cancels the waiter.
    pub fn take_waiter_by_key(&mut self, key: Key, waiter_ts: u64) -> Option<Waiter> {
        let token = self
            .waiters
            .values()
            .find(|w| w.start_ts == waiter_ts && w.wait_info.key == key)?
            .token;
        self.waiters.remove(&token)
    }

    /// `update_waiter`: point the waiter at the event's owner. Returns the
    /// previous wait info when the owner changed.
    pub fn update_waiter(&mut self, ev: &UpdateWaitForEvent) -> Option<WaitInfo> {
        let w = self.waiters.get_mut(&ev.token)?;
        if w.wait_info.lock_ts == ev.lock_ts {
            return None;
        }
        let prev = w.wait_info;
        w.wait_info.lock_ts = ev.lock_ts;
        w.wait_info.key = ev.key;
        Some(prev)
    }

    /// PR 20002's `take_registered_edge`.
    pub fn take_registered_edge(&mut self, token: u64) -> Option<WaitInfo> {
        self.waiters.get_mut(&token)?.registered_edge.take()
    }

    /// Number of waiters.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Every waiter by token.
    pub fn iter(&self) -> impl Iterator<Item = &Waiter> {
        self.waiters.values()
    }
}
