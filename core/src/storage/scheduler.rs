//! The txn scheduler of a store (`src/storage/txn/scheduler.rs`), as methods
//! of [`Store`]: admit a command, take its key latches, run its action against
//! the region leader's applied MVCC data and in-memory pessimistic locks,
//! write through Raft, answer the client, release the latches, and wake up
//! the lock waiters of released keys. Also the glue between the store and its
//! [`LockManager`](crate::lock_manager::LockManager): effects become sends,
//! timers and client answers.

use super::actions::{self, LockOutcome, SnapshotRef};
use super::lock_wait_queues::LockWaitEntry;
use super::mvcc::{encode_modifies, Modify};
use super::RunningCmd;
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::lock_manager::DetectorRole;
use crate::lock_manager::{LockManagerEffect, WaitInfo, Waiter, TICK};
use crate::proto::{Ctx, Timer};
use crate::proto::{Key, Msg, RegionError, TxnCommand, TxnError, TxnOk, WriteConflictReason};
use crate::raftstore::peer::{Proposal, ProposalOwner};
use crate::raftstore::Store;

impl Store {
    fn reply_txn(&self, ctx: &mut Ctx, client: u32, req_id: u64, result: Result<TxnOk, TxnError>) {
        ctx.send(
            Node::Store(self.id),
            Node::Client(client),
            Msg::TxnResponse { req_id, result },
        );
    }

    /// The region check every command starts with: the peer exists, leads,
    /// and covers the command's keys.
    fn check_region(&self, region_id: u64, keys: &[Key]) -> Result<(), RegionError> {
        let Some(peer) = self.peers.get(&region_id) else {
            return Err(RegionError::RegionNotFound);
        };
        if !peer.is_leader() {
            return Err(RegionError::NotLeader {
                leader_store: peer.leader_store(),
            });
        }
        if keys.iter().any(|&k| !peer.region().contains(k)) {
            return Err(RegionError::RegionNotFound);
        }
        Ok(())
    }

    /// A `TxnRequest` arrived.
    pub(crate) fn on_txn_request(
        &mut self,
        ctx: &mut Ctx,
        client: u32,
        req_id: u64,
        region_id: u64,
        cmd: TxnCommand,
    ) {
        let keys = cmd.keys();
        if let TxnCommand::Get { ts, key } = cmd {
            let result = self
                .check_region(region_id, &[key])
                .map_err(TxnError::Region)
                .and_then(|()| {
                    let peer = &self.peers[&region_id];
                    peer.raft
                        .store()
                        .mvcc
                        .get(key, ts)
                        .map(|value| TxnOk {
                            value,
                            locked_with_conflict_ts: None,
                        })
                        .map_err(|lock_ts| TxnError::KeyIsLocked { key, lock_ts })
                });
            return self.reply_txn(ctx, client, req_id, result);
        }
        if let Err(e) = self.check_region(region_id, &keys) {
            return self.reply_txn(ctx, client, req_id, Err(TxnError::Region(e)));
        }
        self.admit(
            ctx,
            RunningCmd {
                client,
                req_id,
                region_id,
                cmd,
                keys,
                wake_on_apply: Vec::new(),
            },
        );
    }

    /// Takes the command's latches and runs it if they are all free.
    fn admit(&mut self, ctx: &mut Ctx, rc: RunningCmd) {
        let st = &mut self.storage;
        st.next_cid += 1;
        let cid = st.next_cid;
        for &k in &rc.keys {
            st.latches.entry(k).or_default().push_back(cid);
        }
        st.cmds.insert(cid, rc);
        if self.latches_acquired(cid) {
            self.execute(ctx, cid);
        }
    }

    fn latches_acquired(&self, cid: u64) -> bool {
        let Some(rc) = self.storage.cmds.get(&cid) else {
            return false;
        };
        rc.keys
            .iter()
            .all(|k| self.storage.latches.get(k).and_then(|q| q.front()) == Some(&cid))
    }

