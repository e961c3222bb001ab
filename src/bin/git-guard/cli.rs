//! The command line of `git guard`: every subcommand, argument and option, with the help
//! text clap prints. Parsing only: what each command does is in `main.rs` and the command
//! files beside it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Guards at every door through which an AI agent's code reaches a repository people rely on.
///
/// Exit status: 0 passed, 1 rejected by policy, 2 could not judge (bad input, unreadable
/// objects, a broken policy).
#[derive(Parser)]
#[command(
    name = "git guard",
    bin_name = "git guard",
    version,
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Log what git-guard does to standard error (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Judge the staged change or commit ranges against the policy.
    ///
    /// The policy is the one the repository's hooks use (the installed configuration, else
    /// policy.toml of the base branch, else the built-in default) unless --policy names a
    /// file; it is never read from the change being judged, and the verdict names it. Prints
    /// every violation, flag and note with its rule id and a hint. Exit status: 0 passed, 1
    /// rejected by policy, 2 could not judge.
    Check {
        /// The policy file (default: the policy of the repository's hooks, as for `flags`).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Output format; `json` is stable and documented in docs/OUTPUT.md.
        #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Judge as this identity (default: the unix user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Judge the staged index against HEAD.
        #[arg(long, conflicts_with = "ranges")]
        staged: bool,
        /// Commits to judge: `REV` (one commit) or `A..B` (commits in B not in A).
        #[arg(value_name = "RANGE", required_unless_present = "staged")]
        ranges: Vec<String>,
    },
    /// Validate and explain policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Judge the change a CI job runs for: the required check where the host runs no server
    /// hooks (GitHub Actions, GitLab CI, or --base/--head). Exit 0 passed, 1 rejected, 2 could
    /// not judge.
    Ci(crate::ci_cmd::CiArgs),
    /// Install git-guard's hooks: client hooks into a working clone, server hooks into a bare
    /// repository. Hooks already there are kept and still run; installing twice changes nothing.
    Install(InstallArgs),
    /// Remove git-guard's hooks and put back what install moved aside.
    Uninstall {
        /// The repository (default: the current directory).
        repo: Option<PathBuf>,
    },
    /// Show or verify the audit log: one hash-chained JSON record per decision.
    ///
    /// Exit status with --verify: 0 the chain is intact, 1 it is broken (the first bad line is
    /// named, and why), 2 the log could not be read.
    Log {
        /// The audit log (default: [audit] log of --policy, else <git dir>/guard/audit.log).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The policy whose [audit] log to read.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Only records from this time on: an RFC 3339 date or date-time, or a span back from
        /// now (30m, 2h, 3d, 1w).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Check the hash chain from the first line to the last instead of listing records.
        #[arg(long)]
        verify: bool,
        /// Output format: text, or json (one document).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// What the doors decided, counted from the audit logs: agent changes proposed, accepted
    /// and refused (and by which rules), approvals and revocations, deploys, rollbacks, the
    /// post-deploy regression rate and the mean time to roll back.
    Stats {
        /// An audit log to count; give it once per log (default: the log of --policy, else
        /// <git dir>/guard/audit.log, and the deploy root's audit.log when the policy names a
        /// deploy root).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
        /// The policy whose [audit] log and [deploy] root to read.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Only records from this time on: an RFC 3339 date or date-time, or a span back from
        /// now (30m, 2h, 3d, 1w).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Output format: text, or json (the counts as one document).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The outstanding flags of each commit of a range (default: the commits of HEAD not on
    /// the deploy branch), with what each commit changes and which flags are approved.
    Flags {
        /// `REV` or `A..B`.
        range: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
        /// Output format: text, or json (the commits and their flags).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The old spelling of `--format json`.
        #[arg(long, hide = true, conflicts_with = "format")]
        json: bool,
    },
    /// Approve flags of one commit (default: all its outstanding flags). The approval is bound
    /// to the commit and its tree; from a clone it is pushed to the remote, whose guard checks
    /// it again.
    Approve {
        /// The commit whose flags are approved (an id, branch or tag).
        rev: String,
        /// A flag id to approve (repeatable), as `git guard flags` prints it.
        #[arg(long = "flag", value_name = "ID")]
        flags: Vec<String>,
        /// Why: what you checked.
        #[arg(short = 'm', long = "message", value_name = "WHY")]
        why: String,
        /// Sign the record with this ssh key (`ssh-keygen -Y sign`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Revoke approvals of a commit (default: all of them) by adding revocation records.
    Revoke {
        /// The commit whose approvals are revoked.
        rev: String,
        /// The approval to revoke (its id or a prefix of it).
        #[arg(long, value_name = "ID")]
        approval: Option<String>,
        /// Why.
        #[arg(short = 'm', long = "message", value_name = "WHY")]
        why: String,
        /// Sign the revocation with this ssh key.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Raise a cap or allow protected paths for one branch: a human override, recorded and
    /// signed like an approval under refs/guard/overrides/, checked at receive and deploy time.
    /// Never available to an agent. `--revoke ID` withdraws one.
    Allow {
        /// The branch (`agent/fix-login` or `refs/heads/agent/fix-login`).
        #[arg(required_unless_present = "revoke")]
        branch: Option<String>,
        /// Raise caps.max_files to N on this branch.
        #[arg(long, value_name = "N")]
        max_files: Option<u64>,
        /// Raise caps.max_lines to N on this branch.
        #[arg(long, value_name = "N")]
        max_lines: Option<u64>,
        /// Changes to paths matching PATTERN need no approval on this branch (repeatable).
        #[arg(long = "path", value_name = "PATTERN")]
        paths: Vec<String>,
        /// Withdraw the override with this id (or a prefix of it) instead.
        #[arg(long, value_name = "ID", conflicts_with_all = ["branch", "max_files", "max_lines", "paths"])]
        revoke: Option<String>,
        /// Why: what makes this branch an exception.
        #[arg(short = 'm', long = "message", value_name = "WHY")]
        why: String,
        /// Sign the record with this ssh key (`ssh-keygen -Y sign`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// List the human overrides (of one branch, or all), and whether each counts.
    Overrides {
        /// Only this branch's.
        branch: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// List the approvals of each commit of a range, and whether each counts.
    Approvals {
        /// `REV` or `A..B` (default: as for `flags`).
        range: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// Run the policy's test command in a clean checkout of REV and record the result for its
    /// tree.
    Test {
        /// The commit to test (default: HEAD).
        rev: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// The evidence a reviewer reads before approving a branch.
    Report {
        /// The branch or commit to review (default: HEAD).
        branch: Option<String>,
        /// What it is compared with (default: origin/<deploy branch>, else <deploy branch>).
        #[arg(long, value_name = "REF")]
        base: Option<String>,
        /// Output format: md (Markdown), json, or html (the proposal card).
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Do not fetch the server's records (`refs/guard/*`: who pushed, approvals,
        /// overrides) from the branch's remote, else origin, before reporting.
        #[arg(long)]
        no_fetch: bool,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// The whole story on a scratch directory, with the real binaries and real git: the server
    /// guard, an agent workspace, blocked commits, a flagged change, a refused deploy, the
    /// approval, a deploy with reload and health check, and a broken release rolled back.
    Demo(DemoArgs),
    /// Make and manage the agent's workspace: a clone sharing the upstream's objects, a
    /// sandbox, hooks it cannot write, and an environment file.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Print the man page (roff) of `git guard`, or write it and one page per subcommand
    /// into DIR (git-guard.1, git-guard-check.1, ...). install.sh installs them, so that
    /// `git guard --help` (which git turns into `man git-guard`) shows the page.
    #[command(hide = true, name = "help-man")]
    HelpMan {
        /// Write every page into this directory (a `man1` directory of MANPATH).
        dir: Option<PathBuf>,
    },
    /// List every way the agent could get past the guard on this machine, with the fix.
    ///
    /// Exit status: 1 when anything high is found, 2 when something could not be checked,
    /// else 0.
    Doctor {
        /// The agent's workspace.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// The agent's unix user (default: the one the workspace recorded).
        #[arg(long, value_name = "USER")]
        agent_user: Option<String>,
        /// The upstream repository (default: the one the workspace was made from).
        repo: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// The scratch directory (new or empty; default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Keep the scratch directory afterwards, to look around.
    #[arg(long)]
    pub(crate) keep: bool,
}

#[derive(clap::Args)]
pub(crate) struct RepoOpts {
    /// The policy file (default: the installed hooks' policy, else policy.toml on the
    /// protected base branch, else the built-in default; on a server with hooks installed,
    /// only the hooks' own file is accepted).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct WriteOpts {
    #[command(flatten)]
    pub(crate) repo: RepoOpts,
    /// Act under this name (in a clone only: the server checks it is the pusher).
    #[arg(long = "as", value_name = "NAME")]
    pub(crate) as_name: Option<String>,
    /// The remote to push the record to (default: origin, when the clone has it).
    #[arg(long, value_name = "REMOTE")]
    pub(crate) remote: Option<String>,
    /// Keep the record in this repository; do not push it.
    #[arg(long)]
    pub(crate) no_push: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// Markdown, for a pull request or a terminal.
    Md,
    /// The report as one JSON document.
    Json,
    /// The proposal card: one self-contained HTML page (no network, no script).
    Html,
}

#[derive(clap::Args)]
pub(crate) struct InstallArgs {
    /// Client hooks (pre-commit, commit-msg, pre-push, reference-transaction); the default for
    /// a working clone.
    #[arg(long, conflicts_with = "server")]
    pub(crate) client: bool,
    /// Server hooks (pre-receive, post-receive); the default for a bare repository.
    #[arg(long)]
    pub(crate) server: bool,
    /// Where the hooks go: plain (<git dir>/hooks), gitlab (custom_hooks/<hook>.d/),
    /// gitea or forgejo (hooks/<hook>.d/).
    #[arg(long, default_value = "plain", value_parser = ["plain", "gitlab", "gitea", "forgejo"])]
    pub(crate) layout: String,
    /// The host whose variable names the pusher: plain (the unix user), gitlab (GL_USERNAME),
    /// gitea (GITEA_PUSHER_NAME), gitolite (GL_USER), github (GITHUB_USER_LOGIN),
    /// http (REMOTE_USER). Default: the layout's host.
    #[arg(long, value_parser = ["plain", "gitlab", "gitea", "forgejo", "gitolite", "github", "http"])]
    pub(crate) host: Option<String>,
    /// The policy file the hooks use (default: policy.toml at the tip of the base branch,
    /// else the built-in policy).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// The audit log (default: the policy's audit.log, else <git dir>/guard/audit.log).
    #[arg(long, value_name = "FILE")]
    pub(crate) audit_log: Option<PathBuf>,
    /// Reject pushes not judged within this many milliseconds, 1 to one year (default: the
    /// policy's hooks.deadline_ms).
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=git_guard::engine::policy::MAX_DURATION_SECS * 1000))]
    pub(crate) deadline_ms: Option<u64>,
    /// The repository (default: the current directory).
    pub(crate) repo: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people and agents.
    Text,
    /// Stable JSON.
    Json,
}

// Parsed once per run: the size of the largest variant costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum WorkspaceCommand {
    /// Make a workspace in DIR from the upstream repository.
    Create {
        /// The upstream repository (a local path).
        #[arg(long = "from", value_name = "UPSTREAM")]
        from: PathBuf,
        /// The workspace directory (new or empty).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The agent's branch is <agent namespace>/<topic> (default topic: DIR's name).
        #[arg(long, value_name = "NAME")]
        topic: Option<String>,
        /// Give code-repo and sandbox to this unix user, and nothing else (needs root).
        #[arg(long, value_name = "USER")]
        agent_user: Option<String>,
        /// The upstream branch to start from (default: the upstream's HEAD).
        #[arg(long, value_name = "BRANCH")]
        base: Option<String>,
        /// The policy to record (default: policy.toml of the base branch, else the built-in).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// `Name <email>` for the agent to commit with.
        #[arg(long, value_name = "IDENT")]
        identity: Option<String>,
        /// The guard-hook the client hooks run (default: next to git-guard, else on PATH).
        #[arg(long, value_name = "FILE")]
        guard_hook: Option<PathBuf>,
        /// Set up these agent harnesses with the harness door (comma-separated: claude-code,
        /// codex, gemini, cursor, aider); see docs/HARNESSES.md.
        #[arg(long, value_name = "NAME,...")]
        harness: Option<String>,
        /// Also write each harness's managed or system settings (/etc/claude-code,
        /// /etc/gemini-cli, /etc/cursor), where no user can change them (needs root).
        #[arg(long, requires = "harness")]
        harness_system: bool,
        /// The root the managed and system settings are written under (default: /).
        #[arg(long, value_name = "DIR", requires = "harness_system", hide = true)]
        system_root: Option<PathBuf>,
        /// The guard-harness the harness hooks run (default: next to git-guard, else on PATH).
        #[arg(long, value_name = "FILE")]
        guard_harness: Option<PathBuf>,
    },
    /// Branch, ahead/behind the upstream, outstanding findings, last verdict.
    Status {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Back to a fresh clone of the upstream (local commits are dropped; sandbox is kept).
    Reset {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// The guard-hook the client hooks run (default: next to git-guard, else on PATH).
        #[arg(long, value_name = "FILE")]
        guard_hook: Option<PathBuf>,
    },
    /// Delete the workspace and its keep-alive refs in the upstream.
    Remove {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

pub(crate) fn workspace_root(root: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    root.or_else(|| std::env::var_os("AGENT_DATA_ROOT").map(PathBuf::from))
        .ok_or_else(|| anyhow::anyhow!("no workspace: pass --root DIR or set AGENT_DATA_ROOT"))
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a policy file (default: ./policy.toml), reporting every problem at once.
    ///
    /// Exit status: 0 valid, 2 any problem (each named by file:line:column and key).
    Check {
        /// The policy file.
        file: Option<PathBuf>,
    },
    /// Say which of the policy's path lists match each path, with the patterns, and what that
    /// means for a change to it.
    Explain {
        /// The policy (default: in a repository the policy its hooks use, as for `check`;
        /// elsewhere ./policy.toml when there is one, else the built-in default).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Output format: text, or json.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Paths relative to the repository root.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Print the built-in default policy, every key documented.
    Show,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every argument, option and subcommand of `git guard` says what it is for in --help.
    #[test]
    fn every_argument_and_subcommand_has_a_description() {
        let mut missing = Vec::new();
        crate::verbose::undescribed(&super::Cli::command(), "git guard", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
