#!/usr/bin/env bash
# Make sure the real PostgreSQL and Redis the tests need are up on this machine; start them if not.
set -euo pipefail

wait_until() {  # wait_until <what> <command...>: poll a readiness command for up to 30 s
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "$what: ready"; return 0; fi
    sleep 0.5
  done
  echo "$what: did not become ready" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "postgresql: starting"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
wait_until postgresql pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "redis: starting"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_until redis redis-cli -h 127.0.0.1 -p 6379 ping