    /// Finishes `cid`: releases its latches and runs the commands they unblock.
    fn release(&mut self, ctx: &mut Ctx, cid: u64) {
        let Some(rc) = self.storage.cmds.remove(&cid) else {
            return;
        };
        let mut next = Vec::new();
        for k in rc.keys {
            if let Some(q) = self.storage.latches.get_mut(&k) {
                q.retain(|&c| c != cid);
                match q.front() {
                    Some(&c) => next.push(c),
                    None => {
                        self.storage.latches.remove(&k);
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        for c in next {
            if self.latches_acquired(c) {
                self.execute(ctx, c);
            }
        }
    }

    fn finish(&mut self, ctx: &mut Ctx, cid: u64, result: Result<TxnOk, TxnError>) {
        if let Some(rc) = self.storage.cmds.get(&cid) {
            let (client, req_id) = (rc.client, rc.req_id);
            self.reply_txn(ctx, client, req_id, result);
        }
        self.release(ctx, cid);
    }

    /// Runs an admitted command holding its latches.
    fn execute(&mut self, ctx: &mut Ctx, cid: u64) {
        let rc = self.storage.cmds[&cid].clone();
        if let Err(e) = self.check_region(rc.region_id, &rc.keys) {
            return self.finish(ctx, cid, Err(TxnError::Region(e)));
        }
        let empty = Default::default();
        let peer = &self.peers[&rc.region_id];
        let mvcc = &peer.raft.store().mvcc;
        let snap = SnapshotRef {
            mvcc,
            pessimistic: self
                .storage
                .pessimistic_locks
                .get(&rc.region_id)
                .unwrap_or(&empty),
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
                        self.storage
                            .pessimistic_locks
                            .entry(rc.region_id)
                            .or_default()
                            .insert(key, lock);
                        self.finish(
                            ctx,
                            cid,
                            Ok(TxnOk {
                                value,
                                locked_with_conflict_ts: conflict_commit_ts,
                            }),
                        );
                        self.on_acquired_locks_finished(ctx, key, start_ts);
                    }
                    LockOutcome::AlreadyHeld { value } => self.finish(
                        ctx,
                        cid,
                        Ok(TxnOk {
                            value,
                            locked_with_conflict_ts: None,
                        }),
                    ),
                    LockOutcome::Locked(l) if wait && self.storage.lock_manager.is_some() => {
                        let st = &mut self.storage;
                        st.next_token += 1;
                        let token = st.next_token;
                        st.lock_wait_queues.push_lock_wait(
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
                        let waiter = Waiter::new(
                            token,
                            start_ts,
                            WaitInfo {
                                key,
                                lock_ts: l.ts,
                                allow_lock_with_conflict,
                            },
                            is_first_lock,
                            rc.region_id,
                            ctx.now,
                        );
                        let mut out = Vec::new();
                        if let Some(lm) = self.storage.lock_manager.as_mut() {
                            lm.wait_for(waiter, &mut out);
                        }
                        // The command leaves the scheduler; the entry waits in the queue.
                        self.release(ctx, cid);
                        self.apply_lm_effects(ctx, out);
                    }
                    LockOutcome::Locked(l) => {
                        self.finish(ctx, cid, Err(TxnError::KeyIsLocked { key, lock_ts: l.ts }))
                    }
                    LockOutcome::Err(e) => self.finish(ctx, cid, Err(e)),
                }
            }
            TxnCommand::Prewrite {
                start_ts,
                for_update_ts,
                primary,
                ref mutations,
            } => match actions::prewrite(&snap, start_ts, for_update_ts, primary, mutations) {
                Ok(mods) => self.propose_or_finish(ctx, cid, mods),
                Err(e) => self.finish(ctx, cid, Err(e)),
            },
            TxnCommand::Commit {
                start_ts,
                commit_ts,
                ref keys,
            } => match actions::commit(&snap, start_ts, commit_ts, keys) {
                Ok(mods) => {
                    self.set_wake_on_apply(cid, &mods);
                    self.propose_or_finish(ctx, cid, mods)
                }
                Err(e) => self.finish(ctx, cid, Err(e)),
            },
            TxnCommand::Rollback { start_ts, ref keys } => {
                let mods = actions::rollback(&snap, start_ts, keys);
                self.set_wake_on_apply(cid, &mods);
                let released = self.drop_pessimistic_locks(rc.region_id, start_ts, keys);
                for k in released {
                    self.wake_up(ctx, k);
                }
                self.propose_or_finish(ctx, cid, mods);
            }
            TxnCommand::PessimisticRollback { start_ts, ref keys } => {
                let released = self.drop_pessimistic_locks(rc.region_id, start_ts, keys);
                self.finish(ctx, cid, Ok(TxnOk::default()));
                for k in released {
                    self.wake_up(ctx, k);
                }
            }
            TxnCommand::Get { .. } => self.finish(ctx, cid, Ok(TxnOk::default())),
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
        if let Some(rc) = self.storage.cmds.get_mut(&cid) {
            rc.wake_on_apply = keys;
        }
    }

    /// Removes the in-memory pessimistic locks of `start_ts` on `keys`; returns the keys released.
    fn drop_pessimistic_locks(&mut self, region_id: u64, start_ts: u64, keys: &[Key]) -> Vec<Key> {
        let mut released = Vec::new();
        if let Some(m) = self.storage.pessimistic_locks.get_mut(&region_id) {
            for k in keys {
                if m.get(k).is_some_and(|l| l.ts == start_ts) {
                    m.remove(k);
                    released.push(*k);
                }
            }
        }
        released
    }

    fn propose_or_finish(&mut self, ctx: &mut Ctx, cid: u64, mods: Vec<Modify>) {
        if mods.is_empty() {
            return self.finish(ctx, cid, Ok(TxnOk::default()));
        }
        let region_id = self.storage.cmds[&cid].region_id;
        let peer = self.peers.get_mut(&region_id).expect("checked");
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
                self.dirty.insert(region_id);
            }
            _ => self.finish(
                ctx,
                cid,
                Err(TxnError::Region(RegionError::ProposalDropped)),
            ),
        }
    }

    /// The Raft write of command `cid` applied on this leader (or failed).
    pub(crate) fn on_txn_applied(
        &mut self,
        ctx: &mut Ctx,
        cid: u64,
        result: Result<(), RegionError>,
    ) {
        let Some(rc) = self.storage.cmds.get(&cid).cloned() else {
            return;
        };
        match result {
            Ok(()) => {
                self.finish(ctx, cid, Ok(TxnOk::default()));
                for k in rc.wake_on_apply {
                    self.wake_up(ctx, k);
                }
            }
            Err(e) => self.finish(ctx, cid, Err(TxnError::Region(e))),
        }
    }

    /// A lock on `key` was released: wake the head of its queue
    /// (`pop_for_waking_up`). A fair head is resumed and acquires the lock; a
    /// legacy head gets `WriteConflict` and the rest follow after
    /// `wake-up-delay-duration`.
    pub(crate) fn wake_up(&mut self, ctx: &mut Ctx, key: Key) {
        let Some(lm) = self.storage.lock_manager.as_ref() else {
            return;
        };
        let delay = lm.cfg.wake_up_delay_duration;
        let Some(w) = self
            .storage
            .lock_wait_queues
            .pop_for_waking_up(key, ctx.now, delay)
        else {
            return;
        };
        if let Some((notify_id, at)) = w.schedule_notify {
            ctx.timer(
                Node::Store(self.id),
                at - ctx.now,
                Timer::DelayedNotifyAll { key, notify_id },
            );
        }
        self.wake_entry(ctx, w.entry);
    }

    /// Wakes one popped entry: resume it (fair) or fail it with `WriteConflict` (legacy).
    fn wake_entry(&mut self, ctx: &mut Ctx, e: LockWaitEntry) {
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            lm.remove_lock_wait(e.token);
        }
        if e.allow_lock_with_conflict {
            ctx.count("lock_wait_resumed", 1);
            self.admit(
                ctx,
                RunningCmd {
                    client: e.client,
                    req_id: e.req_id,
                    region_id: e.region_id,
                    keys: vec![e.key],
                    wake_on_apply: Vec::new(),
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
            ctx.count("lock_wait_woken_legacy", 1);
            let err = TxnError::WriteConflict {
                conflict_start_ts: 0,
                conflict_commit_ts: 0,
                key: e.key,
                reason: WriteConflictReason::PessimisticRetry,
            };
            self.reply_txn(ctx, e.client, e.req_id, Err(err));
        }
        self.arm_lock_manager(ctx);
    }

    /// `delayed_notify_all` fired for `key`.
    pub(crate) fn on_delayed_notify_all(&mut self, ctx: &mut Ctx, key: Key, notify_id: u64) {
        match self
            .storage
            .lock_wait_queues
            .delayed_notify_all(key, notify_id, ctx.now)
        {
            Err(deadline) => ctx.timer(
                Node::Store(self.id),
                deadline - ctx.now,
                Timer::DelayedNotifyAll { key, notify_id },
            ),
            Ok((popped, resumable)) => {
                for e in popped {
                    self.wake_entry(ctx, e);
                }
                if let Some(e) = resumable {
                    self.wake_entry(ctx, e);
                }
            }
        }
    }

    /// `on_acquired_locks_finished`: `key` is now locked by `lock_ts`; every
    /// waiter still queued on it is re-pointed (`update_lock_wait`).
    fn on_acquired_locks_finished(&mut self, ctx: &mut Ctx, key: Key, lock_ts: u64) {
        let events = self.storage.lock_wait_queues.update_lock_wait(key, lock_ts);
        if events.is_empty() {
            return;
        }
        ctx.count("lock_handoffs", 1);
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            lm.update_wait_for(events);
        }
        self.arm_lock_manager(ctx);
    }

    /// Arms the lock manager's tick if it has work and no tick is pending.
    pub(crate) fn arm_lock_manager(&mut self, ctx: &mut Ctx) {
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            if lm.has_work() && !lm.tick_armed {
                lm.tick_armed = true;
                ctx.timer(Node::Store(self.id), TICK, Timer::LockManagerTick);
            }
        }
    }

