//! A TiCDC capture consuming the stores' change feeds (TiCDC `cdc/kv/`
//! region worker and `cdc/puller/` sorter), one feed per region.
//!
//! - Each region leader's CDC endpoint sends its committed rows and then
//!   the region's resolved-ts (`ChangeDataEvent`). The consumer keeps the
//!   rows in a sorter and emits, in `commit_ts` order, those at or below
//!   the region's resolved-ts: nothing is emitted past it, so a pinned
//!   resolved-ts stalls the feed. A row repeated by a new leader (the same
//!   key and commit_ts) is dropped.
//! - Safety: a new row whose `commit_ts` is at or below a resolved-ts the
//!   region already passed is a `cdc-late-row` violation (TiCDC panics:
//!   "The CommitTs must be greater than the resolvedTs").
//! - Lock resolving (TiCDC `regionWorker.resolveLock`): a region whose
//!   resolved-ts has not moved for `resolveLockInterval` (20 s) is
//!   resolved: "region not receiving resolved event from tikv or resolved
//!   ts is not pushing for too long time, try to resolve lock". The capture
//!   scans the region's locks (`ScanLock` up to a fresh TSO), checks each
//!   transaction's primary (`CheckTxnStatus`: an expired TTL is rolled
//!   back) and resolves the region's locks of every transaction that is
//!   committed or rolled back (`ResolveLock`). A live transaction, its TTL
//!   renewed by its heartbeats, is left alone.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::pd_client::{PdAnswer, PdClient};
use super::{RequestTimeout, WorkloadStats};
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::{record, Counter, SeriesFamily, SeriesMap};
use crate::kernel::time::{Micros, MS, SEC};
use crate::kernel::violation::Violation;
use crate::proto::{CdcRow, Ctx, Key, Msg, Timer, TxnCommand, TxnError, TxnOk, TxnStatus};

/// Rows the capture emitted downstream.
pub const CDC_ROWS_EMITTED: Counter = Counter::new("cdc_rows_emitted");
/// Locks the capture resolved (`ResolveLock` requests it sent).
pub const CDC_LOCKS_RESOLVED: Counter = Counter::new("cdc_locks_resolved");
/// How far the feed of a region is behind the wall (virtual) clock, ms
/// (`cdc_lag_ms_region_N`, TiCDC's checkpoint lag per region).
pub const CDC_LAG_MS: SeriesFamily = SeriesFamily::per_region("cdc_lag_ms");
/// Rows emitted downstream in the last second (`cdc_rows_per_sec`).
pub const CDC_ROWS_PER_SEC: SeriesFamily = SeriesFamily::cluster("cdc_rows_per_sec");

/// TiCDC's `resolveLockInterval`.
pub const RESOLVE_LOCK_INTERVAL: Micros = 20 * SEC;
/// How often the capture looks for regions to resolve.
const CHECK_INTERVAL: Micros = 5 * SEC;
/// A feed with no event for this long is gone (its region split or merged away).
const FEED_GONE_AFTER: Micros = 30 * SEC;
const REQUEST_TIMEOUT: Micros = 3 * SEC;

/// One region's feed.
#[derive(Clone, Debug, Default)]
pub struct RegionFeed {
    /// The newest resolved-ts received (TSO).
    pub resolved_ts: u64,
    /// When it last advanced, virtual µs.
    pub last_advanced: Micros,
    /// When the last event arrived, virtual µs.
    pub last_event: Micros,
    /// The leader's store that sent it.
    pub store: u64,
    /// Rows received, not yet emitted: (commit_ts, key) → start_ts.
    pub sorter: BTreeMap<(u64, Key), u64>,
    /// Rows emitted.
    pub emitted: u64,
    /// When the capture last tried to resolve its locks, virtual µs.
    pub last_resolve: Micros,
}

