//! Trees shaped to slip past the server's door, pushed for real: files that change how git or
//! an agent harness reads the tree, trees `git fsck` rejects, and symlinks that hide a path or
//! reach out of the tree. Each is caught at receive time with its own rule id.

mod support;

use support::git::*;
use support::server::*;

/// The files that change how git reads the tree, or what an agent harness is told and allowed,
/// at the depths where they take effect.
const HOW_THE_TREE_IS_READ: &[&str] = &[
    ".gitattributes",
    "src/lib/.gitattributes",
    ".gitmodules",
    ".mailmap",
    "CLAUDE.md",
    "pkg/CLAUDE.md",
    ".claude/settings.json",
    "AGENTS.md",
    "pkg/AGENTS.md",
    ".codex/config.toml",
    ".cursor/rules/style.mdc",
    ".cursorrules",
    ".gemini/settings.json",
    "GEMINI.md",
    ".aider.conf.yml",
    ".aiderignore",
    ".mcp.json",
    ".github/copilot-instructions.md",
];

#[test]
fn files_that_change_how_the_tree_is_read_are_protected_by_default() {
    let (_t, _bare, work) = guarded_clone(
        "[caps]\nmax_files = 100\n",
        &["--host", "http"],
        Some("agent/x"),
    );
    for p in HOW_THE_TREE_IS_READ {
        write(&work, p, "anything\n");
    }
    commit_all(&work, "harness and git configuration");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "flags do not block:\n{}", stderr(&o));
    let lines = remote_lines(&o);
    for p in HOW_THE_TREE_IS_READ {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("flag[paths.protected]") && l.contains(&format!(" {p}: "))),
            "{p} is not flagged:\n{}",
            stderr(&o)
        );
    }
}

/// A file that is none of them is not flagged.
#[test]
fn look_alikes_of_protected_files_are_not_flagged() {
    let (_t, _bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    for p in ["docs/claude.txt", "src/agents.rs", "gitattributes.md"] {
        write(&work, p, "anything\n");
    }
    commit_all(&work, "ordinary files");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("flag[paths.protected]"),
        "{}",
        stderr(&o)
    );
}
