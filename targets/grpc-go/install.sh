#!/usr/bin/env bash
# Installs the grpc-go target: grpc-go v1.85.0 from the Go module proxy
# (pinned by server/go.mod and server/go.sum), code generated from proto/ by
# Debian's protoc with protoc-gen-go (google.golang.org/protobuf) and
# protoc-gen-go-grpc (google.golang.org/grpc/cmd/protoc-gen-go-grpc), both
# built from the module proxy at pinned versions, and the server binary, all
# under targets/grpc-go/build/ (git-ignored). The generated packages form a
# module of their own, build/gen (module grpcconformance), that server/go.mod
# replaces locally. The steps are targets/go/install-lib.sh's. Idempotent:
# skips what is done.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
# shellcheck source=../go/install-lib.sh
. "$root/targets/go/install-lib.sh"

bin="$build/grpc-go-server"
gen="$build/gen"
tools="$build/tools"

# 1. Go (1.24 or newer, as grpc-go 1.85 needs) and Debian's protoc.
go_need_go grpc-go
go_need_protoc grpc-go
go_env "$build"

# 2. The protoc plugins, from the module proxy.
go_plugins grpc-go "$tools" "$gen" \
    google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

# 3. Code generation into build/gen (module grpcconformance).
go_generate grpc-go "$root" "$tools" "$gen" \
    grpc_testing/test_grpc.pb.go grpc_testing/messages.pb.go \
    grpc_testing/empty.pb.go conformance_v1/probe_grpc.pb.go -- \
    --go_out="$gen" --go_opt=module=grpcconformance \
    --go-grpc_out="$gen" --go-grpc_opt=module=grpcconformance

# 4. The server binary (with the shared ProbeService state, targets/go/probestate).
go_build grpc-go "$here/server" "$bin" "$gen" "$root/targets/go/probestate"
echo "grpc-go install: ready ($("$here/version.sh"))" >&2
