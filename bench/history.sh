#!/usr/bin/env bash
# pre-receive on real histories: the published versions of a large, long-lived crate replayed
# as git histories, each pushed whole into a guarded bare server, beside git's floor and
# git-secrets.
#
#   bench/history.sh [--runs N] [--bin DIR] [--baseline DIR] [--crates "libc tokio"] [--versions N]
#
# For each crate (default: libc and tokio, every published non-pre-release version of each,
# about 200; libc is large C bindings changed a few files at a time, tokio is Rust with its
# integration tests, which the tests rule parses):
#
#   versions  one commit per version, oldest first (semver order), each commit's tree the
#             version's sources as published on crates.io.
#   chain     the same versions replayed as a long chain of small commits: the first version in
#             one commit, then, between consecutive versions, one commit per file added,
#             modified or deleted (in path order), so the chain ends on the last version's tree.
#
# Each history is pushed as a new branch (refs/heads/agent/import) into an empty bare server:
# the push of a whole history, as an import or a mirror is. Every round pushes once per
# pre-receive, one after another, so a burst of the shared machine's load falls on all alike:
#
#   none      no hook
#   floor     git rev-list NEW --not --all | git diff-tree -r --numstat --root --stdin
#   secrets   git-secrets (AWS patterns) scanning
#             git rev-list NEW --not --all | git diff-tree -p --root --stdin
#   guard     git-guard's server hooks (git-guard install --server --deadline-ms 600000) with
#             the built-in policy, every rule on, only the caps and the agent's risk limit
#             raised so that the push is accepted (a refused push skips the ref update and
#             post-receive, so its time would not compare: the script fails instead)
#   baseline  the same with the binaries of --baseline DIR (another build: say, main's)
#
# Then the hooks alone, as git runs them after the objects arrived: the pushed objects in the
# server's object store, on no ref, the hook run with GIT_DIR=. and the update line on stdin;
# medians over --runs rounds and the peak RSS of one run (/usr/bin/time -f %M). The server
# and the stdin file stay under bench/work/history/<crate>-<history>/ for profiling:
#
#   cd bench/work/history/libc-chain/hook.git &&
#     GIT_DIR=. guard-hook --config ../guard.toml pre-receive < ../stdin
#
# Downloads go through crates.io's ordinary endpoints: the sparse index
# (https://index.crates.io/) for the list of versions and the download endpoint cargo uses
# (https://static.crates.io/crates/NAME/NAME-VER.crate), cached under
# bench/work/history/downloads (libc: 204 versions, 96 MB; tokio: 195 versions, 106 MB).
# Histories are built with `git fast-import` and reused when there (delete bench/work/history
# to rebuild).
#
# --bin DIR: the git-guard and guard-hook to time (default: build this tree with
# `cargo build --release --bins`). --baseline DIR: another build, timed in the same rounds.
# git-secrets and /usr/bin/time are installed with apt-get when missing and possible; a peer
# that is still missing is reported as not installed, never estimated.
set -euo pipefail

runs=5
bin=""
baseline=""
crates="libc tokio"
max_versions=0
usage="usage: bench/history.sh [--runs N] [--bin DIR] [--baseline DIR] [--crates \"libc tokio\"] [--versions N]"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --baseline) baseline="$(cd "$2" && pwd)"; shift 2 ;;
        --crates) crates="$2"; shift 2 ;;
        --versions) max_versions="$2"; shift 2 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release --bins --quiet)
    bin="${CARGO_TARGET_DIR:-$root/target}/release"
fi
bin="$(cd "$bin" && pwd)"
for b in "$bin" ${baseline:+"$baseline"}; do
    for exe in git-guard guard-hook; do
        [ -x "$b/$exe" ] || { echo "bench: no $exe in $b" >&2; exit 2; }
    done
done
work="$root/bench/work/history"
mkdir -p "$work/downloads"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for v in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=b@example.com
export PATH="$bin:$PATH"

