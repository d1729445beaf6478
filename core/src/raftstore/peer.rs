//! One peer of a region on a store: a raft-rs `RawNode` over a [`PeerStorage`],
//! the proposals waiting to be applied, and the transfer-leader attempts.

use std::collections::{BTreeMap, VecDeque};

use raft::eraftpb::Entry;
use raft::{Config, RawNode, StateRole};
use serde::Serialize;

use super::storage::PeerStorage;
use super::RaftstoreConfig;
use crate::kernel::rng::SimRng;
use crate::mvcc::Lock;
use crate::proto::{Key, PeerMeta, RegionMeta};

/// Who waits for a proposal's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalOwner {
    /// A client's raw `Put` (answered with `WriteResponse`).
    Client {
        /// Client thread.
        client: u32,
        /// Client request id.
        req_id: u64,
    },
    /// A command of the store's txn scheduler.
    Txn {
        /// Command id.
        cid: u64,
    },
}

/// A write proposed by this peer as leader, waiting to be applied.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// Log index the entry got.
    pub index: u64,
    /// Term it was proposed in.
    pub term: u64,
    /// Who is answered when it applies (or fails).
    pub owner: ProposalOwner,
}

/// Maximum transfer attempts remembered per peer.
const MAX_ATTEMPTS: usize = 50;

/// A peer. See the module docs.
pub struct Peer {
    /// This peer.
    pub meta: PeerMeta,
    /// The raft-rs node.
    pub raft: RawNode<PeerStorage>,
    /// Proposals waiting for apply, by index.
    pub proposals: VecDeque<Proposal>,
    /// Role at the last ready.
    pub last_role: StateRole,
    /// Transfer-leader attempts made while leading.
    pub transfer_attempts: VecDeque<TransferAttempt>,
    /// Bytes and keys written since the last region heartbeat.
    pub written_bytes: u64,
    /// Keys written since the last region heartbeat.
    pub written_keys: u64,
    /// Raft log writes submitted to disk and not yet durable.
    pub inflight_log_writes: u32,
    /// In-memory pessimistic locks of the region while this peer leads
    /// (TiKV's `PeerPessimisticLocks` in the peer's `TxnExt`), by key.
    pub pessimistic_locks: BTreeMap<Key, Lock>,
    /// Bytes written to the region since its last split check (TiKV's
    /// `split_check_trigger` size diff hint).
    pub size_diff_hint: u64,
    /// TiKV's `may_skip_split_check`: false until the first check was
    /// scheduled (a new or restarted peer checks on its first tick).
    pub may_skip_split_check: bool,
    /// Split checks skipped while a snapshot is generated (TiKV skips at
    /// most 3 in a row, `region_split_skip_max_count`).
    pub skip_split_count: u32,
    /// The region's size the last split check measured, bytes (TiKV's
    /// `approximate_size`).
    pub approximate_size: Option<u64>,
    /// A `BatchSplit` this peer proposed is not applied yet (TiKV's
    /// `is_splitting`): no new split check meanwhile.
    pub splitting: bool,
    /// TiKV's `last_urgent_proposal_idx`: the log index of the last urgent
    /// admin command (`BatchSplit`) this peer proposed, `u64::MAX` for none.
    /// Until it applies, raft-rs broadcasts every commit
    /// (`skip_bcast_commit(false)`), so followers apply the split without
    /// waiting for the next append or heartbeat.
    pub last_urgent_proposal_idx: u64,
    /// When this merging source peer next sends its `CommitMerge`, virtual
    /// µs (`merge-check-tick-interval` after the last time).
    pub next_merge_check: crate::kernel::time::Micros,
    /// TiKV's `want_rollback_merge_peers`: the voters of this merging source
    /// (peer ids, this leader among them) whose merge check failed. The
    /// leader proposes `RollbackMerge` only once they are a quorum, so a
    /// minority that cannot see the target does not undo a merge the others
    /// may still commit (TiKV ≥ 5.0, `on_check_merge`). Cleared when the
    /// rollback applies.
    pub want_rollback_merge_peers: std::collections::BTreeSet<u64>,
}

