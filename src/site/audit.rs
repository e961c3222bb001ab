//! The audit log: one JSON line per decision of every door, each line carrying the hash of the
//! one before, so that an edited, removed or reordered line is detected.
//!
//! Each line is one JSON object: the [`Event`] fields plus
//! - `seq`: 1 for the first record, then one more per line;
//! - `time`: when it was written, RFC 3339 in UTC (`2026-01-01T12:00:00.123Z`);
//! - `prev`: the SHA-256, in hex, of the previous line's exact bytes (without its newline),
//!   or 64 zeros on the first line.
//!
//! Appends take an exclusive `flock` on the log while they read the last line and write the
//! new one, so appends from concurrent processes neither interleave nor fork the chain; each
//! line is written with one `write` on a file opened for appending.
//!
//! What the chain cannot show: lines cut from the end of the log leave a shorter, intact
//! chain. Mirror the records to syslog (`[audit] syslog = true`) to keep a copy out of reach.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::policy::AuditPolicy;

/// One decision, as a door reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The door: `pre-commit`, `pre-receive`, `approve`, `deploy`, `exec`, ...
    pub door: String,
    /// What was judged or done (`push refs/heads/main`, `deploy abc123`).
    pub action: String,
    /// Who acted, and in what role.
    pub actor: String,
    pub role: Option<crate::engine::policy::Role>,
    /// `passed`, `rejected`, `warned`, `ok`, `failed`, ...
    pub outcome: String,
    /// Rule ids found.
    pub rules: Vec<String>,
    /// Anything else worth keeping.
    pub detail: serde_json::Value,
}

/// The `prev` of the first line.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where syslog listens on Linux and the BSDs.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The log of a repository when the policy names none: `<git common dir>/guard/audit.log`.
pub fn default_path(git_common_dir: &Path) -> PathBuf {
    git_common_dir.join("guard").join("audit.log")
}

/// The log of the repository containing `dir` when the policy names none.
pub fn repo_log_path(dir: &Path) -> Result<PathBuf> {
    let repo = gix::discover(dir).with_context(|| {
        format!(
            "{} is not in a git repository: give the audit log with --file",
            dir.display()
        )
    })?;
    Ok(default_path(repo.common_dir()))
}

/// What one append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// The line written, without its newline.
    pub line: String,
    /// Mirrors (standard error, syslog) that could not be reached. The file record is kept
    /// whatever happens to them.
    pub mirror_errors: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    prev: String,
    #[serde(flatten)]
    event: &'a Event,
}

/// Append one event to the log at `path`, creating it and its directory when needed.
pub fn append(path: &Path, event: &Event) -> Result<()> {
    append_record(path, event).map(|_| ())
}

/// Append one event and say what was written.
pub fn append_record(path: &Path, event: &Event) -> Result<Appended> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the audit log directory {}", dir.display()))?;
    }
    // A symlink put in the log's place is not followed: whoever could plant it could otherwise
    // make the next writer (root, or the deploy user) append to a file of its choosing.
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot open audit log {}", path.display()))?;
    let mut file = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from(errno))
        .with_context(|| format!("cannot lock audit log {}", path.display()))?;
    let tail = last_line(&mut file)
        .with_context(|| format!("cannot read the end of audit log {}", path.display()))?;
    let (seq, prev, torn) = match &tail {
        None => (1, ZERO_HASH.to_string(), false),
        Some(t) => {
            let seq = match seq_of(&t.bytes) {
                Some(s) => s + 1,
                // The last line is damaged (verify reports it): number this record by its
                // position, which is what an intact log would give it.
                None => count_lines(&mut file)? + 1,
            };
            (seq, sha256_hex(&t.bytes), !t.newline)
        }
    };
    let record = Line {
        seq,
        time: rfc3339(SystemTime::now()),
        prev,
        event,
    };
    let line = serde_json::to_string(&record).context("cannot encode the audit record")?;
    let mut buf = Vec::with_capacity(line.len() + 2);
    // A last line cut short by a crash gets its newline here, so this record stays whole.
    if torn {
        buf.push(b'\n');
    }
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let n = file
        .write(&buf)
        .with_context(|| format!("cannot write audit log {}", path.display()))?;
    if n != buf.len() {
        bail!(
            "audit log {}: only {n} of {} bytes written (disk full?)",
            path.display(),
            buf.len()
        );
    }
    drop(file);
    Ok(Appended {
        seq,
        line,
        mirror_errors: Vec::new(),
    })
}

