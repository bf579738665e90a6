"""Report dates per village: the series on /metrics, the overdue alert in a
real Prometheus with the shipped rules, and a folder of last year's monthly
files imported at their report dates into real VictoriaMetrics and
InfluxDB.  Every test asserts exact values and timestamps."""

import calendar
import datetime
import json
import os
import urllib.request

from harness import (Daemon, InfluxDB, IntegrationTest, Prometheus,
                     VictoriaMetrics, find, wait_for)


def has(metrics, name, **labels):
    return any(n == name and set(labels.items()) <= set(ls) for n, ls in metrics)

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "..", "..", "dashboards", "rules")


def utc(y, m, d):
    return calendar.timegm((y, m, d, 0, 0, 0))


class TestOverdue(IntegrationTest):
    def test_overdue_villages_fire_and_an_up_to_date_one_does_not(self):
        """Monthly, due on the 10th: a report dated last year is long
        overdue; one dated today makes the next due next month."""
        today = datetime.datetime.now(datetime.timezone.utc).date()
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        with open(os.path.join(data, "wude.csv"), "w", encoding="utf-8") as f:
            f.write("镇,村,户籍人口,填报日期\n"
                    "Wude,Taoziyuan,1200,2025年11月3日\n"
                    "Wude,Chuanyan,800,2025/10\n"
                    "Wude,Bamu,950,%s\n"
                    "Wude,Jinghe,700,2025-13-01\n" % today.isoformat())
        d = Daemon({
            "labels": {"city": "Tongren"},
            "collectors": [{
                "type": "file", "name": "cadres", "path": "data/*.csv",
                "settle": "50ms",
                "labels": {"town": "镇", "village": "村"},
                "metrics": {"village_population": "户籍人口"},
                "report_date": "填报日期", "report_cadence": "monthly",
                "report_due_day": 10}],
            "exporters": [{"type": "prometheus"}]}, self.tmp).start()
        self.stops.append(d.stop)
        wait_for("the report dates", lambda: has(
            d.metrics(), "village_report_timestamp_seconds", village="Bamu"))
        m = d.metrics()
        self.assertEqual(find(m, "village_report_timestamp_seconds", village="Taoziyuan",
                              town="Wude", city="Tongren", source="cadres"),
                         utc(2025, 11, 3))
        self.assertEqual(find(m, "village_report_timestamp_seconds", village="Chuanyan"),
                         utc(2025, 10, 1))
        self.assertEqual(find(m, "village_report_next_due_timestamp_seconds",
                              village="Taoziyuan"), utc(2025, 12, 11))
        self.assertEqual(find(m, "village_report_next_due_timestamp_seconds",
                              village="Chuanyan"), utc(2025, 11, 11))
        nxt = datetime.date(today.year + today.month // 12, today.month % 12 + 1, 11)
        self.assertEqual(find(m, "village_report_next_due_timestamp_seconds",
                              village="Bamu"), utc(nxt.year, nxt.month, nxt.day))
        # The bad date is rejected, located and named; its figure stays.
        self.assertFalse(has(m, "village_report_timestamp_seconds", village="Jinghe"))
        self.assertEqual(find(m, "village_population", village="Jinghe"), 700)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="cadres", reason="bad_timestamp"), 1)
        self.assertIn('wude.csv:5:4 (填报日期): "2025-13-01" is not a report date '
                      '(village "Jinghe")', d.logs())

        prom = Prometheus(self.tmp, [d.port], evaluation_interval="1s",
                          extra_yaml="rule_files:\n  - %s\n  - %s\n" % (
                              os.path.join(RULES, "recording.yml"),
                              os.path.join(RULES, "alerts.yml")))
        self.stops.append(prom.stop)

        def overdue():
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/api/v1/alerts" % prom.port, timeout=10) as r:
                alerts = json.load(r)["data"]["alerts"]
            return sorted((a["labels"]["village"], a["state"]) for a in alerts
                          if a["labels"]["alertname"] == "VillageReportOverdue")
        # Pending first, firing once the rule's for (1m) has passed.
        wait_for("the overdue villages pending", lambda: overdue() == [
            ("Chuanyan", "pending"), ("Taoziyuan", "pending")], timeout=30)
        wait_for("the overdue villages firing", lambda: overdue() == [
            ("Chuanyan", "firing"), ("Taoziyuan", "firing")], timeout=120)
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/api/v1/alerts" % prom.port, timeout=10) as r:
            alerts = json.load(r)["data"]["alerts"]
        tao = [a for a in alerts if a["labels"].get("village") == "Taoziyuan"][0]
        self.assertEqual(tao["labels"]["source"], "cadres")
        self.assertEqual(tao["annotations"]["summary"],
                         "Taoziyuan (Wude, ) is overdue with its report to cadres")
        self.assertEqual(float(tao["value"]), utc(2025, 12, 11))


