//! Rule module `caps` (being written).

use super::Context;
use crate::verdict::Finding;

pub fn check(_ctx: &Context<'_>, _out: &mut Vec<Finding>) {}
