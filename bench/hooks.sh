#!/usr/bin/env bash
# Hook speed beside the peers, each in one run beside git doing the least equivalent work.
#
#   bench/hooks.sh [--runs N] [--commits "1000 10000"] [--baseline DIR]
#
# 1. pre-commit on a 10,000-file repository with a 5-file staged change, all rules on (the
#    built-in policy), against `git diff --cached --numstat`, the pre-commit framework with
#    pre-commit-hooks' no-commit-to-branch, check-added-large-files, detect-private-key and
#    detect-aws-credentials (repo: local, language: system: no network), lefthook running the
#    same four, and git-secrets' pre-commit hook (AWS patterns registered).
# 2. pre-receive over pushes of 1,000 and 10,000 new commits: a real `git push` to a bare
#    repository with no hook, with a pre-receive running `git rev-list | git diff-tree -r
#    --numstat --stdin`, with git-secrets scanning the pushed patches, and with git-guard's
#    pre-receive; and the hooks alone, run as git runs them, with their peak memory.
#
# --baseline DIR: a directory holding the git-guard and guard-hook of another build (say, the
# commit before a change); each git-guard figure is then taken beside the baseline's in the same
# rounds, run for run, so that the shared machine's load falls on both alike.
#
# Every timed command runs once per round, the contenders of a measurement one after another
# in each round, so a burst of load falls on all of them.
#
# Peers that are not installed are reported as such, never estimated. Install them with:
#   pip install pre-commit pre-commit-hooks lefthook ; apt-get install git-secrets
# Prints one line per measurement: median milliseconds over the runs (and peak RSS in KiB).
set -euo pipefail

runs=7
commit_counts="1000 10000"
baseline=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --commits) commit_counts="$2"; shift 2 ;;
        --baseline) baseline="$(cd "$2" && pwd)"; shift 2 ;;
        *) echo "usage: bench/hooks.sh [--runs N] [--commits \"1000 10000\"] [--baseline DIR]" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && cargo build --release --bins --quiet)
bin="${CARGO_TARGET_DIR:-$root/target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for v in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=b@example.com
export PRE_COMMIT_HOME="$work/pre-commit-home"
export PATH="$bin:$PATH"

# median_ms N cmd...: run cmd N times (output discarded, status ignored), print the median.
median_ms() {
    local n="$1"; shift
    local times=()
    for _ in $(seq "$n"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f", m/1000}'
}

# medians N CMD...: run each shell command once per round for N rounds, in turn; print the
# median milliseconds of each, space-separated, in the order given.
medians() {
    local n="$1"; shift
    local k=$# i r t0 t1
    local -a cmds=("$@")
    : > "$work/times"
    for r in $(seq "$n"); do
        for i in $(seq 0 $((k - 1))); do
            t0=$(date +%s%N)
            sh -c "${cmds[$i]}" >/dev/null 2>&1 || true
            t1=$(date +%s%N)
            echo "$i $(( (t1 - t0) / 1000 ))" >> "$work/times"
        done
    done
    for i in $(seq 0 $((k - 1))); do
        awk -v i="$i" '$1 == i {print $2}' "$work/times" | sort -n |
            awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f ", m/1000}'
    done
    echo
}

# peak_kb cmd...: peak resident memory of one run (the largest process), in KiB.
peak_kb() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$work/mem" "$@" >/dev/null 2>&1 || true
        tail -1 "$work/mem"
    else
        echo "n/a"
    fi
}

report() { printf '%-58s %10s ms\n' "$1" "$2"; }

echo "== pre-commit: 10,000 files, 5 staged =="
repo="$work/precommit"
mkdir -p "$repo"
git -C "$repo" init -q -b main
python3 - "$repo" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/src/m{d:02}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/src/m{d:02}/f{f:02}.py", "w") as fh:
            fh.write("".join(f"def f{i}():\n    return {d * f + i}\n" for i in range(10)))
PY
git -C "$repo" add -A
git -C "$repo" commit -q -m seed
git -C "$repo" switch -q -c agent/bench
for i in 1 2 3 4 5; do
    printf 'def added_%s():\n    return %s\n' "$i" "$i" >> "$repo/src/m0$i/f0$i.py"
done
git -C "$repo" add -A

cd "$repo"
if [ -n "$baseline" ]; then
    read -r git_ms guard_ms base_ms < <(medians "$runs" "git diff --cached --numstat" \
        "'$bin/guard-hook' pre-commit" "'$baseline/guard-hook' pre-commit")
else
    read -r git_ms guard_ms < <(medians "$runs" "git diff --cached --numstat" "'$bin/guard-hook' pre-commit")
fi
report "git diff --cached --numstat" "$git_ms"
report "git-guard pre-commit (all rules)" "$guard_ms"
[ -n "$baseline" ] && report "baseline git-guard pre-commit (all rules)" "$base_ms"
echo "   git-guard exit status: $(guard-hook pre-commit >/dev/null 2>&1; echo $?) (0 passed, 1 rejected)"
echo "   peak RSS git-guard: $(peak_kb guard-hook pre-commit) KiB"

