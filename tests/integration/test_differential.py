"""/write against InfluxDB 1.x, case by case.

tests/data/intake/differential/cases.json holds line-protocol bodies;
oracle.json what InfluxDB 1.6 answered to each and what it stored
(recorded by tests/tools/record-influx-oracle.py, which needs influxd;
this test does not).  Each case is replayed against a fresh daemon's
/write and compared on two things:

- the answer: the status code of every request of the case;
- what was kept: the numeric fields InfluxDB stored, mapped by the
  documented rule (measurement_field, names escaped for Prometheus,
  booleans 0/1, strings skipped, the newest value of each series), must
  be exactly the push series on /metrics.

Where they differ, the case must be in deviations.json with what differs
and why, and everything listed there must still differ: a new difference
fails the test, and so does one that went away.
"""

import gzip
import json
import os
import re
import threading
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from harness import DATA, Daemon, TempDir, http_post

HERE = os.path.join(DATA, "intake", "differential")


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def body_of(case):
    """The bytes of a case's body, before any compression."""
    if "body" in case:
        return case["body"].encode("utf-8")
    if "body_bytes" in case:
        return case["body_bytes"].encode("latin-1")
    if "body_parts" in case:
        return b"".join(text.encode("utf-8") * n for text, n in case["body_parts"])
    text, n = case["body_template"]
    return b"".join(text.format(i=i).encode("utf-8") for i in range(n))


def compress(body, mode):
    """The body as the case's `gzip` mode sends it (mtime 0, so that the
    bytes are the same on every run)."""
    def gz(b):
        return gzip.compress(b, mtime=0)
    if mode == "single":
        return gz(body)
    if mode == "members":
        cut = body.index(b"\n") + 1
        return gz(body[:cut]) + gz(body[cut:])
    if mode == "trailing-garbage":
        return gz(body) + b"garbage"
    if mode == "trailing-zeros":
        return gz(body) + b"\0" * 8
    if mode == "truncated":
        whole = gz(body)
        return whole[:len(whole) // 2]
    if mode == "plain":
        return body
    raise ValueError("unknown gzip mode %r" % mode)


def requests_of(case, db):
    """[(path with query, body, headers)]: the case's `before` bodies, then
    its own.  `db` is the database for the case unless it names one (or
    none) itself."""
    query = []
    db = case.get("db", db)
    if db is not None:
        query.append(("db", db))
    if "rp" in case:
        query.append(("rp", case["rp"]))
    if "precision" in case:
        query.append(("precision", case["precision"]))
    path = "/write"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    out = [(path, b.encode("utf-8"), {}) for b in case.get("before", [])]
    body = body_of(case)
    headers = {}
    if "gzip" in case:
        body = compress(body, case["gzip"])
        headers["Content-Encoding"] = "gzip"
    if "content_encoding" in case:
        headers["Content-Encoding"] = case["content_encoding"]
    out.append((path, body, headers))
    return out


# --- the naming rule of docs/configuration.md, "Line protocol as samples" ---

def legacy_char(c, first, colon):
    return (c.isascii() and c.isalpha()) or c == "_" or (colon and c == ":") \
        or (not first and c.isascii() and c.isdigit())


def escape_name(s, label=False):
    """Prometheus 3's value escaping, with names starting U__ escaped too."""
    colon = not label
    if s and not s.startswith("U__") and \
            all(legacy_char(c, i == 0, colon) for i, c in enumerate(s)):
        return s
    out = "U__"
    for i, c in enumerate(s):
        if c == "_":
            out += "__"
        elif legacy_char(c, i == 0, colon):
            out += c
        else:
            out += "_%x_" % ord(c)
    return out


def expected_series(stored):
    """{(metric, frozenset(labels)): value} of what InfluxDB stored: the
    newest numeric value of each field of each series ("now", a point
    stored without a timestamp, is newer than any)."""
    newest = {}
    for measurement, tags, field, value, t in stored:
        if isinstance(value, str):
            continue
        key = (measurement, frozenset(tags.items()), field)
        rank = (1, 0) if t == "now" else (0, t)
        if key not in newest or rank >= newest[key][0]:
            newest[key] = (rank, float(value))
    out = {}
    for (measurement, tags, field), (_, value) in newest.items():
        name = measurement if field == "value" else measurement + "_" + field
        labels = frozenset((escape_name(k, label=True), v) for k, v in tags)
        out[(escape_name(name), labels)] = value
    return out


# --- /metrics, label values with every escape -------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def unescape_label_value(s):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def push_series(text):
    """{(metric, frozenset(labels)): value} of the pushed series of a
    /metrics page (the daemon's own left out)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        name, labels, value = m.groups()
        if name.startswith(("villagemetrics_", "process_")):
            continue
        pairs = LABEL.findall(labels or "")
        out[(name, frozenset((k, unescape_label_value(v)) for k, v in pairs))] = \
            float(value)
    return out


def describe(series, limit=6):
    items = sorted(series.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1])))
    text = ", ".join("%s%s=%g" % (n, dict(sorted(ls)) if ls else "", v)
                     for (n, ls), v in items[:limit])
    if len(items) > limit:
        text += ", ... (%d in all)" % len(items)
    return "{" + text + "}"


class TestDifferential(unittest.TestCase):
    # Daemons start one at a time: free_port() lets the port go before the
    # daemon binds it, and two starting at once could be given the same.
    starting = threading.Lock()

    def replay(self, case, workdir):
        """(statuses, push series) of the case against a fresh daemon."""
        os.makedirs(workdir)
        with self.starting:
            d = Daemon({"collectors": [{"type": "listen", "name": "push"}],
                        "exporters": [{"type": "prometheus"}]}, workdir)
            try:
                d.start()
            except BaseException:
                d.stop()
                raise
        try:
            statuses = [http_post(d.port, path, body, headers)[0]
                        for path, body, headers in requests_of(case, "villages")]
            return statuses, push_series(d.metrics_text())
        finally:
            d.stop()

    def replay_named(self, case, workdir):
        try:
            return self.replay(case, workdir)
        except Exception as e:
            raise AssertionError("case %s: %s" % (case["name"], e)) from e

    def test_write_answers_and_keeps_what_influxdb_does(self):
        cases = load("cases.json")["cases"]
        oracle = load("oracle.json")["cases"]
        listed = {k: v for k, v in load("deviations.json").items()
                  if not k.startswith("_")}
        self.assertEqual(sorted(c["name"] for c in cases), sorted(oracle),
                         "oracle.json is not of this cases.json: record it again")
        self.assertLessEqual(set(listed), set(oracle), "deviations of no case")
        with TempDir() as tmp, ThreadPoolExecutor(4) as pool:
            results = list(pool.map(
                lambda ic: self.replay_named(ic[1], os.path.join(tmp, str(ic[0]))),
                enumerate(cases)))
        problems = []
        for case, (statuses, got) in zip(cases, results):
            name = case["name"]
            want_statuses = [a[0] for a in oracle[name]["answers"]]
            want = expected_series(oracle[name]["stored"])
            differs = []
            if statuses != want_statuses:
                differs.append("answer")
            if got != want:
                differs.append("kept")
            differs = " and ".join(differs) or None
            listed_as = listed.get(name, {}).get("differs")
            if differs != listed_as:
                problems.append(
                    "%s: differs in %s, listed as %s\n"
                    "    InfluxDB answered %s and kept %s\n"
                    "    we answered %s and kept %s"
                    % (name, differs, listed_as,
                       [tuple(a) for a in oracle[name]["answers"]],
                       describe(want), statuses, describe(got)))
        self.assertFalse(problems, "\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
