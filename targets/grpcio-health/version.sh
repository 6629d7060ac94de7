#!/bin/sh
# Prints the grpcio version the target runs, e.g. "grpcio 1.85.1".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
py="$here/.venv/bin/python"
if [ ! -x "$py" ]; then
    echo "grpcio-health: not installed (run targets/grpcio-health/install.sh)" >&2
    exit 1
fi
echo "grpcio $("$py" -c 'import grpc; print(grpc.__version__)')"
