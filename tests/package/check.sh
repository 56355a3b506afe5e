#!/usr/bin/env bash
# The Debian package, checked as it would be installed: cargo-deb packages the debug build
# that `cargo leptos build` made (make test-e2e; no release build here), dpkg-deb takes it
# apart in a scratch root, and then
#   - the files are where the unit and the settings expect them;
#   - the postinst runs against the scratch root (DPKG_ROOT): user, keys, permissions;
#   - the installed binary, with the installed settings, the generated keys and the
#     unit's environment, checks itself (doctor), serves /healthz, a page and the site's
#     files, and stops with a drain on SIGTERM;
#   - systemd-analyze verifies the unit in the scratch root and rates its sandbox;
#   - boot.sh installs and runs the package under systemd, in a container.
# Any failure ends the script with a message and a non-zero status: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
pass() { echo "test-package: ok: $*"; }
checks=0
ok() {
  checks=$((checks + 1))
  pass "$@"
}

for tool in cargo dpkg-deb fakeroot systemd-analyze systemd-sysusers curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
cargo deb --version >/dev/null 2>&1 || fail "cargo-deb is not installed (make tools)"

target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/debug/optbox"
site=target/site
[ -x "$bin" ] || fail "$bin is missing: run cargo leptos build first (make test-e2e does)"
for f in pkg/optbox.wasm pkg/optbox.js pkg/optbox.css favicon.svg; do
  [ -s "$site/$f" ] || fail "$site/$f is missing: run cargo leptos build first"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/optbox-package.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the package --------------------------------------------------------------------
deb="$work/optbox.deb"
start=$SECONDS
cargo deb --no-build --profile dev --fast --quiet --output "$deb" >"$work/cargo-deb.log" 2>&1 ||
  { cat "$work/cargo-deb.log" >&2; fail "cargo deb did not build the package"; }
[ -s "$deb" ] || fail "cargo deb wrote no $deb"
ok "cargo deb packaged the debug build ($(du -h "$deb" | cut -f1), $((SECONDS - start)) s)"

field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = optbox ] || fail "Package is $(field Package), not optbox"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture is $(field Architecture)"
field Depends | grep -q 'libc6' || fail "Depends does not name libc6: $(field Depends)"
ok "control: optbox $(field Version) $(field Architecture), Depends: $(field Depends)"

root="$work/root"
mkdir -p "$root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"
grep -qx /etc/optbox/optbox.toml "$root/DEBIAN/conffiles" ||
  fail "/etc/optbox/optbox.toml is not a conffile: $(cat "$root/DEBIAN/conffiles" 2>/dev/null)"
for s in postinst prerm postrm; do
  [ -x "$root/DEBIAN/$s" ] || fail "the package has no $s"
  sh -n "$root/DEBIAN/$s" || fail "$s is not valid sh"
done
grep -q '#DEBHELPER#' "$root/DEBIAN/postinst" && fail "postinst still holds #DEBHELPER#"
ok "conffiles and maintainer scripts"

# --- the files ----------------------------------------------------------------------
unit="$root/usr/lib/systemd/system/optbox.service"
for f in usr/bin/optbox etc/optbox/optbox.toml usr/lib/systemd/system/optbox.service \
  usr/lib/sysusers.d/optbox.conf usr/share/doc/optbox/README.md \
  usr/share/doc/optbox/production.md usr/share/doc/optbox/copyright; do
  [ -f "$root/$f" ] || fail "/$f is not in the package"
done
[ -x "$root/usr/bin/optbox" ] || fail "/usr/bin/optbox is not executable"
cmp -s "$root/etc/optbox/optbox.toml" deploy/optbox.toml || fail "/etc/optbox/optbox.toml is not deploy/optbox.toml"
cmp -s "$unit" deploy/optbox.service || fail "the installed unit is not deploy/optbox.service"

# The unit's settings, read from the installed unit: the rest of the test uses them.
unit_value() { sed -n "s/^$1=//p" "$unit"; }
unit_env() { sed -n "s/^Environment=$1=//p" "$unit"; }
site_root=$(unit_env LEPTOS_SITE_ROOT)
config=$(unit_env OPTBOX_CONFIG)
env_file=$(unit_value EnvironmentFile)
exec_start=$(unit_value ExecStart)
[ -n "$site_root" ] && [ -n "$config" ] && [ -n "$env_file" ] || fail "the unit sets no LEPTOS_SITE_ROOT, OPTBOX_CONFIG or EnvironmentFile"
[ "$exec_start" = "/usr/bin/optbox serve" ] || fail "ExecStart is $exec_start"
[ -f "$root$config" ] || fail "OPTBOX_CONFIG=$config is not in the package"
diff -r "$site" "$root$site_root" >"$work/site.diff" ||
  { head -20 "$work/site.diff" >&2; fail "$site_root is not the built site"; }
