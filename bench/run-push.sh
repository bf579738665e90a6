#!/bin/sh
# bench/run-push.sh - the push benchmark in one command.
#
# Builds villagemetricsd (Release) into build-bench/ when it is missing or
# out of date, then runs bench/push.py (journal throughput, remote-write
# drain, and villagemetricsd beside vmagent and the Prometheus agent), e.g.
#   bench/run-push.sh            # the full run: about 9 minutes
#   bench/run-push.sh --quick    # about 4 minutes
# The table goes to stdout and to bench/results/.  Must not: build into any
# other build directory, or run more than two compile jobs.
set -eu
# shellcheck source-path=SCRIPTDIR source=driver.sh
. "$(dirname "$0")/driver.sh"
bench_driver push.py villagemetricsd -- "$@"
