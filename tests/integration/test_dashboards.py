"""The Grafana dashboards and the Prometheus rules of dashboards/.

Grafana itself is not in Debian, so this is what proves the dashboards
work: promtool checks and unit-tests the rules; then the daemon runs the
demo, scraped by a real Prometheus with the rules loaded (and, apart, pushing
to a real InfluxDB), and every query of every panel of every dashboard --
rows and collapsed rows included -- runs against Prometheus or InfluxDB
with the variables substituted as Grafana would, and must return data.  The
files themselves are checked too: valid JSON, panel ids and grid positions,
every datasource uid provisioned, every variable used defined, every
drill-down link pointing at a dashboard and variables that exist, every
dashboard valid against Grafana's dashboard model (@grafana/schema), the
generated ones as scripts/gen-dashboards.py writes them, and no target
written into a query.  The figures of the main panels are compared with
the demo's files: its county files, the cadres' report that repeats some
villages' figures (counted once), the registry and the report registers.
"""

import calendar
import concurrent.futures
import csv
import importlib.util
import glob
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.parse

from harness import (EXAMPLES, ROOT, Daemon, InfluxDB, Prometheus, ScriptedReceiver, TempDir,
                     copy_demo_files, find, http_get, wait_for)

DASHBOARDS = os.path.join(ROOT, "dashboards")
DASHBOARDS_INFLUX = os.path.join(ROOT, "dashboards-influxdb")
RULES = os.path.join(DASHBOARDS, "rules")
PROVISIONING = os.path.join(DASHBOARDS, "provisioning")
PROVISIONED = [os.path.join(PROVISIONING, "datasources", f)
               for f in ("villagemetrics.yaml", "villagemetrics-influxdb.yaml")]
GENERATOR = os.path.join(ROOT, "scripts", "gen-dashboards.py")
VALIDATOR = os.path.join(ROOT, "tests", "tools", "validate-dashboards.js")


def generator():
    """scripts/gen-dashboards.py as a module (its catalog, areas, ceilings)."""
    spec = importlib.util.spec_from_file_location("gen_dashboards", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = generator()
# The demo's targets (examples/demo.json), which the value checks compare
# with: a county's own beside the default.
TARGETS = {"village_water_safe_households_ratio": 1, "village_road_household_access_ratio": 1,
           "village_signal_4g_coverage_ratio": 0.95, "village_power_households_ratio": 1,
           "village_income_per_capita_yuan": {"default": 4000, "Songtao": 3800},
           "village_poverty_incidence_ratio": 0.02}

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
BUILTIN = re.compile(r"^(__\w+|timeFilter|tag_\w+|col|m|measurement|\d+)$")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)(?::[\w-]+)?\]\]")


def dashboard_paths():
    return sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")) +
                  glob.glob(os.path.join(DASHBOARDS_INFLUX, "*.json")))


def dashboards():
    """{path from the root: dashboard} of every dashboard JSON."""
    out = {}
    for path in dashboard_paths():
        with open(path, encoding="utf-8") as f:
            out[os.path.relpath(path, ROOT)] = json.load(f)
    return out


def kind(d):
    """The datasource type a dashboard queries: its datasource variable's."""
    return [v for v in d["templating"]["list"] if v["type"] == "datasource"][0]["query"]


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


