#!/bin/sh
# Prints the grpc-go version the interop server was built from, as Go's
# module resolution recorded it in the binary, e.g. "grpc-go 1.85.0 (interop/server)".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
v="$("$here/../go/dep-version.sh" grpc-go-interop "$here/build/interop-server" google.golang.org/grpc)"
echo "grpc-go $v (interop/server)"
