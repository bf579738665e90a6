#!/bin/sh
# bench/run-hostile.sh - hostile and careless pushes, in one command.
#
# Builds villagemetricsd (Release) into build-bench/ when missing or out of
# date, then runs bench/hostile.py: the memory each memory-amplifying body
# costs (peak and resident, from /proc), /healthz latency (p50, p99, max)
# while a 1M-sample push is taken, and a small push's latency during eight
# gzip bombs, e.g.
#   bench/run-hostile.sh
#   bench/run-hostile.sh --binary /path/to/an/older/villagemetricsd
#   bench/run-hostile.sh --only healthz --samples 2000000
# Not part of the tests: the figures are reported, never asserted.  Must
# not: build into any other build directory, or run more than two compile
# jobs.
set -eu
# shellcheck source-path=SCRIPTDIR source=driver.sh
. "$(dirname "$0")/driver.sh"
bench_driver hostile.py villagemetricsd -- "$@"
