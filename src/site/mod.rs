//! What is installed where: the hook configuration and policy of a repository, the record of
//! an agent workspace, the server guards found in a repository, the audit log.
//!
//! Every door reads these; they sit beneath the doors so that no door has to import another to
//! learn how a repository is guarded. This layer uses the engine and nothing above it.

pub mod audit;
pub mod config;
pub mod guards;
pub mod imports;
pub mod workspace;
