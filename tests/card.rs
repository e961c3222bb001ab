//! The proposal card (`git guard report --format html`): one self-contained page, rendered in
//! headless Chromium to check that what a reviewer sees holds the diff and the findings.

mod support;

use std::path::Path;
use std::process::Command;

use support::git::*;

const POLICY: &str = "[actors]\nhumans = [\"alice\"]\n[caps]\nmax_lines = 100\n";

/// main with one commit; agent/x changes the code and its test (a flag), adds a big file (over
/// the line cap) and says `<script>` in its message.
fn fixture(dir: &Path) -> std::path::PathBuf {
    let work = repo_at(dir, "work");
    commit_lib_and_test(
        &work,
        "pub fn f() -> u32 {\n    1\n}\n",
        "#[test]\nfn t() {\n    assert_eq!(f(), 1);\n}\n",
        "base",
    );
    git(&work, &["checkout", "-q", "-b", "agent/x"]);
    commit_lib_and_test(
        &work,
        "pub fn f() -> u32 {\n    2\n}\n",
        "#[test]\nfn t() {\n    assert_eq!(f(), 2);\n}\n",
        "Make f return 2 <script>alert(1)</script>\n\nThe billing code expects 2.",
    );
    let big: String = (0..120).map(|i| format!("row {i}\n")).collect();
    commit_file(&work, "data/table.txt", big, "Add the table");
    work
}

fn card(dir: &Path) -> String {
    let work = fixture(dir);
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let o = guard_cmd("git-guard", &work)
        .args([
            "report", "agent/x", "--base", "main", "--format", "html", "--policy",
        ])
        .arg(dir.join("policy.toml"))
        .output()
        .unwrap();
    stdout_of(&o, 0)
}

#[test]
fn the_card_holds_every_part_and_loads_nothing() {
    let t = tempfile::tempdir().unwrap();
    let html = card(t.path());
    for part in [
        "<h2>Goal</h2>",
        "<h2>Risk",
        "<h2>Findings</h2>",
        "<h2>Flags and approvals</h2>",
        "<h2>Tests</h2>",
        "<h2>Checklist</h2>",
        "<h2>Diff</h2>",
        "<h2>Approve or refuse</h2>",
        "caps.lines",
        "git guard approve",
        "git push origin --delete agent/x",
        "<span class=\"add\">+    assert_eq!(f(), 2);</span>",
        "<span class=\"del\">-    assert_eq!(f(), 1);</span>",
    ] {
        assert_contains(&html, part);
    }
    // Text from the change is escaped, never markup.
    assert!(!html.contains("<script>"), "{html}");
    assert_contains(&html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    // Self-contained: nothing to fetch, nothing to run.
    for banned in [
        "src=", "href=", "http://", "https://", "<link", "<img", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "the card refers to {banned}");
    }
}

/// The colours of `png` (RGB), as a set.
fn colours(png_path: &Path) -> std::collections::HashSet<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn rgb(hex: &str) -> [u8; 3] {
    let h = hex.trim_start_matches('#');
    let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    [v(0), v(2), v(4)]
}

#[test]
fn headless_chromium_shows_the_diff_and_the_findings() {
    let Ok(chromium) = which::which("chromium") else {
        support::missing_tool(
            "chromium",
            "headless_chromium_shows_the_diff_and_the_findings",
        );
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let html = card(t.path());
    let page = t.path().join("card.html");
    std::fs::write(&page, &html).unwrap();
    let shot = t.path().join("card.png");
    let profile = t.path().join("profile");
    // No network at all where a namespace can be made; the flags keep Chromium's own
    // background connections off either way.
    let mut c = if nix::unistd::geteuid().is_root() && which::which("unshare").is_ok() {
        let mut c = Command::new("unshare");
        c.args(["-n", "--"]).arg(&chromium);
        c
    } else {
        Command::new(&chromium)
    };
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1100,5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--screenshot={}", shot.display()))
    .arg(format!("file://{}", page.display()))
    .env("HOME", t.path());
    let o = c.output().unwrap();
    assert!(shot.is_file(), "no screenshot: {}", all(&o));
    if let Some(keep) = std::env::var_os("GUARD_KEEP_CARD") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let seen = colours(&shot);
    use git_guard::report::card::{ADDED_BG, REMOVED_BG, VIOLATION_BG};
    for (what, hex) in [
        ("an added diff line", ADDED_BG),
        ("a removed diff line", REMOVED_BG),
        ("a blocking finding", VIOLATION_BG),
    ] {
        assert!(
            seen.contains(&rgb(hex)),
            "the screenshot shows no {what} ({hex})"
        );
    }
}
