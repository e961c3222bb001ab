//! Rule module `risk` (being written).

use super::Context;
use crate::verdict::{Finding, Risk};

pub fn check(_ctx: &Context<'_>, _out: &mut Vec<Finding>) -> Risk {
    Risk::default()
}
