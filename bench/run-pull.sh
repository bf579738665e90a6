#!/bin/sh
# bench/run-pull.sh - the pull benchmark in one command.
#
# Builds villagemetricsd (Release) into build-bench/ when it is missing or
# out of date, then runs bench/pull.py (villagemetricsd's http collector
# beside collectd's curl_json, polling the same 1,000 endpoints, then the
# daemon alone), e.g.
#   bench/run-pull.sh                  # the full run: about 7 minutes
#   bench/run-pull.sh --window 60 --alone-window 0   # about 2 minutes
#   bench/run-pull.sh --no-collectd    # the daemon alone, for profiling
# The table goes to stdout and to bench/results/.  Must not: build into any
# other build directory, or run more than two compile jobs.
set -eu
# shellcheck source-path=SCRIPTDIR source=driver.sh
. "$(dirname "$0")/driver.sh"
bench_driver pull.py villagemetricsd -- "$@"