/// Probability (per million) that raftstore withholds one base tick from a
/// non-leader peer; see [`raft_config`].
pub const TICK_SKIP_PPM: u64 = 333_333;

/// Builds the raft-rs config for a peer: TiKV's tick settings, pre-vote and
/// check-quorum on, `skip_bcast_commit` as TiKV sets it.
///
/// raft-rs draws each randomized election timeout from its own `thread_rng` in
/// `[election_tick, 2·election_tick)`. To stay deterministic, kvscope pins
/// raft-rs's draw (`min_election_tick = election_tick`, `max = election_tick + 1`)
/// and randomizes from the simulation's RNG instead: each base tick of a
/// non-leader peer is withheld with probability 1/3 ([`TICK_SKIP_PPM`]), so the
/// time to an election is `election_tick` counted ticks, 1.5 × election timeout
/// on average, different per peer and per round. (raft-rs still calls
/// `thread_rng` internally, but over a one-value range, so nothing it draws can
/// reach the simulation: this is deliberate and keeps replays exact.)
pub fn raft_config(cfg: &RaftstoreConfig, id: u64, applied: u64) -> Config {
    let t = cfg.raft_election_timeout_ticks;
    Config {
        id,
        election_tick: t,
        heartbeat_tick: cfg.raft_heartbeat_ticks,
        applied,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        // As TiKV's raftstore: followers learn a new commit index from the next
        // append or heartbeat instead of a broadcast per commit.
        skip_bcast_commit: true,
        min_election_tick: t,
        max_election_tick: t + 1,
        ..Default::default()
    }
}

impl Peer {
    /// Creates a peer over `storage` (initialized or not).
    pub fn new(
        meta: PeerMeta,
        storage: PeerStorage,
        cfg: &RaftstoreConfig,
        logger: &slog::Logger,
    ) -> Peer {
        let applied = storage.applied_index;
        let region_id = storage.region.id;
        let config = raft_config(cfg, meta.id, applied);
        let logger = logger.new(slog::o!("region_id" => region_id, "raft_id" => meta.id));
        let raft =
            RawNode::new(&config, storage, &logger).expect("a valid raft config and storage");
        Peer {
            meta,
            raft,
            proposals: VecDeque::new(),
            last_role: StateRole::Follower,
            transfer_attempts: VecDeque::new(),
            written_bytes: 0,
            written_keys: 0,
            inflight_log_writes: 0,
            pessimistic_locks: BTreeMap::new(),
            size_diff_hint: 0,
            may_skip_split_check: false,
            skip_split_count: 0,
            approximate_size: None,
            splitting: false,
            last_urgent_proposal_idx: u64::MAX,
            next_merge_check: 0,
            want_rollback_merge_peers: Default::default(),
        }
    }

    /// Proposes an urgent admin command (TiKV `is_urgent_request`:
    /// `BatchSplit`, `PrepareMerge`, `CommitMerge`): until it applies,
    /// raft-rs broadcasts every commit. Returns whether raft-rs appended it.
    pub fn propose_urgent(&mut self, data: Vec<u8>) -> bool {
        let before = self.raft.raft.raft_log.last_index();
        let appended = self.raft.propose(vec![], data).is_ok()
            && self.raft.raft.raft_log.last_index() > before;
        if appended {
            self.last_urgent_proposal_idx = self.raft.raft.raft_log.last_index();
            self.raft.skip_bcast_commit(false);
        }
        appended
    }

    /// TiKV `post_apply`: once the last urgent proposal applied, raft-rs
    /// goes back to skipping commit broadcasts.
    pub fn clear_urgent_if_applied(&mut self) {
        if self.last_urgent_proposal_idx != u64::MAX
            && self.raft.store().applied_index >= self.last_urgent_proposal_idx
        {
            self.last_urgent_proposal_idx = u64::MAX;
            self.raft.skip_bcast_commit(true);
        }
    }

