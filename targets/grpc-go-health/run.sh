#!/bin/sh
# Starts the grpc-go-health target in the foreground on 127.0.0.1:$1; a
# further --max-concurrent-streams N is passed through.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--max-concurrent-streams N]" >&2
    exit 2
fi
exec "$here/build/grpc-go-health-server" "$@"
