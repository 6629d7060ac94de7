#!/usr/bin/env bash
# Runs the loom models of conformance::sync (conformance/tests/loom/)
# in release, with the project's own `conformance_loom` cfg (not the global
# `loom` cfg, which would also switch tokio's internals), in a target dir of
# its own so that the different RUSTFLAGS do not rebuild the normal one.
#
# Usage: scripts/loom.sh [extra test-name filter and libtest args]
# Each model prints "model <name>: <n> interleavings (<s> s)".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$(date +%s)
status=0
RUSTFLAGS="--cfg conformance_loom" \
CARGO_TARGET_DIR=target/loom \
LOOM_MAX_PREEMPTIONS=2 \
    cargo test --release -p conformance --test loom -- --nocapture --test-threads=1 "$@" ||
    status=$?
end=$(date +%s)
echo "loom: total wall time $((end - start)) s (build included), exit status $status"
exit "$status"
