//! "Why is this stuck?": for a client request or a region, the chain of
//! what it waits on, computed from the simulation's state (never by the
//! page), each link naming a store or a region to select, the last link the
//! root in TiKV's terms. For the io-hang incident:
//!
//! ```text
//! write of key 3286 (client 27): waiting 20 s, try 8, on the wire
//! → region 4: leader peer 110 on store 3
//! → entries 13534..=13733 are committed but not in the leader's durable raft log (up to 13533)
//! → disk of store 3 hung since 40 s (until 340 s): no write completes
//! ```
//!
//! The rules follow raftstore's write path: a proposal is answered once
//! applied on the leader; applying waits for the apply write on the leader's
//! disk; committing waits for a quorum of persisted logs (the leader's own
//! raft log write and the followers' acks), and raft-rs hands out for apply
//! only entries the leader itself persisted (`RaftLog::next_entries_since`:
//! `min(committed, persisted)`); a request to a store whose
//! process is down or that is partitioned gets no answer at all.

use serde::Serialize;

use crate::kernel::time::{to_ms, Micros};
use crate::sim::Simulation;

/// What to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Subject {
    /// A raw client thread's current operation.
    Request {
        /// Client thread id.
        client: u32,
    },
    /// A region: why its writes do not complete.
    Region {
        /// Region id.
        id: u64,
    },
}

/// One link of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhyLink {
    /// What kind of thing waits here: `request`, `region`, `leader`,
    /// `apply`, `raft-log`, `quorum`, `disk`, `process`, `network`,
    /// `election`, `merge`, `idle`.
    pub kind: &'static str,
    /// The link in TiKV's terms.
    pub text: String,
    /// The store it is about, to select.
    pub store: Option<u64>,
    /// The region it is about, to select.
    pub region: Option<u64>,
    /// Since when it holds, virtual ms, when known.
    pub since_ms: Option<u64>,
}

/// A chain, subject first, root last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhyChain {
    /// What was asked about.
    pub subject: Subject,
    /// The links; the last one is the root.
    pub links: Vec<WhyLink>,
}

impl WhyChain {
    /// The root: the last link.
    pub fn root(&self) -> Option<&WhyLink> {
        self.links.last()
    }
}

/// A request waiting at least this long counts as stuck, virtual µs
/// (client-go's first `BoTiKVRPC` backoff after a 2 s timeout would pass
/// it; a healthy write takes milliseconds).
pub const STUCK_AFTER: Micros = 1_000_000;

fn link(kind: &'static str, store: Option<u64>, region: Option<u64>, text: String) -> WhyLink {
    WhyLink {
        kind,
        text,
        store,
        region,
        since_ms: None,
    }
}

impl WhyLink {
    fn since(self, since_ms: Option<u64>) -> WhyLink {
        WhyLink { since_ms, ..self }
    }
}

