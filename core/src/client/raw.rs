//! Raw-write clients: closed-loop client threads (TiDB sessions running a TPCC-like
//! write load) that route each write to its region's leader and retry like
//! TiKV's Go client (`client-go`): a `NotLeader` with a leader hint retries at
//! once on the new leader; other region errors back off with `BoRegionScheduling`
//! (2 ms doubling to 500 ms); a request timeout backs off with `BoTiKVRPC`
//! (100 ms doubling to 2 s, equal jitter) and reloads the region from PD. An
//! operation whose backoff total passes `max_backoff` fails and the thread moves on.

use std::collections::BTreeMap;

use serde::Serialize;

use super::pd_client::{PdAnswer, PdClient};
use super::{RequestTimeout, WorkloadStats};
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::rng::SimRng;
use crate::kernel::time::{Micros, MS};
use crate::pd::Pd;
use crate::proto::{Ctx, Timer};
use crate::proto::{Key, Msg, ReadRequest, RegionError, RegionMeta, WriteRequest};

/// Workload parameters.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Number of client threads (TPCC `--threads`, 32 in the incident).
    pub clients: u32,
    /// Pause between two operations of a thread, virtual µs.
    pub think_time: Micros,
    /// Share of writes aimed at the hot region, percent.
    pub hot_write_ratio: u64,
    /// The hot region's key range `[start, end)`.
    pub hot_range: (Key, Key),
    /// Whole keyspace `[0, keyspace)`.
    pub keyspace: Key,
    /// First key of the randomly written part of the keyspace (below it,
    /// nothing is written: a dropped table's range).
    pub keyspace_start: Key,
    /// Share of writes that insert a new key after the last one (an
    /// auto-increment key: `keyspace`, `keyspace + 1`, ...), percent. They
    /// all land in the last region, which grows and splits.
    pub insert_ratio: u64,
    /// Value size of each write, bytes.
    pub value_len: u32,
    /// Time a thread waits for a response before giving up on that try, virtual µs.
    pub request_timeout: Micros,
    /// Total backoff an operation may accumulate before it fails, virtual µs
    /// (client-go's per-request max backoff budget).
    pub max_backoff: Micros,
    /// Reads mixed into the load (`None`: writes only).
    pub reads: Option<ReadMix>,
    /// Client id of the first thread (threads are `first_client..`), so
    /// that several workloads can run side by side.
    pub first_client: u32,
    /// TiDB instances the threads run on (thread `i` on instance
    /// `i % tidb_instances`), each with its own region cache: client-go's
    /// `RegionCache` is one per process, so what one session learns (a new
    /// leader, a split) the others of its instance use at once. At least 1.
    pub tidb_instances: u32,
}

/// The reads of a read-write load: coprocessor scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadMix {
    /// Share of operations that are reads, percent.
    pub read_ratio: u64,
    /// Share of reads aimed at `hot_range`, percent.
    pub hot_read_ratio: u64,
    /// The hot key range `[start, end)` of the reads.
    pub hot_range: (Key, Key),
    /// Keys one scan returns.
    pub scan_keys: u64,
    /// Share of reads that are long streams (a slow consumer, an
    /// `ANALYZE`), per mille.
    pub long_scan_permille: u64,
    /// How long a long stream keeps its snapshot, virtual µs.
    pub long_scan_duration: Micros,
}

/// client-go backoff kinds used here.
#[derive(Clone, Copy, Debug)]
enum Backoff {
    /// `BoRegionScheduling`: 2 ms base, 500 ms cap, no jitter.
    RegionScheduling,
    /// `BoTiKVRPC`: 100 ms base, 2 s cap, equal jitter.
    TikvRpc,
}

#[derive(Clone, Debug)]
struct Op {
    key: Key,
    /// A read: keys scanned and how long its stream stays open.
    read: Option<(u64, Micros)>,
    started: Micros,
    backoff_total: Micros,
    attempts: u32,
    req_id: u64,
    in_flight: bool,
    /// The region and store the last try went to.
    sent_to: Option<(u64, u64)>,
}

