//! git-guard: guards at every door through which an AI agent's code reaches a repository
//! people rely on.
//!
//! The house, from the bottom up (see `docs/ARCHITECTURE.md`):
//!
//! - [`engine`]: the one pipeline every door runs (policy, the change model, the rules, the
//!   verdict). It prints nothing, runs no process and imports no door.
//! - [`site`]: what is installed where (a repository's hook configuration and policy, a
//!   workspace's record, the audit log), read by every door.
//! - [`contain`]: where the agent's code runs (test runs, the release materialiser).
//! - the doors, each a folder that uses the layers beneath and never another door's
//!   internals: [`hooks`] (commit, push, receive), [`approvals`], [`ci`] (the required check
//!   where the host runs no server hooks), [`deploy`], [`exec`] (the
//!   command runner), [`harness`] (the agent harnesses' tool hooks), [`workspace`] (the agent workspace and doctor), [`report`] (check and
//!   report for people), and [`demo`] (the guided tour over all of them).
//!
//! The library knows nothing of clap or terminals; the binaries in `src/bin/` parse arguments
//! and call it.

pub mod contain;
pub mod engine;
pub mod site;

pub mod approvals;
pub mod ci;
pub mod demo;
pub mod deploy;
pub mod exec;
pub mod harness;
pub mod hooks;
pub mod report;
pub mod workspace;
