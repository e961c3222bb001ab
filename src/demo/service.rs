//! The demo's service: a deploy run as the deploy user, the tiny service started in its own
//! process group, waited on until it serves the wanted version, and stopped.

use std::process::Stdio;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::*;

impl Demo<'_> {
    pub(super) fn deploy(&mut self, code: i32) -> Result<String> {
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
    pub(super) fn start_service(&mut self) -> Result<u32> {
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
    pub(super) fn wait_served(&mut self, want: &str) -> Result<()> {
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
    pub(super) fn stop_service(&mut self) -> Option<u32> {
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