/// A client thread's operation as it stands (for "why is this stuck?").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlightRequest {
    /// Client thread id.
    pub client: u32,
    /// The key written or read.
    pub key: Key,
    /// A read (coprocessor scan) rather than a write.
    pub read: bool,
    /// When the operation began, virtual µs.
    pub started: Micros,
    /// Tries so far.
    pub attempts: u32,
    /// Backoff slept so far, virtual µs.
    pub backoff_total: Micros,
    /// A request is on the wire (false while backing off or asking PD).
    pub on_the_wire: bool,
    /// Region and store of the last try, if any.
    pub sent_to: Option<(u64, u64)>,
}

/// What a thread waits for from PD before it can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    /// The region route of its key.
    Region,
    /// A timestamp for its write.
    Ts,
}

#[derive(Clone, Debug)]
struct Cached {
    meta: RegionMeta,
    leader_store: Option<u64>,
}

/// client-go's `RegionCache`: one per TiDB instance, shared by every
/// session, so what one thread learns (a new leader, a split, a region
/// gone) every thread uses at once.
#[derive(Clone, Debug, Default)]
struct RegionCache {
    regions: BTreeMap<u64, Cached>,
}

impl RegionCache {
    fn region_for(&self, key: Key) -> Option<&Cached> {
        self.regions.values().find(|r| r.meta.contains(key))
    }

    fn cached_leader(&self, key: Key) -> Option<u64> {
        self.region_for(key).and_then(|r| r.leader_store)
    }

    fn set_leader(&mut self, key: Key, store: u64) {
        if let Some(id) = self.region_for(key).map(|r| r.meta.id) {
            if let Some(r) = self.regions.get_mut(&id) {
                r.leader_store = Some(store);
            }
        }
    }

    /// Replaces every cached region older than one of `regions` and
    /// overlapping it by that region, led by `leader_store`.
    fn update_regions(&mut self, regions: Vec<RegionMeta>, leader_store: Option<u64>) {
        for r in regions {
            self.regions.retain(|_, c| {
                !(c.meta.overlaps(r.start_key, r.end_key) && c.meta.is_epoch_stale(&r))
            });
            if self
                .regions
                .values()
                .any(|c| c.meta.overlaps(r.start_key, r.end_key))
            {
                continue;
            }
            self.regions.insert(
                r.id,
                Cached {
                    meta: r,
                    leader_store,
                },
            );
        }
    }

    /// What PD answered for a key (`LocateKey`): the region replaces every
    /// cached one it overlaps.
    fn insert_located(&mut self, meta: RegionMeta, leader_store: Option<u64>) {
        self.regions
            .retain(|_, c| !c.meta.overlaps(meta.start_key, meta.end_key));
        self.regions.insert(meta.id, Cached { meta, leader_store });
    }

    fn invalidate(&mut self, key: Key) {
        if let Some(id) = self.region_for(key).map(|r| r.meta.id) {
            self.regions.remove(&id);
        }
    }
}

/// One client thread.
#[derive(Clone, Debug)]
pub struct Client {
    id: u32,
    rng: SimRng,
    op: Option<Op>,
    next_req_id: u64,
    /// The in-flight request's timeout.
    timeout: RequestTimeout,
    /// What the thread waits for from PD, if anything.
    awaiting: Option<Awaiting>,
}

/// All client threads, and the PD client of the TiDB instance they run in.
pub struct RawWorkload {
    /// Parameters.
    pub cfg: WorkloadConfig,
    clients: Vec<Client>,
    /// Each instance's region cache, shared by its threads.
    caches: Vec<RegionCache>,
    /// TSO and region lookups for every thread.
    pub pd_client: PdClient,
    /// Per-second stats, reset by the sampler.
    pub stats: WorkloadStats,
    /// The next key an insert writes (`keyspace` at start).
    next_insert_key: Key,
}

impl RawWorkload {
    /// Threads with a warm region cache (as TiDB has after loading the
    /// regions); their PD client's connection is client id `pd_client_id`
    /// (outside `0..clients`).
    pub fn new(cfg: WorkloadConfig, rng: &mut SimRng, pd: &Pd, pd_client_id: u32) -> RawWorkload {
        let regions: BTreeMap<u64, Cached> = pd
            .regions
            .values()
            .map(|r| {
                (
                    r.meta.id,
                    Cached {
                        meta: r.meta.clone(),
                        leader_store: r.leader.map(|l| l.store_id),
                    },
                )
            })
            .collect();
        let clients = (cfg.first_client..cfg.first_client + cfg.clients)
            .map(|id| Client {
                id,
                rng: rng.fork(),
                op: None,
                next_req_id: 0,
                timeout: RequestTimeout::default(),
                awaiting: None,
            })
            .collect();
        let caches = vec![RegionCache { regions }; cfg.tidb_instances.max(1) as usize];
        RawWorkload {
            next_insert_key: cfg.keyspace,
            cfg,
            clients,
            caches,
            pd_client: PdClient::new(pd_client_id),
            stats: WorkloadStats::default(),
        }
    }