MONTH_FORMS = [  # how the twelve files write their month
    "2025-01", "2025/02", "2025.03", "2025年4月", "2025-05-31", "2025/6/30",
    "2025.07.31", "2025年8月31日", "2025-09", "2025年10月", "2025-11", "2025-12"]


def month_value(village, month):
    return {"Taoziyuan": 1000, "Chuanyan": 2000}[village] + month


def month_ts(month):
    """The report date each file's form reads as, in Unix seconds."""
    y, text = 2025, MONTH_FORMS[month - 1]
    last = calendar.monthrange(y, month)[1]
    day = last if text.count("-") == 2 or text.count("/") == 2 or \
        text.count(".") == 2 or "日" in text else 1
    return utc(y, month, day)


class TestBackfill(IntegrationTest):
    def test_last_years_monthly_files_arrive_at_their_report_dates(self):
        """The second half of the year is read first, then the first half
        is dropped into the folder: older samples than /metrics shows,
        which the push exporters must send all the same."""
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)

        def write(month):
            path = os.path.join(data, "2025-%02d.csv" % month)
            with open(path, "w", encoding="utf-8") as f:
                f.write("town,village,population,report_date\n")
                for v in ("Taoziyuan", "Chuanyan"):
                    f.write("Wude,%s,%d,%s\n" % (v, month_value(v, month),
                                                 MONTH_FORMS[month - 1]))
        for month in range(7, 13):
            write(month)
        vm = VictoriaMetrics(self.tmp)
        self.stops.append(vm.stop)
        ix = InfluxDB(self.tmp)
        self.stops.append(ix.stop)
        ix.query("CREATE DATABASE villages")
        d = Daemon({
            "labels": {"city": "Tongren"},
            "collectors": [{
                "type": "file", "name": "monthly", "path": "data/*.csv",
                "settle": "50ms",
                "labels": {"town": "town", "village": "village"},
                "metrics": {"village_population": "population"},
                "timestamp": "report_date", "report_date": "report_date"}],
            "exporters": [
                {"type": "prometheus"},
                {"type": "remote_write", "name": "vm",
                 "url": "http://127.0.0.1:%d/api/v1/write" % vm.port,
                 "flush_interval": "100ms"},
                {"type": "influxdb", "name": "influx", "version": 1,
                 "url": "http://127.0.0.1:%d" % ix.port, "database": "villages",
                 "flush_interval": "100ms"}]}, self.tmp).start()
        self.stops.append(d.stop)
        wait_for("the second half read", lambda: find(
            d.metrics(), "village_population", village="Chuanyan") == 2012)
        for month in range(1, 7):
            write(month)

        want = {}
        for v in ("Taoziyuan", "Chuanyan"):
            want[("village_population", v)] = [
                (month_ts(m) * 1000, month_value(v, m)) for m in range(1, 13)]
            want[("village_report_timestamp_seconds", v)] = [
                (month_ts(m) * 1000, month_ts(m)) for m in range(1, 13)]

        def in_vm():
            out = {}
            for labels, points in vm.export('{__name__=~"village_.*"}').items():
                lab = dict(labels)
                out[(lab["__name__"], lab["village"])] = [(t, v) for t, v in points]
            return out
        wait_for("every month in VictoriaMetrics", lambda: in_vm() == want, timeout=60)
        self.assertEqual(in_vm(), want)
        rs = [dict(lab) for lab in vm.export(
            'village_report_timestamp_seconds').keys()]
        self.assertEqual(sorted((r["village"], r["source"], r["city"]) for r in rs),
                         [("Chuanyan", "monthly", "Tongren"),
                          ("Taoziyuan", "monthly", "Tongren")])

        def in_influx():
            out = {}
            for field, metric in (("population", "village_population"),
                                  ("report_timestamp_seconds",
                                   "village_report_timestamp_seconds")):
                r = ix.query('SELECT "%s", "village" FROM "village" WHERE "%s" > 0'
                             % (field, field), db="villages")["results"][0]
                for t, value, village in r.get("series", [{}])[0].get("values", []):
                    out.setdefault((metric, village), []).append((t, value))
            return {k: sorted(v) for k, v in out.items()}
        wait_for("every month in InfluxDB", lambda: in_influx() == want, timeout=60)

        # /metrics shows the newest month of each series; the older ones
        # were taken all the same and counted late.
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Taoziyuan"), 1012)
        self.assertEqual(find(m, "village_report_timestamp_seconds", village="Taoziyuan"),
                         utc(2025, 12, 1))
        self.assertGreater(find(m, "villagemetrics_late_samples_total",
                                collector="monthly"), 0)
