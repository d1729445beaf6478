//! How many requests a lock handoff puts on the detector stream, for every
//! `fix`, by TiKV's rules (issue 17394, PR 17500, PR 20002, proposal PR
//! 17451), table-driven over numbers of waiters and owner changes, with fair
//! and non-fair waiters; and when an owner-change deadlock is found.

use kvscope_core::lock_manager::{
    ClientState, LockManager, LockManagerConfig, LockManagerEffect, UpdateWaitForFix, WaitInfo,
    Waiter,
};
use kvscope_core::proto::{DeadlockRequest, DeadlockRequestType, TxnError};
use kvscope_core::storage::lock_wait_queues::UpdateWaitForEvent;
use kvscope_core::time::{MS, SEC};
use kvscope_core::views::DetectorRole;

const KEY: u64 = 1024;

fn config(fix: UpdateWaitForFix) -> LockManagerConfig {
    LockManagerConfig {
        wait_for_lock_timeout: SEC,
        wake_up_delay_duration: 20 * MS,
        fix,
    }
}

/// A follower whose stream to the detector leader (store 1) is open.
fn follower(fix: UpdateWaitForFix) -> LockManager {
    let mut lm = LockManager::new(2, config(fix), 0);
    lm.client = ClientState::Connected(1);
    lm
}

/// Runs the workers and returns the requests that went on the stream.
fn drain(lm: &mut LockManager, now: u64) -> Vec<DeadlockRequest> {
    let mut out = Vec::new();
    lm.run_to_idle(now, &mut out);
    out.into_iter()
        .filter_map(|e| match e {
            LockManagerEffect::SendStream { batch, .. } => Some(batch),
            _ => None,
        })
        .flatten()
        .collect()
}

fn count(reqs: &[DeadlockRequest], tp: DeadlockRequestType) -> usize {
    reqs.iter().filter(|r| r.tp == tp).count()
}

/// `n` waiters (start_ts 100..) on KEY owned by start_ts 1, none on its first lock.
fn add_waiters(lm: &mut LockManager, n: u64, fair: bool, first_lock: bool) {
    let mut out = Vec::new();
    for i in 0..n {
        let w = Waiter::new(
            i + 1,
            100 + i,
            WaitInfo {
                key: KEY,
                lock_ts: 1,
                allow_lock_with_conflict: fair,
            },
            first_lock,
            2,
            0,
        );
        lm.wait_for(w, &mut out);
    }
}

/// The owner of KEY changes to `new_owner`: one event per waiter, as
/// `LockWaitQueues::update_lock_wait` emits them.
fn owner_change(lm: &mut LockManager, n: u64, new_owner: u64, first_lock: bool) {
    let events = (0..n)
        .map(|i| UpdateWaitForEvent {
            token: i + 1,
            start_ts: 100 + i,
            is_first_lock: first_lock,
            key: KEY,
            lock_ts: new_owner,
        })
        .collect();
    lm.update_wait_for(events);
}

#[test]
fn messages_per_handoff_follow_tikvs_rules() {
    use DeadlockRequestType::{CleanUpWaitFor, Detect, ReplaceLockByKey};
    use UpdateWaitForFix::*;
    // (fix, fair, expected (clean_up_wait_for, detect, replace) on change k (1-based) with n waiters)
    type Rule = fn(u64, u64) -> (u64, u64, u64);
    let table: &[(UpdateWaitForFix, bool, Rule)] = &[
        (None, false, |n, _| (n, n, 0)),
        (None, true, |n, _| (n, n, 0)),
        (Backpressure, false, |n, _| (n, n, 0)),
        (NonFairNoop, false, |_, _| (0, 0, 0)),
        (NonFairNoop, true, |n, _| (n, n, 0)),
        (SkipDetectOnOwnerChange, false, |_, _| (0, 0, 0)),
        (SkipDetectOnOwnerChange, true, |n, k| {
            if k == 1 {
                (n, 0, 0)
            } else {
                (0, 0, 0)
            }
        }),
        (Batching, false, |_, _| (0, 0, 1)),
        (Batching, true, |_, _| (0, 0, 1)),
    ];
    for &(fix, fair, rule) in table {
        for n in [1u64, 2, 7, 50] {
            let mut lm = follower(fix);
            add_waiters(&mut lm, n, fair, false);
            let initial = drain(&mut lm, 0);
            // Every waiter not on its first lock detects once when it starts waiting.
            assert_eq!(
                count(&initial, Detect) as u64,
                n,
                "{fix:?} fair={fair} n={n}: initial detects"
            );
            for k in 1..=3u64 {
                owner_change(&mut lm, n, 1 + k, false);
                let reqs = drain(&mut lm, k * MS);
                let got = (
                    count(&reqs, CleanUpWaitFor) as u64,
                    count(&reqs, Detect) as u64,
                    count(&reqs, ReplaceLockByKey) as u64,
                );
                assert_eq!(got, rule(n, k), "{fix:?} fair={fair} n={n} change {k}");
            }
        }
    }
}

