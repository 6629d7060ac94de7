#!/bin/sh
# Prints the grpc-go version the server binary is built against, as Go's
# module resolution recorded it in the binary, e.g. "grpc-go 1.85.0".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
v="$("$here/../go/dep-version.sh" grpc-go "$here/build/grpc-go-server" google.golang.org/grpc)"
echo "grpc-go $v"
