#!/bin/sh
# Builds the Debian package and prints its path:
#   scripts/package.sh [BUILD_DIR]     (default build-deb)
# The build tree is configured for the prefix /usr, which the package needs
# (/etc/villagemetrics, /usr/sbin); only the daemon and the man pages are
# built, not the tests.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-deb}

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target villagemetricsd man >/dev/null
cd "$dir"
rm -f villagemetricsd_*.deb
cpack -G DEB >/dev/null
ls "$PWD"/villagemetricsd_*.deb