#[test]
fn first_lock_waiters_never_talk_to_the_detector_about_owner_changes() {
    for fix in [
        UpdateWaitForFix::None,
        UpdateWaitForFix::NonFairNoop,
        UpdateWaitForFix::SkipDetectOnOwnerChange,
        UpdateWaitForFix::Batching,
        UpdateWaitForFix::Backpressure,
    ] {
        let mut lm = follower(fix);
        add_waiters(&mut lm, 10, true, true);
        assert!(
            drain(&mut lm, 0).is_empty(),
            "{fix:?}: a first lock cannot deadlock"
        );
        owner_change(&mut lm, 10, 9, true);
        assert!(drain(&mut lm, MS).is_empty(), "{fix:?}");
    }
}

#[test]
fn backpressure_bounds_the_stream_and_counts_drops() {
    use kvscope_core::lock_manager::{
        BACKPRESSURE_QUEUE_LIMIT, REQUEST_WIRE_BYTES, STREAM_WINDOW_BYTES,
    };
    // The leader never returns window here: after a window's worth of
    // requests is on the wire, the bounded queue fills and the rest drop.
    let mut lm = follower(UpdateWaitForFix::Backpressure);
    add_waiters(&mut lm, 100, false, false);
    let (mut dropped, mut sent) = (0, drain(&mut lm, 0).len() as u64);
    for k in 1..=500u64 {
        owner_change(&mut lm, 100, 1 + k, false);
        let mut out = Vec::new();
        lm.run_to_idle(k * MS, &mut out);
        for e in &out {
            match e {
                LockManagerEffect::Count(c, n)
                    if *c == kvscope_core::lock_manager::metrics::DETECTOR_REQUESTS_DROPPED =>
                {
                    dropped += n
                }
                LockManagerEffect::SendStream { batch, .. } => sent += batch.len() as u64,
                _ => {}
            }
        }
        assert!(lm.stream.len() <= BACKPRESSURE_QUEUE_LIMIT);
    }
    let produced = 100 + 2 * 100 * 500;
    let window = STREAM_WINDOW_BYTES / REQUEST_WIRE_BYTES;
    assert_eq!(sent, window, "the window caps what is on the wire");
    assert_eq!(lm.stream.len(), BACKPRESSURE_QUEUE_LIMIT);
    assert_eq!(dropped + sent + lm.stream.len() as u64, produced);
}

#[test]
fn the_stream_sends_a_window_ahead_and_no_more_until_the_leader_returns_window() {
    use kvscope_core::lock_manager::{REQUEST_WIRE_BYTES, STREAM_WINDOW_BYTES};
    let mut lm = follower(UpdateWaitForFix::None);
    let n = 2 * STREAM_WINDOW_BYTES / REQUEST_WIRE_BYTES / 3;
    add_waiters(&mut lm, n, false, false);
    let first = drain(&mut lm, 0).len() as u64;
    assert_eq!(first, n, "under a window: everything goes");
    owner_change(&mut lm, n, 7, false);
    let second = drain(&mut lm, MS).len() as u64;
    let window = STREAM_WINDOW_BYTES / REQUEST_WIRE_BYTES;
    assert_eq!(first + second, window, "the rest waits for window");
    assert_eq!(lm.stream.len() as u64, 3 * n - window);
    // The leader consumed half the window: that much more goes.
    lm.on_window_update(STREAM_WINDOW_BYTES / 2);
    let third = drain(&mut lm, 2 * MS).len() as u64;
    assert!(
        (third * REQUEST_WIRE_BYTES).abs_diff(STREAM_WINDOW_BYTES / 2) < REQUEST_WIRE_BYTES,
        "{third} requests for half a window"
    );
}

/// Leader-role lock manager handling its own requests; returns victims found.
fn leader(fix: UpdateWaitForFix) -> LockManager {
    let mut lm = LockManager::new(1, config(fix), 0);
    let mut out = Vec::new();
    lm.schedule_change_role(DetectorRole::Leader);
    lm.run_to_idle(0, &mut out);
    assert_eq!(lm.role, DetectorRole::Leader);
    lm
}

