#!/bin/sh
# The demo in one command: installs what is missing, builds, writes the
# demo data (every village of Tongren city) and runs the daemon on
# examples/demo.json in the foreground.  /metrics is on
# http://127.0.0.1:9464/metrics (VG_LISTEN=host:port to move it); Ctrl-C
# stops it.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
/usr/bin/python3 examples/generate-demo-data.py examples/demo-data
echo "demo: serving on http://${VG_LISTEN:-127.0.0.1:9464}/metrics (Ctrl-C stops)" >&2
exec ./build/villagemetricsd --config examples/demo.json