    /// The lock manager's tick.
    pub fn on_lock_manager_tick(&mut self, ctx: &mut Ctx) {
        let mut out = Vec::new();
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            lm.tick_armed = false;
            lm.tick(ctx.now, &mut out);
        }
        self.apply_lm_effects(ctx, out);
    }

    /// A waiter's timeout timer fired.
    pub fn on_waiter_timeout(&mut self, ctx: &mut Ctx, token: u64) {
        let mut out = Vec::new();
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            lm.on_waiter_timeout(ctx.now, token, &mut out);
        }
        self.apply_lm_effects(ctx, out);
    }

    /// Turns lock manager effects into sends, timers and answers.
    pub(crate) fn apply_lm_effects(
        &mut self,
        ctx: &mut Ctx,
        out: Vec<crate::lock_manager::LockManagerEffect>,
    ) {
        for e in out {
            match e {
                LockManagerEffect::CancelWaiter { waiter, error } => {
                    let removed = self.storage.lock_wait_queues.remove_by_token(
                        waiter.wait_info.key,
                        waiter.start_ts,
                        waiter.token,
                    );
                    if let Some(entry) = removed {
                        self.reply_txn(ctx, entry.client, entry.req_id, Err(error));
                    }
                }
                LockManagerEffect::SendStream { to_store, batch } => {
                    ctx.count("detector_stream_sent", batch.len() as u64);
                    ctx.send(
                        Node::Store(self.id),
                        Node::Store(to_store),
                        Msg::DeadlockRequests {
                            from_store: self.id,
                            reqs: batch,
                        },
                    );
                }
                LockManagerEffect::SendDeadlockResponse {
                    to_store,
                    entry,
                    wait_chain,
                } => ctx.send(
                    Node::Store(self.id),
                    Node::Store(to_store),
                    Msg::DeadlockResponse { entry, wait_chain },
                ),
                LockManagerEffect::ResolveLeader => ctx.send(
                    Node::Store(self.id),
                    Node::Pd,
                    Msg::GetRegionByKey { key: 0 },
                ),
                LockManagerEffect::WaiterTimeout { token, at } => ctx.timer(
                    Node::Store(self.id),
                    at.saturating_sub(ctx.now),
                    Timer::WaiterTimeout { token },
                ),
                LockManagerEffect::DeadlockFound { victim, wait_chain } => {
                    let d = &mut self.storage.recent_deadlocks;
                    d.push_back((ctx.now, victim, wait_chain));
                    while d.len() > 32 {
                        d.pop_front();
                    }
                }
                LockManagerEffect::Log(level, msg) => {
                    ctx.log("lock_manager", level, Some(self.id), None, msg)
                }
                LockManagerEffect::Count(name, n) => ctx.count(name, n),
            }
        }
        self.arm_lock_manager(ctx);
    }

    /// Lock manager messages between stores and from PD.
    pub(crate) fn on_lock_manager_msg(&mut self, ctx: &mut Ctx, msg: Msg) {
        let mut out = Vec::new();
        let Some(lm) = self.storage.lock_manager.as_mut() else {
            return;
        };
        match msg {
            Msg::DeadlockRequests { from_store, reqs }
                if !lm.on_remote_requests(from_store, &reqs, &mut out) =>
            {
                ctx.send(
                    Node::Store(self.id),
                    Node::Store(from_store),
                    Msg::DeadlockStreamError {
                        reason: "I'm not the leader of deadlock detector",
                    },
                );
            }
            Msg::DeadlockResponse { entry, wait_chain } => lm.on_deadlock(entry, wait_chain),
            Msg::DeadlockStreamError { .. } => lm.drop_client(&mut out),
            Msg::RegionByKey { leader_store } => lm.on_leader_resolved(leader_store, &mut out),
            _ => {}
        }
        self.apply_lm_effects(ctx, out);
    }

    /// `RoleChangeNotifier`: this store leads the detector iff it holds the
    /// leader of the region containing `LEADER_KEY` (`b""`, key 0 here).
    pub(crate) fn refresh_detector_role(&mut self, ctx: &mut Ctx) {
        if self.storage.lock_manager.is_none() {
            return;
        }
        let leads_first = self
            .peers
            .values()
            .any(|p| p.region().start_key == 0 && p.is_leader());
        let role = if leads_first {
            DetectorRole::Leader
        } else {
            DetectorRole::Follower
        };
        let mut out = Vec::new();
        if let Some(lm) = self.storage.lock_manager.as_mut() {
            lm.change_role(role, &mut out);
        }
        if !out.is_empty() {
            self.apply_lm_effects(ctx, out);
        }
    }

    /// A pessimistic lock request from a resumed or retried waiter is a
    /// `DeadlockRequest` origin; exposed for views.
    pub fn detector_role(&self) -> Option<DetectorRole> {
        self.storage.lock_manager.as_ref().map(|lm| lm.role)
    }

    /// Leadership of `region_id` was lost: its in-memory pessimistic locks are
    /// gone (TiKV clears `PeerPessimisticLocks` when the peer steps down).
    pub(crate) fn on_leadership_lost(&mut self, ctx: &mut Ctx, region_id: u64) {
        if let Some(m) = self.storage.pessimistic_locks.remove(&region_id) {
            if !m.is_empty() {
                ctx.log(
                    "storage",
                    Level::Info,
                    Some(self.id),
                    Some(region_id),
                    format!(
                        "in-memory pessimistic locks dropped on leader change, count: {}",
                        m.len()
                    ),
                );
            }
        }
    }
}
