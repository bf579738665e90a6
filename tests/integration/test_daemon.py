"""The daemon end to end: files in, /metrics and a real Prometheus out,
signals, reloads, configuration errors."""

import calendar
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import zlib

from harness import (BINARY, DATA, EXAMPLES, WRAPPER, Daemon, IntegrationTest,
                     Prometheus, VictoriaMetrics, copy_demo_files, find, free_port,
                     http_get, parse_metrics, wait_for)

# What the operator-log test serves and receives.
from harness import LoopbackServer, QuietHandler, ScriptedReceiver, http_post

COLUMNS = {
    "village_population": "population",
    "village_households": "households",
    "village_poor_households": "households_poor",
    "village_lifted_households": "households_lifted_total",
    "village_poverty_incidence_ratio": "poverty_incidence_ratio",
    "village_water_safe_households_ratio": "water_safe_households_ratio",
    "village_income_per_capita_yuan": "income_per_capita_yuan",
    "village_land_transferred_mu": "land_transferred_mu",
    "village_cadres_stationed": "cadres_stationed",
}


def villages_config(path_glob):
    return {
        "labels": {"city": "Tongren"},
        "collectors": [{
            "type": "file", "name": "villages", "path": path_glob,
            "settle": "100ms",
            "labels": {"county": "county", "town": "town", "village": "village"},
            "metrics": dict(COLUMNS),
        }],
        "exporters": [{"type": "prometheus"}],
    }


def write_in_place(path, text):
    """Rewrites a file in place, as an editor saving without rename does."""
    with open(path, "r+", encoding="utf-8", newline="") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


class DaemonTest(IntegrationTest):
    def daemon(self, config, **kw):
        d = Daemon(config, self.tmp, **kw)
        self.stops.append(d.stop)
        return d

    def copy_villages(self):
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        dst = os.path.join(self.tmp, "data", "villages.csv")
        shutil.copy(os.path.join(DATA, "villages.csv"), dst)
        return dst


class TestDemoInPrometheus(DaemonTest):
    """The README's demo, scraped by a real Prometheus."""

    def test_prometheus_sees_every_village_with_exact_values(self):
        subprocess.run([sys.executable, os.path.join(EXAMPLES, "generate-demo-data.py"),
                        os.path.join(self.tmp, "demo-data")], check=True,
                       stderr=subprocess.DEVNULL)
        copy_demo_files(self.tmp)
        d = self.daemon(os.path.join(EXAMPLES, "demo.json")).start()
        prom = Prometheus(self.tmp, [d.port])
        try:
            wait_for("all villages in Prometheus",
                     lambda: prom.scalar("count(village_population)") == 2600,
                     timeout=60)
            chuanyan = '{county="Yinjiang",town="Yangxi",village="Chuanyan",city="Tongren",source="demo"}'
            self.assertEqual(prom.scalar("village_income_per_capita_yuan" + chuanyan), 6815)
            self.assertEqual(prom.scalar("village_lifted_households" + chuanyan), 42)
            self.assertEqual(prom.scalar(
                'village_land_transferred_mu{county="Shiqian",town="Qingyang",village="Chayuan"}'), 382)
            self.assertEqual(prom.scalar(
                'village_water_safe_households_ratio{village="Taoziyuan",town="Wude",source="demo"}'), 0.7665)
            self.assertEqual(prom.scalar("count(count by (county) (village_population))"), 10)
            # Every catalog indicator is there for every village.
            self.assertEqual(prom.scalar("count(village_cadres_stationed)"), 2600)
            self.assertEqual(prom.scalar('up{job="villagemetrics"}'), 1)
            # Every village has a report date, monthly, due on the 10th.
            self.assertEqual(prom.scalar(
                'count(village_report_timestamp_seconds{source="villages"})'), 2600)
            self.assertEqual(prom.scalar(
                'count(village_report_next_due_timestamp_seconds{source="villages"})'), 2600)
            # Dated this month up to today: none in the future, none overdue.
            self.assertIsNone(prom.scalar(
                'count(village_report_timestamp_seconds{source="villages"} > time())'))
            self.assertIsNone(prom.scalar(
                'count(time() > village_report_next_due_timestamp_seconds)'))
            # The registers: a workbook's date cell and a GBK CSV's
            # 2026年12月4日, each a source of its own.
            self.assertEqual(prom.scalar(
                'village_report_timestamp_seconds{source="yanhe-register",village="Aixin"}'),
                1764720000 + 365 * 86400)
            self.assertEqual(prom.scalar(
                'village_report_timestamp_seconds{source="jiangkou-register",village="Jinghe"}'),
                1764806400 + 365 * 86400)
            self.assertEqual(prom.scalar(
                'village_report_timestamp_seconds{source="jiangkou-register",village="Gangdeng"}'),
                1764547200 + 365 * 86400)
            self.assertEqual(prom.scalar(
                'count(village_report_timestamp_seconds{source=~".*-register"})'), 12)
            # The cadres' Chinese report: its two figures of one village a
            # town, each under the registry's labels and equal to the
            # county files'.
            with open(os.path.join(self.tmp, "demo-data", "reports",
                                   "monthly-report.csv"), encoding="utf-8-sig") as f:
                report_rows = len(f.read().splitlines()) - 2
            wait_for("the cadres' report in Prometheus",
                     lambda: prom.scalar('count({source="cadre-report"})') ==
                     2 * report_rows)
            self.assertEqual(prom.scalar(
                'count(village_water_safe_households_ratio{source="cadre-report"}'
                ' == on(code) group_left '
                'village_water_safe_households_ratio{source="demo"})'), report_rows)
            self.assertEqual(prom.scalar(
                'village_water_safe_households_ratio{source="cadre-report"} * on(code)'
                ' group_left(village_zh) village_info{village_zh="泥烧村"}'), 0.6374)
            # 23 indicators, a report date, its due date and village_info
            # per village, the registers' dates, the cadres' report and the
            # targets.
            self.assertEqual(prom.scalar("count(village_info)"), 2600)
            targets = prom.scalar("count(village_target)")
            self.assertEqual(targets, 10)
            self.assertEqual(prom.scalar("villagemetrics_series"),
                             2600 * 26 + 12 + 2 * report_rows + targets)
        finally:
            prom.stop()

    def test_promtool_finds_no_problem(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        # promtool reads the text format only.
        text = d.metrics_text()
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, b""))


