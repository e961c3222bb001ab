//! A throwaway unix user, for the tests that need a second one (workspace, guard-exec, doctor).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unix user made for one test and deleted when dropped.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

static N: AtomicUsize = AtomicUsize::new(0);

impl TestUser {
    /// A new user, or why one cannot be made here (not root, no useradd).
    pub fn create() -> Result<TestUser, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root, cannot create a unix user".into());
        }
        let name = format!(
            "ggt{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin", "-U", &name])
            .output()
            .map_err(|e| format!("cannot run useradd: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let u = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .ok_or("useradd made no user")?;
        Ok(TestUser {
            name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        })
    }

    /// A new user for the test named `test`, or none, the test skipped saying why.
    pub fn for_test(test: &str) -> Option<TestUser> {
        match TestUser::create() {
            Ok(u) => Some(u),
            Err(why) => {
                skip(test, &why);
                None
            }
        }
    }

    /// Make `cmd` run as this user.
    pub fn apply<'a>(&self, cmd: &'a mut Command, home: &Path) -> &'a mut Command {
        // std drops the supplementary groups when it changes the uid from root.
        cmd.uid(self.uid).gid(self.gid).env("HOME", home)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// A throwaway user and a temp directory it may traverse, for the test running on this thread;
/// or none, the test skipped saying why.
pub fn with_user() -> Option<(TestUser, tempfile::TempDir)> {
    let thread = std::thread::current();
    let user = TestUser::for_test(thread.name().unwrap_or("this test"))?;
    let t = tempfile::tempdir().unwrap();
    open_up(t.path());
    Some((user, t))
}

/// Make a test's temp directory traversable by other users (tempdir makes it 0700).
pub fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Skip a test that needs a second unix user, saying why.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}
