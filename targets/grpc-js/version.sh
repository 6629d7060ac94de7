#!/bin/sh
# Prints the installed grpc-js version, e.g. "@grpc/grpc-js 1.14.7".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
exec node -e 'console.log("@grpc/grpc-js " + require("@grpc/grpc-js/package.json").version)'
