#!/bin/sh
# bench/run-promtext.sh - the exposition text parser's throughput.
#
# Builds bench/promtext.c (Release) into build-bench/ and runs it on a page
# of about N sample lines (default 200000):
#   bench/run-promtext.sh [N]
# Must not: build into any other build directory, or run more than two
# compile jobs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
if ! grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target bench_promtext >/dev/null
exec "$build/bench_promtext" "$@"
