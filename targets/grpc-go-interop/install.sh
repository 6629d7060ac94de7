#!/usr/bin/env bash
# Installs the grpc-go-interop target: grpc-go's official interop server,
# google.golang.org/grpc/interop/server at v1.85.0, built unmodified from the
# module (Go module proxy). A tiny go.mod in targets/grpc-go-interop/build/
# (git-ignored) requires the module; `go build` compiles the package from the
# module cache as published. Idempotent: skips the build when the binary
# exists and go.mod still names the pinned version.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../go/install-lib.sh
. "$here/../go/install-lib.sh"
build="$here/build"
bin="$build/interop-server"
version="v1.85.0"

if ! command -v go >/dev/null 2>&1; then
    echo "grpc-go-interop install: go missing, installing Debian's golang-go" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends golang-go >&2
fi

go_env "$build"
cd "$build"
if [ -x "$bin" ] && grep -q "google.golang.org/grpc $version" go.mod 2>/dev/null; then
    :
else
    echo "grpc-go-interop install: building google.golang.org/grpc/interop/server@$version" >&2
    rm -f go.mod go.sum
    go mod init grpcconformance/grpc-go-interop >&2 2>/dev/null
    go get "google.golang.org/grpc/interop/server@$version" >&2
    go build -trimpath -o "$bin.tmp" google.golang.org/grpc/interop/server
    mv "$bin.tmp" "$bin"
fi
echo "grpc-go-interop install: ready ($("$here/version.sh"))" >&2
