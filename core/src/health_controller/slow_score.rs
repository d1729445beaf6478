//! TiKV's slow score, as `components/health_controller/src/slow_score.rs` computes it.
//!
//! Every `inspect-interval` (100 ms) the store sends a tiny inspect write down its
//! disk write path. An inspect still unfinished at the next tick, or that took
//! longer than the inspect interval, counts as a timeout. Every `round_ticks` (30)
//! ticks the score is updated: with timeouts it grows by the timeout ratio
//! (`score *= 1 + ratio`, so a fully hung disk doubles it each round), capped at
//! 100; without timeouts it decays towards 1 by `100 · elapsed / min_ttr`
//! (`min_ttr` = 5 min). All arithmetic is integer (score kept in hundredths).

use crate::kernel::time::{Micros, MS, SEC};

/// `raftstore.inspect-interval`: 100 ms.
pub const INSPECT_INTERVAL: Micros = 100 * MS;
/// Ticks per score update round (TiKV `round_ticks`, 30).
pub const ROUND_TICKS: u64 = 30;
/// `min_ttr`: time to recover from 100 to 1 without timeouts (5 min).
pub const MIN_TTR: Micros = 300 * SEC;

/// Slow-score state of one store.
#[derive(Clone, Debug)]
pub struct SlowScore {
    /// Score × 100 (100 ..= 10_000).
    value_x100: u64,
    timeouts: u64,
    total: u64,
    ticks: u64,
    /// Issue time of the inspect write in flight, if any.
    pub inflight: Option<Micros>,
}

impl Default for SlowScore {
    fn default() -> Self {
        SlowScore {
            value_x100: 100,
            timeouts: 0,
            total: 0,
            ticks: 0,
            inflight: None,
        }
    }
}

impl SlowScore {
    /// The score, 1..=100.
    pub fn score(&self) -> u64 {
        self.value_x100 / 100
    }

    /// An inspect write finished at `now`.
    pub fn on_inspect_done(&mut self, now: Micros) {
        if let Some(issued) = self.inflight.take() {
            self.total += 1;
            if now - issued > INSPECT_INTERVAL {
                self.timeouts += 1;
            }
        }
    }

    /// The inspect tick at `now`. Returns true if a new inspect write should be issued.
    pub fn on_tick(&mut self, now: Micros) -> bool {
        self.ticks += 1;
        let issue = match self.inflight {
            Some(issued) if now - issued >= INSPECT_INTERVAL => {
                // Last tick not finished: recorded as a timeout (TiKV `last_tick_finished`).
                self.total += 1;
                self.timeouts += 1;
                false
            }
            Some(_) => false,
            None => true,
        };
        if self.ticks % ROUND_TICKS == 0 {
            self.update_round();
        }
        if issue {
            self.inflight = Some(now);
        }
        issue
    }

    fn update_round(&mut self) {
        if self.timeouts == 0 {
            let elapsed = ROUND_TICKS * INSPECT_INTERVAL;
            let desc_x100 = 100 * 100 * elapsed / MIN_TTR;
            self.value_x100 = self.value_x100.saturating_sub(desc_x100.max(1)).max(100);
        } else {
            let total = self.total.max(1);
            let ratio_x100 = (self.timeouts * 100 / total).min(100);
            self.value_x100 = (self.value_x100 * (100 + ratio_x100) / 100).min(10_000);
        }
        self.timeouts = 0;
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_disk_drives_the_score_to_100_and_it_decays_after() {
        let mut s = SlowScore::default();
        let mut now = 0;
        // Disk hung: inspects never finish.
        for _ in 0..(ROUND_TICKS * 8) {
            now += INSPECT_INTERVAL;
            s.on_tick(now);
        }
        assert_eq!(s.score(), 100);
        // Healthy again: inspects finish at once.
        s.inflight = None;
        for _ in 0..(ROUND_TICKS * 20) {
            now += INSPECT_INTERVAL;
            if s.on_tick(now) {
                s.on_inspect_done(now + 1_000);
            }
        }
        assert!(s.score() < 100, "score {}", s.score());
    }

    #[test]
    fn a_healthy_disk_keeps_the_score_at_1() {
        let mut s = SlowScore::default();
        let mut now = 0;
        for _ in 0..(ROUND_TICKS * 5) {
            now += INSPECT_INTERVAL;
            if s.on_tick(now) {
                s.on_inspect_done(now + 2_000);
            }
        }
        assert_eq!(s.score(), 1);
    }
}
