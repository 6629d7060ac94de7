#!/usr/bin/env bash
# Installs the grpc-js target: @grpc/grpc-js and @grpc/proto-loader from the
# npm registry, exactly as pinned by package-lock.json (npm ci), into
# targets/grpc-js/node_modules/ (git-ignored). The .proto files are loaded at
# start-up, so there is no generated code. Idempotent: skips npm ci when
# node_modules already matches the lock file.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "grpc-js install: node/npm missing, installing Debian's nodejs and npm" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends nodejs npm >&2
fi

stamp="node_modules/.conformance-install-stamp"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/@grpc/grpc-js ]; then
    :
else
    echo "grpc-js install: npm ci" >&2
    npm ci --omit=dev --no-audit --no-fund >&2
    echo "$want" > "$stamp"
fi
echo "grpc-js install: ready ($("$here/version.sh"))" >&2
