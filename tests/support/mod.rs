//! The one support module of the integration tests, used by each as `mod support;`:
//! hermetic git and the project's binaries (`git`), bare servers with the hooks installed,
//! clones and pushes (`server`), workspaces (`workspace`), the harness door's hook (`harness`),
//! a scripted model server (`model`), deploy roots (`deploy`), throwaway unix users (`user`)
//! and the daemons a test starts (`process`).
//!
//! Each test crate uses a part of it, so what one does not use is not dead code.
#![allow(dead_code)]

pub mod deploy;
pub mod git;
pub mod harness;
pub mod model;
pub mod process;
pub mod server;
pub mod user;
pub mod workspace;

/// A tool the test needs is not installed: in CI (`CI` set) the test fails, since `.ci/run`
/// installs every tool the tests need; elsewhere it is skipped, saying so.
#[track_caller]
pub fn missing_tool(tool: &str, test: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!("{test}: {tool} is not installed, and CI must run every test (.ci/run installs it)");
    }
    eprintln!("SKIPPED {test}: {tool} is not installed (.ci/run installs it)");
}

/// Whether ssh-keygen is there (it has no `--version`: it runs at all); see [`tool_is_there`].
#[track_caller]
pub fn ssh_keygen_is_there() -> bool {
    let there = std::process::Command::new("ssh-keygen")
        .arg("-?")
        .output()
        .is_ok();
    if !there {
        let test = std::thread::current()
            .name()
            .unwrap_or("this test")
            .to_string();
        missing_tool("ssh-keygen (openssh-client)", &test);
    }
    there
}

/// A fresh ed25519 key pair `dir/name` made by ssh-keygen: the private key's path and the
/// public key's text.
pub fn keygen(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

/// Whether `program` runs (`program --version` succeeds); when it does not, the calling test
/// fails in CI and is skipped elsewhere, saying so (see [`missing_tool`]).
#[track_caller]
pub fn tool_is_there(program: &str, tool: &str) -> bool {
    let there = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !there {
        let test = std::thread::current()
            .name()
            .unwrap_or("this test")
            .to_string();
        missing_tool(tool, &test);
    }
    there
}
