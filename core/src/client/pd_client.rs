//! A TiDB instance's PD client (tikv/pd `client/`, as client-go uses it):
//! timestamps from PD's TSO and region routes, over the network.
//!
//! - **TSO**: as the PD client's `tsoDispatcher` with its defaults (batch
//!   wait 0, one RPC in flight on one stream): requests that arrive while a
//!   `TsoRequest` is in flight wait and go together in the next one, as one
//!   `TsoRequest{count}`. PD answers with the largest timestamp of the batch;
//!   request `i` of the batch gets `logical - count + 1 + i`.
//! - **Regions**: a cache miss asks PD (`QueryRegion`, the router client
//!   batching pending `GetRegion` lookups into one stream request).
//! - A batch with no answer within [`PD_CLIENT_TIMEOUT`] (the PD client's
//!   3 s `option.Timeout`) is sent again.
//!
//! The answers are handed back to the workload, which resumes the threads
//! that waited ([`PdAnswer`]).

use crate::kernel::effect::Node;
use crate::kernel::time::{Micros, SEC};
use crate::proto::{Ctx, Key, Msg, PeerMeta, RegionMeta, Timer};

use super::RequestTimeout;

/// The PD client's request timeout (`option.Timeout`, 3 s).
pub const PD_CLIENT_TIMEOUT: Micros = 3 * SEC;

/// An answer for a client thread that waited on PD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PdAnswer {
    /// A timestamp from the TSO.
    Ts {
        /// The thread that asked.
        client: u32,
        /// The timestamp.
        ts: u64,
    },
    /// The region holding `key` and its leader, as PD knows them (`None`
    /// when PD knows no region for the key).
    Region {
        /// The thread that asked.
        client: u32,
        /// The key it asked about.
        key: Key,
        /// Region and leader.
        region: Option<(RegionMeta, Option<PeerMeta>)>,
    },
}

/// One TiDB instance's PD client.
#[derive(Clone, Debug)]
pub struct PdClient {
    /// The client id of the PD connection (its network node).
    pub id: u32,
    tso_waiting: Vec<u32>,
    tso_in_flight: Vec<u32>,
    region_waiting: Vec<(u32, Key)>,
    region_in_flight: Vec<(u32, Key)>,
    /// Id of the last request sent (an answer to an older one is stale).
    next_req_id: u64,
    tso_req_id: u64,
    region_req_id: u64,
    timeout: RequestTimeout,
}

impl PdClient {
    /// A PD client whose connection is client id `id`.
    pub fn new(id: u32) -> PdClient {
        PdClient {
            id,
            tso_waiting: Vec::new(),
            tso_in_flight: Vec::new(),
            region_waiting: Vec::new(),
            region_in_flight: Vec::new(),
            next_req_id: 0,
            tso_req_id: 0,
            region_req_id: 0,
            timeout: RequestTimeout::default(),
        }
    }

    fn node(&self) -> Node {
        Node::Client(self.id)
    }

    /// Thread `client` waits for one timestamp.
    pub fn get_ts(&mut self, ctx: &mut Ctx, client: u32) {
        self.tso_waiting.push(client);
        self.flush_tso(ctx);
    }

    /// Thread `client` waits for the region of `key`.
    pub fn locate(&mut self, ctx: &mut Ctx, client: u32, key: Key) {
        self.region_waiting.push((client, key));
        self.flush_regions(ctx);
    }

    fn flush_tso(&mut self, ctx: &mut Ctx) {
        if !self.tso_in_flight.is_empty() || self.tso_waiting.is_empty() {
            return;
        }
        self.tso_in_flight = std::mem::take(&mut self.tso_waiting);
        self.next_req_id += 1;
        self.tso_req_id = self.next_req_id;
        ctx.send(
            self.node(),
            Node::Pd,
            Msg::TsoRequest {
                req_id: self.tso_req_id,
                count: self.tso_in_flight.len() as u32,
            },
        );
        self.arm(ctx);
    }

    fn flush_regions(&mut self, ctx: &mut Ctx) {
        if !self.region_in_flight.is_empty() || self.region_waiting.is_empty() {
            return;
        }
        self.region_in_flight = std::mem::take(&mut self.region_waiting);
        let keys = self.region_in_flight.iter().map(|(_, k)| *k).collect();
        self.next_req_id += 1;
        self.region_req_id = self.next_req_id;
        ctx.send(
            self.node(),
            Node::Pd,
            Msg::QueryRegion {
                req_id: self.region_req_id,
                keys,
            },
        );
        self.arm(ctx);
    }

