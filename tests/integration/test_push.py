"""Push exporters end to end: the journal, remote_write and InfluxDB
exporters against the real servers, through outages, kill -9 and damage.
Every test asserts the exact samples that arrive."""

import csv
import glob
import os
import random
import shutil
import signal
import struct
import subprocess
import time
import unittest

import rwspec
from harness import (DATA, Daemon, InfluxDB, IntegrationTest, Prometheus,
                     ScriptedReceiver, VictoriaMetrics, find, free_port,
                     http_post, wait_for)

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


class PushTest(IntegrationTest):
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
        sent = find(m, "villagemetrics_exporter_sent_samples_total", exporter="vm")
        self.assertEqual(sent + dropped, n)
        # What VictoriaMetrics accepted becomes searchable shortly after.
        wait_for("every sent sample in VictoriaMetrics", lambda: sum(
            len(v) for v in arrived(vm).values()) == sent)
        got = arrived(vm)
        # What arrived is exactly the newest part of the file: the oldest
        # segments went first.
        want = expected_samples()
        for k, v in got.items():
            self.assertEqual(v, [(AS_OF_MS, want[k])])

    def test_damaged_journal_loses_only_damaged_records(self):
        self.copy_villages()
        port = free_port()
        # Small segments: small blocks, a few samples each.
        cfg = config([remote_write(port)], journal={"segment_bytes": "1KiB"})
        d = self.daemon(cfg).start()
        n = len(expected_samples())
        wait_for("journal durable", lambda: find(
            d.metrics(), "villagemetrics_journal_appended_samples_total") == n)
        self.assertEqual(d.stop()[0], 0)
        segments = sorted(glob.glob(os.path.join(self.tmp, "state", "journal", "*.seg")))
        self.assertGreater(len(segments), 2)
        # A byte flipped in the middle of an older segment costs the block
        # it is in ...
        middle = os.path.getsize(segments[0]) // 2
        hit = [count for off, length, _, count in journal_blocks(segments[0])
               if off <= middle < off + length]
        last = journal_blocks(segments[-1])[-1][3]
        self.assertEqual(len(hit), 1)
        lost = hit[0] + last
        self.assertLess(lost, n // 10)
        with open(segments[0], "r+b") as f:
            f.seek(middle)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        # ... and the newest cut in the middle of its last block its own.
        size = os.path.getsize(segments[-1])
        with open(segments[-1], "r+b") as f:
            f.truncate(size - 7)
        os.unlink(os.path.join(self.tmp, "data", "villages.csv"))
        vm = self.vm(port)
        d2 = self.daemon(config([remote_write(port)], collectors=False,
                                journal={"segment_bytes": "1KiB"}),
                         name="again.json").start()
        wait_for("lag drained", lambda: find(
            d2.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0
            and find(d2.metrics(), "villagemetrics_exporter_sent_samples_total",
                     exporter="vm") > 0, timeout=60)
        corrupt = find(d2.metrics(), "villagemetrics_journal_corrupt_samples_total")
        self.assertEqual(corrupt, lost)
        self.assertEqual(find(d2.metrics(), "villagemetrics_exporter_sent_samples_total",
                              exporter="vm"), n - lost)
        wait_for("every sent sample in VictoriaMetrics", lambda: sum(
            len(v) for v in arrived(vm).values()) == n - lost)


def journal_blocks(path):
    """(offset, framed length, first seq, sample count) of every record of
    an undamaged journal segment of format 2, whose records are blocks of
    samples (daemon/pipeline/journal_block.c)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"VGJ1" + struct.pack("<I", 2), data[:8]

    def varint(p):
        v = shift = 0
        while True:
            b = data[p]
            v |= (b & 0x7F) << shift
            p += 1
            shift += 7
            if not b & 0x80:
                return v, p
    out, off = [], 8
    while off + 12 <= len(data):
        plen = struct.unpack_from("<I", data, off + 4)[0]
        seq, p = varint(off + 12)
        count, _ = varint(p)
        out.append((off, 12 + plen, seq, count))
        off += 12 + plen
    assert off == len(data), (path, off, len(data))
    return out


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
        # InfluxDB shows the points before the daemon has read its 204.
        wait_for("sent counted", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total",
            exporter="influx") == len(want))


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


def exporter_status(d, name):
    return [e for e in d.status()["exporters"] if e["name"] == name][0]


class ScriptedTest(PushTest):
    """A push exporter against a receiver that answers from a script."""

    def receiver(self, path, script):
        rx = ScriptedReceiver(path, script)
        self.stops.append(rx.stop)
        return rx

    def journal_of_villages(self, exporter):
        """Puts every sample of villages.csv in the journal, undelivered
        (the exporter's url is a closed port), and returns the config of a
        daemon without collectors that sends them: every batch is then
        full, whatever the timing of the collection."""
        self.copy_villages()
        dead = dict(exporter, url="http://127.0.0.1:%d%s" % (
            free_port(), "/api/v1/write" if exporter["type"] == "remote_write" else ""))
        d = self.daemon(config([dead]), name="load.json").start()
        n = len(expected_samples())
        wait_for("journal durable", lambda: find(
            d.metrics(), "villagemetrics_journal_appended_samples_total") == n and
            find(d.metrics(), "villagemetrics_journal_fsyncs_total") > 0)
        self.assertEqual(d.stop()[0], 0)
        os.unlink(os.path.join(self.tmp, "data", "villages.csv"))
        return config([exporter], collectors=False)


class TestScriptedRemoteWrite(ScriptedTest):
    def test_500_429_413_each_handled_as_specified(self):
        # 500 and 429: the same batch again, after a backoff or the
        # server's Retry-After; 413: the batch in halves.
        rx = self.receiver("/api/v1/write", [
            (500, {}, b"internal error\n"),
            (429, {"Retry-After": "1"}, b"slow down\n"),
            (413, {}, b"request too large\n"),
        ])
        n = len(expected_samples())  # 180: 6 batches of 30
        cfg = self.journal_of_villages(remote_write(
            rx.port, name="rw", url="http://127.0.0.1:%d/api/v1/write" % rx.port,
            batch_size=30, metadata_interval="0"))
        rx.hold(2)
        d = self.daemon(cfg, name="send.json").start()

        # The third try of the first batch, 1 s after the 429.
        rx.wait_arrived(2)
        st = exporter_status(d, "rw")
        self.assertEqual((st["state"], st["backoff_seconds"], st["last_error"],
                          st["retried_samples"], st["sent_samples"], st["lag_samples"],
                          st["dropped_samples"]),
                         ("backing off", 1.0, "HTTP 429: slow down", 60, 0, n, {}))
        self.assertEqual(find(d.metrics(), "villagemetrics_exporter_backoff_seconds",
                              exporter="rw"), 1)
        rx.release(2)

        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="rw") == 0)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="rw"), n)
        self.assertEqual(find(m, "villagemetrics_exporter_retried_samples_total",
                              exporter="rw"), 60)
        st = exporter_status(d, "rw")
        self.assertEqual((st["sent_samples"], st["retried_samples"], st["lag_samples"],
                          st["state"], st["last_error"], st["dropped_samples"]),
                         (n, 60, 0, "up to date", None, {}))

        # 500, 429, 413: the same batch three times; its two halves; then
        # five more batches.
        reqs = rx.requests
        self.assertEqual(len(reqs), 3 + 2 + 5)
        self.assertEqual({r.path for r in reqs}, {"/api/v1/write"})
        self.assertEqual(reqs[0].body, reqs[1].body)
        self.assertEqual(reqs[1].body, reqs[2].body)
        self.assertTrue(all(len(r.body) < len(reqs[2].body) for r in reqs[3:5]))
        self.assertEqual(len({r.body for r in reqs[2:]}), 8)
        # After the 500 the exporter waited min_backoff (with jitter), after
        # the 429 the server's Retry-After.
        self.assertLess(reqs[1].t - reqs[0].t, 1.0)
        self.assertGreaterEqual(reqs[2].t - reqs[1].t, 1.0)
        for r in reqs:
            self.assertEqual((r.headers["content-encoding"], r.headers["content-type"],
                              r.headers["x-prometheus-remote-write-version"]),
                             ("snappy", "application/x-protobuf", "0.1.0"))


class TestScriptedInfluxDB(ScriptedTest):
    PARTIAL = (b'{"error":"partial write: field type conflict: input field '
               b'\\"value\\" on measurement \\"village_population\\" is type float, '
               b'already exists as type integer dropped=2"}\n')

    def test_partial_write_and_missing_database(self):
        rx = self.receiver("/write", [
            (204, {}, b""),
            (400, {"Content-Type": "application/json"}, self.PARTIAL),
            (404, {"Content-Type": "application/json"},
             b'{"error":"database not found: \\"villages\\""}\n'),
        ])
        n = len(expected_samples())  # 180: 6 batches of 30
        # One sample per line, so that "dropped=2" is 2 samples exactly.
        cfg = self.journal_of_villages({
            "type": "influxdb", "name": "influx", "version": 1,
            "url": "http://127.0.0.1:%d" % rx.port, "database": "villages",
            "measurement_from": "metric", "batch_size": 30,
            "flush_interval": "100ms", "min_backoff": "100ms", "max_backoff": "500ms"})
        d = self.daemon(cfg, name="send.json").start()

        # The 404 is about the configuration, not the data: delivery
        # pauses, the batch waits in the journal, and nothing is sent
        # again by itself.
        wait_for("paused", lambda: exporter_status(d, "influx")["state"] == "paused")
        st = exporter_status(d, "influx")
        self.assertEqual((st["paused"], st["last_error"], st["sent_samples"],
                          st["retried_samples"], st["lag_samples"], st["dropped_samples"]),
                         ("not_found", 'no such endpoint, database or bucket (HTTP 404: '
                          'database not found: "villages")', 58, 0, n - 60,
                          {"bad_request": 2}))
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_lag_samples",
                              exporter="influx"), n - 60)
        self.assertEqual(find(m, "villagemetrics_exporter_paused", exporter="influx",
                              reason="not_found"), 1)
        time.sleep(1.0)  # several max_backoffs: still nothing sent
        self.assertEqual(len(rx.requests), 3)
        self.assertIn("delivery paused: no such endpoint, database or bucket", d.logs())

        # The database is created, the daemon reloaded: it goes on.
        d.signal(signal.SIGHUP)
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="influx") == 0)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="influx"), n - 60)
        self.assertEqual(find(m, "villagemetrics_exporter_paused", exporter="influx"), 0)
        st = exporter_status(d, "influx")
        self.assertEqual((st["state"], st["paused"], st["lag_samples"], st["last_error"]),
                         ("up to date", None, 0, None))
        reqs = rx.requests
        # Six batches, the third one twice: once refused, once after the
        # reload.
        self.assertEqual(len(reqs), 7)
        self.assertEqual([r.path for r in reqs], ["/write?db=villages&precision=ms"] * 7)
        self.assertEqual(reqs[2].body, reqs[3].body)
        self.assertEqual(len({r.body for r in reqs}), 6)
        self.assertEqual([len(r.body.splitlines()) for r in reqs], [30] * 7)
        self.assertEqual(sum(len(r.body.splitlines()) for r in reqs) - 30, n)
        logs = d.logs()
        self.assertIn("partial write: field type conflict", logs)
        self.assertIn('database not found: "villages"', logs)

    def test_v2_request_carries_org_bucket_and_token(self):
        rx = self.receiver("/api/v2/write", [])
        with open(os.path.join(self.tmp, "influx-token"), "w") as f:
            f.write("s3cret-token==\n")
        self.copy_villages()
        d = self.daemon(config([{
            "type": "influxdb", "name": "influx2", "version": 2,
            "url": "http://127.0.0.1:%d/" % rx.port, "org": "Tongren Office",
            "bucket": "villages", "token": "@file:influx-token",
            "flush_interval": "100ms"}])).start()
        n = len(expected_samples())
        wait_for("sent counted", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total",
            exporter="influx2") == n)
        villages = {(c, t, v) for (_, c, t, v) in expected_samples()}
        lines = [line for r in rx.requests for line in r.body.splitlines()]
        # One point per village, with its three fields.
        self.assertEqual(len(lines), len(villages))
        for r in rx.requests:
            self.assertEqual(r.path, "/api/v2/write?org=Tongren%20Office&bucket=villages"
                             "&precision=ms")
            self.assertEqual(r.headers["authorization"], "Token s3cret-token==")
            self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(lines[0], b"village,city=Tongren,county=Shiqian,town=Wude,"
                         b"village=Taoziyuan population=3987,"
                         b"income_per_capita_yuan=3894.84,"
                         b"water_safe_households_ratio=0.7665 "
                         b"1577750400000")


class TestInfluxV2IntoVictoriaMetrics(PushTest):
    def test_v2_every_sample_arrives_with_its_timestamp(self):
        self.copy_villages()
        vm = self.vm()
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write("vm-token\n")
        d = self.daemon(config([{
            "type": "influxdb", "name": "vm2", "version": 2,
            "url": "http://127.0.0.1:%d" % vm.port, "org": "tongren",
            "bucket": "villages", "token": "@file:token",
            "flush_interval": "100ms"}])).start()
        # VictoriaMetrics names a field `measurement_field`: the point
        # village,... income_per_capita_yuan=... is the series
        # village_income_per_capita_yuan, the tags its labels (no label for
        # the org or the bucket).
        self.assert_all_arrived_once(vm)
        for labels in vm.export('{__name__=~"village_.*"}'):
            self.assertEqual({k for k, _ in labels},
                             {"__name__", "city", "county", "town", "village"})
            self.assertEqual(dict(labels)["city"], "Tongren")
        n = len(expected_samples())
        wait_for("sent counted", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total", exporter="vm2") == n)
        st = exporter_status(d, "vm2")
        self.assertEqual((st["sent_samples"], st["lag_samples"], st["last_error"]),
                         (n, 0, None))


class TestOutages(PushTest):
    def test_receiver_down_while_collection_continues_keeps_series_order(self):
        # Eight villages, two indicators, rewritten ten times 300 ms apart
        # with new values and a new as_of while the receiver is down.
        with open(os.path.join(DATA, "villages.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))[:8]
        os.makedirs(os.path.join(self.tmp, "data"))
        port = free_port()
        # Small batches: the backlog goes in many requests, in order.
        cfg = config([remote_write(port, batch_size=7)])
        c = cfg["collectors"][0]
        c["timestamp_format"] = "unix"
        c["metrics"] = {"village_population": "population",
                        "village_income_per_capita_yuan": "income_per_capita_yuan"}
        d = self.daemon(cfg).start()
        t0 = int(time.time()) // 60 * 60 - 3600
        written = {}  # {(metric, county, town, village): [(ts_ms, value)]}
        rounds, per_round = 10, 2 * len(rows)
        start = time.monotonic()
        for i in range(rounds):
            as_of = t0 + 15 * i
            tmp = os.path.join(self.tmp, "data", ".villages.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("county,town,village,as_of,population,income_per_capita_yuan\n")
                for k, r in enumerate(rows):
                    pop = int(r["population"]) + 10 * i + k
                    income = round(float(r["income_per_capita_yuan"]) + 0.5 * i, 2)
                    f.write("%s,%s,%s,%d,%d,%s\n" % (r["county"], r["town"], r["village"],
                                                    as_of, pop, income))
                    key = (r["county"], r["town"], r["village"])
                    written.setdefault(("village_population",) + key, []).append(
                        (as_of * 1000, float(pop)))
                    written.setdefault(("village_income_per_capita_yuan",) + key,
                                       []).append((as_of * 1000, income))
            os.replace(tmp, os.path.join(self.tmp, "data", "villages.csv"))
            wait_for("round %d in the journal" % i, lambda: find(
                d.metrics(), "villagemetrics_journal_appended_samples_total")
                == (i + 1) * per_round)
            # The collection schedule of the scenario, not a readiness wait.
            time.sleep(max(0.0, start + 0.3 * (i + 1) - time.monotonic()))
        total = rounds * per_round
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="vm"), 0)
        # The last round is counted once its group commit has run.
        wait_for("lag of every round", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == total)
        self.assertGreater(find(m, "villagemetrics_exporter_retried_samples_total",
                                exporter="vm"), 0)
        vm = self.vm(port)
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0)
        self.assertEqual(find(d.metrics(), "villagemetrics_exporter_sent_samples_total",
                              exporter="vm"), total)
        wait_for("every sample in VictoriaMetrics", lambda: sum(
            len(v) for v in arrived(vm).values()) == total)
        self.assertEqual(arrived(vm), written)

    def test_max_age_drops_what_is_too_old_and_sends_what_is_fresh(self):
        self.copy_villages()
        port = free_port()
        cfg = config([remote_write(port, max_age="1s")])
        # Stamped when read, that is now.
        del cfg["collectors"][0]["timestamp"]
        t_read = time.time()
        d = self.daemon(cfg).start()
        n = len(expected_samples())
        wait_for("tried while fresh", lambda: find(
            d.metrics(), "villagemetrics_exporter_retried_samples_total", exporter="vm") > 0)
        # Still down when they pass max_age: they are dropped, not retried.
        wait_for("dropped as too old", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0)
        self.assertGreaterEqual(time.time() - t_read, 1.0)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_dropped_samples_total",
                              exporter="vm", reason="too_old"), n)
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="vm"), 0)
        self.assertEqual(exporter_status(d, "vm")["dropped_samples"], {"too_old": n})
        vm = self.vm(port)
        # The same file written again: these are fresh, and arrive.
        t_fresh_ms = int(time.time() * 1000)
        tmp = os.path.join(self.tmp, "data", ".villages.tmp")
        shutil.copy(os.path.join(DATA, "villages.csv"), tmp)
        os.replace(tmp, os.path.join(self.tmp, "data", "villages.csv"))
        wait_for("fresh ones sent", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total", exporter="vm") == n)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_dropped_samples_total",
                              exporter="vm", reason="too_old"), n)
        self.assertEqual(find(m, "villagemetrics_journal_appended_samples_total"), 2 * n)
        want = expected_samples()
        # What VictoriaMetrics accepted becomes searchable shortly after.
        wait_for("every series in VictoriaMetrics",
                 lambda: len(arrived(vm)) == len(want))
        got = arrived(vm)
        self.assertEqual(set(got), set(want))
        for k, points in got.items():
            # One point each, the fresh one: none of the too old arrived.
            self.assertEqual(len(points), 1, (k, points))
            ts, value = points[0]
            self.assertGreaterEqual(ts, t_fresh_ms)
            self.assertEqual(value, want[k])


class TestFullDisk(PushTest):
    """The journal on a disk it fills itself, the receiver down: pushes
    are refused (503) when the disk is full, and once the receiver is back
    and has everything, the journal frees its disk and takes pushes
    again."""

    def mount_small_disk(self, path, size):
        os.makedirs(path)
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                            "tmpfs", path], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        # A stop, run after the daemon's (stops run last first) and before
        # the temporary folder is removed.
        self.stops.append(lambda: subprocess.run(["umount", path]))

    def test_a_full_disk_refuses_pushes_then_frees_itself(self):
        state = os.path.join(self.tmp, "small")
        self.mount_small_disk(state, "4m")
        port = free_port()
        cfg = config([remote_write(port)], collectors=False,
                     journal={"segment_bytes": "256KiB"})
        cfg["state_dir"] = state
        cfg["collectors"] = [{"type": "listen", "name": "push"}]
        d = self.daemon(cfg).start()
        rng = random.Random(7)
        sent, acked = {}, {}

        def push(n):
            """Answer of a body of n lines; its samples are in `sent`, and
            in `acked` if answered 204."""
            ts = 1765000000000 + len(sent)
            # Six digits: VictoriaMetrics keeps a value's decimal digits,
            # not every bit of a double's.
            lines = {("V%d" % i, ts): round(rng.random(), 6) for i in range(n)}
            body = "".join("level,village=%s ratio=%r %d\n" % (v, x, t)
                           for (v, t), x in lines.items())
            status, _, text = http_post(d.port, "/write?precision=ms",
                                        body.encode())
            sent.update(lines)
            if status == 204:
                acked.update(lines)
            return status, text
        # Random values: the journal holds about 9 bytes a sample, so the
        # 4 MiB (less the 1 MiB kept free) are full well before 600 bodies.
        for _ in range(600):
            status, text = push(2000)
            if status != 204:
                break
        self.assertEqual(status, 503, text)
        self.assertIn(b"No space left on device", text)
        self.assertGreater(len(acked), 100000)
        self.assertIsNone(d.proc.poll())
        # The receiver back: everything is delivered, the segments are
        # deleted, and the same bodies are taken again.
        vm = self.vm(port)
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0,
            timeout=120)
        wait_for("a body taken again", lambda: push(2000)[0] == 204, timeout=30)
        wait_for("lag drained again", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="vm") == 0)

        def exported():
            return vm.points_by('{__name__="level_ratio"}', "village")
        # What VictoriaMetrics accepted becomes searchable shortly after.
        wait_for("every acknowledged sample in VictoriaMetrics",
                 lambda: acked.keys() <= exported().keys())
        got = exported()
        # Every acknowledged sample, exactly; of the refused bodies, what
        # a commit took before the disk filled may be there too.
        missing = [(k, v, got.get(k)) for k, v in acked.items() if got.get(k) != v]
        self.assertEqual(missing[:5], [], "%d acknowledged samples" % len(missing))
        unsent = [(k, v, sent.get(k)) for k, v in got.items() if sent.get(k) != v]
        self.assertEqual(unsent[:5], [], "%d samples never sent" % len(unsent))


class TestFreshFirst(ScriptedTest):
    """policy fresh_first: after an outage, new samples go out while the
    backlog still drains; fifo keeps order instead."""

    def test_live_data_overtakes_the_backlog(self):
        # The backlog: every sample of villages.csv, journaled while the
        # receiver was unreachable.
        exporter = {"type": "influxdb", "name": "ix", "version": "1",
                    "database": "villages", "measurement_from": "metric",
                    "batch_size": 10, "flush_interval": "100ms",
                    "min_backoff": "100ms", "policy": "fresh_first"}
        cfg = self.journal_of_villages(exporter)
        # A collector for the live data, in a folder of its own.
        os.makedirs(os.path.join(self.tmp, "live"))
        cfg["collectors"] = [{
            "type": "file", "name": "live", "path": "live/*.csv",
            "settle": "50ms",
            "labels": {"county": "county", "town": "town", "village": "village"},
            "metrics": {"village_population": "population"}}]
        rx = self.receiver("/write", [])
        cfg["exporters"][1]["url"] = "http://127.0.0.1:%d" % rx.port
        n = len(expected_samples())
        # Hold the second backlog batch: the split has happened by then.
        rx.hold(1)
        d = self.daemon(cfg, name="live.json").start()
        rx.wait_arrived(1)
        with open(os.path.join(self.tmp, "live", "now.csv"), "w") as f:
            f.write("county,town,village,population\nSongtao,Ganlong,Livevillage,77\n")
        wait_for("live sample journaled", lambda: find(
            d.metrics(), "villagemetrics_journal_appended_samples_total") == 1)
        rx.release(1)
        wait_for("everything sent", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total", exporter="ix")
            == n + 1 and find(d.metrics(), "villagemetrics_exporter_lag_samples",
                              exporter="ix") == 0, timeout=60)
        bodies = [r.body.decode() for r in rx.requests]
        live = [i for i, b in enumerate(bodies) if "Livevillage" in b]
        self.assertEqual(live, [2], bodies[:4])  # right after the held batch
        # The backlog went on after it, to its last sample, exactly once.
        self.assertGreater(len(bodies), 3)
        lines = [l for b in bodies for l in b.splitlines()]
        self.assertEqual(len(lines), n + 1)
        self.assertEqual(len(set(lines)), n + 1)
        self.assertIn("Zhangwan", bodies[-1])  # the file's last village

    def test_fresh_first_refused_where_the_sink_needs_order(self):
        cfg = config([{"type": "remote_write", "url": "http://127.0.0.1:1/api/v1/write",
                       "policy": "fresh_first"}])
        d = Daemon(cfg, self.tmp)
        r = subprocess.run(
            [__import__("harness").BINARY, "--check-config", "-c", d.config_path],
            capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn('"policy": remote_write receivers refuse samples older than '
                      'ones they have; only "fifo" keeps each series in order',
                      r.stderr)


# --- exact accounting ---------------------------------------------------

RW_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}


def push_remote_write(port, series):
    status, _, body = http_post(port, "/api/v1/write", rwspec.body(series), RW_HEADERS)
    assert status == 204, (status, body)


def sensor_series(nseries, rounds, t0_ms, first_round=0):
    """nseries series of one sample a second for `rounds` seconds."""
    return [([("__name__", "tank_level_ratio"), ("tank", "T%03d" % k),
              ("village", "Bamu")],
             [(t0_ms + 1000 * r, (r * 7 + k) % 100 / 100.0)
              for r in range(first_round, first_round + rounds)])
            for k in range(nseries)]


def exported(d, name, **labels):
    return find(d.metrics(), name, **labels) or 0


class TestExactAccounting(PushTest):
    """delivered + dropped (by reason) + corrupt = appended, exactly, whatever
    happens between: max_bytes drops with the receiver down, then a reload,
    a restart or kill -9 before it comes back; a newest segment cut short."""

    N_SERIES, ROUNDS = 150, 100  # 15,000 samples

    def config(self, port):
        return {
            "collectors": [{"type": "listen", "name": "push",
                            "max_samples_per_request": 100000}],
            "exporters": [{"type": "prometheus"}, remote_write(
                port, name="rw", batch_size=200, metadata_interval="0")],
            # Blocks of a few samples (segment_bytes / 8 raw bytes at
            # most): 15,000 samples take well over 32 KiB.
            "journal": {"max_bytes": "32KiB", "segment_bytes": "4KiB"},
        }

    def fill_while_down(self, port):
        """15,000 samples into a journal of 32 KiB, the receiver down:
        the oldest are dropped.  Returns the daemon, settled."""
        d = self.daemon(self.config(port)).start()
        t0 = (int(time.time()) - 3600) * 1000
        for r in range(0, self.ROUNDS, 10):
            push_remote_write(d.port, sensor_series(self.N_SERIES, 10, t0, r))
        n = self.N_SERIES * self.ROUNDS
        wait_for("appended", lambda: exported(
            d, "villagemetrics_journal_appended_samples_total") == n)

        def settled():
            m = d.metrics()
            dropped = find(m, "villagemetrics_journal_dropped_samples_total",
                           exporter="rw") or 0
            lag = find(m, "villagemetrics_exporter_lag_samples", exporter="rw")
            # Every drop on disk: lag and drops account for everything, and
            # the count held for longer than a cursor save waits (ten
            # commit windows, a second), so that no drop is still pending.
            return dropped > 0 and lag + dropped == n and (time.sleep(1.5) or True) \
                and find(d.metrics(), "villagemetrics_journal_dropped_samples_total",
                         exporter="rw") == dropped
        wait_for("drops counted", settled)
        return d, n

    def check(self, rx, dropped, n):
        wait_for("every kept sample delivered",
                 lambda: rx.samples() + dropped == n, timeout=60)
        time.sleep(0.5)
        self.assertEqual(rx.samples() + dropped, n)
        rx.assert_compliant(self)

    def test_max_bytes_then_reload(self):
        port = free_port()
        d, n = self.fill_while_down(port)
        m = d.metrics()
        sent1 = find(m, "villagemetrics_exporter_sent_samples_total", exporter="rw")
        self.assertEqual(sent1, 0)
        d.signal(signal.SIGHUP)
        wait_for("reloaded", lambda: "configuration reloaded" in d.logs()
                 or find(d.metrics(), "villagemetrics_config_reloads_total",
                         result="success") == 1)
        rx = rwspec.ComplianceReceiver(port=port)
        self.stops.append(rx.stop)
        wait_for("lag drained", lambda: exported(
            d, "villagemetrics_exporter_lag_samples", exporter="rw") == 0, timeout=60)
        m = d.metrics()
        # The journal's count per exporter lives through a reload.
        dropped = find(m, "villagemetrics_journal_dropped_samples_total", exporter="rw")
        sent = find(m, "villagemetrics_exporter_sent_samples_total", exporter="rw")
        self.assertEqual(sent + dropped, n)
        self.check(rx, dropped, n)
        self.assertEqual(rx.samples(), sent)

    def restart_then_deliver(self, sig):
        port = free_port()
        d, n = self.fill_while_down(port)
        dropped1 = find(d.metrics(), "villagemetrics_journal_dropped_samples_total",
                        exporter="rw")
        d.proc.send_signal(sig)
        d.proc.wait()
        rx = rwspec.ComplianceReceiver(port=port)
        self.stops.append(rx.stop)
        d2 = self.daemon(self.config(port), name="again.json").start()
        wait_for("lag drained", lambda: exported(
            d2, "villagemetrics_exporter_lag_samples", exporter="rw") == 0, timeout=60)
        m = d2.metrics()
        dropped2 = find(m, "villagemetrics_journal_dropped_samples_total",
                        exporter="rw") or 0
        sent = find(m, "villagemetrics_exporter_sent_samples_total", exporter="rw")
        self.assertEqual(dropped2, 0)
        self.assertEqual(sent + dropped1, n)
        self.check(rx, dropped1, n)
        self.assertEqual(find(m, "villagemetrics_journal_corrupt_samples_total"), 0)

    def test_max_bytes_then_restart(self):
        self.restart_then_deliver(signal.SIGTERM)

    def test_max_bytes_then_kill_9(self):
        self.restart_then_deliver(signal.SIGKILL)

    def test_cut_newest_segment_counts_every_record_lost(self):
        port = free_port()

        def cfg():
            c = self.config(port)
            c["journal"] = {"segment_bytes": "1MiB"}
            return c
        d = self.daemon(cfg()).start()
        t0 = (int(time.time()) - 3600) * 1000
        push_remote_write(d.port, sensor_series(50, 100, t0))
        n = 5000
        wait_for("appended", lambda: exported(
            d, "villagemetrics_journal_appended_samples_total") == n)
        self.assertEqual(d.stop()[0], 0)
        segments = sorted(glob.glob(os.path.join(self.tmp, "state", "journal", "*.seg")))
        self.assertEqual(len(segments), 1)
        blocks = journal_blocks(segments[-1])
        self.assertEqual(sum(b[3] for b in blocks), n)
        self.assertGreater(len(blocks), 1)
        # Cut 5 bytes into the last block: its samples, and only they, are
        # lost (and counted, from journal/head).
        off, _, first, _ = blocks[-1]
        lost = n - first + 1
        with open(segments[-1], "r+b") as f:
            f.truncate(off + 5)
        rx = rwspec.ComplianceReceiver(port=port)
        self.stops.append(rx.stop)
        d2 = self.daemon(cfg(), name="again.json").start()
        wait_for("lag drained", lambda: exported(
            d2, "villagemetrics_exporter_lag_samples", exporter="rw") == 0, timeout=60)
        m = d2.metrics()
        self.assertEqual(find(m, "villagemetrics_journal_corrupt_samples_total"), lost)
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="rw"), n - lost)
        self.assertIn("%d records lost; sequence numbers go on from %d" % (lost, n + 1),
                      d2.logs())
        # New samples are numbered after the lost ones, and all arrive.
        push_remote_write(d2.port, sensor_series(50, 1, t0, 100))
        wait_for("new ones delivered", lambda: rx.samples() == n - lost + 50)
        self.assertEqual(find(d2.metrics(), "villagemetrics_journal_corrupt_samples_total"),
                         lost)
        rx.assert_compliant(self)


if __name__ == "__main__":
    unittest.main()
