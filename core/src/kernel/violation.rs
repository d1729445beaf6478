//! A broken safety property, as the run records it.

use serde::Serialize;

/// A broken invariant, recorded when it is detected.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// Virtual ms of detection.
    pub t_ms: u64,
    /// Which invariant: `election-safety`, `state-machine-safety`,
    /// `acked-write-lost` or `snapshot-isolation`.
    pub invariant: &'static str,
    /// Region concerned (0 when the property is not about one region).
    pub region: u64,
    /// What was seen.
    pub details: String,
}