    /// Region id.
    pub fn region_id(&self) -> u64 {
        self.raft.store().region.id
    }

    /// The region as applied.
    pub fn region(&self) -> &RegionMeta {
        &self.raft.store().region
    }

    /// True if raft-rs says this peer leads.
    pub fn is_leader(&self) -> bool {
        self.raft.raft.state == StateRole::Leader
    }

    /// Store of the leader this peer knows of.
    pub fn leader_store(&self) -> Option<u64> {
        let lid = self.raft.raft.leader_id;
        if lid == 0 {
            return None;
        }
        self.region().peer_by_id(lid).map(|p| p.store_id)
    }

    /// One raftstore base tick for this peer; non-leaders may have it withheld
    /// (see [`raft_config`]).
    pub fn tick(&mut self, rng: &mut SimRng) {
        if !self.is_leader() && rng.chance_ppm(TICK_SKIP_PPM) {
            return;
        }
        self.raft.tick();
    }

    /// Records a transfer attempt.
    pub fn push_attempt(
        &mut self,
        t_ms: u64,
        from_store: u64,
        to_store: u64,
        outcome: TransferOutcome,
    ) {
        if self.transfer_attempts.len() == MAX_ATTEMPTS {
            self.transfer_attempts.pop_front();
        }
        self.transfer_attempts.push_back(TransferAttempt {
            t_ms,
            from_store,
            to_store,
            outcome,
        });
    }

    /// Updates the newest attempt still `InFlight` or `Transferring` toward `to_store`.
    pub fn settle_attempt(&mut self, to_store: u64, outcome: TransferOutcome) {
        if let Some(a) = self.transfer_attempts.iter_mut().rev().find(|a| {
            a.to_store == to_store
                && matches!(
                    a.outcome,
                    TransferOutcome::InFlight | TransferOutcome::Transferring
                )
        }) {
            a.outcome = outcome;
        }
    }

    /// The entry at `index`, durable or not, if still in the log.
    pub fn entry_at(&self, index: u64) -> Option<Entry> {
        self.raft.store().entry(index).cloned().or_else(|| {
            self.raft
                .raft
                .raft_log
                .unstable
                .entries
                .iter()
                .find(|e| e.get_index() == index)
                .cloned()
        })
    }

    /// The last `n` entries of this peer's log, oldest first.
    pub fn log_tail(&self, n: u64) -> Vec<Entry> {
        let last = self.raft.raft.raft_log.last_index();
        let first = self.raft.store().first_index_value();
        let lo = last.saturating_sub(n - 1).max(first);
        (lo..=last).filter_map(|i| self.entry_at(i)).collect()
    }

    /// Time-independent helper: peers that lag behind (for `pending_peers`).
    pub fn pending_peers(&self) -> Vec<u64> {
        let truncated = self.raft.store().first_index_value().saturating_sub(1);
        self.raft
            .raft
            .prs()
            .iter()
            .filter(|(_, pr)| {
                pr.matched < truncated
                    || pr.state == raft::ProgressState::Snapshot
                    || pr.matched == 0
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Outcome of one transfer-leader attempt made by a leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TransferOutcome {
    /// Still waiting for the transferee's ack or for raft-rs to finish the transfer.
    InFlight,
    /// Rejected by the leader (the reason string is TiKV's, for example
    /// `"pending conf change"`).
    Rejected(String),
    /// raft-rs `transfer_leader` was called; the transferee was asked to campaign.
    Transferring,
    /// The transferee became leader.
    Succeeded,
}

/// One transfer-leader attempt on a region.
#[derive(Clone, Debug, Serialize)]
pub struct TransferAttempt {
    /// Virtual ms at which the leader received the request.
    pub t_ms: u64,
    /// Store of the leader that tried.
    pub from_store: u64,
    /// Store of the transferee.
    pub to_store: u64,
    /// What happened.
    pub outcome: TransferOutcome,
}
