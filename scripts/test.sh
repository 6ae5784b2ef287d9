#!/usr/bin/env bash
# Runs every test: unit tests, the store conformance suite and the black-box
# HTTP and CLI tests, each store suite on SQLite and on PostgreSQL; then
# schemathesis against a live server (scripts/schemathesis.sh) and Razorpay's
# Python client against another (scripts/razorpay-client.sh), unless
# arguments were given (they go to cargo test, e.g. a test name filter).
# PostgreSQL: CONTACTD_TEST_POSTGRES (default postgres://root@127.0.0.1:5432/test).
# Each test uses a fresh schema and drops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

url=${CONTACTD_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
hostport=$(echo "$url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
host=${hostport%:*}
port=${hostport##*:}
[ "$port" = "$hostport" ] && port=5432

reachable() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if ! reachable && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL at $host:$port is not answering; trying to start the local cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do reachable && break; sleep 1; done
fi
if ! reachable; then
  echo "FAIL: PostgreSQL at $host:$port is unreachable. The store and HTTP suites run on it;" >&2
  echo "      start it or point CONTACTD_TEST_POSTGRES at one (trust auth, a database you may create schemas in)." >&2
  exit 1
fi

export CONTACTD_TEST_POSTGRES="$url"
cargo test --locked "$@"
if [ $# -eq 0 ]; then
  scripts/schemathesis.sh
  scripts/razorpay-client.sh
fi
