//! The health controller of a store (TiKV `components/health_controller`):
//! the inspect writes that measure the disk write path, and the slow score
//! computed from them, which the store heartbeat carries to PD.

pub mod slow_score;

use slow_score::{SlowScore, INSPECT_INTERVAL};

use crate::kernel::effect::Node;
use crate::kernel::metrics::SeriesFamily;
use crate::proto::{Ctx, Effect, Timer};

/// The store's slow score, 1..=100 (`slow_score_store_N`).
pub const SLOW_SCORE: SeriesFamily = SeriesFamily::per_store("slow_score");

/// Disk-write tokens of inspect writes carry this bit, so that the store
/// routes their completions here and not to raftstore.
pub const INSPECT_TOKEN_BIT: u64 = 1 << 63;

/// One store's health controller.
#[derive(Clone, Debug, Default)]
pub struct HealthController {
    /// The slow score.
    pub slow_score: SlowScore,
    next_token: u64,
}

impl HealthController {
    /// True when `token` is one of this controller's inspect writes.
    pub fn owns_token(token: u64) -> bool {
        token & INSPECT_TOKEN_BIT != 0
    }

    /// The inspect tick (`inspect-interval`): issues an inspect write when
    /// the slow score asks for one, and arms the next tick.
    pub fn on_inspect_tick(&mut self, ctx: &mut Ctx, store_id: u64) {
        if self.slow_score.on_tick(ctx.now) {
            self.next_token += 1;
            ctx.out.push(Effect::DiskWrite {
                store: store_id,
                token: INSPECT_TOKEN_BIT | self.next_token,
                bytes: 0,
            });
        }
        ctx.timer(Node::Store(store_id), INSPECT_INTERVAL, Timer::InspectTick);
    }

    /// An inspect write became durable.
    pub fn on_inspect_done(&mut self, ctx: &Ctx) {
        self.slow_score.on_inspect_done(ctx.now);
    }

    /// The process crashed: the score starts over.
    pub fn reset(&mut self) {
        self.slow_score = SlowScore::default();
    }
}
