#!/usr/bin/env bash
# Make sure Debian's LuaJIT (the Lua of Envoy's Lua filter) is installed for the export test
# (tests/proxy/test_export_envoy.py runs the exported bucket function against proxy/sticky.py).
set -euo pipefail

if command -v luajit >/dev/null 2>&1; then
  echo "luajit: $(luajit -v)"
  exit 0
fi
echo "luajit: installing the Debian package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq luajit >/dev/null
luajit -v
