//! `git guard workspace ...`: the agent workspace commands, over the library's workspace door.

use std::io::Write;

use crate::*;

pub(crate) fn run_workspace(cmd: WorkspaceCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    use git_guard::workspace;
    match cmd {
        WorkspaceCommand::Create {
            from,
            root,
            topic,
            agent_user,
            base,
            policy,
            identity,
            guard_hook,
            harness,
            harness_system,
            system_root,
            guard_harness,
        } => {
            let harnesses = match &harness {
                Some(list) => git_guard::harness::Harness::parse_list(list)?,
                None => Vec::new(),
            };
            let harness_system_root = harness_system
                .then(|| system_root.unwrap_or_else(|| std::path::PathBuf::from("/")));
            let created = workspace::create(&workspace::CreateOptions {
                upstream: from,
                root,
                topic,
                agent_user,
                base,
                policy,
                identity,
                guard_hook,
                harnesses,
                harness_system_root,
                guard_harness,
            })?;
            writeln!(out, "{created}")?;
        }
        WorkspaceCommand::Status { root } => {
            let status = workspace::status(&workspace_root(root)?)?;
            writeln!(out, "{status}")?;
        }
        WorkspaceCommand::Reset { root, guard_hook } => {
            let created = workspace::reset(&workspace_root(root)?, guard_hook.as_deref())?;
            writeln!(out, "{created}")?;
        }
        WorkspaceCommand::Remove { root } => {
            let root = workspace_root(root)?;
            let n = workspace::remove(&root)?;
            writeln!(
                out,
                "removed {} and {n} keep-alive ref(s) in the upstream",
                root.display()
            )?;
        }
    }
    Ok(0)
}
