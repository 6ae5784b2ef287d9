# A live contactd for the black-box scripts (schemathesis.sh,
# razorpay-client.sh). Source it, then call:
#
#   live_server_setup NAME   the binary ($CONTACTD_BIN, else cargo build and
#                            target/debug/contactd) in $live_bin, a fresh temp
#                            dir contactd-NAME-XXXXXX in $live_work, and an
#                            EXIT trap (live_server_cleanup) that stops the
#                            server and removes the temp dir
#   live_server_start [ARGS] `contactd serve` on a free 127.0.0.1 port and a
#                            fresh SQLite file in $live_work (ARGS go to
#                            serve); waits until it answers /healthz, then sets
#                            $live_port, $live_base (http://127.0.0.1:PORT),
#                            $live_key_id and $live_secret (the demo key it
#                            printed, granted biller DEMO) and $live_pid.
#                            Its stdout and stderr: $live_work/serve.out, .err
#
# Sourcing only defines functions. Safe under `set -euo pipefail`.

live_server_setup() {
  local name=${1:?live_server_setup: a name for the temp dir}
  live_pid=
  live_work=
  live_bin=${CONTACTD_BIN:-}
  if [ -z "$live_bin" ]; then
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    (cd "$root" && cargo build --locked --quiet)
    live_bin=$root/target/debug/contactd
  fi
  live_work=$(mktemp -d -t "contactd-$name-XXXXXX")
  trap live_server_cleanup EXIT
}

live_server_cleanup() {
  # wait answers the server's exit status; errexit must not end the trap
  # there (the temp dir would stay and the script's own status be lost).
  if [ -n "${live_pid:-}" ]; then
    { kill "$live_pid" 2>/dev/null && wait "$live_pid" 2>/dev/null; } || true
  fi
  if [ -n "${live_work:-}" ]; then
    rm -rf "$live_work"
  fi
  return 0
}

live_server_start() {
  : "${live_work:?live_server_start: call live_server_setup first}"
  live_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  live_base=http://127.0.0.1:$live_port
  env -u CONTACTD_DATABASE -u CONTACTD_BIN CONTACTD_LOG=warn "$live_bin" serve --listen "127.0.0.1:$live_port" \
    --database "sqlite://$live_work/contactd.db" --workers 1 "$@" \
    >"$live_work/serve.out" 2>"$live_work/serve.err" &
  live_pid=$!
  local _
  for _ in $(seq 1 100); do
    grep -q "key secret:" "$live_work/serve.out" 2>/dev/null && curl -sf "$live_base/healthz" >/dev/null && break
    kill -0 "$live_pid" 2>/dev/null || break
    sleep 0.1
  done
  live_key_id=$(sed -nE 's/^ *key id: +(key_[A-Za-z0-9]+)$/\1/p' "$live_work/serve.out")
  live_secret=$(sed -nE 's/^ *key secret: +(sk_[A-Za-z0-9_-]+)$/\1/p' "$live_work/serve.out")
  if [ -z "$live_key_id" ] || [ -z "$live_secret" ] || ! kill -0 "$live_pid" 2>/dev/null; then
    echo "FAIL: contactd serve did not start (or printed no demo key id and secret)" >&2
    cat "$live_work/serve.out" "$live_work/serve.err" >&2
    return 1
  fi
}
