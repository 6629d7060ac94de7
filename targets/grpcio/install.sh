#!/usr/bin/env bash
# Installs the grpcio target: the shared virtualenv targets/python/.venv with the
# pinned packages of targets/python/requirements.txt (PyPI), and code generated
# from proto/ into targets/grpcio/gen/ (git-ignored). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../python/setup.sh" grpcio
echo "grpcio install: ready ($("$here/version.sh"))" >&2
