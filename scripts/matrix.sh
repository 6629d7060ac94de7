#!/usr/bin/env bash
# Regenerates reports/: installs every target of targets/targets.toml (from
# the package registries only), runs the full catalog against each with its
# expectations file, and writes one report per target plus the site
# (index.html, matrix.json, badges/; the matrix.json it replaces becomes
# matrix.previous.json). To rebuild the site from the committed reports
# without running anything: grpc-conformance report merge reports/*/report.json --out reports
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -p grpc-conformance --bin grpc-conformance
exec target/release/grpc-conformance matrix --out reports "$@"
