#!/bin/sh
# bench/build.sh TARGET... - builds the given targets (Release) into
# build-bench/, for the bench/run-*.sh scripts.  Configures every time
# (a no-op when nothing changed), so that targets added to the CMake files
# since build-bench/ was made are known.  Must not: build into any other
# build directory, or run more than two compile jobs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target "$@" >/dev/null
