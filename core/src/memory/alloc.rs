//! The simulated allocations behind the three memory views of TiKV's memory
//! observability article ("点, 线, 面"):
//!
//! - 面, a heap profile by allocation site and call path, as jemalloc's
//!   sampled profile (`prof.active`, `lg_prof_sample` 19: one sample per
//!   512 KiB allocated) that TiKV's `/debug/pprof/heap` serves: the whole
//!   process at one moment ([`heap_profile`]);
//! - 线, memory per thread over time, as jemalloc's per-thread
//!   `thread.allocatedp` / `thread.deallocatedp` counters: the trend
//!   ([`ThreadLedger`]);
//! - 点, the memory trace tree per module, TiKV's hand-placed
//!   `MemoryTrace` ([`super::MemoryTrace`]).
//!
//! All three come from one list per store: the live bytes of each
//! [`AllocSite`] (what the store holds, computed with the size rules of
//! [`super`]), so they agree on totals: the tree's leaf is the sum of its
//! sites, the profile lists the sites, and the threads' allocated minus
//! deallocated bytes add up to the same total. Each site allocates on one
//! thread and frees on another, as in TiKV: the entries a follower caches
//! were decoded from `MsgAppend` on a gRPC thread and are freed by
//! raftstore at log compaction; the Raft messages raftstore builds are
//! freed by the gRPC thread that sent them. A thread's allocated minus
//! deallocated can therefore be negative, as jemalloc shows it.
//!
//! Transient allocations, made and freed within a virtual second (the Raft
//! messages a store sends and receives, sized by the bytes on its links),
//! add to both counters of their threads and to no live total.

use std::collections::BTreeMap;

use serde::Serialize;

use super::MemoryTrace;

/// jemalloc's heap-profile sampling interval as TiKV sets it
/// (`lg_prof_sample` 19): one sample per 512 KiB allocated.
pub const HEAP_PROFILE_SAMPLE_BYTES: u64 = 512 * 1024;

/// Where memory is allocated: a call path in TiKV, the memory trace leaf it
/// is counted under, and the threads that allocate and free it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AllocSite {
    /// Short unique name.
    pub id: &'static str,
    /// The memory trace leaf (`module/leaf` path, as [`MemoryTrace::flatten`]
    /// names it); empty for a transient site.
    pub leaf: &'static str,
    /// The call path in TiKV, outermost first; the last frame allocates.
    pub frames: &'static [&'static str],
    /// The thread (pool) that allocates, by TiKV's thread name prefix.
    pub alloc_thread: &'static str,
    /// The thread (pool) that frees.
    pub free_thread: &'static str,
}

