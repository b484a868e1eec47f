#!/usr/bin/env bash
# Make sure a Chromium the dashboard test (tests/proxy/test_dashboard.py) can drive is installed:
# Debian's package, not a browser build downloaded by Playwright.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(chromium --version 2>/dev/null || echo present)"
  exit 0
fi
echo "chromium: installing the Debian package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
chromium --version
