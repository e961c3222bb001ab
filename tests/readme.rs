//! The README's tour, run as written: every ```console block marked `<!-- tour -->` in
//! README.md, in order, in one shell in an empty temp directory, with the project's binaries on
//! PATH. Each `$ ` line is a command; the lines under it are what it must print (each a part of
//! a line of its output, in that order); a command ending in `# exits N` must exit N, any other
//! must exit 0. What the tour says is what the programs do.

mod support;

use std::path::Path;

use support::git::*;

/// One command of the tour and what it must print.
#[derive(Debug)]
struct Step {
    command: String,
    expect: Vec<String>,
    exit: i32,
}

/// The steps of the marked blocks of `text`, in order.
fn tour_steps(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- tour -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```console",
            "a tour block is a console block"
        );
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            if let Some(cmd) = l.strip_prefix("$ ") {
                let (command, exit) = match cmd.rsplit_once("# exits ") {
                    Some((c, n)) => (c.trim_end().to_string(), n.trim().parse().unwrap()),
                    None => (cmd.to_string(), 0),
                };
                steps.push(Step {
                    command,
                    expect: Vec::new(),
                    exit,
                });
            } else if !l.trim().is_empty() {
                steps
                    .last_mut()
                    .expect("output comes after a command")
                    .expect
                    .push(l.trim().to_string());
            }
        }
    }
    steps
}

/// The script that runs every step in one shell, each followed by a marker with its status.
fn script(steps: &[Step]) -> String {
    let mut s = String::from("exec 2>&1 </dev/null\n");
    for (i, step) in steps.iter().enumerate() {
        s.push_str(&format!(
            "{}\nprintf '\\n@@tour-step %d %d@@\\n' {i} $?\n",
            step.command
        ));
    }
    s
}

#[test]
fn the_readme_tour_runs_as_written() {
    if which::which("bwrap").is_err() {
        support::missing_tool("bubblewrap (bwrap)", "the_readme_tour_runs_as_written");
        return;
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let steps = tour_steps(&readme);
    assert!(
        steps.len() > 10,
        "the README's tour has its steps: {steps:?}"
    );

    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("tour");
    let home = t.path().join("home");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let mut sh = std::process::Command::new("bash");
    hermetic(&mut sh);
    let o = sh
        .current_dir(&dir)
        .env("HOME", &home)
        .env_remove("AGENT_DATA_ROOT")
        .env_remove("GL_USER")
        .arg("-c")
        .arg(script(&steps))
        .output()
        .unwrap();
    let all = stdout(&o);

    // Split the output at the markers: step i's output ends at its marker.
    let mut rest = all.as_str();
    for (i, step) in steps.iter().enumerate() {
        let marker = format!("@@tour-step {i} ");
        let at = rest.find(&marker).unwrap_or_else(|| {
            panic!(
                "the tour stopped before step {i} `{}`:\n{all}",
                step.command
            )
        });
        let output = &rest[..at];
        let after = &rest[at + marker.len()..];
        let end = after.find("@@").unwrap();
        let code: i32 = after[..end].parse().unwrap();
        rest = &after[end + 2..];
        assert_eq!(
            code, step.exit,
            "step {i} `{}` exited {code}:\n{output}",
            step.command
        );
        let mut from = 0;
        for want in &step.expect {
            match output[from..].find(want.as_str()) {
                Some(p) => from += p + want.len(),
                None => panic!(
                    "step {i} `{}` should print {want:?} (after what came before):\n{output}",
                    step.command
                ),
            }
        }
    }
}
