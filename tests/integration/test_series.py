"""Series semantics end to end: stale markers reaching a real Prometheus
and VictoriaMetrics, the newest sample winning on /metrics whatever the
order it came in, and one series from two sources."""

import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

from harness import (BINARY, WRAPPER, Daemon, Prometheus, TempDir,
                     VictoriaMetrics, find, free_port, http_get, http_post,
                     wait_for)

VILLAGES = [("Shiqian", "Wude", "Taoziyuan", 3987),
            ("Songtao", "Ganlong", "Bamu", 3318),
            ("Sinan", "Sunjiaba", "Luojiaba", 2948)]


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


def villages_csv(rows):
    return "county,town,village,population\n" + "".join(
        "%s,%s,%s,%d\n" % r for r in rows)


def csv_collector(**kw):
    c = {"type": "file", "name": "villages", "path": "data/*.csv",
         "settle": "50ms",
         "labels": {"county": "county", "town": "town", "village": "village"},
         "metrics": {"village_population": "population"}}
    c.update(kw)
    return c


def remote_write(port, name):
    return {"type": "remote_write", "name": name,
            "url": "http://127.0.0.1:%d/api/v1/write" % port,
            "flush_interval": "100ms", "min_backoff": "100ms",
            "max_backoff": "500ms"}


