#!/usr/bin/env bash
# `make bench-inbound`: unsubscribe mails per second through the inbound listener, each
# 250 durable. examples/inbound_bench.rs sends BENCH_INBOUND_N list-managed messages
# (default 5000) into the outbox, then BENCH_INBOUND_CLIENTS (default 32) concurrent SMTP
# clients deliver one unsubscribe mail to each message's mailto address, and it checks
# that every recipient is opted out. SQLite by default; BENCH_BACKEND=postgres.
# BENCH_PROFILE=debug uses the debug build (to check the harness, not for figures).
set -euo pipefail
cd "$(dirname "$0")/.."
export LEPTOS_OUTPUT_NAME=optbox
N=${BENCH_INBOUND_N:-5000}
C=${BENCH_INBOUND_CLIENTS:-32}
BACKEND=${BENCH_BACKEND:-sqlite}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PROFILE=${BENCH_PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --features ssr --example inbound_bench
else
  cargo build --features ssr --example inbound_bench
fi
dir=target/bench-inbound
rm -rf "$dir" && mkdir -p "$dir"
if [ "$BACKEND" = postgres ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench_inbound WITH (FORCE)" -c "CREATE DATABASE optbox_bench_inbound" >/dev/null
  url="${PG_ADMIN%/*}/optbox_bench_inbound"
else
  url="sqlite://$dir/bench.db"
fi
OPTBOX_LOG=warn "target/$PROFILE/examples/inbound_bench" "$url" "$N" "$C"
