#!/bin/sh
# Starts grpc-go's official interop server in the foreground on port $1,
# plaintext, with its own flags. It listens on every address (":PORT"), so
# 127.0.0.1:PORT too; it has no fixture flags (it is run unmodified).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 1 ]; then
    echo "usage: $0 PORT" >&2
    exit 2
fi
exec "$here/build/interop-server" --port="$1" --use_tls=false
