#!/usr/bin/python3
"""Records InfluxDB 1.x's answers to the differential corpus.

Usage: python3 tests/tools/record-influx-oracle.py

Starts Debian's influxd on free loopback ports in a temporary directory,
and for each case of tests/data/intake/differential/cases.json creates a
database of its own (so that field types of one case do not conflict with
another's), POSTs the case's bodies to /write as
tests/integration/test_differential.py replays them, and records each
answer (status, error) and every value the database then holds.  Writes
tests/data/intake/differential/oracle.json.

Run by hand when cases.json changes; the test replays the file and needs
no influxd.  Standard library only.
"""

import json
import os
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import InfluxDB, TempDir, http_get, http_post  # noqa: E402
from test_differential import HERE, load, requests_of  # noqa: E402


# InfluxDB quotes the whole bad line in its error: long lines are cut.
ERROR_MAX = 240


def query(ix, q, db):
    params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"})
    status, _, body = http_get(ix.port, "/query?" + params)
    answer = json.loads(body)
    if status != 200 or any("error" in r for r in answer["results"]):
        raise RuntimeError("%s: %s" % (q, body))
    return answer["results"][0].get("series", [])


def stored(ix, db, t0, t1):
    """[[measurement, {tags}, field, value, time]] of every value in db,
    sorted; time is "now" when it lies within the case's requests (a point
    sent without a timestamp), so that the file is the same on every
    run."""
    rows = []
    for s in query(ix, "SELECT * FROM /.*/ GROUP BY *", db):
        columns = s["columns"]
        # GROUP BY * gives a series without a tag the measurement has
        # elsewhere that tag as "": a tag value can never be empty.
        tags = {k: v for k, v in s.get("tags", {}).items() if v != ""}
        for values in s["values"]:
            t = values[0]
            when = "now" if t0 <= t <= t1 else t
            for field, v in zip(columns[1:], values[1:]):
                if v is not None:
                    rows.append([s["name"], tags, field, v, when])
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    return rows


def record_case(ix, i, case):
    db = "case%03d" % i
    query(ix, "CREATE DATABASE %s" % db, db)
    answers = []
    t0 = time.time_ns() - 10**9
    for path, body, headers in requests_of(case, db):
        status, _, text = http_post(ix.port, path, body, headers)
        error = json.loads(text)["error"] if text.strip() else None
        if error and len(error) > ERROR_MAX:
            error = error[:ERROR_MAX] + "... (%d characters)" % len(error)
        answers.append([status, error])
    t1 = time.time_ns() + 10**9
    rows = stored(ix, db, t0, t1)
    query(ix, "DROP DATABASE %s" % db, db)
    return {"answers": answers, "stored": rows}


def dump(oracle):
    """One line per answer list and per stored value: diffs stay small."""
    out = ['{\n "_about": %s,\n "influxdb": %s,\n "cases": {'
           % (json.dumps(oracle["_about"]), json.dumps(oracle["influxdb"]))]
    items = []
    for name, c in oracle["cases"].items():
        rows = "".join(",\n   " + json.dumps(r, ensure_ascii=False)
                       for r in c["stored"])
        items.append('\n  %s: {"answers": %s, "stored": [%s]}'
                     % (json.dumps(name), json.dumps(c["answers"], ensure_ascii=False),
                        rows[1:] + ("\n  " if rows else "")))
    out.append(",".join(items))
    out.append("\n }\n}\n")
    return "".join(out)


def main():
    cases = load("cases.json")["cases"]
    with TempDir() as tmp:
        ix = InfluxDB(tmp)
        try:
            version = http_get(ix.port, "/ping")[1].get("x-influxdb-version")
            results = {}
            for i, case in enumerate(cases):
                results[case["name"]] = record_case(ix, i, case)
                print("%-40s %.160s" % (case["name"], results[case["name"]]["answers"]))
        finally:
            ix.stop()
    oracle = {
        "_about": "InfluxDB's answers to cases.json, recorded by "
                  "tests/tools/record-influx-oracle.py: per case the "
                  "[status, error] of each request (errors cut after "
                  "%d characters), then every value the "
                  "database held afterwards as [measurement, tags, field, "
                  "value, time in ns or \"now\"]." % ERROR_MAX,
        "influxdb": "influxd " + (version or "unknown"),
        "cases": results,
    }
    text = dump(oracle)
    json.loads(text)
    with open(os.path.join(HERE, "oracle.json"), "w", encoding="utf-8") as f:
        f.write(text)
    print("%d cases recorded" % len(results))


if __name__ == "__main__":
    main()