    /// Every thread's current operation, oldest first.
    pub fn in_flight(&self) -> Vec<InFlightRequest> {
        let mut out: Vec<InFlightRequest> = self
            .clients
            .iter()
            .filter_map(|c| {
                let op = c.op.as_ref()?;
                Some(InFlightRequest {
                    client: c.id,
                    key: op.key,
                    read: op.read.is_some(),
                    started: op.started,
                    attempts: op.attempts,
                    backoff_total: op.backoff_total,
                    on_the_wire: op.in_flight,
                    sent_to: op.sent_to,
                })
            })
            .collect();
        out.sort_by_key(|r| (r.started, r.client));
        out
    }

    /// Starts every thread, staggered over the first think time.
    pub fn start(&mut self, ctx: &mut Ctx) {
        for c in &mut self.clients {
            let after = 1 + c.rng.below(self.cfg.think_time.max(MS));
            ctx.timer(Node::Client(c.id), after, Timer::ClientNext);
        }
    }

    /// A client timer fired.
    pub fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        if client == self.pd_client.id {
            return self.pd_client.on_timeout(ctx);
        }
        let cfg = self.cfg.clone();
        let pdc = &mut self.pd_client;
        let next_insert_key = &mut self.next_insert_key;
        let idx = client.wrapping_sub(self.cfg.first_client) as usize;
        let Some(c) = self.clients.get_mut(idx) else {
            return;
        };
        let n = self.caches.len();
        let cache = &mut self.caches[idx % n];
        match timer {
            Timer::ClientNext => {
                if c.op.is_none() {
                    if let Some(rm) = cfg.reads.filter(|rm| c.rng.below(100) < rm.read_ratio) {
                        let key = if c.rng.below(100) < rm.hot_read_ratio {
                            c.rng.range(rm.hot_range.0, rm.hot_range.1)
                        } else {
                            cfg.keyspace_start + c.rng.below(cfg.keyspace - cfg.keyspace_start)
                        };
                        let stream = if c.rng.below(1000) < rm.long_scan_permille {
                            rm.long_scan_duration
                        } else {
                            0
                        };
                        c.op = Some(Op {
                            key,
                            read: Some((rm.scan_keys, stream)),
                            started: ctx.now,
                            backoff_total: 0,
                            attempts: 0,
                            req_id: 0,
                            in_flight: false,
                            sent_to: None,
                        });
                        return c.send(ctx, pdc, cache);
                    }
                    let key = if cfg.insert_ratio > 0 && c.rng.below(100) < cfg.insert_ratio {
                        *next_insert_key += 1;
                        *next_insert_key - 1
                    } else if c.rng.below(100) < cfg.hot_write_ratio {
                        c.rng.range(cfg.hot_range.0, cfg.hot_range.1)
                    } else {
                        cfg.keyspace_start + c.rng.below(cfg.keyspace - cfg.keyspace_start)
                    };
                    c.op = Some(Op {
                        key,
                        read: None,
                        started: ctx.now,
                        backoff_total: 0,
                        attempts: 0,
                        req_id: 0,
                        in_flight: false,
                        sent_to: None,
                    });
                }
                c.send(ctx, pdc, cache);
            }
            Timer::ClientTimeout => {
                let in_flight = c.op.as_ref().is_some_and(|op| op.in_flight);
                if !c
                    .timeout
                    .fired(ctx, Node::Client(c.id), Timer::ClientTimeout, in_flight)
                {
                    return;
                }
                let Some(op) = &c.op else { return };
                ctx.count(crate::client::metrics::CLIENT_REQUEST_TIMEOUTS, 1);
                let key = op.key;
                // client-go invalidates the cached region and reloads it after backing off.
                cache.invalidate(key);
                c.backoff(ctx, &cfg, &mut self.stats, Backoff::TikvRpc);
            }
            _ => {}
        }
    }

    /// A response reached client `client` (or the PD client's connection).
    pub fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        let cfg = self.cfg.clone();
        if client == self.pd_client.id {
            for answer in self.pd_client.on_message(ctx, msg) {
                let id = match answer {
                    PdAnswer::Ts { client, .. } | PdAnswer::Region { client, .. } => client,
                };
                let idx = id.wrapping_sub(cfg.first_client) as usize;
                let n = self.caches.len();
                if let Some(c) = self.clients.get_mut(idx) {
                    let cache = &mut self.caches[idx % n];
                    c.on_pd_answer(ctx, &mut self.pd_client, cache, &cfg, answer);
                }
            }
            return;
        }
        let idx = client.wrapping_sub(self.cfg.first_client) as usize;
        let Some(c) = self.clients.get_mut(idx) else {
            return;
        };
        let n = self.caches.len();
        let cache = &mut self.caches[idx % n];
        let (req_id, region_id, result) = match msg {
            Msg::WriteResponse {
                req_id,
                region_id,
                result,
            } => (req_id, region_id, result),
            Msg::ReadResponse {
                req_id,
                region_id,
                result,
            } => (req_id, region_id, result.map(|_| ())),
            _ => return,
        };
        let Some(op) = &c.op else { return };
        if op.req_id != req_id || !op.in_flight {
            return;
        }
        match result {
            Ok(()) => {
                let latency = ctx.now - op.started;
                self.stats.completed += 1;
                *self.stats.completed_by_region.entry(region_id).or_insert(0) += 1;
                self.stats.latency.record(latency);
                self.stats
                    .latency_by_region
                    .entry(region_id)
                    .or_default()
                    .record(latency);
                ctx.count(
                    if op.read.is_some() {
                        crate::client::metrics::CLIENT_READS_COMPLETED
                    } else {
                        crate::client::metrics::CLIENT_WRITES_COMPLETED
                    },
                    1,
                );
                c.op = None;
                ctx.timer(Node::Client(c.id), cfg.think_time.max(1), Timer::ClientNext);
            }
            Err(RegionError::NotLeader {
                leader_store: Some(s),
            }) if cache.cached_leader(op.key) != Some(s) => {
                ctx.count(crate::client::metrics::CLIENT_NOT_LEADER, 1);
                let key = op.key;
                cache.set_leader(key, s);
                if let Some(op) = c.op.as_mut() {
                    op.in_flight = false;
                }
                ctx.timer(Node::Client(c.id), 1, Timer::ClientNext);
            }
            Err(RegionError::EpochNotMatch { current_regions }) => {
                // client-go `onRegionEpochNotMatch`: the cache takes the
                // store's current regions (led, as far as it knows, by the
                // store that answered) and the write goes again at once.
                ctx.count(crate::client::metrics::CLIENT_REGION_ERRORS, 1);
                let key = op.key;
                let store = cache.cached_leader(key);
                cache.update_regions(current_regions, store);
                if let Some(op) = c.op.as_mut() {
                    op.in_flight = false;
                }
                ctx.timer(Node::Client(c.id), 1, Timer::ClientNext);
            }
            Err(e) => {
                ctx.count(crate::client::metrics::CLIENT_REGION_ERRORS, 1);
                let key = op.key;
                if matches!(
                    e,
                    RegionError::NotLeader { .. } | RegionError::RegionNotFound
                ) {
                    cache.invalidate(key);
                }
                c.backoff(ctx, &cfg, &mut self.stats, Backoff::RegionScheduling);
            }
        }
    }
}

