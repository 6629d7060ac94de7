#!/bin/sh
# Prints the grpcio version the client adapters (grpcio and grpcio-aio) run,
# e.g. "grpcio 1.85.1": the venv is the server targets' (targets/python/.venv),
# so the grpcio server target's version.sh tells.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../grpcio/version.sh"
