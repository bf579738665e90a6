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
# shellcheck source-path=SCRIPTDIR source=driver.sh
. "$(dirname "$0")/driver.sh"
bench_driver exposition.py villagemetricsd -- "$@"
