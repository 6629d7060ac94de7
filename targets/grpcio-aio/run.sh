#!/bin/sh
# Starts the grpcio-aio target in the foreground on 127.0.0.1:$1 (logs to
# stderr). Further arguments select a fixture variant (server.py's docstring
# lists them: --defect global-lock|blocking-wait|busy-wait|read-all-first,
# --test-only, --max-concurrent-streams N); they are passed through unchanged.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: $0 PORT [--defect NAME] [--test-only] [--max-concurrent-streams N]" >&2
    exit 2
fi
export PYTHONPATH="$here/gen:$here/../python"
export PYTHONUNBUFFERED=1
exec "$here/../python/.venv/bin/python" "$here/server.py" "$@"
