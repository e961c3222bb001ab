//! Unit tests of the workspace door.

use super::*;
use crate::engine::policy::Policy;
use crate::engine::policy::PolicySource;

#[test]
fn agent_branch_follows_the_namespace() {
    let p = Policy::builtin();
    assert_eq!(agent_branch(&p, "fix-1"), "agent/fix-1");
    let p = Policy::parse(
        "[refs]\nagent_namespace = \"bots/*/work\"\n",
        PolicySource::Builtin,
    )
    .unwrap();
    assert_eq!(agent_branch(&p, "x"), "bots/x/work");
}

#[test]
fn ids_differ_by_directory() {
    assert_ne!(
        workspace_id(Path::new("/a"), "t"),
        workspace_id(Path::new("/b"), "t")
    );
    assert!(workspace_id(Path::new("/a"), "x/y z").starts_with("x-y-z-"));
}
