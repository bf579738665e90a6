"""The village registry end to end: a CSV with pinyin names and a
spreadsheet export with Chinese names of the same villages become one
series each in a real Prometheus, with the registry's labels and exact
values; rows naming no village or several are rejected and counted; a
push resolves as a file does; a change of the registry file reloads, and
a bad one is refused while the old one stays."""

import os
import shutil
import signal
import unittest

from harness import (DATA, Daemon, IntegrationTest, Prometheus, find,
                     http_post, wait_for)

REGISTRY = os.path.join(DATA, "registry", "tongren.csv")

TAOZIYUAN = {"code": "522205001000", "county": "Shiqian", "town": "Wude",
             "village": "Taoziyuan"}
BAMU = {"code": "522210001001", "county": "Songtao", "town": "Ganlong",
        "village": "Bamu"}
LUOJIABA = {"code": "522206001002", "county": "Sinan", "town": "Sunjiaba",
            "village": "Luojiaba"}

# The provincial API's export: pinyin names.
API_CSV = ("county,town,village,water,population\n"
           "Shiqian,Wude,Taoziyuan,0.7665,4000\n"
           "Songtao,Ganlong,Bamu,0.7227,\n")
# A cadre's spreadsheet, saved by Excel: a byte order mark, a title row,
# Chinese names with and without their suffixes, a misspelt village and
# an old name two villages of one town still go by.
SHEET_CSV = ("\ufeff铜仁市村级指标月报,,,\n"
             "县,乡镇,村,安全饮水率\n"
             "石阡县,五德镇,桃子园村,76.65%\n"
             "思南,孙家坝镇,罗家坝,72.24%\n"
             "石阡县,五德镇,桃子圆村,50%\n"
             "松桃,甘龙镇,寨上,40%\n")

# The census office's file: codes only.
CENSUS_CSV = "code,population\n522210001001,3320\n"


