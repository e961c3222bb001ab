//! guard-exec end to end: load the workspace and its policy, judge, raise the kernel walls,
//! run unless refused or a dry run, and append what happened to the audit log. Prints only to
//! the writer it is given.
//!
//! Two entries: [`execute`] (the `guard-exec` binary: judge, run, record) and [`judge_for`]
//! (a dry-run judgement for a harness adapter: judge and record, run nothing).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::argv::{PushTarget, normalise};
use super::judge::CommandRules;
use super::run::{Program, RELAY, RunOptions, RunOutcome, run};
use super::shell::parse_shell_line;
use super::{Denial, Roots, log};
use crate::contain::walls::{Support, Walls};
use crate::engine::policy::{NetworkMode, Policy, WallsMode};
use crate::site::audit::Event;

/// One guard-exec request, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The workspace (its writable roots, recorded policy and agent user).
    pub root: PathBuf,
    /// A policy file; default: the one the workspace recorded.
    pub policy: Option<PathBuf>,
    pub program: Program,
    /// Default: the workspace's code-repo.
    pub cwd: Option<PathBuf>,
    /// Default: the policy's `commands.timeout_secs`.
    pub timeout: Option<Duration>,
    pub dry_run: bool,
    /// Between SIGTERM and SIGKILL at the time limit.
    pub grace: Duration,
}

/// What guard-exec decided and, when it ran the command, how it ended.
#[derive(Debug, Clone)]
pub struct Report {
    pub denial: Option<Denial>,
    pub outcome: Option<RunOutcome>,
    /// The exit code guard-exec should end with.
    pub code: i32,
    /// The log the run was recorded in (empty when it could not be recorded, and so was
    /// refused).
    pub audit_log: PathBuf,
}

/// A dry-run judgement of one command line for a workspace (see [`judge_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The line as judged.
    pub command: String,
    /// The directory it was judged for.
    pub cwd: PathBuf,
    /// `None`: guard-exec would run it. `Some`: why not, the rule, and a hint.
    pub denial: Option<Denial>,
    /// Where the judgement was recorded.
    pub audit_log: PathBuf,
}

impl Judgement {
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}

/// Judge `line` (a shell line, as a harness hands over a tool call's command) for the
/// workspace at `root`, as guard-exec would judge it before running it in `cwd` (default: the
/// workspace's code-repo), without running anything, and append the judgement to the audit
/// log (`outcome` `dry-run` or `denied`, `detail.check = true`).
///
/// The policy is the one the workspace recorded. `Err` means nothing could be judged (no
/// workspace, a broken policy): the caller must refuse the command. A judgement that cannot be
/// recorded is a denial (`commands.log`). This is the whole API a harness adapter needs; it is
/// kept small on purpose.
pub fn judge_for(root: &Path, cwd: Option<&Path>, line: &str) -> Result<Judgement> {
    let door = Door::open(root, None)?;
    let program = Program::Shell(line.to_string());
    let (cwd, denial) = door.judge(&program, cwd);
    let Ok(log) = &door.audit_log else {
        return Ok(Judgement {
            command: line.to_string(),
            cwd,
            denial: Some(door.log_denial()),
            audit_log: PathBuf::new(),
        });
    };
    let (outcome, rule, detail) = match &denial {
        Some(d) => (
            "denied",
            Some(d.rule.as_str()),
            serde_json::json!({"cwd": cwd, "reason": d.reason, "check": true}),
        ),
        None => (
            "dry-run",
            None,
            serde_json::json!({"cwd": cwd, "check": true}),
        ),
    };
    log::record(log, &door.event(line, outcome, rule, detail))?;
    Ok(Judgement {
        command: line.to_string(),
        cwd,
        denial,
        audit_log: log.clone(),
    })
}

/// Everything one run needs from the workspace and its policy.
struct Door {
    root: PathBuf,
    record: Option<crate::site::workspace::Record>,
    policy: Policy,
    rules: CommandRules,
    roots: Roots,
    audit_log: Result<PathBuf, Vec<String>>,
    agent: Option<crate::site::workspace::AgentUser>,
    actor: String,
}

impl Door {
    fn open(root: &Path, policy: Option<&Path>) -> Result<Door> {
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot find the workspace {}", root.display()))?;
        let record = crate::site::workspace::load_record(&root).ok();
        let policy_path = policy
            .map(Path::to_path_buf)
            .or_else(|| record.as_ref().map(|r| r.policy.clone()));
        let policy = match &policy_path {
            Some(p) => Policy::load(p)?,
            None => Policy::builtin(),
        };
        let mut rules = CommandRules::new(&policy.commands, &policy.refs.protected)?;
        let roots = Roots::of_workspace(&root)?;
        rules.push = record.as_ref().map(|r| push_target(&root, r, &policy));
        let agent = match record.as_ref().and_then(|r| r.agent_user.as_deref()) {
            Some(name) => Some(crate::site::workspace::AgentUser::lookup(name)?),
            None => None,
        };
        let actor = agent
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(crate::engine::identity::unix_user);
        let me = crate::engine::identity::unix_user();
        let audit_log = log::place(policy.audit.log.as_deref(), &root, &me);
        Ok(Door {
            root,
            record,
            policy,
            rules,
            roots,
            audit_log,
            agent,
            actor,
        })
    }

