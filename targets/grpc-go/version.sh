#!/bin/sh
# Prints the grpc-go version the target is built against, e.g. "grpc-go 1.33.3".
set -eu
f=/usr/share/gocode/src/google.golang.org/grpc/version.go
v="$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$f" 2>/dev/null || true)"
if [ -z "$v" ]; then
    echo "grpc-go: not installed" >&2
    exit 1
fi
echo "grpc-go $v"