if command -v pre-commit >/dev/null && command -v detect-private-key >/dev/null; then
    cat > .pre-commit-config.yaml <<'YAML'
repos:
  - repo: local
    hooks:
      - id: no-commit-to-branch
        name: no-commit-to-branch
        entry: no-commit-to-branch --branch main
        language: system
        pass_filenames: false
        always_run: true
      - id: check-added-large-files
        name: check-added-large-files
        entry: check-added-large-files
        language: system
      - id: detect-private-key
        name: detect-private-key
        entry: detect-private-key
        language: system
      - id: detect-aws-credentials
        name: detect-aws-credentials
        entry: detect-aws-credentials --allow-missing-credentials
        language: system
YAML
    git add .pre-commit-config.yaml
    pc_ms=$(median_ms "$runs" pre-commit run)
    report "pre-commit framework (4 pre-commit-hooks)" "$pc_ms"
    git rm -q --cached .pre-commit-config.yaml && rm .pre-commit-config.yaml
else
    echo "pre-commit framework: not installed (pip install pre-commit pre-commit-hooks)"
fi

if command -v lefthook >/dev/null && command -v detect-private-key >/dev/null; then
    cat > lefthook.yml <<'YAML'
pre-commit:
  commands:
    no-commit-to-branch:
      run: no-commit-to-branch --branch main
    check-added-large-files:
      run: check-added-large-files {staged_files}
    detect-private-key:
      run: detect-private-key {staged_files}
    detect-aws-credentials:
      run: detect-aws-credentials --allow-missing-credentials {staged_files}
YAML
    lh_ms=$(median_ms "$runs" lefthook run pre-commit)
    report "lefthook (the same 4 checks)" "$lh_ms"
    rm lefthook.yml
else
    echo "lefthook: not installed (pip install lefthook, or npm lefthook)"
fi

if command -v git-secrets >/dev/null; then
    git secrets --register-aws >/dev/null
    gs_ms=$(median_ms "$runs" git secrets --pre_commit_hook --)
    report "git-secrets pre-commit hook (AWS patterns)" "$gs_ms"
else
    echo "git-secrets: not installed (apt-get install git-secrets)"
fi
cd "$root"

# A bare server at main, and a source holding N new commits on agent/bench.
make_push() {
    local n="$1" dir="$2"
    mkdir -p "$dir"
    git -C "$dir" init -q -b main src
    python3 - "$dir/src" "$n" <<'PY'
import subprocess, sys
src, n = sys.argv[1], int(sys.argv[2])
out = []
out.append("commit refs/heads/main\nmark :1\ncommitter B <b@e> 1700000000 +0000\ndata 5\nseed\n")
for d in range(20):
    body = f"x = {d:05}\n"
    out.append(f"M 100644 inline src/m{d}/base.py\ndata {len(body)}\n{body}\n")
out.append("\n")
for i in range(n):
    out.append(f"commit refs/heads/agent/bench\nmark :{i + 2}\ncommitter B <b@e> {1700000001 + i} +0000\ndata 9\nchange {i % 10}\n")
    out.append(f"from :{i + 1}\n")
    for k in range(2):
        body = "".join(f"line_{i}_{k}_{j} = {j}\n" for j in range(5))
        out.append(f"M 100644 inline src/m{(i + k) % 20}/f{i % 50}.py\ndata {len(body)}\n{body}\n")
    out.append("\n")
subprocess.run(["git", "-C", src, "fast-import", "--quiet"], input="".join(out).encode(), check=True)
PY
    git clone -q --bare --single-branch -b main "$dir/src" "$dir/base.git"
}

numstat_hook='#!/bin/sh
while read old new ref; do
  git rev-list "$new" --not --all | git diff-tree -r --numstat --stdin >/dev/null
done'
secrets_hook='#!/bin/sh
while read old new ref; do
  git rev-list "$new" --not --all | git diff-tree -p --stdin | git secrets --scan - >/dev/null || exit 1
done'

fresh_server() {
    local dir="$1" kind="$2"
    rm -rf "$dir/server.git"
    cp -r "$dir/base.git" "$dir/server.git"
    case "$kind" in
        none) ;;
        numstat) printf '%s\n' "$numstat_hook" > "$dir/server.git/hooks/pre-receive"; chmod 755 "$dir/server.git/hooks/pre-receive" ;;
        secrets) git -C "$dir/server.git" secrets --register-aws >/dev/null
                 printf '%s\n' "$secrets_hook" > "$dir/server.git/hooks/pre-receive"; chmod 755 "$dir/server.git/hooks/pre-receive" ;;
        guard) "$bin/git-guard" install --server --deadline-ms 600000 --policy "$dir/bench-policy.toml" "$dir/server.git" >/dev/null ;;
        baseline) "$baseline/git-guard" install --server --deadline-ms 600000 --policy "$dir/bench-policy.toml" "$dir/server.git" >/dev/null ;;
    esac
}

