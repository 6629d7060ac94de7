#!/usr/bin/env bash
# The site's browser test: generates the site from the committed reports
# (report merge, runs no target) into target/site-test/site, then opens it
# in Debian's headless chromium with node's test runner (site-test/).
# Screenshots: target/site-test/*.png. Without chromium it says so and exits
# 0; scripts/install-chromium.sh installs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v chromium >/dev/null; then
    echo "site browser test: SKIPPED, chromium is not installed (bash scripts/install-chromium.sh installs it)"
    exit 0
fi
if [ ! -d site-test/node_modules/playwright-core ]; then
    (cd site-test && npm ci --no-audit --no-fund)
fi
out=target/site-test
rm -rf "$out/site"
cargo build --release -p grpc-conformance --bin grpc-conformance
"${CARGO_TARGET_DIR:-target}/release/grpc-conformance" report merge reports/*/report.json \
    --previous reports/matrix.previous.json --out "$out/site"
SITE_DIR="$out/site" SHOTS_DIR="$out" node --test site-test/
echo "site browser test: screenshots in $out/"
