//! The one support module of the integration tests, used by each as `mod support;`:
//! hermetic git and the project's binaries (`git`), bare servers with the hooks installed,
//! clones and pushes (`server`), workspaces (`workspace`), deploy roots (`deploy`), throwaway
//! unix users (`user`) and the daemons a test starts (`process`).
//!
//! Each test crate uses a part of it, so what one does not use is not dead code.
#![allow(dead_code)]

pub mod deploy;
pub mod git;
pub mod process;
pub mod server;
pub mod user;
pub mod workspace;

/// A tool the test needs is not installed: in CI (`CI` set) the test fails, since `.ci/run`
/// installs every tool the tests need; elsewhere it is skipped, saying so.
#[track_caller]
pub fn missing_tool(tool: &str, test: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{test}: {tool} is not installed, and CI must run every test (.ci/run installs it)");
    }
    eprintln!("SKIPPED {test}: {tool} is not installed (.ci/run installs it)");
}
