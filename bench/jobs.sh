#!/usr/bin/env bash
# Whole-system job benchmark: generates N realistic contacts (14 fields, the
# Payreq seed's fields, account numbers with leading zeroes), then on SQLite
# and on PostgreSQL measures, against a release server:
#   - job add of N new contacts, submission to `completed`
#   - job replace of N onto those N, 10% changed and 5% removed (with confirm_removals)
#   - the server's peak resident memory (VmHWM)
#   - the raw baseline: the same N rows inserted into contactd's schema by a
#     minimal program (bench/raw_load.rs), and the job add's speed as a share of it
#   - sync add of 10,000 new contacts, SYNC_RUNS times (default 30): p50 and p99 latency
# Usage: bench/jobs.sh [N]   (default 1000000; PostgreSQL from CONTACTD_TEST_POSTGRES;
#        STORES="sqlite" or "postgres" to run one; SHUFFLE=1 sends both files
#        in random order of account number, as an export from another system may be)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PG=${CONTACTD_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -q --bin contactd --example raw_load
bin=target/release/contactd
raw=target/release/examples/raw_load

# N contacts; the replace set changes every 10th name and drops every 20th.
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) {
  a = sprintf("%09d", i);
  printf "{\"account_number\":\"%s\",\"name\":\"Customer %d\",\"email\":\"c%d@example.com\",\"reference_id\":\"REF-%d\",\"type\":\"customer\",\"fields\":{\"contact-id-1\":\"%s\",\"contact-id-2\":\"Mr C %d\",\"contact-id-3\":\"GA%d\",\"address-1\":\"%d Example Street\",\"municipality\":\"Melbourne\",\"province\":\"VIC\",\"country\":\"Australia\",\"postal-code\":\"3000\"}}\n", a, i, i, i, a, i, i, i } }' > "$work/add.ndjson"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { if (i % 20 == 19) continue;
  a = sprintf("%09d", i); name = (i % 10 == 3) ? sprintf("Renamed %d", i) : sprintf("Customer %d", i);
  printf "{\"account_number\":\"%s\",\"name\":\"%s\",\"email\":\"c%d@example.com\",\"reference_id\":\"REF-%d\",\"type\":\"customer\",\"fields\":{\"contact-id-1\":\"%s\",\"contact-id-2\":\"Mr C %d\",\"contact-id-3\":\"GA%d\",\"address-1\":\"%d Example Street\",\"municipality\":\"Melbourne\",\"province\":\"VIC\",\"country\":\"Australia\",\"postal-code\":\"3000\"}}\n", a, name, i, i, a, i, i, i } }' > "$work/replace.ndjson"
removed=$(( N / 20 ))
if [ -n "${SHUFFLE:-}" ]; then
  for f in add replace; do shuf "$work/$f.ndjson" > "$work/$f.tmp" && mv "$work/$f.tmp" "$work/$f.ndjson"; done
fi
# The input files are 0.7 GB at 1M: let their writeback finish before anything is timed.
sync

now() { date +%s.%N; }

run_job() { # base token kind query file -> seconds
  local base=$1 token=$2 kind=$3 query=$4 file=$5 t0 id status
  sync # the previous step's writeback is not this job's time
  t0=$(now)
  id=$(curl -sf -X POST "$base/v1/billers/DEMO/contacts/job/$kind$query" -H "Authorization: Token $token" \
        -H 'Content-Type: application/x-ndjson' --data-binary @"$file" | sed -E 's/.*"job_id":"([^"]+)".*/\1/')
  echo "$(now) - $t0" | bc > "$work/upload_$kind"
  while :; do
    status=$(curl -sf "$base/v1/billers/DEMO/jobs/$id" -H "Authorization: Token $token")
    case "$status" in *'"status":"completed"'*) break ;; *'"status":"failed"'*|*'"status":"cancelled"'*) echo "job failed: $status" >&2; exit 1 ;; esac
    sleep 0.2
  done
  echo "$(now) - $t0" | bc
}

