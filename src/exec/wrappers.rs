//! The tables the judge reads: variables a command may not set or that are scrubbed from its
//! environment, builtins that run unseen text, and the wrappers that run another command with
//! the options that take a value. Data and lookups only: runs nothing, writes nothing.

/// Variables a command line may not set (`NAME=value cmd`, `env NAME=value`, `export`):
/// they change git's configuration, repository or programs, or name a program that runs
/// unseen (an editor, a pager, an ssh command, a preloaded library).
pub(super) fn forbidden_assignment(name: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_TERMINAL_PROMPT",
    ];
    const PROGRAMS: &[&str] = &[
        "EDITOR",
        "VISUAL",
        "PAGER",
        "MANPAGER",
        "SSH_ASKPASS",
        "BROWSER",
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "PERL5OPT",
        "PYTHONSTARTUP",
        "NODE_OPTIONS",
        "HOME",
        "XDG_CONFIG_HOME",
    ];
    (name.starts_with("GIT_") && !ALLOWED.contains(&name) && !name.starts_with("GIT_TRACE"))
        || name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
        || PROGRAMS.contains(&name)
}

/// Variables removed from the command's environment whatever the caller passed: each can set
/// git configuration, `core.hooksPath` included, with a higher precedence than the clone's own.
pub fn scrubbed_variable(name: &str) -> bool {
    name == "GIT_CONFIG_PARAMETERS"
        || name == "GIT_CONFIG_COUNT"
        || name.starts_with("GIT_CONFIG_KEY_")
        || name.starts_with("GIT_CONFIG_VALUE_")
}

pub(crate) const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "rbash", "yash", "posh", "fish", "csh",
    "tcsh",
];

/// Builtins and programs that run text the judge cannot see before it runs, whatever the
/// quoting or wrapper in front of them.
pub(super) const UNJUDGEABLE: &[&str] = &[
    "eval",
    "source",
    ".",
    "trap",
    "alias",
    "fc",
    "enable",
    "coproc",
    "exec-in-ns",
];

/// Builtins that set variables for what follows (`export GIT_CONFIG_COUNT=1`).
pub(super) const SETTERS: &[&str] = &["export", "declare", "typeset", "readonly", "local", "set"];

/// Wrappers: programs that run the command given after their options. For each, the options
/// that take the next word as their value, the options whose value is a shell line, whether
/// the command comes after a fixed count of plain words (`timeout 5`, `chrt 10`, `flock FILE`).
pub(super) struct Wrapper {
    pub(super) name: &'static str,
    pub(super) value_opts: &'static [&'static str],
    pub(super) line_opts: &'static [&'static str],
    pub(super) skip_words: usize,
}

pub(super) const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        name: "nice",
        value_opts: &["-n", "--adjustment"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "ionice",
        value_opts: &["-c", "-n", "-p", "-P", "-u", "-t", "--class", "--classdata"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "nohup",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "time",
        value_opts: &["-f", "-o", "--format", "--output"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "setsid",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "exec",
        value_opts: &["-a"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "builtin",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "stdbuf",
        value_opts: &["-i", "-o", "-e"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "timeout",
        value_opts: &["-s", "--signal", "-k", "--kill-after"],
        line_opts: &[],
        skip_words: 1,
    },
    Wrapper {
        name: "setpriv",
        value_opts: &[
            "--reuid",
            "--regid",
            "--groups",
            "--inh-caps",
            "--ambient-caps",
            "--bounding-set",
            "--securebits",
            "--pdeathsig",
            "--selinux-label",
            "--apparmor-profile",
            "--landlock-access",
            "--landlock-rule",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "script",
        value_opts: &[
            "-E",
            "--echo",
            "-I",
            "--log-in",
            "-O",
            "--log-out",
            "-B",
            "--log-io",
            "-T",
            "--log-timing",
            "-m",
            "--logging-format",
        ],
        line_opts: &["-c", "--command"],
        skip_words: 0,
    },
    Wrapper {
        name: "flock",
        value_opts: &["-w", "--timeout", "-E", "--conflict-exit-code"],
        line_opts: &["-c", "--command"],
        skip_words: 1,
    },
    Wrapper {
        name: "taskset",
        value_opts: &[],
        line_opts: &[],
        skip_words: 1,
    },
    Wrapper {
        name: "chrt",
        value_opts: &[
            "-T",
            "-P",
            "-D",
            "--sched-runtime",
            "--sched-period",
            "--sched-deadline",
        ],
        line_opts: &[],
        skip_words: 1,
    },
    Wrapper {
        name: "prlimit",
        value_opts: &["-p", "--pid", "-o", "--output"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "strace",
        value_opts: &[
            "-o", "-e", "-p", "-P", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-S", "-X",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "ltrace",
        value_opts: &["-o", "-e", "-p", "-s", "-u", "-a", "-n", "-l", "-x"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "watch",
        value_opts: &["-n", "--interval", "-d", "-q", "--equexit"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "sudo",
        value_opts: &[
            "-u",
            "-g",
            "-C",
            "-D",
            "-h",
            "-p",
            "-r",
            "-t",
            "-T",
            "-U",
            "--user",
            "--group",
            "--chdir",
            "--host",
            "--prompt",
            "--role",
            "--type",
            "--other-user",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "doas",
        value_opts: &["-u", "-C"],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "su",
        value_opts: &[
            "-g",
            "-G",
            "-s",
            "--group",
            "--supp-group",
            "--shell",
            "-w",
            "--whitelist-environment",
        ],
        line_opts: &["-c", "--command", "-C", "--session-command"],
        skip_words: 0,
    },
    Wrapper {
        name: "runuser",
        value_opts: &[
            "-u",
            "-g",
            "-G",
            "-s",
            "--user",
            "--group",
            "--supp-group",
            "--shell",
        ],
        line_opts: &["-c", "--command"],
        skip_words: 0,
    },
    Wrapper {
        name: "sg",
        value_opts: &[],
        line_opts: &["-c"],
        skip_words: 1,
    },
    Wrapper {
        name: "unshare",
        value_opts: &[
            "-S", "-G", "--setuid", "--setgid", "-R", "--root", "-w", "--wd",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "nsenter",
        value_opts: &[
            "-t", "--target", "-S", "-G", "--setuid", "--setgid", "-R", "--root", "-w", "--wd",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "chroot",
        value_opts: &["--userspec", "--groups"],
        line_opts: &[],
        skip_words: 1,
    },
    Wrapper {
        name: "unbuffer",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "catchsegv",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "valgrind",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "firejail",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "systemd-run",
        value_opts: &[
            "-p",
            "--property",
            "-u",
            "--unit",
            "-E",
            "--setenv",
            "--uid",
            "--gid",
            "--slice",
            "-M",
            "--machine",
            "--description",
        ],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "busybox",
        value_opts: &[],
        line_opts: &[],
        skip_words: 0,
    },
    Wrapper {
        name: "xvfb-run",
        value_opts: &[
            "-n",
            "-s",
            "-e",
            "-f",
            "-p",
            "--server-num",
            "--server-args",
            "--error-file",
            "--auth-file",
        ],
        line_opts: &[],
        skip_words: 0,
    },
];
