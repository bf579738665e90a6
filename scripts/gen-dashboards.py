#!/usr/bin/python3
"""Writes the generated Grafana dashboards and target rules of dashboards/.

One description of the programme's indicators (names, units, directions,
what each is weighted by, their absolute gaps) makes the Prometheus and the
InfluxDB dashboards, each in English and in Chinese, the village page, and
the rules that give every county its effective target, so that the variants
cannot drift apart.  No figure of a target is written here: every panel
reads the targets the daemon serves (village_target, from the "targets" of
its configuration).  The catalog's names come from daemon/model/catalog.c.

  scripts/gen-dashboards.py            write the files
  scripts/gen-dashboards.py --check    exit 1 if a file differs from what
                                       would be written (the tests run it)

Standard library only.
"""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "dashboards")
# The InfluxDB dashboards live apart: Grafana's file provider loads every
# dashboard under its path, subfolders included, and an operator without
# InfluxDB provisions only dashboards/.
OUT_INFLUX = os.path.join(ROOT, "dashboards-influxdb")

PROM = {"type": "prometheus", "uid": "${datasource}"}
INFLUX = {"type": "influxdb", "uid": "${datasource}"}
PROVISIONED = {"prometheus": "villagemetrics-prometheus", "influxdb": "villagemetrics-influxdb"}


