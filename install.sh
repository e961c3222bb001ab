#!/bin/sh
# Build git-guard's release binaries, install them, and optionally install hooks into
# repositories. Re-running it upgrades the binaries and the shims it installed before.
#
#   ./install.sh [--prefix DIR] [--mandir DIR] [--client|--server]
#                [--layout plain|gitlab|gitea] [--host HOST] [--policy FILE] [REPO...]
#
# Binaries go to DIR (default: ~/.local/bin), man pages to --mandir (default: DIR/../share/man,
# which man finds from PATH, so `git guard --help` shows them). Each REPO gets `git guard
# install` with the options given (client hooks for a working clone, server hooks for a bare
# repository, unless --client or --server says otherwise).
set -eu

prefix="${HOME}/.local/bin"
mandir=""
install_args=""
repos=""

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit "$1"
}

quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage 2; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --mandir) [ $# -ge 2 ] || usage 2; mandir="$2"; shift 2 ;;
        --mandir=*) mandir="${1#--mandir=}"; shift ;;
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

echo "building release binaries (a first build takes a few minutes)..."
(cd "$here" && cargo build --release --locked --bins)

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

# The man pages, where man looks for the binaries' directory: `git guard --help` is
# `man git-guard`.
mkdir -p "$prefix"
[ -n "$mandir" ] || mandir="$(cd "$prefix/.." && pwd)/share/man"
mkdir -p "$mandir/man1"
"$prefix/git-guard" help-man "$mandir/man1" >/dev/null
echo "installed the man pages in $mandir/man1 (git guard --help)"

case ":${PATH}:" in
    *":$prefix:"*) ;;
    *)
        echo "note: $prefix is not on PATH, so \`git guard\` cannot find git-guard yet. Add it:"
        echo "    export PATH=\"$prefix:\$PATH\""
        echo "  (put that line in ~/.profile or your shell's rc file to keep it)"
        ;;
esac

if [ -n "$repos" ]; then
    eval "set -- $repos"
    for repo in "$@"; do
        eval "\"\$prefix/git-guard\" install $install_args \"\$repo\""
    done
fi
