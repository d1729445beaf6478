//! Memory accounting per store, built as TiKV's memory trace tree.
//!
//! TiKV keeps a tree of `MemoryTrace` nodes (`components/tikv_alloc/src/trace.rs`,
//! RFC tikv/rfcs `text/0059-memory-trace.md`): each node has its own counter and
//! children, and `sum()` is the node's own value plus its children's sums. The
//! raftstore subtree (`components/raftstore/src/store/memory.rs`) is
//! `raftstore → peers, entry_cache, raft_messages, ...`; kvscope adds the lock
//! manager's queues as leaves, as the reference asks a simulator to do.
//!
//! The tree is not updated incrementally: [`crate::store::Store::memory_trace`]
//! computes it from the store's state with the size rules below, so it can never
//! drift from what the store actually holds. Units are bytes.

use serde::Serialize;

pub mod alloc;

/// Bytes of one queued `DeadlockRequest` (kvproto `deadlock.proto`): the message
/// struct with its `WaitForEntry` (about 120 bytes: six scalar fields, two
/// `Vec<u8>` headers), the key (a TiDB row key, about 20 bytes), a resource group
/// tag (about 24 bytes) and the `futures::channel::mpsc` node that holds it in
/// the unbounded channel (about 36 bytes).
pub const DEADLOCK_REQUEST_BYTES: u64 = 200;
/// Bytes of one detector `Task::Detect` in the waiter manager → detector channel
/// (`Task::Detect{tp, txn_ts, wait_info: KeyLockWaitInfo, diag_ctx}` boxed in the channel).
pub const DETECTOR_TASK_BYTES: u64 = 240;
/// Bytes of one waiter-manager task (`Task::WaitFor` carries a `Waiter` with its
/// `LockInfo`, callback box and diagnostic context).
pub const WAITER_TASK_BYTES: u64 = 320;
/// Bytes of one `Waiter` in the waiter manager's `WaitTable` (the struct, its
/// `LockInfo`, the callback and the `Delay` timer entry).
pub const WAITER_BYTES: u64 = 400;
/// Bytes of one `LockWaitEntry` in `LockWaitQueues` (boxed entry with parameters,
/// key and callback, plus its slot in the keyed priority queue).
pub const LOCK_WAIT_ENTRY_BYTES: u64 = 300;
/// Bytes of one edge (`Locks`) in the detector leader's `DetectTable`, plus 40 per key on it.
pub const DETECT_EDGE_BYTES: u64 = 96;
/// Bytes per key on a detect-table edge.
pub const DETECT_EDGE_KEY_BYTES: u64 = 40;
/// Bytes of one in-memory pessimistic lock (`PeerPessimisticLocks` counts key +
/// `PessimisticLock` size; TiKV caps the total with `in-memory-peer-size-limit`).
pub const PESSIMISTIC_LOCK_BYTES: u64 = 96;
/// Bytes of one latch slot held by a running command in the txn scheduler.
pub const LATCH_BYTES: u64 = 64;
/// Bytes of one peer's fixed state (`PeerFsm`, raft-rs `RawNode`, progress tracker).
pub const PEER_BYTES: u64 = 64 * 1024;
/// Overhead bytes per cached raft entry (entry struct and deque slot), plus its data.
pub const ENTRY_CACHE_OVERHEAD_BYTES: u64 = 64;
/// Bytes per MVCC record held in the memtable (key, timestamp, value header).
pub const MEMTABLE_RECORD_BYTES: u64 = 48;

/// One node of the memory trace tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryTrace {
    /// Node name, as TiKV's `Id::Name` (for example `"entry_cache"`).
    pub name: &'static str,
    /// The node's own bytes (excluding its children).
    pub own: u64,
    /// Children.
    pub children: Vec<MemoryTrace>,
}

impl MemoryTrace {
    /// A leaf with `bytes`.
    pub fn leaf(name: &'static str, bytes: u64) -> MemoryTrace {
        MemoryTrace {
            name,
            own: bytes,
            children: Vec::new(),
        }
    }

    /// An interior node with no own bytes.
    pub fn node(name: &'static str, children: Vec<MemoryTrace>) -> MemoryTrace {
        MemoryTrace {
            name,
            own: 0,
            children,
        }
    }

    /// TiKV's `MemoryTrace::sum`: own bytes plus every child's sum.
    pub fn sum(&self) -> u64 {
        self.own + self.children.iter().map(MemoryTrace::sum).sum::<u64>()
    }

    /// The child named `name`, if any.
    pub fn child(&self, name: &str) -> Option<&MemoryTrace> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every node as `(path, sum)` in depth-first order, paths joined by `/`
    /// without the root's name (the root itself is `""`).
    pub fn flatten(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        fn walk(t: &MemoryTrace, prefix: &str, out: &mut Vec<(String, u64)>) {
            for c in &t.children {
                let path = if prefix.is_empty() {
                    c.name.to_string()
                } else {
                    format!("{prefix}/{}", c.name)
                };
                out.push((path.clone(), c.sum()));
                walk(c, &path, out);
            }
        }
        out.push((String::new(), self.sum()));
        walk(self, "", &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_sum_is_own_plus_children() {
        let t = MemoryTrace {
            name: "tikv",
            own: 5,
            children: vec![
                MemoryTrace::node(
                    "lock_manager",
                    vec![MemoryTrace::leaf("a", 7), MemoryTrace::leaf("b", 11)],
                ),
                MemoryTrace::leaf("other", 100),
            ],
        };
        assert_eq!(t.sum(), 123);
        assert_eq!(t.child("lock_manager").map(MemoryTrace::sum), Some(18));
        let flat = t.flatten();
        assert_eq!(flat[0], (String::new(), 123));
        assert!(flat.contains(&("lock_manager/b".to_string(), 11)));
    }
}
