//! The txn scheduler of a store (`src/storage/txn/scheduler.rs`): admit a
//! command, take its key latches, run its action against the region
//! leader's applied MVCC data and in-memory pessimistic locks, write through
//! Raft, answer the client, release the latches, and wake up the lock
//! waiters of released keys, telling the lock manager (through
//! [`LockManager`]) who waits for whom.
//!
//! The scheduler reaches raftstore through the [`Raftstore`] handed to each
//! call (TiKV goes through its router): it reads the leader peer's applied
//! data and in-memory pessimistic locks, and proposes writes. A command
//! runs on a snapshot of the leader only once the leader has applied an
//! entry of its own term (TiKV's snapshot goes through read index or the
//! lease, which a new leader grants only then); until that, the command
//! waits, holding its latches.

use std::collections::{BTreeMap, VecDeque};

use super::actions::{self, LockOutcome, SnapshotRef};
use super::lock_manager::{LockManager, WaitInfo};
use super::lock_wait_queues::{LockWaitEntry, LockWaitQueues};
use super::RunningCmd;
use crate::kernel::effect::Node;
use crate::mvcc::{encode_modifies, Modify};
use crate::proto::{
    Ctx, Key, Msg, RegionError, Timer, TxnCommand, TxnError, TxnOk, WriteConflictReason,
};
use crate::raftstore::fsm::Raftstore;
use crate::raftstore::peer::{Proposal, ProposalOwner};

