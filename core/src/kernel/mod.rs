//! The kernel: virtual time, the one seeded RNG, the event queue, effects as
//! data, the event log, counters and series, and the trace hash.
//!
//! The kernel knows no component: effects and the queue are generic over the
//! message and timer types, and it routes by [`effect::Node`] only.

pub mod effect;
pub mod hash;
pub mod log;
pub mod metrics;
pub mod queue;
pub mod rng;
pub mod time;
pub mod violation;
