#!/usr/bin/env bash
# Installs the grpc-go target: Debian's grpc-go 1.33 (GOPATH mode, no Go
# module proxy), code generated from proto/ by Debian's protoc and
# protoc-gen-go 1.3.5 (plugins=grpc), and the server binary, all under
# targets/grpc-go/build/ (git-ignored). Idempotent: skips what is done.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
gopath="$build/gopath"
bin="$build/grpc-go-server"

# 1. Debian packages (apt-get update only when one is missing).
packages=(golang-go golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "grpc-go install: apt packages missing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends "${packages[@]}" >&2
fi

# 2. Code generation (protoc-gen-go 1.3.5 takes one Go package per run).
gen="$gopath/src/grpcconformance"
protos=("$root"/proto/grpc/testing/*.proto "$root"/proto/conformance/v1/probe.proto)
stale=0
for out in "$gen/grpc_testing/test.pb.go" "$gen/grpc_testing/messages.pb.go" \
           "$gen/grpc_testing/empty.pb.go" "$gen/conformance_v1/probe.pb.go"; do
    if [ ! -f "$out" ]; then stale=1; continue; fi
    for src in "${protos[@]}"; do
        if [ "$src" -nt "$out" ]; then stale=1; fi
    done
done
if [ "$stale" -eq 1 ]; then
    echo "grpc-go install: generating Go code from proto/" >&2
    rm -rf "$gen"
    mkdir -p "$gopath/src"
    protoc -I "$root/proto" --go_out=plugins=grpc:"$gopath/src" "$root"/proto/grpc/testing/*.proto
    protoc -I "$root/proto" --go_out=plugins=grpc:"$gopath/src" "$root/proto/conformance/v1/probe.proto"
fi

# 3. The server binary (GOPATH mode against /usr/share/gocode only).
export GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
export GOPATH="$gopath:/usr/share/gocode"
export GOCACHE="$build/gocache"
rebuild=0
if [ ! -x "$bin" ]; then
    rebuild=1
elif [ -n "$(find "$here/server" "$gen" -name '*.go' -newer "$bin" -print -quit)" ]; then
    rebuild=1
fi
if [ "$rebuild" -eq 1 ]; then
    echo "grpc-go install: building $bin" >&2
    (cd "$here/server" && go build -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
fi
echo "grpc-go install: ready ($("$here/version.sh"))" >&2
