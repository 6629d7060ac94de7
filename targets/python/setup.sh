#!/usr/bin/env bash
# Shared install logic of the Python targets (grpcio, grpcio-aio, grpclib).
#
# Usage: targets/python/setup.sh grpcio|grpcio-aio|grpclib|clients
#
# 1. Creates the virtualenv targets/python/.venv (git-ignored) with
#    `python3 -m venv` and installs the pinned requirements.txt from PyPI.
#    Skipped when the venv already holds exactly these pins.
# 2. Generates Python code from proto/ into targets/ADAPTER/gen/ (git-ignored)
#    with grpcio-tools' bundled protoc: messages (_pb2) plus the adapter's own
#    service stubs (grpcio, grpcio-aio: _pb2_grpc via --grpc_python_out; grpclib: _grpc via
#    grpclib's plugin, --grpclib_python_out). Skipped when up to date.
#    `clients` is the grpcio client adapters' code (targets/clients/grpcio and
#    grpcio-aio share it): grpcio stubs, plus proto/conformance/v1/client.proto,
#    into targets/clients/python/gen/.
#
# Generated modules would be called `grpc.testing.*_pb2`, which collides with
# grpcio's own top-level `grpc` package. So the .proto files are copied into a
# temporary tree under another top-level name and their import lines rewritten:
#   proto/grpc/testing/X.proto      -> conformance_stubs/grpc_testing/X.proto
#   proto/conformance/v1/probe.proto -> conformance_stubs/conformance_v1/probe.proto
#   (and client.proto likewise, for `clients`)
# Only file paths (= Python module paths) change: the proto packages stay
# `grpc.testing` and `conformance.v1`, so request paths on the wire are
# unchanged (/grpc.testing.TestService/UnaryCall, /conformance.v1.ProbeService/Info).
#
# Idempotent: safe to run any number of times. Logs go to stderr.
set -euo pipefail

adapter="${1:-}"
# extra: the conformance/v1 protos besides probe.proto; out_dir: relative to targets/.
extra=()
out_dir="$adapter"
case "$adapter" in
    grpcio|grpcio-aio) stub_flag="--grpc_python_out" ;;
    grpclib) stub_flag="--grpclib_python_out" ;;
    clients) stub_flag="--grpc_python_out"; extra=(client); out_dir="clients/python" ;;
    *) echo "usage: $0 grpcio|grpcio-aio|grpclib|clients" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"
log() { echo "python targets setup ($adapter): $*" >&2; }

# --- 1. The virtualenv --------------------------------------------------------
venv_ok=0
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' 2>/dev/null \
    && cmp -s "$requirements" "$venv/.installed-requirements.txt"; then
    venv_ok=1
fi
if [ "$venv_ok" -eq 0 ]; then
    if ! command -v "$python" >/dev/null 2>&1; then
        log "$python not found (CPython 3.11 expected)"
        exit 1
    fi
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        log "creating virtualenv $venv with $("$python" --version 2>&1)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    log "installing pinned packages from $requirements"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$requirements" >&2
    cp "$requirements" "$venv/.installed-requirements.txt"
fi

# --- 2. Code generation -------------------------------------------------------
out="$root/targets/$out_dir/gen"
protos=("$root"/proto/grpc/testing/empty.proto "$root"/proto/grpc/testing/messages.proto
        "$root"/proto/grpc/testing/test.proto "$root"/proto/conformance/v1/probe.proto)
for f in ${extra[@]+"${extra[@]}"}; do protos+=("$root/proto/conformance/v1/$f.proto"); done
# The stamp covers the protos, the pins (generator versions) and this script.
stamp="$(cat "${protos[@]}" "$requirements" "$0" | sha256sum | cut -d' ' -f1)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    log "ready (generated code up to date in $out)"
    exit 0
fi

log "generating code into $out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
src="$tmp/proto"
mkdir -p "$src/conformance_stubs/grpc_testing" "$src/conformance_stubs/conformance_v1" "$tmp/gen"
for f in empty messages test; do
    sed -e 's#^import "grpc/testing/#import "conformance_stubs/grpc_testing/#' \
        "$root/proto/grpc/testing/$f.proto" > "$src/conformance_stubs/grpc_testing/$f.proto"
done
conformance_v1=(probe ${extra[@]+"${extra[@]}"})
for f in "${conformance_v1[@]}"; do
    sed -e 's#^import "grpc/testing/#import "conformance_stubs/grpc_testing/#' \
        "$root/proto/conformance/v1/$f.proto" > "$src/conformance_stubs/conformance_v1/$f.proto"
done
conformance_v1_protos=()
for f in "${conformance_v1[@]}"; do conformance_v1_protos+=("conformance_stubs/conformance_v1/$f.proto"); done

(
    cd "$src"
    "$venv/bin/python" -m grpc_tools.protoc -I . \
        --plugin=protoc-gen-grpclib_python="$venv/bin/protoc-gen-grpclib_python" \
        --python_out="$tmp/gen" "$stub_flag=$tmp/gen" \
        conformance_stubs/grpc_testing/empty.proto \
        conformance_stubs/grpc_testing/messages.proto \
        conformance_stubs/grpc_testing/test.proto \
        "${conformance_v1_protos[@]}"
)
touch "$tmp/gen/conformance_stubs/__init__.py" \
      "$tmp/gen/conformance_stubs/grpc_testing/__init__.py" \
      "$tmp/gen/conformance_stubs/conformance_v1/__init__.py"
# Check that the generated modules import and keep the wire package names.
PYTHONPATH="$tmp/gen" "$venv/bin/python" - "$adapter" <<'EOF'
import sys
from conformance_stubs.grpc_testing import test_pb2
from conformance_stubs.conformance_v1 import probe_pb2
assert test_pb2.DESCRIPTOR.services_by_name["TestService"].full_name == "grpc.testing.TestService"
assert probe_pb2.DESCRIPTOR.services_by_name["ProbeService"].full_name == "conformance.v1.ProbeService"
if sys.argv[1] in ("grpcio", "grpcio-aio", "clients"):
    from conformance_stubs.grpc_testing import test_pb2_grpc  # noqa: F401
    from conformance_stubs.conformance_v1 import probe_pb2_grpc  # noqa: F401
else:
    from conformance_stubs.grpc_testing import test_grpc  # noqa: F401
    from conformance_stubs.conformance_v1 import probe_grpc  # noqa: F401
EOF
echo "$stamp" > "$tmp/gen/.stamp"
rm -rf "$out.old"
if [ -e "$out" ]; then mv "$out" "$out.old"; fi
mv "$tmp/gen" "$out"
rm -rf "$out.old"
log "ready (generated code in $out)"