    /// The directory and the judge's verdict (`None`: allowed).
    fn judge(&self, program: &Program, cwd: Option<&Path>) -> (PathBuf, Option<Denial>) {
        let cwd_arg = cwd
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.join("code-repo"));
        let Ok(c) = cwd_arg.canonicalize() else {
            return (
                cwd_arg.clone(),
                Some(Denial::new(
                    "commands.cwd",
                    format!("{} does not exist", cwd_arg.display()),
                )),
            );
        };
        if !self.roots.writable.iter().any(|r| c.starts_with(r)) {
            let d = Denial::new(
                "commands.cwd",
                format!(
                    "{} is outside the workspace's writable roots ({})",
                    c.display(),
                    self.roots
                        .writable
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return (c, Some(d));
        }
        let denial = match program {
            Program::Argv(a) => self.rules.judge_argv(a, &c, &self.roots).err(),
            Program::Shell(s) => self.rules.judge_line(s, &c, &self.roots).err().or_else(|| {
                // A push is served through descriptors guard-exec hands to one command: it
                // must be that command, not part of a line the shell runs.
                push_in_line(s).then(|| {
                    Denial::new("commands.push", "a push inside a shell line cannot reach the upstream")
                        .hint("run the push as its own command: `guard-exec -- git push origin agent/<topic>`")
                })
            }),
        };
        (c, denial)
    }

    fn event(
        &self,
        shown: &str,
        outcome: &str,
        rule: Option<&str>,
        detail: serde_json::Value,
    ) -> Event {
        Event {
            door: "exec".into(),
            action: shown.to_string(),
            actor: self.actor.clone(),
            role: Some(self.policy.actors.role_of(&self.actor)),
            outcome: outcome.into(),
            rules: rule.map(|r| vec![r.to_string()]).unwrap_or_default(),
            detail,
        }
    }

    fn log_denial(&self) -> Denial {
        let why = match &self.audit_log {
            Err(w) => w.join("; "),
            Ok(_) => String::new(),
        };
        Denial::new(
            "commands.log",
            format!("this run cannot be recorded, so it is refused ({why})"),
        )
        .hint(&format!(
            "run guard-exec as root (it runs the command as the agent user), or have an admin create {} appendable by {}",
            self.root.join("logs").join(format!("exec-{}.log", crate::engine::identity::unix_user())).display(),
            crate::engine::identity::unix_user()
        ))
    }

    /// The walls for a run with its temporary directory; `Err` when the kernel cannot raise
    /// them and the policy requires them.
    fn walls(&self, tmp: &Path) -> Result<Option<Walls>, Denial> {
        let mut writable = self.roots.writable.clone();
        writable.push(tmp.to_path_buf());
        let walls = Walls {
            writable,
            tcp_connect: match self.policy.commands.network {
                NetworkMode::Open => None,
                // The upstream of a workspace is a local path: pushing needs no TCP.
                NetworkMode::Upstream => Some(vec![]),
            },
        };
        let support = Support::probe();
        let missing = support.missing_for(&walls);
        if missing.is_empty() {
            return Ok(Some(walls));
        }
        match self.policy.commands.walls {
            WallsMode::JudgedOnly => Ok(None),
            WallsMode::Required => Err(Denial::new(
                "commands.walls",
                format!(
                    "the kernel cannot raise the walls every command runs in: missing {}",
                    missing.join(", ")
                ),
            )),
        }
    }
}

/// Where a push may go: the recorded upstream, the clone's remotes that name it, the agent
/// namespace, the branch checked out.
fn push_target(root: &Path, r: &crate::site::workspace::Record, policy: &Policy) -> PushTarget {
    let upstream = r
        .upstream
        .canonicalize()
        .unwrap_or_else(|_| r.upstream.clone());
    let clone = root.join("code-repo");
    let mut remotes = Vec::new();
    // `--file` reads the clone's own file only (no includes): reading runs nothing.
    if let Ok(out) = std::process::Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(clone.join(".git").join("config"))
        .args(["--get-regexp", r"^remote\..*\.url$"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((key, url)) = line.split_once(' ') {
                let name = key.trim_start_matches("remote.").trim_end_matches(".url");
                let url = url.strip_prefix("file://").unwrap_or(url);
                let p = Path::new(url);
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    clone.join(p)
                };
                if p.canonicalize().is_ok_and(|c| c == upstream) {
                    remotes.push(name.to_string());
                }
            }
        }
    }
    let head = std::fs::read_to_string(clone.join(".git").join("HEAD"))
        .ok()
        .and_then(|h| {
            h.trim()
                .strip_prefix("ref: refs/heads/")
                .map(str::to_string)
        });
    PushTarget {
        upstream,
        remotes,
        namespace: policy.refs.agent_namespace.clone(),
        namespace_text: policy.refs.agent_namespace_text.clone(),
        branch: r.branch.clone(),
        head,
    }
}