/// The lock manager a call may use (`None` when the store runs none: lock
/// requests then fail at once with `KeyIsLocked`).
type Lm<'a> = Option<&'a mut (dyn LockManager + 'static)>;

/// The txn scheduler of one store. Everything here is volatile: a crash or
/// an OOM kill loses it, as the real process would.
#[derive(Clone, Debug, Default)]
pub struct TxnScheduler {
    /// The store.
    pub store_id: u64,
    /// Lock wait queues.
    pub lock_wait_queues: LockWaitQueues,
    /// Latches: per key, the commands holding or waiting for it, in order.
    pub latches: BTreeMap<Key, VecDeque<u64>>,
    /// Admitted commands by id.
    pub cmds: BTreeMap<u64, RunningCmd>,
    /// Next command id.
    pub next_cid: u64,
    /// Next lock wait token.
    pub next_token: u64,
    /// Commands waiting for their region's new leader to apply its term,
    /// by region.
    pub awaiting_apply: BTreeMap<u64, Vec<u64>>,
}

impl TxnScheduler {
    /// An idle scheduler of `store_id`.
    pub fn new(store_id: u64) -> TxnScheduler {
        TxnScheduler {
            store_id,
            ..TxnScheduler::default()
        }
    }

    /// Drops every volatile structure (the process died).
    pub fn reset(&mut self) {
        *self = TxnScheduler::new(self.store_id);
    }

    fn reply_txn(&self, ctx: &mut Ctx, client: u32, req_id: u64, result: Result<TxnOk, TxnError>) {
        ctx.send(
            Node::Store(self.store_id),
            Node::Client(client),
            Msg::TxnResponse { req_id, result },
        );
    }

    /// The region check every command starts with: the peer exists, leads,
    /// and covers the command's keys.
    fn check_region(rs: &Raftstore, region_id: u64, keys: &[Key]) -> Result<(), RegionError> {
        let Some(peer) = rs.peers.get(&region_id) else {
            return Err(RegionError::RegionNotFound);
        };
        if !peer.is_leader() {
            return Err(RegionError::NotLeader {
                leader_store: peer.leader_store(),
            });
        }
        if peer.raft.store().merge_state.is_some() {
            return Err(RegionError::ProposalInMergingMode);
        }
        if let Some(&k) = keys.iter().find(|&&k| !peer.region().contains(k)) {
            // The session's cache predates a split (TiKV's `check_region_epoch`).
            return Err(RegionError::EpochNotMatch {
                current_regions: rs.current_regions(k),
            });
        }
        Ok(())
    }

    /// A `TxnRequest` arrived.
    #[allow(clippy::too_many_arguments)]
    pub fn on_txn_request(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        lm: Lm,
        client: u32,
        req_id: u64,
        region_id: u64,
        cmd: TxnCommand,
    ) {
        let keys = cmd.keys();
        let checked = match cmd {
            TxnCommand::Get { key, .. } => vec![key],
            _ => keys.clone(),
        };
        if let Err(e) = Self::check_region(rs, region_id, &checked) {
            return self.reply_txn(ctx, client, req_id, Err(TxnError::Region(e)));
        }
        self.admit(
            ctx,
            rs,
            lm,
            RunningCmd {
                client,
                req_id,
                region_id,
                cmd,
                keys,
                wake_on_apply: Vec::new(),
                response: TxnOk::default(),
            },
        );
    }

    /// Takes the command's latches and runs it if they are all free.
    fn admit(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, lm: Lm, rc: RunningCmd) {
        self.next_cid += 1;
        let cid = self.next_cid;
        for &k in &rc.keys {
            self.latches.entry(k).or_default().push_back(cid);
        }
        self.cmds.insert(cid, rc);
        if self.latches_acquired(cid) {
            self.execute(ctx, rs, lm, cid);
        }
    }

    fn latches_acquired(&self, cid: u64) -> bool {
        let Some(rc) = self.cmds.get(&cid) else {
            return false;
        };
        rc.keys
            .iter()
            .all(|k| self.latches.get(k).and_then(|q| q.front()) == Some(&cid))
    }

    /// Finishes `cid`: releases its latches and runs the commands they unblock.
    fn release(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, mut lm: Lm, cid: u64) {
        let Some(rc) = self.cmds.remove(&cid) else {
            return;
        };
        let mut next = Vec::new();
        for k in rc.keys {
            if let Some(q) = self.latches.get_mut(&k) {
                q.retain(|&c| c != cid);
                match q.front() {
                    Some(&c) => next.push(c),
                    None => {
                        self.latches.remove(&k);
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        for c in next {
            if self.latches_acquired(c) {
                self.execute(ctx, rs, lm.as_deref_mut(), c);
            }
        }
    }

    fn finish(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        lm: Lm,
        cid: u64,
        result: Result<TxnOk, TxnError>,
    ) {
        if let Some(rc) = self.cmds.get(&cid) {
            let (client, req_id) = (rc.client, rc.req_id);
            self.reply_txn(ctx, client, req_id, result);
        }
        self.release(ctx, rs, lm, cid);
    }

    /// Runs an admitted command holding its latches, on a snapshot of the
    /// leader; waits first if the leader has not applied its term yet.
    fn execute(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, mut lm: Lm, cid: u64) {
        let rc = self.cmds[&cid].clone();
        let checked = match rc.cmd {
            TxnCommand::Get { key, .. } => vec![key],
            _ => rc.keys.clone(),
        };
        if let Err(e) = Self::check_region(rs, rc.region_id, &checked) {
            return self.finish(ctx, rs, lm, cid, Err(TxnError::Region(e)));
        }
        let peer = &rs.peers[&rc.region_id];
        if peer.raft.store().applied_term != peer.raft.raft.term {
            self.awaiting_apply
                .entry(rc.region_id)
                .or_default()
                .push(cid);
            return;
        }
        let snap = SnapshotRef {
            mvcc: &peer.raft.store().mvcc,
            pessimistic: &peer.pessimistic_locks,
        };
        match rc.cmd {
            TxnCommand::AcquirePessimisticLock {
                start_ts,
                for_update_ts,
                primary,
                key,
                is_first_lock,
                wait,
                allow_lock_with_conflict,
            } => {
                let out = actions::acquire_pessimistic_lock(
                    &snap,
                    start_ts,
                    for_update_ts,
                    primary,
                    key,
                    allow_lock_with_conflict,
                );
                match out {
                    LockOutcome::Acquired {
                        lock,
                        value,
                        conflict_commit_ts,
                    } => {
                        if let Some(p) = rs.peers.get_mut(&rc.region_id) {
                            p.pessimistic_locks.insert(key, lock);
                        }
                        self.finish(
                            ctx,
                            rs,
                            lm.as_deref_mut(),
                            cid,
                            Ok(TxnOk {
                                value,
                                locked_with_conflict_ts: conflict_commit_ts,
                                ..TxnOk::default()
                            }),
                        );
                        self.on_acquired_locks_finished(ctx, lm, key, start_ts);
                    }
                    LockOutcome::AlreadyHeld { value } => self.finish(
                        ctx,
                        rs,
                        lm,
                        cid,
                        Ok(TxnOk {
                            value,
                            ..TxnOk::default()
                        }),
                    ),
                    LockOutcome::Locked(l) if wait && lm.is_some() => {
                        self.next_token += 1;
                        let token = self.next_token;
                        self.lock_wait_queues.push_lock_wait(
                            LockWaitEntry {
                                token,
                                key,
                                region_id: rc.region_id,
                                start_ts,
                                for_update_ts,
                                primary,
                                is_first_lock,
                                allow_lock_with_conflict,
                                client: rc.client,
                                req_id: rc.req_id,
                                legacy_wake_up_index: 0,
                            },
                            l.ts,
                        );
                        if let Some(lm) = lm.as_deref_mut() {
                            lm.wait_for(
                                ctx,
                                token,
                                start_ts,
                                WaitInfo {
                                    key,
                                    lock_ts: l.ts,
                                    allow_lock_with_conflict,
                                },
                                is_first_lock,
                                rc.region_id,
                            );
                        }
                        // The command leaves the scheduler; the entry waits in the queue.
                        self.release(ctx, rs, lm.as_deref_mut(), cid);
                        if let Some(lm) = lm {
                            lm.arm(ctx);
                        }
                    }
                    LockOutcome::Locked(l) => self.finish(
                        ctx,
                        rs,
                        lm,
                        cid,
                        Err(TxnError::KeyIsLocked { key, lock_ts: l.ts }),
                    ),
                    LockOutcome::Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
                }
            }
            TxnCommand::Prewrite {
                start_ts,
                for_update_ts,
                primary,
                ref mutations,
                lock_ttl,
            } => {
                let props = actions::LockProps {
                    ttl: lock_ttl,
                    ..Default::default()
                };
                match actions::prewrite(&snap, start_ts, for_update_ts, primary, mutations, props) {
                    Ok(mods) => self.propose_or_finish(ctx, rs, lm, cid, mods),
                    Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
                }
            }
            TxnCommand::Flush {
                start_ts,
                primary,
                ref mutations,
                generation,
                lock_ttl,
            } => {
                // PR 16881: a Flush's locks carry min_commit_ts = start_ts + 1,
                // so a reader may push them.
                let props = actions::LockProps {
                    ttl: lock_ttl,
                    min_commit_ts: start_ts + 1,
                    generation: generation.max(1),
                };
                match actions::prewrite(&snap, start_ts, 0, primary, mutations, props) {
                    Ok(mods) => self.propose_or_finish(ctx, rs, lm, cid, mods),
                    Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
                }
            }
            TxnCommand::TxnHeartBeat {
                primary,
                start_ts,
                advise_ttl,
                min_commit_ts,
            } => match actions::txn_heart_beat(&snap, primary, start_ts, advise_ttl, min_commit_ts)
            {
                Ok((mods, status)) => self.propose_with_status(ctx, rs, lm, cid, mods, status),
                Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
            },
            TxnCommand::CheckTxnStatus {
                primary,
                lock_ts,
                caller_start_ts,
                current_ts,
                rollback_if_not_exist,
            } => match actions::check_txn_status(
                &snap,
                primary,
                lock_ts,
                caller_start_ts,
                current_ts,
                rollback_if_not_exist,
            ) {
                Ok((mods, status)) => {
                    self.set_wake_on_apply(cid, &mods);
                    self.propose_with_status(ctx, rs, lm, cid, mods, status)
                }
                Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
            },
            TxnCommand::ResolveLock {
                start_ts,
                commit_ts,
                ref keys,
            } => {
                let mods = actions::resolve_lock(&snap, start_ts, commit_ts, keys);
                self.set_wake_on_apply(cid, &mods);
                self.propose_or_finish(ctx, rs, lm, cid, mods);
            }
            TxnCommand::ScanLock { max_version, limit } => {
                let locks = actions::scan_lock(&snap, max_version, limit);
                self.finish(
                    ctx,
                    rs,
                    lm,
                    cid,
                    Ok(TxnOk {
                        locks,
                        ..TxnOk::default()
                    }),
                )
            }
            TxnCommand::Commit {
                start_ts,
                commit_ts,
                ref keys,
            } => match actions::commit(&snap, start_ts, commit_ts, keys) {
                Ok(mods) => {
                    self.set_wake_on_apply(cid, &mods);
                    self.propose_or_finish(ctx, rs, lm, cid, mods)
                }
                Err(e) => self.finish(ctx, rs, lm, cid, Err(e)),
            },
            TxnCommand::Rollback { start_ts, ref keys } => {
                let mods = actions::rollback(&snap, start_ts, keys);
                self.set_wake_on_apply(cid, &mods);
                let released = Self::drop_pessimistic_locks(rs, rc.region_id, start_ts, keys);
                for k in released {
                    self.wake_up(ctx, rs, lm.as_deref_mut(), k);
                }
                self.propose_or_finish(ctx, rs, lm, cid, mods);
            }
            TxnCommand::PessimisticRollback { start_ts, ref keys } => {
                let released = Self::drop_pessimistic_locks(rs, rc.region_id, start_ts, keys);
                self.finish(ctx, rs, lm.as_deref_mut(), cid, Ok(TxnOk::default()));
                for k in released {
                    self.wake_up(ctx, rs, lm.as_deref_mut(), k);
                }
            }
            // Stale reads are served by the store before the scheduler
            // (any peer, checked against its safe-ts); one that reaches
            // here reads on the leader like `Get`.
            TxnCommand::Get { ts, key } | TxnCommand::StaleGet { ts, key } => {
                let result = snap
                    .mvcc
                    .get(key, ts)
                    .map(|value| TxnOk {
                        value,
                        ..TxnOk::default()
                    })
                    .map_err(|lock_ts| TxnError::KeyIsLocked { key, lock_ts });
                self.finish(ctx, rs, lm, cid, result)
            }
        }
    }

    /// Raftstore applied entries: commands waiting for their region's leader
    /// to apply its term run now (or fail, if it is no longer the leader).
    pub fn on_applied(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, mut lm: Lm) {
        if self.awaiting_apply.is_empty() {
            return;
        }
        let ready: Vec<u64> = self
            .awaiting_apply
            .keys()
            .copied()
            .filter(|r| {
                rs.peers.get(r).is_none_or(|p| {
                    !p.is_leader() || p.raft.store().applied_term == p.raft.raft.term
                })
            })
            .collect();
        for region in ready {
            for cid in self.awaiting_apply.remove(&region).unwrap_or_default() {
                self.execute(ctx, rs, lm.as_deref_mut(), cid);
            }
        }
    }

    /// Keys whose lock the command's modifications delete: their waiters are
    /// woken once the write applies.
    fn set_wake_on_apply(&mut self, cid: u64, mods: &[Modify]) {
        let keys: Vec<Key> = mods
            .iter()
            .filter_map(|m| match m {
                Modify::DeleteLock(k) => Some(*k),
                _ => None,
            })
            .collect();
        if let Some(rc) = self.cmds.get_mut(&cid) {
            rc.wake_on_apply = keys;
        }
    }

    /// Removes the in-memory pessimistic locks of `start_ts` on `keys`; returns the keys released.
    fn drop_pessimistic_locks(
        rs: &mut Raftstore,
        region_id: u64,
        start_ts: u64,
        keys: &[Key],
    ) -> Vec<Key> {
        let mut released = Vec::new();
        if let Some(p) = rs.peers.get_mut(&region_id) {
            for k in keys {
                if p.pessimistic_locks.get(k).is_some_and(|l| l.ts == start_ts) {
                    p.pessimistic_locks.remove(k);
                    released.push(*k);
                }
            }
        }
        released
    }

    /// As [`Self::propose_or_finish`], answering with `status` once written.
    fn propose_with_status(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        lm: Lm,
        cid: u64,
        mods: Vec<Modify>,
        status: crate::proto::TxnStatus,
    ) {
        let response = TxnOk {
            txn_status: Some(status),
            ..TxnOk::default()
        };
        if mods.is_empty() {
            return self.finish(ctx, rs, lm, cid, Ok(response));
        }
        if let Some(rc) = self.cmds.get_mut(&cid) {
            rc.response = response;
        }
        self.propose_or_finish(ctx, rs, lm, cid, mods)
    }

    fn propose_or_finish(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        lm: Lm,
        cid: u64,
        mods: Vec<Modify>,
    ) {
        if mods.is_empty() {
            return self.finish(ctx, rs, lm, cid, Ok(TxnOk::default()));
        }
        let region_id = self.cmds[&cid].region_id;
        let peer = rs.peers.get_mut(&region_id).expect("checked");
        let before = peer.raft.raft.raft_log.last_index();
        match peer.raft.propose(vec![], encode_modifies(&mods)) {
            Ok(()) if peer.raft.raft.raft_log.last_index() > before => {
                let index = peer.raft.raft.raft_log.last_index();
                let term = peer.raft.raft.term;
                peer.proposals.push_back(Proposal {
                    index,
                    term,
                    owner: ProposalOwner::Txn { cid },
                });
                rs.dirty.insert(region_id);
            }
            _ => self.finish(
                ctx,
                rs,
                lm,
                cid,
                Err(TxnError::Region(RegionError::ProposalDropped)),
            ),
        }
    }

    /// The Raft write of command `cid` applied on this leader (or failed).
    pub fn on_txn_applied(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        mut lm: Lm,
        cid: u64,
        result: Result<(), RegionError>,
    ) {
        let Some(rc) = self.cmds.get(&cid).cloned() else {
            return;
        };
        match result {
            Ok(()) => {
                self.finish(ctx, rs, lm.as_deref_mut(), cid, Ok(rc.response));
                for k in rc.wake_on_apply {
                    self.wake_up(ctx, rs, lm.as_deref_mut(), k);
                }
            }
            Err(e) => self.finish(ctx, rs, lm, cid, Err(TxnError::Region(e))),
        }
    }

    /// A lock on `key` was released: wake the head of its queue
    /// (`pop_for_waking_up`). A fair head is resumed and acquires the lock; a
    /// legacy head gets `WriteConflict` and the rest follow after
    /// `wake-up-delay-duration`.
    fn wake_up(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, lm: Lm, key: Key) {
        let Some(delay) = lm.as_ref().map(|lm| lm.wake_up_delay_duration()) else {
            return;
        };
        let Some(w) = self.lock_wait_queues.pop_for_waking_up(key, ctx.now, delay) else {
            return;
        };
        if let Some((notify_id, at)) = w.schedule_notify {
            ctx.timer(
                Node::Store(self.store_id),
                at - ctx.now,
                Timer::DelayedNotifyAll { key, notify_id },
            );
        }
        self.wake_entry(ctx, rs, lm, w.entry);
    }

    /// Wakes one popped entry: resume it (fair) or fail it with `WriteConflict` (legacy).
    fn wake_entry(&mut self, ctx: &mut Ctx, rs: &mut Raftstore, mut lm: Lm, e: LockWaitEntry) {
        if let Some(lm) = lm.as_deref_mut() {
            lm.remove_lock_wait(e.token);
        }
        if e.allow_lock_with_conflict {
            ctx.count(crate::storage::metrics::LOCK_WAIT_RESUMED, 1);
            self.admit(
                ctx,
                rs,
                lm.as_deref_mut(),
                RunningCmd {
                    client: e.client,
                    req_id: e.req_id,
                    region_id: e.region_id,
                    keys: vec![e.key],
                    wake_on_apply: Vec::new(),
                    response: TxnOk::default(),
                    cmd: TxnCommand::AcquirePessimisticLock {
                        start_ts: e.start_ts,
                        for_update_ts: e.for_update_ts,
                        primary: e.primary,
                        key: e.key,
                        is_first_lock: e.is_first_lock,
                        wait: true,
                        allow_lock_with_conflict: true,
                    },
                },
            );
        } else {
            ctx.count(crate::storage::metrics::LOCK_WAIT_WOKEN_LEGACY, 1);
            let err = TxnError::WriteConflict {
                conflict_start_ts: 0,
                conflict_commit_ts: 0,
                key: e.key,
                reason: WriteConflictReason::PessimisticRetry,
            };
            self.reply_txn(ctx, e.client, e.req_id, Err(err));
        }
        if let Some(lm) = lm {
            lm.arm(ctx);
        }
    }

    /// `delayed_notify_all` fired for `key`.
    pub fn on_delayed_notify_all(
        &mut self,
        ctx: &mut Ctx,
        rs: &mut Raftstore,
        mut lm: Lm,
        key: Key,
        notify_id: u64,
    ) {
        match self
            .lock_wait_queues
            .delayed_notify_all(key, notify_id, ctx.now)
        {
            Err(deadline) => ctx.timer(
                Node::Store(self.store_id),
                deadline - ctx.now,
                Timer::DelayedNotifyAll { key, notify_id },
            ),
            Ok((popped, resumable)) => {
                for e in popped {
                    self.wake_entry(ctx, rs, lm.as_deref_mut(), e);
                }
                if let Some(e) = resumable {
                    self.wake_entry(ctx, rs, lm, e);
                }
            }
        }
    }

    /// `on_acquired_locks_finished`: `key` is now locked by `lock_ts`; every
    /// waiter still queued on it is re-pointed (`update_lock_wait`).
    fn on_acquired_locks_finished(&mut self, ctx: &mut Ctx, lm: Lm, key: Key, lock_ts: u64) {
        let events = self.lock_wait_queues.update_lock_wait(key, lock_ts);
        if events.is_empty() {
            return;
        }
        ctx.count(crate::storage::metrics::LOCK_HANDOFFS, 1);
        if let Some(lm) = lm {
            lm.update_wait_for(events);
            lm.arm(ctx);
        }
    }

    /// The lock manager cancelled a waiter (timeout or deadlock victim):
    /// its entry leaves the queue and its request gets `error`.
    pub fn cancel_waiter(
        &mut self,
        ctx: &mut Ctx,
        key: Key,
        start_ts: u64,
        token: u64,
        error: TxnError,
    ) {
        if let Some(entry) = self.lock_wait_queues.remove_by_token(key, start_ts, token) {
            self.reply_txn(ctx, entry.client, entry.req_id, Err(error));
        }
    }

    /// The storage subtree of the memory trace; `pessimistic_locks` is the
    /// number of in-memory pessimistic locks held by the store's peers.
    pub fn memory_trace(&self, pessimistic_locks: u64) -> crate::memory::MemoryTrace {
        use crate::memory::*;
        let latch_slots: u64 = self.latches.values().map(|q| q.len() as u64).sum();
        MemoryTrace::node(
            "storage",
            vec![
                MemoryTrace::leaf(
                    "pessimistic_locks",
                    pessimistic_locks * PESSIMISTIC_LOCK_BYTES,
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