class SeriesTest(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.stops = []
        os.makedirs(os.path.join(self.tmp, "data"))

    def tearDown(self):
        for stop in reversed(self.stops):
            stop()
        self._tmp.__exit__(None, None, None)

    def daemon(self, cfg):
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        return d

    def write_villages(self, rows):
        write_atomically(os.path.join(self.tmp, "data", "villages.csv"),
                         villages_csv(rows))


class TestStaleMarkers(SeriesTest):
    def test_prometheus_drops_a_series_at_its_marker_not_5_minutes_later(self):
        prom = Prometheus(self.tmp, [],
                          extra_args=["--web.enable-remote-write-receiver"])
        self.stops.append(prom.stop)
        self.write_villages(VILLAGES)
        cfg = {"collectors": [csv_collector()],
               "exporters": [{"type": "prometheus"},
                             remote_write(prom.port, "prom")]}
        d = self.daemon(cfg).start()
        wait_for("every village in Prometheus",
                 lambda: prom.scalar("count(village_population)") == 3,
                 timeout=60)

        # A row goes: Prometheus answers without it at once, although its
        # lookback (5 minutes) would draw it until then without a marker.
        self.write_villages(VILLAGES[1:])
        t0 = time.monotonic()
        wait_for("Taoziyuan gone from Prometheus",
                 lambda: prom.scalar(
                     'count(village_population{village="Taoziyuan"})') is None,
                 timeout=60)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertEqual(prom.scalar("count(village_population)"), 2)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_stale_markers_total"), 1)
        self.assertEqual(find(m, "villagemetrics_stale_markers_refused_total"), 0)
        self.assertNotIn('village="Taoziyuan"', d.metrics_text())

        # A reload removes the collector: its series go the same way.
        cfg["collectors"] = []
        with open(d.config_path, "w") as f:
            json.dump(cfg, f)
        d.signal(signal.SIGHUP)
        wait_for("every village gone from Prometheus",
                 lambda: prom.scalar("count(village_population)") is None,
                 timeout=60)
        self.assertEqual(
            find(d.metrics(), "villagemetrics_stale_markers_total"), 3)

    def test_victoriametrics_stores_the_marker_once_and_no_restart_adds_one(self):
        vm = VictoriaMetrics(self.tmp)
        self.stops.append(vm.stop)
        self.write_villages(VILLAGES)
        cfg = {"collectors": [csv_collector()],
               "exporters": [{"type": "prometheus"},
                             remote_write(vm.port, "vm")]}
        d = self.daemon(cfg).start()

        def points(village):
            got = vm.export('village_population{village="%s"}' % village)
            return list(got.values())[0] if got else []

        wait_for("Taoziyuan in VictoriaMetrics", lambda: points("Taoziyuan"),
                 timeout=60)
        # A restart is not the series going: no marker (they come back).
        d.stop()
        d.start()
        wait_for("sent again after the restart", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0)
        self.assertEqual(find(d.metrics(), "villagemetrics_stale_markers_total"), 0)

        # VictoriaMetrics exports its stale marker (the exact NaN; any
        # other NaN is a value, exported as NaN) as null.
        self.write_villages(VILLAGES[1:])
        wait_for("the marker in VictoriaMetrics",
                 lambda: any(v is None for _, v in points("Taoziyuan")),
                 timeout=60)
        got = points("Taoziyuan")
        # The marker is the last point, after every value, and comes once.
        self.assertIsNone(got[-1][1], got)
        self.assertEqual([v for _, v in got[:-1]], [3987] * (len(got) - 1))
        self.assertEqual(sum(1 for _, v in got if v is None), 1)
        for village in ("Bamu", "Luojiaba"):
            self.assertNotIn(None, [v for _, v in points(village)])
        # Instant queries see the series gone from the marker's second on
        # (query times are whole seconds), not after a lookback.
        wait_for("Taoziyuan gone from instant queries", lambda: vm_query(
            vm, 'village_population{village="Taoziyuan"}') == [], timeout=5)
        self.assertEqual(vm_query(vm, "count(village_population)")[0]["value"][1],
                         "2")
        self.assertEqual(
            find(d.metrics(), "villagemetrics_stale_markers_total"), 1)


    def test_a_village_marker_goes_through_the_township(self):
        """A village daemon forwards to a township daemon by remote write:
        a row removed at the village leaves the township's /metrics and
        reaches the township's VictoriaMetrics as a marker."""
        vm = VictoriaMetrics(self.tmp)
        self.stops.append(vm.stop)
        tdir = os.path.join(self.tmp, "township")
        os.makedirs(tdir)
        township = Daemon({
            "collectors": [{"type": "listen", "name": "villages"}],
            "exporters": [{"type": "prometheus"},
                          remote_write(vm.port, "city")]}, tdir)
        self.stops.append(township.stop)
        township.start()
        self.write_villages(VILLAGES)
        self.daemon({"collectors": [csv_collector()],
                     "exporters": [{"type": "prometheus"},
                                   remote_write(township.port, "township")]}
                    ).start()
        wait_for("every village at the township", lambda: len(
            [k for k in township.metrics() if k[0] == "village_population"]) == 3)
        self.write_villages(VILLAGES[1:])
        wait_for("Taoziyuan gone from the township", lambda: len(
            [k for k in township.metrics() if k[0] == "village_population"]) == 2)
        def last_value():
            got = vm.export('village_population{village="Taoziyuan"}')
            return [v for _, v in list(got.values())[0]][-1:] if got else []
        wait_for("the marker at the city", lambda: last_value() == [None],
                 timeout=60)
        # 3 values, the 2 left read again, and the marker: no value
        # refused, the marker taken as what it is.
        m = township.metrics()
        self.assertEqual(find(m, "villagemetrics_collector_samples_total",
                              collector="villages"), 6)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="villages", reason="not_finite"), 0)


