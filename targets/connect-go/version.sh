#!/bin/sh
# Prints the connect-go version the server binary is built against, as Go's
# module resolution recorded it in the binary, e.g. "connect-go 1.21.1".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/build/connect-go-server"
if [ ! -x "$bin" ]; then
    echo "connect-go: not installed" >&2
    exit 1
fi
v="$(go version -m "$bin" | awk '$1 == "dep" && $2 == "connectrpc.com/connect" { print $3 }')"
if [ -z "$v" ]; then
    echo "connect-go: no connectrpc.com/connect in $bin's build info" >&2
    exit 1
fi
echo "connect-go ${v#v} ($(go version -m "$bin" | head -1 | awk '{print $2}') net/http)"
