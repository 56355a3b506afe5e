#!/usr/bin/env bash
# The dashboard part of `make bench`: release build; on SQLite and on PostgreSQL,
# BENCH_CONTACTS (default 1,000,000) contacts bulk-loaded on list `bench` (`ses_bench
# seed`, as bench/run.sh) and BENCH_EVENTS (default 1,000,000) opt-out events over the
# last 30 days (`ses_bench events`); optbox started, a viewer signed in with curl, and
# each dashboard request below fetched BENCH_REPEAT times one after another (after 3
# unmeasured), timed by curl's time_total over loopback (the whole server-rendered page:
# server time plus a loopback round trip):
#   contacts with a topic filter (dense: news OPT_OUT; sparse: offers OPT_IN, which no
#   seeded contact matches), first page and a deep keyset page (after 90% of the ids);
#   prefix search (narrow and broad, first and next page); the overview (charts and list
#   sizes) warm, and its first view right after start (the aggregates' warm-up); then
#   the overview rendered in Chromium at 1440 and 375 px, checked as the browser tests
#   check it and saved as screenshots (bench/overview_shot.mjs).
# Writes target/bench/dashboard.json (rows for bench/summary.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
N=${BENCH_CONTACTS:-1000000}
EVENTS=${BENCH_EVENTS:-1000000}
REPEAT=${BENCH_REPEAT:-30}
PORT=${BENCH_PORT:-3202}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PASSWORD=bench-dashboard-password

# The binaries (BENCH_BIN=target/debug runs a debug build, for trying the pages only).
BIN=${BENCH_BIN:-target/release}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  if command -v cargo-leptos >/dev/null; then cargo leptos build --release; else cargo build --release --features ssr --bin optbox; fi
  cargo build --release --features ssr --example ses_bench
fi
dir=target/bench/dashboard
rm -rf "$dir" && mkdir -p "$dir"
base="http://127.0.0.1:$PORT"
export OPTBOX_LISTEN="127.0.0.1:$PORT" OPTBOX_LOG=warn OPTBOX_SMTP_LISTEN=127.0.0.1:0
export OPTBOX_TOKEN_KEYS="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"

# time NAME PATH: REPEAT timings (seconds, one per line) of GET PATH as the signed-in viewer.
time_get() {
  local name=$1 path=$2 out="$dir/$backend-$1.txt"
  echo "== $backend $name $path" >&2
  for _ in 1 2 3; do curl -fsS -o /dev/null -b "$dir/cookies" "$base$path"; done
  : > "$out"
  for _ in $(seq "$REPEAT"); do
    curl -fsS -o /dev/null -b "$dir/cookies" -w '%{time_total}\n' "$base$path" >> "$out"
  done
}

for backend in $BACKENDS; do
  if [ "$backend" = sqlite ]; then
    export OPTBOX_DATABASE_URL="sqlite://$dir/bench.db"
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_dash_bench WITH (FORCE)" -c "CREATE DATABASE optbox_dash_bench" >/dev/null
    export OPTBOX_DATABASE_URL="${PG_ADMIN%/*}/optbox_dash_bench"
  fi
  ./$BIN/optbox migrate >/dev/null
  ./$BIN/examples/ses_bench seed "$N" "$dir/key-$backend.json"
  ./$BIN/examples/ses_bench events "$EVENTS"
  echo "$PASSWORD" | ./$BIN/optbox admin create-user --email bench@example.com --role viewer --password-stdin >/dev/null
  ./$BIN/optbox serve > "$dir/server-$backend.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
  rm -f "$dir/cookies"
  curl -fsS -o /dev/null -c "$dir/cookies" -H 'accept: text/html' -H "origin: $base" -H "referer: $base/admin/login" \
    --data-urlencode email=bench@example.com --data-urlencode "password=$PASSWORD" "$base/api/login"
  # The first view waits for the warm-up started with the server (if it is still running).
  curl -fsS -o "$dir/$backend-overview.html" -b "$dir/cookies" -w '%{time_total}\n' "$base/admin" > "$dir/$backend-overview_cold.txt"
  grep -q 'id="chart-topic"' "$dir/$backend-overview.html" || { echo "bench: no chart on the overview" >&2; exit 1; }
  c="/admin/lists/bench/contacts"
  deep=$(( N * 9 / 10 ))
  time_get overview "/admin"
  time_get topic_dense_first "$c?topic=news&status=OPT_OUT"
  time_get topic_dense_deep "$c?topic=news&status=OPT_OUT&after=$deep"
  time_get topic_sparse_first "$c?topic=offers&status=OPT_IN"
  time_get topic_sparse_deep "$c?topic=offers&status=OPT_IN&after=$deep"
  time_get unfiltered_deep "$c?after=$deep"
  time_get prefix_narrow "$c?q=user12345"
  time_get prefix_broad_first "$c?q=user9"
  time_get prefix_broad_next "$c?q=user9&after_key=user900500%40bench.example"
  time_get prefix_topic "$c?q=user9&topic=news&status=OPT_OUT"
  curl -fsS -b "$dir/cookies" "$base$c?q=user12345" | grep -o 'user12345[0-9]*@bench.example' | head -n 3 > "$dir/$backend-prefix_rows"
  # As a viewer sees it in Chromium (when the browser tests' packages are installed).
  if [ -d end2end/node_modules/@playwright/test ]; then
    node bench/overview_shot.mjs "$base" bench@example.com "$PASSWORD" "$dir/$backend-overview" "$N"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
if [ "$BACKENDS" = "sqlite postgres" ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_dash_bench WITH (FORCE)" >/dev/null
fi
python3 - "$dir" "$N" "$EVENTS" $BACKENDS <<'PY'
import json, os, sys, statistics
d, n, events, *backends = sys.argv[1:]
labels = {
    "overview_cold": "dashboard overview, first view after start",
    "overview": "dashboard overview (charts, list sizes)",
    "topic_dense_first": "contacts news=OPT_OUT, first page",
    "topic_dense_deep": "contacts news=OPT_OUT, page after 90%",
    "topic_sparse_first": "contacts offers=OPT_IN (none), first page",
    "topic_sparse_deep": "contacts offers=OPT_IN (none), after 90%",
    "unfiltered_deep": "contacts unfiltered, page after 90%",
    "prefix_narrow": "contacts search user12345",
    "prefix_broad_first": "contacts search user9, first page",
    "prefix_broad_next": "contacts search user9, next page (key)",
    "prefix_topic": "contacts search user9 + news=OPT_OUT",
}
rows = []
for b in backends:
    for k, label in labels.items():
        p = os.path.join(d, f"{b}-{k}.txt")
        if not os.path.exists(p):
            continue
        t = sorted(float(x) * 1000 for x in open(p).read().split())
        p99 = t[min(len(t) - 1, int(round(0.99 * (len(t) - 1))))]
        rows.append({"backend": b, "workload": label, "p50_ms": round(statistics.median(t), 2),
                     "p99_ms": round(p99, 2), "note": f"{len(t)} serial GETs, {int(n):,} contacts, {int(events):,} events"})
json.dump({"contacts": int(n), "events": int(events), "rows": rows}, open(os.path.join(d, "..", "dashboard.json"), "w"), indent=2)
for r in rows:
    print(f"{r['backend']:<8} {r['workload']:<44} p50 {r['p50_ms']:>8.2f} ms  p99 {r['p99_ms']:>8.2f} ms")
PY
