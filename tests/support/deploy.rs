//! Deploy roots for guard-deploy: a repository, a deploy root, a policy file, and the pause
//! hook's fifos, so a test can stop the real binary at an exact step and kill it there.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::git::*;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub repo: PathBuf,
    pub root: PathBuf,
    pub policy: PathBuf,
}

impl Fixture {
    /// A repository with one commit on main (a file, an executable, a symlink) and a policy
    /// whose `[deploy]` section holds `deploy` and whose `[tests]` section holds `tests`.
    pub fn new(deploy: &str, tests: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        init_repo(&repo);
        write(&repo, "app.txt", "version 1\n");
        write(&repo, "bin/run.sh", "#!/bin/sh\necho run\n");
        std::fs::set_permissions(
            repo.join("bin/run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("app.txt", repo.join("link")).unwrap();
        commit_all(&repo, "first");
        let root = tmp.path().join("deploy");
        let policy = tmp.path().join("policy.toml");
        let f = Fixture {
            tmp,
            repo,
            root,
            policy,
        };
        f.set_policy(deploy, tests);
        f
    }

    pub fn set_policy(&self, deploy: &str, tests: &str) {
        let text = format!(
            "mode = \"enforce\"\n[actors]\nhumans = [\"*\"]\n[tests]\n{tests}\n[deploy]\nroot = \"{}\"\n{deploy}\n",
            self.root.display()
        );
        std::fs::write(&self.policy, text).unwrap();
    }

    /// A service to reload: a long sleep whose pid is in `app.pid` beside the repository, and a
    /// policy that reloads it with `signal` (and runs no hooks). The process and the pidfile.
    pub fn service(&self, signal: &str) -> (Child, PathBuf) {
        let service = Command::new("sleep").arg("1000").spawn().unwrap();
        let pidfile = self.tmp.path().join("app.pid");
        std::fs::write(&pidfile, format!("{}\n", service.id())).unwrap();
        self.set_policy(
            &format!(
                "pidfile = \"{}\"\nreload_signal = \"{signal}\"\n",
                pidfile.display()
            ),
            "",
        );
        (service, pidfile)
    }

    /// A new commit on main changing app.txt; returns its id.
    pub fn commit(&self, version: u32) -> String {
        write(&self.repo, "app.txt", format!("version {version}\n"));
        commit_all(&self.repo, &format!("version {version}"))
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = guard_cmd("guard-deploy", &self.repo);
        c.arg("--policy").arg(&self.policy).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run and insist on an exit code, showing the output when it differs.
    pub fn expect(&self, args: &[&str], code: i32) -> Output {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "guard-deploy {args:?}:\nstdout:\n{}\nstderr:\n{}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    /// `deploy main`, which must succeed; the release it made current.
    pub fn deploy(&self) -> String {
        self.expect(&["deploy", "main"], 0);
        self.current().expect("current is set")
    }

    /// An empty bare repository `prod.git` beside the repository, to push deploys to.
    pub fn prod_remote(&self) -> PathBuf {
        let remote = self.tmp.path().join("prod.git");
        init_bare(&remote);
        remote
    }

    /// `deploy main`, started so that it stops at `step` (its pause files in `tmp/name`).
    pub fn spawn_deploy(&self, step: &str, name: &str) -> Paused {
        Paused::spawn(
            self.cmd(&["deploy", "main"]),
            step,
            &self.tmp.path().join(name),
        )
    }

    /// The release `current` points at.
    pub fn current(&self) -> Option<String> {
        let t = std::fs::read_link(self.root.join("current")).ok()?;
        Some(
            t.strip_prefix("releases")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string(),
        )
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.root.join("status.json")).unwrap())
            .unwrap()
    }

    pub fn meta(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.root.join("releases").join(format!("{id}.json")))
                .unwrap(),
        )
        .unwrap()
    }

    /// Assert that releases/<id> holds exactly the tree of its commit, as git lists it.
    pub fn assert_complete(&self, id: &str) {
        let commit = self.meta(id)["commit"].as_str().unwrap().to_string();
        let dir = self.root.join("releases").join(id);
        let listed = git(&self.repo, &["ls-tree", "-r", "--name-only", &commit]);
        let mut want: Vec<&str> = listed.lines().collect();
        want.sort();
        let mut have = Vec::new();
        walk(&dir, &dir, &mut have);
        have.sort();
        assert_eq!(have, want, "release {id} is not the tree of {commit}");
        for p in &want {
            let blob = git(&self.repo, &["cat-file", "-p", &format!("{commit}:{p}")]);
            let path = dir.join(p);
            let on_disk = match std::fs::read_link(&path) {
                Ok(t) => t.to_string_lossy().into_owned(),
                Err(_) => std::fs::read_to_string(&path).unwrap(),
            };
            assert_eq!(on_disk, blob, "{id}/{p} differs from git");
        }
    }

    /// Nothing a killed run leaves behind remains.
    pub fn assert_no_leftovers(&self) {
        for e in std::fs::read_dir(self.root.join("releases")).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with('.'), "leftover releases/{n}");
        }
        for e in std::fs::read_dir(&self.root).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with("current.tmp-"), "leftover {n}");
        }
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            walk(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// A guard-deploy process stopped at a step by the pause hook.
pub struct Paused {
    pub child: Child,
    pub dir: PathBuf,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Paused {
    /// Start `cmd` so that it stops at `step`. `name` keeps several processes' files apart.
    pub fn spawn(mut cmd: Command, step: &str, dir: &Path) -> Paused {
        std::fs::create_dir_all(dir).unwrap();
        for f in ["paused", "resume"] {
            nix::unistd::mkfifo(&dir.join(f), nix::sys::stat::Mode::S_IRWXU).unwrap();
        }
        let out = dir.join("stdout");
        let err = dir.join("stderr");
        let child = cmd
            .env("GUARD_DEPLOY_PAUSE_AT", step)
            .env("GUARD_DEPLOY_PAUSE_DIR", dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Paused {
            child,
            dir: dir.to_path_buf(),
            out,
            err,
        }
    }

    /// Block until the process says it stopped; fail if it ends first.
    pub fn wait_paused(&mut self) -> String {
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(self.dir.join("paused"))
            .unwrap();
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 64];
            match f.read(&mut buf) {
                Ok(n) if n > 0 => {
                    got.extend_from_slice(&buf[..n]);
                    if got.ends_with(b"\n") {
                        return String::from_utf8_lossy(&got).trim().to_string();
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "guard-deploy ended ({st}) before pausing:\n{}\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    pub fn resume(&self) {
        let mut f = OpenOptions::new()
            .write(true)
            .open(self.dir.join("resume"))
            .unwrap();
        f.write_all(b"go\n").unwrap();
    }

    pub fn kill(&mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        self.child.wait().unwrap();
    }

    pub fn finish(&mut self) -> i32 {
        self.child.wait().unwrap().code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
}
