#!/bin/sh
# Starts the grpc-js target in the foreground on 127.0.0.1:$1.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 1 ]; then
    echo "usage: $0 PORT" >&2
    exit 2
fi
exec node "$here/server.js" "$1"
