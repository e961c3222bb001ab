//! Compiling the validated raw policy into [`super::Policy`]: defaults filled in, every glob
//! and regex compiled once, each problem recorded at its span by the collector.

use std::path::PathBuf;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use toml::Spanned;

use super::*;

pub(super) struct Collector<'a> {
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
    /// For each `secrets.extra` entry kept by the walk, its index in the file.
    pub(super) extra_index: Vec<usize>,
    /// The folder of the policy file, for the paths it names relative to itself.
    pub(super) base_dir: Option<PathBuf>,
}

impl Collector<'_> {
    pub(super) fn at(&mut self, span: std::ops::Range<usize>, key: &str, message: String) {
        let (line, col) = line_col(self.text, span.start);
        self.problems.push(Problem {
            line: Some(line),
            column: Some(col),
            key: Some(key.to_string()),
            message,
        });
    }

    pub(super) fn key(&mut self, key: &str, message: String) {
        self.problems.push(Problem {
            line: None,
            column: None,
            key: Some(key.to_string()),
            message,
        });
    }

    /// A time limit, wait or deadline: `min..=MAX_DURATION_SECS` (in `per_sec` units a
    /// second), else a problem naming the key and the range; the default when absent.
    pub(super) fn duration(
        &mut self,
        key: &str,
        v: Option<u64>,
        default: u64,
        min: u64,
        per_sec: u64,
    ) -> u64 {
        let Some(v) = v else { return default };
        let max = super::MAX_DURATION_SECS * per_sec;
        let unit = if per_sec == 1 {
            "seconds"
        } else {
            "milliseconds"
        };
        if v < min || v > max {
            let why = if v < min {
                format!("{v} {unit} cannot be used: at least {min}")
            } else {
                format!("{v} {unit} is too long: at most {max} (one year)")
            };
            self.key(key, why);
            return default;
        }
        v
    }

    /// Report the problems of a path list compiled by [`path_lists`], and give its patterns
    /// (none when it has a problem).
    pub(super) fn paths(&mut self, list: PathList) -> PathPatterns {
        let PathList {
            key,
            spans,
            compiled,
        } = list;
        match compiled {
            Ok(p) => p,
            Err(bad) => {
                for (i, msg) in bad {
                    match spans.get(i).cloned().flatten() {
                        Some(span) => self.at(span, key, msg),
                        None => self.key(key, msg),
                    }
                }
                PathPatterns::default()
            }
        }
    }

    pub(super) fn refs(
        &mut self,
        key: &str,
        list: Vec<(String, Option<std::ops::Range<usize>>)>,
    ) -> RefPatterns {
        let strings: Vec<String> = list.iter().map(|(s, _)| s.clone()).collect();
        // Compile each pattern alone first, so that every bad one is reported.
        let mut bad: Vec<(usize, String)> = strings
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                if p.trim().is_empty() {
                    return Some((i, "empty ref pattern".to_string()));
                }
                RefPatterns::new(std::slice::from_ref(p))
                    .err()
                    .map(|(_, msg)| (i, msg))
            })
            .collect();
        if bad.is_empty() {
            match RefPatterns::new(&strings) {
                Ok(p) => return p,
                Err(e) => bad.push(e),
            }
        }
        for (i, msg) in bad {
            match list.get(i).and_then(|(_, s)| s.clone()) {
                Some(span) => self.at(span, key, msg),
                None => self.key(key, msg),
            }
        }
        RefPatterns::default()
    }

    pub(super) fn names(&mut self, key: &str, list: Option<SList>) -> (Vec<String>, GlobSet) {
        let mut b = GlobSetBuilder::new();
        let mut names = Vec::new();
        for n in list.unwrap_or_default() {
            match GlobBuilder::new(n.get_ref())
                .literal_separator(true)
                .build()
            {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => self.at(n.span(), key, glob_error_text(n.get_ref(), &e)),
            }
            names.push(n.into_inner());
        }
        (names, b.build().unwrap_or_else(|_| GlobSet::empty()))
    }

    /// One `secrets.extra` entry, compiled; problems recorded at their spans.
    fn secret_rule(
        &mut self,
        i: usize,
        r: RawSecretRule,
    ) -> Option<crate::engine::rules::secrets::scanner::CompiledRule> {
        use crate::engine::rules::secrets::rule::Spec;
        use crate::engine::rules::secrets::rule::{AllowSpec, Group};
        use crate::engine::rules::secrets::scanner::CompiledRule;
        let at = format!("secrets.extra[{i}]");
        self.regex(&format!("{at}.regex"), &r.regex)?;
        let mut ok = true;
        let mut allow = Vec::new();
        for a in r.allow.iter().flatten() {
            if self.regex(&format!("{at}.allow"), a).is_some() {
                allow.push(a.get_ref().clone());
            } else {
                ok = false;
            }
        }
        let mut spec = Spec::custom(
            &r.id,
            r.description.as_deref().unwrap_or(&r.id),
            r.regex.get_ref(),
        );
        spec.keywords = r.keywords.unwrap_or_default();
        spec.min_entropy = r.min_entropy.unwrap_or(0.0);
        spec.placeholders = r.placeholders.unwrap_or(false);
        spec.high_confidence = r.binary.unwrap_or(false);
        let group_span = r.secret_group.as_ref().map(|g| g.span());
        spec.group = r.secret_group.map(|g| match g.into_inner() {
            RawGroup::Index(n) => Group::Index(n as usize),
            RawGroup::Name(n) => Group::Name(n),
        });
        if !allow.is_empty() {
            spec.allowlists.push(AllowSpec {
                regexes: allow,
                ..AllowSpec::default()
            });
        }
        if let Some(words) = r.stopwords.filter(|w| !w.is_empty()) {
            spec.allowlists.push(AllowSpec {
                stopwords: words,
                ..AllowSpec::default()
            });
        }
        if !ok {
            return None;
        }
        match CompiledRule::new(spec) {
            Ok(rule) => Some(rule),
            Err(msg) => {
                let span = group_span.unwrap_or_else(|| r.regex.span());
                self.at(span, &format!("{at}.secret_group"), msg);
                None
            }
        }
    }

    /// The rules of `secrets.gitleaks_config`: a path relative to the policy file's folder,
    /// or absolute (a policy read from a commit or built in has no folder).
    fn gitleaks(
        &mut self,
        g: &Spanned<String>,
    ) -> Vec<crate::engine::rules::secrets::scanner::CompiledRule> {
        let key = "secrets.gitleaks_config";
        let given = std::path::Path::new(g.get_ref());
        let path = if given.is_absolute() {
            given.to_path_buf()
        } else if let Some(dir) = &self.base_dir {
            dir.join(given)
        } else {
            let msg = format!(
                "{:?} is relative, and this policy has no folder to be relative to: give an absolute path",
                g.get_ref()
            );
            self.at(g.span(), key, msg);
            return Vec::new();
        };
        match crate::engine::rules::secrets::gitleaks::load(&path) {
            Ok(rules) => rules,
            Err(msg) => {
                self.at(g.span(), key, msg);
                Vec::new()
            }
        }
    }

    pub(super) fn regex(&mut self, key: &str, s: &Spanned<String>) -> Option<Pattern> {
        match Pattern::new(s.get_ref()) {
            Ok(p) => Some(p),
            Err(msg) => {
                self.at(s.span(), key, msg);
                None
            }
        }
    }
}