def write_atomically(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


def sorted_labels(d):
    return sorted((k, v) for k, v in d.items() if k not in ("instance", "job"))


class RegistryTest(IntegrationTest):
    def start(self, extra_collectors=()):
        for folder, name, text in (("api", "villages.csv", API_CSV),
                                   ("sheet", "report.csv", SHEET_CSV),
                                   ("census", "census.csv", CENSUS_CSV)):
            os.makedirs(os.path.join(self.tmp, folder), exist_ok=True)
            write_atomically(os.path.join(self.tmp, folder, name), text)
        shutil.copy(REGISTRY, os.path.join(self.tmp, "registry.csv"))
        cfg = {
            "registry": {"path": "registry.csv"},
            "labels": {"city": "Tongren"},
            "collectors": [
                {"type": "file", "name": "api", "path": "api/*.csv",
                 "settle": "50ms",
                 "labels": {"county": "county", "town": "town",
                            "village": "village"},
                 "metrics": {"village_water_safe_households_ratio": "water",
                             "village_population": "population"}},
                {"type": "file", "name": "sheet", "path": "sheet/*.csv",
                 "settle": "50ms",
                 "labels": {"county": "县", "town": "乡镇", "village": "村"},
                 "metrics": {
                     "village_water_safe_households_ratio": "安全饮水率"}},
                # Under labels of its own: the registry's Bamu population
                # gives way to it all the same.
                {"type": "file", "name": "census", "path": "census/*.csv",
                 "settle": "50ms", "const_labels": {"source": "census"},
                 "labels": {"code": "code"},
                 "metrics": {"village_population": "population"}},
            ] + list(extra_collectors),
            "exporters": [{"type": "prometheus"}],
        }
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        return d.start()

    def rejected(self, d, collector, reason):
        return find(d.metrics(), "villagemetrics_rejected_values_total",
                    collector=collector, reason=reason)


class TestJoin(RegistryTest):
    def test_pinyin_and_chinese_rows_are_one_series_in_prometheus(self):
        d = self.start()
        prom = Prometheus(self.tmp, [d.port])
        self.stops.append(prom.stop)
        water = wait_for(
            "three water series in Prometheus",
            lambda: (lambda r: r if len(r) == 3 else None)(
                prom.query("village_water_safe_households_ratio")))
        got = {r["metric"]["code"]: (sorted_labels(r["metric"]),
                                     float(r["value"][1])) for r in water}
        name = ("__name__", "village_water_safe_households_ratio")
        city = ("city", "Tongren")
        # Taoziyuan came from both files (76.65% is 0.7665 exactly) and
        # is one series; Luojiaba came in Chinese only, under the
        # registry's pinyin names and its code.
        self.assertEqual(got, {
            "522205001000": (sorted([name, city] + list(TAOZIYUAN.items())),
                             0.7665),
            "522210001001": (sorted([name, city] + list(BAMU.items())),
                             0.7227),
            "522206001002": (sorted([name, city] + list(LUOJIABA.items())),
                             0.7224),
        })
        # Grafana's join: the Chinese names from village_info by code.
        joined = prom.query(
            'village_water_safe_households_ratio * on(code) '
            'group_left(village_zh, town_zh, county_zh) village_info')
        self.assertEqual(
            sorted((r["metric"]["village_zh"], r["metric"]["town_zh"],
                    r["metric"]["county_zh"], float(r["value"][1]))
                   for r in joined),
            [("坝木村", "甘龙镇", "松桃苗族自治县", 0.7227),
             ("桃子园村", "五德镇", "石阡县", 0.7665),
             ("罗家坝村", "孙家坝镇", "思南县", 0.7224)])
        # The registry's population where no source gives one; the
        # API's own where it does.
        pop = sorted((r["metric"]["village"], r["metric"].get("source"),
                      float(r["value"][1]))
                     for r in prom.query("village_population"))
        self.assertEqual(pop, [("Bamu", "census", 3320),
                               ("Luojiaba", None, 2948),
                               ("Taoziyuan", None, 4000)])
        self.assertEqual(prom.scalar("count(village_info)"), 5)
        self.assertEqual(prom.scalar(
            'village_latitude_degrees{village="Luojiaba"}'), 28.10205)
        # The misspelt row and the one two towns share: rejected, counted.
        self.assertEqual(prom.scalar(
            'villagemetrics_rejected_values_total{collector="sheet",'
            'reason="unknown_village"}'), 1)
        self.assertEqual(prom.scalar(
            'villagemetrics_rejected_values_total{collector="sheet",'
            'reason="ambiguous_village"}'), 1)
        self.assertEqual(self.rejected(d, "api", "unknown_village"), 0)
        status = d.status()
        self.assertEqual(status["config"]["registry"],
                         {"path": os.path.join(self.tmp, "registry.csv"),
                          "villages": 5})
        sheet = [c for c in status["collectors"] if c["name"] == "sheet"][0]
        details = {r["where"]: r["detail"] for r in sheet["recent_rejections"]}
        report = os.path.join(self.tmp, "sheet", "report.csv")
        self.assertEqual(
            details[report + ":5:4 (安全饮水率)"],
            'no village "桃子圆村" in town "五德镇" of county "石阡县" in the '
            'registry; nearest: Taoziyuan (桃子园村, Wude, Shiqian, '
            '522205001000); Bamu (坝木村, Ganlong, Songtao, 522210001001); '
            'Luojiaba (罗家坝村, Sunjiaba, Sinan, 522206001002)')
        self.assertEqual(
            details[report + ":6:4 (安全饮水率)"],
            '"寨上" in town "甘龙镇" of county "松桃" is 2 registry villages: '
            'Bamu (坝木村, Ganlong, Songtao, 522210001001); Xinzhai (新寨村, '
            'Ganlong, Songtao, 522210001010); give its town or code')

    def test_pushed_samples_resolve_as_file_rows_do(self):
        d = self.start([{"type": "listen", "name": "push"}])
        body = ("water,county=石阡县,town=五德,village=桃园 "
                "safe_households_ratio=0.8\n"
                "water,code=522210001001 safe_households_ratio=0.9\n"
                "water,county=Songtao,village=Xinzhai "
                "safe_households_ratio=0.1\n").encode()
        status, _, answer = http_post(d.port, "/write?db=v", body)
        self.assertEqual(status, 400, answer)
        self.assertIn('/write:3:1: \\"Xinzhai\\" of county \\"Songtao\\" is 2 '
                      'registry villages', answer.decode())
        m = d.metrics()
        self.assertEqual(find(m, "water_safe_households_ratio", city="Tongren",
                              **TAOZIYUAN), 0.8)
        self.assertEqual(find(m, "water_safe_households_ratio", city="Tongren",
                              **BAMU), 0.9)
        self.assertEqual(self.rejected(d, "push", "ambiguous_village"), 1)


class TestReload(RegistryTest):
    def test_a_changed_registry_reloads_and_a_bad_one_is_refused(self):
        d = self.start()
        path = os.path.join(self.tmp, "registry.csv")
        with open(REGISTRY, encoding="utf-8") as f:
            registry = f.read()
        # Luojiaba is not in the registry yet: the sheet's 罗家坝 is
        # unknown until it is.
        lines = registry.splitlines(True)
        write_atomically(path, "".join(l for l in lines
                                       if not l.startswith("522206001002")))
        d.signal(signal.SIGHUP)
        wait_for("the registry without Luojiaba",
                 lambda: self.rejected(d, "sheet", "unknown_village") == 2)
        self.assertNotIn(("village_water_safe_households_ratio",
                          frozenset(LUOJIABA.items())), d.metrics())
        write_atomically(path, registry)
        wait_for("the sheet read again with the new registry",
                 lambda: [v for (n, ls), v in d.metrics().items()
                          if n == "village_water_safe_households_ratio" and
                          set(LUOJIABA.items()) <= set(ls)] == [0.7224])
        m = d.metrics()
        self.assertEqual(m[("villagemetrics_config_last_reload_successful",
                            frozenset())], 1)
        self.assertEqual(len([1 for (n, _) in m if n == "village_info"]), 5)
        # A duplicate code: refused like a bad configuration; the
        # registry in force stays, and so do the series.
        write_atomically(path, registry + lines[1])
        wait_for("the bad registry refused",
                 lambda: d.metrics()[
                     ("villagemetrics_config_last_reload_successful",
                      frozenset())] == 0)
        self.assertIn("registry.csv:7:1 (code): code 522205001000 is given "
                      "twice (also on line 2)", d.logs())
        m = d.metrics()
        self.assertEqual(len([1 for (n, _) in m if n == "village_info"]), 5)
        self.assertEqual(find(m, "village_water_safe_households_ratio",
                              **LUOJIABA), 0.7224)
        # Fixed again: accepted again.
        write_atomically(path, registry)
        wait_for("a good reload",
                 lambda: d.metrics()[
                     ("villagemetrics_config_last_reload_successful",
                      frozenset())] == 1)
        # Through the reloads, the census population of Bamu kept the
        # registry's away.
        self.assertEqual(
            [(dict(ls).get("source"), v) for (n, ls), v in d.metrics().items()
             if n == "village_population" and ("village", "Bamu") in ls],
            [("census", 3320)])


if __name__ == "__main__":
    unittest.main()