# The peers, from Debian, when missing and this user may install them.
want=()
command -v git-secrets >/dev/null || want+=(git-secrets)
[ -x /usr/bin/time ] || want+=(time)
if [ "${#want[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bench: installing ${want[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >"$tmp/apt.log" 2>&1 ||
        echo "bench: apt-get install ${want[*]} failed (see below); going on without" >&2
fi
have_secrets=0
command -v git-secrets >/dev/null && have_secrets=1

t_start=$(date +%s)

# ---------------------------------------------------------------- downloads and histories

# versions NAME: every published non-pre-release version of the crate, oldest first (semver
# order), from the sparse index; the last --versions N of them when asked.
versions() {
    local name="$1" idx
    case "${#name}" in
        1) idx="1/$name" ;;
        2) idx="2/$name" ;;
        3) idx="3/${name:0:1}/$name" ;;
        *) idx="${name:0:2}/${name:2:2}/$name" ;;
    esac
    [ -s "$work/$name.index" ] || curl -sSfL -o "$work/$name.index" "https://index.crates.io/$idx"
    python3 - "$work/$name.index" "$max_versions" <<'PY'
import json, sys
vs = [json.loads(l)["vers"] for l in open(sys.argv[1]) if l.strip()]
vs = [v for v in vs if "-" not in v and "+" not in v]
vs.sort(key=lambda v: tuple(int(x) for x in v.split(".")))
n = int(sys.argv[2])
print("\n".join(vs[-n:] if n > 0 else vs))
PY
}

# fetch NAME VERSION...: download the .crate files not in the cache yet, four at a time.
fetch() {
    local name="$1"; shift
    printf '%s\n' "$@" | xargs -P 4 -I{} sh -c '
        f="$0/$1-{}.crate"
        [ -s "$f" ] && exit 0
        curl -sSfL --retry 3 -o "$f.part" "https://static.crates.io/crates/$1/$1-{}.crate" && mv "$f.part" "$f"
    ' "$work/downloads" "$name"
}

# build NAME VERSION...: the two histories, as $work/NAME-versions and $work/NAME-chain, each
# on refs/heads/agent/import; kept when built from the same versions.
build() {
    local name="$1"; shift
    local stamp
    stamp="$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
    local kind
    for kind in versions chain; do
        local repo="$work/$name-$kind/src"
        if [ -f "$work/$name-$kind/built" ] && [ "$(cat "$work/$name-$kind/built")" = "$stamp" ]; then
            continue
        fi
        rm -rf "$work/$name-$kind"
        mkdir -p "$repo"
        git -C "$repo" init -q --bare -b agent/import
        python3 - "$work/downloads" "$name" "$kind" "$@" <<'PY' | git -C "$repo" fast-import --quiet
import sys, tarfile
dl, name, kind, versions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
out = sys.stdout.buffer
mark = 0
when = 1500000000
prev = {}  # path -> (mode, data)

def blob(data):
    global mark
    mark += 1
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
    out.write(data)
    out.write(b"\n")
    return mark

def commit(message, changes):
    global when
    when += 3600
    msg = message.encode()
    out.write(b"commit refs/heads/agent/import\n")
    out.write(b"author Bench <b@example.com> %d +0000\n" % when)
    out.write(b"committer Bench <b@example.com> %d +0000\n" % when)
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    for c in changes:
        out.write(c)
    out.write(b"\n")

def read(ver):
    files = {}
    with tarfile.open(f"{dl}/{name}-{ver}.crate") as t:
        for m in t.getmembers():
            if not m.isfile() or "/" not in m.name:
                continue
            path = m.name.split("/", 1)[1]
            mode = b"100755" if m.mode & 0o111 else b"100644"
            files[path] = (mode, t.extractfile(m).read())
    return files

first = True
for ver in versions:
    cur = read(ver)
    changed = sorted(p for p in set(cur) | set(prev) if cur.get(p) != prev.get(p))
    ops = []
    for p in changed:
        pb = p.encode()
        if p in cur:
            mode, data = cur[p]
            m = blob(data)
            ops.append((p, b"M %s :%d %s\n" % (mode, m, pb)))
        else:
            ops.append((p, b"D %s\n" % pb))
    if kind == "versions" or first:
        commit(f"{name} {ver}", [o for _, o in ops])
    else:
        for p, o in ops:
            commit(f"{name} {ver}: {p}", [o])
    first = False
    prev = cur
PY
        git -C "$repo" repack -adq
        echo "$stamp" > "$work/$name-$kind/built"
    done
}

