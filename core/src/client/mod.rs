//! Clients: the workloads that drive the cluster, as TiDB and client-go do.
//!
//! [`raw`] runs closed-loop threads writing raw `Put`s (a TPCC-like write
//! load); [`txn`] runs TiDB sessions with pessimistic and optimistic
//! Percolator transactions; [`pipelined`] runs small transactions, a
//! pipelined (large) transaction and stale reads; [`cdc`] is a TiCDC
//! capture consuming the stores' change feeds. All are [`Workload`]s: the simulator routes each
//! client's messages and timers to the workload that owns the client id,
//! and samples every workload once per virtual second. Each workload is one
//! TiDB instance with its [`pd_client::PdClient`]: timestamps and region
//! routes come from PD over the network.

pub mod cdc;
pub mod metrics;
pub mod pd_client;
pub mod pipelined;
pub mod raw;
pub mod txn;

use std::any::Any;
use std::collections::BTreeMap;

use crate::kernel::effect::Node;
use crate::kernel::metrics::{LatencyHistogram, SeriesMap};
use crate::kernel::time::Micros;
use crate::kernel::violation::Violation;
use crate::proto::{Ctx, Msg, Timer};

/// The client id of the first workload's PD client connection (above
/// every thread or session id a workload uses).
pub const FIRST_PD_CLIENT_ID: u32 = 1 << 20;

/// A set of client threads or sessions the simulator drives.
pub trait Workload {
    /// True when client id `client` belongs to this workload.
    fn owns(&self, client: u32) -> bool;
    /// A message reached client `client`.
    fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg);
    /// A timer of client `client` fired.
    fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer);
    /// Ends the virtual second at `t_ms`: returns the operations completed
    /// and failed during it (the simulator's `qps` and latency series) and
    /// adds the workload's own series to `series`.
    fn sample_second(&mut self, t_ms: u64, series: &mut SeriesMap) -> WorkloadStats;
    /// Properties of the workload's own that failed (for example an audit
    /// that read a wrong total).
    fn violations(&self) -> Vec<Violation> {
        Vec::new()
    }
    /// For a scenario that changes its own workload while running.
    fn as_any(&self) -> &dyn Any;
    /// For a scenario that changes its own workload while running.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A client's request timeout with one re-armed timer: instead of one timer
/// per request (almost all of which would fire for nothing), a client keeps a
/// single timer and, when it fires early, re-arms it for the current deadline.
#[derive(Clone, Debug, Default)]
pub struct RequestTimeout {
    /// When the in-flight request times out, virtual µs.
    deadline: Micros,
    /// When the timer fires next, if armed.
    timer_at: Option<Micros>,
}

impl RequestTimeout {
    /// A request was sent: it times out `after` µs from now; `timer` is set
    /// at `node` unless one is already pending.
    pub fn arm(&mut self, ctx: &mut Ctx, node: Node, after: Micros, timer: Timer) {
        self.deadline = ctx.now + after;
        if self.timer_at.is_none() {
            self.timer_at = Some(self.deadline);
            ctx.timer(node, after, timer);
        }
    }

    /// The timer fired. Returns true when a request is `in_flight` and its
    /// deadline has passed; re-arms the timer when the deadline is still ahead.
    pub fn fired(&mut self, ctx: &mut Ctx, node: Node, timer: Timer, in_flight: bool) -> bool {
        self.timer_at = None;
        if !in_flight {
            return false;
        }
        if ctx.now < self.deadline {
            self.timer_at = Some(self.deadline);
            ctx.timer(node, self.deadline - ctx.now, timer);
            return false;
        }
        true
    }
}

/// Completions during the current second, for the QPS and latency series.
#[derive(Clone, Debug, Default)]
pub struct WorkloadStats {
    /// Completed writes per region in the current second.
    pub completed_by_region: BTreeMap<u64, u64>,
    /// Completed writes in the current second.
    pub completed: u64,
    /// Failed operations in the current second.
    pub failed: u64,
    /// Latency of operations completed in the current second (from first try to success), µs.
    pub latency: LatencyHistogram,
    /// The same, per region.
    pub latency_by_region: BTreeMap<u64, LatencyHistogram>,
}

impl WorkloadStats {
    /// Adds `other`'s completions and latencies to these.
    pub fn merge(&mut self, other: WorkloadStats) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.latency.merge(&other.latency);
        for (r, n) in other.completed_by_region {
            *self.completed_by_region.entry(r).or_insert(0) += n;
        }
        for (r, h) in other.latency_by_region {
            self.latency_by_region.entry(r).or_default().merge(&h);
        }
    }
}
