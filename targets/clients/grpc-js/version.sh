#!/bin/sh
# Prints the grpc-js version the client adapter runs, e.g. "@grpc/grpc-js
# 1.14.7": the server target's node_modules, so its version.sh tells.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../grpc-js/version.sh"
