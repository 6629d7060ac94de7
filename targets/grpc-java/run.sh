#!/bin/sh
# Starts the grpc-java target in the foreground on 127.0.0.1:$1. Further
# arguments (--test-only, --max-concurrent-streams N) are passed through.
# Readiness is the harness connecting: nothing here waits.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--test-only] [--max-concurrent-streams N]" >&2
    exit 2
fi
exec java -cp "$here/build/maven/classes:$(cat "$here/build/classpath.txt")" conformance.GrpcJavaServer "$@"
