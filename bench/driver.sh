# shellcheck shell=sh
# bench/driver.sh - sourced by bench/run.sh, run-push.sh, run-pull.sh and
# run-intake.sh: what each does once it has named its driver and targets.
#
#   bench_driver DRIVER TARGET... -- ARG...
#
# builds the targets (Release) into build-bench/ through bench/build.sh,
# then replaces the shell with python3 bench/DRIVER ARG..., BENCH_COMMAND
# naming the command as it was typed (the table's "command" line).  Must
# not: build into any other build directory, or run more than two compile
# jobs (bench/build.sh holds to both).
bench_root=$(cd "$(dirname "$0")/.." && pwd)

bench_driver() {
  driver=$1
  shift
  targets=
  while [ "$1" != "--" ]; do
    targets="$targets $1"
    shift
  done
  shift
  # shellcheck disable=SC2086 # the targets are words
  "$bench_root/bench/build.sh" $targets
  BENCH_COMMAND="bench/$(basename "$0")${*:+ $*}"
  export BENCH_COMMAND
  exec /usr/bin/python3 "$bench_root/bench/$driver" "$@"
}
