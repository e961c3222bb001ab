#!/usr/bin/env bash
# Times `git guard check` against git doing the least equivalent work, in the same run:
#   - a 10,000-file repository with 5 staged files:
#       git guard check --staged            vs  git diff --cached --numstat
#   - ranges of 1,000 and 10,000 commits:
#       git guard check A..B                vs  git rev-list A..B | git diff-tree -r --numstat --stdin
# Workloads are built with git under bench/work/ (cached; delete it to rebuild).
# Usage: bench/check.sh [RUNS]   (default 10 runs per command; uses hyperfine when installed)
set -euo pipefail

runs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/bench/work"
mkdir -p "$work"

# Hermetic git: no user or system configuration, fixed identity and dates.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z

file_body() { # $1: seed; about 40 lines of source-like text
    local i
    for i in $(seq 1 40); do printf 'line %d of file %s: let x_%d = %d;\n' "$i" "$1" "$i" "$((i * 7))"; done
}

build_staged_repo() {
    local dir="$work/staged-10k"
    [ -f "$dir/.ready" ] && return
    rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
    git init -q -b main
    local body d f
    body=$(file_body x)
    for d in $(seq -w 0 99); do
        mkdir -p "src/mod$d"
        for f in $(seq -w 0 99); do printf '%s\n// %s/%s\n' "$body" "$d" "$f" >"src/mod$d/file$f.rs"; done
    done
    git add -A && git commit -q -m "10,000 files"
    for d in 03 17 42 66 90; do
        printf 'fn added() {}\n' >>"src/mod$d/file07.rs"
        sed -i '5d' "src/mod$d/file07.rs"
    done
    git add -A
    touch .ready
}

build_range_repo() { # one base commit with 2,000 files, then 10,000 commits of 3 files each
    local dir="$work/range-10k"
    [ -f "$dir/.ready" ] && return
    rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
    git init -q -b main
    {
        local body c n i msg
        body=$(file_body base)
        printf 'commit refs/heads/main\nmark :1\ncommitter bench <bench@example.com> 1767225600 +0000\ndata 4\nbase\n'
        for i in $(seq 0 1999); do
            printf 'M 100644 inline src/d%d/f%d.txt\ndata %d\n%s\n' $((i % 40)) "$i" $((${#body} + 1)) "$body"
        done
        for c in $(seq 2 10001); do
            msg="commit $c"
            printf 'commit refs/heads/main\nmark :%d\ncommitter bench <bench@example.com> %d +0000\ndata %d\n%s\nfrom :%d\n' \
                "$c" $((1767225600 + c)) ${#msg} "$msg" $((c - 1))
            for n in 0 1 2; do
                i=$(((c * 3 + n * 677) % 2000))
                body="edit $c.$n of file $i"$'\n'"second line $c"
                printf 'M 100644 inline src/d%d/f%d.txt\ndata %d\n%s\n' $((i % 40)) "$i" ${#body} "$body"
            done
        done
    } | git fast-import --quiet
    git reset -q --hard main
    git repack -adq
    touch .ready
}

echo "building workloads in $work ..." >&2
build_staged_repo
build_range_repo
echo "building git-guard (release) ..." >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin git-guard
guard="$root/target/release/git-guard"

# Mean wall time in milliseconds of a shell command run $runs times after one warm-up.
time_ms() {
    local dir=$1 cmd=$2
    if command -v hyperfine >/dev/null; then
        (cd "$dir" && hyperfine -N --warmup 2 --runs "$runs" --export-json /dev/stdout --style none "$cmd" 2>/dev/null) |
            sed -n 's/.*"mean": *\([0-9.e+-]*\).*/\1/p' | head -1 | awk '{printf "%.2f", $1 * 1000}'
        return
    fi
    (
        cd "$dir"
        bash -c "$cmd" >/dev/null 2>&1 || true
        local start end
        start=$(date +%s%N)
        for _ in $(seq 1 "$runs"); do bash -c "$cmd" >/dev/null 2>&1 || true; done
        end=$(date +%s%N)
        awk -v ns=$((end - start)) -v n="$runs" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
    )
}

row() { # label, dir, guard command, git command
    local g t
    g=$(time_ms "$2" "$3")
    t=$(time_ms "$2" "$4")
    printf '| %s | %s ms | %s ms | %.2f |\n' "$1" "$g" "$t" "$(awk -v a="$g" -v b="$t" 'BEGIN { print a / b }')"
}

# Each check must judge what git lists, or the timing means nothing.
(cd "$work/staged-10k" && "$guard" check --staged >/dev/null) ||
    { echo "git guard check --staged did not pass on the workload" >&2; exit 1; }

echo "machine: $(nproc) cores; $(git --version); runs per command: $runs"
echo
echo "| workload | git guard check | git | ratio |"
echo "| --- | --- | --- | --- |"
row "10,000 files, 5 staged" "$work/staged-10k" \
    "$guard check --staged" \
    "git diff --cached --numstat"
for n in 1000 10000; do
    row "range of $n commits" "$work/range-10k" \
        "$guard check main~$n..main" \
        "sh -c 'git rev-list main~$n..main | git diff-tree -r --numstat --stdin'"
done