    fn arm(&mut self, ctx: &mut Ctx) {
        let node = self.node();
        self.timeout
            .arm(ctx, node, PD_CLIENT_TIMEOUT, Timer::PdClientTimeout);
    }

    /// PD's answer reached the client; returns what each waiting thread gets.
    pub fn on_message(&mut self, ctx: &mut Ctx, msg: Msg) -> Vec<PdAnswer> {
        let mut answers = Vec::new();
        match msg {
            Msg::TsoResponse {
                req_id,
                last,
                count,
            } if req_id == self.tso_req_id && !self.tso_in_flight.is_empty() => {
                let batch = std::mem::take(&mut self.tso_in_flight);
                debug_assert_eq!(batch.len() as u32, count);
                let first = last + 1 - count as u64;
                for (i, client) in batch.into_iter().enumerate() {
                    answers.push(PdAnswer::Ts {
                        client,
                        ts: first + i as u64,
                    });
                }
                self.flush_tso(ctx);
            }
            Msg::QueryRegionResponse { req_id, regions }
                if req_id == self.region_req_id && !self.region_in_flight.is_empty() =>
            {
                let batch = std::mem::take(&mut self.region_in_flight);
                for ((client, key), region) in batch.into_iter().zip(regions) {
                    answers.push(PdAnswer::Region {
                        client,
                        key,
                        region,
                    });
                }
                self.flush_regions(ctx);
            }
            _ => {}
        }
        answers
    }

    /// The timeout timer fired: a batch still unanswered is sent again.
    pub fn on_timeout(&mut self, ctx: &mut Ctx) {
        let node = self.node();
        let waiting = !self.tso_in_flight.is_empty() || !self.region_in_flight.is_empty();
        if !self
            .timeout
            .fired(ctx, node, Timer::PdClientTimeout, waiting)
        {
            return;
        }
        ctx.count(super::metrics::PD_CLIENT_TIMEOUTS, 1);
        let mut tso = std::mem::take(&mut self.tso_in_flight);
        tso.append(&mut self.tso_waiting);
        self.tso_waiting = tso;
        let mut regions = std::mem::take(&mut self.region_in_flight);
        regions.append(&mut self.region_waiting);
        self.region_waiting = regions;
        self.flush_tso(ctx);
        self.flush_regions(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::effect::Effect;
    use crate::kernel::log::LogSink;
    use crate::kernel::metrics::Counters;
    use crate::kernel::rng::SimRng;

    fn sent(out: &mut Vec<crate::proto::Effect>) -> Vec<Msg> {
        out.drain(..)
            .filter_map(|e| match e {
                Effect::Send { msg, .. } => Some(msg),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn timestamps_asked_while_a_batch_is_in_flight_go_together_in_the_next() {
        let (mut rng, log, mut counters, mut out) = (
            SimRng::new(1),
            LogSink::default(),
            Counters::new(),
            Vec::new(),
        );
        let mut ctx = Ctx {
            now: 0,
            rng: &mut rng,
            log: &log,
            out: &mut out,
            counters: &mut counters,
        };
        let mut pdc = PdClient::new(99);
        pdc.get_ts(&mut ctx, 1);
        pdc.get_ts(&mut ctx, 2);
        pdc.get_ts(&mut ctx, 3);
        pdc.get_ts(&mut ctx, 4);
        let first = sent(ctx.out);
        assert!(
            matches!(first.as_slice(), [Msg::TsoRequest { count: 1, .. }]),
            "{first:?}"
        );
        let Msg::TsoRequest { req_id, .. } = first[0] else {
            unreachable!()
        };
        let answers = pdc.on_message(
            &mut ctx,
            Msg::TsoResponse {
                req_id,
                last: 500,
                count: 1,
            },
        );
        assert_eq!(answers, vec![PdAnswer::Ts { client: 1, ts: 500 }]);
        let second = sent(ctx.out);
        let [Msg::TsoRequest { req_id, count: 3 }] = second.as_slice() else {
            panic!("the three waiting went as one batch: {second:?}");
        };
        // A stale answer (to an older request) changes nothing.
        assert!(pdc
            .on_message(
                &mut ctx,
                Msg::TsoResponse {
                    req_id: req_id - 1,
                    last: 1,
                    count: 3
                }
            )
            .is_empty());
        let answers = pdc.on_message(
            &mut ctx,
            Msg::TsoResponse {
                req_id: *req_id,
                last: 900,
                count: 3,
            },
        );
        assert_eq!(
            answers,
            vec![
                PdAnswer::Ts { client: 2, ts: 898 },
                PdAnswer::Ts { client: 3, ts: 899 },
                PdAnswer::Ts { client: 4, ts: 900 },
            ]
        );
    }
}
