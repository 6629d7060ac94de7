#!/bin/sh
# Starts the grpcio (sync) client adapter in the foreground: the
# client-under-test protocol on stdin/stdout, logs on stderr. Arguments
# (--defect NAME) are passed through.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONPATH="$here/../python/gen:$here/../python"
export PYTHONUNBUFFERED=1
exec "$here/../../python/.venv/bin/python" "$here/adapter.py" "$@"
