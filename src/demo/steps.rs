//! The demo's story, step by step: the upstream and its first deploy, the workspace, the
//! agent's refused commits, the push, the refused and approved deploys, the rollback.
//!
//! Each step runs the real commands through [`super::Demo`] and checks what they printed.

use anyhow::{Context as _, Result, bail};

use super::*;

impl Demo<'_> {
    pub(super) fn story(&mut self) -> Result<()> {
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
    pub(super) fn upstream(&mut self) -> Result<()> {
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
    pub(super) fn first_deploy(&mut self) -> Result<()> {
        self.title("A tiny service, deployed from main with guard-deploy")?;
        let pid = self.start_service()?;
        self.say(format!(
            "the service runs as pid {pid}: it serves deploy/current/app/version.txt and reloads on SIGHUP (pidfile service.pid)"
        ))?;
        self.deploy_and_serve("version 1")?;
        self.ok("release 1 is live; the service serves \"version 1\"")
    }

    /// A deploy that must go through every step, then the service serving `version`.
    pub(super) fn deploy_and_serve(&mut self, version: &str) -> Result<()> {
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
    pub(super) fn workspace(&mut self) -> Result<()> {
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
    pub(super) fn denied_path(&mut self) -> Result<()> {
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
    pub(super) fn over_the_cap(&mut self) -> Result<()> {
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
    pub(super) fn test_changed(&mut self) -> Result<String> {
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
    pub(super) fn push(&mut self) -> Result<()> {
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
    pub(super) fn deploy_refused(&mut self) -> Result<()> {
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
    pub(super) fn approval(&mut self, v2: &str) -> Result<()> {
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
    pub(super) fn deploy_approved(&mut self) -> Result<()> {
        self.title("The deploy goes through: tests, switch, reload, health check")?;
        self.deploy_and_serve("version 2")?;
        self.ok("release 2 is live; the service reloaded and serves \"version 2\"")
    }

    /// 11. A broken release rolls back.
    pub(super) fn rollback(&mut self) -> Result<()> {
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
}
