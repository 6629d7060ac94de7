#!/usr/bin/env bash
# Installs the grpcio-aio target: the shared virtualenv targets/python/.venv with
# the pinned packages of targets/python/requirements.txt (PyPI, the same grpcio
# as the sync target), and code generated from proto/ into
# targets/grpcio-aio/gen/ (git-ignored). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../python/setup.sh" grpcio-aio
echo "grpcio-aio install: ready ($("$here/version.sh"))" >&2