/// Every allocation site kvscope models. For a leaf with several sites, the
/// first takes what [`live_allocations`] is not told explicitly.
pub const SITES: &[AllocSite] = &[
    AllocSite {
        id: "block_cache",
        leaf: "block_cache",
        frames: &[
            "tikv::server::engine_factory::KvEngineFactoryBuilder::new",
            "engine_rocks::util::new_block_cache",
            "rocksdb::NewLRUCache",
        ],
        alloc_thread: "main",
        free_thread: "main",
    },
    AllocSite {
        id: "other",
        leaf: "other",
        frames: &[
            "tikv_server::run_tikv",
            "(allocations no module traces: code, thread stacks, gRPC arenas)",
        ],
        alloc_thread: "main",
        free_thread: "main",
    },
    AllocSite {
        id: "peer_fsm",
        leaf: "raftstore/peers",
        frames: &[
            "raftstore::store::fsm::store::StoreFsmDelegate::maybe_create_peer",
            "raftstore::store::fsm::peer::PeerFsm::replicate",
            "Box<PeerFsm>",
        ],
        alloc_thread: "raftstore",
        free_thread: "raftstore",
    },
    AllocSite {
        id: "entry_cache_follower",
        leaf: "raftstore/entry_cache",
        frames: &[
            "tikv::server::service::kv::Service::raft (MsgAppend decoded)",
            "raftstore::store::fsm::peer::PeerFsmDelegate::on_raft_message",
            "raftstore::store::entry_storage::EntryCache::append",
        ],
        alloc_thread: "grpc-server",
        free_thread: "raftstore",
    },
    AllocSite {
        id: "entry_cache_leader",
        leaf: "raftstore/entry_cache",
        frames: &[
            "raftstore::store::fsm::peer::PeerFsmDelegate::propose_raft_command",
            "raft::RawNode::propose",
            "raftstore::store::entry_storage::EntryCache::append",
        ],
        alloc_thread: "raftstore",
        free_thread: "raftstore",
    },
    AllocSite {
        id: "pessimistic_locks",
        leaf: "storage/pessimistic_locks",
        frames: &[
            "tikv::storage::txn::commands::AcquirePessimisticLock::process_write",
            "raftstore::store::txn_ext::PeerPessimisticLocks::insert",
        ],
        alloc_thread: "sched-worker",
        free_thread: "apply",
    },
    AllocSite {
        id: "lock_wait_queues",
        leaf: "storage/lock_wait_queues",
        frames: &[
            "tikv::storage::txn::scheduler::TxnScheduler::on_wait_for_lock",
            "tikv::storage::lock_manager::lock_waiting_queue::LockWaitQueues::push_lock_wait",
        ],
        alloc_thread: "sched-worker",
        free_thread: "sched-worker",
    },
    AllocSite {
        id: "latches",
        leaf: "storage/latches",
        frames: &[
            "tikv::storage::txn::scheduler::TxnScheduler::schedule_command",
            "tikv::storage::txn::latch::Latches::acquire",
        ],
        alloc_thread: "sched-worker",
        free_thread: "sched-worker",
    },
    AllocSite {
        id: "waiter_manager_tasks",
        leaf: "lock_manager/waiter_manager_tasks",
        frames: &[
            "tikv::server::lock_manager::LockManager::wait_for",
            "tikv_util::worker::Scheduler::schedule (unbounded channel node)",
        ],
        alloc_thread: "sched-worker",
        free_thread: "waiter-manager",
    },
    AllocSite {
        id: "waiters",
        leaf: "lock_manager/waiters",
        frames: &[
            "tikv::server::lock_manager::waiter_manager::WaiterManager::handle_wait_for",
            "tikv::server::lock_manager::waiter_manager::WaitTable::add_waiter",
        ],
        alloc_thread: "waiter-manager",
        free_thread: "waiter-manager",
    },
    AllocSite {
        id: "detector_tasks",
        leaf: "lock_manager/detector_tasks",
        frames: &[
            "tikv::server::lock_manager::waiter_manager::WaiterManager::handle_wait_for",
            "tikv::server::lock_manager::deadlock::Scheduler::detect (unbounded channel node)",
        ],
        alloc_thread: "waiter-manager",
        free_thread: "deadlock-detector",
    },
    AllocSite {
        id: "detector_stream",
        leaf: "lock_manager/detector_stream",
        frames: &[
            "tikv::server::lock_manager::deadlock::Detector::send_request_to_leader",
            "grpcio::ClientDuplexSender<DeadlockRequest>::start_send",
        ],
        alloc_thread: "deadlock-detector",
        free_thread: "grpc-server",
    },
    AllocSite {
        id: "detect_table",
        leaf: "lock_manager/detect_table",
        frames: &[
            "tikv::server::lock_manager::deadlock::Detector::handle_detect_locally",
            "tikv::server::lock_manager::deadlock::DetectTable::register",
        ],
        alloc_thread: "deadlock-detector",
        free_thread: "deadlock-detector",
    },
    AllocSite {
        id: "snap_send_buffers",
        leaf: "server/snap_send_buffers",
        frames: &[
            "tikv::server::snap::send_snap",
            "tikv::server::snap::SnapChunk::poll_next (1 MiB Vec<u8>)",
        ],
        alloc_thread: "snap-sender",
        free_thread: "grpc-server",
    },
    AllocSite {
        id: "snap_recv_buffers",
        leaf: "server/snap_recv_buffers",
        frames: &[
            "tikv::server::snap::recv_snap",
            "tikv::server::snap::RecvSnapContext (1 MiB chunk)",
        ],
        alloc_thread: "grpc-server",
        free_thread: "snap-handler",
    },
    AllocSite {
        id: "ime_skiplist",
        leaf: "in_memory_engine",
        frames: &[
            "in_memory_engine::background::BackgroundRunner::run (LoadRegion)",
            "crossbeam_skiplist::SkipList::insert (InternalBytes key and value)",
        ],
        alloc_thread: "ime-load",
        free_thread: "ime-delete",
    },
    AllocSite {
        id: "memtable_default",
        leaf: "rocksdb/memtable_default",
        frames: &[
            "raftstore::store::fsm::apply::ApplyContext::write_to_db (WriteBatch, default CF)",
            "rocksdb::MemTableInserter::PutCF",
            "rocksdb::ConcurrentArena::Allocate (memtable arena block)",
        ],
        alloc_thread: "apply",
        free_thread: "rocksdb:high",
    },
    AllocSite {
        id: "memtable_lock",
        leaf: "rocksdb/memtable_lock",
        frames: &[
            "raftstore::store::fsm::apply::ApplyContext::write_to_db (WriteBatch, lock CF)",
            "rocksdb::MemTableInserter::PutCF / DeleteCF",
            "rocksdb::ConcurrentArena::Allocate (memtable arena block)",
        ],
        alloc_thread: "apply",
        free_thread: "rocksdb:high",
    },
    AllocSite {
        id: "memtable_write",
        leaf: "rocksdb/memtable_write",
        frames: &[
            "raftstore::store::fsm::apply::ApplyContext::write_to_db (WriteBatch, write CF)",
            "rocksdb::MemTableInserter::PutCF",
            "rocksdb::ConcurrentArena::Allocate (memtable arena block)",
        ],
        alloc_thread: "apply",
        free_thread: "rocksdb:high",
    },
    AllocSite {
        id: "raft_messages_sent",
        leaf: "",
        frames: &[
            "raftstore::store::fsm::peer::PeerFsmDelegate::handle_raft_ready",
            "tikv::server::raft_client::RaftClient::send (RaftMessage)",
        ],
        alloc_thread: "raftstore",
        free_thread: "grpc-server",
    },
    AllocSite {
        id: "raft_messages_received",
        leaf: "",
        frames: &[
            "tikv::server::service::kv::Service::batch_raft",
            "RaftMessage::parse_from_bytes",
        ],
        alloc_thread: "grpc-server",
        free_thread: "raftstore",
    },
];

