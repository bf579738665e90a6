#!/bin/sh
# The whole test suite, as CI runs it (.ci/run calls this and nothing else):
#   1. installs what is missing (scripts/setup.sh),
#   2. builds with gcc and runs the unit tests and the integration tests
#      (the real daemon against a real Prometheus and promtool),
#   3. builds with ASan+UBSan and runs both again,
#   4. runs the unit tests and the daemon's integration tests under valgrind,
#   5. builds the benchmarks' programs, and with clang fuzzes every parser
#      for a while,
#   6. builds the Debian package, installs, runs and purges it,
#   7. checks that the C sources are clang-formatted.
# The last line is "N passed, N failed" over the steps.
set -u
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1

jobs=$(nproc)
passed=0
failed=0
failed_steps=""
step() {
  name=$1
  shift
  echo "=== $name" >&2
  start=$(date +%s)
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($(($(date +%s) - start))s)" >&2
  else
    failed=$((failed + 1))
    failed_steps="$failed_steps $name"
    echo "=== $name: FAILED ($(($(date +%s) - start))s)" >&2
  fi
}

build() { # dir, cmake options...
  dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" >/dev/null
}

unit() { # build dir
  (cd "$1" && ctest --output-on-failure -j"$jobs")
}

integration() { # binary, extra run.py arguments...
  binary=$1
  shift
  VG_BINARY=$binary /usr/bin/python3 tests/integration/run.py "$@"
}

valgrind_unit() { # each test binary, from tests/data like ctest runs it
  # The .xls reader is the daemon's program (tests/CMakeLists.txt); a
  # test's deadline (tests/vgtest.h) is ten times as long under valgrind.
  export VG_XLS_READER="$PWD/build/villagemetricsd" VG_SLOW=10
  # One valgrind per core (each runs its program on one thread at a time);
  # xargs exits 123 when any failed.
  # shellcheck disable=SC2016 # expanded by the inner sh
  printf '%s\0' "$PWD"/build/tests/test_* |
    xargs -0 -P "$jobs" -I{} sh -c '
      log=$(dirname "$(dirname "$1")")/valgrind-$(basename "$1").log
      (cd tests/data && valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --child-silent-after-fork=no \
        "$1" >"$log.out" 2>"$log") || {
        rc=$?
        # The log first, then what failed: the end of the output is what
        # a CI page shows, and valgrind'\''s leak records can be long.
        cat "$log" >&2
        grep "^not ok" "$log.out" >&2
        grep -E "^[^=].*:[0-9]+: " "$log" >&2
        echo "valgrind: $1 failed (exit $rc; 99 is an error valgrind found)" >&2
        exit 1
      }' sh {}
}

format_check() {
  # shellcheck disable=SC2046
  clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null ||
    find daemon collectors exporters tests -name '*.[ch]')
}

step build-gcc build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
step unit-gcc unit build
step integration-gcc integration "$PWD/build/villagemetricsd"
step build-asan build build-asan -DVG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
step unit-asan unit build-asan
# The hierarchy test's outages are shorter where everything runs slower.
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 VG_SLOW=3 \
  VG_OUTAGE_S=15
step integration-asan integration "$PWD/build-asan/villagemetricsd"
unset ASAN_OPTIONS UBSAN_OPTIONS VG_OUTAGE_S
step unit-valgrind valgrind_unit
# The daemon under valgrind: every test but the Prometheus ones.
export VG_SLOW=10 VG_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite"
step integration-valgrind integration "$PWD/build/villagemetricsd" \
  test_daemon.TestFiles test_daemon.TestLifecycle test_daemon.TestExamples \
  test_daemon.TestCommandLine
unset VG_SLOW VG_WRAPPER
# The main build is -O3 with link-time optimisation, as the benchmarks'
# Release build is (CMakeLists.txt), so its warnings are theirs: a Release
# build of its own would compile the same code with the same flags.
step build-bench cmake --build build -j"$jobs" --target bench_programs
step fuzz ./scripts/fuzz.sh
# The Debian package installed, run by hand, upgraded and purged (as root).
step package ./scripts/package-test.sh
step clang-format format_check

[ -n "$failed_steps" ] && echo "failed steps:$failed_steps" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
