//! `git guard demo`: the whole story, told with the real binaries and real git on a scratch
//! directory, each step printed as it happens.
//!
//! An upstream bare repository with the server guard; a first deploy of a tiny service; an
//! agent workspace; an agent commit blocked by a denied path; a change over the cap; a test
//! file changed and flagged; the agent branch pushed and accepted; a deploy refused until a
//! human approves; the approval; a deploy with reload and health check; a broken release rolled
//! back by itself. Identities are the host's (`GL_USER`, as gitolite sets it): `agent-bot` is
//! the agent, `alice` the human.
//!
//! The demo leaves the machine as it found it: the service it starts is killed with its process
//! group, and the scratch directory is removed unless asked to keep it. Every step checks its
//! outcome; the first one that does not go as told stops the demo with what it saw.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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
}

/// The number of steps the demo tells.
pub const STEPS: usize = 11;

const AGENT: &str = "agent-bot";
const HUMAN: &str = "alice";

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
            (std::path::absolute(d)?, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("git-guard-demo-")
                .tempdir()
                .context("cannot create a scratch directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut demo = Demo {
        root: root.clone(),
        bin_dir: opts.bin_dir.clone(),
        out,
        step: 0,
        service: None,
    };
    let result = demo.story();
    let stopped = if demo.stop_service() {
        "service stopped; "
    } else {
        ""
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
}

impl Demo<'_> {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
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

    /// A command with the demo's environment: its binaries first on PATH, git isolated from
    /// the machine's configuration, fixed names for commits, and `GL_USER` as `who`.
    fn command(&self, program: &str, dir: &Path, who: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("GIT_") || k.starts_with("GUARD_") {
                c.env_remove(k);
            }
        }
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("GIT_CONFIG_GLOBAL", self.p("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GL_USER", who)
            .env("RUST_LOG", "off")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, program: &str, dir: &Path, who: &str, args: &[&str]) -> Result<Output> {
        self.command(program, dir, who)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {program} {}", args.join(" ")))
    }

    /// Run and require exit `code`; return stdout and stderr together.
    fn expect(
        &self,
        program: &str,
        dir: &Path,
        who: &str,
        args: &[&str],
        code: i32,
    ) -> Result<String> {
        let o = self.run(program, dir, who, args)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if o.status.code() != Some(code) {
            bail!(
                "step {}: `{program} {}` in {} exited {:?}, expected {code}:\n{text}",
                self.step,
                args.join(" "),
                dir.display(),
                o.status.code()
            );
        }
        Ok(text)
    }

    fn git(&self, dir: &Path, who: &str, args: &[&str]) -> Result<String> {
        self.expect("git", dir, who, args, 0)
    }

    /// Show the lines of `text` that mention any of `keys` (at most `max`).
    fn show(&mut self, text: &str, keys: &[&str], max: usize) -> Result<()> {
        let lines: Vec<String> = text
            .lines()
            .filter(|l| keys.iter().any(|k| l.contains(k)))
            .take(max)
            .map(|l| l.trim_end().to_string())
            .collect();
        for l in lines {
            writeln!(self.out, "    | {l}")?;
        }
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
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))
    }

    fn story(&mut self) -> Result<()> {
        let root = self.root.clone();
        self.write(
            "gitconfig",
            "[user]\n\tname = Demo\n\temail = demo@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        )?;

        // 1. The upstream and its server guard.
        self.title("An upstream repository people rely on, guarded on the server")?;
        let policy = self.p("policy.toml");
        std::fs::write(&policy, policy_text(&root))?;
        self.write("seed/app/version.txt", "version 1\n")?;
        self.write("seed/app/healthy", "ok\n")?;
        self.write(
            "seed/ci/check.sh",
            "#!/bin/sh\n# Runs every test script of the checkout.\nset -e\nfor t in tests/*.sh; do\n  [ -e \"$t\" ] || continue\n  sh \"$t\"\ndone\ngrep -q '^version' app/version.txt\n",
        )?;
        let seed = self.p("seed");
        self.git(&seed, HUMAN, &["init", "-q", "-b", "main"])?;
        self.git(&seed, HUMAN, &["add", "-A"])?;
        self.git(
            &seed,
            HUMAN,
            &["commit", "-q", "-m", "The service, version 1"],
        )?;
        self.git(
            &root,
            HUMAN,
            &["clone", "-q", "--bare", "seed", "upstream.git"],
        )?;
        let upstream = self.p("upstream.git");
        let policy_s = policy.display().to_string();
        let text = self.expect(
            "git-guard",
            &upstream,
            HUMAN,
            &[
                "install", "--server", "--host", "gitolite", "--policy", &policy_s,
            ],
            0,
        )?;
        self.show(&text, &["pre-receive", "post-receive", "install"], 4)?;
        self.say(format!(
            "ok: {} has the server guard (identity from GL_USER; {AGENT} is an agent, {HUMAN} a human)",
            upstream.display()
        ))?;

        // 2. The running service and its first deploy.
        self.title("A tiny service, deployed from main with guard-deploy")?;
        self.start_service()?;
        let text = self.deploy(0)?;
        self.show(&text, &["deploy", "health", "reload"], 6)?;
        self.wait_served("version 1")?;
        self.say("ok: release 1 is live; the service serves \"version 1\"")?;

        // 3. The agent's workspace.
        self.title("An agent workspace: its own clone, hooks it cannot change")?;
        let ws = self.p("workspace");
        let ws_s = ws.display().to_string();
        let up_s = upstream.display().to_string();
        let text = self.expect(
            "git-guard",
            &root,
            AGENT,
            &[
                "workspace",
                "create",
                "--from",
                &up_s,
                "--root",
                &ws_s,
                "--topic",
                "feature",
                "--policy",
                &policy_s,
                "--identity",
                "Agent Bot <agent@example.com>",
            ],
            0,
        )?;
        self.show(&text, &["workspace", "branch", "code-repo"], 4)?;
        let code = ws.join("code-repo");
        let branch = self.git(&code, AGENT, &["branch", "--show-current"])?;
        let branch = branch.trim().to_string();
        self.say(format!(
            "ok: the agent works in {} on branch {branch}",
            code.display()
        ))?;

        // 4. A denied path.
        self.title("The agent commits a .env file: blocked by the deny list")?;
        std::fs::write(code.join(".env"), "DATABASE_PASSWORD=hunter2\n")?;
        self.git(&code, AGENT, &["add", ".env"])?;
        let text = self.expect("git", &code, AGENT, &["commit", "-q", "-m", "Add env"], 1)?;
        self.require(&text, "paths.deny", "a paths.deny violation")?;
        self.show(&text, &["paths.deny", "hint"], 3)?;
        self.git(&code, AGENT, &["rm", "-q", "--cached", ".env"])?;
        std::fs::remove_file(code.join(".env"))?;
        self.say("ok: the commit was refused; nothing was recorded")?;

        // 5. Over the cap.
        self.title("The agent commits 12 files at once: over the cap of 10")?;
        for i in 0..12 {
            std::fs::create_dir_all(code.join("app/gen"))?;
            std::fs::write(code.join(format!("app/gen/part{i}.txt")), format!("{i}\n"))?;
        }
        self.git(&code, AGENT, &["add", "-A"])?;
        let text = self.expect(
            "git",
            &code,
            AGENT,
            &["commit", "-q", "-m", "Generate parts"],
            1,
        )?;
        self.require(&text, "caps.", "a caps violation")?;
        self.show(&text, &["caps.", "hint"], 3)?;
        self.git(&code, AGENT, &["reset", "-q"])?;
        std::fs::remove_dir_all(code.join("app/gen"))?;
        self.say("ok: refused with the figures and a hint to split the change")?;

        // 6. A test changed: flagged, not blocked.
        self.title("The agent changes the code and a test: committed, and flagged")?;
        std::fs::write(code.join("app/version.txt"), "version 2\n")?;
        std::fs::create_dir_all(code.join("tests"))?;
        std::fs::write(
            code.join("tests/version.sh"),
            "#!/bin/sh\ngrep -q 'version 2' app/version.txt\n",
        )?;
        self.git(&code, AGENT, &["add", "-A"])?;
        let text = self.git(&code, AGENT, &["commit", "-q", "-m", "Serve version 2"])?;
        self.show(&text, &["flag"], 3)?;
        let v2 = self
            .git(&code, AGENT, &["rev-parse", "HEAD"])?
            .trim()
            .to_string();
        let range = format!("origin/main..{v2}");
        let text = self.expect(
            "git-guard",
            &code,
            AGENT,
            &["flags", &range, "--policy", &policy_s],
            0,
        )?;
        self.require(
            &text,
            "[outstanding] tests.changed:tests/version.sh",
            "an outstanding test flag",
        )?;
        self.show(&text, &["outstanding", "git-guard flags"], 4)?;
        self.say("ok: the test change needs a person's approval before it can deploy")?;

        // 7. The push.
        self.title(&format!(
            "The agent pushes {branch}: accepted by the server guard"
        ))?;
        let text = self.expect("git", &code, AGENT, &["push", "origin", &branch], 0)?;
        self.show(&text, &["remote:", "->"], 5)?;
        self.git(
            &upstream,
            HUMAN,
            &["rev-parse", "--verify", &format!("refs/heads/{branch}")],
        )?;
        // A person takes the branch into main (flags never block a push; they block a deploy).
        let human = self.p("human");
        self.git(&root, HUMAN, &["clone", "-q", &up_s, "human"])?;
        self.git(&human, HUMAN, &["fetch", "-q", "origin", &branch])?;
        let text = self.expect(
            "git",
            &human,
            HUMAN,
            &["push", "origin", "FETCH_HEAD:refs/heads/main"],
            0,
        )?;
        self.show(&text, &["remote:", "->"], 3)?;
        self.say(format!(
            "ok: {branch} is upstream, and {HUMAN} fast-forwarded main to it"
        ))?;

        // 8. Deploy refused.
        self.title("A deploy of main is refused: the flag is not approved")?;
        let text = self.deploy(1)?;
        self.require(&text, "not approved", "a refusal for the unapproved flag")?;
        self.show(&text, &["not approved", "refuse", "REFUSED"], 4)?;
        self.say("ok: nothing changed; release 1 still serves")?;

        // 9. The approval.
        self.title(&format!("{HUMAN} reviews and approves the flagged commit"))?;
        let text = self.expect(
            "git-guard",
            &human,
            HUMAN,
            &[
                "report",
                &v2,
                "--base",
                "origin/main~1",
                "--policy",
                &policy_s,
            ],
            0,
        )?;
        self.show(&text, &["- [x]", "- [ ]"], 8)?;
        let text = self.expect(
            "git-guard",
            &human,
            HUMAN,
            &[
                "approve",
                &v2,
                "-m",
                "the test matches the new version",
                "--as",
                HUMAN,
                "--policy",
                &policy_s,
            ],
            0,
        )?;
        self.require(&text, "pushed to origin", "the approval pushed upstream")?;
        self.show(&text, &["git-guard approve", "remote:"], 3)?;
        // The agent cannot approve its own work.
        let text = self.expect(
            "git-guard",
            &code,
            AGENT,
            &[
                "approve", &v2, "-m", "trust me", "--policy", &policy_s, "--as", AGENT,
            ],
            1,
        )?;
        self.show(&text, &["REFUSED"], 2)?;
        self.say(format!(
            "ok: approved by {HUMAN}, bound to commit {} and its tree; the agent's own approval was refused",
            &v2[..12]
        ))?;

        // 10. Deploy.
        self.title("The deploy goes through: tests, switch, reload, health check")?;
        let text = self.deploy(0)?;
        self.show(&text, &["test", "reload", "health", "deployed"], 6)?;
        self.wait_served("version 2")?;
        self.say("ok: release 2 is live; the service reloaded and serves \"version 2\"")?;

        // 11. A broken release rolls back.
        self.title("A broken release fails its health check and rolls back by itself")?;
        self.git(&code, AGENT, &["rm", "-q", "app/healthy"])?;
        self.git(&code, AGENT, &["commit", "-q", "-m", "Tidy up app/"])?;
        self.git(&code, AGENT, &["push", "-q", "origin", &branch])?;
        self.git(&human, HUMAN, &["fetch", "-q", "origin", &branch])?;
        self.git(
            &human,
            HUMAN,
            &["push", "-q", "origin", "FETCH_HEAD:refs/heads/main"],
        )?;
        let text = self.deploy(1)?;
        self.require(&text, "roll", "a rollback")?;
        self.show(&text, &["health", "roll"], 5)?;
        self.wait_served("version 2")?;
        let status = self.expect(
            "guard-deploy",
            &root,
            HUMAN,
            &["--repo", &up_s, "--policy", &policy_s, "status"],
            0,
        )?;
        self.show(&status, &["current", "commit", "release"], 4)?;
        self.say("ok: rolled back to release 2, which still serves \"version 2\"")?;
        Ok(())
    }

    fn deploy(&mut self, code: i32) -> Result<String> {
        let up = self.p("upstream.git").display().to_string();
        let policy = self.p("policy.toml").display().to_string();
        let root = self.root.clone();
        self.expect(
            "guard-deploy",
            &root,
            HUMAN,
            &["--repo", &up, "--policy", &policy, "deploy", "main"],
            code,
        )
    }

    /// The service: a shell loop that writes its pid, serves (copies) the current release's
    /// version on start and on every SIGHUP.
    fn start_service(&mut self) -> Result<()> {
        let script = "echo $$ > service.pid\n\
             serve() { cat deploy/current/app/version.txt > served.txt 2>/dev/null || echo none > served.txt; }\n\
             trap serve HUP\n\
             serve\n\
             while :; do sleep 1 & wait $!; done\n";
        let mut c = self.command("sh", &self.root.clone(), HUMAN);
        {
            use std::os::unix::process::CommandExt as _;
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
        for _ in 0..200 {
            if self.p("service.pid").is_file() {
                self.say(format!(
                    "the service runs as pid {pid} (pidfile service.pid; SIGHUP reloads it)"
                ))?;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("the demo service did not write its pidfile")
    }

    fn wait_served(&mut self, want: &str) -> Result<()> {
        let file = self.p("served.txt");
        let mut seen = String::new();
        for _ in 0..200 {
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

    /// Kill the service and everything it started; whether there was one.
    fn stop_service(&mut self) -> bool {
        let Some(mut child) = self.service.take() else {
            return false;
        };
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        true
    }
}

fn policy_text(root: &Path) -> String {
    format!(
        r#"# The demo's policy.
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