ok "files: binary, site ($(find "$root$site_root" -type f | wc -l) files in $site_root), settings, unit, sysusers.d, docs"

# --- the postinst, into the scratch root --------------------------------------------
# fakeroot: the chown/chmod are recorded, not done; DPKG_ROOT keeps systemd-sysusers,
# deb-systemd-helper and deb-systemd-invoke inside the scratch root.
mkdir -p "$root/etc"
: >"$root/etc/passwd"
: >"$root/etc/group"
postinst_run() {
  fakeroot -i "$work/fakeroot.state" -s "$work/fakeroot.state" -- \
    env DPKG_ROOT="$root" DPKG_MAINTSCRIPT_PACKAGE=optbox DPKG_MAINTSCRIPT_NAME=postinst \
    "$root/DEBIAN/postinst" configure "$@"
}
touch "$work/fakeroot.state"
# As in a chroot: invoke-rc.d and deb-systemd-invoke start and restart nothing.
mkdir -p "$root/usr/sbin"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
postinst_run >"$work/postinst.log" 2>&1 || { cat "$work/postinst.log" >&2; fail "postinst configure failed"; }
grep -q '^optbox:x:[0-9]*:[0-9]*:.*:/var/lib/optbox:/usr/sbin/nologin$' "$root/etc/passwd" ||
  fail "postinst made no system user optbox: $(cat "$root/etc/passwd")"
