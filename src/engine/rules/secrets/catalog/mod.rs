//! The built-in rules, one table per provider family. Each table is written from the
//! providers' documented token formats; [`FAMILIES`] lists them in the order they run (the
//! generic rule, in `keys`, last).

/// The glue between a key name and its value: quotes, `=`, `:`, `:=` or `=>`, spaces.
macro_rules! assign {
    () => {
        r#"["']?\s{0,5}(?::=|=>|=|:)\s{0,5}["']?"#
    };
}

pub mod ai;
pub mod cloud;
pub mod keys;
pub mod messaging;
pub mod payments;
pub mod registries;
pub mod saas;
pub mod source;

use super::rule::Rule;

/// Every family: its name (as `docs/SECRETS.md` and the bench name it) and its rules.
pub const FAMILIES: &[(&str, &[Rule])] = &[
    ("cloud", cloud::RULES),
    ("source-and-ci", source::RULES),
    ("ai", ai::RULES),
    ("payments", payments::RULES),
    ("messaging", messaging::RULES),
    ("registries", registries::RULES),
    ("saas", saas::RULES),
    ("keys-and-generic", keys::RULES),
];

/// Every built-in rule, in the order they run.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    FAMILIES.iter().flat_map(|(_, rules)| rules.iter())
}

/// The family a built-in rule belongs to.
pub fn family_of(id: &str) -> Option<&'static str> {
    FAMILIES
        .iter()
        .find(|(_, rules)| rules.iter().any(|r| r.id == id))
        .map(|(f, _)| *f)
}
