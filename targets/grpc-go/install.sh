#!/usr/bin/env bash
# Installs the grpc-go target: grpc-go v1.85.0 from the Go module proxy
# (pinned by server/go.mod and server/go.sum), code generated from proto/ by
# Debian's protoc with protoc-gen-go (google.golang.org/protobuf) and
# protoc-gen-go-grpc (google.golang.org/grpc/cmd/protoc-gen-go-grpc), both
# built from the module proxy at pinned versions, and the server binary, all
# under targets/grpc-go/build/ (git-ignored). The generated packages form a
# module of their own, build/gen (module grpcconformance), that server/go.mod
# replaces locally. Idempotent: skips what is done.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
bin="$build/grpc-go-server"
gen="$build/gen"
tools="$build/tools"
protoc_gen_go_version="v1.36.12"
protoc_gen_go_grpc_version="v1.6.2"

# 1. Go (1.24 or newer, as grpc-go 1.85 needs; the machine's own, Debian's
#    golang-go is older) and Debian's protoc (installed only when missing).
if ! command -v go >/dev/null 2>&1; then
    echo "grpc-go install: go (1.24+) is missing" >&2
    exit 1
fi
if ! command -v protoc >/dev/null 2>&1; then
    echo "grpc-go install: protoc missing, installing Debian's protobuf-compiler" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends protobuf-compiler >&2
fi

export GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOCACHE="$build/gocache"
mkdir -p "$build" "$tools"

# 2. The protoc plugins, from the module proxy.
stamp="$tools/.versions"
want="protoc-gen-go $protoc_gen_go_version protoc-gen-go-grpc $protoc_gen_go_grpc_version"
if [ ! -x "$tools/protoc-gen-go" ] || [ ! -x "$tools/protoc-gen-go-grpc" ] \
        || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "grpc-go install: building $want" >&2
    GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$protoc_gen_go_version"
    GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$protoc_gen_go_grpc_version"
    echo "$want" > "$stamp"
    rm -rf "$gen"
fi

# 3. Code generation into build/gen (module grpcconformance).
protos=("$root"/proto/grpc/testing/*.proto "$root/proto/conformance/v1/probe.proto")
stale=0
for out in "$gen/grpc_testing/test_grpc.pb.go" "$gen/grpc_testing/messages.pb.go" \
           "$gen/grpc_testing/empty.pb.go" "$gen/conformance_v1/probe_grpc.pb.go" "$gen/go.mod"; do
    if [ ! -f "$out" ]; then stale=1; continue; fi
    for src in "${protos[@]}"; do
        if [ "$src" -nt "$out" ]; then stale=1; fi
    done
done
if [ "$stale" -eq 1 ]; then
    echo "grpc-go install: generating Go code from proto/" >&2
    rm -rf "$gen"
    mkdir -p "$gen"
    rel=()
    for p in "${protos[@]}"; do rel+=("${p#"$root/proto/"}"); done
    PATH="$tools:$PATH" protoc -I "$root/proto" \
        --go_out="$gen" --go_opt=module=grpcconformance \
        --go-grpc_out="$gen" --go-grpc_opt=module=grpcconformance \
        "${rel[@]}"
    # The generated module's requirements are the server's (go.mod there).
    printf 'module grpcconformance\n\ngo 1.24\n' > "$gen/go.mod"
fi

# 4. The server binary.
rebuild=0
if [ ! -x "$bin" ]; then
    rebuild=1
elif [ -n "$(find "$here/server" "$gen" \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -newer "$bin" -print -quit)" ]; then
    rebuild=1
fi
if [ "$rebuild" -eq 1 ]; then
    echo "grpc-go install: building $bin" >&2
    (cd "$here/server" && GOFLAGS=-mod=readonly go build -trimpath -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
fi
echo "grpc-go install: ready ($("$here/version.sh"))" >&2
