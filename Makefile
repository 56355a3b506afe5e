# optbox: `make run` builds and runs it; `make test` runs every test. Both install what
# they need from the project's own files on a machine with Rust (rustup), Node/npm and apt.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

CARGO_LEPTOS_VERSION := 0.2.47
CARGO_FUZZ_VERSION := 0.13.2
CARGO_DEB_VERSION := 3.8.0
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# What cargo-leptos sets for `output-name`. leptos reads it at compile time, so a plain
# `cargo build`/`cargo test` without it would rebuild leptos and everything above it after
# every `cargo leptos build` and back again (and name the wasm file differently).
export LEPTOS_OUTPUT_NAME := optbox
# Incremental compilation only pays off for edit-compile loops; for whole builds it costs
# time and many gigabytes under target/debug/incremental.
export CARGO_INCREMENTAL := 0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup tools chromium npm compat nspawn build test-rust test-e2e test-package package fuzz bench bench-http bench-import bench-webhooks bench-smtp bench-inbound bench-pipeline bench-dashboard fmt lint clean

run: tools npm
	cargo leptos build --release
	mkdir -p data
	./target/release/optbox serve --demo

test:
	for stage in setup lint test-rust test-e2e test-package; do
	  start=$$SECONDS
	  $(MAKE) $$stage
	  echo "== make $$stage: $$((SECONDS - start)) s" >&2
	done

# Everything a fresh machine lacks: the pinned toolchain and wasm target (rustup reads
# rust-toolchain.toml), cargo-leptos, cargo-deb, Chromium, the npm packages of end2end/,
# the Python venv with the AWS CLI and boto3 for the SES compatibility suite, and
# systemd-nspawn for the package's test.
setup: tools chromium npm compat nspawn

tools:
	rustup show active-toolchain >/dev/null
	rustup target add wasm32-unknown-unknown >/dev/null
	if ! cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)"; then
	  echo "installing cargo-leptos $(CARGO_LEPTOS_VERSION) (about 12 minutes, once per machine)"
	  cargo install cargo-leptos@$(CARGO_LEPTOS_VERSION) --locked
	fi
	if ! cargo deb --version 2>/dev/null | grep -q "$(CARGO_DEB_VERSION)"; then
	  echo "installing cargo-deb $(CARGO_DEB_VERSION) (about 2 minutes, once per machine)"
	  cargo install cargo-deb@$(CARGO_DEB_VERSION) --locked
	fi

chromium:
	if ! command -v chromium >/dev/null; then
	  $(SUDO) apt-get update -qq
	  # Some of chromium's recommended packages fail their post-install scripts in
	  # containers; what matters is that the browser itself is installed.
	  $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null || true
	  command -v chromium >/dev/null || { echo "chromium could not be installed" >&2; exit 1; }
	fi

# systemd-nspawn and fakeroot for the package's test: it runs the postinst in a scratch
# root under fakeroot, then boots the host's root file system in a container to run the
# package under systemd (tests/package/boot.sh).
nspawn:
	if ! command -v systemd-nspawn >/dev/null || ! command -v fakeroot >/dev/null; then
	  $(SUDO) apt-get update -qq
	  $(SUDO) apt-get install -y -qq --no-install-recommends systemd-container fakeroot >/dev/null
	  command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn could not be installed" >&2; exit 1; }
	  command -v fakeroot >/dev/null || { echo "fakeroot could not be installed" >&2; exit 1; }
	fi

# The real AWS CLI and boto3, moto and pytest, pinned in tests/compat/requirements.txt,
# from PyPI; and moto's source distribution of the same version (its own SES v2 tests,
# which tests/compat/moto/ runs against optbox) extracted under target/moto-src.
COMPAT_VENV := target/compat-venv
MOTO_VERSION = $(shell sed -n 's/^moto==\([^ ;#]*\).*/\1/p' tests/compat/requirements.txt)
MOTO_SRC = target/moto-src/moto-$(MOTO_VERSION)
compat:
	if [ ! -x $(COMPAT_VENV)/bin/aws ] || [ tests/compat/requirements.txt -nt $(COMPAT_VENV)/.installed ]; then
	  python3 -m venv $(COMPAT_VENV)
	  $(COMPAT_VENV)/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
	  touch $(COMPAT_VENV)/.installed
	fi
	if [ ! -f $(MOTO_SRC)/tests/test_sesv2/test_sesv2.py ]; then
	  test -n "$(MOTO_VERSION)" || { echo "tests/compat/requirements.txt pins no moto version" >&2; exit 1; }
	  rm -rf target/moto-src/download
	  $(COMPAT_VENV)/bin/pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
	    moto==$(MOTO_VERSION) -d target/moto-src/download
	  tar -xzf target/moto-src/download/moto-$(MOTO_VERSION).tar.gz -C target/moto-src/download
	  rm -rf $(MOTO_SRC)
	  mv target/moto-src/download/moto-$(MOTO_VERSION) $(MOTO_SRC)
	  rm -rf target/moto-src/download
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

# The Debian package of the release build: target/debian/optbox_VERSION-1_ARCH.deb
# (docs/production.md).
package: tools npm
	cargo leptos build --release
	cargo deb --no-build

# The package of the debug build test-e2e made (no release build in the tests), taken
# apart in a scratch root (its files, the maintainer script, the installed binary against
# a fresh database, the unit by systemd-analyze), then installed and run under systemd in
# a container of this system.
test-package:
	tests/package/check.sh

# Coverage-guided fuzzing (cargo-fuzz/libFuzzer) of the options parser, the MIME
# rewriter, the unsubscribe token and SigV4, FUZZ_SECONDS (default 30) per target.
# cargo-fuzz is installed here, on first use, not by `make setup`: CI runs the fuzzers
# only when the tests leave time, and the install costs a fresh machine 2 minutes.
fuzz:
	if ! cargo fuzz --version 2>/dev/null | grep -q "$(CARGO_FUZZ_VERSION)"; then
	  echo "installing cargo-fuzz $(CARGO_FUZZ_VERSION) (about 2 minutes, once per machine)"
	  cargo install cargo-fuzz@$(CARGO_FUZZ_VERSION) --locked
	fi
	fuzz/run.sh

# Every benchmark (release builds, both databases), then one table: docs/performance.md.
bench: tools npm
	bench/run.sh
	bench/import.sh
	bench/webhooks.sh
	bench/smtp.sh
	bench/pipeline.sh
	bench/dashboard.sh
	python3 bench/summary.py

# End-to-end SMTP-in -> SMTP-out throughput (docs/performance.md).
bench-smtp:
	bench/smtp.sh

# Unsubscribe mails per second through the inbound listener (each 250 durable).
bench-inbound:
	bench/inbound.sh

# The dashboard part of the benchmark alone (contacts page and overview at 1M).
bench-dashboard: tools
	bench/dashboard.sh
	python3 bench/summary.py

# The import/export part of the benchmark alone.
bench-import:
	bench/import.sh

# The webhook part of the benchmark alone.
bench-webhooks:
	bench/webhooks.sh

# The HTTP part alone (recipient routes and the SES API, both databases).
bench-http:
	bench/run.sh
	python3 bench/summary.py

# The sending pipeline's MIME/DKIM stage alone.
bench-pipeline:
	bench/pipeline.sh

fmt:
	cargo fmt

# Licences and sources of every dependency (deny.toml's policy; no advisory database needed).
lint:
	cargo fmt --check
	python3 scripts/check_deps.py
	python3 scripts/check_layers.py
	cargo clippy --features ssr --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results target/e2e
