#!/bin/sh
# Starts the grpc-cpp target in the foreground on 127.0.0.1:$1. Further
# arguments (--test-only, --max-concurrent-streams N) are passed through.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--test-only] [--max-concurrent-streams N]" >&2
    exit 2
fi
exec "$here/build/grpc-cpp-server" "$@"
