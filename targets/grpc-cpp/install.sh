#!/usr/bin/env bash
# Installs the grpc-cpp target: Debian's libgrpc++ 1.51 with protoc and
# grpc_cpp_plugin (apt-get only when a package is missing), then cmake builds
# the server into targets/grpc-cpp/build/ (git-ignored). Idempotent: cmake
# rebuilds only what changed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$here/build"

packages=(libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc pkg-config cmake g++ make)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "grpc-cpp install: apt packages missing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" -j 2 >&2
echo "grpc-cpp install: ready ($("$here/version.sh"))" >&2
