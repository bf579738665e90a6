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
"$root/bench/build.sh" bench_promtext
build="$root/build-bench"
exec "$build/bench/bench_promtext" "$@"
