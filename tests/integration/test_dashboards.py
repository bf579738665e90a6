"""The Grafana dashboards and the Prometheus rules of dashboards/.

Grafana itself is not in Debian, so this is what proves the dashboards
work: promtool checks and unit-tests the rules; then the daemon runs the
demo, scraped by a real Prometheus with the rules loaded (and, apart, pushing
to a real InfluxDB), and every query of every panel of every dashboard --
rows and collapsed rows included -- runs against Prometheus or InfluxDB
with the variables substituted as Grafana would, and must return data.  The
files themselves are checked too: valid JSON, panel ids and grid positions,
every datasource uid provisioned, every variable used defined, every
drill-down link pointing at a dashboard and variables that exist.
"""

import concurrent.futures
import csv
import glob
import io
import json
import math
import os
import re
import subprocess
import sys
import unittest
import urllib.parse

from harness import (EXAMPLES, ROOT, Daemon, InfluxDB, Prometheus, ScriptedReceiver,
                     TempDir, copy_demo_files, find, http_get, wait_for)

DASHBOARDS = os.path.join(ROOT, "dashboards")
RULES = os.path.join(DASHBOARDS, "rules")
PROVISIONED = os.path.join(DASHBOARDS, "provisioning", "datasources", "villagemetrics.yaml")

# What the dashboards' variables are set to besides "All": a town of the
# demo, the town TestPrometheusDashboards silences three villages of and
# adds a village with bad cells to.  "influx-strict" is its exporter that
# drops samples (max_age 1ms), so that "Dropped by reason" has something
# to show.
PICK = {"county": "Shiqian", "town": "Wude", "village": "Taoziyuan",
        "collector": "villages", "exporter": "influx-strict"}
SILENCED = ["Baichong", "Meizhuang", "Longpu"]
# A report for a new village of Wude: households is not a number, safe
# water is 130 %; only population, income and the coordinates count.
BAD_REPORT = {"code": "522205001900", "county": "Shiqian", "town": "Wude",
              "village": "Xinzhai", "village_zh": "新寨村", "lat": "27.36",
              "lon": "108.96", "as_of": "2019-12-31", "population": "1200",
              "households": "3x0", "water_safe_households_ratio": "1.3",
              "income_per_capita_yuan": "5000"}

# Grafana's built-in variables as Grafana sets them for the last hour with
# the provisioned datasources, whose timeInterval (the scrape interval) is
# 1m: $__interval is at least that, $__rate_interval four times it.
PROM_BUILTINS = {"__rate_interval": "4m", "__interval": "1m", "__range": "1h",
                 "__range_s": "3600", "__range_ms": "3600000"}
INFLUX_BUILTINS = {"timeFilter": "time >= now() - 1h", "__interval": "1m"}
# Variables Grafana defines itself (data links, InfluxDB aliases).
BUILTIN = re.compile(r"^(__\w+|timeFilter|tag_\w+|col|m|measurement)$")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)(?::[\w-]+)?\]\]")


def dashboards():
    """{file name: dashboard} of every dashboard JSON."""
    out = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def all_panels(panels):
    """Every panel, those inside rows (collapsed or not) included."""
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def strings(node, key=None):
    """(key, string) of every string in a JSON tree, with the key it is under."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, key)
    elif isinstance(node, str):
        yield key, node


def provisioned_datasources():
    """{uid: type} from the provisioning file (parsed by hand: no YAML
    module in the standard library; the file is a flat list)."""
    out, uid, kind = {}, None, None
    with open(PROVISIONED, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line.startswith("- name:") and uid:
                out[uid], uid, kind = kind, None, None
            m = re.match(r"(?:- )?(uid|type):\s*(\S+)$", line)
            if m and m.group(1) == "uid":
                uid = m.group(2)
            elif m:
                kind = m.group(2)
    if uid:
        out[uid] = kind
    return out


def prom_escape(value):
    """A value as Grafana puts it in a PromQL regex: metacharacters escaped
    with a backslash that the PromQL string keeps."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def influx_escape(value):
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", value)


def substitute(text, values, escape, builtins):
    """Grafana's interpolation: `values` maps a variable to a list of
    values (["$__all"] for All, which is every variable's allValue, .*) or,
    for a custom variable, its one value."""
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in builtins:
            return builtins[name]
        v = values[name]
        if isinstance(v, str):
            return v
        if v == ["$__all"]:
            return ".*"
        if len(v) == 1:
            return escape(v[0])
        return "(" + "|".join(escape(x) for x in v) + ")"
    return VARIABLE.sub(one, text)


