#!/usr/bin/env bash
# `make bench-smtp`: end-to-end SMTP throughput. A release `optbox serve` on SQLite (or
# PostgreSQL with BENCH_BACKEND=postgres) relays to a real SMTP server (aiosmtpd, from the
# compat venv); examples/smtp_bench.rs submits BENCH_SMTP_N messages (default 5000) with
# BENCH_SMTP_CLIENTS concurrent clients (default 16) and waits until the sink has them.
# BENCH_PROFILE=debug uses the debug build (to check the harness, not for figures).
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
N=${BENCH_SMTP_N:-5000}
C=${BENCH_SMTP_CLIENTS:-16}
BACKEND=${BENCH_BACKEND:-sqlite}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
make -s compat
PROFILE=${BENCH_PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --features ssr --bin optbox --example smtp_bench
else
  cargo build --features ssr --bin optbox --example smtp_bench
fi
bin=target/$PROFILE
dir=target/bench-smtp
rm -rf "$dir" && mkdir -p "$dir/sink"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK_PORT=$(port); SMTP_PORT=$(port); HTTP_PORT=$(port)
target/compat-venv/bin/python tests/compat/smtp_sink.py "$dir/sink" "$SINK_PORT" > "$dir/sink.log" 2>&1 &
sink=$!
if [ "$BACKEND" = postgres ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench_smtp WITH (FORCE)" -c "CREATE DATABASE optbox_bench_smtp" >/dev/null
  export OPTBOX_DATABASE_URL="${PG_ADMIN%/*}/optbox_bench_smtp"
else
  export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
fi
export OPTBOX_LISTEN="127.0.0.1:$HTTP_PORT" OPTBOX_SMTP_LISTEN="127.0.0.1:$SMTP_PORT"
export OPTBOX_SMTP_REQUIRE_AUTH=false OPTBOX_RELAY_URL="smtp://127.0.0.1:$SINK_PORT"
export OPTBOX_RELAY_CONCURRENCY=${BENCH_RELAY_CONCURRENCY:-16} OPTBOX_RELAY_POLL_MS=10 OPTBOX_LOG=warn
"$bin/optbox" serve > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid $sink 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT) 2>/dev/null && break; sleep 0.1; done
echo "SMTP in -> optbox ($BACKEND, $PROFILE build) -> SMTP out: $N messages, $C clients"
"$bin/examples/smtp_bench" "127.0.0.1:$SMTP_PORT" "$dir/sink" "$N" "$C" | tee "$dir/results-$BACKEND.json"
# For bench/summary.py: one row per figure.
mkdir -p target/bench
python3 - "$dir/results-$BACKEND.json" "$BACKEND" "$PROFILE" <<'PY'
import json, sys
r, backend, profile = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
note = f"{r['messages']} messages of {r['body_bytes']} bytes, {r['clients']} clients, {profile} build"
json.dump({"raw": r, "rows": [
    {"backend": backend, "workload": "SMTP submissions accepted (msg/s)", "rps": r["submit_per_sec"], "note": note},
    {"backend": backend, "workload": "SMTP in -> relay -> SMTP out (msg/s)", "rps": r["end_to_end_per_sec"], "note": note},
]}, open("target/bench/smtp.json", "w"), indent=2)
PY
