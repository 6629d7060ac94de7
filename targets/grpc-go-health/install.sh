#!/usr/bin/env bash
# Installs the grpc-go-health target: a health-only grpc-go v1.85.0 server
# (server/main.go: grpc.health.v1.Health and reflection, no TestService),
# modules from the Go module proxy (pinned by server/go.mod and go.sum), the
# binary under targets/grpc-go-health/build/ (git-ignored). No code
# generation: grpc-go ships the health service. Idempotent.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
# shellcheck source=../go/install-lib.sh
. "$root/targets/go/install-lib.sh"

go_need_go grpc-go-health
go_env "$build"
go_build grpc-go-health "$here/server" "$build/grpc-go-health-server"
echo "grpc-go-health install: ready ($("$here/version.sh"))" >&2
