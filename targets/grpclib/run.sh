#!/bin/sh
# Starts the grpclib target in the foreground on 127.0.0.1:$1 (logs to stderr).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 1 ]; then
    echo "usage: $0 PORT" >&2
    exit 2
fi
export PYTHONPATH="$here/gen"
export PYTHONUNBUFFERED=1
exec "$here/../python/.venv/bin/python" "$here/server.py" "$1"
