//! The rules: one module each, each a pure function of its policy section, the changes and
//! the actor. A rule pushes [`Finding`]s; it never prints and never fails: what it cannot
//! judge was already an error when the changes were built.

pub mod caps;
pub mod commits;
pub mod paths;
pub mod refs;
pub mod risk;
pub mod secrets;
pub mod tests;

use crate::changes::Unit;
use crate::identity::Actor;
use crate::policy::Policy;
use crate::verdict::{Finding, Risk};

/// What every rule sees.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub actor: &'a Actor,
    pub unit: &'a Unit,
}

/// Run every rule over one unit; return the unit's risk.
pub fn run_all(ctx: &Context<'_>, out: &mut Vec<Finding>) -> Risk {
    refs::check(ctx, out);
    paths::check(ctx, out);
    caps::check(ctx, out);
    secrets::check(ctx, out);
    tests::check(ctx, out);
    commits::check(ctx, out);
    risk::check(ctx, out)
}
