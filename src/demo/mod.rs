//! `git guard demo`: the whole story, told with the real binaries and real git on a scratch
//! directory, each step printed as it happens.
//!
//! An upstream bare repository with the server guard; a first deploy of a tiny service; an
//! agent workspace; an agent commit blocked by a denied path; a change over the cap; a test
//! file changed and flagged; the agent branch pushed and accepted; a deploy refused until a
//! human approves; the approval (and the agent's forged one, refused by the server); a deploy
//! with reload and health check; a broken release rolled back by itself.
//!
//! Every command is the one a person would type, shown as `WHO:DIR$ COMMAND` before it runs,
//! followed by the lines of its output that matter. Pushes go over local paths with the
//! pusher's name in `GL_USER`, as gitolite sets it, and the server guard is installed for
//! gitolite: `agent-bot` is the agent, `alice` the human. `git guard` runs through git, as a
//! user runs it.
//!
//! The demo leaves the machine as it found it: git reads no configuration but the scratch
//! directory's, `HOME` points into it, the service it starts is killed with its process group
//! (and stops by itself if the demo dies first), and the scratch directory is removed unless
//! asked to keep it, also when the person interrupts it (see [`DemoOptions::interrupted`]). Every step checks its outcome; the first one that does not go as told
//! stops the demo with what it saw.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// What `git guard demo` is asked.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The scratch directory (created; must not exist or be empty). Default: a temporary one.
    pub dir: Option<PathBuf>,
    /// Keep the scratch directory afterwards.
    pub keep: bool,
    /// Where the git-guard binaries are (`git-guard`, `guard-hook`, `guard-deploy`).
    pub bin_dir: PathBuf,
    /// Set (by a signal handler) when the person interrupts the demo: it stops at the next
    /// command and still cleans up. The commands it runs get the terminal's SIGINT too.
    pub interrupted: Option<&'static AtomicBool>,
}

/// The number of steps the demo tells.
pub const STEPS: usize = 11;

const AGENT: &str = "agent-bot";
const HUMAN: &str = "alice";
/// The deploy user: guard-deploy acts as the unix user running it; the prompt says its job.
const DEPLOYER: &str = "deploy";
const CODE: &str = "workspace/code-repo";

/// Run the demo, writing each step to `out`.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> Result<()> {
    let (root, temp) = match &opts.dir {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(d)
                    .with_context(|| format!("cannot read {}", d.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "{} is not empty (hint: give a new directory to --dir)",
                    d.display()
                );
            }
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            let abs = d
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", d.display()))?;
            (abs, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("git-guard-demo-")
                .tempdir()
                .context("cannot create a scratch directory")?;
            let abs = t
                .path()
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", t.path().display()))?;
            (abs, Some(t))
        }
    };
    let mut demo = Demo {
        root: root.clone(),
        bin_dir: opts.bin_dir.clone(),
        out,
        step: 0,
        service: None,
        agent_env: Vec::new(),
        interrupted: opts.interrupted,
    };
    let result = demo.story();
    let stopped = match demo.stop_service() {
        Some(pid) => format!("service (pid {pid}) stopped; "),
        None => String::new(),
    };
    let keep_note = match (opts.keep, temp) {
        (true, Some(t)) => {
            let kept = t.keep();
            format!("kept {} (remove it when done)", kept.display())
        }
        (true, None) => format!("kept {} (remove it when done)", root.display()),
        (false, Some(t)) => match t.close() {
            Ok(()) => format!("removed {}", root.display()),
            Err(e) => format!("could not remove {}: {e}", root.display()),
        },
        (false, None) => match std::fs::remove_dir_all(&root) {
            Ok(()) => format!("removed {}", root.display()),
            Err(e) => format!("could not remove {}: {e}", root.display()),
        },
    };
    match result {
        Ok(()) => {
            writeln!(
                demo.out,
                "\ndemo complete: {STEPS} steps, every one as told; {stopped}{keep_note}"
            )?;
            Ok(())
        }
        Err(e) => {
            writeln!(demo.out, "\ndemo stopped; {stopped}{keep_note}")?;
            Err(e)
        }
    }
}

