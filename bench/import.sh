#!/usr/bin/env bash
# Import/export figures (part of `make bench`, or alone: `make bench-import`): a CSV of
# BENCH_IMPORT_ROWS (default 1,000,000) contacts with two topic columns, imported with
# `optbox import` into an empty list, imported again (every row unchanged), and exported
# with `optbox export`, on SQLite and on PostgreSQL. Wall time and peak RSS of each
# command from /usr/bin/time. Prints a table and writes target/bench/import.json.
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
N=${BENCH_IMPORT_ROWS:-1000000}
PG_ADMIN=${OPTBOX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --features ssr --bin optbox --example ses_bench
dir=target/bench/import
rm -rf "$dir" && mkdir -p "$dir"
export OPTBOX_LOG=warn

python3 - "$N" "$dir/contacts.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
st = ["OPT_IN", "OPT_OUT", ""]
with open(path, "w") as f:
    f.write("emailAddress,unsubscribeAll,attributesData,topicPreferences.news,topicPreferences.offers\n")
    for i in range(n):
        attrs = '"{""n"":%d}"' % i if i % 10 == 0 else ""
        unsub = "true" if i % 97 == 0 else ""
        f.write(f"user{i}@import.example,{unsub},{attrs},{st[i % 3]},{st[(i // 3) % 3]}\n")
PY

measure() { # name, command...: wall seconds and peak RSS KiB into $dir/$name.time
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$dir/$name.time" "$@" > "$dir/$name.out" 2> "$dir/$name.err" \
    || { cat "$dir/$name.err" >&2; exit 1; }
}

for backend in sqlite postgres; do
  if [ "$backend" = sqlite ]; then
    export OPTBOX_DATABASE_URL="sqlite://$dir/import.db"
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS optbox_bench WITH (FORCE)" -c "CREATE DATABASE optbox_bench" >/dev/null
    export OPTBOX_DATABASE_URL="${PG_ADMIN%/*}/optbox_bench"
  fi
  ./target/release/optbox migrate >/dev/null
  # An empty list "bench" with the topics news (default OPT_IN) and offers (OPT_OUT).
  ./target/release/examples/ses_bench seed 0 "$dir/key-$backend.json" >/dev/null
  measure "$backend-import" ./target/release/optbox import --list bench "$dir/contacts.csv"
  measure "$backend-reimport" ./target/release/optbox import --list bench "$dir/contacts.csv"
  measure "$backend-export" ./target/release/optbox export --list bench
  mv "$dir/$backend-export.out" "$dir/$backend-export.csv"
done
python3 bench/import_report.py "$dir" "$N"
