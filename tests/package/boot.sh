#!/usr/bin/env bash
# The package under a real systemd: the host's own root file system, booted in a container
# (systemd-nspawn) on a throw-away overlay of /, so nothing here changes. Inside,
# tests/package/inside.sh installs the package with dpkg, enables and starts the unit
# with its whole sandbox, uses optbox (pages, a one-click opt-out, the command line as
# the service's user), upgrades it while it runs, stops it (a drain) and purges it.
# Usage: boot.sh PACKAGE.deb. Needs root and systemd-nspawn (systemd-container).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
deb=${1:?usage: boot.sh PACKAGE.deb}
[ -s "$deb" ] || fail "no package $deb"
[ "$(id -u)" = 0 ] || fail "booting a container needs root"
command -v systemd-nspawn >/dev/null || fail "systemd-nspawn is not installed (apt-get install systemd-container)"
# The container is this system: a package already installed here would be upgraded, not
# installed, and its state would be mixed up with the test's.
if dpkg-query -W -f='${Status}' optbox 2>/dev/null | grep -q installed; then
  fail "optbox is already installed on the host; the boot test installs it itself"
fi

machine="optbox-test-$$"
# The overlay's upper layer must not be on the file system it covers: /dev/shm (tmpfs).
base=$(mktemp -d /dev/shm/optbox-boot.XXXXXX)
mounted=
cleanup() {
  if [ -n "$mounted" ]; then
    umount "$base/root" || umount -l "$base/root" || true
  fi
  rm -rf "$base"
  rm -rf "/run/systemd/nspawn/propagate/$machine"
}
trap cleanup EXIT
mkdir -p "$base/upper" "$base/work" "$base/root" "$base/out" "$base/units"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
mounted=1

# A container image's policy-rc.d (exit 101: start nothing) would keep dpkg from
# restarting optbox on upgrade, as it would not on a server: gone from the overlay only.
rm -f "$base/root/usr/sbin/policy-rc.d"
cp "$deb" "$base/out/optbox.deb"
cp tests/package/inside.sh "$base/units/optbox-test.sh"
cat >"$base/units/optbox-test.service" <<'EOF'
[Unit]
Description=the optbox package under systemd
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
TimeoutStartSec=240
ExecStart=/bin/sh /usr/local/lib/systemd/system/optbox-test.sh
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=append:/out/log
StandardError=append:/out/log
EOF

# No host systemd to register with: --register=no --keep-unit. The container's machine
# id is this system's: --link-journal=no. Loopback only: --private-network.
start=$SECONDS
timeout 300 systemd-nspawn --quiet --directory="$base/root" --machine="$machine" \
  --register=no --keep-unit --link-journal=no --private-network \
  --bind-ro="$base/units:/usr/local/lib/systemd/system" --bind="$base/out:/out" \
  --boot -- systemd.unit=optbox-test.service >"$base/console.log" 2>&1 ||
  { tail -40 "$base/console.log" >&2; cat "$base/out/log" >&2 2>/dev/null || true; fail "the container did not boot and power off (systemd-nspawn exited non-zero)"; }
[ -f "$base/out/result" ] || { tail -40 "$base/console.log" >&2; cat "$base/out/log" >&2 2>/dev/null || true; fail "the test in the container wrote no result"; }
grep -v "^PASS$" "$base/out/result"
grep -qx 'PASS' "$base/out/result" || { cat "$base/out/log" >&2; fail "the package under systemd (above)"; }
echo "test-package: ok: under systemd in a container: install, start, use, upgrade, stop, purge ($((SECONDS - start)) s)"
