#!/bin/sh
# bench/run-pull.sh - the pull benchmark in one command.
#
# Builds villagemetricsd (Release) into build-bench/ when it is missing or
# out of date, then runs bench/pull.py (villagemetricsd's http collector
# beside collectd's curl_json, polling the same 1,000 endpoints), e.g.
#   bench/run-pull.sh                  # the full run: about 4 minutes
#   bench/run-pull.sh --window 60      # a shorter window: about 2 minutes
#   bench/run-pull.sh --no-collectd    # the daemon alone, for profiling
# The table goes to stdout and to bench/results/.  Must not: build into any
# other build directory, or run more than two compile jobs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
if ! grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# Incremental: a no-op when the binary is up to date.
cmake --build "$build" -j2 --target villagemetricsd >/dev/null
BENCH_COMMAND="bench/run-pull.sh${*:+ $*}"
export BENCH_COMMAND
exec /usr/bin/python3 "$root/bench/pull.py" "$@"