/// The site named `id`.
///
/// # Panics
/// If `id` is not in [`SITES`] (a programming error: ids are constants).
pub fn site(id: &str) -> &'static AllocSite {
    SITES
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no allocation site {id}"))
}

/// Live bytes per site (indexes into [`SITES`]), in [`SITES`] order, from a
/// store's memory trace `tree` and the bytes of the sites that share a leaf
/// and are given in `explicit` (by site id). The first site of each leaf
/// takes the leaf's remainder, so the sites of a leaf always add up to it.
/// A leaf with no site is an error in the table (checked by the tests).
pub fn live_allocations(tree: &MemoryTrace, explicit: &[(&str, u64)]) -> Vec<(usize, u64)> {
    let leaves: BTreeMap<String, u64> = leaf_bytes(tree);
    let mut out = Vec::new();
    for (i, s) in SITES.iter().enumerate() {
        if s.leaf.is_empty() {
            continue;
        }
        let Some(&total) = leaves.get(s.leaf) else {
            continue;
        };
        let primary = SITES.iter().find(|o| o.leaf == s.leaf).map(|o| o.id) == Some(s.id);
        let given = |id: &str| explicit.iter().find(|e| e.0 == id).map(|e| e.1.min(total));
        let bytes = if primary {
            let others: u64 = SITES
                .iter()
                .filter(|o| o.leaf == s.leaf && o.id != s.id)
                .filter_map(|o| given(o.id))
                .sum();
            total.saturating_sub(others)
        } else {
            given(s.id).unwrap_or(0)
        };
        out.push((i, bytes));
    }
    out
}

