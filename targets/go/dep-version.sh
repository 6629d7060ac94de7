#!/bin/sh
# Shared by the Go targets' version.sh: prints the version (without the
# leading "v") of MODULE as Go's module resolution recorded it in BIN's build
# info (as a dependency, or as the main module when BIN is MODULE's own
# command), e.g. "1.85.0"; NAME is for the messages.
# Usage: targets/go/dep-version.sh NAME BIN MODULE
set -eu
name="$1" bin="$2" module="$3"
if [ ! -x "$bin" ]; then
    echo "$name: not installed" >&2
    exit 1
fi
info="$(go version -m "$bin")"
v="$(printf '%s\n' "$info" | awk -v m="$module" '$1 == "dep" && $2 == m { print $3 }')"
[ -n "$v" ] || v="$(printf '%s\n' "$info" | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }')"
if [ -z "$v" ]; then
    echo "$name: no $module in $bin's build info" >&2
    exit 1
fi
echo "${v#v}"