/// An empty string in policy.toml means "not set" for a path, as it does for a command.
pub(super) fn non_empty_path(p: Option<PathBuf>) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty())
}

pub(super) fn strings(
    list: Option<SList>,
    default: &[&str],
) -> Vec<(String, Option<std::ops::Range<usize>>)> {
    match list {
        Some(l) => l
            .into_iter()
            .map(|s| (s.get_ref().clone(), Some(s.span())))
            .collect(),
        None => default.iter().map(|s| (s.to_string(), None)).collect(),
    }
}

/// Default values, shared by the loader and the documentation tests.
pub mod defaults {
    pub const PROTECTED_REFS: &[&str] = &[
        "main",
        "master",
        "production",
        "prod",
        "deploy",
        "release/*",
    ];
    pub const AGENT_NAMESPACE: &str = "agent/*";
    pub const DENY: &[&str] = &[
        ".env",
        ".env.*",
        "secrets/",
        "credentials/",
        "*.pem",
        "*.key",
        "*.p12",
        "*.pfx",
        "*.jks",
        "*.keystore",
        "id_rsa*",
        "id_dsa*",
        "id_ecdsa*",
        "id_ed25519*",
        ".netrc",
        ".pgpass",
        ".npmrc",
        ".pypirc",
        "*.tfstate",
        "config/production.*",
        "config/prod.*",
        "**/production.env",
    ];
    pub const PROTECTED_PATHS: &[&str] = &[
        "/policy.toml",
        ".guard/",
        "hooks/",
        ".githooks/",
        ".husky/",
        ".pre-commit-config.yaml",
        "lefthook.yml",
        ".github/",
        ".gitlab-ci.yml",
        ".gitlab/",
        ".circleci/",
        "Jenkinsfile",
        ".ci/",
        "deploy/",
        "Dockerfile",
        "docker-compose*.yml",
        "*.service",
        // What changes how git reads the tree: attributes (filters, `eol`, `export-ignore`,
        // diff and merge drivers) at any depth, submodules, the identities of the history.
        ".gitattributes",
        ".gitmodules",
        ".mailmap",
        // What the agent harnesses read as their configuration or instructions, at any depth
        // (nested instruction files apply to the folder they sit in).
        ".claude/",
        "CLAUDE.md",
        "CLAUDE.local.md",
        "AGENTS.md",
        ".codex/",
        ".cursor/",
        ".cursorrules",
        ".gemini/",
        "GEMINI.md",
        ".aider*",
        ".mcp.json",
        ".github/copilot-instructions.md",
    ];
    pub const TEST_PATHS: &[&str] = &[
        // Rust
        "/tests/",
        "benches/",
        // Python
        "test/",
        "test_*.py",
        "*_test.py",
        "conftest.py",
        // JavaScript / TypeScript
        "__tests__/",
        "*.test.{js,jsx,ts,tsx,mjs,cjs}",
        "*.spec.{js,jsx,ts,tsx,mjs,cjs}",
        // Go
        "*_test.go",
        "testdata/",
        // Java
        "src/test/",
        "*Test.java",
        "*Tests.java",
        "*IT.java",
    ];
    pub const COMMAND_DENY: &[&str] = &[
        "git merge",
        "git rebase",
        "git commit --amend",
        "git checkout {protected}",
        "git switch {protected}",
        "git reset * {protected}",
        "git reset --hard",
        "git branch -f",
        "git branch -D",
        "git update-ref",
        "git filter-branch",
        "git -c core.hooksPath=*",
        "git * --no-verify",
        "git config core.hooksPath *",
        "systemctl",
        "service",
        "docker-compose up",
        "docker-compose restart",
        "docker compose up",
        "docker compose restart",
        "ufw",
        "iptables",
        "rm -rf /",
        "rm -rf /*",
        "chmod 777",
        "chmod -R 777",
        "sudo",
        "su",
        "apt install",
        "apt-get install",
        "pip install",
        "npm install -g",
        "cargo install",
    ];
}

