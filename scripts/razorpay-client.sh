#!/usr/bin/env bash
# Drives Razorpay's own Python client (PyPI razorpay, pinned with its
# dependencies in .ci/razorpay-requirements.txt, in a throwaway venv) against
# a live server, with only its base URL and keys changed:
# tests/dialects/razorpay_client.py (create, fetch, list, patch, and the
# client's BadRequestError on the seed's error cases). Fails on any failure.
# The server runs on a fresh SQLite file with the demo biller; the test
# authenticates with that demo key's id and secret (HTTP Basic), whose single
# biller grant (DEMO) is what /v1/contacts resolves to.
#
#   scripts/razorpay-client.sh            (builds target/debug/contactd)
#   CONTACTD_BIN=path/to/contactd scripts/razorpay-client.sh
#   RZP_TIMEOUT=300 scripts/razorpay-client.sh   (seconds the test may take; default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The live server (scripts/live-server.sh): builds or takes CONTACTD_BIN,
# makes the temp dir and removes it (and stops the server) on exit.
. "$root/scripts/live-server.sh"
live_server_setup razorpay
work=$live_work

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/.ci/razorpay-requirements.txt"

live_server_start

# The client sets no timeout of its own: a request the server never answers
# would hang the test, so the whole run is bounded.
limit=()
command -v timeout >/dev/null 2>&1 && limit=(timeout "${RZP_TIMEOUT:-300}")

# Run from an empty directory with a clean environment for Python and
# requests: no proxy, CA bundle or PYTHON* setting of the caller applies.
mkdir "$work/run"
status=0
(
  cd "$work/run"
  env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
    -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1 \
    BASE_URL="$live_base" KEY_ID="$live_key_id" KEY_SECRET="$live_secret" \
    ${limit[@]+"${limit[@]}"} "$work/venv/bin/python" "$root/tests/dialects/razorpay_client.py"
) || status=$?
if [ "$status" -ne 0 ]; then
  [ "$status" -eq 124 ] && echo "FAIL: the razorpay client test took over ${RZP_TIMEOUT:-300} s" >&2
  if [ -s "$work/serve.err" ]; then
    echo "--- contactd serve stderr:" >&2
    tail -n 50 "$work/serve.err" >&2
  fi
  exit "$status"
fi