class TestRules(unittest.TestCase):
    def test_promtool_check_rules(self):
        r = subprocess.run(["promtool", "check", "rules", "recording.yml", "alerts.yml"],
                           cwd=RULES, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 48 rules found", r.stdout)
        self.assertIn("SUCCESS: 11 rules found", r.stdout)

    def test_promtool_unit_tests(self):
        tests = sorted(os.path.basename(p) for p in
                       glob.glob(os.path.join(RULES, "tests", "*.yml")))
        self.assertEqual(tests, ["alerts_test.yml", "last_report_test.yml",
                                 "recording_test.yml"])
        r = subprocess.run(["promtool", "test", "rules"] + tests,
                           cwd=os.path.join(RULES, "tests"), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("SUCCESS"), len(tests), r.stdout)

    def test_every_rule_and_alert_is_unit_tested(self):
        with open(os.path.join(RULES, "recording.yml")) as f:
            recorded = re.findall(r"^\s+- record: (\S+)$", f.read(), re.M)
        with open(os.path.join(RULES, "alerts.yml")) as f:
            alerts = re.findall(r"^\s+- alert: (\S+)$", f.read(), re.M)
        tested = ""
        for path in glob.glob(os.path.join(RULES, "tests", "*.yml")):
            with open(path) as f:
                tested += f.read()
        self.assertEqual(len(recorded), 48)
        self.assertEqual(len(alerts), 11)
        self.assertEqual([r for r in recorded if "expr: %s\n" % r not in tested], [])
        self.assertEqual([a for a in alerts if "alertname: %s\n" % a not in tested], [])


class TestDashboardFiles(unittest.TestCase):
    def test_the_dashboards(self):
        self.assertEqual(sorted(dashboards()), [
            "daemon-health.json", "data-freshness.json",
            "village-progress-influxdb.json", "village-progress.json"])

    def test_ids_and_grid(self):
        uids = set()
        for name, d in dashboards().items():
            self.assertGreaterEqual(d["schemaVersion"], 37, name)
            self.assertNotIn(d["uid"], uids)
            uids.add(d["uid"])
            ids = [p["id"] for p in all_panels(d["panels"])]
            self.assertEqual(len(ids), len(set(ids)), "%s: panel ids repeat" % name)
            # Grafana lays out the top level, and the panels of a collapsed
            # row when it opens: neither may overlap or leave the 24 columns.
            layers = [d["panels"]] + [p["panels"] for p in d["panels"]
                                      if p["type"] == "row" and p["collapsed"]]
            for panels in layers:
                cells = {}
                for p in panels:
                    g = p["gridPos"]
                    self.assertLessEqual(g["x"] + g["w"], 24, (name, p["title"]))
                    for x in range(g["x"], g["x"] + g["w"]):
                        for y in range(g["y"], g["y"] + g["h"]):
                            self.assertNotIn((x, y), cells, "%s: %r overlaps %r" % (
                                name, p["title"], cells.get((x, y))))
                            cells[(x, y)] = p["title"]
            for p in all_panels(d["panels"]):
                if p["type"] != "row":
                    self.assertTrue(p.get("targets"), (name, p["title"]))
                    self.assertTrue(p.get("description"), (name, p["title"]))

    def test_every_datasource_is_provisioned(self):
        provisioned = provisioned_datasources()
        self.assertEqual(provisioned, {"villagemetrics-prometheus": "prometheus",
                                       "villagemetrics-influxdb": "influxdb"})
        for name, d in dashboards().items():
            used = []

            def walk(node):
                if isinstance(node, dict):
                    if "datasource" in node:
                        used.append(node["datasource"])
                    for v in node.values():
                        walk(v)
                elif isinstance(node, list):
                    for v in node:
                        walk(v)
            walk(d)
            self.assertTrue(used, name)
            for ds in used:
                self.assertIsInstance(ds, dict, "%s: datasource by name" % name)
                self.assertEqual(provisioned.get(ds["uid"]), ds["type"], (name, ds))
            # One datasource per dashboard.
            self.assertEqual(len({ds["uid"] for ds in used}), 1, name)

    def test_every_variable_used_is_defined(self):
        for name, d in dashboards().items():
            defined = {v["name"] for v in d["templating"]["list"]}
            used = set()
            for key, s in strings(d["panels"]):
                for m in VARIABLE.finditer(s):
                    used.add(m.group(1) or m.group(2) or m.group(3))
            for v in d["templating"]["list"]:
                for key, s in strings(v.get("query")):
                    for m in VARIABLE.finditer(s):
                        used.add(m.group(1) or m.group(2) or m.group(3))
            used = {u for u in used if not BUILTIN.match(u)}
            self.assertEqual(used - defined, set(), name)
            self.assertEqual(defined - used, set(), "%s: variables never used" % name)

    def test_every_self_metric_is_on_a_dashboard(self):
        """docs/metrics.md says so."""
        with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
            doc = f.read()
        own = doc[doc.index("## The daemon's own metrics"):doc.index("## Alerts")]
        names = re.findall(r"^\| `(\w+)` \|", own, re.M)
        self.assertGreater(len(names), 30)
        text = "".join(json.dumps(d) for d in dashboards().values())
        self.assertEqual([n for n in names if not re.search(r"\b%s\b" % n, text)], [])

    def test_drill_down_links(self):
        ds = dashboards()
        by_uid = {d["uid"]: d for d in ds.values()}
        links = 0
        for name, d in ds.items():
            for key, s in strings(d["panels"]):
                if key != "url":
                    continue
                m = re.match(r"^/d/([\w-]+)/[\w-]+\?(.*)$", s)
                self.assertTrue(m, (name, s))
                target = by_uid[m.group(1)]
                defined = {v["name"] for v in target["templating"]["list"]}
                for part in m.group(2).split("&"):
                    if part.startswith("var-"):
                        self.assertIn(part[4:].split("=")[0], defined, (name, s))
                    else:
                        self.assertRegex(part, r"^\$\{(__url_time_range|indicator:queryparam)\}$")
                links += 1
        # county, town and village links in each area of both progress
        # dashboards, and the county table's.
        self.assertEqual(links, 2 * (6 * 3 + 1))


# The indicators of the progress dashboards and what each is weighted by.
WEIGHTS = {"water_safe_households_ratio": "households",
           "road_household_access_ratio": "households",
           "signal_4g_coverage_ratio": "population",
           "power_households_ratio": "households",
           "income_per_capita_yuan": "population",
           "poverty_incidence_ratio": "population"}


def county_rollups(rows):
    """{(county, column): sum(value × weight) / sum(weight)} over CSV rows,
    a row left out of an indicator when its value or weight is blank, not
    a number, or a share outside 0..1 (what the daemon rejects)."""
    sums = {}
    for row in rows:
        for column, weight in WEIGHTS.items():
            try:
                v, w = float(row[column]), float(row[weight])
            except ValueError:
                continue
            if column.endswith("_ratio") and not 0 <= v <= 1:
                continue
            num, den = sums.get((row["county"], column), (0.0, 0.0))
            sums[(row["county"], column)] = (num + v * w, den + w)
    return {k: num / den for k, (num, den) in sums.items()}


class ServersTest(unittest.TestCase):
    """The demo through the daemon into a real server; subclasses start()
    what they need and say which dashboards they run."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.tmp = cls._tmp.__enter__()
        cls.stops = []
        cls.daemon_exit = None
        try:
            subprocess.run([sys.executable, os.path.join(EXAMPLES, "generate-demo-data.py"),
                            cls.data()], check=True, stderr=subprocess.DEVNULL)
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for stop in reversed(cls.stops):
            stop()
        cls._tmp.__exit__(None, None, None)
        if cls.daemon_exit:
            raise AssertionError("the daemon exited %d:\n%s" % cls.daemon_exit)

    @classmethod
    def data(cls):
        return os.path.join(cls.tmp, "demo-data")

    @classmethod
    def start_daemon(cls, exporters):
        """The demo configuration, with push exporters and the push
        endpoints in conf.d/."""
        os.makedirs(os.path.join(cls.tmp, "conf.d"))
        with open(os.path.join(cls.tmp, "conf.d", "push.json"), "w") as f:
            json.dump({"exporters": exporters,
                       "collectors": [{"type": "listen", "name": "push"}]}, f)
        copy_demo_files(cls.tmp)
        cls.daemon = Daemon(os.path.join(EXAMPLES, "demo.json"), cls.tmp).start()

        def stop():
            # A sanitizer's report makes the exit code non-zero.
            code, _ = cls.daemon.stop()
            if code != 0:
                cls.daemon_exit = (code, cls.daemon.logs())
        cls.stops.append(stop)

    def demo_rows(self):
        rows = []
        for path in glob.glob(os.path.join(self.data(), "*.csv")):
            with open(path, encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
        return rows

    def assignments(self, d, options, escape, builtins):
        """The variable settings to try: every query variable All; the
        PICK values (each checked to be among its variable's options, the
        variables chained as Grafana chains them); and two values of the
        first variable at once, its PICK value and another."""
        chain = [v for v in d["templating"]["list"] if v["type"] == "query"]

        def resolve(pick, multi=False):
            values = {}
            for i, v in enumerate(chain):
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                opts = options(substitute(q, values, escape, builtins))
                self.assertTrue(opts, "variable %s has no values: %s" % (v["name"], q))
                if multi and i == 0:
                    want = pick.get(v["name"], opts[0])
                    values[v["name"]] = [want] + [o for o in opts if o != want][:1]
                elif multi or pick is None:
                    values[v["name"]] = ["$__all"]
                else:
                    want = pick.get(v["name"], opts[0])
                    self.assertIn(want, opts, v["name"])
                    values[v["name"]] = [want]
            return values
        return [resolve(None), resolve(PICK), resolve(PICK, multi=True)]

    def queries(self, d, field, escape, builtins, options):
        """(where, query) of every target of every panel with every variable
        setting; a target that uses a custom variable once per its values.
        A query that comes out the same as one before (it does not use the
        variables that changed) is not run again."""
        customs = [v for v in d["templating"]["list"] if v["type"] == "custom"]
        seen = set()
        for values in self.assignments(d, options, escape, builtins):
            for p in all_panels(d["panels"]):
                for t in p.get("targets", []):
                    text = t[field]
                    settings = [{}]
                    for c in customs:
                        if re.search(r"\$\{?%s\b" % c["name"], text):
                            settings = [dict(s, **{c["name"]: o["value"]})
                                        for s in settings for o in c["options"]]
                    for extra in settings:
                        v = dict(values, **extra)
                        query = substitute(text, v, escape, builtins)
                        if query in seen:
                            continue
                        seen.add(query)
                        yield ("%s: panel %d %r, query %s, variables %r:\n%s" % (
                            d["title"], p["id"], p["title"], t["refId"], v, query), query)

    def run_all(self, fn, queries):
        """fn over (where, query) pairs, two at a time (the server uses both
        cores); (where, fn's answer) in order."""
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda wq: fn(wq[1]), queries))
        return [(w, a) for (w, _), a in zip(queries, answers)]


