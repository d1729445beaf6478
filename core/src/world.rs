//! The world a scenario builds: the components (stores, PD, workloads) and
//! the environment they run in (disks, network, the OOM killer).

use std::collections::BTreeMap;

use crate::client::Workload;
use crate::env::oom::OomKiller;
use crate::env::pool::WorkerPool;
use crate::env::{Disk, Network};
use crate::pd::Pd;
use crate::proto::Timer;
use crate::store::Store;

/// Everything a scenario builds.
pub struct World {
    /// Stores by id.
    pub stores: BTreeMap<u64, Store>,
    /// Disks by store id.
    pub disks: BTreeMap<u64, Disk>,
    /// The network.
    pub network: Network,
    /// PD.
    pub pd: Pd,
    /// The workloads; each owns a disjoint set of client ids.
    pub workloads: Vec<Box<dyn Workload>>,
    /// The region the scenario's story is about (the page selects it first).
    pub focus_region: u64,
    /// Whether the scenario's load makes that region hot (the cluster map
    /// tags it "HOT"); false when it is only the region shown first.
    pub focus_is_hot: bool,
    /// The OOM killer; its `restart_delay` is also how long a store that
    /// panicked takes to serve again.
    pub oom: OomKiller,
    /// Every store abort a failed assertion caused.
    pub aborts: Vec<StoreAbort>,
    /// Worker pools by (store, thread name), from what each store runs
    /// ([`Store::pools`]); the simulator fills it after the build.
    pub pools: BTreeMap<(u64, &'static str), WorkerPool<Timer>>,
}

/// A store that aborted on a failed assertion (TiKV's panic hook: FATAL
/// log, then the process exits and is restarted).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoreAbort {
    /// Store.
    pub store: u64,
    /// Virtual ms of the abort.
    pub at_ms: u64,
    /// Virtual ms at which the process serves again.
    pub restart_ms: u64,
    /// The assertion and what led to it.
    pub abort: crate::in_memory_engine::ImeAbort,
}

impl World {
    /// Bytes store `store` has sent to and received from the other stores
    /// over the links so far (the Raft messages' transient allocations of
    /// [`crate::memory::alloc`]).
    pub fn raft_link_bytes(&self, store: u64) -> (u64, u64) {
        let me = crate::kernel::effect::Node::Store(store);
        self.stores
            .keys()
            .map(|&s| crate::kernel::effect::Node::Store(s))
            .fold((0, 0), |(sent, recv), n| {
                (
                    sent + self.network.bytes_sent(me, n),
                    recv + self.network.bytes_sent(n, me),
                )
            })
    }

    /// The workload that owns client `client`.
    pub fn workload_of(&mut self, client: u32) -> Option<&mut Box<dyn Workload>> {
        self.workloads.iter_mut().find(|w| w.owns(client))
    }

    /// The first workload of type `T`.
    pub fn workload<T: 'static>(&self) -> Option<&T> {
        self.workloads
            .iter()
            .find_map(|w| w.as_any().downcast_ref::<T>())
    }

    /// The first workload of type `T`, to change it.
    pub fn workload_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.workloads
            .iter_mut()
            .find_map(|w| w.as_any_mut().downcast_mut::<T>())
    }
}