bench() { # label database-url raw-baseline-database-url
  local label=$1 url=$2 raw_url=$3 pid base key secret token add rep rss base_s
  CONTACTD_LOG=info,contactd::store=debug "$bin" serve --listen 127.0.0.1:0 --database "$url" > "$work/out" 2> "$work/err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q 'addr=' "$work/err" && break; sleep 0.1; done
  base="http://$(grep -o 'addr=[0-9.:]*' "$work/err" | head -n1 | cut -d= -f2)"
  key=$(grep 'key id:' "$work/out" | awk '{print $3}'); secret=$(grep 'key secret:' "$work/out" | awk '{print $3}')
  token=$(curl -sf -u "$key:$secret" -X POST "$base/v1/auth/token" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  add=$(run_job "$base" "$token" add "" "$work/add.ndjson")
  rep=$(run_job "$base" "$token" replace "?confirm_removals=$removed" "$work/replace.ndjson")
  rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  # Sync add of 10,000 new contacts, SYNC_RUNS times: latency per request.
  for r in $(seq 1 "$SYNC_RUNS"); do
    awk -v r="$r" 'BEGIN { printf "["; for (i = 0; i < 10000; i++) { a = sprintf("8%02d%07d", r, i);
      printf "%s{\"account_number\":\"%s\",\"name\":\"Sync %d\",\"email\":\"s%d@example.com\",\"fields\":{\"contact-id-1\":\"%s\",\"contact-id-2\":\"Mr S %d\",\"postal-code\":\"3000\"}}", (i ? "," : ""), a, i, i, a, i }
      print "]" }' > "$work/sync.json"
    curl -sf -o /dev/null -w '%{time_total}\n' -X POST "$base/v1/billers/DEMO/contacts/add" \
      -H "Authorization: Token $token" -H 'Content-Type: application/json' --data-binary @"$work/sync.json"
  done | sort -n > "$work/sync_times"
  p50=$(awk -v n="$SYNC_RUNS" 'NR == int((n + 1) / 2) { print $1 * 1000 }' "$work/sync_times")
  p99=$(awk -v n="$SYNC_RUNS" 'NR == int(n * 0.99 + 0.999) { print $1 * 1000 }' "$work/sync_times")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # Where the job time went: the worker logs validation and merge times.
  echo "  upload (to the 202): add $(cat "$work/upload_add") s, replace $(cat "$work/upload_replace") s"
  # and each merge's steps (ms since the merge started).
  grep -E 'job (validated|completed)|merge: ' "$work/err" | sed -E 's/\x1b\[[0-9;]*m//g; s/^.*(job (validated|completed)|merge: )/  \1/' \
    | awk '/^  merge: / { m = m " " substr($0, 10); next } { if (m != "") print "  merge:" m; m = ""; print } END { if (m != "") print "  merge:" m }' \
    | head -n 6
  sync
  base_s=$("$raw" "$raw_url" "$work/add.ndjson")
  printf '%-10s add %d: %6.1f s (%7.0f/s)   raw baseline: %6.1f s (%7.0f/s), add at %.2f of it\n' \
    "$label" "$N" "$add" "$(echo "$N / $add" | bc -l)" "$base_s" "$(echo "$N / $base_s" | bc -l)" "$(echo "$base_s / $add" | bc -l)"
  printf '%-10s replace %d onto %d: %6.1f s (%7.0f/s)   peak RSS %d MiB   sync add 10k x %d: p50 %.0f ms, p99 %.0f ms\n' \
    "$label" "$(( N - removed ))" "$N" "$rep" "$(echo "$N / $rep" | bc -l)" "$rss" "$SYNC_RUNS" "$p50" "$p99"
}
SYNC_RUNS=${SYNC_RUNS:-30}

STORES=${STORES:-sqlite postgres}
case " $STORES " in *" sqlite "*) bench sqlite "sqlite://$work/bench.db" "sqlite://$work/raw.db" ;; esac
case " $STORES " in *" postgres "*) ;; *) exit 0 ;; esac
schema="contactd_bench_$$"
psql "$PG" -qc "CREATE SCHEMA $schema; CREATE SCHEMA ${schema}_raw" >/dev/null
bench postgres "$PG?options=-csearch_path%3D$schema" "$PG?options=-csearch_path%3D${schema}_raw"
PGOPTIONS="-c client_min_messages=warning" psql "$PG" -qc "DROP SCHEMA $schema CASCADE; DROP SCHEMA ${schema}_raw CASCADE" >/dev/null
