#!/bin/sh
# Starts the grpc-go target in the foreground on 127.0.0.1:$1. Further
# arguments select a fixture variant (server/main.go lists them: --defect
# global-lock|read-all-first, --test-only, --max-concurrent-streams N); they
# are passed through unchanged.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--defect NAME] [--test-only] [--max-concurrent-streams N]" >&2
    exit 2
fi
exec "$here/build/grpc-go-server" "$@"
