#!/usr/bin/env bash
# Runs schemathesis (pinned, in a throwaway venv) with every check against a
# live server, on the OpenAPI document the server serves, unmodified. Fails
# on any failure. The server runs on a fresh SQLite file with the demo
# biller; schemathesis sends that demo key's token. Its configuration is
# .ci/schemathesis.toml alone (which says what it changes and why).
#
#   scripts/schemathesis.sh               (builds target/debug/contactd)
#   CONTACTD_BIN=path/to/contactd scripts/schemathesis.sh
#   ST_EXAMPLES=100 scripts/schemathesis.sh   (examples per operation; default 100)
#   ST_SEED=7 scripts/schemathesis.sh         (random cases from seed 7, not the fixed ones)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The live server (scripts/live-server.sh): builds or takes CONTACTD_BIN,
# makes the temp dir and removes it (and stops the server) on exit.
. "$root/scripts/live-server.sh"
live_server_setup schemathesis
work=$live_work

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/.ci/schemathesis-requirements.txt"

live_server_start
base=$live_base
key_id=$live_key_id
secret=$live_secret
token=$(curl -sf -u "$key_id:$secret" -X POST "$base/v1/auth/token" | sed -E 's/.*"token":"([^"]+)".*/\1/')
[ -n "$token" ] || { echo "FAIL: no token from the server" >&2; cat "$work/serve.err" >&2; exit 1; }

# Data for the operations on existing items: contacts, a snapshot (a
# replace that removes one), a job and its errors.
api() { curl -sf -o /dev/null -H "Authorization: Token $token" -H 'Content-Type: application/json' "$@"; }
contact() { printf '{"account_number":"%s","name":"Seed %s","fields":{"contact-id-1":"%s"}}' "$1" "$1" "$1"; }
api -X POST "$base/v1/billers/DEMO/contacts/add" -d "[$(contact 1001),$(contact 1002),$(contact 1003)]"
api -X POST "$base/v1/billers/DEMO/contacts/replace?confirm_removals=1" -d "[$(contact 1001),$(contact 1002)]"
api -X POST "$base/v1/billers/DEMO/contacts/job/add" -d '[{"account_number":"1004","name":"!"}]'

# By default the cases are deterministic (the same every run); ST_SEED=N
# draws them at random from seed N instead (deterministic mode ignores seeds).
if [ -n "${ST_SEED:-}" ]; then generation="--seed $ST_SEED"; else generation="--generation-deterministic"; fi

# An empty working directory: no schemathesis.toml, cache or example database
# of an earlier run can change this one.
mkdir "$work/run"
cd "$work/run"
env $(env | sed -n 's/^\(SCHEMATHESIS_[A-Z_]*\)=.*/-u \1/p') \
  "$work/venv/bin/st" --config-file "$root/.ci/schemathesis.toml" --no-color run "$base/openapi.json" \
  --checks all \
  -H "Authorization: Token $token" \
  $generation --workers 1 \
  --max-examples "${ST_EXAMPLES:-100}" \
  --request-timeout 20