#[derive(Clone, Debug)]
enum Step {
    Ts {
        region: u64,
    },
    Scan {
        region: u64,
        store: u64,
        max_version: u64,
    },
    Check {
        region: u64,
        store: u64,
        max_version: u64,
    },
    Resolve {
        region: u64,
        store: u64,
        max_version: u64,
    },
}

/// The TiCDC capture (see the module docs).
pub struct CdcConsumer {
    /// Its client id (where the stores send their feeds).
    pub id: u32,
    pd_client: PdClient,
    /// Feeds by region.
    pub feeds: BTreeMap<u64, RegionFeed>,
    /// Rows emitted recently, (commit_ts, key), to drop repeats.
    emitted: BTreeSet<(u64, Key)>,
    violations: Vec<Violation>,
    step: Option<Step>,
    /// Transactions found by the last scan: (start_ts, primary).
    txns: VecDeque<(u64, Key)>,
    pending_resolve: Option<(u64, u64)>,
    next_req: u64,
    timeout: RequestTimeout,
    routes: BTreeMap<Key, (Key, u64, u64)>,
    rows_this_second: u64,
}

impl CdcConsumer {
    /// A capture at client id `id` with PD client `pd_client_id`.
    pub fn new(id: u32, pd_client_id: u32) -> CdcConsumer {
        CdcConsumer {
            id,
            pd_client: PdClient::new(pd_client_id),
            feeds: BTreeMap::new(),
            emitted: BTreeSet::new(),
            violations: Vec::new(),
            step: None,
            txns: VecDeque::new(),
            pending_resolve: None,
            next_req: 0,
            timeout: RequestTimeout::default(),
            routes: BTreeMap::new(),
            rows_this_second: 0,
        }
    }

    /// Arms the lock resolver's check.
    pub fn start(&self, ctx: &mut Ctx) {
        ctx.timer(Node::Client(self.id), CHECK_INTERVAL, Timer::ClientNext);
    }

    fn node(&self) -> Node {
        Node::Client(self.id)
    }

    fn on_event(
        &mut self,
        ctx: &mut Ctx,
        from_store: u64,
        region_id: u64,
        rows: Vec<CdcRow>,
        resolved_ts: Option<u64>,
    ) {
        let feed = self.feeds.entry(region_id).or_insert_with(|| RegionFeed {
            last_advanced: ctx.now,
            ..RegionFeed::default()
        });
        feed.store = from_store;
        feed.last_event = ctx.now;
        for r in rows {
            if self.emitted.contains(&(r.commit_ts, r.key))
                || feed.sorter.contains_key(&(r.commit_ts, r.key))
            {
                continue; // repeated by a new leader
            }
            if r.commit_ts <= feed.resolved_ts {
                if self.violations.len() < 100 {
                    self.violations.push(Violation {
                        t_ms: ctx.now / MS,
                        invariant: "cdc-late-row",
                        region: region_id,
                        details: format!(
                            "row of key {} committed at {} (txn {}) arrived after resolved-ts {} passed it",
                            r.key, r.commit_ts, r.start_ts, feed.resolved_ts
                        ),
                    });
                }
                continue;
            }
            feed.sorter.insert((r.commit_ts, r.key), r.start_ts);
        }
        if let Some(ts) = resolved_ts {
            if ts > feed.resolved_ts {
                feed.resolved_ts = ts;
                feed.last_advanced = ctx.now;
                let rest = feed.sorter.split_off(&(ts + 1, 0));
                let out = std::mem::replace(&mut feed.sorter, rest);
                feed.emitted += out.len() as u64;
                self.rows_this_second += out.len() as u64;
                ctx.count(CDC_ROWS_EMITTED, out.len() as u64);
                for ((c, k), _) in out {
                    self.emitted.insert((c, k));
                }
            }
        }
        // Keep two minutes of emitted rows to drop repeats.
        let horizon = ((ctx.now / MS).saturating_sub(120_000) + 1) << 18;
        self.emitted = self.emitted.split_off(&(horizon, 0));
    }

