#!/bin/sh
# Prints the installed connect-node version, e.g.
# "@connectrpc/connect-node 2.3.0 (Node v20.20.2 http2)".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
exec node -e 'const p = JSON.parse(require("fs").readFileSync("node_modules/@connectrpc/connect-node/package.json", "utf8")); console.log("@connectrpc/connect-node " + p.version + " (Node " + process.version + " http2)")'
