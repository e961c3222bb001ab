#!/usr/bin/env bash
# Times materialising a release of 10,000 files, in the same run:
#   guard-deploy materialise HEAD DIR     vs  git archive HEAD | tar -x -C DIR
# Both write the tree of the same commit into a new directory; the two results are first
# compared with diff -r.
# The workload is built with git under bench/work/ (cached; delete it to rebuild).
# Usage: bench/release.sh [RUNS]   (default 10 runs per command)
set -euo pipefail

runs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/bench/work"
mkdir -p "$work"

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z

build_release_repo() { # 10,000 files in 100 directories (about 1.2 KB each), a few executables
    local dir="$work/release-10k"
    [ -f "$dir/.ready" ] && return
    rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
    git init -q -b main
    {
        local d f i body
        body=""
        for i in $(seq 1 30); do body+="line $i: let value_$i = $((i * 7)); // padding text"$'\n'; done
        printf 'commit refs/heads/main\nmark :1\ncommitter bench <bench@example.com> 1767225600 +0000\ndata 9\n10k files\n'
        for d in $(seq -w 0 99); do
            for f in $(seq -w 0 99); do
                local mode=100644
                [ "$f" = 00 ] && mode=100755
                printf 'M %s inline app/mod%s/file%s.txt\ndata %d\n%s// %s/%s\n' \
                    "$mode" "$d" "$f" $((${#body} + ${#d} + ${#f} + 5)) "$body" "$d" "$f"
            done
        done
    } | git fast-import --quiet
    git reset -q --hard main
    git repack -adq
    touch .ready
}

echo "building the workload in $work ..." >&2
build_release_repo
echo "building guard-deploy (release) ..." >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin guard-deploy
deploy="$root/target/release/guard-deploy"
repo="$work/release-10k"
out="$work/release-out"

# Runs alternate between the two commands. Each run writes into a directory path never used
# before (so neither side finds names the other just removed in the kernel's caches); the
# previous output is removed and `sync`ed first, untimed. Prints "guard_ms git_ms", the
# means over $runs runs after one warm-up of each.
elapsed_ns() { # command...
    local start end
    start=$(date +%s%N)
    (cd "$repo" && bash -c "$1") >/dev/null
    end=$(date +%s%N)
    echo $((end - start))
}
measure() {
    local i g=0 t=0 dir
    rm -rf "$out" && mkdir -p "$out"
    for i in $(seq 0 "$runs"); do
        rm -rf "$out"/* && sync
        dir="$out/guard-$i"
        ns=$(elapsed_ns "'$deploy' --repo '$repo' materialise HEAD '$dir'")
        [ "$i" -gt 0 ] && g=$((g + ns))
        rm -rf "$out"/* && sync
        dir="$out/git-$i"
        mkdir "$dir"
        ns=$(elapsed_ns "git archive HEAD | tar -x -C '$dir'")
        [ "$i" -gt 0 ] && t=$((t + ns))
    done
    rm -rf "$out"
    awk -v g="$g" -v t="$t" -v n="$runs" 'BEGIN { printf "%.1f %.1f\n", g / n / 1e6, t / n / 1e6 }'
}

# Both sides must write the same tree, or the timing means nothing.
rm -rf "$out" "$out.git"
"$deploy" --repo "$repo" materialise HEAD "$out" >/dev/null
mkdir "$out.git" && (cd "$repo" && git archive HEAD | tar -x -C "$out.git")
diff -r "$out" "$out.git" >/dev/null || { echo "the two releases differ" >&2; exit 1; }
[ "$(find "$out" -type f | wc -l)" -eq 10000 ] || { echo "expected 10,000 files" >&2; exit 1; }
rm -rf "$out" "$out.git"

read -r g t < <(measure)

echo "machine: $(nproc) cores; $(git --version); $(tar --version | head -1); runs per command: $runs"
echo
echo "| workload | guard-deploy materialise | git archive \| tar -x | ratio |"
echo "| --- | --- | --- | --- |"
printf '| 10,000 files, 13.3 MB, packed | %s ms | %s ms | %.2f |\n' "$g" "$t" \
    "$(awk -v a="$g" -v b="$t" 'BEGIN { print a / b }')"