def catalog():
    """The indicator names of daemon/model/catalog.c, in its order."""
    with open(os.path.join(ROOT, "daemon", "model", "catalog.c"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r'^\s+(?:RATIO|COUNT|AMOUNT)?\(?\{?"(village_\w+)"', text, re.M)


# The indicators a village is measured by: every catalog name but the
# coordinates, which never change and have no target, and the report dates
# (village_report_*), which say when a village reported, not how it does.
COORDINATES = ("village_latitude_degrees", "village_longitude_degrees")


def measured():
    return [n for n in catalog()
            if n not in COORDINATES and not n.startswith("village_report_")]


# Indicators whose target is a ceiling: lower is better.
CEILINGS = ("village_poverty_incidence_ratio", "village_school_dropouts",
            "village_poor_households")


def catalog_regex():
    """The PromQL regex of the measured indicators (village:indicators:count)."""
    return "|".join(measured())


# The progress areas: metric, weight, unit, Grafana unit, the absolute gap
# (what the share leaves out, in people or households), titles.
AREAS = [
    {"key": "water", "metric": "village_water_safe_households_ratio", "weight": "households",
     "unit": "percentunit", "gap": "households",
     "en": "Safe water", "zh": "安全饮水",
     "gap_en": "Households without safe water", "gap_zh": "未饮上安全水的户数"},
    {"key": "road", "metric": "village_road_household_access_ratio", "weight": "households",
     "unit": "percentunit", "gap": "households",
     "en": "Roads", "zh": "通硬化路",
     "gap_en": "Households without a hardened road", "gap_zh": "未通硬化路的户数"},
    {"key": "4g", "metric": "village_signal_4g_coverage_ratio", "weight": "population",
     "unit": "percentunit", "gap": "population",
     "en": "4G signal", "zh": "4G 覆盖",
     "gap_en": "Residents without 4G", "gap_zh": "未覆盖 4G 的人口"},
    {"key": "power", "metric": "village_power_households_ratio", "weight": "households",
     "unit": "percentunit", "gap": "households",
     "en": "Power", "zh": "通电",
     "gap_en": "Households without power", "gap_zh": "未通电的户数"},
    {"key": "income", "metric": "village_income_per_capita_yuan", "weight": "population",
     "unit": "currencyCNY", "gap": None,
     "en": "Income per person", "zh": "人均可支配收入",
     "gap_en": None, "gap_zh": None},
    {"key": "poverty", "metric": "village_poverty_incidence_ratio", "weight": "population",
     "unit": "percentunit", "gap": "population",
     "en": "Poverty incidence", "zh": "贫困发生率",
     "gap_en": "Residents in poverty", "gap_zh": "贫困人口"},
]

# Words of the dashboards, by language.
WORDS = {
    "en": {
        "progress": "Village progress", "progress_influx": "Village progress (InfluxDB)",
        "overview": "Overview", "county": "County", "town": "Town",
        "village": "Village", "datasource": "Datasource", "basemap": "Map tiles",
        "at_target": "Villages at target", "reporting": "Villages reporting",
        "households": "Households", "poor": "Poor households",
        "lifted": "Households lifted out of poverty", "counties": "Counties",
        "gaps": "Still to reach", "map_met": "Villages: share of their targets met",
        "county_rank": "county ranking, worst first", "town_rank": "towns, worst first",
        "by_value": "villages by value", "behind": "villages short of the target, worst first",
        "over_time": "over time", "map": "map", "target": "target", "gap": "gap",
        "selected": "selected towns",
    },
    "zh": {
        "progress": "村级进展", "progress_influx": "村级进展（InfluxDB）",
        "overview": "概览", "county": "县", "town": "乡镇",
        "village": "村", "datasource": "数据源", "basemap": "底图",
        "at_target": "达标村占比", "reporting": "上报村数",
        "households": "户数", "poor": "贫困户", "lifted": "累计脱贫户数",
        "counties": "各县", "gaps": "距目标尚差",
        "map_met": "各村：已达目标的比例",
        "county_rank": "各县排名（最差在前）", "town_rank": "各乡镇（最差在前）",
        "by_value": "各村分布", "behind": "未达标的村（最差在前）",
        "over_time": "趋势", "map": "地图", "target": "目标", "gap": "差距",
        "selected": "所选乡镇",
    },
}

# Map tiles: online OpenStreetMap, or none at all (networks without
# internet): Grafana 12.4 and later interpolate the XYZ layer's URL
# (grafana/grafana#116654); see docs/grafana.md for older versions.
TILES = [("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
         ("none (offline)", "about:blank")]

SEL = 'county=~"$county", town=~"$town", village=~"$village"'


def target_of(metric):
    """The effective target of each county (targets.yml), for a match on
    (city, county)."""
    return 'county:village_target:effective{indicator="%s"}' % metric


def better(metric):
    return ">=" if metric not in CEILINGS else "<="


def short_of(metric, value, target):
    """How far a value is from its target, 0 at or past it."""
    if metric in CEILINGS:
        return "clamp_min(%s - on (city, county) group_left () %s, 0)" % (value, target)
    return "clamp_min(0 - (%s - on (city, county) group_left () %s), 0)" % (value, target)


# ---- the Prometheus target rules ---------------------------------------

def target_rules():
    """dashboards/rules/targets.yml: each county's target of each measured
    indicator, its own or the default, for every county that reports."""
    lines = [
        "# Generated by scripts/gen-dashboards.py from the catalog: do not edit.",
        "#",
        "# county:village_target:effective{indicator} is the target of each",
        "# county that reports villages: the county's own",
        "# (village_target{county=\"...\"}) or else the default",
        "# (village_target without a county), both from the \"targets\" of",
        "# the daemon's configuration.  The dashboards compare each village",
        "# with the target of its county through it.  Needs recording.yml",
        "# (village:indicators:count), evaluated before it.",
        "groups:",
        "  - name: villagemetrics-targets",
        "    rules:",
    ]
    for m in measured():
        lines += [
            "      - record: county:village_target:effective",
            "        expr: |",
            "          max by (city, county, indicator) (village_target{indicator=\"%s\", county!=\"\"})" % m,
            "          or on (city, county)",
            "            (",
            "                group by (city, county) (village:indicators:count) * 0",
            "              + on (city) group_left (indicator)",
            "                max by (city, indicator) (village_target{indicator=\"%s\", county=\"\"})" % m,
            "            )",
            # The same record name for each indicator: the label tells the
            # rules apart (promtool's lint refuses them otherwise).
            "        labels:",
            "          indicator: %s" % m,
        ]
    return "\n".join(lines) + "\n"


# ---- panel helpers -----------------------------------------------------

class Layout:
    """Panel ids and grid positions, row by row."""

    def __init__(self):
        self.id = 0
        self.y = 0
        self.x = 0
        self.h = 0

    def place(self, w, h):
        if self.x + w > 24:
            self.y += self.h
            self.x, self.h = 0, 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.h = max(self.h, h)
        self.id += 1
        return self.id, pos

    def row(self, title, collapsed=False):
        if self.x:
            self.y += self.h
            self.x, self.h = 0, 0
        self.id += 1
        p = {"id": self.id, "type": "row", "title": title, "collapsed": collapsed,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []}
        self.y += 1
        return p


def prom(ref, expr, legend=None, instant=True, fmt=None):
    t = {"refId": ref, "datasource": PROM, "expr": expr,
         "instant": instant, "range": not instant}
    if legend is not None:
        t["legendFormat"] = legend
    if fmt:
        t["format"] = fmt
    return t


def influx(ref, query, fmt="time_series"):
    return {"refId": ref, "datasource": INFLUX, "query": query, "rawQuery": True,
            "resultFormat": fmt}


def panel(lay, kind, title, desc, w, h, targets, ds, **extra):
    pid, pos = lay.place(w, h)
    p = {"id": pid, "type": kind, "title": title, "datasource": ds, "description": desc,
         "gridPos": pos, "targets": targets}
    p.update(extra)
    return p


def thresholds_from(ref, metric):
    """Colours that follow the indicator's direction and turn at the target
    a query returns (Grafana's "Config from query results"): (the field
    config to merge, the transformation).  Grafana's threshold handler
    always adds a red step, which suits a ceiling (green up to the target,
    red above); for a floor the target is the top of a red-to-green scale
    from 0, so green means reached."""
    if metric in CEILINGS:
        colour = {"color": {"mode": "thresholds"},
                  "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]}}
        handler = "threshold1"
    else:
        colour = {"color": {"mode": "continuous-RdYlGr"}, "min": 0}
        handler = "max"
    return (colour, {"id": "configFromData", "options": {
        "configRefId": ref, "mappings": [
            {"fieldName": "Target", "handlerKey": handler, "reducerId": "last"}]}})


def village_link(lang):
    return {"title": {"en": "Open the village page of ${__data.fields.village}",
                      "zh": "打开 ${__data.fields.village} 的村页面"}[lang],
            "url": "/d/${village_page}?${__url_time_range}&var-datasource=${datasource}"
                   "&var-county=${__data.fields.county}&var-town=${__data.fields.town}"
                   "&var-village=${__data.fields.village}"}


def self_link(lang, county, town="$__all"):
    """A link to the same dashboard, found by its own uid: a saved copy
    links to itself, not to the original."""
    return {"title": {"en": "Show %s" % county, "zh": "查看 %s" % county}[lang],
            "url": "/d/${__dashboard.uid}?${__url_time_range}&var-datasource=${datasource}"
                   "&var-county=%s&var-town=%s&var-village=$__all" % (county, town)}


def variables(kind, lang, query_vars, extra=()):
    w = WORDS[lang]
    out = [{"name": "datasource", "label": w["datasource"], "type": "datasource",
            "query": kind, "regex": "", "refresh": 1, "hide": 0, "multi": False,
            "includeAll": False, "skipUrlSync": False,
            "current": {"selected": True, "text": PROVISIONED[kind],
                        "value": PROVISIONED[kind]}, "options": []}]
    ds = PROM if kind == "prometheus" else INFLUX
    for name, query, multi in query_vars:
        v = {"name": name, "label": w[name], "type": "query", "datasource": ds,
             "definition": query, "refresh": 2, "multi": multi, "includeAll": multi,
             "sort": 1, "regex": "", "hide": 0, "skipUrlSync": False, "options": [],
             # A single value: Grafana takes the first option until one is chosen.
             "current": ({"selected": True, "text": ["All"], "value": ["$__all"]} if multi
                         else {"selected": False, "text": "", "value": ""})}
        if multi:
            v["allValue"] = ".*"
        v["query"] = ({"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
                      if kind == "prometheus" else query)
        out.append(v)
    out.extend(extra)
    return out


def constant(name, value):
    return {"name": name, "type": "constant", "query": value, "hide": 2,
            "skipUrlSync": False, "current": {"text": value, "value": value},
            "options": [{"selected": True, "text": value, "value": value}]}


def tiles_variable(lang):
    opts = [{"selected": i == 0, "text": t, "value": u} for i, (t, u) in enumerate(TILES)]
    return {"name": "basemap", "label": WORDS[lang]["basemap"], "type": "custom",
            "query": ",".join("%s : %s" % (t, u) for t, u in TILES), "multi": False,
            "includeAll": False, "hide": 0, "skipUrlSync": False,
            "current": {"selected": True, "text": TILES[0][0], "value": TILES[0][1]},
            "options": opts}


def geomap(lay, title, desc, w, h, targets, ds, unit, metric, transformations, lang):
    up = metric not in CEILINGS
    p = panel(lay, "geomap", title, desc, w, h, targets, ds)
    p["fieldConfig"] = {"defaults": {
        "unit": unit, "displayName": title,
        "color": {"mode": "continuous-RdYlGr" if up else "continuous-GrYlRd"},
        "links": [village_link(lang)]}, "overrides": []}
    p["options"] = {
        "view": {"id": "fit", "allLayers": True, "padding": 10, "lat": 0, "lon": 0,
                 "zoom": 15},
        "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
        "basemap": {"type": "xyz", "name": "Tiles",
                    "config": {"url": "${basemap}", "attribution": ""}},
        "layers": [{"type": "markers", "name": title, "tooltip": True,
                    "location": {"mode": "coords", "latitude": "latitude",
                                 "longitude": "longitude"},
                    "config": {"showLegend": True, "style": {
                        "size": {"fixed": 5}, "color": {"field": "value"},
                        "opacity": 0.8,
                        "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"}}}}],
        "tooltip": {"mode": "details"}}
    p["transformations"] = transformations
    return p


def table_options(sort_field=None, desc=False):
    o = {"showHeader": True, "cellHeight": "sm",
         "footer": {"show": False, "reducer": ["sum"], "fields": "",
                    "enablePagination": True}}
    if sort_field:
        o["sortBy"] = [{"displayName": sort_field, "desc": desc}]
    return o


def hide(*names):
    return {n: True for n in names}


def dashboard(uid, title, desc, tags, panels, templating, time_from="now-30d"):
    return {"uid": uid, "title": title, "description": desc, "tags": tags,
            "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
            "time": {"from": time_from, "to": "now"}, "timepicker": {}, "timezone": "",
            "refresh": "", "fiscalYearStartMonth": 0, "liveNow": False,
            "annotations": {"list": []},
            "links": [{"title": "villagemetrics", "type": "dashboards", "tags": ["villagemetrics"],
                       "asDropdown": True, "includeVars": False, "keepTime": True,
                       "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
            "panels": panels, "templating": {"list": templating}}


# ---- the Prometheus progress dashboard ---------------------------------

def rollup(a, sel='county=~"$county", town=~"$town"'):
    m = a["metric"]
    return ("sum(town:%s:weighted_sum{%s})\n/\nsum(town:%s:weight_sum{%s})" % (m, sel, m, sel))


def selection_target(a):
    """The strictest effective target among the selected counties."""
    agg = "max" if a["metric"] not in CEILINGS else "min"
    return '%s(county:village_target:effective{indicator="%s", county=~"$county"})' % (
        agg, a["metric"])


# A village in the tables that carry its Chinese names: its registry code
# beside its names, so that the names join on the code, which the registry
# gives every series of a village whatever source and script it came in.
VILLAGE = "city, code, county, town, village"


def chinese_names(expr):
    """The expression with the village's Chinese names as labels, from the
    registry's village_info (one series a code; max by drops the job and
    instance of a pair of daemons), where it has them."""
    return ("(\n  (%s)\n  * on (code) group_left (village_zh, town_zh, county_zh)\n"
            "  max by (code, village_zh, town_zh, county_zh) (village_info)\n)\n"
            "or on (%s)\n(%s)" % (expr, VILLAGE, expr))


def gap_expr(a, sel=SEL, by=""):
    """The absolute gap of a share: the weight it leaves out (households
    without safe water = households × (1 − share); for poverty the poor
    residents = residents × incidence), summed."""
    m, w = a["metric"], a["gap"]
    share = "max by (city, county, town, village) (%s{%s})" % (m, sel)
    weight = "max by (city, county, town, village) (village_%s{%s})" % (w, sel)
    part = share if m in CEILINGS else "(1 - %s)" % share
    return "sum%s (%s * on (city, county, town, village) %s)" % (
        " by (%s)" % by if by else "", part, weight)


def progress_prom(lang):
    w = WORDS[lang]
    t = lambda a: a[lang]
    lay = Layout()
    panels = []
    ov = lay.row(w["overview"])
    panels.append(ov)
    for a in AREAS:
        th, tr = thresholds_from("B", a["metric"])
        p = panel(lay, "stat", t(a), {
            "en": "%s of the selected counties and towns, rolled up weighted by %s "
                  "(dashboards/rules/recording.yml). Green at or past the strictest target "
                  "of the selected counties (village_target, from the daemon's \"targets\")." % (
                      a["en"], a["weight"]),
            "zh": "所选县、乡镇的%s（按%s加权汇总）。达到所选县中最严的目标即为绿色（目标来自守护进程配置的 targets）。" % (
                a["zh"], {"households": "户数", "population": "人口"}[a["weight"]])}[lang],
            4, 5, [prom("A", rollup(a), t(a)), prom("B", selection_target(a), "Target")],
            PROM)
        p["fieldConfig"] = {"defaults": dict({"unit": a["unit"], "decimals": 1}, **th),
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "none", "justifyMode": "center",
                        "orientation": "auto", "textMode": "value_and_name"}
        p["transformations"] = [tr]
        panels.append(p)
    # Villages at target, against each one's county target.
    targets = []
    for i, a in enumerate(AREAS):
        m = a["metric"]
        targets.append(prom(chr(65 + i), (
            "sum(\n  max by (city, county, town, village) (%s{%s})\n  %s bool on (city, county) group_left ()\n  %s\n)\n/\n"
            "count(max by (city, county, town, village) (%s{%s}))") % (
                m, SEL, better(m), target_of(m), m, SEL), t(a)))
    p = panel(lay, "bargauge", w["at_target"], {
        "en": "Share of the selected villages at their county's target of each indicator "
              "(at or above it; for poverty incidence at or below).",
        "zh": "所选村中达到本县各项目标的比例（贫困发生率为不高于目标）。"}[lang],
        12, 8, targets, PROM)
    p["fieldConfig"] = {"defaults": {"unit": "percentunit", "decimals": 1, "min": 0, "max": 1,
                                     "color": {"mode": "continuous-RdYlGr"}}, "overrides": []}
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                    "valueMode": "color", "minVizHeight": 10, "minVizWidth": 0}
    panels.append(p)
    for key, expr in [("reporting", "count(village:indicators:count{%s})" % SEL),
                      ("households", "sum(village:village_households:max{%s})" % SEL),
                      ("poor", "sum(max by (city, county, town, village) (village_poor_households{%s}))" % SEL),
                      ("lifted", "sum(max by (city, county, town, village) (village_lifted_households{%s}))" % SEL)]:
        p = panel(lay, "stat", w[key], {
            "en": "%s of the selected villages, now." % w[key],
            "zh": "所选村当前的%s。" % w[key]}[lang], 3, 4, [prom("A", expr)], PROM)
        p["fieldConfig"] = {"defaults": {"unit": "short", "decimals": 0,
                                         "color": {"mode": "fixed", "fixedColor": "text"}},
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "none", "graphMode": "none", "justifyMode": "center",
                        "orientation": "auto", "textMode": "value"}
        panels.append(p)
    gaps = [prom(chr(65 + i), gap_expr(a), a["gap_" + lang])
            for i, a in enumerate(a for a in AREAS if a["gap"])]
    p = panel(lay, "stat", w["gaps"], {
        "en": "What the shares leave out, in households or residents, over the selected "
              "villages: households × (1 − share), and the poor residents (residents × poverty "
              "incidence).",
        "zh": "比例之外尚未覆盖的户数或人口：户数 ×（1 − 比例）；贫困人口为人口 × 贫困发生率。"}[lang],
        12, 4, gaps, PROM)
    p["fieldConfig"] = {"defaults": {"unit": "short", "decimals": 0,
                                     "color": {"mode": "fixed", "fixedColor": "orange"}},
                        "overrides": []}
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "none", "justifyMode": "center",
                    "orientation": "vertical", "textMode": "value_and_name"}
    panels.append(p)

    # Counties: every indicator, and the links.
    targets = [prom(chr(65 + i), "max by (city, county) (county:%s:weighted_mean)" % a["metric"],
                    fmt="table") for i, a in enumerate(AREAS)]
    p = panel(lay, "table", w["counties"], {
        "en": "Every county on every indicator, from the county roll-ups (weighted, never "
              "averages of villages' shares), coloured from worst (red) to best (green) in "
              "each indicator's direction. Click a county to look into it.",
        "zh": "各县各项指标（按户数或人口加权汇总），颜色按各指标的方向由差（红）到好（绿）。点击县名查看该县。"}[lang],
        12, 12, targets, PROM)
    overrides = [{"matcher": {"id": "byName", "options": "county"},
                  "properties": [{"id": "links", "value": [self_link(lang, "${__value.raw}")]}]}]
    rename = {}
    for i, a in enumerate(AREAS):
        rename["Value #%s" % chr(65 + i)] = t(a)
        overrides.append({"matcher": {"id": "byName", "options": t(a)}, "properties": [
            {"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1},
            {"id": "color", "value": {"mode": "continuous-RdYlGr" if a["metric"] not in CEILINGS
                                      else "continuous-GrYlRd"}},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}}]})
    p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                        "overrides": overrides}
    p["options"] = table_options("county")
    p["transformations"] = [{"id": "merge", "options": {}}, {"id": "organize", "options": {
        "excludeByName": hide("Time", "city"), "renameByName": rename}}]
    panels.append(p)

    # The map of targets met.
    met = " + ".join(
        "(max by (city, county, town, village) (%s{%s}) %s bool on (city, county) group_left () %s)" % (
            a["metric"], SEL, better(a["metric"]), target_of(a["metric"])) for a in AREAS)
    reported = " + ".join("(max by (city, county, town, village) (%s{%s}) * 0 + 1)" % (a["metric"], SEL)
                          for a in AREAS)
    targets = [prom("A", "max by (city, county, town, village) (village_latitude_degrees{%s})" % SEL, fmt="table"),
               prom("B", "max by (city, county, town, village) (village_longitude_degrees{%s})" % SEL, fmt="table"),
               prom("C", "(%s)\n/\n(%s)" % (met, reported), fmt="table")]
    panels.append(geomap(lay, w["map_met"], {
        "en": "Every selected village where its coordinates put it, coloured by the share of the "
              "six targets above it meets (red none, green all). The view fits the selected "
              "villages. Click a village for its page.",
        "zh": "所选各村按坐标标出，颜色为上面六项目标中已达到的比例（红：都未达到，绿：全部达到）。视图自动适配所选村。点击村查看村页面。"}[lang],
        12, 12, targets, PROM, "percentunit", AREAS[0]["metric"], [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": hide("Time", "city"), "renameByName": {
                "Value #A": "latitude", "Value #B": "longitude", "Value #C": "value"}}}], lang))

    # One row per area.
    for a in AREAS:
        m, title = a["metric"], t(a)
        row = lay.row(title, collapsed=a is not AREAS[0])
        into = panels if a is AREAS[0] else row["panels"]
        panels.append(row)
        worst = "sort" if m not in CEILINGS else "sort_desc"
        th, tr = thresholds_from("B", m)
        p = panel(lay, "bargauge", "%s: %s" % (title, w["county_rank"]), {
            "en": "Every county, the furthest from its target first. Click a county to look into it.",
            "zh": "各县，距目标最远的在前。点击县名查看该县。"}[lang], 6, 9,
            [prom("A", "%s(county:%s:weighted_mean)" % (worst, m), "{{county}}"),
             prom("B", "max(%s)" % target_of(m) if m not in CEILINGS else "min(%s)" % target_of(m), "Target")],
            PROM)
        p["fieldConfig"] = {"defaults": dict({"unit": a["unit"], "decimals": 1,
                                              "links": [self_link(lang, "${__field.labels.county}")]},
                                             **th),
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                        "valueMode": "color", "minVizHeight": 10, "minVizWidth": 0}
        p["transformations"] = [tr]
        into.append(p)
        # Towns: a table with every town, worst first, its gap beside it.
        targets = [prom("A", "max by (city, county, town) (town:%s:weighted_mean{county=~\"$county\"})" % m,
                        fmt="table"),
                   prom("B", "max by (city, county, town) (town:%s:weighted_mean{county=~\"$county\"})\n%s bool on (city, county) group_left ()\n%s" % (
                       m, better(m), target_of(m)), fmt="table")]
        rename = {"Value #A": title, "Value #B": w["target"]}
        if a["gap"]:
            targets.append(prom("C", gap_expr(a, 'county=~"$county"', "city, county, town"),
                                fmt="table"))
            rename["Value #C"] = a["gap_" + lang]
        p = panel(lay, "table", "%s: %s" % (title, w["town_rank"]), {
            "en": "Every town of the selected counties, the furthest from the target first "
                  "(pages at the bottom), whether it meets its county's target (1) and what it "
                  "still lacks. Click a town to look into it.",
            "zh": "所选县的各乡镇，距目标最远的在前（底部分页），是否达到本县目标（1 为达到）及尚差多少。点击乡镇查看。"}[lang],
            6, 9, targets, PROM)
        p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                            "overrides": [
                                {"matcher": {"id": "byName", "options": title},
                                 "properties": [{"id": "unit", "value": a["unit"]},
                                                {"id": "decimals", "value": 1}]},
                                {"matcher": {"id": "byName", "options": "town"},
                                 "properties": [{"id": "links", "value": [
                                     self_link(lang, "${__data.fields.county}", "${__value.raw}")]}]}]}
        p["options"] = table_options(title, desc=m in CEILINGS)
        p["transformations"] = [{"id": "merge", "options": {}}, {"id": "organize", "options": {
            "excludeByName": hide("Time", "city"),
            "indexByName": {"town": 0, "county": 1, title: 2}, "renameByName": rename}}]
        into.append(p)
        p = panel(lay, "histogram", "%s: %s" % (title, w["by_value"]), {
            "en": "How many of the selected villages have each value.",
            "zh": "所选各村数值的分布。"}[lang], 6, 9,
            [prom("A", "max by (city, county, town, village) (%s{%s})" % (m, SEL), "{{village}}")], PROM)
        p["fieldConfig"] = {"defaults": {"unit": a["unit"], "color": {"mode": "fixed", "fixedColor": "blue"},
                                         "custom": {"fillOpacity": 80, "lineWidth": 1}}, "overrides": []}
        p["options"] = {"combine": True, "legend": {"showLegend": False, "displayMode": "list",
                                                    "placement": "bottom", "calcs": []}}
        into.append(p)
        # Villages short of their target, worst first, with the gap.
        short = short_of(m, "max by (%s) (%s{%s})" % (VILLAGE, m, SEL), target_of(m))
        exprs = ["max by (%s) (%s{%s})\nand on (%s)\n(%s > 0)" % (
            VILLAGE, m, SEL, VILLAGE, short), "%s > 0" % short]
        if lang == "zh":
            exprs = [chinese_names(e) for e in exprs]
        targets = [prom("A", exprs[0], fmt="table"), prom("B", exprs[1], fmt="table")]
        p = panel(lay, "table", "%s: %s" % (title, w["behind"]), {
            "en": "Every selected village short of its county's target, the furthest first (pages "
                  "at the bottom), with how far it is short. Click a village for its page.",
            "zh": "所选村中未达到本县目标的村，最差在前（底部分页），及其差距。点击村查看村页面。"}[lang],
            6, 9, targets, PROM)
        p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                            "overrides": [
                                {"matcher": {"id": "byName", "options": title},
                                 "properties": [{"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1}]},
                                {"matcher": {"id": "byName", "options": w["gap"]},
                                 "properties": [{"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1}]},
                                {"matcher": {"id": "byName", "options": "village"},
                                 "properties": [{"id": "links", "value": [village_link(lang)]}]}]}
        p["options"] = table_options(w["gap"], desc=True)
        rename = {"Value #A": title, "Value #B": w["gap"]}
        exclude = hide("Time", "city")
        p["transformations"] = [{"id": "merge", "options": {}}, {"id": "organize", "options": {
            "excludeByName": exclude,
            "indexByName": {"county": 0, "town": 1, "village": 2, "village_zh": 3,
                            "town_zh": 4, "county_zh": 5, "code": 6},
            "renameByName": rename}}]
        into.append(p)
        p = panel(lay, "timeseries", "%s %s" % (title, w["over_time"]), {
            "en": "Each selected county, the selected towns together, and the target (dashed).",
            "zh": "所选各县、所选乡镇合计及目标（虚线）。"}[lang], 16, 8,
            [prom("A", "county:%s:weighted_mean{county=~\"$county\"}" % m, "{{county}}", instant=False),
             prom("B", rollup(a), w["selected"], instant=False),
             prom("C", selection_target(a), w["target"], instant=False)], PROM)
        p["fieldConfig"] = {"defaults": {"unit": a["unit"], "decimals": 1,
                                         "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0,
                                                    "showPoints": "never", "spanNulls": True}},
                            "overrides": [
                                {"matcher": {"id": "byName", "options": w["selected"]},
                                 "properties": [{"id": "custom.lineWidth", "value": 3}]},
                                {"matcher": {"id": "byName", "options": w["target"]},
                                 "properties": [{"id": "custom.lineStyle",
                                                 "value": {"fill": "dash", "dash": [10, 10]}},
                                                {"id": "color", "value": {"mode": "fixed",
                                                                          "fixedColor": "green"}}]}]}
        p["options"] = {"legend": {"showLegend": True, "displayMode": "list", "placement": "right",
                                   "calcs": []}, "tooltip": {"mode": "multi", "sort": "desc"}}
        into.append(p)
        targets = [prom("A", "max by (city, county, town, village) (village_latitude_degrees{%s})" % SEL, fmt="table"),
                   prom("B", "max by (city, county, town, village) (village_longitude_degrees{%s})" % SEL, fmt="table"),
                   prom("C", "max by (city, county, town, village) (%s{%s})" % (m, SEL), fmt="table")]
        into.append(geomap(lay, "%s: %s" % (title, w["map"]), {
            "en": "The selected villages coloured by %s, green the better (for poverty incidence, "
                  "the lower); the view fits them." % a["en"].lower(),
            "zh": "所选各村按%s着色，越绿越好（贫困发生率越低越好）；视图自动适配所选村。" % a["zh"]}[lang],
            8, 8, targets, PROM, a["unit"], m, [
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": hide("Time", "city"), "renameByName": {
                    "Value #A": "latitude", "Value #B": "longitude", "Value #C": "value"}}}], lang))
    uid = "villagemetrics-progress" + ("-zh" if lang == "zh" else "")
    templ = variables("prometheus", lang, [
        ("county", "label_values(village:indicators:count, county)", True),
        ("town", 'label_values(village:indicators:count{county=~"$county"}, town)', True),
        ("village", 'label_values(village:indicators:count{county=~"$county", town=~"$town"}, village)', True)],
        [tiles_variable(lang), constant("village_page", "villagemetrics-village")])
    return dashboard(uid, w["progress"], {
        "en": "Progress of every county, town and village towards the programme's targets "
              "(the daemon's \"targets\"), from villagemetricsd through Prometheus. Needs "
              "dashboards/rules/recording.yml and targets.yml.",
        "zh": "各县、乡镇、村距项目目标（守护进程配置的 targets）的进展，数据经 Prometheus 来自 villagemetricsd。需要 dashboards/rules/recording.yml 和 targets.yml。"}[lang],
        ["villagemetrics", "villagemetrics-progress"] + (["zh"] if lang == "zh" else []),
        panels, templ)


# ---- the InfluxDB progress dashboard -----------------------------------

def field(metric):
    return metric[len("village_"):]


def iwhere(county=True, town=True, village=True):
    parts = ["$timeFilter"]
    if county:
        parts.append('"county" =~ /^$county$/')
    if town:
        parts.append('"town" =~ /^$town$/')
    if village:
        parts.append('"village" =~ /^$village$/')
    return " AND ".join(parts)


def irollup(a, where, group=""):
    f, wt = field(a["metric"]), a["weight"]
    return ('SELECT sum("w") / sum("h") AS "value" FROM (\n'
            '  SELECT last("%s") * last("%s") AS "w", last("%s") + 0 * last("%s") AS "h"\n'
            '  FROM "village"\n  WHERE %s\n  GROUP BY "county", "town", "village"\n)%s' % (
                f, wt, wt, f, where, "\nGROUP BY " + group if group else ""))


def itarget(a):
    """The default target (village_target without a county) as the exporter
    writes it: field "target" of measurement "village", tag indicator."""
    return ('SELECT last("target") AS "Target" FROM "village"\n'
            'WHERE $timeFilter AND "indicator" = \'%s\' AND "county" = \'\'' % a["metric"])


def progress_influx(lang):
    w = WORDS[lang]
    t = lambda a: a[lang]
    lay = Layout()
    panels = [lay.row(w["overview"])]
    for a in AREAS:
        th, tr = thresholds_from("B", a["metric"])
        p = panel(lay, "stat", t(a), {
            "en": "%s of the selected villages, weighted by %s, coloured against the default "
                  "target (village_target written by the influxdb exporter)." % (a["en"], a["weight"]),
            "zh": "所选村的%s（加权汇总），按默认目标着色。" % a["zh"]}[lang], 4, 5,
            [influx("A", irollup(a, iwhere())), influx("B", itarget(a))], INFLUX)
        p["fieldConfig"] = {"defaults": dict({"unit": a["unit"], "decimals": 1,
                                              "displayName": t(a)}, **th),
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "none", "justifyMode": "center",
                        "orientation": "auto", "textMode": "value_and_name"}
        p["transformations"] = [tr]
        panels.append(p)
    for key, f in [("reporting", "population"), ("households", "households"),
                   ("poor", "poor_households"), ("lifted", "lifted_households")]:
        agg = "count" if key == "reporting" else "sum"
        q = ('SELECT %s("v") AS "%s" FROM (\n  SELECT last("%s") AS "v" FROM "village"\n'
             '  WHERE %s\n  GROUP BY "county", "town", "village"\n)' % (agg, key, f, iwhere()))
        p = panel(lay, "stat", w[key], {"en": "%s of the selected villages." % w[key],
                                        "zh": "所选村的%s。" % w[key]}[lang], 6, 4,
                  [influx("A", q)], INFLUX)
        p["fieldConfig"] = {"defaults": {"unit": "short", "decimals": 0,
                                         "color": {"mode": "fixed", "fixedColor": "text"}},
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "none", "graphMode": "none", "justifyMode": "center",
                        "orientation": "auto", "textMode": "value"}
        panels.append(p)
    targets = []
    for i, a in enumerate(AREAS):
        q = irollup(a, "$timeFilter", '"county"').replace('AS "value"', 'AS "%s"' % t(a))
        targets.append(influx(chr(65 + i), q, "table"))
    p = panel(lay, "table", w["counties"], {
        "en": "Every county on every indicator, weighted, coloured from worst (red) to best "
              "(green) in each indicator's direction. Click a county to look into it.",
        "zh": "各县各项指标（加权汇总），颜色按指标方向由差（红）到好（绿）。点击县名查看。"}[lang],
        12, 12, targets, INFLUX)
    overrides = [{"matcher": {"id": "byName", "options": "county"},
                  "properties": [{"id": "links", "value": [self_link(lang, "${__value.raw}")]}]}]
    for a in AREAS:
        overrides.append({"matcher": {"id": "byName", "options": t(a)}, "properties": [
            {"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1},
            {"id": "color", "value": {"mode": "continuous-RdYlGr" if a["metric"] not in CEILINGS
                                      else "continuous-GrYlRd"}},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}}]})
    p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                        "overrides": overrides}
    p["options"] = table_options("county")
    p["transformations"] = [{"id": "merge", "options": {}},
                            {"id": "organize", "options": {"excludeByName": hide("Time")}}]
    panels.append(p)
    a = AREAS[0]
    q = ('SELECT last("latitude_degrees") AS "latitude", last("longitude_degrees") AS "longitude", '
         'last("%s") AS "value"\nFROM "village"\nWHERE %s\nGROUP BY "county", "town", "village"' % (
             field(a["metric"]), iwhere()))
    panels.append(geomap(lay, "%s: %s" % (t(a), w["map"]), {
        "en": "The selected villages coloured by safe water, green the better; the view fits them.",
        "zh": "所选各村按安全饮水着色，越绿越好；视图自动适配所选村。"}[lang], 12, 12,
        [influx("A", q, "table")], INFLUX, a["unit"], a["metric"],
        [{"id": "organize", "options": {"excludeByName": hide("Time")}}], lang))
    for a in AREAS:
        m, title = a["metric"], t(a)
        row = lay.row(title, collapsed=a is not AREAS[0])
        into = panels if a is AREAS[0] else row["panels"]
        panels.append(row)
        desc = m in CEILINGS
        th, tr = thresholds_from("B", m)
        for name, where, group, order in [
                ("county_rank", "$timeFilter", '"county"', ["county"]),
                ("town_rank", iwhere(town=False, village=False), '"county", "town"', ["town", "county"])]:
            q = irollup(a, where, group).replace('AS "value"', 'AS "%s"' % title)
            p = panel(lay, "table", "%s: %s" % (title, w[name]), {
                "en": "The furthest from the default target first (pages at the bottom). Click to look into it.",
                "zh": "距默认目标最远的在前（底部分页）。点击查看。"}[lang], 6, 9,
                [influx("A", q, "table"), influx("B", itarget(a), "table")], INFLUX)
            link = (self_link(lang, "${__value.raw}") if name == "county_rank"
                    else self_link(lang, "${__data.fields.county}", "${__value.raw}"))
            p["fieldConfig"] = {"defaults": dict({"custom": {"align": "auto",
                                                             "cellOptions": {"type": "auto"}}}, **th),
                                "overrides": [
                                    {"matcher": {"id": "byName", "options": title},
                                     "properties": [{"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1},
                                                    {"id": "custom.cellOptions", "value": {"type": "color-text"}}]},
                                    {"matcher": {"id": "byName", "options": order[0]},
                                     "properties": [{"id": "links", "value": [link]}]}]}
            p["options"] = table_options(title, desc=desc)
            p["transformations"] = [tr, {"id": "organize", "options": {
                "excludeByName": hide("Time"), "indexByName": {k: i for i, k in enumerate(order + [title])}}}]
            into.append(p)
        q = ('SELECT last("%s") AS "%s", "county", "town" FROM "village"\nWHERE %s\n'
             'GROUP BY "county", "town", "village"' % (field(m), title, iwhere()))
        p = panel(lay, "table", "%s: %s" % (title, w["behind"]), {
            "en": "Every selected village, the furthest from the default target first (pages at "
                  "the bottom), coloured against it. Click a village for its page.",
            "zh": "所选各村，距默认目标最远的在前（底部分页）。点击村查看村页面。"}[lang], 12, 9,
            [influx("A", q, "table"), influx("B", itarget(a), "table")], INFLUX)
        p["fieldConfig"] = {"defaults": dict({"custom": {"align": "auto",
                                                         "cellOptions": {"type": "auto"}}}, **th),
                            "overrides": [
                                {"matcher": {"id": "byName", "options": title},
                                 "properties": [{"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1},
                                                {"id": "custom.cellOptions", "value": {"type": "color-text"}}]},
                                {"matcher": {"id": "byName", "options": "village"},
                                 "properties": [{"id": "links", "value": [village_link(lang)]}]}]}
        p["options"] = table_options(title, desc=desc)
        p["transformations"] = [tr, {"id": "organize", "options": {
            "excludeByName": hide("Time", "county_1", "town_1"),
            "indexByName": {"county": 0, "town": 1, "village": 2, title: 3}}}]
        into.append(p)
        q = ('SELECT sum("w") / sum("h") AS "value" FROM (\n'
             '  SELECT last("%s") * last("%s") AS "w", last("%s") + 0 * last("%s") AS "h"\n'
             '  FROM "village"\n  WHERE %s\n  GROUP BY time($__interval), "county", "town", "village"\n)\n'
             'WHERE $timeFilter\nGROUP BY time($__interval), "county" fill(none)' % (
                 field(m), a["weight"], a["weight"], field(m), iwhere(town=False, village=False)))
        tq = ('SELECT last("target") AS "%s" FROM "village"\nWHERE $timeFilter AND "indicator" = \'%s\' '
              'AND "county" = \'\'\nGROUP BY time($__interval) fill(previous)' % (w["target"], m))
        p = panel(lay, "timeseries", "%s %s" % (title, w["over_time"]), {
            "en": "Each selected county and the default target (dashed).",
            "zh": "所选各县及默认目标（虚线）。"}[lang], 24, 8,
            [influx("A", q), influx("B", tq)], INFLUX)
        p["fieldConfig"] = {"defaults": {"unit": a["unit"], "decimals": 1,
                                         "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0,
                                                    "showPoints": "never", "spanNulls": True}},
                            "overrides": [{"matcher": {"id": "byFrameRefID", "options": "B"},
                                           "properties": [{"id": "custom.lineStyle",
                                                           "value": {"fill": "dash", "dash": [10, 10]}}]}]}
        p["options"] = {"legend": {"showLegend": True, "displayMode": "list", "placement": "right",
                                   "calcs": []}, "tooltip": {"mode": "multi", "sort": "desc"}}
        into.append(p)
    tag = 'SHOW TAG VALUES FROM "village" WITH KEY = "%s"'
    templ = variables("influxdb", lang, [
        ("county", tag % "county", True),
        ("town", tag % "town" + ' WHERE "county" =~ /^$county$/', True),
        ("village", tag % "village" + ' WHERE "county" =~ /^$county$/ AND "town" =~ /^$town$/', True)],
        [tiles_variable(lang), constant("village_page", "villagemetrics-village")])
    for v in templ[1:4]:
        v["refresh"] = 1
    uid = "villagemetrics-progress-influxdb" + ("-zh" if lang == "zh" else "")
    return dashboard(uid, w["progress_influx"], {
        "en": "The village progress dashboard on InfluxDB (InfluxQL), from the influxdb "
              "exporter's default schema: measurement village, the targets in field target.",
        "zh": "InfluxDB（InfluxQL）上的村级进展，使用 influxdb 导出器的默认格式：measurement village，目标在 target 字段。"}[lang],
        ["villagemetrics", "villagemetrics-progress", "influxdb"] + (["zh"] if lang == "zh" else []),
        panels, templ, time_from="now-1y")


# ---- the village page --------------------------------------------------

def village_page():
    lang = "en"
    lay = Layout()
    one = 'county="$county", town="$town", village="$village"'
    panels = [lay.row("$village ($town, $county)")]

    def values(names):
        """The village's value of each indicator named, labelled by it."""
        return ('max by (indicator) (\n  label_replace({__name__=~"%s", %s},\n'
                '    "indicator", "$1", "__name__", "(.+)")\n)' % ("|".join(names), one))
    VF = values([n for n in measured() if n not in CEILINGS])
    VC = values([n for n in measured() if n in CEILINGS])
    T = 'max by (indicator) (county:village_target:effective{county="$county"})'
    stats = [
        ("Chinese name", "max by (village_zh, town_zh, county_zh) (village_info{%s})" % one,
         "{{village_zh}} ({{town_zh}}, {{county_zh}})", "none",
         "The village's names in Chinese, from the registry's village_info."),
        ("Report date", "max(village_report_timestamp_seconds{%s}) * 1000" % one, None,
         "dateTimeAsIso", "When the figures were surveyed (the report's as_of), from "
                          "village_report_timestamp_seconds."),
        ("Report age", "time() - max(village_report_timestamp_seconds{%s})" % one, None, "s",
         "How old the report is now."),
        ("Targets met", "count(\n  (%s >= %s)\n  or\n  (%s <= %s)\n)\nor vector(0)" % (
            VF, T, VC, T),
         None, "short", "How many of the indicators that have a target the village meets."),
    ]
    for title, expr, legend, unit, desc in stats:
        p = panel(lay, "stat", title, desc, 6, 4, [prom("A", expr, legend)], PROM)
        p["fieldConfig"] = {"defaults": {"unit": unit, "color": {"mode": "fixed", "fixedColor": "text"}},
                            "overrides": []}
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "none", "graphMode": "none", "justifyMode": "center",
                        "orientation": "auto", "textMode": "value" if legend is None else "name"}
        panels.append(p)
    # Every indicator against its target.
    value = values(measured())
    short = "clamp_min(%s - %s, 0)\nor\nclamp_min(%s - %s, 0)" % (T, VF, VC, T)
    p = panel(lay, "table", "Every indicator against its target", (
        "Each indicator the village reports now, the target of its county (village_target: the "
        "county's own or the default) and how far it is short of it (0: met). For poverty "
        "incidence, school drop-outs and poor households the target is a ceiling."),
        14, 14, [prom("A", value, fmt="table"), prom("B", T, fmt="table"),
                 prom("C", short, fmt="table")], PROM)
    p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}},
                                     "decimals": 4}, "overrides": []}
    p["options"] = table_options("indicator")
    p["transformations"] = [{"id": "merge", "options": {}}, {"id": "organize", "options": {
        "excludeByName": hide("Time"), "indexByName": {"indicator": 0},
        "renameByName": {"Value #A": "value", "Value #B": "target", "Value #C": "short of target"}}}]
    panels.append(p)
    p = panel(lay, "table", "Where the figures came from", (
        "The source of the village's report (its source label: the file, URL or collector it came "
        "from) and the labels that locate it, with the report date."), 10, 7,
        [prom("A", "max without (__name__) (village_report_timestamp_seconds{%s}) * 1000" % one, fmt="table")],
        PROM)
    p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                        "overrides": [{"matcher": {"id": "byName", "options": "Value"},
                                       "properties": [{"id": "unit", "value": "dateTimeAsIso"},
                                                      {"id": "displayName", "value": "report date"}]}]}
    p["options"] = table_options()
    p["transformations"] = [{"id": "organize", "options": {"excludeByName": hide("Time")}}]
    panels.append(p)
    targets = [prom(chr(65 + i), "max by (city, county, town, village) (%s{county=\"$county\", town=\"$town\"})" % a["metric"],
                    fmt="table") for i, a in enumerate(AREAS)]
    p = panel(lay, "table", "Neighbours in $town", (
        "Every village of the same town on the six progress indicators. Click one for its page."),
        10, 7, targets, PROM)
    overrides = [{"matcher": {"id": "byName", "options": "village"},
                  "properties": [{"id": "links", "value": [{
                      "title": "Open ${__value.text}",
                      "url": "/d/${__dashboard.uid}?${__url_time_range}&var-datasource=${datasource}"
                             "&var-county=${__data.fields.county}&var-town=${__data.fields.town}"
                             "&var-village=${__value.raw}"}]}]}]
    rename = {}
    for i, a in enumerate(AREAS):
        rename["Value #%s" % chr(65 + i)] = a["en"]
        overrides.append({"matcher": {"id": "byName", "options": a["en"]}, "properties": [
            {"id": "unit", "value": a["unit"]}, {"id": "decimals", "value": 1}]})
    p["fieldConfig"] = {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                        "overrides": overrides}
    p["options"] = table_options("village")
    p["transformations"] = [{"id": "merge", "options": {}}, {"id": "organize", "options": {
        "excludeByName": hide("Time", "city"), "indexByName": {"village": 0},
        "renameByName": rename}}]
    panels.append(p)
    for title, unit, pick in [("Shares over time", "percentunit", lambda n: n.endswith("_ratio")),
                              ("Amounts over time", "short", lambda n: not n.endswith("_ratio"))]:
        sel = "|".join(n for n in measured() if pick(n))
        p = panel(lay, "timeseries", title, "The village's figures over the time range.", 12, 8,
                  [prom("A", 'max by (__name__) ({__name__=~"%s", %s})' % (sel, one), "{{__name__}}",
                        instant=False)], PROM)
        p["fieldConfig"] = {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1,
                                                                  "fillOpacity": 0, "showPoints": "never",
                                                                  "spanNulls": True}}, "overrides": []}
        p["options"] = {"legend": {"showLegend": True, "displayMode": "list", "placement": "right",
                                   "calcs": []}, "tooltip": {"mode": "multi", "sort": "desc"}}
        panels.append(p)
    templ = variables("prometheus", lang, [
        ("county", "label_values(village:indicators:count, county)", False),
        ("town", 'label_values(village:indicators:count{county="$county"}, town)', False),
        ("village", 'label_values(village:indicators:count{county="$county", town="$town"}, village)', False)])
    return dashboard("villagemetrics-village", "Village", (
        "One village: every indicator against its county's target, its history, report date and "
        "age, where the figures came from, and its neighbours in the town. Opened from the tables "
        "and maps of the progress dashboards."),
        ["villagemetrics", "villagemetrics-village"], panels, templ)


def outputs():
    """{path relative to dashboards/: text} of every generated file."""
    out = {}
    for name, d in [("village-progress.json", progress_prom("en")),
                    ("village-progress-zh.json", progress_prom("zh")),
                    ("../dashboards-influxdb/village-progress-influxdb.json", progress_influx("en")),
                    ("../dashboards-influxdb/village-progress-influxdb-zh.json", progress_influx("zh")),
                    ("village.json", village_page())]:
        out[name] = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
    out["rules/targets.yml"] = target_rules()
    return out


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for name, text in outputs().items():
        path = os.path.normpath(os.path.join(OUT, name))
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if same:
            continue
        stale.append(name)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if check and stale:
        print("not as scripts/gen-dashboards.py writes them: %s" % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
