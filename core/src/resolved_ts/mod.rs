//! Resolved-ts (TiKV `components/resolved_ts/`): per region leader, a
//! [`resolver::Resolver`] fed by the apply path tracks the locks in the
//! region, and every `advance-ts-interval` the endpoint advances each
//! region's resolved-ts to `min(tso, min lock ts)`.

pub mod cmd;
pub mod endpoint;
pub mod metrics;
pub mod observer;
pub mod resolver;

pub use endpoint::{Endpoint, ResolvedTsConfig};
