#!/bin/sh
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# FUZZ_SECONDS (default 20), seeded from tests/data, one target per core at
# a time (each fuzzer is one process on one core: the whole run takes half
# the time on two cores, and no target fuzzes less).  A crash fails the
# run and leaves its input in build-fuzz/crashes/.
set -eu
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
cmake -S . -B build-fuzz -DVG_FUZZ=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p build-fuzz/crashes
for target in build-fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$target")
  corpus=build-fuzz/corpus/$name
  mkdir -p "$corpus"
  case $name in
    fuzz_cfg_doc) cp examples/*.json tests/data/config/*/*.json "$corpus"/ 2>/dev/null || true ;;
    fuzz_csv) cp tests/data/*.csv tests/data/messy/*.csv tests/data/messy/*.tsv "$corpus"/ ;;
    fuzz_lp)
      cp tests/data/*.influx tests/data/intake/valid/*.lp \
        tests/data/intake/malformed/*.lp "$corpus"/ ;;
    fuzz_inflate)
      # Bodies as sent (first byte even), and parts to make members of.
      for f in tests/data/intake/valid/*; do
        { printf '\000'; gzip -c "$f"; } >"$corpus/gz-$(basename "$f")"
        { printf '\005'; cat "$f"; } >"$corpus/members-$(basename "$f")"
      done ;;
    fuzz_pushjson)
      cp tests/data/intake/valid/*.json tests/data/intake/malformed/*.json \
        "$corpus"/ ;;
    fuzz_promtext) cp tests/data/promtext/* "$corpus"/ ;;
    fuzz_prompb) cp tests/data/prompb/* "$corpus"/ ;;
    fuzz_registry) cp tests/data/registry/*.csv "$corpus"/ ;;
    fuzz_journal) cp tests/data/journal-v1/*.seg "$corpus"/ ;;
    fuzz_journal_block) cp tests/data/journal-blocks/* "$corpus"/ ;;
    fuzz_newest)
      # As written, and with the chunks' CRCs made right (odd first byte).
      for f in tests/data/newest/*; do
        printf '\000' | cat - "$f" >"$corpus/as-is-$(basename "$f")"
        printf '\001' | cat - "$f" >"$corpus/crc-$(basename "$f")"
      done ;;
    fuzz_names)
      # Two names a NUL apart: ones the old rule merged.
      printf 'water-tank\000water_tank' >"$corpus/dash"
      printf '\346\260\264\344\275\215\000\346\260\264\351\207\217' >"$corpus/zh"
      printf 'U__x\000x' >"$corpus/prefix" ;;
    fuzz_xlsx)
      for f in tests/data/office/*.xlsx; do
        printf '\001' | cat - "$f" >"$corpus/book-$(basename "$f")"
      done
      # The sheets of the fixtures, alone: the even-byte inputs.
      python3 -c '
import sys, zipfile
for i, path in enumerate(sys.argv[2:]):
    if not zipfile.is_zipfile(path):
        continue
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                with open("%s/sheet-%d-%s" % (sys.argv[1], i, name.split("/")[-1]), "wb") as f:
                    f.write(b"\0" + z.read(name))
' "$corpus" tests/data/office/*.xlsx ;;
    fuzz_xls) cp tests/data/office/*.xls "$corpus"/ ;;
    fuzz_mapping)
      for f in tests/data/*.csv tests/data/messy/*.csv tests/data/office/*.csv; do
        printf '\000' | cat - "$f" >"$corpus/csv-$(basename "$f")"
      done
      for f in tests/data/*.json tests/data/messy/*.json; do
        printf '\001' | cat - "$f" >"$corpus/json-$(basename "$f")"
      done ;;
  esac
done
# xargs exits 123 when any target failed.
# shellcheck disable=SC2016 # expanded by the inner sh
printf '%s\0' build-fuzz/tests/fuzz/fuzz_* |
  SECONDS_EACH=$seconds xargs -0 -P "$(nproc)" -I{} sh -c '
    name=$(basename "$1")
    echo "fuzz: $name for ${SECONDS_EACH}s" >&2
    "$1" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
      -artifact_prefix=build-fuzz/crashes/"$name"- -print_final_stats=0 \
      build-fuzz/corpus/"$name" 2>build-fuzz/"$name".log ||
      { tail -40 build-fuzz/"$name".log >&2; exit 1; }' sh {}
