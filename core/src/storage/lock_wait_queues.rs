//! `LockWaitQueues` (`src/storage/lock_manager/lock_waiting_queue.rs`): per key,
//! the pessimistic lock requests waiting for the key's current lock, ordered by
//! `start_ts` (older first), with TiKV's two wake-up paths:
//!
//! - fair locking (`allow_lock_with_conflict`): the head is popped and resumed,
//!   acquiring the lock itself; the others stay queued and are re-pointed at
//!   the new owner by [`LockWaitQueues::update_lock_wait`];
//! - legacy: the head is woken with `WriteConflict` (TiDB retries), and
//!   `wake-up-delay-duration` later `delayed_notify_all` wakes every entry that
//!   was queued before that wake-up, also with `WriteConflict`. Each later
//!   legacy wake-up extends the delay.

use std::collections::BTreeMap;

use crate::kernel::time::Micros;
use crate::proto::Key;

/// A queued lock request (`LockWaitEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockWaitEntry {
    /// `LockWaitToken`: unique per store.
    pub token: u64,
    /// Key waited on.
    pub key: Key,
    /// Region of the key.
    pub region_id: u64,
    /// Waiter's start_ts.
    pub start_ts: u64,
    /// Waiter's for_update_ts.
    pub for_update_ts: u64,
    /// Waiter's primary.
    pub primary: Key,
    /// `is_first_lock`.
    pub is_first_lock: bool,
    /// `allow_lock_with_conflict`.
    pub allow_lock_with_conflict: bool,
    /// Client session to answer.
    pub client: u32,
    /// Request id to answer.
    pub req_id: u64,
    /// `legacy_wake_up_index` at enqueue time.
    pub legacy_wake_up_index: u64,
}

/// `UpdateWaitForEvent`: a waiter of `key` now waits for `lock_ts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateWaitForEvent {
    /// The waiter's token.
    pub token: u64,
    /// The waiter's start_ts.
    pub start_ts: u64,
    /// `is_first_lock` of the waiting request.
    pub is_first_lock: bool,
    /// Key.
    pub key: Key,
    /// The new owner's start_ts.
    pub lock_ts: u64,
}

/// `KeyLockWaitState`.
#[derive(Clone, Debug, Default)]
struct KeyLockWaitState {
    /// Start ts of the key's current lock.
    current_lock_ts: u64,
    /// Count of legacy wake-ups so far.
    legacy_wake_up_index: u64,
    /// Queue ordered by (start_ts, token).
    queue: BTreeMap<(u64, u64), LockWaitEntry>,
    /// `(notify_id, deadline)` of the pending `delayed_notify_all`.
    delayed_notify: Option<(u64, Micros)>,
}

/// What waking the head of a key's queue produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WokenUp {
    /// The popped entry.
    pub entry: LockWaitEntry,
    /// For a legacy head with others still queued: a `delayed_notify_all` to
    /// schedule, `(notify_id, at)`. `None` if none is needed or one is pending
    /// (whose deadline has just been extended).
    pub schedule_notify: Option<(u64, Micros)>,
}

/// All lock wait queues of a store.
#[derive(Clone, Debug, Default)]
pub struct LockWaitQueues {
    map: BTreeMap<Key, KeyLockWaitState>,
    next_notify_id: u64,
}

impl LockWaitQueues {
    /// `push_lock_wait`: enqueue `entry`, waiting for the lock of `current_lock_ts`.
    pub fn push_lock_wait(&mut self, mut entry: LockWaitEntry, current_lock_ts: u64) {
        let st = self.map.entry(entry.key).or_default();
        st.current_lock_ts = current_lock_ts;
        entry.legacy_wake_up_index = st.legacy_wake_up_index;
        st.queue.insert((entry.start_ts, entry.token), entry);
    }

    /// `pop_for_waking_up`: the key's lock was released; pop the head.
    pub fn pop_for_waking_up(
        &mut self,
        key: Key,
        now: Micros,
        wake_up_delay: Micros,
    ) -> Option<WokenUp> {
        let st = self.map.get_mut(&key)?;
        let (_, entry) = st.queue.pop_first()?;
        let mut schedule_notify = None;
        if !entry.allow_lock_with_conflict {
            st.legacy_wake_up_index += 1;
            if !st.queue.is_empty() {
                match &mut st.delayed_notify {
                    Some((_, deadline)) => *deadline = now + wake_up_delay,
                    None => {
                        self.next_notify_id += 1;
                        let at = now + wake_up_delay;
                        st.delayed_notify = Some((self.next_notify_id, at));
                        schedule_notify = Some((self.next_notify_id, at));
                    }
                }
            }
        }
        if st.queue.is_empty() && st.delayed_notify.is_none() {
            self.map.remove(&key);
        }
        Some(WokenUp {
            entry,
            schedule_notify,
        })
    }

