# optbox: `make run` builds and runs it; `make test` runs every test. Both install what
# they need from the project's own files on a machine with Rust (rustup), Node/npm and apt.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

CARGO_LEPTOS_VERSION := 0.2.47
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup tools chromium npm build test-rust test-e2e bench fmt lint clean

run: tools npm
	cargo leptos build --release
	mkdir -p data
	./target/release/optbox serve --demo

test: setup
	$(MAKE) lint
	$(MAKE) test-rust
	$(MAKE) test-e2e

# Everything a fresh machine lacks: the pinned toolchain and wasm target (rustup reads
# rust-toolchain.toml), cargo-leptos, Chromium, and the npm packages of end2end/.
setup: tools chromium npm

tools:
	rustup show active-toolchain >/dev/null
	rustup target add wasm32-unknown-unknown >/dev/null
	if ! cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)"; then
	  echo "installing cargo-leptos $(CARGO_LEPTOS_VERSION) (about 12 minutes, once per machine)"
	  cargo install cargo-leptos@$(CARGO_LEPTOS_VERSION) --locked
	fi

chromium:
	if ! command -v chromium >/dev/null; then
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null
	fi

npm:
	if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
	  npm ci --prefix end2end --no-audit --no-fund
	fi

# Rust unit and integration tests, SQLite and PostgreSQL (OPTBOX_TEST_PG_URL, default
# postgres://postgres@127.0.0.1:5432/postgres; unreachable means failure, not a skip).
test-rust:
	cargo test --features ssr --no-fail-fast

# Browser tests in Debian's Chromium against a debug build of the whole site.
test-e2e:
	cargo leptos build
	cd end2end && npx playwright test

# Release build on SQLite, load from wrk; see README "Performance".
bench: tools npm
	bench/run.sh

fmt:
	cargo fmt

lint:
	cargo fmt --check
	cargo clippy --features ssr --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results target/e2e
