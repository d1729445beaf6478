//! Builders of the lock-manager views: transactions, waiters, the detector
//! leader's table, deadlocks, the channels and memory of every store.

use super::{DeadlockView, DetectEdgeView, LockView, QueueView, StoreLockView, WaitEdgeView};
use crate::client::txn::{SessionWorkload, WorkloadKind};
use crate::kernel::time::to_ms;
use crate::lock_manager::{Channel, DetectorRole, LockManager};
use crate::sim::Simulation;

fn queue_view<T>(c: &Channel<T>, name: &'static str, bytes: u64) -> QueueView {
    QueueView {
        name,
        depth: c.len() as u64,
        bytes,
        in_per_sec: c.in_per_sec(),
        out_per_sec: c.out_per_sec(),
        capacity: c.capacity.map(|c| c as u64),
    }
}

/// The lock manager's channels, in pipeline order: `waiter_manager_tasks`,
/// `detector_tasks`, `detector_stream`.
pub fn queue_views(lm: &LockManager) -> Vec<QueueView> {
    let bytes = lm.channel_bytes();
    vec![
        queue_view(&lm.waiter_tasks, "waiter_manager_tasks", bytes[0]),
        queue_view(&lm.detector_tasks, "detector_tasks", bytes[1]),
        queue_view(&lm.stream, "detector_stream", bytes[2]),
    ]
}

/// The transactions, waiters and deadlock detector of the cluster now; its
/// `stores` is empty when no store runs a lock manager.
pub fn lock_view(sim: &Simulation) -> LockView {
    let w = sim.world();
    let mut stores = Vec::new();
    let mut waits = Vec::new();
    let mut detect_table = Vec::new();
    let mut deadlocks = Vec::new();
    let mut detector_leader = None;
    for st in w.stores.values() {
        let Some(lm) = st.lock_manager.as_ref() else {
            continue;
        };
        if st.up && lm.role == DetectorRole::Leader {
            detector_leader = Some(st.id);
            for (&txn, edges) in &lm.detect_table.wait_for_map {
                for (&lock_ts, locks) in edges {
                    detect_table.push(DetectEdgeView {
                        txn_ts: txn,
                        wait_for_ts: lock_ts,
                        keys: locks.keys.clone(),
                        last_detect_ms: to_ms(locks.last_detect_time),
                    });
                }
            }
        }
        for (at, victim, chain) in &lm.recent_deadlocks {
            deadlocks.push(DeadlockView {
                at_ms: to_ms(*at),
                victim_ts: *victim,
                wait_chain: chain.clone(),
            });
        }
        for wt in lm.wait_table.iter() {
            waits.push(WaitEdgeView {
                store: st.id,
                waiter_ts: wt.start_ts,
                lock_ts: wt.wait_info.lock_ts,
                key: wt.wait_info.key,
                fair: wt.wait_info.allow_lock_with_conflict,
                since_ms: to_ms(wt.start_waiting_time),
            });
        }
        stores.push(StoreLockView {
            store: st.id,
            up: st.up,
            role: lm.role,
            queues: queue_views(lm),
            waiters: lm.wait_table.len() as u64,
            memory: st.memory_trace(),
            memory_limit: st.memory_limit.unwrap_or(0),
        });
    }
    deadlocks.sort_by_key(|d| d.at_ms);
    if deadlocks.len() > 32 {
        deadlocks.drain(..deadlocks.len() - 32);
    }
    let sessions = w.workload::<SessionWorkload>();
    LockView {
        detector_leader,
        stores,
        txns: sessions.map(|s| s.txns_in_flight()).unwrap_or_default(),
        waits,
        detect_table,
        deadlocks,
        hot_keys: match sessions {
            Some(s) if s.cfg.kind == WorkloadKind::HotKeys => s.cfg.hot_key_list(),
            _ => Vec::new(),
        },
    }
}
