#!/usr/bin/env bash
# Installs what the site's browser test needs: Debian's chromium (and its
# driver) from Debian's packages, and playwright-core from npm into
# site-test/node_modules (it drives the system chromium; it downloads no
# browser of its own).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
(cd site-test && npm ci --no-audit --no-fund)
chromium --version