/// Virtual seconds with one decimal, `20 s` rather than `20.0 s`.
fn secs(us: Micros) -> String {
    let tenths = (to_ms(us) + 50) / 100;
    if tenths % 10 == 0 {
        format!("{} s", tenths / 10)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

/// The fault of `kind` active on `store` now, as `(start, end)`, virtual µs.
fn active_fault(sim: &Simulation, store: u64, kind: &str) -> Option<(Micros, Micros)> {
    let now = sim.now();
    sim.faults().iter().find_map(|f| {
        let (s, start, duration) = f.window();
        (s == store && f.kind() == kind && start <= now && now < start + duration)
            .then_some((start, start + duration))
    })
}

/// Why store `store` does not answer at all, if it does not: its process is
/// down, or it is cut off from the network.
fn unreachable(sim: &Simulation, store: u64) -> Option<WhyLink> {
    let w = sim.world();
    let st = w.stores.get(&store)?;
    if !st.up {
        let crash = active_fault(sim, store, "crash");
        let oom = w.oom.kills.iter().rev().find(|k| k.store == store);
        let why = match (crash, oom) {
            (Some(_), _) => "crashed".to_string(),
            (None, Some(_)) => "killed by the OOM killer".to_string(),
            (None, None) => "down".to_string(),
        };
        return Some(
            link(
                "process",
                Some(store),
                None,
                format!("the tikv-server process of store {store} is {why}"),
            )
            .since(crash.map(|c| to_ms(c.0))),
        );
    }
    // Every partition is a fault (a scenario's own, or an input), so its
    // window is known.
    active_fault(sim, store, "partition").map(|(start, end)| {
        link(
            "network",
            Some(store),
            None,
            format!(
                "store {store} is partitioned from the network since {} (until {})",
                secs(start),
                secs(end)
            ),
        )
        .since(Some(to_ms(start)))
    })
}

/// The state of store `store`'s disk as the root of a wait on it.
fn disk_link(sim: &Simulation, store: u64) -> WhyLink {
    let w = sim.world();
    let disk = &w.disks[&store];
    if disk.is_hung() {
        let window = active_fault(sim, store, "io-hang");
        let text = match window {
            Some((s, e)) => format!(
                "disk of store {store} hung since {} (until {}): no write completes",
                secs(s),
                secs(e)
            ),
            None => format!("disk of store {store} hung: no write completes"),
        };
        return link("disk", Some(store), None, text).since(window.map(|w| to_ms(w.0)));
    }
    let text = if disk.slow_factor > 1 {
        format!(
            "disk of store {store} is {} times slower than healthy ({} writes queued)",
            disk.slow_factor,
            disk.depth()
        )
    } else {
        format!(
            "disk of store {store}: {} writes queued, {} bytes",
            disk.depth(),
            disk.depth_bytes()
        )
    };
    link("disk", Some(store), None, text)
}

/// The links of a region whose writes wait, starting at the store the
/// request went to (`via`), if known.
fn region_links(sim: &Simulation, region_id: u64, via: Option<u64>, out: &mut Vec<WhyLink>) {
    let w = sim.world();
    if let Some(s) = via {
        if let Some(l) = unreachable(sim, s) {
            out.push(link(
                "region",
                Some(s),
                Some(region_id),
                format!(
                    "the request for region {region_id} went to store {s}, which does not answer"
                ),
            ));
            out.push(l);
            return;
        }
    }
    let leader = w.stores.values().filter(|s| s.up).find_map(|s| {
        s.raftstore
            .peers
            .get(&region_id)
            .filter(|p| p.is_leader())
            .map(|p| (s.id, p))
    });
    let Some((store, peer)) = leader else {
        out.push(link(
            "election",
            None,
            Some(region_id),
            format!("region {region_id} has no leader"),
        ));
        // Which voters cannot take part in an election.
        let meta = w.stores.values().find_map(|s| {
            s.raftstore
                .peers
                .get(&region_id)
                .map(|p| p.region().clone())
        });
        if let Some(meta) = meta {
            let lost: Vec<WhyLink> = meta
                .peers
                .iter()
                .filter(|p| !p.is_learner)
                .filter_map(|p| unreachable(sim, p.store_id))
                .collect();
            let voters = meta.peers.iter().filter(|p| !p.is_learner).count();
            if lost.len() * 2 >= voters {
                out.extend(lost);
            } else {
                out.push(link("election", None, Some(region_id), format!(
                            "a quorum of its {voters} voters is up: an election is under way (raft-election-timeout)"
                        )));
            }
        }
        return;
    };
    if let Some(s) = via.filter(|&s| s != store) {
        out.push(link(
            "region",
            Some(s),
            Some(region_id),
            format!("store {s} no longer leads region {region_id}: the next answer is NotLeader"),
        ));
    }
    out.push(link(
        "leader",
        Some(store),
        Some(region_id),
        format!(
            "region {region_id}: leader peer {} on store {store}",
            peer.meta.id
        ),
    ));
    if peer.raft.store().merge_state.is_some() {
        out.push(link("merge", Some(store), Some(region_id), format!("region {region_id} is merging (PrepareMerge applied): writes get ProposalInMergingMode")));
        return;
    }
    let st = &w.stores[&store];
    let (raft_log_writes, apply) = st.raftstore.pending_disk_writes(region_id);
    let log = &peer.raft.raft.raft_log;
    let (last, committed, persisted, applied) =
        (log.last_index(), log.committed, log.persisted, log.applied);
    if let Some((lo, hi)) = apply {
        out.push(link("apply", Some(store), Some(region_id), format!("committed entries {lo}..={hi} wait for their apply write to store {store}'s KV engine")));
        out.push(disk_link(sim, store));
        return;
    }
    if committed > applied && persisted < committed && raft_log_writes > 0 {
        out.push(link("raft-log", Some(store), Some(region_id), format!(
                    "entries {}..={committed} are committed but not in the leader's durable raft log (up to {persisted}): raft-rs applies only persisted entries",
                    persisted.max(applied) + 1
                )));
        out.push(disk_link(sim, store));
        return;
    }
    if committed > applied {
        out.push(link("apply", Some(store), Some(region_id), format!("entries up to {committed} are committed, {applied} applied: the apply is about to run")));
        return;
    }
    if last > committed {
        // A quorum must persist the entries: the leader's own write and
        // the followers' acks.
        let progress = peer.raft.raft.prs();
        let mut behind: Vec<WhyLink> = Vec::new();
        for p in peer.region().peers.iter().filter(|p| !p.is_learner) {
            if p.id == peer.meta.id {
                if persisted < last && raft_log_writes > 0 {
                    behind.push(link("raft-log", Some(store), Some(region_id), format!("the leader's raft log write of entries up to {last} is not durable ({persisted} is)")));
                    behind.push(disk_link(sim, store));
                }
                continue;
            }
            let matched = progress.get(p.id).map_or(0, |pr| pr.matched);
            if matched >= last {
                continue;
            }
            behind.push(link(
                "quorum",
                Some(p.store_id),
                Some(region_id),
                format!(
                    "follower peer {} on store {} has matched {matched} of {last}",
                    p.id, p.store_id
                ),
            ));
            if let Some(l) = unreachable(sim, p.store_id) {
                behind.push(l);
            } else if w.disks[&p.store_id].is_hung() {
                behind.push(disk_link(sim, p.store_id));
            }
        }
        out.push(link(
            "quorum",
            Some(store),
            Some(region_id),
            format!(
                "entries {}..={last} wait for a quorum to persist them (committed {committed})",
                committed + 1
            ),
        ));
        out.extend(behind);
        return;
    }
    out.push(link(
        "idle",
        Some(store),
        Some(region_id),
        "the leader has nothing waiting: the request is on the wire or queued".to_string(),
    ));
}

/// The chain of `subject`, or `None` if it does not exist or waits on
/// nothing (a request that is not in progress).
pub fn why(sim: &Simulation, subject: Subject) -> Option<WhyChain> {
    let mut links = Vec::new();
    match subject {
        Subject::Request { client } => {
            let r = requests(sim).into_iter().find(|r| r.client == client)?;
            let waited = sim.now().saturating_sub(r.started);
            let what = if r.read { "read" } else { "write" };
            let state = if r.on_the_wire {
                "on the wire".to_string()
            } else if r.backoff_total > 0 {
                format!("backing off ({} so far)", secs(r.backoff_total))
            } else {
                "waiting for PD (route or timestamp)".to_string()
            };
            links.push(
                link(
                    "request",
                    None,
                    r.sent_to.map(|s| s.0),
                    format!(
                        "{what} of key {} (client {client}): waiting {}, try {}, {state}",
                        r.key,
                        secs(waited),
                        r.attempts
                    ),
                )
                .since(Some(to_ms(r.started))),
            );
            if let Some((region, store)) = r.sent_to {
                region_links(sim, region, Some(store), &mut links);
            }
        }
        Subject::Region { id } => region_links(sim, id, None, &mut links),
    }
    Some(WhyChain { subject, links })
}

/// Every raw client thread's current operation, over all workloads.
fn requests(sim: &Simulation) -> Vec<crate::client::raw::InFlightRequest> {
    sim.world()
        .workloads
        .iter()
        .filter_map(|w| w.as_any().downcast_ref::<crate::client::raw::RawWorkload>())
        .flat_map(|w| w.in_flight())
        .collect()
}

/// A stuck thing and its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StuckItem {
    /// How long it has waited, virtual ms.
    pub waiting_ms: u64,
    /// Its chain.
    pub chain: WhyChain,
}

/// The client requests waiting at least [`STUCK_AFTER`], longest first,
/// at most `limit`, each with its chain.
pub fn stuck_requests(sim: &Simulation, limit: usize) -> Vec<StuckItem> {
    let now = sim.now();
    let mut out: Vec<StuckItem> = requests(sim)
        .into_iter()
        .filter(|r| now.saturating_sub(r.started) >= STUCK_AFTER)
        .filter_map(|r| {
            Some(StuckItem {
                waiting_ms: to_ms(now.saturating_sub(r.started)),
                chain: why(sim, Subject::Request { client: r.client })?,
            })
        })
        .collect();
    out.sort_by_key(|i| std::cmp::Reverse(i.waiting_ms));
    out.truncate(limit);
    out
}

/// Stuck requests that wait on the same chain (the same links after the
/// request's own), with the longest one's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StuckGroup {
    /// Requests in the group.
    pub requests: usize,
    /// The longest wait among them, virtual ms.
    pub longest_ms: u64,
    /// The longest-waiting request's chain.
    pub chain: WhyChain,
}

/// The stuck requests ([`stuck_requests`]) grouped by what they wait on,
/// largest group first (then longest wait), at most `limit` groups.
pub fn stuck_groups(sim: &Simulation, limit: usize) -> Vec<StuckGroup> {
    let mut groups: Vec<StuckGroup> = Vec::new();
    for item in stuck_requests(sim, usize::MAX) {
        let tail = &item.chain.links[1.min(item.chain.links.len())..];
        match groups
            .iter_mut()
            .find(|g| g.chain.links[1.min(g.chain.links.len())..] == *tail)
        {
            Some(g) => g.requests += 1,
            None => groups.push(StuckGroup {
                requests: 1,
                longest_ms: item.waiting_ms,
                chain: item.chain,
            }),
        }
    }
    groups.sort_by_key(|g| {
        (
            std::cmp::Reverse(g.requests),
            std::cmp::Reverse(g.longest_ms),
        )
    });
    groups.truncate(limit);
    groups
}