    fn send(&mut self, ctx: &mut Ctx, store: u64, region_id: u64, cmd: TxnCommand) {
        self.next_req += 1;
        let node = self.node();
        self.timeout
            .arm(ctx, node, REQUEST_TIMEOUT, Timer::ClientTimeout);
        ctx.send(
            node,
            Node::Store(store),
            Msg::TxnRequest {
                client: self.id,
                req_id: self.next_req,
                region_id,
                cmd,
            },
        );
    }

    fn on_check(&mut self, ctx: &mut Ctx) {
        ctx.timer(self.node(), CHECK_INTERVAL, Timer::ClientNext);
        let now = ctx.now;
        self.feeds
            .retain(|_, f| now < f.last_event + FEED_GONE_AFTER);
        if self.step.is_some() {
            return;
        }
        let stuck = self
            .feeds
            .iter()
            .filter(|(_, f)| {
                now >= f.last_advanced + RESOLVE_LOCK_INTERVAL
                    && now >= f.last_resolve + RESOLVE_LOCK_INTERVAL / 2
            })
            .min_by_key(|(_, f)| f.last_advanced)
            .map(|(&r, _)| r);
        let Some(region) = stuck else {
            return;
        };
        if let Some(f) = self.feeds.get_mut(&region) {
            f.last_resolve = now;
        }
        ctx.log(
            "ticdc",
            Level::Warn,
            None,
            Some(region),
            "region not receiving resolved event from tikv or resolved ts is not pushing for too long time, try to resolve lock".to_string(),
        );
        self.step = Some(Step::Ts { region });
        let id = self.id;
        self.pd_client.get_ts(ctx, id);
    }

    fn on_ts(&mut self, ctx: &mut Ctx, ts: u64) {
        let Some(Step::Ts { region }) = self.step.clone() else {
            return;
        };
        let Some(store) = self.feeds.get(&region).map(|f| f.store) else {
            self.step = None;
            return;
        };
        self.step = Some(Step::Scan {
            region,
            store,
            max_version: ts,
        });
        self.send(
            ctx,
            store,
            region,
            TxnCommand::ScanLock {
                max_version: ts,
                limit: 1024,
            },
        );
    }

