//! What components exchange: the messages that cross the simulated network
//! (kvproto's shapes, [`msg`]) and the timers they set ([`timer`]), with the
//! kernel's effect types specialised to them.
//!
//! This layer is data only: it knows no component's behaviour.

pub mod cmd;
pub mod msg;
pub mod timer;
pub mod wire;

pub use msg::*;
pub use timer::Timer;

/// The kernel's [`crate::kernel::effect::Effect`] for kvscope's messages and timers.
pub type Effect = crate::kernel::effect::Effect<Msg, Timer>;

/// The kernel's [`crate::kernel::effect::Ctx`] for kvscope's messages and timers:
/// what a component may use while handling one event.
pub type Ctx<'a> = crate::kernel::effect::Ctx<'a, Msg, Timer>;