# describe DIR: commits, file changes and distinct paths, pack size.
describe() {
    local repo="$1/src"
    local commits changes paths pack
    commits=$(git -C "$repo" rev-list --count agent/import)
    git -C "$repo" log --format= --name-only --no-renames agent/import > "$tmp/names"
    changes=$(grep -c . "$tmp/names" || true)
    paths=$(sort -u "$tmp/names" | grep -c . || true)
    pack=$(du -cb "$repo"/objects/pack/*.pack | tail -1 | cut -f1)
    printf '%s commits, %s file changes, %s distinct paths, pack %.1f MB\n' \
        "$commits" "$changes" "$paths" "$(echo "$pack" | awk '{print $1 / 1e6}')"
}

# ---------------------------------------------------------------- timing

# medians N CMD...: run each shell command once per round for N rounds, in turn; print the
# median milliseconds of each, space-separated, in the order given.
medians() {
    local n="$1"; shift
    local k=$# i r t0 t1
    local -a cmds=("$@")
    : > "$tmp/times"
    for r in $(seq "$n"); do
        for i in $(seq 0 $((k - 1))); do
            t0=$(date +%s%N)
            if ! sh -c "${cmds[$i]}" >/dev/null 2>"$tmp/hook.err"; then
                echo "bench: failed: ${cmds[$i]}" >&2
                cat "$tmp/hook.err" >&2
                exit 1
            fi
            t1=$(date +%s%N)
            echo "$i $(( (t1 - t0) / 1000 ))" >> "$tmp/times"
        done
    done
    for i in $(seq 0 $((k - 1))); do
        awk -v i="$i" '$1 == i {print $2}' "$tmp/times" | sort -n |
            awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f ", m/1000}'
    done
    echo
}

# peak_mb CMD: peak resident memory of one run of a shell command (the largest process), MB.
peak_mb() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$tmp/mem" sh -c "$1" >/dev/null 2>&1 || true
        awk '{v=$1} END {printf "%.0f", v / 1024}' "$tmp/mem"
    else
        echo "n/a"
    fi
}

floor_hook='#!/bin/sh
while read old new ref; do
  git rev-list "$new" --not --all | git diff-tree -r --numstat --root --stdin >/dev/null
done'
secrets_hook='#!/bin/sh
while read old new ref; do
  git rev-list "$new" --not --all | git diff-tree -p --root --stdin | git secrets --scan - >/dev/null || exit 1
done'

# fresh_server DIR KIND: an empty bare repository with KIND's pre-receive, as DIR/server.git.
fresh_server() {
    local dir="$1" kind="$2" hook="$1/server.git/hooks/pre-receive"
    rm -rf "$dir/server.git"
    git init -q --bare -b main "$dir/server.git"
    case "$kind" in
        none) ;;
        floor) printf '%s\n' "$floor_hook" > "$hook"; chmod 755 "$hook" ;;
        secrets) git -C "$dir/server.git" secrets --register-aws >/dev/null
                 printf '%s\n' "$secrets_hook" > "$hook"; chmod 755 "$hook" ;;
        guard) "$bin/git-guard" install --server --deadline-ms 600000 --policy "$dir/policy.toml" "$dir/server.git" >/dev/null ;;
        baseline) "$baseline/git-guard" install --server --deadline-ms 600000 --policy "$dir/policy.toml" "$dir/server.git" >/dev/null ;;
    esac
}

# pushes DIR KIND...: runs rounds, one accepted push per kind in turn in each; print the median
# milliseconds of each kind, space-separated. A refused push, or a git-guard push that does
# not say PASSED, stops the bench.
pushes() {
    local dir="$1"; shift
    local r kind t0 t1
    : > "$tmp/push-times"
    for r in $(seq "$runs"); do
        for kind in "$@"; do
            fresh_server "$dir" "$kind"
            t0=$(date +%s%N)
            if ! git -C "$dir/src" push -q "$dir/server.git" agent/import >"$tmp/push.log" 2>&1; then
                echo "bench: the $kind push was refused; a refused push skips the ref update and post-receive, so its time would not compare:" >&2
                grep -v 'remote: *hint:\|remote: flag\[' "$tmp/push.log" | head -40 >&2
                exit 1
            fi
            t1=$(date +%s%N)
            case "$kind" in guard|baseline)
                if ! grep -q 'git-guard: PASSED' "$tmp/push.log"; then
                    echo "bench: the $kind push was accepted without a PASSED verdict:" >&2
                    cat "$tmp/push.log" >&2
                    exit 1
                fi ;;
            esac
            echo "$kind $(( (t1 - t0) / 1000 ))" >> "$tmp/push-times"
        done
    done
    for kind in "$@"; do
        awk -v k="$kind" '$1 == k {print $2}' "$tmp/push-times" | sort -n |
            awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f ", m/1000}'
    done
    echo
}

report() { printf '%-62s %11s ms%s\n' "$1" "$2" "${3:+   $3}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

# ---------------------------------------------------------------- the bench

# What a crate's history needs beyond the raised caps for the push to be accepted (nothing
# today: every rule and every file stays on). Before the generic-secret rule knew a `::` path
# from an assignment, tokio needed its src/sync/mod.rs left out of the secrets rule.
declare -A policy_extra=()

echo "git-guard: $bin ($("$bin/git-guard" --version 2>/dev/null || echo '?'))"
[ -n "$baseline" ] && echo "baseline:  $baseline ($("$baseline/git-guard" --version 2>/dev/null || echo '?'))"
echo "git: $(git --version | cut -d' ' -f3); git-secrets: $([ "$have_secrets" = 1 ] && echo installed || echo 'not installed (apt-get install git-secrets)'); $runs rounds"

for name in $crates; do
    mapfile -t vers < <(versions "$name")
    echo "== $name: ${#vers[@]} versions, ${vers[0]} to ${vers[-1]}"
    fetch "$name" "${vers[@]}"
    have=()
    for v in "${vers[@]}"; do
        if [ -s "$work/downloads/$name-$v.crate" ]; then have+=("$v"); else echo "   $name $v: cannot fetch, left out" >&2; fi
    done
    echo "   downloaded: $(du -cb $(printf "$work/downloads/$name-%s.crate " "${have[@]}") | tail -1 | awk '{printf "%.1f MB", $1 / 1e6}')"
    t0=$(date +%s)
    build "$name" "${have[@]}"
    echo "   histories ready in $(( $(date +%s) - t0 )) s (built with git fast-import, reused when there)"

    for kind in versions chain; do
        dir="$work/$name-$kind"
        echo
        echo "== $name-$kind: $(describe "$dir")"
        # Every rule stays on; the caps and the agent's risk limit are raised so that the push
        # of a whole history is accepted and does all of its work.
        printf '[caps]\nmax_files = 100000000\nmax_lines = 1000000000\nmax_blob_bytes = 1073741824\n[risk]\nmax_agent_risk = 5\n%s' \
            "${policy_extra[$name]:-}" > "$dir/policy.toml"
        kinds=(none floor)
        [ "$have_secrets" = 1 ] && kinds+=(secrets)
        kinds+=(guard)
        [ -n "$baseline" ] && kinds+=(baseline)
        read -r -a ms < <(pushes "$dir" "${kinds[@]}")
        [ "${#ms[@]}" -eq "${#kinds[@]}" ] || exit 1 # a refused push (told above)
        declare -A push_ms=()
        for i in "${!kinds[@]}"; do push_ms[${kinds[$i]}]="${ms[$i]}"; done
        added() { awk -v a="$1" -v b="${push_ms[none]}" 'BEGIN {printf "%.1f", a - b}'; }
        report "git push, no hook" "${push_ms[none]}"
        report "git push, pre-receive: floor (rev-list | diff-tree --numstat)" "${push_ms[floor]}" "+$(added "${push_ms[floor]}")"
        if [ "$have_secrets" = 1 ]; then
            report "git push, pre-receive: git-secrets" "${push_ms[secrets]}" "+$(added "${push_ms[secrets]}")"
        else
            echo "git push, pre-receive: git-secrets: not installed"
        fi
        report "git push, git-guard (pre- and post-receive)" "${push_ms[guard]}" \
            "+$(added "${push_ms[guard]}"); added time / floor's $(ratio "$(added "${push_ms[guard]}")" "$(added "${push_ms[floor]}")")"
        [ -n "$baseline" ] && report "git push, baseline git-guard" "${push_ms[baseline]}" "+$(added "${push_ms[baseline]}")"

        # The hooks alone: the pushed objects in the server, on no ref, as pre-receive sees
        # them through the quarantine. Kept for profiling.
        rm -rf "$dir/server.git" "$dir/hook.git"
        git init -q --bare -b main "$dir/hook.git"
        git -C "$dir/hook.git" fetch -q "$dir/src" agent/import:refs/bench/tip
        tip=$(git -C "$dir/hook.git" rev-parse refs/bench/tip)
        git -C "$dir/hook.git" update-ref -d refs/bench/tip
        [ "$have_secrets" = 1 ] && git -C "$dir/hook.git" secrets --register-aws >/dev/null
        printf '%040d %s refs/heads/agent/import\n' 0 "$tip" > "$dir/stdin"
        printf 'side = "server"\ndeadline_ms = 600000\npolicy = "%s"\n' "$dir/policy.toml" > "$dir/guard.toml"
        printf '%s\n' "$floor_hook" > "$dir/floor.sh"
        printf '%s\n' "$secrets_hook" > "$dir/secrets.sh"
        labels=(floor)
        cmds=("sh '$dir/floor.sh' < '$dir/stdin'")
        if [ "$have_secrets" = 1 ]; then labels+=(secrets); cmds+=("sh '$dir/secrets.sh' < '$dir/stdin'"); fi
        labels+=(guard); cmds+=("'$bin/guard-hook' --config '$dir/guard.toml' pre-receive < '$dir/stdin'")
        if [ -n "$baseline" ]; then labels+=(baseline); cmds+=("'$baseline/guard-hook' --config '$dir/guard.toml' pre-receive < '$dir/stdin'"); fi
        cd "$dir/hook.git"
        export GIT_DIR=.
        for b in "$bin" ${baseline:+"$baseline"}; do
            who="this build"; [ "$b" = "$bin" ] || who="baseline"
            verdict="$("$b/guard-hook" --config "$dir/guard.toml" pre-receive < "$dir/stdin" 2>&1 | grep 'git-guard: [A-Z]' | head -1 || true)"
            case "$verdict" in
                *"git-guard: PASSED"*) ;;
                *) echo "bench: $b/guard-hook did not pass the $name-$kind history alone: ${verdict:-no verdict}" >&2; exit 1 ;;
            esac
            echo "   hook alone, $who: ${verdict#*git-guard: }"
        done
        read -r -a ms < <(medians "$runs" "${cmds[@]}")
        [ "${#ms[@]}" -eq "${#cmds[@]}" ] || exit 1 # a hook failed (told above)
        declare -A hook_ms=() hook_mb=()
        for i in "${!labels[@]}"; do
            hook_ms[${labels[$i]}]="${ms[$i]}"
            hook_mb[${labels[$i]}]="$(peak_mb "${cmds[$i]}")"
        done
        unset GIT_DIR
        cd "$root"
        report "hook alone: floor (rev-list | diff-tree --numstat)" "${hook_ms[floor]}" "peak ${hook_mb[floor]} MB"
        if [ "$have_secrets" = 1 ]; then
            report "hook alone: git-secrets" "${hook_ms[secrets]}" "peak ${hook_mb[secrets]} MB"
        fi
        extra=""
        [ "$have_secrets" = 1 ] && extra="; / git-secrets $(ratio "${hook_ms[guard]}" "${hook_ms[secrets]}")"
        report "hook alone: git-guard pre-receive" "${hook_ms[guard]}" \
            "peak ${hook_mb[guard]} MB; / floor $(ratio "${hook_ms[guard]}" "${hook_ms[floor]}")$extra"
        if [ -n "$baseline" ]; then
            report "hook alone: baseline git-guard pre-receive" "${hook_ms[baseline]}" \
                "peak ${hook_mb[baseline]} MB; / floor $(ratio "${hook_ms[baseline]}" "${hook_ms[floor]}"); this build / baseline $(ratio "${hook_ms[guard]}" "${hook_ms[baseline]}")"
        fi
        echo "   for profiling: cd $dir/hook.git && GIT_DIR=. guard-hook --config ../guard.toml pre-receive < ../stdin"
    done
done
echo
echo "bench: $(( $(date +%s) - t_start )) s"
