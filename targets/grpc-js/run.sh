#!/bin/sh
# Starts the grpc-js target in the foreground on 127.0.0.1:$1. Further
# arguments select a fixture variant (server.js lists them: --defect
# global-lock|blocking-wait|busy-wait|read-all-first, --test-only,
# --max-concurrent-streams N); they are passed through unchanged.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--defect NAME] [--test-only] [--max-concurrent-streams N]" >&2
    exit 2
fi
exec node "$here/server.js" "$@"
