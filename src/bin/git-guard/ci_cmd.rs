//! `git guard ci`: the command line of the CI door (src/ci): its options, and the call that
//! passes it the process environment and standard output.

use std::io::Write;
use std::path::PathBuf;

use git_guard::ci;

/// Judge the change a CI job runs for, as a required check where the host runs no server
/// hooks.
///
/// The change comes from the CI's own environment: GitHub Actions (the event file of a push,
/// pull_request or merge_group event), GitLab CI (merge request, branch and tag pipelines),
/// or --base/--head/--as for any other CI. The policy is policy.toml at the tip of the base
/// branch, never the change's own; the actor is GITHUB_ACTOR or GITLAB_USER_LOGIN. Flags
/// fail the check until a signed approval under refs/guard/approvals/ clears them.
///
/// Exit status: 0 passed, 1 rejected by policy, 2 could not judge.
#[derive(clap::Args)]
pub(crate) struct CiArgs {
    /// The CI: auto (from GITHUB_ACTIONS / GITLAB_CI), github, gitlab or plain.
    #[arg(long, value_name = "CI", default_value = "auto", value_parser = ["auto", "github", "gitlab", "plain"])]
    ci: String,
    /// Plain CI: the protected branch the change goes to (its policy.toml is the policy).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// Plain CI: the head of the change (default: HEAD).
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// Plain CI: the identity the CI says pushed the change.
    #[arg(long = "as", value_name = "NAME")]
    actor: Option<String>,
    /// A policy file outside the checkout (default: policy.toml of the base branch).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// What to print: text, json, sarif, github (workflow annotations), markdown, codequality.
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "json", "sarif", "github", "markdown", "codequality"])]
    format: String,
    /// Also write a report to a file, as FORMAT=FILE (repeatable): `sarif=guard.sarif`,
    /// `markdown=$GITHUB_STEP_SUMMARY` (appended to), `codequality=gl-code-quality.json`.
    #[arg(long = "report", value_name = "FORMAT=FILE")]
    reports: Vec<String>,
    /// The repository (default: the current directory).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
}

pub(crate) fn run(args: CiArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let format = ci::Format::parse(&args.format)?;
    let result = (|| -> anyhow::Result<i32> {
        let opts = ci::Options {
            repo_dir: args.repo.unwrap_or_else(|| PathBuf::from(".")),
            provider: ci::Provider::parse(&args.ci)?,
            given: ci::Given {
                base: args.base,
                head: args.head,
                actor: args.actor,
            },
            policy: args.policy,
            format,
            reports: args
                .reports
                .iter()
                .map(|r| ci::render::Format::parse_report(r))
                .collect::<anyhow::Result<_>>()?,
        };
        let env = |k: &str| std::env::var(k).ok();
        ci::run(&opts, &env, out)
    })();
    match result {
        Ok(code) => Ok(u8::try_from(code).unwrap_or(2)),
        Err(e) => {
            if format == ci::Format::Github {
                // Shown on the run's page as well as in the log.
                let msg = format!("{e:#}");
                let _ = writeln!(
                    out,
                    "::error title=git-guard could not judge::{}",
                    ci::annotations::data(&msg)
                );
            }
            Err(e)
        }
    }
}
