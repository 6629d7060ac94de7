#!/bin/sh
# Prints the connect-go version the server binary is built against, as Go's
# module resolution recorded it in the binary, e.g. "connect-go 1.21.1".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/build/connect-go-server"
v="$("$here/../go/dep-version.sh" connect-go "$bin" connectrpc.com/connect)"
echo "connect-go $v ($(go version -m "$bin" | head -1 | awk '{print $2}') net/http)"
