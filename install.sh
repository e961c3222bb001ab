#!/bin/sh
# Build git-guard's release binaries, install them, and optionally install hooks into
# repositories. Re-running it upgrades the binaries and the shims it installed before.
#
#   ./install.sh [--prefix DIR] [--client|--server] [--layout plain|gitlab|gitea]
#                [--host HOST] [--policy FILE] [REPO...]
#
# Binaries go to DIR (default: ~/.local/bin). Each REPO gets `git guard install` with the
# options given (client hooks for a working clone, server hooks for a bare repository, unless
# --client or --server says otherwise).
set -eu

prefix="${HOME}/.local/bin"
install_args=""
repos=""

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit "$1"
}

quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage 2; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --client|--server) install_args="$install_args $1"; shift ;;
        --layout|--host|--policy|--audit-log|--deadline-ms)
            [ $# -ge 2 ] || usage 2
            install_args="$install_args $1 $(quote "$2")"; shift 2 ;;
        -h|--help) usage 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; usage 2 ;;
        *) repos="$repos $(quote "$1")"; shift ;;
    esac
done

here="$(cd "$(dirname "$0")" && pwd)"
command -v cargo >/dev/null || { echo "install.sh: cargo is needed to build git-guard" >&2; exit 2; }

echo "building release binaries..."
(cd "$here" && cargo build --release --locked --bins --quiet)

mkdir -p "$prefix"
for bin in "$here"/target/release/*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    case "$(basename "$bin")" in
        *.d|*.so|*.rlib) continue ;;
    esac
    name="$(basename "$bin")"
    # Copy then rename, so that a hook running the old binary never sees half a file.
    cp "$bin" "$prefix/.$name.new"
    chmod 755 "$prefix/.$name.new"
    mv -f "$prefix/.$name.new" "$prefix/$name"
    echo "installed $prefix/$name"
done

case ":${PATH}:" in
    *":$prefix:"*) ;;
    *) echo "note: $prefix is not on PATH; add it so that \`git guard\` finds git-guard" ;;
esac

if [ -n "$repos" ]; then
    eval "set -- $repos"
    for repo in "$@"; do
        eval "\"\$prefix/git-guard\" install $install_args \"\$repo\""
    done
fi
