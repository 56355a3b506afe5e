#!/usr/bin/env bash
# The one-click POST under anonymous abuse (README "Hardening"): a release build on
# SQLite; 10 s of /healthz and 10 s of one-click POSTs (wrk, 16 connections, from
# 127.0.0.1) first alone, then while bench/abuse.py holds 500 concurrent wrong sign-ins
# and 300 idle HTTP and 300 idle SMTP sockets from 127.0.0.2. Prints one table row per
# phase: requests/s, p50/p99, and the server's peak RSS.
#
#   bench/abuse.sh            (builds target/release/optbox and ses_bench first)
#   BENCH_NO_BUILD=1 bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LEPTOS_OUTPUT_NAME=optbox
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  # The server alone: the one-click POST and sign-in need no pages.
  cargo build --release --features ssr --bin optbox --example ses_bench
fi
PORT=${BENCH_PORT:-3203}
SMTP_PORT=${BENCH_SMTP_PORT:-2603}
dir=target/bench/abuse
rm -rf "$dir" && mkdir -p "$dir"
export OPTBOX_LOG=warn OPTBOX_LISTEN="127.0.0.1:$PORT" OPTBOX_SMTP_LISTEN="127.0.0.1:$SMTP_PORT"
export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
export OPTBOX_TOKEN_KEYS="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
# The measuring client is one address: its own per-IP rate limit would measure itself.
export OPTBOX_RECIPIENT_RATE_PER_IP=0
./target/release/optbox migrate >/dev/null
./target/release/examples/ses_bench seed 100000 "$dir/key.json"
BENCH_SES_CONTACTS=100000 ./target/release/examples/ses_bench links 60000 "$dir/paths.txt"
echo "a long enough password" | ./target/release/optbox admin create-user --email owner@example.com --role owner --password-stdin >/dev/null
base="http://127.0.0.1:$PORT"

phase() {
  local label=$1
  wrk --latency -t1 -c16 -d10s "$base/healthz" > "$dir/$label-healthz.txt"
  PATHS_FILE="$dir/paths-$label.txt" MODE=post wrk --latency -t1 -c16 -d10s -s bench/wrk.lua "$base" > "$dir/$label-post.txt"
}

./target/release/optbox serve > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $abuser 2>/dev/null || true' EXIT
abuser=
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
# Each phase posts links the other has not used.
head -n 30000 "$dir/paths.txt" > "$dir/paths-alone.txt"
tail -n 30000 "$dir/paths.txt" > "$dir/paths-abused.txt"
phase alone
python3 bench/abuse.py --http-port "$PORT" --smtp-port "$SMTP_PORT" 2> "$dir/abuse.log" &
abuser=$!
sleep 5
phase abused
tail -n 1 "$dir/abuse.log"
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
python3 - "$dir" "$hwm" <<'PY'
import sys
sys.path.insert(0, "bench")
from wrk_output import parse
d, hwm = sys.argv[1], int(sys.argv[2])
print("| phase | /healthz req/s | one-click req/s | ratio | one-click p50 | one-click p99 | non-2xx |")
print("|---|---|---|---|---|---|---|")
for label in ["alone", "abused"]:
    h, p = parse(f"{d}/{label}-healthz.txt"), parse(f"{d}/{label}-post.txt")
    print(f"| {label} | {h['rps']:.0f} | {p['rps']:.0f} | {p['rps'] / h['rps']:.2f} | {p['p50_ms']:.2f} ms | {p['p99_ms']:.2f} ms | {p['non_2xx']} |")
print(f"server peak RSS (VmHWM): {hwm // 1024} MiB")
PY