impl Client {
    /// Readies the current operation's write: the region route from PD
    /// when it is not cached (client-go `LocateKey`), then a timestamp from
    /// the TSO; the write goes once both are there ([`Client::on_pd_answer`]).
    fn send(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, cache: &RegionCache) {
        let Some(op) = &self.op else { return };
        let key = op.key;
        if cache.cached_leader(key).is_none() {
            self.awaiting = Some(Awaiting::Region);
            return pdc.locate(ctx, self.id, key);
        }
        self.awaiting = Some(Awaiting::Ts);
        pdc.get_ts(ctx, self.id);
    }

    /// PD answered what this thread waited for.
    fn on_pd_answer(
        &mut self,
        ctx: &mut Ctx,
        pdc: &mut PdClient,
        cache: &mut RegionCache,
        cfg: &WorkloadConfig,
        answer: PdAnswer,
    ) {
        match (self.awaiting.take(), answer) {
            (Some(Awaiting::Region), PdAnswer::Region { region, .. }) => match region {
                Some((meta, leader)) if leader.is_some() => {
                    cache.insert_located(meta, leader.map(|l| l.store_id));
                    self.send(ctx, pdc, cache);
                }
                // PD knows no leader yet: look again shortly.
                _ => ctx.timer(Node::Client(self.id), 100 * MS, Timer::ClientNext),
            },
            (Some(Awaiting::Ts), PdAnswer::Ts { ts, .. }) => self.write(ctx, pdc, cache, cfg, ts),
            (other, _) => self.awaiting = other,
        }
    }

