#!/usr/bin/env bash
# Messages per second through the sending pipeline's MIME stage (20 KB multipart
# message): without DKIM, with Ed25519, with RSA-2048. See examples/pipeline_bench.rs.
# Rows for bench/summary.py go to target/bench/pipeline.json.
set -euo pipefail
cd "$(dirname "$0")/.."
# As cargo-leptos sets it (see the Makefile): no rebuild between cargo and cargo leptos.
export LEPTOS_OUTPUT_NAME=optbox
mkdir -p target/bench
cargo run --release --features ssr --example pipeline_bench -- "${1:-5}" | tee target/bench/pipeline.txt
python3 - <<'PY'
import json, re
rows = []
for line in open("target/bench/pipeline.txt"):
    m = re.match(r"^(.+?)\s+(\d+) messages in ([\d.]+) s =\s+(\d+) msg/s \(([\d.]+) KB each\)", line)
    if m:
        rows.append({"backend": "-", "workload": f"pipeline: {m.group(1).strip()} (msg/s)",
                     "rps": float(m.group(4)), "note": f"{m.group(5)} KB messages, one core"})
json.dump({"rows": rows}, open("target/bench/pipeline.json", "w"), indent=2)
PY
