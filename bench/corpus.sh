#!/usr/bin/env bash
# Precision of the test-integrity rules on honest work: histories built from the published
# versions of well-known crates, PyPI and npm packages (each version's sources as one commit,
# oldest first), every commit judged by `git guard check` with the built-in policy.
#
#   bench/corpus.sh [--bin DIR] [--only crates|pypi|npm] [--keep]
#
# Downloads go through the registries' ordinary clients and download endpoints: crates from
# the crates.io download endpoint cargo itself uses, PyPI sources with `pip download
# --no-binary :all:`, npm tarballs with `npm pack`. Histories are built under bench/work/corpus
# and reused when there (delete the directory to rebuild).
#
# Prints, per history and in all: commits judged, commits with a tampering flag (tests.removed,
# tests.disabled, tests.weakened, tests.runner, tests.cheat) and the flags per rule; writes
# every tampering finding to bench/work/corpus/findings.tsv (history, version, rule, path,
# test, message, before, after) for a person to classify as true or false.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        *) echo "usage: bench/corpus.sh [--bin DIR] [--only crates|pypi|npm]" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release --bins --quiet)
    bin="${CARGO_TARGET_DIR:-$root/target}/release"
fi
bin="$(cd "$bin" && pwd)" # the histories are judged from inside each repository
work="$root/bench/work/corpus"
mkdir -p "$work/downloads"

for v in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Corpus GIT_AUTHOR_EMAIL=c@example.com
export GIT_COMMITTER_NAME=Corpus GIT_COMMITTER_EMAIL=c@example.com

# Each line: ecosystem name versions... (oldest first). Packages whose published sources ship
# their tests.
HISTORIES=(
    "crates semver 1.0.9 1.0.10 1.0.11 1.0.12 1.0.13 1.0.14 1.0.16 1.0.17 1.0.18 1.0.19 1.0.20 1.0.21 1.0.22 1.0.23"
    "crates itoa 1.0.1 1.0.2 1.0.3 1.0.4 1.0.5 1.0.6 1.0.7 1.0.8 1.0.9 1.0.10 1.0.11"
    "crates anyhow 1.0.60 1.0.62 1.0.64 1.0.66 1.0.68 1.0.70 1.0.72 1.0.75 1.0.79 1.0.81 1.0.83 1.0.86"
    "crates smallvec 1.6.1 1.7.0 1.8.0 1.9.0 1.10.0 1.11.0 1.11.1 1.11.2 1.12.0 1.13.0 1.13.1 1.13.2"
    "crates hex 0.3.2 0.4.0 0.4.1 0.4.2 0.4.3"
    "crates base64 0.13.0 0.13.1 0.20.0 0.21.0 0.21.1 0.21.2 0.21.3 0.21.4 0.21.5 0.21.6 0.21.7 0.22.0 0.22.1"
    "crates bitflags 1.3.2 2.0.0 2.0.1 2.0.2 2.1.0 2.2.0 2.3.0 2.3.3 2.4.0 2.4.1 2.4.2 2.5.0 2.6.0"
    "crates either 1.6.1 1.7.0 1.8.0 1.8.1 1.9.0 1.10.0 1.11.0 1.12.0 1.13.0"
    "crates log 0.4.14 0.4.16 0.4.17 0.4.18 0.4.19 0.4.20 0.4.21 0.4.22"
    "pypi six 1.12.0 1.13.0 1.14.0 1.15.0 1.16.0"
    "pypi idna 3.2 3.3 3.4 3.5 3.6 3.7"
    "pypi attrs 21.4.0 22.1.0 22.2.0 23.1.0 23.2.0"
    "npm minimist 1.2.5 1.2.6 1.2.7 1.2.8"
    "npm qs 6.10.3 6.10.5 6.11.0 6.11.1 6.11.2 6.12.0 6.12.1"
)

fetch() {
    local eco="$1" name="$2" ver="$3" dest="$4"
    local dl="$work/downloads/$eco-$name-$ver"
    mkdir -p "$dl"
    case "$eco" in
        crates)
            [ -f "$dl/x.crate" ] || curl -sSfL -o "$dl/x.crate" \
                "https://static.crates.io/crates/$name/$name-$ver.crate"
            tar -xzf "$dl/x.crate" -C "$dest" --strip-components=1 ;;
        pypi)
            ls "$dl"/*.tar.gz >/dev/null 2>&1 || pip download -q --no-deps --no-binary :all: \
                "$name==$ver" -d "$dl" >/dev/null 2>&1
            tar -xzf "$(ls "$dl"/*.tar.gz | head -1)" -C "$dest" --strip-components=1 ;;
        npm)
            ls "$dl"/*.tgz >/dev/null 2>&1 || (cd "$dl" && npm pack --silent "$name@$ver" >/dev/null)
            tar -xzf "$(ls "$dl"/*.tgz | head -1)" -C "$dest" --strip-components=1 ;;
    esac
}

build() {
    local eco="$1" name="$2"; shift 2
    local repo="$work/$eco-$name"
    [ -d "$repo/.git" ] && return 0
    mkdir -p "$repo"
    git -C "$repo" init -q -b main
    for ver in "$@"; do
        find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
        if ! fetch "$eco" "$name" "$ver" "$repo"; then
            echo "  $eco $name $ver: cannot fetch, left out" >&2
            continue
        fi
        git -C "$repo" add -A
        git -C "$repo" commit -q --allow-empty -m "$name $ver"
    done
}

tampering='tests.removed|tests.disabled|tests.weakened|tests.runner|tests.cheat'
findings="$work/findings.tsv"
: > "$findings"
total_commits=0
total_flagged=0
declare -A per_rule=()
for h in "${HISTORIES[@]}"; do
    read -r eco name versions <<<"$h"
    [ -n "$only" ] && [ "$only" != "$eco" ] && continue
    # shellcheck disable=SC2086
    build "$eco" "$name" $versions
    repo="$work/$eco-$name"
    commits=0 flagged=0
    # The first commit is the whole package: a history starts there, it is not judged.
    for c in $(git -C "$repo" rev-list --reverse HEAD | tail -n +2); do
        commits=$((commits + 1))
        json="$(cd "$repo" && "$bin/git-guard" check --format json --as corpus-agent "$c" || true)"
        ver="$(git -C "$repo" log -1 --format=%s "$c")"
        rows="$(printf '%s' "$json" | python3 -c '
import json, sys, re
doc = json.load(sys.stdin)
pat = re.compile(sys.argv[1])
for f in doc.get("findings", []):
    if pat.fullmatch(f["rule"]):
        cells = [f["rule"], f.get("path", ""), f.get("test", ""), f["message"], f.get("before", ""), f.get("after", "")]
        print("\t".join(c.replace("\t", " ").replace("\n", " / ") for c in cells))
' "$tampering")"
        if [ -n "$rows" ]; then
            flagged=$((flagged + 1))
            while IFS= read -r row; do
                printf '%s\t%s\t%s\n' "$eco-$name" "$ver" "$row" >> "$findings"
                rule="${row%%$'\t'*}"
                per_rule[$rule]=$(( ${per_rule[$rule]:-0} + 1 ))
            done <<<"$rows"
        fi
    done
    printf '%-22s %3d commits judged, %3d with a tampering flag\n' "$eco-$name" "$commits" "$flagged"
    total_commits=$((total_commits + commits))
    total_flagged=$((total_flagged + flagged))
done
echo "== all: $total_commits commits judged, $total_flagged with a tampering flag"
for r in "${!per_rule[@]}"; do
    printf '   %-16s %d flags\n' "$r" "${per_rule[$r]}"
done | sort
echo "   findings: $findings"
