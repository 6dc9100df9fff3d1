#!/usr/bin/env bash
# Stamps the git commit into mcpx for a release build, and puts the placeholder back afterwards.
#
#   scripts/stamp-version.sh            write Sources/MCPXCore/Support/GitCommit.swift with
#                                       `let gitCommit = "<short sha>[-dirty]"` (keeps a copy first)
#   scripts/stamp-version.sh --restore  put the copy (the committed placeholder) back
#
# `make release` and `make install` run both around `swift build -c release`, so the working tree
# is left as it was. Outside a git checkout the commit is "unknown".
set -euo pipefail
cd "$(dirname "$0")/.."

FILE=Sources/MCPXCore/Support/GitCommit.swift
BACKUP=.build/stamp-version/GitCommit.swift.orig

case "${1:-}" in
--restore)
    if [[ -f "$BACKUP" ]]; then
        # cp keeps FILE's inode and leaves the contents exactly as committed.
        cp "$BACKUP" "$FILE"
        rm -f "$BACKUP"
    fi
    exit 0
    ;;
"") ;;
*)
    echo "usage: $0 [--restore]" >&2
    exit 2
    ;;
esac

commit=unknown
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && sha=$(git rev-parse --short HEAD 2>/dev/null); then
    commit=$sha
    # Uncommitted changes to tracked files (other than this stamp) make the build "dirty".
    if ! git diff --quiet HEAD -- . ":(exclude)$FILE" 2>/dev/null; then
        commit="$commit-dirty"
    fi
fi

mkdir -p "$(dirname "$BACKUP")"
# Keep the pristine file only once: a second stamp without a restore must not save a stamped copy.
if [[ ! -f "$BACKUP" ]]; then
    cp "$FILE" "$BACKUP"
fi
printf '%s\n%s\n' \
    "// Overwritten by scripts/stamp-version.sh; keep this line's shape." \
    "let gitCommit = \"$commit\"" >"$FILE"
echo "stamped mcpx with commit $commit" >&2