    fn check_next(&mut self, ctx: &mut Ctx, region: u64, store: u64, max_version: u64) {
        let Some(&(start_ts, primary)) = self.txns.front() else {
            self.step = None;
            return;
        };
        self.step = Some(Step::Check {
            region,
            store,
            max_version,
        });
        match self
            .routes
            .range(..=primary)
            .next_back()
            .map(|(_, v)| *v)
            .filter(|&(end, _, _)| primary < end)
        {
            Some((_, p_region, p_store)) => self.send(
                ctx,
                p_store,
                p_region,
                TxnCommand::CheckTxnStatus {
                    primary,
                    lock_ts: start_ts,
                    caller_start_ts: max_version,
                    current_ts: max_version,
                    rollback_if_not_exist: true,
                },
            ),
            None => {
                let id = self.id;
                self.pd_client.locate(ctx, id, primary);
            }
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx, result: Result<TxnOk, TxnError>) {
        let Some(step) = self.step.clone() else {
            return;
        };
        match (step, result) {
            (
                Step::Scan {
                    region,
                    store,
                    max_version,
                },
                Ok(ok),
            ) => {
                let mut txns: BTreeMap<u64, Key> = BTreeMap::new();
                for l in &ok.locks {
                    txns.entry(l.lock_ts).or_insert(l.primary);
                }
                self.txns = txns.into_iter().collect();
                self.check_next(ctx, region, store, max_version);
            }
            (
                Step::Check {
                    region,
                    store,
                    max_version,
                },
                Ok(ok),
            ) => {
                let Some(&(start_ts, _)) = self.txns.front() else {
                    self.step = None;
                    return;
                };
                let commit_ts = match ok.txn_status {
                    Some(TxnStatus::Committed { commit_ts }) => Some(commit_ts),
                    Some(
                        TxnStatus::TtlExpire | TxnStatus::RolledBack | TxnStatus::LockNotExist,
                    ) => Some(0),
                    _ => None,
                };
                match commit_ts {
                    Some(c) => {
                        ctx.log(
                            "ticdc",
                            Level::Info,
                            None,
                            Some(region),
                            format!("resolve lock of txn {start_ts}: {:?}", ok.txn_status),
                        );
                        self.pending_resolve = Some((start_ts, c));
                        self.step = Some(Step::Resolve {
                            region,
                            store,
                            max_version,
                        });
                        ctx.count(CDC_LOCKS_RESOLVED, 1);
                        self.send(
                            ctx,
                            store,
                            region,
                            TxnCommand::ResolveLock {
                                start_ts,
                                commit_ts: c,
                                keys: Vec::new(),
                            },
                        );
                    }
                    None => {
                        self.txns.pop_front();
                        self.check_next(ctx, region, store, max_version);
                    }
                }
            }
            (
                Step::Resolve {
                    region,
                    store,
                    max_version,
                },
                _,
            ) => {
                self.txns.pop_front();
                self.pending_resolve = None;
                self.check_next(ctx, region, store, max_version);
            }
            (_, Err(_)) => {
                // A region error or a failed check: try again at the next round.
                self.routes.clear();
                self.step = None;
            }
            _ => self.step = None,
        }
    }
}

impl super::Workload for CdcConsumer {
    fn owns(&self, client: u32) -> bool {
        client == self.id || client == self.pd_client.id
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        if client == self.pd_client.id {
            for answer in self.pd_client.on_message(ctx, msg) {
                match answer {
                    PdAnswer::Ts { ts, .. } => self.on_ts(ctx, ts),
                    PdAnswer::Region { region, .. } => {
                        if let (
                            Some((meta, Some(leader))),
                            Some(Step::Check {
                                region: r,
                                store,
                                max_version,
                            }),
                        ) = (region, self.step.clone())
                        {
                            self.routes
                                .insert(meta.start_key, (meta.end_key, meta.id, leader.store_id));
                            self.check_next(ctx, r, store, max_version);
                        } else {
                            self.step = None;
                        }
                    }
                }
            }
            return;
        }
        match msg {
            Msg::ChangeDataEvent {
                from_store,
                region_id,
                rows,
                resolved_ts,
            } => self.on_event(ctx, from_store, region_id, rows, resolved_ts),
            Msg::TxnResponse { req_id, result } if req_id == self.next_req => {
                self.on_response(ctx, result)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        if client == self.pd_client.id {
            if timer == Timer::PdClientTimeout {
                self.pd_client.on_timeout(ctx);
            }
            return;
        }
        match timer {
            Timer::ClientNext => self.on_check(ctx),
            Timer::ClientTimeout => {
                let node = self.node();
                let busy = matches!(
                    self.step,
                    Some(Step::Scan { .. } | Step::Check { .. } | Step::Resolve { .. })
                );
                if self.timeout.fired(ctx, node, Timer::ClientTimeout, busy) {
                    self.step = None;
                    self.routes.clear();
                }
            }
            _ => {}
        }
    }

    fn sample_second(&mut self, t_ms: u64, series: &mut SeriesMap) -> WorkloadStats {
        for (&r, f) in &self.feeds {
            if f.resolved_ts > 0 {
                let lag = t_ms.saturating_sub(crate::resolved_ts::endpoint::tso_ms(f.resolved_ts));
                record(series, CDC_LAG_MS.of(r), t_ms, lag as f64);
            }
        }
        record(
            series,
            CDC_ROWS_PER_SEC.key(),
            t_ms,
            self.rows_this_second as f64,
        );
        self.rows_this_second = 0;
        WorkloadStats::default()
    }

    fn violations(&self) -> Vec<Violation> {
        self.violations.clone()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
