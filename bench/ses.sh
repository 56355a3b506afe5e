#!/usr/bin/env bash
# SES API figures (part of `make bench`, or alone: `make bench-ses`): on SQLite and on
# PostgreSQL, BENCH_SES_CONTACTS (default 1,000,000) contacts bulk-loaded, then
#   - GetContact and UpdateContact with SigV4, wrk replaying pre-signed requests;
#   - ListContacts pages of 1,000 with a topic filter, one at a time;
#   - /healthz as the ceiling of this machine.
# Prints a table and writes target/bench/ses.json.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_SES_CONTACTS:-1000000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT:-3201}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
command -v wrk >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; }
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
export BENCH_SES_CONTACTS=$N

cargo build --release --features ssr --bin optbox --example ses_bench
dir=target/bench/ses
rm -rf "$dir" && mkdir -p "$dir"
base="http://127.0.0.1:$PORT"
export OPTBOX_LISTEN="127.0.0.1:$PORT" OPTBOX_LOG=warn OPTBOX_SMTP_LISTEN=127.0.0.1:0

for backend in sqlite postgres; do
  if [ "$backend" = sqlite ]; then
    export OPTBOX_DATABASE_URL="sqlite://$dir/ses.db"
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench WITH (FORCE)" -c "CREATE DATABASE optbox_bench" >/dev/null
    export OPTBOX_DATABASE_URL="${PG_ADMIN%/*}/optbox_bench"
  fi
  ./target/release/optbox migrate >/dev/null
  ./target/release/examples/ses_bench seed "$N" "$dir/key-$backend.json"
  ./target/release/optbox serve > "$dir/server-$backend.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
  wrk --latency -t2 -c"$CONNECTIONS" -d"$DURATION" "$base/healthz" > "$dir/$backend-healthz.txt"
  ./target/release/examples/ses_bench presign "$base" "$dir/key-$backend.json" 20000 "$dir/get.tsv" "$dir/put.tsv"
  REQS_FILE="$dir/get.tsv" wrk --latency -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/ses.lua "$base" > "$dir/$backend-get_contact.txt"
  REQS_FILE="$dir/put.tsv" wrk --latency -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/ses.lua "$base" > "$dir/$backend-update_contact.txt"
  ./target/release/examples/ses_bench pages "$base" "$dir/key-$backend.json" 50 > "$dir/$backend-pages.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
python3 bench/ses_report.py "$dir" "$N" "$CONNECTIONS" "$DURATION"
