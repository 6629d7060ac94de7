#!/usr/bin/env bash
# Installs the grpc-js client adapter: the grpc-js server target's
# node_modules (targets/grpc-js: @grpc/grpc-js and @grpc/proto-loader from the
# npm registry as its package-lock.json pins them, npm ci), which the adapter
# loads its modules from, so both run the same grpc-js. The .proto files are
# loaded at start-up: there is no generated code. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../../grpc-js/install.sh"
echo "grpc-js client install: ready ($("$here/version.sh"))" >&2
