#!/bin/sh
# Prints the grpc-go version the health server is built against (Go's build
# info in the binary), e.g. "grpc-go 1.85.0".
set -eu
bin="$(cd "$(dirname "$0")" && pwd)/build/grpc-go-health-server"
[ -x "$bin" ] || { echo "grpc-go-health: not installed (run its install.sh)" >&2; exit 1; }
v="$(go version -m "$bin" | awk '$1 == "dep" && $2 == "google.golang.org/grpc" { print $3 }')"
echo "grpc-go ${v#v}"