/// Append one event to the file and mirror it as the `[audit]` policy asks: to `stderr`
/// (prefixed `git-guard audit: `) and to syslog. A mirror that fails is reported in
/// [`Appended::mirror_errors`]; only a failure to write the file is an error.
pub fn record(
    audit: &AuditPolicy,
    path: &Path,
    event: &Event,
    stderr: &mut dyn Write,
) -> Result<Appended> {
    record_to(audit, path, event, stderr, Path::new(SYSLOG_SOCKET))
}

/// [`record`] with the syslog socket named.
pub fn record_to(
    audit: &AuditPolicy,
    path: &Path,
    event: &Event,
    stderr: &mut dyn Write,
    syslog_socket: &Path,
) -> Result<Appended> {
    let mut done = append_record(path, event)?;
    if audit.stderr
        && let Err(e) = writeln!(stderr, "git-guard audit: {}", done.line)
    {
        done.mirror_errors.push(format!("standard error: {e}"));
    }
    if audit.syslog
        && let Err(e) = send_syslog(syslog_socket, &done.line)
    {
        done.mirror_errors
            .push(format!("syslog {}: {e}", syslog_socket.display()));
    }
    Ok(done)
}

/// Send one record to syslog as facility auth, severity notice (RFC 3164 framing; syslog adds
/// the time and host).
pub fn send_syslog(socket: &Path, line: &str) -> io::Result<()> {
    const AUTH_NOTICE: u8 = 4 * 8 + 5;
    let msg = format!("<{AUTH_NOTICE}>git-guard[{}]: {line}", std::process::id());
    let sock = UnixDatagram::unbound()?;
    sock.send_to(msg.as_bytes(), socket)?;
    Ok(())
}

struct Tail {
    bytes: Vec<u8>,
    newline: bool,
}

/// The last line of the file (without its newline), read backwards from the end.
fn last_line(f: &mut File) -> io::Result<Option<Tail>> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    const CHUNK: u64 = 8192;
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = len;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        pos = start;
        let newline = buf.last() == Some(&b'\n');
        let body = if newline {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(Tail {
                bytes: body[i + 1..].to_vec(),
                newline,
            }));
        }
        if pos == 0 {
            return Ok(Some(Tail {
                bytes: body.to_vec(),
                newline,
            }));
        }
    }
}

fn count_lines(f: &mut File) -> Result<u64> {
    f.seek(SeekFrom::Start(0))?;
    let mut n = 0u64;
    let mut buf = [0u8; 65536];
    let mut last = b'\n';
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        last = buf[k - 1];
    }
    if last != b'\n' {
        n += 1;
    }
    Ok(n)
}

