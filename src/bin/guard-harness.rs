//! `guard-harness NAME --root DIR`: the hook an agent harness runs before each tool call.
//!
//! Reads the harness's hook payload on standard input, judges the tool call for the workspace
//! at DIR (the shell line as guard-exec judges it, the file as it will be after the edit
//! through the engine and the workspace's policy) and answers in the harness's own form.
//! NAME: claude-code, codex, gemini, cursor.
//!
//! Exit status: 0 allowed; 2 refused, with the reason on standard error (the form every one of
//! these harnesses reads as "block, and tell the model"). Everything that goes wrong, a bad
//! argument or a panic included, exits 2: a hook that fails must not let the tool run.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use git_guard::harness::{self, Harness, Refusal};

/// Answer an agent harness's hook: judge the tool call for the workspace, refuse in the
/// harness's own blocking form.
#[derive(Parser)]
#[command(name = "guard-harness", version)]
struct Cli {
    /// The harness: claude-code, codex, gemini, cursor.
    harness: String,
    /// The workspace the harness works in.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
}

fn refuse(text: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{text}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // A panic must refuse, not fail open with exit 101.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "git-guard refused this tool call:\n- [harness.error] the guard failed while judging it ({info})\n  hint: nothing the agent can fix: ask an admin to run `git guard doctor`"
        );
        std::process::exit(2);
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            return refuse(&format!("guard-harness: {e}"));
        }
    };
    let h = match Harness::parse(&cli.harness) {
        Ok(h) if h.has_tool_hook() => h,
        Ok(h) => {
            return refuse(&format!(
                "guard-harness: {h} has no tool hook (its lint command runs `git guard check`)"
            ));
        }
        Err(e) => return refuse(&format!("guard-harness: {e}")),
    };
    let mut payload = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut payload) {
        return refuse(&Refusal::text(&[Refusal::new(
            "harness.input",
            format!("standard input cannot be read: {e}"),
            "check the harness's hook configuration",
        )]));
    }
    let answer = harness::answer(h, &cli.root, &payload);
    let _ = std::io::stdout().write_all(answer.stdout.as_bytes());
    let _ = std::io::stderr().write_all(answer.stderr.as_bytes());
    ExitCode::from(answer.code as u8)
}
