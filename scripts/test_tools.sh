#!/usr/bin/env bash
# Debian's packages that some tests drive, installed when missing, in one apt-get:
#   chromium     tests/proxy/test_dashboard.py (Playwright on Debian's browser, not a downloaded build)
#   nginx-light  tests/proxy/test_export_nginx.py (nginx started from `strangler routes export nginx`)
#   luajit       tests/proxy/test_export_envoy.py (the Lua of Envoy's filter: the export's bucket)
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v luajit >/dev/null 2>&1 || missing+=(luajit)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test tools: installing the Debian packages ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "chromium: $(chromium --version 2>/dev/null || echo present)"
echo "nginx: $( (nginx -v || /usr/sbin/nginx -v) 2>&1)"
echo "luajit: $(luajit -v)"