def provisioned_datasources(path):
    """{uid: type} from a provisioning file (parsed by hand: no YAML
    module in the standard library; the file is a flat list)."""
    out, uid, kind = {}, None, None
    with open(path, encoding="utf-8") as f:
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
        if name.isdigit():
            return m.group(0)  # a regex group of label_replace, not a variable
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
    RULE_FILES = ["recording.yml", "targets.yml", "alerts.yml"]

    def test_promtool_check_rules(self):
        r = subprocess.run(["promtool", "check", "rules"] + self.RULE_FILES,
                           cwd=RULES, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 48 rules found", r.stdout)
        # One target rule per indicator of the catalog but the coordinates.
        self.assertEqual(len(GEN.measured()), 21)
        self.assertIn("SUCCESS: 21 rules found", r.stdout)
        self.assertIn("SUCCESS: 11 rules found", r.stdout)

    def test_promtool_unit_tests(self):
        tests = sorted(os.path.basename(p) for p in
                       glob.glob(os.path.join(RULES, "tests", "*.yml")))
        self.assertEqual(tests, ["alerts_test.yml", "last_report_test.yml",
                                 "recording_test.yml", "targets_test.yml"])
        r = subprocess.run(["promtool", "test", "rules"] + tests,
                           cwd=os.path.join(RULES, "tests"), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("SUCCESS"), len(tests), r.stdout)

    def test_every_rule_and_alert_is_unit_tested(self):
        recorded = []
        for name in ("recording.yml", "targets.yml"):
            with open(os.path.join(RULES, name)) as f:
                recorded += re.findall(r"^\s+- record: (\S+)$", f.read(), re.M)
        with open(os.path.join(RULES, "alerts.yml")) as f:
            alerts = re.findall(r"^\s+- alert: (\S+)$", f.read(), re.M)
        tested = ""
        for path in glob.glob(os.path.join(RULES, "tests", "*.yml")):
            with open(path) as f:
                tested += f.read()
        self.assertEqual(len(recorded), 48 + 21)
        self.assertEqual(len(alerts), 11)
        self.assertEqual([r for r in recorded if not re.search(
            r"expr: %s(\{[^}]*\})?\n" % re.escape(r), tested)], [])
        self.assertEqual([a for a in alerts if "alertname: %s\n" % a not in tested], [])

    def test_indicator_count_is_over_the_catalog(self):
        """village:indicators:count names exactly the catalog's indicators
        but the coordinates and the report dates, as daemon/model/catalog.c
        has them now, each name once a village (group by __name__) however
        many sources give it."""
        with open(os.path.join(RULES, "recording.yml")) as f:
            text = f.read()
        m = re.search(r'- record: village:indicators:count\n\s+expr: \|\n\s+count by \(([^)]*)\) \(\n'
                      r'\s+group by \(__name__, ([^)]*)\) \(\n'
                      r'\s+\{__name__=~"([^"]+)", village!=""\}', text)
        self.assertTrue(m)
        self.assertEqual(m.group(1), m.group(2))
        self.assertEqual(m.group(3), GEN.catalog_regex())
        self.assertEqual(m.group(3).split("|"), GEN.measured())
        self.assertEqual(len(GEN.catalog()), 25)
        self.assertEqual(sorted(set(GEN.catalog()) - set(GEN.measured())), [
            "village_latitude_degrees", "village_longitude_degrees",
            "village_report_next_due_timestamp_seconds", "village_report_timestamp_seconds"])


# A number in a query that is not a target: 0 and 1 (a share's complement,
# "* 0" to keep labels), 1000 (seconds to milliseconds).  Durations in
# brackets and label values in quotes are not numbers of a query.
ALLOWED_NUMBERS = {"0", "1", "1000"}


def numbers_in(query):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"/\^[^/]*\$/", "//", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\$\{?\w+(?::\w+)?\}?", "$v", text)
    return re.findall(r"(?<![\w.])(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])", text)


class TestDashboardFiles(unittest.TestCase):
    def test_the_dashboards(self):
        self.assertEqual(sorted(dashboards()), [
            "dashboards-influxdb/village-progress-influxdb-zh.json",
            "dashboards-influxdb/village-progress-influxdb.json",
            "dashboards/daemon-health.json", "dashboards/data-freshness.json",
            "dashboards/village-progress-zh.json", "dashboards/village-progress.json",
            "dashboards/village.json"])

    def test_generated_files_are_what_the_generator_writes(self):
        r = subprocess.run([sys.executable, GENERATOR, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_valid_against_grafanas_dashboard_model(self):
        """Grafana's dashboard model from @grafana/schema (tests/tools,
        installed by scripts/setup.sh), and a file that breaks it fails."""
        r = subprocess.run(["node", VALIDATOR] + dashboard_paths(), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("7 dashboards valid against @grafana/schema 13.2.3", r.stdout)
        with TempDir() as tmp:
            d = dashboards()["dashboards/village.json"]
            d["panels"][1]["gridPos"] = {"h": "4", "w": 6, "x": 0}
            d["templating"]["list"][0]["hide"] = 7
            path = os.path.join(tmp, "broken.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(d, f)
            r = subprocess.run(["node", VALIDATOR, path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("/panels/1/gridPos/h must be number", r.stdout)
        self.assertIn("/panels/1/gridPos must have required property 'y'", r.stdout)
        self.assertIn("/templating/list/0/hide must be equal to one of the allowed values",
                      r.stdout)

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

    def test_every_datasource_is_the_variable(self):
        """Every panel and query names the datasource variable, which
        defaults to the provisioned datasource of its type; the InfluxDB
        datasource and dashboards are provisioned apart."""
        prom, influx = (provisioned_datasources(p) for p in PROVISIONED)
        self.assertEqual(prom, {"villagemetrics-prometheus": "prometheus"})
        self.assertEqual(influx, {"villagemetrics-influxdb": "influxdb"})
        by_type = {"prometheus": "villagemetrics-prometheus",
                   "influxdb": "villagemetrics-influxdb"}
        for name, d in dashboards().items():
            var = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
            self.assertEqual(len(var), 1, name)
            self.assertEqual(var[0]["name"], "datasource")
            self.assertEqual(var[0]["current"]["value"], by_type[var[0]["query"]], name)
            self.assertEqual(name.startswith("dashboards-influxdb/"),
                             var[0]["query"] == "influxdb", name)
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
            walk(d["panels"])
            walk([v for v in d["templating"]["list"] if v["type"] == "query"])
            self.assertTrue(used, name)
            self.assertEqual([ds for ds in used
                              if ds != {"type": var[0]["query"], "uid": "${datasource}"}], [], name)
        providers = {}
        for path in glob.glob(os.path.join(PROVISIONING, "dashboards", "*.yaml")):
            with open(path, encoding="utf-8") as f:
                providers[os.path.basename(path)] = re.findall(r"^\s+path: (\S+)$", f.read(), re.M)
        self.assertEqual(providers, {
            "villagemetrics.yaml": ["/usr/share/villagemetrics/dashboards"],
            "villagemetrics-influxdb.yaml": ["/usr/share/villagemetrics/dashboards-influxdb"]})

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

    def test_no_target_is_written_into_a_query(self):
        """Targets come from village_target: a query holds no number but 0,
        1 and 1000 (nor does a rule of targets.yml)."""
        found = []
        for name, d in dashboards().items():
            for p in all_panels(d["panels"]):
                for t in p.get("targets", []):
                    q = t.get("expr") or t.get("query")
                    found += [(name, p["title"], n) for n in numbers_in(q)
                              if n not in ALLOWED_NUMBERS]
        self.assertEqual(found, [])
        with open(os.path.join(RULES, "targets.yml")) as f:
            self.assertEqual([n for n in numbers_in(f.read()) if n not in ALLOWED_NUMBERS], [])
        # The scan finds what it is for.
        self.assertEqual(numbers_in('sum(x{a="0.5"} >= bool 4000) / y[5m] < 0.02 and z > 1e3'),
                         ["4000", "0.02", "1e3"])

    def test_chinese_variants_mirror_the_english(self):
        """The same panels and queries, Chinese titles, and the Chinese
        village names beside the pinyin in the tables of villages."""
        ds = dashboards()
        names = 0
        for en, zh in [("dashboards/village-progress.json", "dashboards/village-progress-zh.json"),
                       ("dashboards-influxdb/village-progress-influxdb.json",
                        "dashboards-influxdb/village-progress-influxdb-zh.json")]:
            a, b = list(all_panels(ds[en]["panels"])), list(all_panels(ds[zh]["panels"]))
            self.assertEqual([(p["id"], p["type"]) for p in a], [(p["id"], p["type"]) for p in b])
            for p, q in zip(a, b):
                self.assertRegex(q["title"], r"[\u4e00-\u9fff]", (zh, q["title"]))
                # InfluxQL names its columns in the dashboard's language.
                mine = [re.sub(r'AS "[^"]*"', 'AS ""', t.get("expr") or t.get("query"))
                        for t in p.get("targets", [])]
                theirs = [re.sub(r'AS "[^"]*"', 'AS ""', t.get("expr") or t.get("query"))
                          for t in q.get("targets", [])]
                self.assertEqual(len(theirs), len(mine), q["title"])
                for a_query, b_query in zip(mine, theirs):
                    if a_query != b_query:
                        # The Chinese name joined on, where the registry has it.
                        self.assertEqual(b_query, GEN.chinese_names(a_query), q["title"])
                        names += 1
            self.assertRegex(ds[zh]["title"], r"[\u4e00-\u9fff]")
            self.assertIn("zh", ds[zh]["tags"])
        # Both queries of each area's villages short of the target.
        self.assertEqual(names, 6 * 2)

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
        """A link goes to the dashboard it is in by that dashboard's own uid
        (${__dashboard.uid}: a saved copy links within the copy) or to the
        village page by the village_page variable, keeps the time range
        and the datasource, and sets only variables the target defines."""
        ds = dashboards()
        by_uid = {d["uid"]: d for d in ds.values()}
        links = {}
        for name, d in ds.items():
            consts = {v["name"]: v["query"] for v in d["templating"]["list"]
                      if v["type"] == "constant"}
            for key, s in strings(d["panels"]):
                if key != "url" or s == "${basemap}":
                    continue
                m = re.match(r"^/d/\$\{(__dashboard\.uid|village_page)\}\?(.*)$", s)
                self.assertTrue(m, (name, s))
                target = d if m.group(1) == "__dashboard.uid" else by_uid[consts["village_page"]]
                defined = {v["name"] for v in target["templating"]["list"]}
                parts = m.group(2).split("&")
                self.assertEqual(parts[:2], ["${__url_time_range}", "var-datasource=${datasource}"])
                for part in parts[2:]:
                    self.assertRegex(part, r"^var-\w+=")
                    self.assertIn(part[4:].split("=")[0], defined, (name, s))
                links[name] = links.get(name, 0) + 1
        self.assertNotIn("villagemetrics-", json.dumps(
            [s for d in ds.values() for k, s in strings(d["panels"])
             if k == "url" and s != "${basemap}"]))
        # The progress dashboards: the county table's, and per area the
        # county ranking's, the town table's, the villages' and the map's
        # (Prometheus; InfluxDB: one map); the overview map; freshness: the
        # villages not reporting, with blank indicators and their reports;
        # the village page: its neighbours.
        self.assertEqual(links, {
            "dashboards/village-progress.json": 1 + 6 * 4 + 1,
            "dashboards/village-progress-zh.json": 1 + 6 * 4 + 1,
            "dashboards-influxdb/village-progress-influxdb.json": 1 + 6 * 3 + 1,
            "dashboards-influxdb/village-progress-influxdb-zh.json": 1 + 6 * 3 + 1,
            "dashboards/data-freshness.json": 3,
            "dashboards/village.json": 1})

    def test_maps_fit_the_data_and_follow_the_indicator(self):
        """No map is fixed on one place; each is titled and coloured after
        its indicator (lower is better for poverty), and its tiles come
        from the basemap variable, which offers a choice without internet."""
        maps = 0
        for name, d in dashboards().items():
            tiles = [v for v in d["templating"]["list"] if v["name"] == "basemap"]
            for p in all_panels(d["panels"]):
                if p["type"] != "geomap":
                    continue
                maps += 1
                self.assertEqual(p["options"]["view"]["id"], "fit", (name, p["title"]))
                self.assertEqual(p["options"]["basemap"]["config"]["url"], "${basemap}")
                self.assertTrue(tiles, name)
                self.assertIn("about:blank", [o["value"] for o in tiles[0]["options"]])
                unit = p["fieldConfig"]["defaults"]["unit"]
                colour = p["fieldConfig"]["defaults"]["color"]["mode"]
                area = [a for a in GEN.AREAS if p["title"].startswith(a["en"] + ":")
                        or p["title"].startswith(a["zh"] + ":")]
                if area:
                    self.assertEqual(unit, area[0]["unit"], p["title"])
                    self.assertEqual(colour, "continuous-GrYlRd" if area[0]["key"] == "poverty"
                                     else "continuous-RdYlGr", p["title"])
                self.assertEqual(p["fieldConfig"]["defaults"]["displayName"], p["title"])
        self.assertEqual(maps, 2 * 7 + 2 * 1)


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


def day(date):
    """A report date (UTC midnight) in seconds: 2026-12-03, 2026/12/3,
    2026年12月4日, or a month alone, 2026年12月, for its first day (the
    registers' ways of writing it)."""
    parts = [int(x) for x in re.findall(r"\d+", date)]
    return calendar.timegm(tuple(parts + [1] * (3 - len(parts))) + (0, 0, 0))


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
            # A source that never succeeds, as the freshness dashboard
            # must say so.
            json.dump({"exporters": exporters,
                       "collectors": [{"type": "listen", "name": "push"},
                                      {"type": "exec", "name": "broken-sensor",
                                       "command": ["false"], "format": "prometheus",
                                       "interval": "1s"}]}, f)
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
                if not v["includeAll"]:
                    # One value (the village page): the picked one, or the
                    # first, as Grafana takes it.
                    want = (pick or {}).get(v["name"], opts[0])
                    self.assertIn(want, opts, v["name"])
                    values[v["name"]] = [want]
                elif multi and i == 0:
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
            extra_yaml="rule_files:\n" + "".join("  - %s\n" % os.path.join(RULES, f)
                                                 for f in TestRules.RULE_FILES))
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
            if kind(d) == "prometheus":
                queries += self.queries(d, "expr", prom_escape, PROM_BUILTINS,
                                        self.label_values)
        for where, result in self.run_all(self.query, queries):
            self.assertTrue(result, "no data from " + where)
            self.assertTrue([r for r in result if not math.isnan(float(r["value"][1]))],
                            "only NaN from " + where)
        # Distinct queries of the five Prometheus dashboards (progress in
        # English and Chinese, the village page, freshness, health) with
        # every variable All, the picked values and several at once; a
        # query that does not use a variable that changed runs once.
        self.assertEqual(len(queries), 664)

    def test_merged_queries_have_the_same_labels(self):
        """A table that merges several queries into one row per county (or
        collector, or village) needs the same labels from each, and no
        metric name, which differs between them and would keep the rows
        apart."""
        merged = 0
        for name, d in dashboards().items():
            if kind(d) != "prometheus":
                continue
            values = self.assignments(d, self.label_values, prom_escape, PROM_BUILTINS)[0]
            values.update((v["name"], v["current"]["value"]) for v in d["templating"]["list"]
                          if v["type"] == "custom")
            for p in all_panels(d["panels"]):
                if "merge" not in [t["id"] for t in p.get("transformations", [])]:
                    continue
                # A village outside the registry has no Chinese names: its
                # cells stay empty.
                labels = [{frozenset(r["metric"]) - {"village_zh", "town_zh", "county_zh"}
                           for r in self.query(
                    substitute(t["expr"], values, prom_escape, PROM_BUILTINS))}
                          for t in p["targets"]]
                self.assertEqual(len(labels[0]), 1, (name, p["title"], labels))
                self.assertNotIn("__name__", list(labels[0])[0], (name, p["title"]))
                self.assertEqual([l for l in labels if l != labels[0]], [], (name, p["title"]))
                merged += 1
        # Each progress dashboard (English, Chinese): the county table, the
        # overview map, and per area the towns, the villages short of the
        # target and the map; the village page: the indicators and the
        # neighbours; freshness: the sources and the villages' reports.
        self.assertEqual(merged, 2 * (2 + 6 * 3) + 2 + 2)

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

    # ---- the figures the panels show, against the demo files ----------

    ALL = {"county": ["$__all"], "town": ["$__all"], "village": ["$__all"]}
    ONE = {"county": [PICK["county"]], "town": [PICK["town"]], "village": [PICK["village"]]}

    def panel_answers(self, name, title, values):
        """{refId: result} of a panel's queries with the variables set."""
        d = dashboards()[name]
        p = [p for p in all_panels(d["panels"]) if p["title"] == title]
        self.assertEqual(len(p), 1, title)
        return {t["refId"]: self.query(substitute(t["expr"], values, prom_escape, PROM_BUILTINS))
                for t in p[0]["targets"]}

    def registry(self):
        """{(county, town, village): row} of the demo's registry now (the
        new village of the bad report in)."""
        with open(os.path.join(self.data(), "registry", "tongren.csv"), encoding="utf-8") as f:
            return {(r["county"], r["town"], r["village"]): r for r in csv.DictReader(f)}

    @staticmethod
    def register_dates(name):
        """{(county, town, village): its report date in seconds} from one of
        the demo's registers (their dates are fixed; the county files'
        follow the calendar)."""
        with open(os.path.join(EXAMPLES, "data", "src", name), encoding="utf-8") as f:
            rows = list(csv.reader(f))[2:]
        return {(county, town, village): day(date) for county, town, village, date in rows}

    def report_dates(self):
        """{(county, town, village): the latest report date in seconds} from
        the county files' report_date and the two registers."""
        dates = {}
        for row in self.demo_rows():
            if row["report_date"]:
                dates[(row["county"], row["town"], row["village"])] = day(row["report_date"])
        for name in ("yanhe-register.csv", "jiangkou-register.csv"):
            for k, date in self.register_dates(name).items():
                dates[k] = max(dates[k], date)
        return dates

    def villages(self):
        """{(county, town, village): {metric: value}} of what the daemon
        accepted from the demo files now: numbers, shares within 0..1."""
        # The county files' columns (the cadres' report, whose columns are
        # in Chinese, repeats some villages' figures: the same values).
        with open(os.path.join(EXAMPLES, "demo.json"), encoding="utf-8") as f:
            columns = dict(re.findall(r'"(village_\w+)": "(\w+)"', f.read(), re.ASCII))
        self.assertEqual(len(columns), 23)
        out = {}
        for row in self.demo_rows():
            values = {}
            for metric, column in columns.items():
                try:
                    v = float(row[column])
                except (KeyError, ValueError):
                    continue
                if metric.endswith("_ratio") and not 0 <= v <= 1:
                    continue
                values[metric] = v
            out[(row["county"], row["town"], row["village"])] = values
        return out

    @staticmethod
    def target(metric, county):
        t = TARGETS[metric]
        return t.get(county, t["default"]) if isinstance(t, dict) else t

    def test_targets_come_from_the_configuration(self):
        """village_target as demo.json sets it, and each county's effective
        target: Songtao its own income target, the others the default."""
        self.assertEqual(self.prom.scalar("count(village_target)"), 10)
        got = {r["metric"]["county"]: float(r["value"][1]) for r in self.query(
            'county:village_target:effective{indicator="village_income_per_capita_yuan"}')}
        self.assertEqual(len(got), 10)
        self.assertEqual({c: v for c, v in got.items() if v != 4000}, {"Songtao": 3800})

    def test_villages_at_target_as_the_data_says(self):
        answers = self.panel_answers("dashboards/village-progress.json",
                                     "Villages at target", self.ALL)
        villages = self.villages()
        for i, a in enumerate(GEN.AREAS):
            m = a["metric"]
            have = [(k[0], v[m]) for k, v in villages.items() if m in v]
            met = [1 for county, v in have if (v <= self.target(m, county) if m in GEN.CEILINGS
                                               else v >= self.target(m, county))]
            got = float(answers[chr(65 + i)][0]["value"][1])
            self.assertAlmostEqual(got, len(met) / len(have), delta=1e-12, msg=m)
            self.assertGreater(len(met), 0, m)
            self.assertLess(len(met), len(have), m)

    def test_absolute_gaps_as_the_data_says(self):
        """Households without safe water = Σ households × (1 − share), and
        so on; the poor residents = Σ residents × incidence."""
        answers = self.panel_answers("dashboards/village-progress.json", "Still to reach", self.ALL)
        villages = self.villages()
        for i, a in enumerate([a for a in GEN.AREAS if a["gap"]]):
            m, w = a["metric"], "village_" + a["gap"]
            want = sum((v[m] if m in GEN.CEILINGS else 1 - v[m]) * v[w]
                       for v in villages.values() if m in v and w in v)
            got = float(answers[chr(65 + i)][0]["value"][1])
            self.assertAlmostEqual(got, want, delta=1e-9 * want, msg=m)

    def test_towns_all_there_worst_first_is_the_tables_order(self):
        """Every town of the selection is a row of the town table (the
        table pages), not the best nine."""
        answers = self.panel_answers("dashboards/village-progress.json",
                                     "Safe water: towns, worst first", self.ALL)
        towns = {(k[0], k[1]) for k, v in self.villages().items()
                 if "village_water_safe_households_ratio" in v}
        self.assertGreater(len(towns), 100)
        self.assertEqual({(r["metric"]["county"], r["metric"]["town"]) for r in answers["A"]}, towns)
        p = [p for p in all_panels(dashboards()["dashboards/village-progress.json"]["panels"])
             if p["title"] == "Safe water: towns, worst first"][0]
        self.assertEqual(p["options"]["sortBy"], [{"displayName": "Safe water", "desc": False}])
        self.assertTrue(p["options"]["footer"]["enablePagination"])

    def test_villages_short_of_target_as_the_data_says(self):
        """Every village short of its county's target, with how far: here
        for income, where Songtao's own target counts."""
        answers = self.panel_answers("dashboards/village-progress.json",
                                     "Income per person: villages short of the target, worst first",
                                     self.ALL)
        m = "village_income_per_capita_yuan"
        want = {k: self.target(m, k[0]) - v[m] for k, v in self.villages().items()
                if m in v and v[m] < self.target(m, k[0])}
        got = {(r["metric"]["county"], r["metric"]["town"], r["metric"]["village"]):
               float(r["value"][1]) for r in answers["B"]}
        self.assertEqual(set(got), set(want))
        for k, v in want.items():
            self.assertAlmostEqual(got[k], v, delta=1e-9, msg=k)
        zh = self.panel_answers("dashboards/village-progress-zh.json",
                                "人均可支配收入: 未达标的村（最差在前）", self.ALL)
        names = {(r["metric"]["county"], r["metric"]["town"], r["metric"]["village"]):
                 r["metric"].get("village_zh") for r in zh["A"]}
        registry = self.registry()
        self.assertEqual(set(names), set(want))
        # The registry's names, joined on the code; where the registry has
        # no Chinese name, village_info gives the pinyin one (and the demo
        # has such villages among these).
        for r in zh["A"]:
            k = (r["metric"]["county"], r["metric"]["town"], r["metric"]["village"])
            self.assertEqual(r["metric"]["code"], registry[k]["code"])
            self.assertEqual([r["metric"][n + "_zh"] for n in ("village", "town", "county")],
                             [registry[k][n + "_zh"] or registry[k][n]
                              for n in ("village", "town", "county")], k)
        self.assertIn("", [registry[k]["village_zh"] for k in names])

    def test_village_page_as_the_data_says(self):
        name = "dashboards/village.json"
        mine = self.villages()[(PICK["county"], PICK["town"], PICK["village"])]
        row = [r for r in self.demo_rows() if r["village"] == PICK["village"]][0]
        answers = self.panel_answers(name, "Every indicator against its target", self.ONE)
        values = {r["metric"]["indicator"]: float(r["value"][1]) for r in answers["A"]}
        self.assertEqual(values, {m: v for m, v in mine.items() if m in GEN.measured()})
        targets = {r["metric"]["indicator"]: float(r["value"][1]) for r in answers["B"]}
        self.assertEqual(targets["village_signal_4g_coverage_ratio"], 0.95)
        self.assertEqual(targets["village_income_per_capita_yuan"], 4000)
        self.assertEqual(len(targets), 9)
        short = {r["metric"]["indicator"]: float(r["value"][1]) for r in answers["C"]}
        for m, t in targets.items():
            v = mine[m]
            want = max(v - t, 0) if m in GEN.CEILINGS else max(t - v, 0)
            self.assertAlmostEqual(short[m], want, delta=1e-9, msg=m)
        met = self.panel_answers(name, "Targets met", self.ONE)["A"]
        self.assertEqual(float(met[0]["value"][1]), sum(1 for m in targets if short[m] == 0))
        date = self.panel_answers(name, "Report date", self.ONE)["A"]
        self.assertEqual(float(date[0]["value"][1]), day(row["report_date"]) * 1000)
        age = self.panel_answers(name, "Report age", self.ONE)["A"]
        self.assertAlmostEqual(float(age[0]["value"][1]), time.time() - day(row["report_date"]),
                               delta=120)
        zh = self.panel_answers(name, "Chinese name", self.ONE)["A"]
        entry = self.registry()[(PICK["county"], PICK["town"], PICK["village"])]
        self.assertEqual([zh[0]["metric"][n] for n in ("village_zh", "town_zh", "county_zh")],
                         [entry[n] for n in ("village_zh", "town_zh", "county_zh")])
        # The report dates carry the name of the collector that read them.
        source = self.panel_answers(name, "Where the figures came from", self.ONE)["A"]
        self.assertEqual([(r["metric"]["source"], float(r["value"][1])) for r in source],
                         [("villages", day(row["report_date"]) * 1000)])
        # A village of Yanhe that its town's register lists too: the page
        # shows both dates and the later as its date.  Which is later
        # depends on the day: the county file's date is one of this
        # month's, up to today, and the register's is fixed (2026/12/5).
        hongxing = {"county": ["Yanhe"], "town": ["Guanzhou"], "village": ["Hongxing"]}
        row = [r for r in self.demo_rows() if r["village"] == "Hongxing"][0]
        filed = day(row["report_date"])
        registered = self.register_dates("yanhe-register.csv")[("Yanhe", "Guanzhou", "Hongxing")]
        date = self.panel_answers(name, "Report date", hongxing)["A"]
        self.assertEqual(float(date[0]["value"][1]), max(filed, registered) * 1000)
        source = self.panel_answers(name, "Where the figures came from", hongxing)["A"]
        self.assertEqual(sorted((r["metric"]["source"], float(r["value"][1])) for r in source),
                         [("villages", filed * 1000), ("yanhe-register", registered * 1000)])
        neighbours = self.panel_answers(name, "Neighbours in $town", self.ONE)["A"]
        self.assertEqual(len(neighbours), len([k for k, v in self.villages().items()
                                               if k[:2] == (PICK["county"], PICK["town"])
                                               and "village_water_safe_households_ratio" in v]))

    def test_freshness_says_never_and_shows_report_ages(self):
        name = "dashboards/data-freshness.json"
        values = {"county": ["$__all"], "town": ["$__all"], "collector": ["$__all"]}
        oldest = self.panel_answers(name, "Oldest successful source run", values)
        # The exec collector that always fails, and the push endpoint that
        # nobody has pushed to.
        never = ["broken-sensor", "push"]
        self.assertEqual(float(oldest["B"][0]["value"][1]), len(never))
        self.assertLess(float(oldest["A"][0]["value"][1]), 3600)
        table = self.panel_answers(name, "Last report per source", values)
        self.assertEqual(sorted(r["metric"]["collector"] for r in table["A"]
                                if float(r["value"][1]) == 0), never)
        # The county files, the cadres' report and the two registers.
        succeeded = ["cadre-report", "jiangkou-register", "villages", "yanhe-register"]
        self.assertEqual(sorted(r["metric"]["collector"] for r in table["B"]), succeeded)
        since = self.panel_answers(name, "Time since each source's last success", values)["A"]
        self.assertEqual(sorted(r["metric"]["collector"] for r in since), succeeded)
        # One row a village, with its latest report date, whichever source
        # gave it; the bad report has no date.
        dates = self.report_dates()
        self.assertEqual(len(dates), 2600 - len(SILENCED))
        reports = self.panel_answers(name, "Village reports, oldest first", values)
        self.assertEqual({(r["metric"]["county"], r["metric"]["town"], r["metric"]["village"]):
                          float(r["value"][1]) for r in reports["A"]},
                         {k: v * 1000 for k, v in dates.items()})
        now = time.time()
        self.assertEqual(len(reports["B"]), len(dates))
        for r in reports["B"]:
            k = (r["metric"]["county"], r["metric"]["town"], r["metric"]["village"])
            self.assertAlmostEqual(float(r["value"][1]), now - dates[k], delta=120, msg=k)
        oldest = self.panel_answers(name, "Oldest village report", values)["A"]
        self.assertAlmostEqual(float(oldest[0]["value"][1]), now - min(dates.values()), delta=120)
        rejected = self.panel_answers(name, "Rejected values present now, by reason", values)["A"]
        self.assertEqual(sorted((r["metric"]["reason"], float(r["value"][1])) for r in rejected),
                         [("not_a_number", 1), ("out_of_range", 1)])

    def test_alerts_on_the_real_metrics(self):
        """The alerts read the names the daemon serves: right now the
        rejected values and the too-old drops fire, and the silent villages
        wait out their 15 minutes."""
        def alerts():
            return sorted((a["metric"]["alertname"], a["metric"]["alertstate"],
                           a["metric"].get("village") or a["metric"].get("reason"))
                          for a in self.query("ALERTS"))
        want = [("VillageNotReporting", "pending", v) for v in sorted(SILENCED)]
        want += [("VillagemetricsCollectorFailing", "pending", None),
                 ("VillagemetricsExporterDropping", "firing", "too_old"),
                 ("VillagemetricsValuesRejected", "firing", "not_a_number"),
                 ("VillagemetricsValuesRejected", "firing", "out_of_range")]
        wait_for("the alerts", lambda: alerts() == sorted(want))


INFLUX_DASHBOARDS = ["dashboards-influxdb/village-progress-influxdb.json",
                     "dashboards-influxdb/village-progress-influxdb-zh.json"]


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
        queries = []
        for name in INFLUX_DASHBOARDS:
            queries += self.queries(dashboards()[name], "query", influx_escape,
                                    INFLUX_BUILTINS, self.tag_values)
        for where, rows in self.run_all(self.rows, queries):
            self.assertTrue([r for r in rows if [k for k, v in r.items()
                                                 if k != "time" and v is not None]],
                            "no data from " + where)
        # Distinct queries of the English dashboard with every variable
        # All, the picked values and several at once (a query that does not
        # use a variable that changed runs once); the Chinese one differs
        # only in the names of its columns.
        self.assertEqual(len(queries), 2 * 105)

    def test_targets_arrive_as_the_configuration_says(self):
        """The exporter writes village_target as field "target" with an
        indicator tag; the panels' thresholds read the default target."""
        d = dashboards()[INFLUX_DASHBOARDS[0]]
        for a in GEN.AREAS:
            p = [p for p in all_panels(d["panels"]) if p["title"] == a["en"]][0]
            rows = self.rows(substitute(p["targets"][1]["query"], {}, influx_escape,
                                        INFLUX_BUILTINS))
            t = TARGETS[a["metric"]]
            self.assertEqual([r["Target"] for r in rows],
                             [t["default"] if isinstance(t, dict) else t], a["metric"])
        rows = self.rows('SELECT last("target") FROM "village" WHERE "county" = \'Songtao\' '
                         'GROUP BY "indicator"')
        self.assertEqual([(r["indicator"], r["last"]) for r in rows],
                         [("village_income_per_capita_yuan", 3800)])

    def test_county_table_is_weighted_as_the_demo_data_says(self):
        want = county_rollups(self.demo_rows())
        d = dashboards()[INFLUX_DASHBOARDS[0]]
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
