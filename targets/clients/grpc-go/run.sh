#!/bin/sh
# Starts the grpc-go client adapter in the foreground: the client-under-test
# protocol on stdin/stdout, logs on stderr. Arguments (--defect NAME) are
# passed through.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/build/grpc-go-client" "$@"
