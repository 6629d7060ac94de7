#!/usr/bin/env bash
# Installs the grpcio-health target: a virtualenv targets/grpcio-health/.venv
# (git-ignored) with the pinned requirements.txt from PyPI (grpcio and
# grpcio-health-checking). Skipped when the venv already holds exactly these
# pins. Idempotent; logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/.installed-requirements.txt"; then
    echo "grpcio-health install: ready ($("$here/version.sh"))" >&2
    exit 0
fi
if ! command -v "$python" >/dev/null 2>&1; then
    echo "grpcio-health install: $python not found (CPython 3.11 expected)" >&2
    exit 1
fi
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements" >&2
cp "$requirements" "$venv/.installed-requirements.txt"
echo "grpcio-health install: ready ($("$here/version.sh"))" >&2
