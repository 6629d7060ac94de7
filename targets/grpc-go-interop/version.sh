#!/bin/sh
# Prints the grpc-go version the interop server was built from, as Go's
# module resolution recorded it in the binary, e.g. "grpc-go v1.85.0".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/build/interop-server"
if [ ! -x "$bin" ]; then
    echo "grpc-go-interop: not installed" >&2
    exit 1
fi
v="$(go version -m "$bin" | awk '$1 == "dep" && $2 == "google.golang.org/grpc" { print $3 }')"
[ -n "$v" ] || v="$(go version -m "$bin" | awk '$1 == "mod" && $2 == "google.golang.org/grpc" { print $3 }')"
if [ -z "$v" ]; then
    echo "grpc-go-interop: no google.golang.org/grpc in $bin's build info" >&2
    exit 1
fi
echo "grpc-go ${v#v} (interop/server)"
