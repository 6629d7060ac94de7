#!/bin/sh
# Starts the grpc-go target in the foreground on 127.0.0.1:$1.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 1 ]; then
    echo "usage: $0 PORT" >&2
    exit 2
fi
exec "$here/build/grpc-go-server" "$1"