fn seq_of(line: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.get("seq")?.as_u64()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

// ----------------------------------------------------------------------------------------
// Time: RFC 3339 in UTC, written and read here (civil dates from days since the epoch, after
// Howard Hinnant's algorithms).
// ----------------------------------------------------------------------------------------

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `t` as RFC 3339 in UTC with milliseconds: `2026-01-01T12:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let (y, mo, da) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Seconds since the epoch of an RFC 3339 date-time (`2026-01-01T12:00:00Z`,
/// `2026-01-01 12:00:00.5+02:00`) or of a date alone (midnight UTC).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let y = i64::from(digits(s, 0..4)?);
    let (mo, d) = (digits(s, 5..7)?, digits(s, 8..10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !(1..=12).contains(&mo) || d == 0 {
        return None;
    }
    let month_days = [
        31,
        28 + u32::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_days[(mo - 1) as usize] {
        return None;
    }
    let day = days_from_civil(y, mo, d) * 86_400;
    if s.len() == 10 {
        return Some(day);
    }
    if !matches!(s.get(10..11)?, "T" | "t" | " ") || s.get(13..14)? != ":" || s.get(16..17)? != ":"
    {
        return None;
    }
    let (h, mi, se) = (digits(s, 11..13)?, digits(s, 14..16)?, digits(s, 17..19)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.get(3..4)? != ":" {
                return None;
            }
            let (oh, om) = (digits(rest, 1..3)?, digits(rest, 4..6)?);
            sign * (i64::from(oh) * 3600 + i64::from(om) * 60)
        }
    };
    Some(day + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - offset)
}

/// The start of a `--since` window, in seconds since the epoch: an RFC 3339 date or date-time,
/// or a span back from `now` (`30s`, `15m`, `2h`, `3d`, `1w`).
pub fn parse_since(s: &str, now: SystemTime) -> Result<i64> {
    let t = s.trim();
    if let Some(at) = parse_rfc3339(t) {
        return Ok(at);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match n.parse::<i64>() {
        Ok(n) if per > 0 => {
            let now = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs() as i64;
            Ok(now - n.saturating_mul(per))
        }
        _ => bail!(
            "--since {s:?}: give an RFC 3339 date (2026-01-31 or 2026-01-31T12:00:00Z) or a \
             span back from now (30m, 2h, 3d, 1w)"
        ),
    }
}

// ----------------------------------------------------------------------------------------
// Reading and verifying.
// ----------------------------------------------------------------------------------------

/// One line of the log as read back.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line's exact text (without its newline).
    pub raw: String,
    pub value: serde_json::Value,
    /// `time` in seconds since the epoch, when it parses.
    pub time: Option<i64>,
}

/// A line that breaks the log: its number and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The log read back: the records that parse, and every line that breaks the log.
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub entries: Vec<Entry>,
    pub problems: Vec<LineProblem>,
    /// Lines in the file.
    pub lines: usize,
}

impl Log {
    /// Whether the chain holds from the first line to the last.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Read the log at `path` and check its chain. A missing file is an error (naming it); a
/// damaged line is a [`LineProblem`], never a failure to read the rest.
pub fn read(path: &Path) -> Result<Log> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read audit log {} (give it with --file, or check [audit] log in the policy)",
            path.display()
        )
    })?;
    Ok(check(&bytes))
}

/// Check the chain of a log's bytes.
pub fn check(bytes: &[u8]) -> Log {
    let mut log = Log::default();
    if bytes.is_empty() {
        return log;
    }
    let ends_with_newline = bytes.last() == Some(&b'\n');
    let body = if ends_with_newline {
        &bytes[..bytes.len() - 1]
    } else {
        bytes
    };
    let mut expected_prev = ZERO_HASH.to_string();
    let mut prev_seq: Option<u64> = None;
    let mut first = true;
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        log.lines = n;
        let mut why: Vec<String> = Vec::new();
        let this_hash = sha256_hex(line);
        let parsed = std::str::from_utf8(line)
            .map_err(|e| format!("not UTF-8 text ({e})"))
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| format!("not a JSON record ({e})"))
                    .map(|v| (text, v))
            });
        match parsed {
            Err(e) => {
                why.push(if line.is_empty() {
                    "empty line: every line of the log is one JSON record".into()
                } else {
                    e
                });
                prev_seq = None;
            }
            Ok((text, value)) => {
                let seq = value.get("seq").and_then(|s| s.as_u64());
                let prev = value.get("prev").and_then(|s| s.as_str());
                let time = value.get("time").and_then(|s| s.as_str());
                match prev {
                    None => why.push("record has no `prev` hash".into()),
                    Some(p) if p != expected_prev => why.push(if first {
                        "prev is not 64 zeros, so this is not the log's first record (lines \
                         removed from the start)"
                            .into()
                    } else {
                        format!(
                            "prev hash does not match line {} (line edited, removed or reordered)",
                            n - 1
                        )
                    }),
                    Some(_) => {}
                }
                match (seq, prev_seq) {
                    (None, _) => why.push("record has no `seq` number".into()),
                    (Some(s), None) if first && s != 1 => {
                        why.push(format!("seq {s} at the start of the log, expected 1"))
                    }
                    (Some(s), Some(p)) if s > p + 1 => why.push(format!(
                        "seq {s} follows seq {p}: {} record{} missing",
                        s - p - 1,
                        if s - p - 1 == 1 { "" } else { "s" }
                    )),
                    (Some(s), Some(p)) if s <= p => why.push(format!(
                        "seq {s} follows seq {p} (lines reordered or repeated)"
                    )),
                    _ => {}
                }
                let at = time.and_then(parse_rfc3339);
                match time {
                    None => why.push("record has no `time`".into()),
                    Some(t) if at.is_none() => why.push(format!("time {t:?} is not RFC 3339")),
                    _ => {}
                }
                prev_seq = seq;
                log.entries.push(Entry {
                    line: n,
                    raw: text.to_string(),
                    value,
                    time: at,
                });
            }
        }
        if !why.is_empty() {
            log.problems.push(LineProblem {
                line: n,
                message: why.join("; "),
            });
        }
        expected_prev = this_hash;
        first = false;
    }
    if !ends_with_newline {
        let n = log.lines;
        match log.problems.last_mut() {
            Some(p) if p.line == n => p.message.push_str("; no final newline"),
            _ => log.problems.push(LineProblem {
                line: n,
                message: "no final newline: the last write was cut short".into(),
            }),
        }
    }
    log
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|s| s.as_str()).unwrap_or("-")
}

/// The records for people, one line each:
/// `#12 2026-01-01T12:00:00.000Z pre-receive rejected: push refs/heads/main by bot (agent) [paths.deny]`.
pub fn render_text(entries: &[&Entry], out: &mut dyn Write) -> io::Result<()> {
    for e in entries {
        let v = &e.value;
        let seq = v.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        write!(
            out,
            "#{seq} {} {} {}: {} by {}",
            field(v, "time"),
            field(v, "door"),
            field(v, "outcome"),
            field(v, "action"),
            field(v, "actor"),
        )?;
        if let Some(role) = v.get("role").and_then(|r| r.as_str()) {
            write!(out, " ({role})")?;
        }
        let rules: Vec<&str> = v
            .get("rules")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
            .unwrap_or_default();
        if !rules.is_empty() {
            write!(out, " [{}]", rules.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The records as JSON lines, exactly as stored (so their hashes can be checked again).
pub fn render_json(entries: &[&Entry], out: &mut dyn Write) -> io::Result<()> {
    for e in entries {
        writeln!(out, "{}", e.raw)?;
    }
    Ok(())
}

/// The verification for people: intact, or every line that breaks the chain.
pub fn render_verification(path: &Path, log: &Log, out: &mut dyn Write) -> io::Result<()> {
    if log.intact() {
        writeln!(
            out,
            "{}: intact: {} record{}, chain verified",
            path.display(),
            log.entries.len(),
            if log.entries.len() == 1 { "" } else { "s" }
        )
    } else {
        writeln!(
            out,
            "{}: BROKEN: {} of {} line{} break the chain",
            path.display(),
            log.problems.len(),
            log.lines,
            if log.lines == 1 { "" } else { "s" }
        )?;
        for p in &log.problems {
            writeln!(out, "{p}")?;
        }
        Ok(())
    }
}

/// The verification as JSON: `{"file", "intact", "lines", "records", "problems": [{line, message}]}`.
pub fn render_verification_json(path: &Path, log: &Log, out: &mut dyn Write) -> io::Result<()> {
    let doc = serde_json::json!({
        "file": path.display().to_string(),
        "intact": log.intact(),
        "lines": log.lines,
        "records": log.entries.len(),
        "problems": log.problems,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_in_the_logs_place_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "kept\n").unwrap();
        let log = dir.path().join("audit.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        let event = Event {
            door: "exec".into(),
            action: "run".into(),
            actor: "agent".into(),
            role: None,
            outcome: "ok".into(),
            rules: Vec::new(),
            detail: serde_json::Value::Null,
        };
        let err = append(&log, &event).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot open audit log"),
            "{err:#}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
    }

    #[test]
    fn time_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_767_225_600_123);
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00.123Z");
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00.123Z"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339("2026-01-01"), Some(1_767_225_600));
        assert_eq!(
            parse_rfc3339("2026-01-01T02:00:00+02:00"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("2023-02-29"), None);
        assert_eq!(parse_rfc3339("2026-13-01"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        for days in [-1000i64, 0, 59, 365 * 30, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn since_relative_and_absolute() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_since("2h", now).unwrap(), 1_000_000 - 7200);
        assert_eq!(parse_since("3d", now).unwrap(), 1_000_000 - 3 * 86_400);
        assert_eq!(parse_since("1970-01-02", now).unwrap(), 86_400);
        let e = parse_since("2 hours", now).unwrap_err().to_string();
        assert!(e.contains("--since \"2 hours\""), "{e}");
    }

    #[test]
    fn malformed_lines_are_named_not_fatal() {
        let log = check(b"not json\n\n{\"seq\":1}\n");
        assert_eq!(log.lines, 3);
        let lines: Vec<usize> = log.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 2, 3], "{:?}", log.problems);
        assert!(log.problems[0].message.starts_with("not a JSON record"));
        assert!(log.problems[1].message.starts_with("empty line"));
        assert!(log.problems[2].message.contains("no `prev`"));
    }
}
