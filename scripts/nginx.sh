#!/usr/bin/env bash
# Make sure Debian's nginx is installed for the export agreement test
# (tests/proxy/test_export_nginx.py starts it from `strangler routes export nginx`).
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  echo "nginx: $( (nginx -v || /usr/sbin/nginx -v) 2>&1)"
  exit 0
fi
echo "nginx: installing the Debian package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nginx-light >/dev/null
/usr/sbin/nginx -v
