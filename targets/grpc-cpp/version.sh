#!/bin/sh
# Prints the libgrpc++ version the server runs, as grpc::Version() reports it,
# e.g. "grpc++ 1.51.1".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/build/grpc-cpp-server" ]; then
    echo "grpc-cpp: not installed" >&2
    exit 1
fi
exec "$here/build/grpc-cpp-server" --version
