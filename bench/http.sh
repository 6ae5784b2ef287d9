#!/usr/bin/env bash
# HTTP load benchmark of the per-request path: a release server over a biller
# (DEMO) of N contacts (default 100,000) on SQLite and on PostgreSQL; wrk on
# loopback beside it, C connections (default 64), D each (default 30s):
#   - GET /healthz: the framework's ceiling, in the same run
#   - GET of random contacts by id (authenticated, read, encoded)
#   - PATCH of random contacts, one field each (a merge patch, a new version)
#   - Razorpay's PATCH /v1/contacts/:id of random contacts, HTTP Basic each time
# Prints requests/s, p50 and p99 per run, GET as a share of /healthz and
# Razorpay's PATCH as a share of the native PATCH.
# Usage: bench/http.sh [N]   (STORES="sqlite" or "postgres" to run one;
#        PostgreSQL from CONTACTD_TEST_POSTGRES; D=10s for a quick look;
#        BIN=path to measure another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
C=${C:-64}
D=${D:-30s}
PG=${CONTACTD_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# BIN=path runs another build (an earlier commit's, say) with no build here.
if [ -z "${BIN:-}" ]; then cargo build --release --locked -q --bin contactd; fi
bin=${BIN:-target/release/contactd}

awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { a = sprintf("%09d", i);
  printf "{\"account_number\":\"%s\",\"name\":\"Customer %d\",\"email\":\"c%d@example.com\",\"type\":\"customer\",\"phones\":[{\"kind\":\"mobile\",\"number\":\"04%08d\",\"country\":\"AU\"}],\"fields\":{\"contact-id-1\":\"%s\",\"contact-id-2\":\"Mr C %d\",\"address-1\":\"%d Example Street\",\"postal-code\":\"3000\"}}\n", a, i, i, i % 100000000, a, i, i } }' > "$work/add.ndjson"

# wrk's summary -> "rps p50_ms p99_ms"
figures() {
  awk '/Requests\/sec/ { rps = $2 }
       function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
       /Non-2xx/ { bad = $NF }
       END { printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (bad == "" ? 0 : bad) }' "$1"
}

load() { # label script path -> figures
  local label=$1 script=$2 path=$3
  wrk -t2 -c"$C" -d"$D" --latency ${script:+-s "$script"} "$base$path" > "$work/wrk_$label" 2>&1
  figures "$work/wrk_$label"
}

bench() { # label database-url
  local label=$1 url=$2 pid key secret id status
  CONTACTD_LOG=info "$bin" serve --listen 127.0.0.1:0 --database "$url" > "$work/out" 2> "$work/err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q 'addr=' "$work/err" && break; sleep 0.1; done
  base="http://$(grep -o 'addr=[0-9.:]*' "$work/err" | head -n1 | cut -d= -f2)"
  key=$(grep 'key id:' "$work/out" | awk '{print $3}'); secret=$(grep 'key secret:' "$work/out" | awk '{print $3}')
  export BASIC=$(printf '%s:%s' "$key" "$secret" | base64 -w0)
  export TOKEN=$(curl -sf -u "$key:$secret" -X POST "$base/v1/auth/token" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  id=$(curl -sf -X POST "$base/v1/billers/DEMO/contacts/job/add" -H "Authorization: Token $TOKEN" \
        -H 'Content-Type: application/x-ndjson' --data-binary @"$work/add.ndjson" | sed -E 's/.*"job_id":"([^"]+)".*/\1/')
  while :; do
    status=$(curl -sf "$base/v1/billers/DEMO/jobs/$id" -H "Authorization: Token $TOKEN")
    case "$status" in *'"status":"completed"'*) break ;; *'"status":"failed"'*) echo "load failed: $status" >&2; exit 1 ;; esac
    sleep 0.5
  done
  # Every contact's id, walked page by page.
  : > "$work/ids"; local cursor=""
  while :; do
    curl -sf "$base/v1/billers/DEMO/contacts?limit=1000${cursor:+&cursor=$cursor}" -H "Authorization: Token $TOKEN" > "$work/page"
    grep -o '"id":"cont_[0-9A-Za-z]*"' "$work/page" | cut -d'"' -f4 >> "$work/ids"
    cursor=$(grep -o '"next_cursor":"[^"]*"' "$work/page" | cut -d'"' -f4 || true)
    [ -n "$cursor" ] || break
  done
  export IDS="$work/ids"
  read -r h_rps h_p50 h_p99 h_bad <<< "$(load healthz "" /healthz)"
  read -r g_rps g_p50 g_p99 g_bad <<< "$(load get bench/wrk/get.lua /)"
  read -r p_rps p_p50 p_p99 p_bad <<< "$(load patch bench/wrk/patch.lua /)"
  read -r r_rps r_p50 r_p99 r_bad <<< "$(load razorpay bench/wrk/razorpay_patch.lua /)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-9s %d contacts, %d connections, %s each (ids %d)\n' "$label" "$N" "$C" "$D" "$(wc -l < "$work/ids")"
  printf '  GET /healthz   %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s\n' "$h_rps" "$h_p50" "$h_p99" "$h_bad"
  printf '  GET contact    %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s   %.2f of /healthz\n' \
    "$g_rps" "$g_p50" "$g_p99" "$g_bad" "$(echo "$g_rps / $h_rps" | bc -l)"
  printf '  PATCH contact  %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s   %.2f of /healthz\n' \
    "$p_rps" "$p_p50" "$p_p99" "$p_bad" "$(echo "$p_rps / $h_rps" | bc -l)"
  printf '  PATCH Razorpay %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s   %.2f of native PATCH\n' \
    "$r_rps" "$r_p50" "$r_p99" "$r_bad" "$(echo "$r_rps / $p_rps" | bc -l)"
}

STORES=${STORES:-sqlite postgres}
case " $STORES " in *" sqlite "*) bench sqlite "sqlite://$work/bench.db" ;; esac
case " $STORES " in *" postgres "*) ;; *) exit 0 ;; esac
schema="contactd_http_$$"
psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
trap 'PGOPTIONS="-c client_min_messages=warning" psql "$PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null; rm -rf "$work"' EXIT
bench postgres "$PG?options=-csearch_path%3D$schema${PG_OPTIONS:-}"
