//! Real transports: a plain `git push` over a local path, over `git://` (git daemon) and over
//! smart HTTP (git http-backend behind lighttpd), each to a server guarded by pre-receive.
//! Each shows: a rejected push leaves every ref and the object store as they were, the reason
//! reaches the client as `remote:` lines, and an accepted push lands.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::git::*;
use support::process::*;
use support::server::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `root/server.git`: seeded with main, guarded by git-guard's server hooks (plain host: the
/// unix user, who is an agent in the test policy).
fn guarded(root: &Path) -> PathBuf {
    let bare = seeded_bare(root, &[]);
    git(&bare, &["config", "http.receivepack", "true"]);
    let policy = policy_file(root, "");
    install_server(root, &bare, &["--policy", policy.to_str().unwrap()]);
    bare
}

/// The three claims, over whatever `url` reaches `bare`.
fn exercise(root: &Path, bare: &Path, url: &str) {
    let work = clone(root, url, "work");
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    commit_file(&work, "ok.txt", "fine\n", "fine");
    write(&work, "keys/deploy.pem", "-----BEGIN PRIVATE KEY-----\n"); // guard:allow-secret (a test fixture)
    let bad = commit_all(&work, "add a key");

    let before = snapshot(bare);
    let o = git_out(&work, &["push", "origin", "agent/topic"]);
    // A daemon's receive-pack may still be removing its quarantine when the client returns.
    settle_in(bare);
    assert_rejected(&o, "paths.deny", &before, bare);
    let lines = remote_lines(&o);
    assert!(
        lines.iter().any(|l| l.contains("refs/heads/agent/topic")
            && l.contains(&bad[..12])
            && l.contains("keys/deploy.pem")),
        "the ref, commit and path reach the client:\n{}",
        stderr(&o)
    );
    assert!(lines.iter().any(|l| l.contains("hint:")), "{}", stderr(&o));

    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    let o = git_out(&work, &["push", "origin", "agent/topic"]);
    assert!(
        o.status.success(),
        "the clean push is refused:\n{}",
        stderr(&o)
    );
    assert!(
        remote_lines(&o).iter().any(|l| l.contains("PASSED")),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        git(bare, &["rev-parse", "refs/heads/agent/topic"]),
        git(&work, &["rev-parse", "HEAD"])
    );
}

#[test]
fn local_path() {
    let t = tempfile::tempdir().unwrap();
    let bare = guarded(t.path());
    exercise(t.path(), &bare, bare.to_str().unwrap());
}

#[test]
fn git_daemon() {
    let t = tempfile::tempdir().unwrap();
    let bare = guarded(t.path());
    let port = free_port();
    let mut cmd = Command::new("git");
    hermetic(&mut cmd);
    cmd.args([
        "daemon",
        "--reuseaddr",
        "--listen=127.0.0.1",
        &format!("--port={port}"),
        &format!("--base-path={}", t.path().display()),
        "--export-all",
        "--enable=receive-pack",
        t.path().to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let server = Daemon::start(&mut cmd, port, "git daemon");
    let url = format!("git://127.0.0.1:{port}/server.git");
    exercise(t.path(), &bare, &url);
    drop(server);
    let left = processes_with_arg(&format!("--port={port}"));
    assert!(left.is_empty(), "the git daemon is still running: {left:?}");
}

fn find_lighttpd() -> Option<PathBuf> {
    [
        "/usr/sbin/lighttpd",
        "/usr/bin/lighttpd",
        "/usr/local/sbin/lighttpd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .or_else(|| which::which("lighttpd").ok())
}

fn exec_path() -> PathBuf {
    let o = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

#[test]
fn smart_http() {
    let Some(lighttpd) = find_lighttpd() else {
        support::missing_tool("lighttpd", "smart_http");
        return;
    };
    let backend = exec_path().join("git-http-backend");
    if !backend.is_file() {
        support::missing_tool("git-http-backend", "smart_http");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let bare = guarded(t.path());
    let port = free_port();
    let modules = [
        "/usr/lib/lighttpd",
        "/usr/lib64/lighttpd",
        "/usr/local/lib/lighttpd",
    ]
    .iter()
    .find(|d| Path::new(d).join("mod_cgi.so").is_file())
    .copied()
    .unwrap_or("/usr/lib/lighttpd");
    let path = format!("{}:/usr/bin:/bin", bin_dir().display());
    let conf = format!(
        r#"server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.modules = ( "mod_alias", "mod_setenv", "mod_cgi" )
server.modules-directory = "{modules}"
server.errorlog = "{root}/lighttpd-error.log"
server.pid-file = "{root}/lighttpd.pid"
alias.url = ( "/git" => "{backend}" )
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ( "" => "" )
  setenv.add-environment = (
    "GIT_PROJECT_ROOT" => "{root}",
    "GIT_HTTP_EXPORT_ALL" => "1",
    "GIT_CONFIG_NOSYSTEM" => "1",
    "GIT_CONFIG_GLOBAL" => "/dev/null",
    "PATH" => "{path}"
  )
}}
"#,
        root = t.path().display(),
        backend = backend.display(),
    );
    let conf_path = t.path().join("lighttpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new(&lighttpd);
    cmd.args(["-D", "-f", conf_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let server = Daemon::start(&mut cmd, port, "lighttpd");
    let url = format!("http://127.0.0.1:{port}/git/server.git");
    exercise(t.path(), &bare, &url);
    drop(server);
    let left = processes_with_arg(conf_path.to_str().unwrap());
    assert!(left.is_empty(), "lighttpd is still running: {left:?}");
}
