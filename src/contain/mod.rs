//! Where the agent's code runs: test runs over a scratch checkout, and the materialiser that
//! writes a commit's tree out as a checkout or a release.
//!
//! Running the agent's code is running the agent: what runs here must not reach what the
//! reviewer holds. This layer uses the engine and `site`, never a door.

pub mod paths;
pub mod release;
pub mod sandbox;
pub mod testrun;
pub mod walls;
