//! Virtual time.
//!
//! The simulator's clock is an integer count of **virtual microseconds** since the
//! start of the run ([`Micros`]). Nothing in `core` reads a wall clock.

/// A virtual instant or duration, in microseconds.
pub type Micros = u64;

/// One virtual millisecond, in µs.
pub const MS: Micros = 1_000;
/// One virtual second, in µs.
pub const SEC: Micros = 1_000_000;

/// Converts virtual µs to whole virtual ms (rounding down).
pub fn to_ms(t: Micros) -> u64 {
    t / MS
}