    /// `delayed_notify_all` for `key` and `notify_id` at `now`.
    ///
    /// Returns `Err(deadline)` when the delay was extended past `now` (fire
    /// again then); otherwise the legacy entries queued before the last legacy
    /// wake-up (to fail with `WriteConflict`) and, if a fair entry was reached,
    /// that entry to resume.
    #[allow(clippy::type_complexity)]
    pub fn delayed_notify_all(
        &mut self,
        key: Key,
        notify_id: u64,
        now: Micros,
    ) -> Result<(Vec<LockWaitEntry>, Option<LockWaitEntry>), Micros> {
        let Some(st) = self.map.get_mut(&key) else {
            return Ok((Vec::new(), None));
        };
        match st.delayed_notify {
            Some((id, deadline)) if id == notify_id => {
                if deadline > now {
                    return Err(deadline);
                }
            }
            _ => return Ok((Vec::new(), None)),
        }
        st.delayed_notify = None;
        let index = st.legacy_wake_up_index;
        let mut popped = Vec::new();
        let mut resumable = None;
        while let Some((&k, front)) = st.queue.first_key_value() {
            if front.legacy_wake_up_index >= index {
                break;
            }
            let e = st.queue.remove(&k).expect("present");
            if e.allow_lock_with_conflict {
                resumable = Some(e);
                break;
            }
            popped.push(e);
        }
        if st.queue.is_empty() {
            self.map.remove(&key);
        }
        Ok((popped, resumable))
    }

    /// `update_lock_wait`: `key` is now locked by `lock_ts`; one event per
    /// queued entry (TiKV emits one per entry, and the waiter manager decides
    /// what each costs).
    pub fn update_lock_wait(&mut self, key: Key, lock_ts: u64) -> Vec<UpdateWaitForEvent> {
        let Some(st) = self.map.get_mut(&key) else {
            return Vec::new();
        };
        st.current_lock_ts = lock_ts;
        st.queue
            .values()
            .map(|e| UpdateWaitForEvent {
                token: e.token,
                start_ts: e.start_ts,
                is_first_lock: e.is_first_lock,
                key,
                lock_ts,
            })
            .collect()
    }

    /// `remove_by_token`: a waiter left (timeout, deadlock, cancel).
    pub fn remove_by_token(
        &mut self,
        key: Key,
        start_ts: u64,
        token: u64,
    ) -> Option<LockWaitEntry> {
        let st = self.map.get_mut(&key)?;
        let e = st.queue.remove(&(start_ts, token));
        if st.queue.is_empty() && st.delayed_notify.is_none() {
            self.map.remove(&key);
        }
        e
    }

    /// Entries queued in all keys.
    pub fn len(&self) -> usize {
        self.map.values().map(|s| s.queue.len()).sum()
    }

    /// True when no entry is queued.
    pub fn is_empty(&self) -> bool {
        self.map.values().all(|s| s.queue.is_empty())
    }

    /// Every queued entry, by key then priority.
    pub fn entries(&self) -> impl Iterator<Item = &LockWaitEntry> {
        self.map.values().flat_map(|s| s.queue.values())
    }

    /// Drops everything (the process died).
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: u64, start_ts: u64, fair: bool) -> LockWaitEntry {
        LockWaitEntry {
            token,
            key: 7,
            region_id: 2,
            start_ts,
            for_update_ts: start_ts,
            primary: 1,
            is_first_lock: false,
            allow_lock_with_conflict: fair,
            client: 0,
            req_id: token,
            legacy_wake_up_index: 0,
        }
    }

    #[test]
    fn legacy_wake_up_pops_the_oldest_then_notifies_the_rest_after_the_delay() {
        let mut q = LockWaitQueues::default();
        q.push_lock_wait(entry(1, 30, false), 5);
        q.push_lock_wait(entry(2, 20, false), 5);
        q.push_lock_wait(entry(3, 40, false), 5);
        let w = q.pop_for_waking_up(7, 100, 20).unwrap();
        assert_eq!(w.entry.start_ts, 20);
        let (id, at) = w.schedule_notify.unwrap();
        assert_eq!(at, 120);
        // A second wake-up extends the pending delay instead of scheduling another.
        let w2 = q.pop_for_waking_up(7, 110, 20).unwrap();
        assert_eq!(w2.schedule_notify, None);
        q.push_lock_wait(entry(4, 50, false), 6); // queued after the wake-ups: stays
        assert_eq!(q.delayed_notify_all(7, id, 120), Err(130));
        let (popped, resumable) = q.delayed_notify_all(7, id, 130).unwrap();
        assert_eq!(popped.iter().map(|e| e.token).collect::<Vec<_>>(), vec![3]);
        assert!(resumable.is_none());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn update_lock_wait_emits_one_event_per_waiter() {
        let mut q = LockWaitQueues::default();
        for t in 1..=5 {
            q.push_lock_wait(entry(t, 10 + t, true), 5);
        }
        let w = q.pop_for_waking_up(7, 0, 20).unwrap();
        assert!(w.schedule_notify.is_none());
        let ev = q.update_lock_wait(7, w.entry.start_ts);
        assert_eq!(ev.len(), 4);
        assert!(ev.iter().all(|e| e.lock_ts == 11));
    }
}
