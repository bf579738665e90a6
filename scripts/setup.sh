#!/bin/sh
# Installs, with apt-get, whatever the build, the demo and the tests need and
# this machine lacks.  Idempotent: when everything is present it only runs
# dpkg-query and returns at once.  Services that Debian's packages would start
# on their own (prometheus, influxdb, ...) are kept from starting: the tests
# start their own instances on free loopback ports.  chromium renders the
# status page in tests/integration/test_status_page.py; the font gives its
# screenshots the Chinese names of villages rather than empty boxes.
set -eu

# systemd for systemd-analyze (the unit's checks; nothing starts it in a
# container), file for cpack's dpkg-shlibdeps, man-db and mandoc for the
# man pages' checks.  collectd-core is the pull benchmark's peer; its
# curl_json plugin needs libyajl2, which Debian only recommends.  gnumeric
# brings ssconvert, the office software that saves the workbook fixtures
# (tests/tools/make-office-fixtures.sh) and the integration test's
# workbooks.  nodejs and npm run tests/tools/validate-dashboards.js, which
# checks the dashboards against Grafana's dashboard model (@grafana/schema,
# installed from npm below, at the versions tests/tools/package-lock.json
# pins).
packages="build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libcurl4-openssl-dev libcjson-dev libmicrohttpd-dev zlib1g-dev
  libsnappy-dev libzstd-dev libzip-dev libexpat1-dev libfreexl-dev
  python3 curl ca-certificates valgrind clang-format
  prometheus prometheus-pushgateway influxdb influxdb-client
  victoria-metrics
  chromium fonts-wqy-microhei systemd file man-db mandoc gnumeric
  collectd-core libyajl2 nodejs"

missing=""
for p in $packages; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    "install ok installed") ;;
    *) missing="$missing $p" ;;
  esac
done
# Debian packages npm apart from nodejs; NodeSource's nodejs brings its own
# and conflicts with Debian's.
command -v npm >/dev/null || missing="$missing npm"
# The dashboard model, into tests/tools/node_modules (not committed): once,
# and again when the lock file changes.
npm_tools() {
  tools=$(dirname "$0")/../tests/tools
  if [ ! -e "$tools/node_modules/.package-lock.json" ] ||
    [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in tests/tools" >&2
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

if [ -z "$missing" ]; then
  npm_tools
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages:$missing; run this script as root" >&2
  exit 1
fi
echo "setup: installing$missing" >&2

# Keep daemons installed as dependencies from starting: on a machine without
# systemd their init scripts would grab ports such as 9090 that the tests
# expect to find free.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=yes
fi
trap '[ -n "$created_policy" ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
npm_tools