def vm_query(vm, expr):
    status, _, body = http_get(vm.port, "/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def lp_push(port, lines):
    status, _, body = http_post(port, "/write?precision=ms",
                                "".join(l + "\n" for l in lines).encode())
    return status


class TestNewestWins(SeriesTest):
    def test_reverse_order_pushes_leave_the_newest_on_metrics(self):
        vm = VictoriaMetrics(self.tmp)
        self.stops.append(vm.stop)
        cfg = {"collectors": [{"type": "listen", "name": "sensors"}],
               "exporters": [{"type": "prometheus"},
                             remote_write(vm.port, "vm")]}
        d = self.daemon(cfg).start()
        now = int(time.time() * 1000)
        # Newest first, one request each, then a backfill of old readings.
        for i, value in enumerate([30, 20, 10]):
            self.assertEqual(lp_push(d.port, [
                "village,village=Bamu population=%d %d" % (value, now - i * 60000)]),
                204)
        self.assertEqual(lp_push(d.port, [
            "village,village=Bamu population=5 %d" % (now - 3600000),
            "village,village=Bamu population=6 %d" % (now - 7200000)]), 204)
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Bamu"), 30)
        self.assertEqual(
            find(m, "villagemetrics_late_samples_total", collector="sensors"), 4)
        # A newer one still takes its place.
        self.assertEqual(lp_push(d.port, [
            "village,village=Bamu population=31 %d" % (now + 1000)]), 204)
        self.assertEqual(
            find(d.metrics(), "village_population", village="Bamu"), 31)
        # The push exporter got every sample, history included.
        wait_for("six samples in VictoriaMetrics", lambda: sum(
            len(p) for p in vm.export("village_population").values()) == 6,
            timeout=60)
        got = list(vm.export("village_population").values())[0]
        self.assertEqual([v for _, v in got], [6, 5, 10, 20, 30, 31])


class TestTwoSources(SeriesTest):
    def test_removing_one_source_leaves_what_the_other_provides(self):
        self.write_villages(VILLAGES)
        os.makedirs(os.path.join(self.tmp, "json"))
        province = os.path.join(self.tmp, "json", "province.json")
        write_atomically(province, json.dumps({"data": [
            {"county": c, "town": t, "village": v, "population": p + 1}
            for c, t, v, p in VILLAGES[:2]]}))
        cfg = {"collectors": [
            csv_collector(),
            {"type": "file", "name": "province", "path": "json/*.json",
             "settle": "50ms", "records": "/data",
             "labels": {"county": "/county", "town": "/town",
                        "village": "/village"},
             "metrics": {"village_population": "/population"}}],
            "exporters": [{"type": "prometheus"},
                          remote_write(free_port(), "nowhere")]}
        d = self.daemon(cfg).start()
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_overlapping_series"), 2)
        overlaps = d.status()["store"]["overlaps"]
        self.assertEqual(len(overlaps), 1, overlaps)
        self.assertEqual(overlaps[0]["series"], 2)
        sources = overlaps[0]["sources"]
        self.assertEqual([s["collector"] for s in sources],
                         ["province", "villages"])
        self.assertTrue(sources[0]["source"].endswith("/json/province.json"))
        self.assertTrue(sources[1]["source"].endswith("/data/villages.csv"))
        _, _, page = _get(d.port, "/")
        self.assertIn("2 series come from two sources", page)

        # The JSON file moves away: the CSV still provides both villages.
        os.rename(province, os.path.join(self.tmp, "province.json.away"))
        wait_for("the province source gone", lambda: find(
            d.metrics(), "villagemetrics_overlapping_series") == 0)
        m = d.metrics()
        for c, t, v, p in VILLAGES:
            self.assertEqual(find(m, "village_population", village=v), p)
        self.assertEqual(find(m, "villagemetrics_series"), 3)
        self.assertEqual(find(m, "villagemetrics_stale_markers_total"), 0)
        self.assertEqual(d.status()["store"]["overlaps"], [])

    def test_two_collectors_of_the_same_files_are_refused(self):
        self.write_villages(VILLAGES)
        cfg = {"collectors": [csv_collector(),
                              csv_collector(name="again", interval="1m")],
               "exporters": [{"type": "prometheus"}]}
        d = self.daemon(cfg)
        r = subprocess.run(WRAPPER + [BINARY, "--check-config", "--config",
                                      d.config_path],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn('collector "again" reads the same files as collector '
                      '"villages" and maps them alike', r.stderr)


def _get(port, path):
    status, headers, body = http_get(port, path)
    return status, headers, body.decode("utf-8")


if __name__ == "__main__":
    unittest.main()
