#!/bin/sh
# Prints the grpc-go version the server binary is built against, as Go's
# module resolution recorded it in the binary, e.g. "grpc-go 1.85.0".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/build/grpc-go-server"
if [ ! -x "$bin" ]; then
    echo "grpc-go: not installed" >&2
    exit 1
fi
v="$(go version -m "$bin" | awk '$1 == "dep" && $2 == "google.golang.org/grpc" { print $3 }')"
if [ -z "$v" ]; then
    echo "grpc-go: no google.golang.org/grpc in $bin's build info" >&2
    exit 1
fi
echo "grpc-go ${v#v}"