class TestFiles(DaemonTest):
    def test_values_of_the_source_file_exactly(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        m = d.metrics()
        self.assertEqual(find(m, "village_income_per_capita_yuan", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "village_lifted_households", village="Chuanyan"), 42)
        self.assertEqual(find(m, "village_land_transferred_mu", village="Chayuan"), 382)
        self.assertEqual(find(m, "village_population", village="Taoziyuan",
                              county="Shiqian", town="Wude", city="Tongren"), 3987)
        # 60 villages, 9 mapped columns.
        self.assertEqual(find(m, "villagemetrics_series"), 60 * 9)
        self.assertEqual(find(m, "villagemetrics_collector_samples_total",
                              collector="villages"), 60 * 9)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="villages", reason="not_a_number"), 0)

    def test_edit_in_place_is_seen_within_a_second(self):
        path = self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        self.assertIn(",6815.0,", text)
        t0 = time.monotonic()
        write_in_place(path, text.replace(",6815.0,", ",7001.5,"))
        wait_for("new value", lambda: find(d.metrics(), "village_income_per_capita_yuan",
                                           village="Chuanyan") == 7001.5, timeout=5)
        elapsed = time.monotonic() - t0
        # The promise; the sanitizer build is allowed its slowness.
        self.assertLess(elapsed, 1.0 * float(os.environ.get("VG_SLOW", "1")), elapsed)

    def test_file_renamed_into_place_is_taken(self):
        os.makedirs(os.path.join(self.tmp, "data"))
        d = self.daemon(villages_config("data/*.csv")).start()
        self.assertEqual(find(d.metrics(), "villagemetrics_series"), 0)
        tmp = os.path.join(self.tmp, "data", ".incoming")
        shutil.copy(os.path.join(DATA, "villages.csv"), tmp)
        os.rename(tmp, os.path.join(self.tmp, "data", "v.csv"))
        wait_for("renamed file", lambda: find(d.metrics(), "villagemetrics_series") == 540,
                 timeout=5)

    def test_removed_file_and_removed_row_vanish(self):
        path = self.copy_villages()
        other = os.path.join(self.tmp, "data", "extra.csv")
        with open(other, "w") as f:
            f.write("county,town,village,population\nSongtao,Ganlong,Newplace,100\n")
        d = self.daemon(villages_config("data/*.csv")).start()
        self.assertEqual(find(d.metrics(), "village_population", village="Newplace"), 100)
        os.unlink(other)
        wait_for("removed file's series gone",
                 lambda: not [k for k in d.metrics() if ("village", "Newplace") in k[1]],
                 timeout=5)
        # A row deleted from a file takes its series with it.
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\r\n" if "\r\n" in open(path, newline="").read() else "\n")
        kept = [l for l in lines if ",Chuanyan," not in l]
        write_in_place(path, "\n".join(kept))
        wait_for("removed row gone", lambda: find(d.metrics(), "villagemetrics_series") == 59 * 9,
                 timeout=5)
        self.assertFalse([k for k in d.metrics() if ("village", "Chuanyan") in k[1]])

    def test_bad_cells_are_rejected_located_and_counted(self):
        os.makedirs(os.path.join(self.tmp, "data"))
        with open(os.path.join(self.tmp, "data", "bad.csv"), "w") as f:
            f.write("county,town,village,population,poverty_incidence_ratio\n"
                    "Shiqian,Wude,Taoziyuan,\"3,8x5\",0.2\n"
                    "Shiqian,Wude,Heishui,1200,1.3\n"
                    "Shiqian,Wude,Baisha,900,0.1\n")
        cfg = villages_config("data/*.csv")
        cfg["collectors"][0]["metrics"] = {
            "village_population": "population",
            "village_poverty_incidence_ratio": "poverty_incidence_ratio"}
        d = self.daemon(cfg).start()
        m = d.metrics()
        self.assertEqual(find(m, "village_poverty_incidence_ratio", village="Taoziyuan"), 0.2)
        self.assertEqual(find(m, "village_population", village="Heishui"), 1200)
        self.assertEqual(find(m, "village_population", village="Baisha"), 900)
        self.assertEqual(find(m, "villagemetrics_series"), 4)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="villages", reason="not_a_number"), 1)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="villages", reason="out_of_range"), 1)
        recent = d.status()["collectors"][0]["recent_rejections"]
        bad = os.path.join(self.tmp, "data", "bad.csv")
        self.assertEqual([(r["reason"], r["where"], r["detail"]) for r in recent], [
            ("not_a_number", bad + ":2:4 (population)", '"3,8x5" is not a number'),
            ("out_of_range", bad + ":3:5 (poverty_incidence_ratio)",
             "village_poverty_incidence_ratio: 1.3 is outside 0..1"),
        ])
        logs = d.logs()
        self.assertIn(bad + ':2:4 (population): "3,8x5" is not a number', logs)


    def test_rejections_present_in_the_files_as_a_gauge(self):
        """villagemetrics_rejected_values counts what the files hold now:
        it stays when a file is read again with the same bad cells (and
        after a reload, when the counter starts again), and goes to 0 when
        the file is fixed; last_round_samples sums every file."""
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        bad = os.path.join(data, "bad.csv")
        bad_text = ("county,town,village,population,poverty_incidence_ratio\n"
                    "Shiqian,Wude,Taoziyuan,\"3,8x5\",0.2\n"
                    "Shiqian,Wude,Heishui,1200,1.3\n"
                    "Shiqian,Wude,Baisha,900,1.1\n")
        with open(bad, "w") as f:
            f.write(bad_text)
        shutil.copy(os.path.join(DATA, "villages.csv"), data)
        cfg = villages_config("data/*.csv")
        cfg["collectors"][0]["metrics"] = {
            "village_population": "population",
            "village_poverty_incidence_ratio": "poverty_incidence_ratio"}
        d = self.daemon(cfg).start()

        def gauge(reason):
            return find(d.metrics(), "villagemetrics_rejected_values",
                        collector="villages", reason=reason)

        def total(reason):
            return find(d.metrics(), "villagemetrics_rejected_values_total",
                        collector="villages", reason=reason)

        self.assertEqual((gauge("not_a_number"), gauge("out_of_range"), gauge("bad_label")),
                         (1, 2, 0))
        # 60 villages x 2 columns, and 3 of bad.csv's 6 cells: both files.
        self.assertEqual(find(d.metrics(), "villagemetrics_collector_last_round_samples",
                              collector="villages"), 123)
        self.assertEqual(d.status()["collectors"][0]["last_round_samples"], 123)
        self.assertEqual(d.status()["collectors"][0]["current_rejected"]["out_of_range"], 2)
        # Read again, the same bad cells: the counter grows, the gauge stays.
        write_in_place(bad, bad_text)
        wait_for("read again", lambda: total("out_of_range") == 4, timeout=5)
        self.assertEqual((gauge("not_a_number"), gauge("out_of_range")), (1, 2))
        # A reload: new counters, and the same file holds the same rejections.
        d.signal(signal.SIGHUP)
        wait_for("reloaded", lambda: find(d.metrics(), "villagemetrics_config_reloads_total",
                                          result="success") == 1)
        wait_for("read after the reload", lambda: total("out_of_range") == 2, timeout=5)
        self.assertEqual((gauge("not_a_number"), gauge("out_of_range")), (1, 2))
        # Fixed: nothing rejected is left.
        write_in_place(bad, bad_text.replace('"3,8x5"', "3805").replace("1.3", "0.3")
                       .replace("1.1", "0.1"))
        wait_for("fixed", lambda: gauge("out_of_range") == 0, timeout=5)
        self.assertEqual(gauge("not_a_number"), 0)
        self.assertEqual(find(d.metrics(), "villagemetrics_collector_last_round_samples",
                              collector="villages"), 126)
        # Removed: its samples leave the sum.
        os.unlink(bad)
        wait_for("gone", lambda: find(d.metrics(), "villagemetrics_collector_last_round_samples",
                                      collector="villages") == 120, timeout=5)