/// Every leaf of `tree` (a node without children) by its path.
pub fn leaf_bytes(tree: &MemoryTrace) -> BTreeMap<String, u64> {
    fn walk(t: &MemoryTrace, prefix: &str, out: &mut BTreeMap<String, u64>) {
        for c in &t.children {
            let path = if prefix.is_empty() {
                c.name.to_string()
            } else {
                format!("{prefix}/{}", c.name)
            };
            if c.children.is_empty() {
                out.insert(path, c.own);
            } else {
                walk(c, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(tree, "", &mut out);
    out
}

/// jemalloc's two per-thread counters, bytes since the thread started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ThreadStats {
    /// `thread.allocatedp`.
    pub allocated: u64,
    /// `thread.deallocatedp`.
    pub deallocated: u64,
}

impl ThreadStats {
    /// Allocated minus deallocated, bytes; negative for a thread that frees
    /// what others allocated.
    pub fn net(&self) -> i64 {
        self.allocated as i64 - self.deallocated as i64
    }
}

/// A store's per-thread allocation counters, advanced once per virtual
/// second from the live bytes of every site: growth of a site counts as
/// allocated on its allocating thread, shrinkage as deallocated on its
/// freeing thread; transient sites add to both. A process restart starts
/// every counter from zero (the threads are new).
#[derive(Clone, Debug, Default)]
pub struct ThreadLedger {
    last: BTreeMap<usize, u64>,
    /// Counters by thread name.
    pub threads: BTreeMap<&'static str, ThreadStats>,
}

impl ThreadLedger {
    /// Takes this second's live bytes per site (`live`, as
    /// [`live_allocations`]) and the bytes transient sites allocated and
    /// freed during it (`transient`, by site id).
    pub fn observe(&mut self, live: &[(usize, u64)], transient: &[(&str, u64)]) {
        for &(i, bytes) in live {
            let s = &SITES[i];
            let before = self.last.insert(i, bytes).unwrap_or(0);
            if bytes > before {
                self.threads.entry(s.alloc_thread).or_default().allocated += bytes - before;
            } else if before > bytes {
                self.threads.entry(s.free_thread).or_default().deallocated += before - bytes;
            }
        }
        for &(id, bytes) in transient {
            if bytes == 0 {
                continue;
            }
            let s = site(id);
            self.threads.entry(s.alloc_thread).or_default().allocated += bytes;
            self.threads.entry(s.free_thread).or_default().deallocated += bytes;
        }
    }

    /// The process died: its threads and their counters are gone.
    pub fn reset(&mut self) {
        self.last.clear();
        self.threads.clear();
    }

    /// Live bytes as the threads account them: the sum of every thread's
    /// allocated minus deallocated.
    pub fn live_total(&self) -> i64 {
        self.threads.values().map(ThreadStats::net).sum()
    }
}

/// One row of a heap profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeapProfileEntry {
    /// The allocation site.
    pub site: AllocSite,
    /// Live bytes allocated there.
    pub bytes: u64,
    /// Samples jemalloc's profile holds for it: one per
    /// [`HEAP_PROFILE_SAMPLE_BYTES`] of live bytes, rounded to the nearest
    /// (its estimate of the site's bytes is samples × 512 KiB).
    pub samples: u64,
}

/// A heap profile from live bytes per site: sites with live bytes, largest
/// first (ties in [`SITES`] order).
pub fn heap_profile(live: &[(usize, u64)]) -> Vec<HeapProfileEntry> {
    let mut v: Vec<HeapProfileEntry> = live
        .iter()
        .filter(|(_, b)| *b > 0)
        .map(|&(i, bytes)| HeapProfileEntry {
            site: SITES[i],
            bytes,
            samples: (bytes + HEAP_PROFILE_SAMPLE_BYTES / 2) / HEAP_PROFILE_SAMPLE_BYTES,
        })
        .collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.bytes));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entry_cache: u64, peers: u64) -> MemoryTrace {
        MemoryTrace::node(
            "tikv",
            vec![
                MemoryTrace::leaf("block_cache", 1000),
                MemoryTrace::node(
                    "raftstore",
                    vec![
                        MemoryTrace::leaf("peers", peers),
                        MemoryTrace::leaf("entry_cache", entry_cache),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn sites_of_a_leaf_add_up_to_it_and_the_threads_to_the_total() {
        let mut ledger = ThreadLedger::default();
        let t1 = tree(500, 64);
        let live = live_allocations(&t1, &[("entry_cache_leader", 200)]);
        let bytes = |live: &[(usize, u64)], id: &str| {
            live.iter().find(|(i, _)| SITES[*i].id == id).map(|x| x.1)
        };
        assert_eq!(bytes(&live, "entry_cache_leader"), Some(200));
        assert_eq!(bytes(&live, "entry_cache_follower"), Some(300));
        assert_eq!(live.iter().map(|x| x.1).sum::<u64>(), t1.sum());
        ledger.observe(&live, &[("raft_messages_sent", 70)]);
        assert_eq!(ledger.live_total(), t1.sum() as i64);
        // Log compaction frees the follower's entries on raftstore, which
        // allocated only the leader's: raftstore's net goes negative.
        let t2 = tree(200, 64);
        let live2 = live_allocations(&t2, &[("entry_cache_leader", 200)]);
        ledger.observe(&live2, &[]);
        assert_eq!(ledger.live_total(), t2.sum() as i64);
        let raftstore = ledger.threads["raftstore"];
        let grpc = ledger.threads["grpc-server"];
        assert_eq!(raftstore.allocated, 200 + 64 + 70);
        assert_eq!(raftstore.deallocated, 300);
        assert_eq!(grpc.allocated, 300);
        assert_eq!(grpc.deallocated, 70);
        assert_eq!(raftstore.net(), 34);
        ledger.reset();
        assert_eq!(ledger.live_total(), 0);
    }

    #[test]
    fn the_heap_profile_lists_sites_largest_first_with_512_kib_samples() {
        let t = tree(3 * HEAP_PROFILE_SAMPLE_BYTES + 1, 100);
        let p = heap_profile(&live_allocations(&t, &[]));
        assert_eq!(p[0].site.id, "entry_cache_follower");
        assert_eq!(p[0].samples, 3);
        // 1000 bytes of block cache round to no sample, as a small site
        // usually has none in jemalloc's profile.
        assert_eq!(
            p.iter()
                .find(|e| e.site.id == "block_cache")
                .unwrap()
                .samples,
            0
        );
        assert_eq!(p.iter().map(|e| e.bytes).sum::<u64>(), t.sum());
        assert!(p.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    }

    #[test]
    fn site_ids_are_unique_and_transient_sites_have_no_leaf() {
        for (i, s) in SITES.iter().enumerate() {
            assert!(
                SITES[i + 1..].iter().all(|o| o.id != s.id),
                "{} twice",
                s.id
            );
            assert!(!s.frames.is_empty());
        }
        assert!(site("raft_messages_sent").leaf.is_empty());
    }
}
