#!/usr/bin/env bash
# Installs the grpc-go client adapter: grpc-go v1.85.0 from the Go module
# proxy (pinned by adapter/go.mod and adapter/go.sum), code generated from
# proto/ (TestService, ProbeService and conformance/v1/client.proto) by
# Debian's protoc with protoc-gen-go and protoc-gen-go-grpc from the module
# proxy, and the adapter binary, all under targets/clients/grpc-go/build/
# (git-ignored). The steps are targets/go/install-lib.sh's, as for the
# server targets. Idempotent: skips what is done.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="$here/build"
# shellcheck source=../../go/install-lib.sh
. "$root/targets/go/install-lib.sh"

bin="$build/grpc-go-client"
gen="$build/gen"
tools="$build/tools"
# The client protocol and ClientObserver, besides the server targets' protos.
go_extra_protos=(conformance/v1/client.proto)

go_need_go grpc-go-client
go_need_protoc grpc-go-client
go_env "$build"
go_plugins grpc-go-client "$tools" "$gen" \
    google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
go_generate grpc-go-client "$root" "$tools" "$gen" \
    grpc_testing/test_grpc.pb.go grpc_testing/messages.pb.go \
    conformance_v1/probe_grpc.pb.go conformance_v1/client_grpc.pb.go \
    conformance_v1/client.pb.go -- \
    --go_out="$gen" --go_opt=module=grpcconformance \
    --go-grpc_out="$gen" --go-grpc_opt=module=grpcconformance
go_build grpc-go-client "$here/adapter" "$bin" "$gen"
echo "grpc-go-client install: ready ($("$here/version.sh"))" >&2
