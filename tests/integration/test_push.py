"""Push exporters end to end: the journal, remote_write and InfluxDB
exporters against the real servers, through outages, kill -9 and damage.
Every test asserts the exact samples that arrive."""

import csv
import glob
import os
import shutil
import signal
import time
import unittest

from harness import (DATA, Daemon, InfluxDB, Prometheus, TempDir,
                     VictoriaMetrics, find, free_port, wait_for)

AS_OF_MS = 1577750400000  # 2019-12-31T00:00:00Z, the as_of of villages.csv

COLUMNS = {
    "village_population": "population",
    "village_income_per_capita_yuan": "income_per_capita_yuan",
    "village_water_safe_households_ratio": "water_safe_households_ratio",
}


def expected_samples():
    """{(metric, county, town, village): value} from the source file."""
    out = {}
    with open(os.path.join(DATA, "villages.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for metric, column in COLUMNS.items():
                if row[column]:
                    out[(metric, row["county"], row["town"], row["village"])] = \
                        float(row[column])
    return out


def config(exporters, journal=None, collectors=True):
    cfg = {
        "labels": {"city": "Tongren"},
        "collectors": [{
            "type": "file", "name": "villages", "path": "data/*.csv",
            "settle": "50ms", "timestamp": "as_of",
            "labels": {"county": "county", "town": "town", "village": "village"},
            "metrics": dict(COLUMNS),
        }] if collectors else [],
        "exporters": [{"type": "prometheus"}] + exporters,
    }
    if journal:
        cfg["journal"] = journal
    return cfg


def remote_write(port, **kw):
    e = {"type": "remote_write", "name": "vm",
         "url": "http://127.0.0.1:%d/api/v1/write" % port,
         "flush_interval": "100ms", "min_backoff": "100ms", "max_backoff": "500ms"}
    e.update(kw)
    return e


def arrived(vm):
    """{(metric, county, town, village): [(ts, value)]} in VictoriaMetrics."""
    out = {}
    for labels, points in vm.export('{__name__=~"village_.*"}').items():
        d = dict(labels)
        out[(d["__name__"], d["county"], d["town"], d["village"])] = points
    return out


class PushTest(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.stops = []

    def tearDown(self):
        for stop in reversed(self.stops):
            stop()
        self._tmp.__exit__(None, None, None)

    def copy_villages(self):
        os.makedirs(os.path.join(self.tmp, "data"), exist_ok=True)
        shutil.copy(os.path.join(DATA, "villages.csv"),
                    os.path.join(self.tmp, "data", "villages.csv"))

    def daemon(self, cfg, **kw):
        d = Daemon(cfg, self.tmp, **kw)
        self.stops.append(d.stop)
        return d

    def vm(self, port=None):
        vm = VictoriaMetrics(self.tmp, port)
        self.stops.append(vm.stop)
        return vm

    def assert_all_arrived_once(self, vm):
        want = expected_samples()
        wait_for("every sample in VictoriaMetrics",
                 lambda: len(arrived(vm)) == len(want), timeout=60)
        got = arrived(vm)
        self.assertEqual(
            {k: v for k, v in got.items()},
            {k: [(AS_OF_MS, v)] for k, v in want.items()})


class TestRemoteWrite(PushTest):
    def test_every_sample_arrives_with_its_timestamp(self):
        self.copy_villages()
        vm = self.vm()
        d = self.daemon(config([remote_write(vm.port)])).start()
        self.assert_all_arrived_once(vm)
        n = len(expected_samples())
        wait_for("sent counted", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total", exporter="vm") == n)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_lag_samples", exporter="vm"), 0)
        self.assertEqual(find(m, "villagemetrics_journal_appended_samples_total"), n)
        st = [e for e in d.status()["exporters"] if e["name"] == "vm"][0]
        self.assertEqual((st["sent_samples"], st["lag_samples"], st["last_error"]),
                         (n, 0, None))

    def test_receiver_down_then_back_loses_nothing(self):
        self.copy_villages()
        port = free_port()
        d = self.daemon(config([remote_write(port)])).start()
        n = len(expected_samples())
        wait_for("retries while the receiver is down", lambda: find(
            d.metrics(), "villagemetrics_exporter_retried_samples_total", exporter="vm") > 0)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_lag_samples", exporter="vm"), n)
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total", exporter="vm"), 0)
        vm = self.vm(port)
        self.assert_all_arrived_once(vm)
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0)

    def test_kill_9_loses_no_acknowledged_sample(self):
        self.copy_villages()
        port = free_port()
        d = self.daemon(config([remote_write(port)])).start()
        n = len(expected_samples())
        # Durable: appended and fsynced by a group commit.
        wait_for("journal durable", lambda: find(
            d.metrics(), "villagemetrics_journal_appended_samples_total") == n and
            find(d.metrics(), "villagemetrics_journal_fsyncs_total") > 0)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        # Restarted without the files: only the journal can deliver them.
        os.unlink(os.path.join(self.tmp, "data", "villages.csv"))
        vm = self.vm(port)
        d2 = self.daemon(config([remote_write(port)]), name="again.json").start()
        self.assert_all_arrived_once(vm)
        self.assertEqual(find(d2.metrics(), "villagemetrics_journal_corrupt_samples_total"), 0)

    def test_max_bytes_drops_are_counted_exactly(self):
        self.copy_villages()
        port = free_port()
        d = self.daemon(config([remote_write(port)], journal={
            "max_bytes": "8KiB", "segment_bytes": "2KiB"})).start()
        n = len(expected_samples())
        wait_for("journal full", lambda: find(
            d.metrics(), "villagemetrics_journal_dropped_samples_total", exporter="vm") > 0)
        vm = self.vm(port)
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0, timeout=60)
        m = d.metrics()
        dropped = find(m, "villagemetrics_journal_dropped_samples_total", exporter="vm")
        got = arrived(vm)
        delivered = sum(len(v) for v in got.values())
        self.assertEqual(delivered + dropped, n)
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total", exporter="vm"),
                         delivered)
        # What arrived is exactly the newest part of the file: the oldest
        # segments went first.
        want = expected_samples()
        for k, v in got.items():
            self.assertEqual(v, [(AS_OF_MS, want[k])])

    def test_damaged_journal_loses_only_damaged_records(self):
        self.copy_villages()
        port = free_port()
        cfg = config([remote_write(port)], journal={"segment_bytes": "4KiB"})
        d = self.daemon(cfg).start()
        n = len(expected_samples())
        wait_for("journal durable", lambda: find(
            d.metrics(), "villagemetrics_journal_appended_samples_total") == n)
        self.assertEqual(d.stop()[0], 0)
        segments = sorted(glob.glob(os.path.join(self.tmp, "state", "journal", "*.seg")))
        self.assertGreater(len(segments), 2)
        # A byte flipped in the middle of an older segment ...
        with open(segments[0], "r+b") as f:
            f.seek(os.path.getsize(segments[0]) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        # ... and the newest cut in the middle of its last record.
        size = os.path.getsize(segments[-1])
        with open(segments[-1], "r+b") as f:
            f.truncate(size - 7)
        os.unlink(os.path.join(self.tmp, "data", "villages.csv"))
        vm = self.vm(port)
        d2 = self.daemon(config([remote_write(port)], collectors=False,
                                journal={"segment_bytes": "4KiB"}),
                         name="again.json").start()
        wait_for("lag drained", lambda: find(
            d2.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0
            and find(d2.metrics(), "villagemetrics_exporter_sent_samples_total",
                     exporter="vm") > 0, timeout=60)
        corrupt = find(d2.metrics(), "villagemetrics_journal_corrupt_samples_total")
        self.assertEqual(corrupt, 2)
        got = arrived(vm)
        self.assertEqual(sum(len(v) for v in got.values()), n - 2)


class TestInfluxDB(PushTest):
    def test_v1_every_sample_arrives_as_one_point_per_village(self):
        self.copy_villages()
        ix = InfluxDB(self.tmp)
        self.stops.append(ix.stop)
        ix.query("CREATE DATABASE villages")
        d = self.daemon(config([{
            "type": "influxdb", "name": "influx", "version": "1",
            "url": "http://127.0.0.1:%d" % ix.port, "database": "villages",
            "flush_interval": "100ms"}])).start()
        want = expected_samples()
        villages = {(c, t, v) for (_, c, t, v) in want}

        def rows():
            r = ix.query('SELECT * FROM "village"', db="villages")["results"][0]
            return r.get("series", [{}])[0]
        wait_for("every village in InfluxDB",
                 lambda: len(rows().get("values", [])) == len(villages), timeout=60)
        s = rows()
        cols = s["columns"]
        for values in s["values"]:
            row = dict(zip(cols, values))
            self.assertEqual(row["time"], AS_OF_MS)
            key = (row["county"], row["town"], row["village"])
            self.assertEqual(row["city"], "Tongren")
            for metric in COLUMNS:
                field = metric[len("village_"):]
                self.assertEqual(row[field], want[(metric,) + key], (key, field))
        self.assertEqual(find(d.metrics(), "villagemetrics_exporter_sent_samples_total",
                              exporter="influx"), len(want))


class TestPrometheusReceiver(PushTest):
    def test_remote_write_into_prometheus(self):
        self.copy_villages()
        prom = Prometheus(self.tmp, [], extra_args=["--web.enable-remote-write-receiver"])
        self.stops.append(prom.stop)
        cfg = config([remote_write(prom.port, name="prom")])
        # Prometheus refuses samples from 2019: send them stamped when read.
        del cfg["collectors"][0]["timestamp"]
        d = self.daemon(cfg).start()
        want = expected_samples()
        wait_for("every sample in Prometheus",
                 lambda: prom.scalar('count({__name__=~"village_.*"})') == len(want),
                 timeout=60)
        self.assertEqual(prom.scalar(
            'village_income_per_capita_yuan{village="Chuanyan",town="Yangxi"}'), 6815)
        self.assertEqual(prom.scalar(
            'village_water_safe_households_ratio{village="Taoziyuan"}'), 0.7665)


if __name__ == "__main__":
    unittest.main()
