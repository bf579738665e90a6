#!/bin/sh
# bench/run.sh - the exposition benchmark in one command.
#
# Builds villagemetricsd (Release) into build-bench/ when it is missing or
# out of date, then runs bench/exposition.py with the default sizes (10k,
# 100k and 1M series) unless other arguments are given, e.g.
#   bench/run.sh --sizes 10000,100000      # the quick run
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
BENCH_COMMAND="bench/run.sh${*:+ $*}"
export BENCH_COMMAND
exec /usr/bin/python3 "$root/bench/exposition.py" "$@"