class TestExamples(DaemonTest):
    """The shipped example configurations on the shapes field staff and the
    provincial platform produce."""

    def example(self, name):
        shutil.copytree(os.path.join(EXAMPLES, "data"), os.path.join(self.tmp, "data"))
        return self.daemon(os.path.join(EXAMPLES, name), env={"TMPDIR": self.tmp}).start()

    def test_cadre_spreadsheet_export(self):
        d = self.example("cadre-report.json")
        m = d.metrics()
        v = dict(village="桃子园村", town="五德镇", county="Shiqian")
        self.assertEqual(find(m, "village_water_safe_households_ratio", **v), 0.766)
        self.assertEqual(find(m, "village_road_hardened_km", **v), 7.32)
        self.assertEqual(find(m, "village_signal_4g_coverage_ratio", **v), 0.4)
        self.assertEqual(find(m, "village_income_per_capita_yuan", **v), 3895)
        self.assertEqual(find(m, "village_collective_income_yuan", **v), 160473.31)
        # A blank cell is no sample, not zero.
        gd = dict(village="Gangdeng", county="Jiangkou")
        self.assertEqual(find(m, "village_income_per_capita_yuan", **gd), 13295)
        self.assertFalse([k for k in m if k[0] == "village_collective_income_yuan"
                          and ("village", "Gangdeng") in k[1]])
        # Row 21 has no town and no village: the whole row is rejected, and
        # each of its bad cells said where: the two labels, and the two
        # numbers that are none ("n/a" and "-" are no data, not faults).
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              reason="bad_label"), 2)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              reason="not_a_number"), 2)
        self.assertEqual(sum(v for k, v in m.items()
                             if k[0] == "villagemetrics_rejected_values_total"), 4)
        self.assertIn('cadre-monthly-report.csv:21:2 (乡镇): row has no value for '
                      'label "town"', d.logs())

    def test_province_api_answer(self):
        d = self.example("province-api-file.json")
        m = d.metrics()
        v = dict(village="Taoziyuan", county="Shiqian", town="Wude")
        self.assertEqual(find(m, "village_income_per_capita_yuan", **v), 3894.84)
        self.assertEqual(find(m, "village_poor_households", **v), 119)
        self.assertEqual(find(m, "village_latitude_degrees", **v), 27.35331)
        self.assertEqual(find(m, "village_income_per_capita_yuan", village="Chuanyan"), 6815)

    def test_village_box_forwards_to_the_township(self):
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("s3cret")
        town = os.path.join(self.tmp, "town")
        os.makedirs(town)
        township = Daemon(os.path.join(EXAMPLES, "township.json"), town, env={
            "VG_TOKEN_FILE": token,
            # No sinks here: what it takes waits in its journal.
            "VG_PROMETHEUS_URL": "http://127.0.0.1:1/api/v1/write",
            "VG_INFLUXDB_URL": "http://127.0.0.1:1"})
        self.stops.append(township.stop)
        township.start()
        shutil.copytree(os.path.join(EXAMPLES, "data"), os.path.join(self.tmp, "data"))
        self.daemon(os.path.join(EXAMPLES, "village-box.json"), env={
            "VG_TOKEN_FILE": token,
            "VG_TOWNSHIP_URL": "http://127.0.0.1:%d/api/v1/write" % township.port}).start()
        tank = dict(county="Shiqian", town="Wude", village="Taoziyuan", tank="No. 1")
        key = ("water_tank_level_ratio", frozenset(dict(tank, city="Tongren").items()))
        # The file's last reading of the tank, the newest to arrive.
        wait_for("sensors at the township",
                 lambda: township.metrics().get(key) == 0.275)
        m = township.metrics()
        self.assertEqual(find(m, "village_population", village="Taoziyuan",
                              city="Tongren"), 3987)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="villages", reason="parse_error"), 0)

    def test_clean_csv_with_dates(self):
        d = self.example("villages-csv.json")
        self.assertEqual(find(d.metrics(), "village_land_transferred_mu", village="Chayuan"), 382)


