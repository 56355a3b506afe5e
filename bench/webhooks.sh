#!/usr/bin/env bash
# `make bench` (webhooks part): release build on SQLite; a local receiver and the load
# run inside examples/webhook_bench.rs, optbox runs as its own process. Prints a table
# (absolute figures and ratios to /healthz from the same client) and writes
# target/bench/webhooks.json. BENCH_EVENTS, BENCH_PROBES, BENCH_LOAD_RPS, BENCH_PORT adjust it.
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
cargo build --release --features ssr --bin optbox --example webhook_bench
dir=target/bench-webhooks
rm -rf "$dir" && mkdir -p "$dir" target/bench
export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
export OPTBOX_TOKEN_KEYS="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
export OPTBOX_LOG=warn
export OPTBOX_SMTP_LISTEN=127.0.0.1:0
# The load and the probes come from one address: the per-IP limit would measure itself.
export OPTBOX_RECIPIENT_RATE_PER_IP=0
BENCH_JSON="target/bench/webhooks.json" ./target/release/examples/webhook_bench ./target/release/optbox
