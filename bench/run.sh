#!/usr/bin/env bash
# `make bench`: release build on SQLite with seeded contacts; load from wrk, a separate
# process; prints a table (absolute figures and ratios to /healthz, this machine's
# ceiling) and writes target/bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTACTS=${BENCH_CONTACTS:-20000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
PORT=${BENCH_PORT:-3200}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
command -v wrk >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; }
export PATH="$PWD/end2end/node_modules/.bin:$PATH"

cargo leptos build --release
cargo build --release --features ssr --example bench_seed

dir=target/bench
rm -rf "$dir" && mkdir -p "$dir"
export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
export OPTBOX_LISTEN="127.0.0.1:$PORT"
export OPTBOX_TOKEN_KEYS="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
export OPTBOX_LOG=warn
export OPTBOX_SMTP_LISTEN=127.0.0.1:0
./target/release/examples/bench_seed "$CONTACTS" "$dir/paths.txt"

./target/release/optbox serve > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
idle_rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)

base="http://127.0.0.1:$PORT"
run() { local name=$1; shift; echo "== $name" >&2; wrk --latency "$@" > "$dir/$name.txt"; }
run healthz -t2 -c"$CONNECTIONS" -d"$DURATION" "$base/healthz"
PATHS_FILE="$dir/paths.txt" MODE=get run page -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
PATHS_FILE="$dir/paths.txt" MODE=get run page_serial -t1 -c1 -d5s -s bench/wrk.lua "$base"
PATHS_FILE="$dir/paths.txt" MODE=post run one_click -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/wrk.lua "$base"
peak_rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)

page_bytes=$(curl -s "$base$(head -n1 "$dir/paths.txt")" | wc -c)
wasm=target/site/pkg/optbox.wasm
wasm_bytes=$(stat -c %s "$wasm")
wasm_gz=$(gzip -9 -c "$wasm" | wc -c)

python3 bench/report.py "$dir" "$idle_rss" "$peak_rss" "$page_bytes" "$wasm_bytes" "$wasm_gz" "$CONTACTS" "$CONNECTIONS" "$DURATION"
