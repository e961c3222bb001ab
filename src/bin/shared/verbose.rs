//! `-v` on every binary: the tracing subscriber writing to standard error, quiet unless asked
//! (`-v` info, `-vv` debug, `-vvv` trace, or `RUST_LOG`). Shared by the binaries' `main`s;
//! it prints nothing of its own.

/// Start logging at `verbose` (the number of `-v` given).
pub(crate) fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| "off".into()),
        1 => "git_guard=info".into(),
        2 => "git_guard=debug".into(),
        _ => "trace".into(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The arguments and subcommands of `cmd` (under `path`) that --help would show without a
/// description; for each binary's test that its help matches the program.
/// (guard-hook parses its few arguments by hand and has no clap command to walk.)
#[cfg(test)]
#[allow(dead_code)]
pub(crate) fn undescribed(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for a in cmd.get_arguments() {
        if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
            continue;
        }
        if a.get_help().is_none() && a.get_long_help().is_none() {
            missing.push(format!("{path} {}", a.get_id()));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        if sub.get_about().is_none() {
            missing.push(format!("{path} {}", sub.get_name()));
        }
        undescribed(sub, &format!("{path} {}", sub.get_name()), missing);
    }
}