impl Collector<'_> {
    pub(super) fn build(&mut self, mut raw: RawPolicy) -> Policy {
        use defaults as d;
        let ci = raw.paths.case_insensitive.unwrap_or(true);
        // Their problems are told below, in the order of the keys.
        let [
            deny,
            allow_only,
            protected_paths,
            caps_exclude,
            test_paths,
            secrets_exclude,
            high_risk_paths,
        ] = path_lists(
            [
                ("paths.deny", raw.paths.deny.take(), d::DENY),
                ("paths.allow_only", raw.paths.allow_only.take(), &[]),
                (
                    "paths.protected",
                    raw.paths.protected.take(),
                    d::PROTECTED_PATHS,
                ),
                ("caps.exclude", raw.caps.exclude.take(), &[]),
                ("tests.paths", raw.tests.paths.take(), d::TEST_PATHS),
                ("secrets.exclude", raw.secrets.exclude.take(), &[]),
                ("risk.high_risk_paths", raw.risk.high_risk_paths.take(), &[]),
            ],
            ci,
        );

        // refs
        let protected = strings(raw.refs.protected, d::PROTECTED_REFS);
        let protected = self.refs("refs.protected", protected);
        let ns = raw
            .refs
            .agent_namespace
            .map(|s| (s.get_ref().clone(), Some(s.span())))
            .unwrap_or_else(|| (d::AGENT_NAMESPACE.to_string(), None));
        let agent_namespace_text = ns.0.clone();
        let agent_namespace = self.refs("refs.agent_namespace", vec![ns]);
        let mut protected_pushers = Vec::new();
        for s in raw.refs.protected_pushers.unwrap_or_else(|| {
            vec![
                Spanned::new(0..0, "human".into()),
                Spanned::new(0..0, "admin".into()),
            ]
        }) {
            protected_pushers.push(s.get_ref().clone());
        }

        // actors
        let (agents, agents_set) = self.names("actors.agents", raw.actors.agents);
        let (humans, humans_set) = self.names("actors.humans", raw.actors.humans);
        let (admins, admins_set) = self.names("actors.admins", raw.actors.admins);

        // paths
        let deny = self.paths(deny);
        let allow_only = self.paths(allow_only);
        let protected_paths = self.paths(protected_paths);

        // caps
        let caps_exclude = self.paths(caps_exclude);

        // tests
        let test_paths = self.paths(test_paths);
        // Paths a contained run may read are bound at the same place: only absolute ones mean
        // the same thing to the sandbox and to the reader of the policy.
        let mut tests_readable = Vec::new();
        for p in raw.tests.readable.clone().unwrap_or_default() {
            let span = p.span();
            let path = PathBuf::from(p.into_inner());
            if path.is_absolute() {
                tests_readable.push(path);
            } else {
                self.at(
                    span,
                    "tests.readable",
                    format!(
                        "{:?} is not an absolute path (hint: write it from /, as the sandbox \
                         binds it at the same place)",
                        path.display().to_string()
                    ),
                );
            }
        }
        let mut flag_on = Vec::new();
        match raw.tests.flag_on {
            Some(list) => {
                for k in list {
                    if CHANGE_KIND_NAMES.contains(&k.get_ref().as_str()) {
                        flag_on.push(k.get_ref().clone());
                    } else {
                        let msg = format!(
                            "unknown change kind {:?}; one of: {}",
                            k.get_ref(),
                            CHANGE_KIND_NAMES.join(", ")
                        );
                        self.at(k.span(), "tests.flag_on", msg);
                    }
                }
            }
            None => flag_on = CHANGE_KIND_NAMES.iter().map(|s| s.to_string()).collect(),
        }

        // secrets
        let secrets_exclude = self.paths(secrets_exclude);
        let mut extra = Vec::new();
        for (i, r) in raw
            .secrets
            .extra
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let i = self.extra_index.get(i).copied().unwrap_or(i);
            if let Some(rule) = self.secret_rule(i, r) {
                extra.push(rule);
            }
        }
        let extra_own = extra.len();
        let gitleaks_config = raw.secrets.gitleaks_config;
        if let Some(g) = gitleaks_config.as_ref().filter(|g| !g.get_ref().is_empty()) {
            extra.extend(self.gitleaks(g));
        }

        // commits
        let message_pattern = raw
            .commits
            .message_pattern
            .as_ref()
            .filter(|s| !s.get_ref().is_empty())
            .and_then(|s| self.regex("commits.message_pattern", s));

        // risk
        let high_risk_paths = self.paths(high_risk_paths);
        // The walk bounds it to 0..=5.
        let max_agent_risk = raw.risk.max_agent_risk.unwrap_or(3);

        // commands
        let cmd_list = |l: Option<Vec<Spanned<String>>>, default: &[&str]| -> Vec<String> {
            match l {
                Some(l) => l.into_iter().map(|s| s.into_inner()).collect(),
                None => default.iter().map(|s| s.to_string()).collect(),
            }
        };
        let commands = CommandsPolicy {
            deny: cmd_list(raw.commands.deny, d::COMMAND_DENY),
            allow: cmd_list(raw.commands.allow, &[]),
            timeout_secs: self.duration(
                "commands.timeout_secs",
                raw.commands.timeout_secs,
                300,
                1,
                1,
            ),
            walls: raw.commands.walls.unwrap_or_default(),
            network: raw.commands.network.unwrap_or_default(),
        };

        let reload_signal = match raw.deploy.reload_signal {
            Some(sig) => {
                let name = sig.get_ref().trim().to_string();
                let known = name.parse::<nix::sys::signal::Signal>().is_ok()
                    || format!("SIG{name}")
                        .parse::<nix::sys::signal::Signal>()
                        .is_ok();
                if !known {
                    let msg = format!("unknown signal {name:?} (try HUP, USR1, USR2, TERM)");
                    self.at(sig.span(), "deploy.reload_signal", msg);
                }
                name
            }
            None => "HUP".into(),
        };

        Policy {
            source: PolicySource::Builtin,
            mode: raw.mode.unwrap_or_default(),
            refs: RefsPolicy {
                protected,
                agent_namespace,
                agent_namespace_text,
                allow_force_push: raw.refs.allow_force_push.unwrap_or(false),
                allow_delete: raw.refs.allow_delete.unwrap_or(false),
                agent_tags: raw.refs.agent_tags.unwrap_or(false),
                tags_immutable: raw.refs.tags_immutable.unwrap_or(true),
                protected_pushers,
            },
            actors: ActorsPolicy {
                agents,
                humans,
                admins,
                default_role: raw.actors.default_role.unwrap_or(Role::Agent),
                agents_enabled: raw.actors.agents_enabled.unwrap_or(true),
                agents_disabled_reason: raw
                    .actors
                    .agents_disabled_reason
                    .clone()
                    .unwrap_or_default(),
                agents_set,
                humans_set,
                admins_set,
            },
            paths: PathsPolicy {
                case_insensitive: ci,
                deny,
                allow_only,
                protected: protected_paths,
                allow_outside_symlinks: raw.paths.allow_outside_symlinks.unwrap_or(false),
            },
            caps: CapsPolicy {
                max_files: raw.caps.max_files.unwrap_or(10),
                max_lines: raw.caps.max_lines.unwrap_or(400),
                max_blob_bytes: raw.caps.max_blob_bytes.unwrap_or(1024 * 1024),
                exclude: caps_exclude,
            },
            tests: TestsPolicy {
                paths: test_paths,
                flag_on,
                disable_markers: raw.tests.disable_markers.unwrap_or(true),
                weakening: raw.tests.weakening.unwrap_or(true),
                runner: raw.tests.runner.unwrap_or(true),
                cheats: raw.tests.cheats.unwrap_or(true),
                command: raw.tests.command.filter(|s| !s.trim().is_empty()),
                timeout_secs: self.duration(
                    "tests.timeout_secs",
                    raw.tests.timeout_secs,
                    600,
                    1,
                    1,
                ),
                isolation: raw.tests.isolation.unwrap_or_default(),
                network: raw.tests.network.unwrap_or(false),
                readable: tests_readable,
            },
            secrets: SecretsPolicy {
                builtin: raw.secrets.builtin.unwrap_or(true),
                allow_marker: raw
                    .secrets
                    .allow_marker
                    .unwrap_or_else(|| "guard:allow-secret".into()),
                min_entropy: raw.secrets.min_entropy.unwrap_or(3.5),
                exclude: secrets_exclude,
                extra,
                extra_own,
                gitleaks_config: gitleaks_config.map(|g| g.into_inner()).unwrap_or_default(),
            },
            commits: CommitsPolicy {
                message_pattern,
                required_trailers: raw.commits.required_trailers.unwrap_or_default(),
            },
            risk: RiskPolicy {
                max_agent_risk,
                high_risk_paths,
            },
            commands,
            approvals: ApprovalsPolicy {
                require_signature: raw.approvals.require_signature.unwrap_or(false),
                allowed_signers: non_empty_path(raw.approvals.allowed_signers),
                allow_self_approval: raw.approvals.allow_self_approval.unwrap_or(false),
                one_from_risk: raw.approvals.one_from_risk.unwrap_or(6),
                two_from_risk: raw.approvals.two_from_risk.unwrap_or(6),
            },
            deploy: DeployPolicy {
                root: non_empty_path(raw.deploy.root),
                branch: raw.deploy.branch.unwrap_or_else(|| "main".into()),
                keep: raw.deploy.keep.unwrap_or(5),
                test_command: raw.deploy.test_command.filter(|s| !s.trim().is_empty()),
                build_command: raw.deploy.build_command.filter(|s| !s.trim().is_empty()),
                use_recorded_tests: raw.deploy.use_recorded_tests.unwrap_or(true),
                reload_command: raw.deploy.reload_command.filter(|s| !s.trim().is_empty()),
                reload_signal,
                pidfile: non_empty_path(raw.deploy.pidfile),
                health_command: raw.deploy.health_command.filter(|s| !s.trim().is_empty()),
                health_url: raw.deploy.health_url.filter(|s| !s.trim().is_empty()),
                health_retries: raw.deploy.health_retries.unwrap_or(5),
                health_interval_ms: self.duration(
                    "deploy.health_interval_ms",
                    raw.deploy.health_interval_ms,
                    500,
                    1,
                    1000,
                ),
                health_timeout_secs: self.duration(
                    "deploy.health_timeout_secs",
                    raw.deploy.health_timeout_secs,
                    30,
                    1,
                    1,
                ),
                push_remote: raw.deploy.push_remote.filter(|s| !s.trim().is_empty()),
                lock_wait_secs: self.duration(
                    "deploy.lock_wait_secs",
                    raw.deploy.lock_wait_secs,
                    0,
                    0,
                    1,
                ),
            },
            limits: LimitsPolicy {
                agent_changes_per_day: raw.limits.agent_changes_per_day.unwrap_or(0),
                per: raw.limits.per.unwrap_or_default(),
                cooldown_hours: raw.limits.cooldown_hours.unwrap_or(0),
            },
            hooks: HooksPolicy {
                deadline_ms: self.duration(
                    "hooks.deadline_ms",
                    raw.hooks.deadline_ms,
                    3000,
                    1,
                    1000,
                ),
                admin_import: raw.hooks.admin_import.unwrap_or_default(),
                max_blob_scan_bytes: raw.hooks.max_blob_scan_bytes.unwrap_or(8 * 1024 * 1024),
            },
            audit: AuditPolicy {
                log: non_empty_path(raw.audit.log),
                syslog: raw.audit.syslog.unwrap_or(false),
                stderr: raw.audit.stderr.unwrap_or(false),
            },
        }
    }
}

