#!/bin/sh
# The Debian package on this machine, as root: build it, install it, check
# what dpkg recorded, run the installed daemon by hand (no systemd runs
# here) as the user villagemetrics with the installed configuration,
# reinstall it over a changed configuration, remove it, purge it, and check
# that nothing of it is left.  Whatever happens, the package is purged at
# the end; a package left installed by an earlier run is purged first.
#   scripts/package-test.sh [BUILD_DIR]     (default build-deb)
set -eu
cd "$(dirname "$0")/.."

pkg=villagemetricsd
user=villagemetrics
config=/etc/villagemetrics/villagemetrics.json
state=/var/lib/villagemetrics
work=$(mktemp -d /tmp/vg-package-test-XXXXXX)
pid=""

fail() {
  echo "package-test: FAILED: $*" >&2
  [ -f "$work/daemon.log" ] && sed 's/^/  daemon: /' "$work/daemon.log" >&2
  exit 1
}

installed() {
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q ' installed$\| config-files$'
}

stop_daemon() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  status=0
  wait "$pid" || status=$?
  pid=""
  return $status
}

cleanup() {
  stop_daemon || true
  if installed; then
    dpkg --purge "$pkg" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges $pkg"
if installed; then
  echo "package-test: purging $pkg left by an earlier run" >&2
  dpkg --purge "$pkg" >/dev/null
fi

deb=$(./scripts/package.sh "${1:-build-deb}")
echo "package-test: $deb, $(stat -c %s "$deb") bytes" >&2

# --- install ---------------------------------------------------------------
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
version=$(dpkg-deb -f "$deb" Version)
got=$(dpkg-query -W -f='${Status} ${Version}' "$pkg")
[ "$got" = "install ok installed $version" ] || fail "dpkg-query -W: $got"
grep -qx "$config" "/var/lib/dpkg/info/$pkg.conffiles" ||
  fail "$config is not a conffile"
for page in 8:villagemetricsd 5:villagemetrics.json; do
  file=$(man -w "${page%%:*}" "${page#*:}") || fail "no man page ${page#*:}(${page%%:*})"
  [ "$file" = "/usr/share/man/man${page%%:*}/${page#*:}.${page%%:*}.gz" ] ||
    fail "man page at $file"
  man "${page%%:*}" "${page#*:}" 2>&1 | grep -q '^EXIT STATUS$\|^FILES$' ||
    fail "man ${page#*:} does not render"
done
getent passwd "$user" >/dev/null || fail "no user $user"
[ "$(stat -c '%U:%G %a' "$state")" = "$user:$user 750" ] ||
  fail "$state is $(stat -c '%U:%G %a' "$state")"
[ "$(stat -c '%U:%G %a' "$state/incoming")" = "$user:$user 2770" ] ||
  fail "$state/incoming is $(stat -c '%U:%G %a' "$state/incoming")"
/usr/sbin/villagemetricsd --check-config >/dev/null || fail "--check-config"

# --- the installed daemon, by hand ----------------------------------------
# As the unit would run it: its user, its default configuration; only the
# port differs, through VG_LISTEN, which that configuration reads.
run_daemon() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  VG_LISTEN=127.0.0.1:$port setpriv --reuid="$user" --regid="$user" \
    --init-groups -- /usr/sbin/villagemetricsd >>"$work/daemon.log" 2>&1 &
  pid=$!
}

# Polls `curl URL` every 0.1 s for 20 s until its output matches PATTERN.
poll() { # what, path, grep pattern
  i=0
  while [ $i -lt 200 ]; do
    kill -0 "$pid" 2>/dev/null || fail "the daemon exited while waiting for $1"
    if curl -sf "http://127.0.0.1:$port$2" 2>/dev/null | grep -q "$3"; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  fail "timed out waiting for $1"
}

run_daemon
poll "/healthz" /healthz '^ok'
poll "/readyz" /readyz '^ready'
poll "the collector in /metrics" /metrics '^villagemetrics_collector_up{collector="incoming"} 1$'
# A county office's export, renamed into the folder as operations.md says.
install -m 0640 -g "$user" tests/data/villages.csv "$state/incoming/.villages.csv.tmp"
mv "$state/incoming/.villages.csv.tmp" "$state/incoming/villages.csv"
poll "the file's samples" /metrics \
  '^village_population{county="Shiqian",town="Wude",village="Taoziyuan"} 3987$'
stop_daemon || fail "the daemon exited $? on SIGTERM"

# --- reinstall over a changed configuration --------------------------------
echo "// changed by package-test" >>"$config"
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i again"; }
tail -n 1 "$config" | grep -q 'changed by package-test' ||
  fail "the changed $config was replaced"
[ -f "$state/incoming/villages.csv" ] || fail "the reinstall lost $state"
run_daemon
poll "the file's samples after the reinstall" /metrics \
  '^village_population{county="Shiqian",town="Wude",village="Taoziyuan"} 3987$'
stop_daemon || fail "the daemon exited $? on SIGTERM"

# --- remove, then purge ----------------------------------------------------
dpkg --remove "$pkg" >/dev/null
[ "$(dpkg-query -W -f='${Status}' "$pkg")" = "deinstall ok config-files" ] ||
  fail "after remove: $(dpkg-query -W -f='${Status}' "$pkg")"
[ -f "$config" ] && [ -d "$state" ] || fail "remove took the configuration or the state"
[ ! -e /usr/sbin/villagemetricsd ] || fail "remove left the binary"
dpkg --purge "$pkg" >/dev/null 2>"$work/purge.log" || { cat "$work/purge.log" >&2; fail "purge"; }
! installed || fail "still known to dpkg after purge"
for f in /etc/villagemetrics "$state" /usr/share/doc/$pkg \
  /etc/systemd/system/$pkg.service \
  /etc/systemd/system/multi-user.target.wants/$pkg.service; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "purge left $f"
done
! getent passwd "$user" >/dev/null || fail "purge left the user $user"
! getent group "$user" >/dev/null || fail "purge left the group $user"
echo "package-test: ok" >&2
