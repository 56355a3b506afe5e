#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time each:
# FUZZ_SECONDS (default 30) per target. Coverage-guided libFuzzer on the stable
# toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags). Rust code is
# memory-safe, so the run looks for panics and broken invariants (assertions in
# src/server/fuzzing.rs and src/server/mail/fuzzing.rs) without AddressSanitizer,
# which would rebuild the standard library. A crash fails the run and leaves its input
# under fuzz/artifacts/TARGET/; the corpus grows in target/fuzz/corpus/ (not committed),
# starting from the seeds in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
TARGETS="${FUZZ_TARGETS:-options rewrite token sigv4}"
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
# The fuzz crate is its own workspace; share the main target dir's registry cache but
# keep its (instrumented) build apart.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/fuzz}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: run 'make fuzz' (it installs it) or cargo install cargo-fuzz --locked" >&2
  exit 1
fi
log_dir="$CARGO_TARGET_DIR/logs"
mkdir -p "$log_dir"
build_start=$(date +%s)
if ! cargo fuzz build --sanitizer none --debug-assertions >"$log_dir/build.log" 2>&1; then
  tail -n 50 "$log_dir/build.log" >&2
  echo "fuzz: the targets did not build" >&2
  exit 1
fi
echo "fuzz: built in $(( $(date +%s) - build_start )) s"
for t in $TARGETS; do
  corpus="$CARGO_TARGET_DIR/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  # -rss_limit_mb guards against runaway allocation; -timeout flags any input slower
  # than 5 s (a hang is a bug too).
  status=0
  cargo fuzz run --sanitizer none --debug-assertions "$t" "$corpus" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=5 -print_final_stats=1 \
    >"$log_dir/$t.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$log_dir/$t.log" || true
  if [ "$status" != 0 ]; then
    tail -n 40 "$log_dir/$t.log" >&2
    echo "fuzz: $t FAILED; the crashing input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${SECONDS_EACH}s each without a crash"