gid=$(awk -F: '$1 == "optbox" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || fail "postinst made no group optbox"
stat_in_fakeroot() { fakeroot -i "$work/fakeroot.state" -- stat -c '%u:%g %a' "$1"; }
[ "$(stat_in_fakeroot "$root/etc/optbox")" = "0:$gid 750" ] || fail "/etc/optbox is $(stat_in_fakeroot "$root/etc/optbox")"
for f in "$env_file" "$config"; do
  [ "$(stat_in_fakeroot "$root$f")" = "0:$gid 640" ] || fail "$f is $(stat_in_fakeroot "$root$f"), not root:optbox 640"
done
[ "$(stat_in_fakeroot "$root/var/lib/optbox")" = "$(awk -F: '$1 == "optbox" { print $3 }' "$root/etc/passwd"):$gid 700" ] ||
  fail "/var/lib/optbox is $(stat_in_fakeroot "$root/var/lib/optbox"), not optbox:optbox 700"
grep -Eq '^OPTBOX_TOKEN_KEYS=k1:[0-9a-f]{64}$' "$root$env_file" || fail "no token_keys in $env_file"
grep -Eq '^OPTBOX_SESSION_KEY=[0-9a-f]{128}$' "$root$env_file" || fail "no session_key in $env_file"
grep -Eq '^OPTBOX_API_KEY_MASTER=[0-9a-f]{64}$' "$root$env_file" || fail "no api_key_master in $env_file"
cp "$root$env_file" "$work/keys.first"
# An upgrade's configure keeps the keys.
postinst_run 0.0.1-1 >"$work/postinst.log" 2>&1 || { cat "$work/postinst.log" >&2; fail "postinst configure (upgrade) failed"; }
cmp -s "$root$env_file" "$work/keys.first" || fail "an upgrade changed $env_file"
ok "postinst: system user optbox, /var/lib/optbox, keys generated once into $env_file (root:optbox 640)"

# --- the installed binary -----------------------------------------------------------
# The installed settings, the generated keys and the unit's environment; what a test
# must change (a database and import_dir of its own, free ports, a public URL) by
# OPTBOX_* variables, as an operator's drop-in would.
state="$work/state"
mkdir -p "$state"
mapfile -t keys < <(grep -E '^[A-Z_]+=' "$root$env_file")
run_env=(
  "${keys[@]}"
  OPTBOX_CONFIG="$root$config" LEPTOS_SITE_ROOT="$root$site_root"
  OPTBOX_DATABASE_URL="sqlite://$state/optbox.db" OPTBOX_IMPORT_DIR="$state/imports"
  OPTBOX_PUBLIC_URL="https://optbox.test" OPTBOX_LISTEN="127.0.0.1:0" OPTBOX_SMTP_LISTEN="127.0.0.1:0"
  OPTBOX_LOG_FORMAT=json
)
installed() { (cd "$state" && exec env "${run_env[@]}" "$root/usr/bin/optbox" "$@"); }
installed --version | grep -q "^optbox " || fail "the installed binary does not run"
installed doctor >"$work/doctor.out" 2>&1 || { cat "$work/doctor.out" >&2; fail "optbox doctor failed with the installed settings"; }
grep -q $'^ok\tconfiguration: loaded, production mode$' "$work/doctor.out" || { cat "$work/doctor.out" >&2; fail "doctor: not production mode"; }
grep -q $'^ok\tdatabase:' "$work/doctor.out" || { cat "$work/doctor.out" >&2; fail "doctor: no database"; }
ok "optbox doctor: production mode, fresh database"

(cd "$state" && exec env "${run_env[@]}" "$root/usr/bin/optbox" serve) >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
addr=
for _ in $(seq 1 600); do
  addr=$(grep '"optbox is listening"' "$work/serve.err" | grep -o '"addr":"127.0.0.1:[0-9]*"' | head -1 | cut -d'"' -f4) || true
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; fail "optbox serve exited at start"; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/serve.err" >&2; fail "optbox serve did not listen within 60 s"; }
# exec: the process in the background is optbox itself, which the SIGTERM below reaches.
[ "$(readlink "/proc/$server_pid/exe")" = "$root/usr/bin/optbox" ] || fail "pid $server_pid is not optbox"
base="http://$addr"

get() { curl -sS --max-time 30 -o "$work/body" -w '%{http_code} %{content_type}' "$base$1"; }
[ "$(get /healthz)" = "200 text/plain; charset=utf-8" ] && [ "$(cat "$work/body")" = ok ] ||
  fail "/healthz: $(get /healthz) $(cat "$work/body")"
r=$(get /readyz)
[ "${r%% *}" = 200 ] || fail "/readyz: $r $(cat "$work/body")"
r=$(get /admin/login)
[ "${r%% *}" = 200 ] || fail "/admin/login: $r"
grep -q 'href="/pkg/optbox.css"' "$work/body" || fail "/admin/login links no /pkg/optbox.css"
grep -q '/pkg/optbox.js' "$work/body" || fail "/admin/login loads no /pkg/optbox.js"
grep -q '/pkg/optbox.wasm\|/pkg/optbox_bg.wasm' "$work/body" || fail "/admin/login loads no /pkg/optbox.wasm"
for f in pkg/optbox.css pkg/optbox.js pkg/optbox.wasm favicon.svg; do
  r=$(get "/$f")
  [ "${r%% *}" = 200 ] || fail "/$f: $r"
  cmp -s "$work/body" "$root$site_root/$f" || fail "/$f is not the installed $site_root/$f"
done
[ "$(get /pkg/optbox.wasm)" = "200 application/wasm" ] || fail "/pkg/optbox.wasm: $(get /pkg/optbox.wasm)"
ok "optbox serve: /healthz, /readyz, /admin/login and the site's files from $site_root"

# The unit stops optbox with SIGTERM (KillSignal) and waits TimeoutStopSec: it drains.
[ "$(unit_value KillSignal)" = SIGTERM ] || fail "KillSignal is not SIGTERM"
kill -TERM "$server_pid"
stopped=
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
[ -n "$stopped" ] || fail "optbox serve did not stop within 30 s of SIGTERM"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" = 0 ] || { cat "$work/serve.err" >&2; fail "optbox serve exited $rc on SIGTERM"; }
grep -q 'shutting down: finishing in-flight requests' "$work/serve.err" || fail "no drain on SIGTERM"
ok "SIGTERM: optbox drained and exited 0"

# --- the unit -----------------------------------------------------------------------
# systemd-analyze resolves every path (ExecStart included) and every unit the unit
# names inside --root: the scratch root gets this system's units beside the package's.
mkdir -p "$root/lib/systemd"
cp -a /usr/lib/systemd/system "$root/lib/systemd/"
systemd-analyze verify --root="$root" --man=no optbox.service >"$work/verify.out" 2>&1 ||
  { cat "$work/verify.out" >&2; fail "systemd-analyze verify failed"; }
[ ! -s "$work/verify.out" ] || { cat "$work/verify.out" >&2; fail "systemd-analyze verify complained"; }
for d in 'User=optbox' 'StateDirectory=optbox' 'ConfigurationDirectory=optbox' \
  'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
  'CapabilityBoundingSet=' 'SystemCallFilter=@system-service' 'TimeoutStopSec=5min'; do
  grep -qx "$d" "$unit" || fail "the unit lacks $d"
done
systemd-analyze security --offline=true --root="$root" --threshold=15 optbox.service >"$work/security.out" 2>&1 ||
  { cat "$work/security.out" >&2; fail "the unit's sandbox rates over 1.5"; }
ok "systemd-analyze verify: no complaint; $(grep -o 'Overall exposure level.*' "$work/security.out")"

# --- under systemd ------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
  tests/package/boot.sh "$deb"
else
  sudo tests/package/boot.sh "$deb"
fi
checks=$((checks + 1))

echo "test-package: $checks passed, 0 failed"
