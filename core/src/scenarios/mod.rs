//! The scenarios, one file each, and their registry.
//!
//! Each scenario implements [`Scenario`]: its spec (parameters, story, live
//! parameters, panels), how it builds its world from resolved [`Params`],
//! and how it applies its live parameters. [`REGISTRY`] lists them; nothing
//! else in the simulator or the page names a scenario. The shared pieces
//! below (a pre-split region layout, bootstrapping stores) are what the
//! builders have in common.

pub mod deadlock_oom;
pub mod ime_region_load_race;
pub mod io_hang;
pub mod resolved_ts_large_txn;
pub mod snapshot_memory;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::env::{Disk, DiskConfig};
use crate::proto::Ctx;
use crate::proto::{PeerMeta, RegionMeta};
use crate::raftstore::RaftstoreConfig;
use crate::scenario::{ParamSpec, Scenario, ScenarioError, ScenarioSpec, Unit};
use crate::store::Store;

/// `disk_latency`: the fsync latency of a healthy disk, as most scenarios
/// declare it.
pub const DISK_LATENCY: ParamSpec = ParamSpec::number(
    "disk_latency",
    "Disk fsync latency",
    Unit::Micros,
    "1000",
    10,
    1_000_000,
    "Latency of one synced write batch (fsync) on a healthy disk",
);
/// `net_latency`: one-way latency between nodes.
pub const NET_LATENCY: ParamSpec = ParamSpec::number(
    "net_latency",
    "Network latency",
    Unit::Micros,
    "300",
    0,
    1_000_000,
    "One-way network latency between nodes",
);
/// `net_jitter`: extra random one-way delay.
pub const NET_JITTER: ParamSpec = ParamSpec::number(
    "net_jitter",
    "Network jitter",
    Unit::Micros,
    "200",
    0,
    1_000_000,
    "Extra random one-way delay, drawn uniformly in 0..=jitter",
);

/// Every scenario the simulator knows, in the order the picker shows them.
pub static REGISTRY: &[&dyn Scenario] = &[
    &io_hang::IoHangTransferLeader,
    &deadlock_oom::DeadlockDetectorOom,
    &snapshot_memory::SnapshotAndMemory,
    &ime_region_load_race::ImeRegionLoadRace,
    &resolved_ts_large_txn::ResolvedTsLargeTxn,
];

/// Looks a scenario up by id. Errors: [`ScenarioError::UnknownScenario`],
/// naming the ids that exist.
pub fn find(id: &str) -> Result<&'static dyn Scenario, ScenarioError> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.spec().id == id)
        .ok_or_else(|| ScenarioError::UnknownScenario {
            id: id.to_string(),
            known: REGISTRY.iter().map(|s| s.spec().id).collect(),
        })
}

/// Every scenario's spec, in registry order.
pub fn specs() -> impl Iterator<Item = &'static ScenarioSpec> {
    REGISTRY.iter().map(|s| s.spec())
}

/// Pre-split regions `1..=n`, each covering `keys_per_region` keys (the last
/// one up to +inf), with peers on `stores_of(region)` (leader first). Peer ids
/// start above 100. Returns each region with its leader, and the last peer id.
pub fn pre_split_regions(
    n: u64,
    keys_per_region: u64,
    stores_of: impl Fn(u64) -> Vec<u64>,
) -> (Vec<(RegionMeta, PeerMeta)>, u64) {
    let mut next_peer_id = 100;
    let mut regions = Vec::new();
    for rid in 1..=n {
        let mut peers: Vec<PeerMeta> = stores_of(rid)
            .into_iter()
            .map(|s| {
                next_peer_id += 1;
                PeerMeta {
                    id: next_peer_id,
                    store_id: s,
                    is_learner: false,
                }
            })
            .collect();
        let leader = peers[0];
        peers.sort();
        let meta = RegionMeta {
            id: rid,
            start_key: (rid - 1) * keys_per_region,
            end_key: if rid == n {
                u64::MAX
            } else {
                rid * keys_per_region
            },
            conf_ver: 1,
            version: 1,
            peers,
        };
        regions.push((meta, leader));
    }
    (regions, next_peer_id)
}

/// Stores `store_ids`, each with a disk of `disk` and set up by `setup`, with
/// every region's peers bootstrapped (the leader campaigns at once).
pub fn bootstrap_stores(
    ctx: &mut Ctx,
    store_ids: &[u64],
    cfg: &Rc<RaftstoreConfig>,
    disk: DiskConfig,
    regions: &[(RegionMeta, PeerMeta)],
    logger: &slog::Logger,
    mut setup: impl FnMut(&mut Store),
) -> (BTreeMap<u64, Store>, BTreeMap<u64, Disk>) {
    let mut stores = BTreeMap::new();
    let mut disks = BTreeMap::new();
    for &s in store_ids {
        let mut st = Store::new(s, cfg.clone(), logger.clone());
        setup(&mut st);
        stores.insert(s, st);
        disks.insert(s, Disk::new(disk.clone()));
    }
    for (meta, leader) in regions {
        for peer in &meta.peers {
            let st = stores.get_mut(&peer.store_id).expect("store exists");
            st.bootstrap_peer(ctx, meta.clone(), peer.id == leader.id);
        }
    }
    (stores, disks)
}