# pushes_ms DIR KIND...: push_runs rounds, each one accepted push per kind in turn; print the
# median milliseconds of each kind, space-separated.
pushes_ms() {
    local dir="$1"; shift
    local r kind t0 t1
    : > "$dir/push-times"
    for r in $(seq "$push_runs"); do
        for kind in "$@"; do
            fresh_server "$dir" "$kind"
            t0=$(date +%s%N)
            if ! git -C "$dir/src" push -q "$dir/server.git" agent/bench >"$dir/push.log" 2>&1; then
                echo "bench: the $kind push was refused; a refused push skips the ref update and post-receive, so its time would not compare:" >&2
                cat "$dir/push.log" >&2
                exit 1
            fi
            t1=$(date +%s%N)
            echo "$kind $(( (t1 - t0) / 1000 ))" >> "$dir/push-times"
        done
    done
    for kind in "$@"; do
        awk -v k="$kind" '$1 == k {print $2}' "$dir/push-times" | sort -n |
            awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f ", m/1000}'
    done
    echo
}

push_runs=$(( runs < 5 ? runs : 5 ))
for n in $commit_counts; do
    echo "== pre-receive: push of $n new commits =="
    dir="$work/push$n"
    make_push "$n" "$dir"
    # Every rule stays on; the caps and the agent's risk limit are raised so that the pushes
    # are accepted, and each push does all of its work: the ref update and post-receive too.
    printf '[caps]\nmax_files = 1000000\nmax_lines = 100000000\n[risk]\nmax_agent_risk = 5\n' > "$dir/bench-policy.toml"
    kinds=(none numstat)
    command -v git-secrets >/dev/null && kinds+=(secrets)
    kinds+=(guard)
    [ -n "$baseline" ] && kinds+=(baseline)
    read -r -a ms < <(pushes_ms "$dir" "${kinds[@]}")
    [ "${#ms[@]}" -eq "${#kinds[@]}" ] || exit 1 # a refused push (told above)
    for i in "${!kinds[@]}"; do
        case "${kinds[$i]}" in
            none) label="git push, no hook" ;;
            numstat) label="git push, pre-receive: rev-list | diff-tree --numstat" ;;
            secrets) label="git push, pre-receive: git-secrets --scan of the patches" ;;
            guard) label="git push, pre-receive: git-guard (all rules)" ;;
            baseline) label="git push, pre-receive: baseline git-guard (all rules)" ;;
        esac
        report "$label" "${ms[$i]}"
    done

    # The hooks alone, as git runs them after the objects arrived: the pushed commits are in
    # the object store but on no ref, exactly what pre-receive sees through the quarantine.
    fresh_server "$dir" none
    git -C "$dir/server.git" fetch -q "$dir/src" agent/bench:refs/bench/tip
    tip=$(git -C "$dir/server.git" rev-parse refs/bench/tip)
    git -C "$dir/server.git" update-ref -d refs/bench/tip
    zero=$(printf '%040d' 0)
    printf 'side = "server"\ndeadline_ms = 600000\npolicy = "%s"\n' "$dir/bench-policy.toml" > "$dir/guard.toml"
    line="$zero $tip refs/heads/agent/bench"
    printf '%s\n' "$line" > "$dir/stdin"
    printf '%s\n' "$numstat_hook" > "$dir/numstat.sh"
    cd "$dir/server.git"
    hook_cmds=("GIT_DIR=. sh '$dir/numstat.sh' < '$dir/stdin'"
        "GIT_DIR=. '$bin/guard-hook' --config '$dir/guard.toml' pre-receive < '$dir/stdin'")
    [ -n "$baseline" ] && hook_cmds+=("GIT_DIR=. '$baseline/guard-hook' --config '$dir/guard.toml' pre-receive < '$dir/stdin'")
    read -r -a ms < <(medians "$runs" "${hook_cmds[@]}")
    report "hook alone: rev-list | diff-tree --numstat" "${ms[0]}"
    report "hook alone: git-guard pre-receive" "${ms[1]}"
    [ -n "$baseline" ] && report "hook alone: baseline git-guard pre-receive" "${ms[2]}"
    echo "   git-guard verdict: $(GIT_DIR=. guard-hook --config "$dir/guard.toml" pre-receive < "$dir/stdin" 2>&1 | grep 'git-guard: [A-Z]' | head -1)"
    echo "   peak RSS numstat pipeline: $(peak_kb sh -c "GIT_DIR=. sh '$dir/numstat.sh' < '$dir/stdin'") KiB"
    echo "   peak RSS git-guard: $(peak_kb sh -c "GIT_DIR=. guard-hook --config '$dir/guard.toml' pre-receive < '$dir/stdin'") KiB"
    cd "$root"
done