/// One path list of the policy, compiled: its key, where each pattern was written (none: a
/// default), and its patterns or every problem found in them.
pub(super) struct PathList {
    key: &'static str,
    spans: Vec<Option<std::ops::Range<usize>>>,
    compiled: Result<PathPatterns, Vec<(usize, String)>>,
}

fn path_list(key: &'static str, list: Option<SList>, default: &[&str], ci: bool) -> PathList {
    let (strings, spans): (Vec<String>, Vec<Option<std::ops::Range<usize>>>) = match list {
        Some(l) => l
            .into_iter()
            .map(|s| {
                let span = s.span();
                (s.into_inner(), Some(span))
            })
            .unzip(),
        None => default.iter().map(|s| (s.to_string(), None)).unzip(),
    };
    let compiled = PathPatterns::new(&strings, ci).map_err(|first| {
        let every = PathPatterns::check(&strings);
        if every.is_empty() { vec![first] } else { every }
    });
    PathList {
        key,
        spans,
        compiled,
    }
}

/// The policy's path lists, parsed in the order of their keys. Their globs compile only when
/// a path may match them ([`PathPatterns`]), so this is cheap enough for one thread.
fn path_lists<const N: usize>(
    lists: [(&'static str, Option<SList>, &'static [&'static str]); N],
    ci: bool,
) -> [PathList; N] {
    lists.map(|(key, list, default)| path_list(key, list, default, ci))
}
