#!/usr/bin/env bash
# Installs the grpcio client adapter: the shared virtualenv targets/python/.venv
# with the pinned packages of targets/python/requirements.txt (PyPI, the same
# grpcio as the server targets), and the code generated from proto/
# (TestService, ProbeService, conformance/v1/client.proto) into
# targets/clients/python/gen/ (git-ignored), shared by the grpcio and
# grpcio-aio client adapters. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../../python/setup.sh" clients
echo "grpcio client install: ready ($("$here/version.sh"))" >&2