class TestPrometheusDashboards(ServersTest):
    """The daemon on the demo, scraped by Prometheus with the rules, pushing
    to a receiver that takes everything (one exporter) and refusing what
    is older than 1 ms (the other); three villages then fall silent and a
    report with bad cells arrives, as in life."""

    @classmethod
    def start(cls):
        receiver = ScriptedReceiver("/write", [])
        cls.stops.append(receiver.stop)
        url = "http://127.0.0.1:%d" % receiver.port
        cls.start_daemon([
            {"type": "influxdb", "name": "influx", "version": 1, "url": url,
             "database": "villages", "flush_interval": "100ms"},
            {"type": "influxdb", "name": "influx-strict", "version": 1, "url": url,
             "database": "villages", "max_age": "1ms", "flush_interval": "100ms"}])
        cls.prom = Prometheus(
            cls.tmp, [cls.daemon.port], evaluation_interval="1s",
            extra_yaml="rule_files:\n  - %s\n  - %s\n" % (
                os.path.join(RULES, "recording.yml"), os.path.join(RULES, "alerts.yml")))
        cls.stops.append(cls.prom.stop)
        prom = cls.prom
        wait_for("the demo recorded by the rules",
                 lambda: prom.scalar("count(village:indicators:count)") == 2600, timeout=60)

        # Three villages of Wude leave their county's file; a report with a
        # new village and two bad cells arrives.
        path = os.path.join(cls.data(), "Shiqian.csv")
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\r\n")
        kept = [l for l in lines if not any(",Wude,%s," % v in l for v in SILENCED)]
        assert len(kept) == len(lines) - 3
        cls.write_atomically(path, "\r\n".join(kept))
        # The office adds the new village to the registry first (which
        # reloads the daemon), or its rows are unknown_village.
        registry = os.path.join(cls.data(), "registry", "tongren.csv")
        with open(registry, encoding="utf-8") as f:
            text = f.read()
        cls.write_atomically(registry, text + "%s,Shiqian,Wude,%s,石阡县,五德镇,%s,,,,,\n" % (
            BAD_REPORT["code"], BAD_REPORT["village"], BAD_REPORT["village_zh"]))
        wait_for("the registry with the new village", lambda: json.loads(
            http_get(cls.daemon.port, "/api/v1/status")[2])["config"]["registry"]
            ["villages"] == 2601)
        out = io.StringIO()
        w = csv.DictWriter(out, lines[0].split(","), lineterminator="\n")
        w.writeheader()
        w.writerow(BAD_REPORT)
        cls.write_atomically(os.path.join(cls.data(), "field-report.csv"), out.getvalue())

        silent = ("count(village:last_report_timestamp_seconds unless on "
                  "(job, city, county, town, village) village:indicators:count)")
        wait_for("silent villages", lambda: prom.scalar(silent) == 3, timeout=60)
        wait_for("the new village", lambda: prom.scalar("count(village:indicators:count)")
                 == 2600 - 3 + 1, timeout=60)
        wait_for("rejections scraped", lambda: prom.scalar(
            "sum(villagemetrics_rejected_values_total)") == 2, timeout=60)
        wait_for("the new samples dropped as too old, scraped", lambda: prom.scalar(
            'increase(villagemetrics_exporter_dropped_samples_total'
            '{exporter="influx-strict",reason="too_old"}[1h]) > 0'), timeout=60)

    @classmethod
    def write_atomically(cls, path, text):
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)

    def query(self, expr):
        q = urllib.parse.urlencode({"query": expr})
        # A query over every village takes seconds on a loaded machine.
        status, _, body = http_get(self.prom.port, "/api/v1/query?" + q, timeout=60)
        answer = json.loads(body)
        self.assertEqual((status, answer["status"]), (200, "success"), (expr, answer))
        return answer["data"]["result"]

    def label_values(self, query):
        """Grafana's label_values(series, label): the label's values among
        the matching series."""
        m = re.match(r"^label_values\((.+),\s*(\w+)\)$", query)
        self.assertTrue(m, query)
        q = urllib.parse.urlencode({"match[]": m.group(1)})
        status, _, body = http_get(self.prom.port, "/api/v1/series?" + q, timeout=60)
        self.assertEqual(status, 200, body)
        return sorted({s[m.group(2)] for s in json.loads(body)["data"] if m.group(2) in s})

    def test_every_panel_returns_data(self):
        queries = []
        for name, d in dashboards().items():
            if d["templating"]["list"][0]["datasource"]["type"] == "prometheus":
                queries += self.queries(d, "expr", prom_escape, PROM_BUILTINS,
                                        self.label_values)
        for where, result in self.run_all(self.query, queries):
            self.assertTrue(result, "no data from " + where)
            self.assertTrue([r for r in result if not math.isnan(float(r["value"][1]))],
                            "only NaN from " + where)
        # Distinct queries: the 123 targets of the three dashboards with
        # every variable All, the map's in each of its 6 colours (+5), and
        # again each one that uses a variable with the picked values and
        # with several.
        self.assertEqual(len(queries), 315)

    def test_merged_queries_have_the_same_labels(self):
        """A table that merges several queries into one row per county (or
        collector, or village) needs the same labels from each, and no
        metric name, which differs between them and would keep the rows
        apart."""
        merged = 0
        for name, d in dashboards().items():
            if d["templating"]["list"][0]["datasource"]["type"] != "prometheus":
                continue
            values = self.assignments(d, self.label_values, prom_escape, PROM_BUILTINS)[0]
            values.update((v["name"], v["current"]["value"]) for v in d["templating"]["list"]
                          if v["type"] == "custom")
            for p in all_panels(d["panels"]):
                if "merge" not in [t["id"] for t in p.get("transformations", [])]:
                    continue
                labels = [{frozenset(r["metric"]) for r in self.query(
                    substitute(t["expr"], values, prom_escape, PROM_BUILTINS))}
                          for t in p["targets"]]
                self.assertEqual(len(labels[0]), 1, (name, p["title"], labels))
                self.assertNotIn("__name__", list(labels[0])[0], (name, p["title"]))
                self.assertEqual([l for l in labels if l != labels[0]], [], (name, p["title"]))
                merged += 1
        # The county table, the map, the sources.
        self.assertEqual(merged, 3)

    def test_rollups_are_weighted_as_the_demo_data_says(self):
        """Every county roll-up equals sum(value × weight) / sum(weight) over
        the county's rows of the demo files now (the silenced villages gone,
        the bad report's good cells in)."""
        want = county_rollups(self.demo_rows())
        self.assertEqual(len(want), 10 * 6)
        for column in WEIGHTS:
            got = {r["metric"]["county"]: float(r["value"][1]) for r in self.query(
                "county:village_%s:weighted_mean" % column)}
            self.assertEqual(len(got), 10)
            for county, value in got.items():
                w = want[(county, column)]
                self.assertAlmostEqual(value, w, delta=1e-12 * w, msg=(county, column))

    def test_alerts_on_the_real_metrics(self):
        """The alerts read the names the daemon serves: right now the
        rejected values and the too-old drops fire, and the silent villages
        wait out their 15 minutes."""
        def alerts():
            return sorted((a["metric"]["alertname"], a["metric"]["alertstate"],
                           a["metric"].get("village") or a["metric"].get("reason"))
                          for a in self.query("ALERTS"))
        want = [("VillageNotReporting", "pending", v) for v in sorted(SILENCED)]
        want += [("VillagemetricsExporterDropping", "firing", "too_old"),
                 ("VillagemetricsValuesRejected", "firing", "not_a_number"),
                 ("VillagemetricsValuesRejected", "firing", "out_of_range")]
        wait_for("the alerts", lambda: alerts() == sorted(want))