fn deadlock_victims(out: &[LockManagerEffect]) -> Vec<(u64, TxnError)> {
    out.iter()
        .filter_map(|e| match e {
            LockManagerEffect::CancelWaiter { waiter, error }
                if matches!(error, TxnError::Deadlock { .. }) =>
            {
                Some((waiter.start_ts, error.clone()))
            }
            _ => None,
        })
        .collect()
}

fn wait(lm: &mut LockManager, token: u64, start_ts: u64, key: u64, lock_ts: u64, now: u64) {
    let mut out = Vec::new();
    let w = Waiter::new(
        token,
        start_ts,
        WaitInfo {
            key,
            lock_ts,
            allow_lock_with_conflict: true,
        },
        false,
        2,
        now,
    );
    lm.wait_for(w, &mut out);
}

/// T1 holds x and waits for key a, owned by T0. a passes to T2, which then
/// waits for x: the cycle T1 → T2 → T1 exists only through the owner change.
fn owner_change_deadlock(fix: UpdateWaitForFix) -> (Vec<u64>, Vec<u64>) {
    let (a, x) = (10, 20);
    let mut lm = leader(fix);
    wait(&mut lm, 1, 1, a, 100, 0);
    let mut out = Vec::new();
    lm.run_to_idle(0, &mut out);
    // a: T0 (100) → T2 (2).
    lm.update_wait_for(vec![UpdateWaitForEvent {
        token: 1,
        start_ts: 1,
        is_first_lock: false,
        key: a,
        lock_ts: 2,
    }]);
    lm.run_to_idle(MS, &mut out);
    wait(&mut lm, 2, 2, x, 1, 2 * MS);
    lm.run_to_idle(2 * MS, &mut out);
    lm.run_to_idle(3 * MS, &mut out);
    let at_once: Vec<u64> = deadlock_victims(&out).iter().map(|v| v.0).collect();
    // T1's wait times out; TiDB retries the lock, which detects again.
    let mut later = Vec::new();
    let mut out = Vec::new();
    lm.on_waiter_timeout(SEC, 1, &mut out);
    if out.iter().any(|e| {
        matches!(
            e,
            LockManagerEffect::CancelWaiter {
                error: TxnError::KeyIsLocked { .. },
                ..
            }
        )
    }) {
        wait(&mut lm, 3, 1, a, 2, SEC + MS);
        let mut out = Vec::new();
        lm.run_to_idle(SEC + MS, &mut out);
        lm.run_to_idle(SEC + 2 * MS, &mut out);
        later = deadlock_victims(&out).iter().map(|v| v.0).collect();
    }
    (at_once, later)
}

#[test]
fn a_real_deadlock_is_found_with_exactly_one_victim_for_every_fix() {
    for fix in [
        UpdateWaitForFix::None,
        UpdateWaitForFix::NonFairNoop,
        UpdateWaitForFix::SkipDetectOnOwnerChange,
        UpdateWaitForFix::Batching,
        UpdateWaitForFix::Backpressure,
    ] {
        // T1 waits for T2 on key a, T2 waits for T1 on key b.
        let mut lm = leader(fix);
        wait(&mut lm, 1, 1, 10, 2, 0);
        wait(&mut lm, 2, 2, 20, 1, 0);
        let mut out = Vec::new();
        lm.run_to_idle(0, &mut out);
        let victims = deadlock_victims(&out);
        assert_eq!(victims.len(), 1, "{fix:?}: {victims:?}");
        assert_eq!(
            victims[0].0, 2,
            "{fix:?}: the detect that closes the cycle loses"
        );
        let TxnError::Deadlock { wait_chain, .. } = &victims[0].1 else {
            unreachable!()
        };
        assert_eq!(wait_chain.len(), 2);
    }
}

#[test]
fn an_owner_change_deadlock_is_found_at_once_or_only_after_the_wait_times_out() {
    // Rules that re-point (or replace) edges find the cycle when T2 waits.
    for fix in [
        UpdateWaitForFix::None,
        UpdateWaitForFix::NonFairNoop,
        UpdateWaitForFix::Batching,
    ] {
        let (at_once, later) = owner_change_deadlock(fix);
        assert_eq!(at_once, vec![2], "{fix:?}");
        assert!(later.is_empty(), "{fix:?}: {later:?}");
    }
    // PR 20002 cleans T1's edge and sends no new Detect: nothing is found
    // until T1's wait times out and its retry detects again.
    let (at_once, later) = owner_change_deadlock(UpdateWaitForFix::SkipDetectOnOwnerChange);
    assert!(at_once.is_empty(), "{at_once:?}");
    assert_eq!(later, vec![1]);
}
