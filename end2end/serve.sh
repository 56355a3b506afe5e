#!/usr/bin/env bash
# Starts optbox for the browser tests: a fresh SQLite database, one owner, the demo list.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/e2e
rm -rf "$dir" && mkdir -p "$dir"
export OPTBOX_DATABASE_URL="sqlite://$dir/optbox.db"
export OPTBOX_LISTEN="127.0.0.1:${E2E_PORT:-3100}"
# Port 0: several checkouts may run the browser tests at once.
export OPTBOX_SMTP_LISTEN="127.0.0.1:${E2E_SMTP_PORT:-0}"
# Every browser test signs in from 127.0.0.1, many a minute: no per-client sign-in rate.
export OPTBOX_SIGN_IN_PER_MINUTE=0
# The webhook test's receiver listens on 127.0.0.1.
export OPTBOX_WEBHOOK_ALLOW_PRIVATE=true
bin="${E2E_SERVER_BIN:-target/debug/optbox}"
"$bin" migrate
printf 'e2e-password-123' | "$bin" admin create-user --email e2e@example.com --role owner --password-stdin
printf 'e2e-password-123' | "$bin" admin create-user --email viewer@example.com --role viewer --password-stdin
exec "$bin" serve --demo