    /// Sends the write at version `ts` to the cached leader.
    fn write(
        &mut self,
        ctx: &mut Ctx,
        pdc: &mut PdClient,
        cache: &RegionCache,
        cfg: &WorkloadConfig,
        ts: u64,
    ) {
        let Some(op) = &self.op else { return };
        let key = op.key;
        let Some((region_id, version, Some(store))) = cache
            .region_for(key)
            .map(|r| (r.meta.id, r.meta.version, r.leader_store))
        else {
            return self.send(ctx, pdc, cache);
        };
        self.next_req_id += 1;
        let req_id = self.next_req_id;
        let op = self.op.as_mut().expect("op exists");
        op.req_id = req_id;
        op.attempts += 1;
        op.in_flight = true;
        op.sent_to = Some((region_id, store));
        if let Some((keys, stream)) = op.read {
            let req = ReadRequest {
                client: self.id,
                req_id,
                region_id,
                region_version: version,
                key,
                keys,
                ts,
                stream_duration: stream,
            };
            ctx.send(Node::Client(self.id), Node::Store(store), Msg::Read(req));
            return self.timeout.arm(
                ctx,
                Node::Client(self.id),
                cfg.request_timeout + stream,
                Timer::ClientTimeout,
            );
        }
        let req = WriteRequest {
            client: self.id,
            req_id,
            region_id,
            key,
            ts,
            value_len: cfg.value_len,
        };
        ctx.send(Node::Client(self.id), Node::Store(store), Msg::Write(req));
        self.timeout.arm(
            ctx,
            Node::Client(self.id),
            cfg.request_timeout,
            Timer::ClientTimeout,
        );
    }

    fn backoff(
        &mut self,
        ctx: &mut Ctx,
        cfg: &WorkloadConfig,
        stats: &mut WorkloadStats,
        kind: Backoff,
    ) {
        let Some(op) = self.op.as_mut() else { return };
        op.in_flight = false;
        let n = op.attempts.min(16);
        let sleep = match kind {
            Backoff::RegionScheduling => ((2 * MS) << n.saturating_sub(1)).min(500 * MS),
            Backoff::TikvRpc => {
                let v = ((100 * MS) << n.saturating_sub(1)).min(2_000 * MS);
                v / 2 + self.rng.below(v / 2 + 1)
            }
        };
        op.backoff_total += sleep;
        if op.backoff_total > cfg.max_backoff {
            ctx.count(crate::client::metrics::CLIENT_OPS_FAILED, 1);
            stats.failed += 1;
            ctx.log(
                "client",
                Level::Warn,
                None,
                None,
                format!(
                    "client {}: write of key {} failed after {} attempts: backoff budget exceeded",
                    self.id, op.key, op.attempts
                ),
            );
            self.op = None;
            ctx.timer(
                Node::Client(self.id),
                cfg.think_time.max(1),
                Timer::ClientNext,
            );
            return;
        }
        ctx.timer(Node::Client(self.id), sleep, Timer::ClientNext);
    }
}

impl super::Workload for RawWorkload {
    fn owns(&self, client: u32) -> bool {
        ((client.wrapping_sub(self.cfg.first_client)) as usize) < self.clients.len()
            || client == self.pd_client.id
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        RawWorkload::on_message(self, ctx, client, msg)
    }

    fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        RawWorkload::on_timer(self, ctx, client, timer)
    }

    fn sample_second(
        &mut self,
        _t_ms: u64,
        _series: &mut crate::kernel::metrics::SeriesMap,
    ) -> WorkloadStats {
        std::mem::take(&mut self.stats)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
