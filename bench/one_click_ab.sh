#!/usr/bin/env bash
# Alternating A/B runs of the one-click POST on SQLite against the goal (at least 0.5 x
# /healthz with p99 under 10 ms), for comparing two release builds of optbox:
#
#   bench/one_click_ab.sh OLD_DIR NEW_DIR [PAIRS]
#
# Each *_DIR holds `optbox` and `ses_bench` (target/release/optbox and
# target/release/examples/ses_bench of that build). The first binary seeds a template
# database once (1,000,000 contacts, 600,000 links of distinct contacts, so no POST of a
# run repeats a contact whose opt-out is still pending). Every run then starts from a
# fresh copy of it: 10 s of /healthz, then 10 s of one-click POSTs, 64 connections, and
# prints one line. Two precautions keep runs independent:
# - the server is stopped with SIGKILL and waited for: after SIGTERM it spends a minute
#   applying its backlog to the tables, on a core the next run needs;
# - links come from distinct contacts (BENCH_SES_CONTACTS), else a second link of a
#   contact waits for the first one's opt-out to be applied.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?usage: bench/one_click_ab.sh OLD_DIR NEW_DIR [PAIRS]}
B=${2:?usage: bench/one_click_ab.sh OLD_DIR NEW_DIR [PAIRS]}
PAIRS=${3:-5}
PORT=${BENCH_PORT:-3202}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
dir=target/bench/one_click_ab
mkdir -p "$dir"
export OPTBOX_LOG=warn OPTBOX_LISTEN="127.0.0.1:$PORT" OPTBOX_SMTP_LISTEN=127.0.0.1:0
# The benchmark client is one address: the per-IP limit would measure itself.
export OPTBOX_RECIPIENT_RATE_PER_IP=0
if [ ! -f "$dir/tpl/paths.txt" ]; then
  rm -rf "$dir/tpl" && mkdir -p "$dir/tpl"
  echo "bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')" > "$dir/tpl/token_keys"
  OPTBOX_TOKEN_KEYS=$(cat "$dir/tpl/token_keys") OPTBOX_DATABASE_URL="sqlite://$dir/tpl/bench.db" sh -c "
    '$A/optbox' migrate >/dev/null &&
    '$A/ses_bench' seed 1000000 '$dir/tpl/key.json' &&
    BENCH_SES_CONTACTS=1000000 '$A/ses_bench' links 600000 '$dir/tpl/paths.txt'"
  python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')" "$dir/tpl/bench.db"
fi
export OPTBOX_TOKEN_KEYS
OPTBOX_TOKEN_KEYS=$(cat "$dir/tpl/token_keys")
base="http://127.0.0.1:$PORT"

run() {
  local label=$1 bin=$2 r="$dir/run"
  rm -rf "$r" && mkdir -p "$r" && cp "$dir/tpl/bench.db" "$r/"
  OPTBOX_DATABASE_URL="sqlite://$r/bench.db" "$bin/optbox" serve > "$r/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
  sleep 1
  wrk --latency -t2 -c64 -d10s "$base/healthz" > "$r/healthz.txt"
  local cpu0; cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  PATHS_FILE="$dir/tpl/paths.txt" MODE=post wrk --latency -t2 -c64 -d10s -s bench/wrk.lua "$base" > "$r/post.txt"
  local cpu1; cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local hwm; hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$label" "$r" "$((cpu1 - cpu0))" "$hwm" "$(getconf CLK_TCK)" <<'PY'
import sys
sys.path.insert(0, "bench")
from wrk_output import parse
label, r, ticks, hwm, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
h, p = parse(f"{r}/healthz.txt"), parse(f"{r}/post.txt")
ratio = p["rps"] / h["rps"]
ok = "goal met" if ratio >= 0.5 and p["p99_ms"] < 10 else "goal missed"
print(f"{label:4s} healthz {h['rps']:8.0f}/s p99 {h['p99_ms']:5.2f} ms | one-click {p['rps']:8.0f}/s = {ratio:.3f} x, "
      f"p50 {p['p50_ms']:5.2f} p99 {p['p99_ms']:6.2f} ms, {ticks / hz * 1e6 / p['requests']:4.1f} us CPU/POST, "
      f"peak {hwm // 1024} MiB, non-2xx {p['non_2xx']}, repeats {p.get('repeated_posts', 0)} | {ok}")
PY
}

for _ in $(seq "$PAIRS"); do
  run A "$A"
  run B "$B"
done
