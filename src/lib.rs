//! git-guard: guards at every door through which an AI agent's code reaches a repository
//! people rely on.
//!
//! The library holds the engine (policy, change model, rules, verdict) and every door's logic;
//! it knows nothing of clap or terminals. The binaries in `src/bin/` parse arguments and call it.

pub mod approvals;
pub mod audit;
pub mod changes;
pub mod check;
pub mod demo;
pub mod deploy;
pub mod doctor;
pub mod engine;
pub mod exec;
pub mod explain;
pub mod hook;
pub mod identity;
pub mod install;
pub mod model;
pub mod policy;
pub mod quarantine;
pub mod release;
pub mod repo;
pub mod report;
pub mod rules;
pub mod testrun;
pub mod verdict;
pub mod workspace;
