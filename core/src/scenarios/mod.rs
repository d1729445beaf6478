//! The scenarios' builders: from resolved [`Params`] to a [`World`] and its faults.

pub mod deadlock_oom;
pub mod io_hang;

use crate::effect::Ctx;
use crate::scenario::{Params, ScenarioError};
use crate::sim::{Fault, World};

/// Builds the world of `params.scenario`.
///
/// Errors: parameter combinations the scenario refuses, as [`ScenarioError::BadValue`].
pub fn build(
    params: &Params,
    ctx: &mut Ctx,
    logger: slog::Logger,
) -> Result<(World, Vec<Fault>), ScenarioError> {
    match params.scenario {
        io_hang::ID => io_hang::build(params, ctx, logger),
        deadlock_oom::ID => deadlock_oom::build(params, ctx, logger),
        other => Err(ScenarioError::UnknownScenario(other.to_string())),
    }
}
