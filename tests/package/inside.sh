#!/bin/sh
# Runs inside the container tests/package/boot.sh boots, as a systemd service: the
# package's life under systemd. One line per step in /out/result; PASS last, or FAIL.
set -eu
result=/out/result
ok() { echo "test-package: ok: $*" >>"$result"; }
fail() {
  echo "test-package: FAIL (in the container): $*" >>"$result"
  exit 1
}
set -x

# The command line as the service's user, with its keys (docs/production.md).
ob() { runuser -u optbox -- sh -ac '. /etc/optbox/optbox.env && exec /usr/bin/optbox --config /etc/optbox/optbox.toml "$@"' optbox "$@"; }
wait_healthy() {
  for _ in $(seq 1 150); do
    [ "$(curl -s --max-time 2 http://127.0.0.1:3000/healthz)" = ok ] && return 0
    sleep 0.2
  done
  journalctl -u optbox --no-pager -o cat | tail -20
  fail "optbox did not answer /healthz within 30 s"
}
prop() { systemctl show optbox -p "$1" --value; }

[ -d /run/systemd/system ] || fail "systemd is not running"
dpkg -i /out/optbox.deb || fail "dpkg -i"
id optbox || fail "no user optbox"
[ "$(stat -c '%U:%G %a' /etc/optbox/optbox.env)" = "root:optbox 640" ] || fail "optbox.env is $(stat -c '%U:%G %a' /etc/optbox/optbox.env)"
[ "$(stat -c '%U:%G %a' /var/lib/optbox)" = "optbox:optbox 700" ] || fail "/var/lib/optbox is $(stat -c '%U:%G %a' /var/lib/optbox)"
[ "$(systemctl is-enabled optbox || true)" = disabled ] || fail "the installation enabled optbox"
[ "$(systemctl is-active optbox || true)" = inactive ] || fail "the installation started optbox"
ok "dpkg -i: user optbox, keys, /var/lib/optbox; the service neither enabled nor started"

# The operator's part: public_url, checked by doctor, then enable --now. The demo list
# (a drop-in) gives the one-click POST a list to opt out of.
sed -i 's|^# public_url = .*|public_url = "https://optbox.example.com"|' /etc/optbox/optbox.toml
ob doctor || fail "optbox doctor as the user optbox"
mkdir -p /etc/systemd/system/optbox.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/bin/optbox serve --demo\n' >/etc/systemd/system/optbox.service.d/demo.conf
systemctl daemon-reload
systemctl enable --now optbox || { journalctl -u optbox --no-pager -o cat | tail -20; fail "systemctl enable --now optbox"; }
wait_healthy
pid=$(prop MainPID)
grep -q "^Uid:[[:space:]]*$(id -u optbox)[[:space:]]" "/proc/$pid/status" || fail "optbox does not run as optbox"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || fail "optbox has capabilities"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || fail "NoNewPrivileges is off"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" || fail "no system call filter"
ok "systemctl enable --now: running as optbox, no capabilities, no new privileges, a system call filter"

code() { curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code http://127.0.0.1:3000/admin/login)" = 200 ] || fail "/admin/login"
[ "$(code http://127.0.0.1:3000/pkg/optbox.wasm)" = 200 ] || fail "/pkg/optbox.wasm"
[ "$(code http://127.0.0.1:3000/pkg/optbox.css)" = 200 ] || fail "/pkg/optbox.css"
url=$(ob link --list demo --email someone@example.com) || fail "optbox link"
local_url=$(echo "$url" | sed 's|^https://optbox.example.com|http://127.0.0.1:3000|')
[ "$(code "$local_url")" = 200 ] || fail "the preference page"
[ "$(code -X POST -d List-Unsubscribe=One-Click "$local_url")" = 200 ] || fail "the one-click POST"
ob export --list demo | grep -q '^someone@example.com,true,' || fail "the opt-out is not in the export"
echo 'a-long-password-123' | ob admin create-user --email owner@example.com --role owner --password-stdin || fail "admin create-user"
ok "pages, site files, a one-click opt-out, the command line beside the service"

# An upgrade while it runs: dpkg restarts it (a drain, then a start), keys unchanged.
keys=$(md5sum /etc/optbox/optbox.env)
dpkg -i /out/optbox.deb || fail "dpkg -i (upgrade)"
[ "$(md5sum /etc/optbox/optbox.env)" = "$keys" ] || fail "the upgrade changed the keys"
wait_healthy
[ "$(prop MainPID)" != "$pid" ] || fail "the upgrade did not restart optbox"
[ "$(systemctl is-enabled optbox)" = enabled ] || fail "the upgrade disabled optbox"
ob export --list demo | grep -q '^someone@example.com,true,' || fail "the opt-out did not survive the upgrade"
ok "upgrade while running: restarted, still enabled, keys and data kept"

# Stopping drains and ends cleanly.
systemctl stop optbox
[ "$(prop ActiveState)" = inactive ] || fail "optbox did not stop"
[ "$(prop ExecMainStatus)" = 0 ] || fail "optbox exited $(prop ExecMainStatus) on stop"
journalctl -u optbox --no-pager -o cat | grep -q 'shutting down: finishing in-flight requests' || fail "no drain in the journal"
ok "systemctl stop: drained, exit status 0"

dpkg --purge optbox || fail "dpkg --purge"
[ ! -e /usr/lib/systemd/system/optbox.service ] || fail "the unit is still installed"
[ -f /etc/optbox/optbox.env ] && [ -f /var/lib/optbox/optbox.db ] || fail "purge removed the keys or the database"
ok "purge: removed, the keys and the database kept"
echo PASS >>"$result"