struct Demo<'a> {
    root: PathBuf,
    bin_dir: PathBuf,
    out: &'a mut dyn Write,
    step: usize,
    service: Option<Child>,
    /// The agent's environment from the workspace's `agent.env`, as its harness sources it.
    agent_env: Vec<(String, String)>,
    interrupted: Option<&'static AtomicBool>,
}

impl Demo<'_> {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn check_interrupted(&self) -> Result<()> {
        if self.interrupted.is_some_and(|i| i.load(Ordering::SeqCst)) {
            bail!("interrupted at step {}", self.step);
        }
        Ok(())
    }

    fn title(&mut self, text: &str) -> Result<()> {
        self.step += 1;
        writeln!(self.out, "\n[{}/{STEPS}] {text}", self.step)?;
        self.out.flush()?;
        Ok(())
    }

    fn say(&mut self, text: impl AsRef<str>) -> Result<()> {
        writeln!(self.out, "    {}", text.as_ref())?;
        self.out.flush()?;
        Ok(())
    }

    fn ok(&mut self, text: impl AsRef<str>) -> Result<()> {
        self.say(format!("ok: {}", text.as_ref()))
    }

    /// Paths under the scratch directory, relative to it, as the commands are shown.
    fn relative(&self, text: &str) -> String {
        let root = self.root.display().to_string();
        text.replace(&format!("{root}/"), "").replace(&root, ".")
    }

    /// A command with the demo's environment: its binaries first on PATH, git isolated from
    /// the machine's configuration, `HOME` in the scratch directory, and `GL_USER` as `who`.
    fn command(&self, program: &str, dir: &str, who: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.p(dir));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("GIT_") || k.starts_with("GUARD_") {
                c.env_remove(k.as_ref());
            }
        }
        let mut path = std::ffi::OsString::from(self.bin_dir.as_os_str());
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        c.env("PATH", path)
            .env("HOME", self.p("home"))
            .env("GIT_CONFIG_GLOBAL", self.p("home/gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GL_USER", who)
            .env("RUST_LOG", "off")
            .stdin(Stdio::null());
        if who == AGENT {
            for (k, v) in &self.agent_env {
                c.env(k, v);
            }
        }
        c
    }

    /// Run without showing it (setting things up, tidying after a refusal); require exit 0.
    fn quiet(&mut self, who: &str, dir: &str, program: &str, args: &[&str]) -> Result<String> {
        self.exec(who, dir, program, args, 0)
    }

    /// Show `WHO:DIR$ COMMAND`, run it, require exit `code`; return its output (stdout then
    /// stderr, paths relative to the scratch directory).
    fn cmd(
        &mut self,
        who: &str,
        dir: &str,
        program: &str,
        args: &[&str],
        code: i32,
    ) -> Result<String> {
        let mut line = String::from(program);
        for a in args {
            line.push(' ');
            line.push_str(&shell_word(a));
        }
        let prompt = if dir.is_empty() {
            format!("{who}$")
        } else {
            format!("{who}:{dir}$")
        };
        writeln!(self.out, "    {prompt} {line}")?;
        self.out.flush()?;
        self.exec(who, dir, program, args, code)
    }

    fn exec(
        &mut self,
        who: &str,
        dir: &str,
        program: &str,
        args: &[&str],
        code: i32,
    ) -> Result<String> {
        self.check_interrupted()?;
        let o = self
            .command(program, dir, who)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {program} {}", args.join(" ")))?;
        let text = self.relative(&format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
        self.check_interrupted()?;
        if o.status.code() != Some(code) {
            bail!(
                "step {}: `{program} {}` in {} exited {:?}, expected {code}:\n{text}",
                self.step,
                args.join(" "),
                if dir.is_empty() { "." } else { dir },
                o.status.code()
            );
        }
        Ok(text)
    }

    /// Show the lines of `text` that contain any of `keys`, in order (at most `max`).
    fn show(&mut self, text: &str, keys: &[&str], max: usize) -> Result<()> {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| keys.iter().any(|k| l.contains(k)))
            .take(max)
            .collect();
        for l in lines {
            writeln!(self.out, "    | {}", l.trim_end())?;
        }
        self.out.flush()?;
        Ok(())
    }

    fn require(&self, text: &str, needle: &str, what: &str) -> Result<()> {
        if !text.contains(needle) {
            bail!(
                "step {}: expected {what} ({needle:?}) but saw:\n{text}",
                self.step
            );
        }
        Ok(())
    }

    fn write(&self, rel: &str, content: &str) -> Result<()> {
        let p = self.p(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))
    }

    fn head(&mut self, who: &str, dir: &str) -> Result<String> {
        Ok(self
            .quiet(who, dir, "git", &["rev-parse", "HEAD"])?
            .trim()
            .to_string())
    }

    fn story(&mut self) -> Result<()> {
        writeln!(
            self.out,
            "git-guard demo: an agent's change on its way to a running service, through every door.\n\
             Scratch directory {} (paths below are relative to it). Commands are shown as\n\
             WHO:DIR$ COMMAND; pushes name their pusher in GL_USER, as gitolite does:\n\
             {AGENT} is an agent, {HUMAN} a human.",
            self.root.display()
        )?;
        self.write(
            "home/gitconfig",
            "[user]\n\tname = Alice\n\temail = alice@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )?;
        self.write("policy.toml", &policy_text(&self.root))?;

        self.upstream()?;
        self.first_deploy()?;
        self.workspace()?;
        self.denied_path()?;
        self.over_the_cap()?;
        let v2 = self.test_changed()?;
        self.push()?;
        self.deploy_refused()?;
        self.approval(&v2)?;
        self.deploy_approved()?;
        self.rollback()?;

        let text = self.exec(
            HUMAN,
            "",
            "git",
            &["guard", "log", "--file", "audit.log", "--verify"],
            0,
        )?;
        writeln!(
            self.out,
            "\nEvery decision above is in audit.log, one hash-chained line each:"
        )?;
        self.say(format!("{HUMAN}$ git guard log --file audit.log --verify"))?;
        self.require(&text, "intact", "an intact hash chain")?;
        self.show(&text, &["intact"], 1)?;
        Ok(())
    }

    /// 1. The upstream and its server guard.
    fn upstream(&mut self) -> Result<()> {
        self.title("An upstream repository people rely on, guarded on the server")?;
        self.write("seed/app/version.txt", "version 1\n")?;
        self.write("seed/app/healthy", "ok\n")?;
        self.write(
            "seed/ci/check.sh",
            "#!/bin/sh\n# Runs every test script of the checkout.\nset -e\nfor t in tests/*.sh; do\n  [ -e \"$t\" ] || continue\n  sh \"$t\"\ndone\ngrep -q '^version' app/version.txt\n",
        )?;
        self.quiet(HUMAN, "seed", "git", &["init", "-q", "-b", "main"])?;
        self.quiet(HUMAN, "seed", "git", &["add", "-A"])?;
        self.quiet(
            HUMAN,
            "seed",
            "git",
            &["commit", "-q", "-m", "The service, version 1"],
        )?;
        self.quiet(
            HUMAN,
            "",
            "git",
            &["clone", "-q", "--bare", "seed", "upstream.git"],
        )?;
        std::fs::remove_dir_all(self.p("seed")).context("cannot remove the seed clone")?;
        self.say(
            "upstream.git holds a tiny service: app/version.txt, app/healthy, ci/check.sh (its tests)",
        )?;
        let text = self.cmd(
            HUMAN,
            "",
            "git",
            &[
                "guard",
                "install",
                "--server",
                "--host",
                "gitolite",
                "--policy",
                "policy.toml",
                "upstream.git",
            ],
            0,
        )?;
        self.require(
            &text,
            "server hooks installed",
            "the server hooks installed",
        )?;
        self.show(&text, &["server hooks installed"], 1)?;
        self.ok(
            "every push to upstream.git is judged by pre-receive, as the server, on policy.toml",
        )
    }

    /// 2. The running service and its first deploy.
    fn first_deploy(&mut self) -> Result<()> {
        self.title("A tiny service, deployed from main with guard-deploy")?;
        let pid = self.start_service()?;
        self.say(format!(
            "the service runs as pid {pid}: it serves deploy/current/app/version.txt and reloads on SIGHUP (pidfile service.pid)"
        ))?;
        self.deploy_and_serve("version 1")?;
        self.ok("release 1 is live; the service serves \"version 1\"")
    }

    /// A deploy that must go through every step, then the service serving `version`.
    fn deploy_and_serve(&mut self, version: &str) -> Result<()> {
        let text = self.deploy(0)?;
        self.show(
            &text,
            &[
                "tests: passed",
                "current ->",
                "reload:",
                "health:",
                "deployed",
            ],
            5,
        )?;
        self.wait_served(version)
    }

    /// 3. The agent's workspace.
    fn workspace(&mut self) -> Result<()> {
        self.title("An agent workspace: its own clone, hooks it cannot change")?;
        let text = self.cmd(
            HUMAN,
            "",
            "git",
            &[
                "guard",
                "workspace",
                "create",
                "--from",
                "upstream.git",
                "--root",
                "workspace",
                "--topic",
                "feature",
                "--policy",
                "policy.toml",
                "--identity",
                "Agent Bot <agent@example.com>",
            ],
            0,
        )?;
        self.show(&text, &["code-repo "], 1)?;
        let env = std::fs::read_to_string(self.p("workspace/agent.env"))
            .context("cannot read workspace/agent.env")?;
        self.agent_env = parse_env_file(&env)
            .into_iter()
            .filter(|(k, _)| k.starts_with("GIT_") || k.starts_with("AGENT_"))
            .collect();
        self.say(format!(
            "{AGENT}$ . workspace/agent.env    # the agent's harness takes its identity and paths"
        ))?;
        let branch = self.quiet(AGENT, CODE, "git", &["branch", "--show-current"])?;
        let branch = branch.trim();
        if branch != "agent/feature" {
            bail!("step 3: the agent's branch is {branch:?}, expected agent/feature");
        }
        self.ok(format!(
            "{AGENT} works in {CODE} on branch {branch}; its hooks and policy are in workspace/hooks"
        ))
    }

    /// 4. A denied path.
    fn denied_path(&mut self) -> Result<()> {
        self.title("The agent commits a .env file: blocked by the deny list")?;
        let before = self.head(AGENT, CODE)?;
        self.write(&format!("{CODE}/.env"), "DATABASE_PASSWORD=hunter2\n")?;
        self.cmd(AGENT, CODE, "git", &["add", ".env"], 0)?;
        let text = self.cmd(AGENT, CODE, "git", &["commit", "-m", "Add env"], 1)?;
        self.require(&text, "error[paths.deny]", "a paths.deny violation")?;
        self.show(&text, &["error[paths.deny]", "hint:"], 2)?;
        if self.head(AGENT, CODE)? != before {
            bail!("step 4: the refused commit moved the agent's branch");
        }
        self.quiet(AGENT, CODE, "git", &["rm", "-q", "--cached", ".env"])?;
        std::fs::remove_file(self.p(&format!("{CODE}/.env")))?;
        self.ok("the commit was refused by pre-commit; nothing was recorded")
    }

    /// 5. Over the cap.
    fn over_the_cap(&mut self) -> Result<()> {
        self.title("The agent commits 12 files at once: over the cap of 10")?;
        let before = self.head(AGENT, CODE)?;
        for i in 0..12 {
            self.write(&format!("{CODE}/app/gen/part{i}.txt"), &format!("{i}\n"))?;
        }
        self.cmd(AGENT, CODE, "git", &["add", "app/gen"], 0)?;
        let text = self.cmd(AGENT, CODE, "git", &["commit", "-m", "Generate parts"], 1)?;
        self.require(&text, "error[caps.files]", "a caps.files violation")?;
        self.show(&text, &["error[caps.", "hint:"], 2)?;
        if self.head(AGENT, CODE)? != before {
            bail!("step 5: the refused commit moved the agent's branch");
        }
        self.quiet(AGENT, CODE, "git", &["reset", "-q"])?;
        std::fs::remove_dir_all(self.p(&format!("{CODE}/app/gen")))?;
        self.ok("refused with the figures and a hint to split the change")
    }

    /// 6. A test changed: flagged, not blocked. Returns the flagged commit.
    fn test_changed(&mut self) -> Result<String> {
        self.title("The agent changes the code and a test: committed, and flagged")?;
        self.write(&format!("{CODE}/app/version.txt"), "version 2\n")?;
        self.write(
            &format!("{CODE}/tests/version.sh"),
            "#!/bin/sh\ngrep -q 'version 2' app/version.txt\n",
        )?;
        self.cmd(
            AGENT,
            CODE,
            "git",
            &["add", "app/version.txt", "tests/version.sh"],
            0,
        )?;
        let text = self.cmd(AGENT, CODE, "git", &["commit", "-m", "Serve version 2"], 0)?;
        self.require(&text, "flag[tests.changed]", "a tests.changed flag")?;
        self.show(&text, &["flag[tests.changed]"], 1)?;
        let v2 = self.head(AGENT, CODE)?;
        let text = self.cmd(
            AGENT,
            CODE,
            "git",
            &["guard", "flags", "--policy", "../hooks/policy.toml"],
            0,
        )?;
        self.require(
            &text,
            "[outstanding] tests.changed:tests/version.sh",
            "an outstanding test flag",
        )?;
        self.show(&text, &["[outstanding]", "git-guard flags:"], 2)?;
        self.ok(format!(
            "commit {} is in; its test change needs a person's approval before it can deploy",
            short(&v2)
        ))?;
        Ok(v2)
    }

    /// 7. The agent's push, and a person taking it into main.
    fn push(&mut self) -> Result<()> {
        self.title("The agent pushes agent/feature: accepted by the server guard")?;
        let text = self.cmd(AGENT, CODE, "git", &["push", "origin", "agent/feature"], 0)?;
        self.require(&text, "remote: git-guard: PASSED", "the server's verdict")?;
        self.require(
            &text,
            "judged as agent-bot (agent)",
            "the pusher named by the server",
        )?;
        self.show(
            &text,
            &["remote: flag[", "remote: git-guard: PASSED", "->"],
            3,
        )?;
        // Flags never block a push; they block a deploy. A person takes the branch into main.
        self.cmd(
            HUMAN,
            "",
            "git",
            &["clone", "-q", "upstream.git", "human"],
            0,
        )?;
        self.cmd(
            HUMAN,
            "human",
            "git",
            &["merge", "-q", "--ff-only", "origin/agent/feature"],
            0,
        )?;
        let text = self.cmd(HUMAN, "human", "git", &["push", "origin", "main"], 0)?;
        self.require(&text, "remote: git-guard: PASSED", "the server's verdict")?;
        self.show(&text, &["remote: git-guard: PASSED", "->"], 2)?;
        self.ok(format!(
            "agent/feature is upstream, judged as {AGENT}'s push; {HUMAN} fast-forwarded main to it"
        ))
    }

    /// 8. Deploy refused.
    fn deploy_refused(&mut self) -> Result<()> {
        self.title("A deploy of main is refused: the flag is not approved")?;
        let text = self.deploy(1)?;
        self.require(&text, "not approved", "a refusal for the unapproved flag")?;
        self.show(
            &text,
            &["guard-deploy: not approved", "guard-deploy: REFUSED"],
            2,
        )?;
        self.wait_served("version 1")?;
        self.ok("nothing changed; release 1 still serves \"version 1\"")
    }

    /// 9. The review and the approval; the agent's forged approval refused by the server.
    fn approval(&mut self, v2: &str) -> Result<()> {
        self.title(&format!("{HUMAN} reviews and approves the flagged commit"))?;
        let c = short(v2);
        // Who pushed each commit, as the server recorded it, travels under refs/guard/.
        self.cmd(
            HUMAN,
            "human",
            "git",
            &["fetch", "-q", "origin", "+refs/guard/*:refs/guard/*"],
            0,
        )?;
        let base = format!("{c}~1");
        let text = self.cmd(
            HUMAN,
            "human",
            "git",
            &[
                "guard",
                "report",
                &c,
                "--base",
                &base,
                "--policy",
                "../policy.toml",
            ],
            0,
        )?;
        self.require(&text, "## Checklist", "the review's checklist")?;
        self.show(&text, &["- [x]", "- [ ]"], 4)?;
        let text = self.cmd(
            HUMAN,
            "human",
            "git",
            &[
                "guard",
                "approve",
                &c,
                "--as",
                HUMAN,
                "--policy",
                "../policy.toml",
                "-m",
                "the new test checks the version the service now serves",
            ],
            0,
        )?;
        self.require(&text, "pushed to origin", "the approval pushed upstream")?;
        self.show(&text, &["git-guard approve: approved"], 1)?;
        // The agent forges one in alice's name: the server knows who is pushing.
        let text = self.cmd(
            AGENT,
            CODE,
            "git",
            &[
                "guard",
                "approve",
                &c,
                "--as",
                HUMAN,
                "--policy",
                "../hooks/policy.toml",
                "-m",
                "looks fine to me",
            ],
            1,
        )?;
        self.require(&text, "refused the approval", "the forged approval refused")?;
        self.show(&text, &["refused the approval", "remote: error["], 2)?;
        self.ok(format!(
            "approved by {HUMAN}, bound to commit {c} and its tree; the server knew {AGENT} was pushing and refused its forgery"
        ))
    }

    /// 10. Deploy.
    fn deploy_approved(&mut self) -> Result<()> {
        self.title("The deploy goes through: tests, switch, reload, health check")?;
        self.deploy_and_serve("version 2")?;
        self.ok("release 2 is live; the service reloaded and serves \"version 2\"")
    }

    /// 11. A broken release rolls back.
    fn rollback(&mut self) -> Result<()> {
        self.title("A broken release fails its health check and rolls back by itself")?;
        self.write(&format!("{CODE}/app/version.txt"), "version 2.1\n")?;
        self.cmd(AGENT, CODE, "git", &["rm", "-q", "app/healthy"], 0)?;
        self.cmd(
            AGENT,
            CODE,
            "git",
            &["commit", "-q", "-am", "Serve version 2.1; tidy up app/"],
            0,
        )?;
        let text = self.cmd(AGENT, CODE, "git", &["push", "origin", "agent/feature"], 0)?;
        self.show(&text, &["remote: git-guard: PASSED"], 1)?;
        self.cmd(
            HUMAN,
            "human",
            "git",
            &["pull", "-q", "--ff-only", "origin", "agent/feature"],
            0,
        )?;
        self.cmd(HUMAN, "human", "git", &["push", "-q", "origin", "main"], 0)?;
        let text = self.deploy(1)?;
        self.require(&text, "ROLLED BACK", "a rollback")?;
        self.show(
            &text,
            &["current ->", "health check failed", "ROLLED BACK"],
            4,
        )?;
        self.wait_served("version 2")?;
        let text = self.cmd(
            DEPLOYER,
            "",
            "guard-deploy",
            &["--policy", "policy.toml", "status"],
            0,
        )?;
        self.show(&text, &["current:", "last run:"], 2)?;
        self.ok("rolled back to release 2, which serves \"version 2\" again")
    }

    fn deploy(&mut self, code: i32) -> Result<String> {
        self.cmd(
            DEPLOYER,
            "",
            "guard-deploy",
            &[
                "--repo",
                "upstream.git",
                "--policy",
                "policy.toml",
                "deploy",
                "main",
            ],
            code,
        )
    }

    /// The service: a shell loop that writes its pid and serves (copies) the current
    /// release's version on start and on every SIGHUP. It ends by itself when the demo is gone.
    fn start_service(&mut self) -> Result<u32> {
        let script = "echo $$ > service.pid\n\
             serve() { cat deploy/current/app/version.txt > served.txt 2>/dev/null || echo none > served.txt; }\n\
             trap serve HUP\n\
             serve\n\
             while kill -0 $PPID 2>/dev/null; do sleep 1 & wait $!; done\n";
        let mut c = self.command("sh", "", HUMAN);
        {
            use std::os::unix::process::CommandExt as _;
            // Its own process group, so that stopping it also stops what it started.
            c.process_group(0);
        }
        let child = c
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the demo service")?;
        let pid = child.id();
        self.service = Some(child);
        for _ in 0..400 {
            if std::fs::read_to_string(self.p("service.pid"))
                .is_ok_and(|s| s.trim() == pid.to_string())
            {
                return Ok(pid);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("the demo service did not write its pidfile")
    }

    /// Wait (up to ten seconds) for the service to serve `want`: a reload is a signal, handled
    /// when the shell next wakes.
    fn wait_served(&mut self, want: &str) -> Result<()> {
        let file = self.p("served.txt");
        let mut seen = String::new();
        for _ in 0..400 {
            self.check_interrupted()?;
            seen = std::fs::read_to_string(&file).unwrap_or_default();
            if seen.trim() == want {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!(
            "step {}: the service serves {:?}, expected {want:?}",
            self.step,
            seen.trim()
        )
    }

    /// Kill the service and everything it started; its pid, if there was one.
    fn stop_service(&mut self) -> Option<u32> {
        let mut child = self.service.take()?;
        let pid = child.id();
        let group = i32::try_from(pid).ok().map(nix::unistd::Pid::from_raw);
        if let Some(g) = group {
            let _ = nix::sys::signal::killpg(g, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        // The shell's children are reaped by whoever inherits them: wait (a little) until the
        // group is empty, so that "stopped" is true when it is said.
        if let Some(g) = group {
            for _ in 0..200 {
                if nix::sys::signal::killpg(g, None).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Some(pid)
    }
}

/// The first 12 digits of a commit id.
fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `word` as a shell would need it written.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c) || (c == '~' && i > 0)
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `KEY='value'` lines, as `git guard workspace create` writes `agent.env` (comments and
/// other lines skipped).
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            Some((k.to_string(), unquote(v)?))
        })
        .collect()
}

/// Undo shell single-quoting (`'it'\''s'` is `it's`); `None` for anything else.
fn unquote(v: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = v;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn policy_text(root: &Path) -> String {
    format!(
        r#"# The demo's policy: the defaults, with names for the people and a deploy.
[actors]
agents = ["{AGENT}"]
humans = ["{HUMAN}"]

[tests]
command = "sh ci/check.sh"
timeout_secs = 60

[deploy]
root = "{root}/deploy"
branch = "main"
keep = 3
pidfile = "{root}/service.pid"
reload_signal = "HUP"
health_command = "test -f \"$GUARD_RELEASE_DIR/app/healthy\""
health_retries = 2
health_interval_ms = 100
health_timeout_secs = 10

[audit]
log = "{root}/audit.log"
"#,
        root = root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_unquote_as_a_shell_reads_them() {
        let text = "# comment\nGIT_AUTHOR_NAME='Agent Bot'\nODD='it'\\''s'\nbad line\nX=unquoted\n";
        assert_eq!(
            parse_env_file(text),
            vec![
                ("GIT_AUTHOR_NAME".to_string(), "Agent Bot".to_string()),
                ("ODD".to_string(), "it's".to_string()),
            ]
        );
    }

    #[test]
    fn shown_words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_word("agent/feature"), "agent/feature");
        assert_eq!(shell_word("Add env"), "'Add env'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
