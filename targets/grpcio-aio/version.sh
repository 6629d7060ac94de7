#!/bin/sh
# Prints the grpcio version the target runs, e.g. "grpcio 1.85.1 (grpc.aio)".
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
py="$here/../python/.venv/bin/python"
if [ ! -x "$py" ]; then
    echo "grpcio-aio: not installed (run targets/grpcio-aio/install.sh)" >&2
    exit 1
fi
v="$("$py" -c 'import grpc; print(grpc.__version__)')"
echo "grpcio $v (grpc.aio)"
