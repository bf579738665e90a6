#!/bin/sh
# bench/run-intake.sh - the push-intake benchmark in one command.
#
# Builds villagemetricsd and the parser bench (bench/lp_parse_bench.c,
# Release) into build-bench/ when missing or out of date, then runs
# bench/intake.py (line protocol over HTTP into villagemetricsd, vmagent and
# VictoriaMetrics, and the parser alone), e.g.
#   bench/run-intake.sh              # 1M series, 10M lines
#   bench/run-intake.sh --quick      # 100k series, 1M lines: about 2 minutes
#   bench/run-intake.sh --quick --profile   # (a) alone under perf
#   bench/run-intake.sh --series 20000 --instructions  # (a) under callgrind
#   bench/run-intake.sh --stages     # and (a)'s CPU by stage (store, journal)
# The table goes to stdout and to bench/results/.  Must not: build into any
# other build directory, or run more than two compile jobs.
set -eu
# shellcheck source-path=SCRIPTDIR source=driver.sh
. "$(dirname "$0")/driver.sh"
bench_driver intake.py villagemetricsd lp_parse_bench -- "$@"
