//! The one support module of the integration tests, used by each as `mod support;`:
//! hermetic git and the project's binaries (`git`), bare servers with the hooks installed,
//! clones and pushes (`server`), workspaces (`workspace`), deploy roots (`deploy`) and throwaway
//! unix users (`user`).
//!
//! Each test crate uses a part of it, so what one does not use is not dead code.
#![allow(dead_code)]

pub mod deploy;
pub mod git;
pub mod server;
pub mod user;
pub mod workspace;
