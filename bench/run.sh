#!/usr/bin/env bash
# The HTTP part of `make bench`: release build; on SQLite and on PostgreSQL, BENCH_CONTACTS
# (default 1,000,000) contacts bulk-loaded on list `bench`, optbox started, and wrk (a
# separate process) driving, for BENCH_DURATION each with BENCH_CONNECTIONS connections:
#   /healthz (the server's ceiling), the preference page (and at one connection, which
#   bounds server time), the manage page of a mailed link (`/m/{token}`), the hosted
#   subscription form (`/s/bench`), the RFC 8058 one-click POST (durable), SES GetContact and
#   UpdateContact with SigV4 (pre-signed requests replayed), SES SendEmail with
#   ListManagementOptions (pipeline + durable enqueue into the dev outbox), ListContacts pages of
#   1,000 with a topic filter walked one at a time. Idle and peak RSS of the server.
# Then checks in each database that no contact got two subscription events, and writes
# target/bench/http.json; bench/summary.py prints the table.
# Knobs for iterating: BENCH_BACKENDS=sqlite, BENCH_CONTACTS=100000, BENCH_BUILD=0 (use
# the release binaries already built), BENCH_WORKLOADS=recipient (only /healthz, the
# recipient pages and the one-click POST).
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
N=${BENCH_CONTACTS:-1000000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT:-3201}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
WORKLOADS=${BENCH_WORKLOADS:-all}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
command -v wrk >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; }
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
export BENCH_SES_CONTACTS=$N

if [ "${BENCH_BUILD:-1}" != 0 ]; then
  cargo leptos build --release
  cargo build --release --features ssr --example ses_bench
fi
dir=target/bench/http
rm -rf "$dir" && mkdir -p "$dir"
base="http://127.0.0.1:$PORT"
export OPTBOX_LISTEN="127.0.0.1:$PORT" OPTBOX_LOG=warn OPTBOX_SMTP_LISTEN=127.0.0.1:0
export OPTBOX_TOKEN_KEYS="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
# The benchmark client is one address: the per-IP limit would measure itself.
export OPTBOX_RECIPIENT_RATE_PER_IP=0
wrk_run() { local name=$1; shift; echo "== $backend $name" >&2; wrk --latency "$@" > "$dir/$backend-$name.txt"; }

for backend in $BACKENDS; do
  if [ "$backend" = sqlite ]; then
    export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench WITH (FORCE)" -c "CREATE DATABASE optbox_bench" >/dev/null
    export OPTBOX_DATABASE_URL="${PG_ADMIN%/*}/optbox_bench"
  fi
  ./target/release/optbox migrate >/dev/null
  ./target/release/examples/ses_bench seed "$N" "$dir/key-$backend.json"
  ./target/release/examples/ses_bench links "${BENCH_LINKS:-400000}" "$dir/paths-$backend.txt"
  ./target/release/examples/ses_bench manage-links 5000 "$dir/manage-$backend.txt"
  echo /s/bench > "$dir/subscribe.txt"
  ./target/release/optbox serve > "$dir/server-$backend.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
  sleep 1
  awk '/VmRSS/{print $2}' /proc/$pid/status > "$dir/$backend-idle_rss_kb"
  wrk_run healthz -t2 -c"$CONNECTIONS" -d"$DURATION" "$base/healthz"
  PATHS_FILE="$dir/paths-$backend.txt" MODE=get wrk_run page -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
  PATHS_FILE="$dir/paths-$backend.txt" MODE=get wrk_run page_serial -t1 -c1 -d5s -s bench/wrk.lua "$base"
  PATHS_FILE="$dir/manage-$backend.txt" MODE=get wrk_run manage -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
  PATHS_FILE="$dir/subscribe.txt" MODE=get wrk_run subscribe -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
  # The pages' weights, before the one-click run changes them.
  curl -s "$base$(head -n1 "$dir/paths-$backend.txt")" | wc -c > "$dir/$backend-page_bytes"
  curl -s "$base$(head -n1 "$dir/manage-$backend.txt")" | wc -c > "$dir/$backend-manage_bytes"
  curl -s "$base/s/bench" | wc -c > "$dir/$backend-subscribe_bytes"
  PATHS_FILE="$dir/paths-$backend.txt" MODE=post wrk_run one_click -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
  # SQLite answers from the one-click log and applies behind it: how long until the
  # tables hold every acknowledged opt-out (a list-wide read waits for exactly that).
  ./target/release/examples/ses_bench drain "$base" "$dir/key-$backend.json" > "$dir/$backend-one_click_drain_s"
  if [ "$WORKLOADS" = all ]; then
  ./target/release/examples/ses_bench presign "$base" "$dir/key-$backend.json" 20000 "$dir/get.tsv" "$dir/put.tsv" "$dir/send.tsv"
  REQS_FILE="$dir/get.tsv" wrk_run get_contact -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/ses.lua "$base"
  REQS_FILE="$dir/put.tsv" wrk_run update_contact -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/ses.lua "$base"
  # SendEmail: list-management pipeline + durable enqueue (no relay_url: the dev outbox).
  REQS_FILE="$dir/send.tsv" wrk_run send_email -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/ses.lua "$base"
  ./target/release/examples/ses_bench pages "$base" "$dir/key-$backend.json" 50 > "$dir/$backend-pages.json"
  fi
  awk '/VmHWM/{print $2}' /proc/$pid/status > "$dir/$backend-peak_rss_kb"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # Idempotence: one subscription event per link (contact and topic) of the one-click run.
  w="kind = 'subscription' AND source = 'UnsubscribeHeader'"
  q="SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT contact_key, topic_name FROM events WHERE $w) d) FROM events WHERE $w"
  if [ "$backend" = sqlite ]; then
    python3 -c "import sqlite3,sys; print(*sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())" "$dir/bench.db" "$q" > "$dir/$backend-events"
  else
    psql "$OPTBOX_DATABASE_URL" -Atc "$q" | tr '|' ' ' > "$dir/$backend-events"
  fi
done
if [ "$BACKENDS" = "sqlite postgres" ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench WITH (FORCE)" >/dev/null
fi
wasm=target/site/pkg/optbox.wasm
if [ -f "$wasm" ]; then wasm_sizes="$(stat -c %s "$wasm") $(gzip -9 -c "$wasm" | wc -c)"; else wasm_sizes="0 0"; fi
python3 bench/http_report.py "$dir" "$N" "$CONNECTIONS" "$DURATION" $wasm_sizes $BACKENDS
