#!/bin/sh
# Starts the grpcio-health target in the foreground on 127.0.0.1:$1 (logs to
# stderr); further arguments (--max-concurrent-streams N, --pool N, --no-health) are passed
# through.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--max-concurrent-streams N] [--pool N]" >&2
    exit 2
fi
export PYTHONUNBUFFERED=1
exec "$here/.venv/bin/python" "$here/server.py" "$@"
