#!/usr/bin/env bash
# Installs the connect-node target: @connectrpc/connect-node, @connectrpc/connect
# and @bufbuild/protobuf from the npm registry, exactly as pinned by
# package-lock.json (npm ci), into targets/connect-node/node_modules/
# (git-ignored), and code generated from proto/ by Debian's protoc with
# @bufbuild/protoc-gen-es (a pinned dev dependency) into
# targets/connect-node/gen/ (git-ignored). Idempotent.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "connect-node install: node/npm missing, installing Debian's nodejs and npm" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends nodejs npm >&2
fi
if ! command -v protoc >/dev/null 2>&1; then
    echo "connect-node install: protoc missing, installing Debian's protobuf-compiler" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends protobuf-compiler >&2
fi

stamp="node_modules/.conformance-install-stamp"
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/@connectrpc/connect-node ]; then
    :
else
    echo "connect-node install: npm ci" >&2
    npm ci --no-audit --no-fund >&2
    echo "$want" > "$stamp"
fi

protos=(grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto conformance/v1/probe.proto)
gstamp="$(cd "$root/proto" && cat "${protos[@]}" | sha256sum | cut -d' ' -f1) $want"
if [ ! -f gen/.stamp ] || [ "$(cat gen/.stamp)" != "$gstamp" ]; then
    echo "connect-node install: generating code from proto/" >&2
    rm -rf gen && mkdir -p gen
    protoc -I "$root/proto" --plugin=protoc-gen-es="$here/node_modules/.bin/protoc-gen-es" \
        --es_out=gen --es_opt=target=js,import_extension=js "${protos[@]}"
    echo "$gstamp" > gen/.stamp
fi
echo "connect-node install: ready ($("$here/version.sh"))" >&2
