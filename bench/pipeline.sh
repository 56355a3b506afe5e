#!/usr/bin/env bash
# Messages per second through the sending pipeline's MIME stage (20 KB multipart
# message): without DKIM, with Ed25519, with RSA-2048. See examples/pipeline_bench.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --features ssr --example pipeline_bench -- "${1:-5}"
