#!/bin/sh
# Regenerates the sections of docs/ made from the daemon's own tables (the
# configuration reference and the indicator catalog), with the binary given
# (default build/villagemetricsd).  tests/integration/test_docs.py fails
# when they are stale.
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/villagemetricsd}
/usr/bin/python3 - "$bin" <<'PY'
import subprocess, sys
binary = sys.argv[1]
for path, flag, tag in (("docs/configuration.md", "--config-reference",
                         "GENERATED REFERENCE"),
                        ("docs/metrics.md", "--metrics-reference",
                         "GENERATED CATALOG")):
    out = subprocess.run([binary, flag], capture_output=True, text=True,
                         check=True).stdout
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = "<!-- BEGIN %s -->" % tag, "<!-- END %s -->" % tag
    i = text.index(begin) + len(begin) + 1
    text = text[:i] + out + text[text.index(end):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
PY
