#!/usr/bin/env bash
# Installs the grpclib target: the shared virtualenv targets/python/.venv with the
# pinned packages of targets/python/requirements.txt (PyPI), and code generated
# from proto/ into targets/grpclib/gen/ (git-ignored). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../python/setup.sh" grpclib
echo "grpclib install: ready ($("$here/version.sh"))" >&2