class TestInfluxDBDashboard(ServersTest):
    """The daemon on the demo, pushing to a real InfluxDB."""

    @classmethod
    def start(cls):
        cls.influx = InfluxDB(cls.tmp)
        cls.stops.append(cls.influx.stop)
        cls.influx.query("CREATE DATABASE villages")
        cls.start_daemon([{"type": "influxdb", "name": "influx", "version": 1,
                           "url": "http://127.0.0.1:%d" % cls.influx.port,
                           "database": "villages", "flush_interval": "100ms"}])
        wait_for("every sample in InfluxDB", lambda: find(
            cls.daemon.metrics(), "villagemetrics_exporter_sent_samples_total",
            exporter="influx") == find(cls.daemon.metrics(),
                                       "villagemetrics_journal_appended_samples_total")
            and [r["count"] for r in cls.rows('SELECT count("population") FROM "village"')]
            == [2600],
            timeout=60)

    @classmethod
    def rows(cls, query):
        """The rows of every series of an InfluxQL query, tags as columns."""
        q = urllib.parse.urlencode({"q": query, "db": "villages", "epoch": "ms"})
        # A query over every village takes seconds on a loaded machine.
        status, _, body = http_get(cls.influx.port, "/query?" + q, timeout=60)
        assert status == 200, (query, body)
        r = json.loads(body)["results"][0]
        if "error" in r:
            raise AssertionError("%s: %s" % (query, r["error"]))
        out = []
        for s in r.get("series", []):
            for values in s["values"]:
                row = dict(s.get("tags") or {})
                row.update(zip(s["columns"], values))
                out.append(row)
        return out

    def tag_values(self, query):
        return sorted(r["value"] for r in self.rows(query))

    def test_every_panel_returns_data(self):
        d = dashboards()["village-progress-influxdb.json"]
        queries = list(self.queries(d, "query", influx_escape, INFLUX_BUILTINS,
                                    self.tag_values))
        for where, rows in self.run_all(self.rows, queries):
            self.assertTrue([r for r in rows if [k for k, v in r.items()
                                                 if k != "time" and v is not None]],
                            "no data from " + where)
        # Distinct queries: the 53 targets with every variable All, the
        # map's in each of its 6 colours (+5), and again each one that uses
        # a variable with the picked values and with several.
        self.assertEqual(len(queries), 144)

    def test_county_table_is_weighted_as_the_demo_data_says(self):
        want = county_rollups(self.demo_rows())
        d = dashboards()["village-progress-influxdb.json"]
        table = [p for p in d["panels"] if p["title"] == "Counties"][0]
        self.assertEqual(len(table["targets"]), len(WEIGHTS))
        for column in WEIGHTS:
            t = [t for t in table["targets"] if 'last("%s")' % column in t["query"]][0]
            rows = self.rows(substitute(t["query"], {}, influx_escape, INFLUX_BUILTINS))
            self.assertEqual(len(rows), 10)
            for r in rows:
                w = want[(r["county"], column)]
                value = [v for k, v in r.items() if k not in ("time", "county")][0]
                self.assertAlmostEqual(value, w, delta=1e-12 * w, msg=(r["county"], column))


if __name__ == "__main__":
    unittest.main()