fn is_push(argv: &[String]) -> Option<usize> {
    let n = normalise(argv);
    let i = n.sub_index?;
    (n.program == "git" && matches!(argv[i].as_str(), "push" | "send-pack")).then_some(i)
}

fn push_in_line(line: &str) -> bool {
    parse_shell_line(line).is_ok_and(|l| l.commands.iter().any(|c| is_push(&c.words).is_some()))
}

/// Judge the request, run it unless refused or a dry run, and append the run to the audit log.
/// `err` receives guard-exec's own messages (denials with their `hint:` line, timeouts); the
/// command's output passes straight through. An `Err` means nothing could be judged (exit 2).
pub fn execute(
    req: &Request,
    err: &mut dyn std::io::Write,
    interrupt: Option<&AtomicI32>,
) -> Result<Report> {
    let door = Door::open(&req.root, req.policy.as_deref())?;
    let timeout = req.timeout.unwrap_or(door.rules.timeout);
    let shown = req.program.display();
    let deny = |err: &mut dyn std::io::Write,
                d: Denial,
                log: Option<&Path>,
                cwd: &Path|
     -> Result<Report> {
        writeln!(err, "guard-exec: denied: {}", d.reason)?;
        writeln!(err, "hint: {}", d.hint)?;
        if let Some(log) = log {
            log::record(
                log,
                &door.event(
                    &shown,
                    "denied",
                    Some(&d.rule),
                    serde_json::json!({"cwd": cwd, "reason": d.reason}),
                ),
            )?;
        }
        Ok(Report {
            denial: Some(d),
            outcome: None,
            code: 1,
            audit_log: log.map(Path::to_path_buf).unwrap_or_default(),
        })
    };
    let (cwd, denial) = door.judge(&req.program, req.cwd.as_deref());
    let log = match &door.audit_log {
        Ok(l) => l.clone(),
        Err(_) => return deny(err, door.log_denial(), None, &cwd),
    };
    if let Some(d) = denial {
        return deny(err, d, Some(&log), &cwd);
    }
    if req.dry_run {
        writeln!(err, "guard-exec: allowed (dry run): {shown}")?;
        log::record(
            &log,
            &door.event(&shown, "dry-run", None, serde_json::json!({"cwd": cwd})),
        )?;
        return Ok(Report {
            denial: None,
            outcome: None,
            code: 0,
            audit_log: log,
        });
    }
    let as_user = match &door.agent {
        Some(a) if nix::unistd::geteuid().is_root() => Some((a.uid, a.gid)),
        _ => None,
    };
    let tmp = tempfile::Builder::new()
        .prefix("guard-exec-")
        .tempdir()
        .context("cannot make the run's temporary directory")?;
    if let Some((uid, gid)) = as_user {
        nix::unistd::chown(
            tmp.path(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .with_context(|| format!("cannot give {} to the agent user", tmp.path().display()))?;
    }
    let walls = match door.walls(tmp.path()) {
        Ok(w) => w,
        Err(d) => return deny(err, d, Some(&log), &cwd),
    };
    // A judged push reaches the upstream through a receive-pack started outside the walls.
    let (program, receive_pack) = match (&req.program, door.rules.push.as_ref()) {
        (Program::Argv(a), Some(t)) => match is_push(a) {
            Some(i) => {
                let mut a = a.clone();
                a.insert(i + 1, format!("--receive-pack={RELAY}"));
                (Program::Argv(a), Some(t.upstream.clone()))
            }
            None => (req.program.clone(), None),
        },
        _ => (req.program.clone(), None),
    };
    let tmp_os: OsString = tmp.path().as_os_str().to_owned();
    let outcome = run(
        &program,
        &RunOptions {
            cwd: cwd.clone(),
            timeout,
            grace: req.grace,
            as_user,
            walls: walls.clone(),
            env: ["TMPDIR", "TMP", "TEMP", "TEMPDIR"]
                .iter()
                .map(|k| (k.to_string(), tmp_os.clone()))
                .collect(),
            receive_pack,
        },
        interrupt,
    );
    drop(tmp);
    if let Some(e) = &outcome.spawn_error {
        writeln!(err, "guard-exec: cannot run {shown}: {e}")?;
    }
    if outcome.timed_out {
        writeln!(
            err,
            "guard-exec: time limit of {} s reached: the command and its process group were ended",
            timeout.as_secs_f64()
        )?;
    }
    let label = if outcome.timed_out {
        "timeout"
    } else if outcome.code == 0 {
        "ok"
    } else {
        "failed"
    };
    let _ = &door.record;
    log::record(
        &log,
        &door.event(
            &shown,
            label,
            None,
            serde_json::json!({
                "cwd": cwd,
                "exit_code": outcome.code,
                "duration_ms": outcome.duration.as_millis() as u64,
                "timeout_secs": timeout.as_secs_f64(),
                "walls": if walls.is_some() { "landlock" } else { "judged-only" },
            }),
        ),
    )?;
    Ok(Report {
        denial: None,
        code: outcome.code,
        outcome: Some(outcome),
        audit_log: log,
    })
}