class TestLifecycle(DaemonTest):
    def test_sigterm_exits_zero_within_two_seconds(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        # A scrape in flight while stopping must not matter.
        d.metrics()
        code, took = d.stop()
        self.assertEqual(code, 0, d.logs())
        self.assertLess(took, 2.0 * float(os.environ.get("VG_SLOW", "1")))
        self.assertIn("stopped", d.logs())

    def test_a_drop_in_overrides_one_setting_and_the_log_says_so(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv"))
        conf_d = os.path.join(os.path.dirname(d.config_path), "conf.d")
        os.makedirs(conf_d, exist_ok=True)
        with open(os.path.join(conf_d, "90-labels.json"), "w") as f:
            f.write('{"labels": {"city": "Tongren2"}}\n')
        d.start()
        # The drop-in's value, not the main file's, reaches /metrics.
        self.assertEqual(find(d.metrics(), "village_income_per_capita_yuan",
                              village="Chuanyan", city="Tongren2"), 6815)
        logs = d.logs()
        self.assertIn("configuration read from %s, %s" % (
            d.config_path, os.path.join(conf_d, "90-labels.json")), logs)
        self.assertIn('90-labels.json:1:13: "labels.city" replaces the value at '
                      + d.config_path, logs)
        self.assertIn("1 collectors: villages (file)", logs)
        self.assertIn("1 exporters: prometheus (prometheus)", logs)

    def test_sighup_with_broken_config_keeps_serving(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        before = d.metrics_text()
        with open(d.config_path) as f:
            good = f.read()
        with open(d.config_path, "w") as f:
            f.write(good.replace('"collectors"', '"colectors"'))
        before_reload = time.time()
        d.signal(signal.SIGHUP)
        wait_for("refusal logged", lambda: "reload refused" in d.logs())
        self.assertIn('villagemetrics.json:', d.logs())
        # The status says when it was refused; the counters still count
        # from the start.
        st = d.status()
        refused = calendar.timegm(time.strptime(st["config"]["last_reload_refused"],
                                                "%Y-%m-%dT%H:%M:%SZ"))
        self.assertTrue(before_reload - 1 <= refused <= time.time() + 1,
                        (before_reload, st["config"]))
        self.assertEqual(st["config"]["last_reload_refused"], st["config"]["last_reload"])
        self.assertEqual(st["counters_since"], {"event": "start", "time": st["started"]})
        _, _, page = http_get(d.port, "/")
        self.assertIn("<b>The last reload, <time datetime=\"%s\""
                      % st["config"]["last_reload_refused"], page.decode())
        self.assertIn('unknown key "colectors" (did you mean "collectors"?)', d.logs())
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_config_last_reload_successful"), 0)
        self.assertEqual(find(m, "village_income_per_capita_yuan", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "villagemetrics_series"),
                         find(parse_metrics(before), "villagemetrics_series"))
        # A good config is taken; the same socket serves it.
        with open(d.config_path, "w") as f:
            f.write(good.replace('"Tongren"', '"Tongren2"'))
        d.signal(signal.SIGHUP)
        wait_for("reloaded", lambda: find(d.metrics(), "villagemetrics_config_reloads_total",
                                          result="success") == 1)
        wait_for("new constant label", lambda: find(
            d.metrics(), "village_income_per_capita_yuan", village="Chuanyan", city="Tongren2"))
        m = d.metrics()
        self.assertFalse([k for k in m if ("city", "Tongren") in k[1]])
        self.assertEqual(find(m, "villagemetrics_config_last_reload_successful"), 1)
        # The counters of the new collectors count from this reload.
        st = d.status()
        self.assertIsNone(st["config"]["last_reload_refused"])
        self.assertEqual(st["counters_since"],
                         {"event": "reload", "time": st["config"]["last_reload"]})
        _, _, page = http_get(d.port, "/")
        self.assertIn("Runs, samples and rejected values count since the reload <time "
                      "datetime=\"%s\"" % st["config"]["last_reload"], page.decode())

    def test_targets_are_served_and_follow_a_reload(self):
        """The configuration's targets are village_target series with the
        constant labels; a reload changes them, and one removed leaves."""
        self.copy_villages()
        cfg = villages_config("data/*.csv")
        cfg["targets"] = {"village_water_safe_households_ratio": 0.95,
                          "village_income_per_capita_yuan": {"default": 4000, "Songtao": 3500}}
        d = self.daemon(cfg).start()
        text = d.metrics_text()
        self.assertIn("# TYPE village_target gauge\n", text)
        m = d.metrics()
        self.assertEqual(sorted((dict(k[1]).get("county", ""), dict(k[1])["indicator"], v)
                                for k, v in m.items() if k[0] == "village_target"), [
            ("", "village_income_per_capita_yuan", 4000),
            ("", "village_water_safe_households_ratio", 0.95),
            ("Songtao", "village_income_per_capita_yuan", 3500)])
        self.assertEqual(find(m, "village_target", indicator="village_water_safe_households_ratio",
                              city="Tongren"), 0.95)
        cfg["targets"] = {"village_water_safe_households_ratio": 1}
        with open(d.config_path, "w") as f:
            json.dump(cfg, f)
        d.signal(signal.SIGHUP)
        wait_for("reloaded", lambda: find(d.metrics(), "villagemetrics_config_reloads_total",
                                          result="success") == 1)
        self.assertEqual(sorted((dict(k[1])["indicator"], v) for k, v in d.metrics().items()
                                if k[0] == "village_target"),
                         [("village_water_safe_households_ratio", 1)])
        # A target the catalog does not know is refused with its place.
        cfg["targets"] = {"village_water_safe_ratio": 1}
        with open(d.config_path, "w") as f:
            json.dump(cfg, f)
        d.signal(signal.SIGHUP)
        wait_for("refusal logged", lambda: "reload refused" in d.logs())
        self.assertIn('"targets": "village_water_safe_ratio" is not an indicator of the catalog',
                      d.logs())
        self.assertEqual(find(d.metrics(), "village_target",
                              indicator="village_water_safe_households_ratio"), 1)

    def test_systemd_notify_protocol(self):
        self.copy_villages()
        sock_path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(10)
        try:
            d = self.daemon(villages_config("data/*.csv"), env={
                "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "200000"})
            d.start(wait_ready=False)
            messages = []

            def until(prefix):
                while True:
                    msg = s.recv(4096).decode()
                    messages.append(msg)
                    if msg.startswith(prefix):
                        return msg
            until("READY=1")
            # READY comes after the first collection round: data is there.
            self.assertEqual(find(d.metrics(), "village_population", village="Taoziyuan"), 3987)
            until("WATCHDOG=1")
            until("WATCHDOG=1")
            d.signal(signal.SIGHUP)
            until("RELOADING=1")
            until("READY=1")
            self.assertEqual(d.stop()[0], 0)
            until("STOPPING=1")
            self.assertTrue(any(m.startswith("STATUS=") for m in messages), messages)
        finally:
            s.close()

    def test_journal_stream_gets_priority_prefixes(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv"), env={"JOURNAL_STREAM": "8:1234"}).start()
        d.stop()
        first = d.logs().splitlines()[0]
        self.assertTrue(first.startswith("<6>villagemetricsd"), first)

    def test_openmetrics_and_gzip(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        status, h, body = http_get(d.port, "/metrics", {
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        self.assertEqual(h["content-type"],
                         "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertTrue(body.endswith(b"# EOF\n"))
        self.assertEqual(body.count(b"# EOF"), 1)
        self.assertIn(b"# UNIT village_income_per_capita_yuan yuan\n", body)
        self.assertIn(b"# TYPE villagemetrics_collector_runs counter\n", body)
        plain = http_get(d.port, "/metrics")[2]
        status, h, zipped = http_get(d.port, "/metrics", {"Accept-Encoding": "gzip"})
        self.assertEqual(h.get("content-encoding"), "gzip")
        # Self-metrics move between scrapes; the villages must not.
        strip = lambda b: [l for l in b.decode().splitlines() if l.startswith("village_")]
        self.assertEqual(strip(gzip.decompress(zipped)), strip(plain))
        self.assertEqual(h["content-type"], "text/plain; version=0.0.4; charset=utf-8")

    def test_gzip_page_is_the_plain_page_through_changes(self):
        """Gzipped /metrics is built from pieces the store keeps deflated
        between scrapes: it must decode to exactly the plain page, through
        Python's gzip, curl --compressed and promtool, and follow a change
        of the data."""
        header = open(os.path.join(DATA, "villages.csv"), encoding="utf-8").readline()
        cols = header.strip().split(",")
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        path = os.path.join(self.tmp, "data", "villages.csv")

        def write(population_of_7):
            rows = [header.strip()]
            for i in range(3000):
                v = {c: "0.5" for c in cols}
                v.update(code=str(522205001000 + i), county="C%d" % (i // 500),
                         town="T%d" % (i // 20), village="V%04d" % i,
                         village_zh="村", as_of="2019-12-31",
                         population=str(population_of_7 if i == 7 else 1000 + i),
                         households=str(300 + i % 77))
                rows.append(",".join(v[c] for c in cols))
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
            os.rename(path + ".tmp", path)

        # Self-metrics move between scrapes; the store's part must not.
        def villages(text):
            return "".join(l + "\n" for l in text.splitlines()
                           if l.startswith(("village_", "# HELP village_",
                                            "# TYPE village_", "# UNIT village_")))

        def same_pages(om):
            accept = {"Accept": "application/openmetrics-text;version=1.0.0"} if om else {}
            plain = http_get(d.port, "/metrics", dict(accept))[2].decode()
            status, h, zipped = http_get(d.port, "/metrics",
                                         dict(accept, **{"Accept-Encoding": "gzip"}))
            self.assertEqual(h.get("content-encoding"), "gzip")
            self.assertEqual(villages(gzip.decompress(zipped).decode()), villages(plain))
            # One gzip member: curl (7.88) reads no further than the first.
            first = zlib.decompressobj(31)
            self.assertEqual(first.decompress(zipped), gzip.decompress(zipped))
            self.assertEqual(first.unused_data, b"")
            return plain

        write(4242)
        d = self.daemon(villages_config("data/*.csv")).start()
        for om in (False, True, False):
            plain = same_pages(om)
        self.assertIn('village="V0007"} 4242\n', plain)
        r = subprocess.run(["curl", "-sS", "--compressed",
                            "http://127.0.0.1:%d/metrics" % d.port],
                           capture_output=True, timeout=30)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(villages(r.stdout.decode()), villages(plain))
        r = subprocess.run(["promtool", "check", "metrics"], input=r.stdout,
                           capture_output=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, b""))
        write(99)
        wait_for("the new value", lambda: find(d.metrics(), "village_population",
                                               village="V0007") == 99)
        plain = same_pages(False)
        self.assertIn('village="V0007"} 99\n', plain)

    def test_health_status_and_page(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        self.assertEqual(http_get(d.port, "/healthz")[:1], (200,))
        st = d.status()
        self.assertTrue(st["ready"])
        c = st["collectors"][0]
        self.assertEqual((c["name"], c["type"], c["state"], c["last_error"]),
                         ("villages", "file", "ok", None))
        self.assertEqual(c["samples_total"], 540)
        self.assertIsNone(st["journal"])  # no push exporter
        self.assertEqual([(e["name"], e["kind"], e["state"]) for e in st["exporters"]],
                         [("prometheus", "pull", "serving")])
        status, h, page = http_get(d.port, "/")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn(b'<td class=title data-label=Collector><b>villages</b> <small>file'
                      b'</small></td><td data-label="State"><span class="badge ok">ok</span>',
                      page)
        self.assertEqual(http_get(d.port, "/nope")[0], 404)


class TestOperatorLog(DaemonTest):
    """What log_level debug adds, and how failed tries of an exporter are
    logged: once, then at most once a minute, then when it delivers."""

    def test_debug_lines_and_rate_limited_retries(self):
        data = os.path.dirname(self.copy_villages())
        page = b"# TYPE modem_up gauge\nmodem_up 1\n"

        class Modem(QuietHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        modem = LoopbackServer()
        modem.serve(Modem)
        self.stops.append(modem.stop)
        # The sink answers 503 twenty times, then takes everything.
        failures = 20
        sink = ScriptedReceiver("/api/v1/write", [(503, {}, b"busy\n")] * failures)
        self.stops.append(sink.stop)
        cfg = villages_config("data/*.csv")
        cfg["log_level"] = "debug"
        cfg["collectors"][0]["metrics"] = {"village_population": "population"}
        cfg["collectors"] += [
            {"type": "http", "name": "modem", "interval": "1h", "format": "prometheus",
             "url": "http://127.0.0.1:%d/metrics" % modem.port},
            {"type": "listen", "name": "push"}]
        cfg["exporters"].append(
            {"type": "remote_write", "name": "vm", "batch_size": 10,
             "metadata_interval": "0",
             "url": "http://127.0.0.1:%d/api/v1/write" % sink.port,
             "flush_interval": "100ms", "min_backoff": "20ms", "max_backoff": "50ms"})
        cfg["journal"] = {"max_bytes": "1MiB", "segment_bytes": "256KiB"}
        d = self.daemon(cfg).start()
        wait_for("delivered", lambda: "exporter vm: delivering again" in d.logs(), timeout=20)
        logs = d.logs()
        # The first failure at warning, with every sample waiting (60
        # villages and the modem's line), not the batch of 10.
        warnings = [l for l in logs.splitlines() if " warning: exporter vm:" in l]
        self.assertEqual(len(warnings), 1, logs)
        self.assertRegex(warnings[0], r"warning: exporter vm: cannot deliver: HTTP 503: "
                                      r"busy; 6[01] samples wait in the journal; next try in ")
        # Twenty failures in under a minute: no reminder.
        self.assertNotIn("still cannot deliver", logs)
        self.assertRegex(logs, r"info: exporter vm: delivering again after %d failed tries "
                               r"in \d+s; \d+ samples wait in the journal" % failures)
        vm = [e for e in d.status()["exporters"] if e["name"] == "vm"][0]
        self.assertEqual(vm["failed_tries"], failures)
        self.assertGreater(vm["tries"], failures)

        # A file scan: why, and which files.
        # (just copied, the file may still settle at the first scan)
        self.assertRegex(logs, r"debug: collector villages: scanned %s/\*\.csv \(a run: at "
                               r"start, then every interval\) in [\d.]+ ms: 1 (read|still "
                               r"being written) \(villages\.csv\)" % data)
        self.assertRegex(logs, r"debug: collector villages: scanned %s/\*\.csv \(.+\) in "
                               r"[\d.]+ ms: 1 read \(villages\.csv\)" % data)
        with open(os.path.join(data, "villages.csv"), "a") as f:
            f.write("")
        os.utime(os.path.join(data, "villages.csv"))
        wait_for("a scan after the change", lambda: "(inotify: villages.csv written, settled "
                 "for 100 ms)" in d.logs(), timeout=5)
        # The HTTP collector's request.
        self.assertRegex(logs, r"debug: collector modem: GET http://127\.0\.0\.1:%d/metrics: "
                               r"HTTP 200, %d bytes \(%d on the wire\) in [\d.]+ ms"
                         % (modem.port, len(page), len(page)))
        # A scrape: who, how much, gzip or not; and the status page's record.
        status, headers, body = http_get(d.port, "/metrics", {
            "Accept-Encoding": "gzip", "User-Agent": "Prometheus/2.45.0"})
        self.assertEqual(headers["content-encoding"], "gzip")
        size = len(gzip.decompress(body))
        wait_for("the scrape logged", lambda: "scrape from 127.0.0.1: %d bytes before gzip in "
                 % size in d.logs(), timeout=5)
        prom = [e for e in d.status()["exporters"] if e["name"] == "prometheus"][0]
        self.assertEqual((prom["scrapes"]["client"], prom["scrapes"]["user_agent"]),
                         ("127.0.0.1", "Prometheus/2.45.0"))
        self.assertGreaterEqual(prom["scrapes"]["count"], 1)
        # A push: who, how much, how many samples.
        body = b"village_population,county=A,town=B,village=C value=12\n"
        status, _, _ = http_post(d.port, "/write", body)
        self.assertEqual(status, 204)
        wait_for("the push logged", lambda: "collector push: push from 127.0.0.1 to /write: "
                 "%d bytes, 1 samples accepted, 0 rejected: 204" % len(body) in d.logs(),
                 timeout=5)

    def test_no_debug_lines_at_info(self):
        self.copy_villages()
        d = self.daemon(villages_config("data/*.csv")).start()
        d.metrics_text()
        self.assertNotIn(" debug: ", d.logs())
        self.assertNotIn("scanned", d.logs())


class TestCommandLine(DaemonTest):
    def run_cli(self, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(WRAPPER + [BINARY] + list(args), capture_output=True,
                               text=True, env=e, timeout=300)

    def test_check_config_names_file_line_column(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{\n  "listen": "127.0.0.1:1",\n  "collectors": [\n'
                    '    {"type": "file", "path": "x/*.csv", "intervall": "5s",\n'
                    '     "labels": {}, "metrics": {"village_population": "p"}}\n  ]\n}\n')
        r = self.run_cli("--check-config", "-c", path)
        self.assertEqual(r.returncode, 1)
        column = open(path).read().splitlines()[3].index('"intervall"') + 1
        self.assertEqual(r.stderr.strip(), "villagemetricsd: %s:4:%d: unknown key "
                         "\"intervall\" (did you mean \"interval\"?)" % (path, column))
        with open(path, "w") as f:
            f.write('{"collectors": [}')
        r = self.run_cli("--check-config", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, "^villagemetricsd: %s:1:17: " % path)

    def test_check_config_accepts_every_example(self):
        # demo.json's registry is the generator's: beside a copy of it.
        subprocess.run([sys.executable, os.path.join(EXAMPLES, "generate-demo-data.py"),
                        os.path.join(self.tmp, "demo-data")], check=True,
                       stderr=subprocess.DEVNULL)
        shutil.copy(os.path.join(EXAMPLES, "demo.json"), self.tmp)
        for path in [os.path.join(self.tmp, "demo.json")] + [
                os.path.join(EXAMPLES, name) for name in (
                    "cadre-report.json", "province-api-file.json",
                    "villages-csv.json")]:
            r = self.run_cli("--check-config", "-c", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration OK", r.stdout)

    def test_test_mode_prints_samples_and_exits(self):
        self.copy_villages()
        cfg_dir = self.tmp
        d = Daemon(villages_config("data/*.csv"), cfg_dir)
        r = self.run_cli("--test", "-c", d.config_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('village_income_per_capita_yuan{city="Tongren",county="Yinjiang",'
                      'town="Yangxi",village="Chuanyan"} 6815 ', r.stdout)
        self.assertEqual(len(r.stdout.splitlines()), 540)
        self.assertIn("collector villages: ok, 540 samples, 0 rejected", r.stderr)

    def test_test_mode_writes_once_to_each_push_exporter(self):
        self.copy_villages()
        vm = VictoriaMetrics(self.tmp)
        try:
            closed = free_port()
            cfg = villages_config("data/*.csv")
            cfg["collectors"][0]["timestamp"] = "as_of"
            cfg["exporters"] += [
                {"type": "remote_write", "name": "vm",
                 "url": "http://127.0.0.1:%d/api/v1/write" % vm.port},
                {"type": "remote_write", "name": "nobody",
                 "url": "http://127.0.0.1:%d/api/v1/write" % closed}]
            d = Daemon(cfg, self.tmp)
            r = self.run_cli("--test", "-c", d.config_path)
            # One sink did not answer: the run fails, and says why.
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("exporter vm: OK, 540 samples sent\n", r.stderr)
            self.assertIn("exporter nobody: RETRY, 0 samples sent: Failed to "
                          "connect to 127.0.0.1 port %d" % closed, r.stderr)
            got = vm.export('{__name__="village_income_per_capita_yuan",'
                            'village="Chuanyan"}')
            self.assertEqual(list(got.values()), [[(1577750400000, 6815)]])
            # The service's own journal was not touched.
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "state", "journal")))
        finally:
            vm.stop()

    def test_test_mode_fails_on_a_failing_collector(self):
        d = Daemon(villages_config("missing/*.csv"), self.tmp)
        r = self.run_cli("--test", "-c", d.config_path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("collector villages: FAILED: cannot read folder", r.stderr)

    def test_version_and_help(self):
        r = self.run_cli("--version")
        self.assertRegex(r.stdout, r"^villagemetricsd \d+\.\d+\.\d+\n$")
        r = self.run_cli("--help")
        self.assertIn("--check-config", r.stdout)
        self.assertEqual(self.run_cli("--bogus").returncode, 2)


if __name__ == "__main__":
    unittest.main()
