#!/bin/sh
# Prints the grpclib version the target runs, e.g. "grpclib 0.4.9".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
py="$here/../python/.venv/bin/python"
if [ ! -x "$py" ]; then
    echo "grpclib: not installed (run targets/grpclib/install.sh)" >&2
    exit 1
fi
v="$("$py" -c 'from importlib.metadata import version; print(version("grpclib"))')"
echo "grpclib $v"
