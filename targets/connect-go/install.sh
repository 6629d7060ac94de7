#!/usr/bin/env bash
# Installs the connect-go target: connectrpc.com/connect v1.21.1 from the Go
# module proxy (pinned by server/go.mod and server/go.sum), code generated
# from proto/ by Debian's protoc with protoc-gen-go (google.golang.org/protobuf)
# and protoc-gen-connect-go (connectrpc.com/connect/cmd/protoc-gen-connect-go),
# both built from the module proxy at pinned versions, and the server binary,
# all under targets/connect-go/build/ (git-ignored). The generated packages
# form a module of their own, build/gen (module grpcconformance), that
# server/go.mod replaces locally. The steps are targets/go/install-lib.sh's. Idempotent:
# skips what is done.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
# shellcheck source=../go/install-lib.sh
. "$root/targets/go/install-lib.sh"

bin="$build/connect-go-server"
gen="$build/gen"
tools="$build/tools"

# 1. Go (1.24 or newer, for http.Protocols' unencrypted HTTP/2) and Debian's
#    protoc.
go_need_go connect-go
go_need_protoc connect-go
go_env "$build"

# 2. The protoc plugins, from the module proxy.
go_plugins connect-go "$tools" "$gen" \
    google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 \
    connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1

# 3. Code generation into build/gen (module grpcconformance).
go_generate connect-go "$root" "$tools" "$gen" \
    grpc_testing/grpc_testingconnect/test.connect.go grpc_testing/messages.pb.go \
    grpc_testing/empty.pb.go conformance_v1/conformance_v1connect/probe.connect.go -- \
    --go_out="$gen" --go_opt=module=grpcconformance \
    --connect-go_out="$gen" --connect-go_opt=module=grpcconformance

# 4. The server binary (with the shared ProbeService state, targets/go/probestate).
go_build connect-go "$here/server" "$bin" "$gen" "$root/targets/go/probestate"
echo "connect-go install: ready ($("$here/version.sh"))" >&2
