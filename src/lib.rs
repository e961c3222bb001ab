//! git-guard: guards at every door through which an AI agent's code reaches a repository
//! people rely on.
//!
//! The library holds the engine (policy, change model, rules, verdict) and every door's logic;
//! it knows nothing of clap or terminals. The binaries in `src/bin/` parse arguments and call it.

pub mod audit;
pub mod changes;
pub mod deploy;
pub mod engine;
pub mod identity;
pub mod model;
pub mod policy;
pub mod release;
pub mod rules;
pub mod verdict;
