"""Remote write 1.0 compliance, both ways.

The sender: the remote_write exporter against tests/integration/rwspec.py's
receiver, which decodes every request and lists each MUST and SHOULD of
the specification it breaks (headers, snappy block format, sorted unique
non-empty labels, __name__, names, time order, milliseconds, stale
markers, no request sent again after a 4xx but 429), and against a real
Prometheus and VictoriaMetrics for what they do with the same scenarios
(retries with backoff, a refused sender, replays).

The receiver: the listen collector's /api/v1/write, with bodies made by
rwspec.py: what a compliant receiver takes and refuses, stale markers, and
a clear refusal of what it does not read (native histograms)."""

import os
import re
import shutil
import signal
import threading
import time
import unittest

import rwspec
from harness import (DATA, ROOT, Daemon, IntegrationTest, LoopbackServer,
                     Prometheus, QuietHandler, VictoriaMetrics, find,
                     free_port, http_get, http_post, wait_for)

RW = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
      "X-Prometheus-Remote-Write-Version": "0.1.0"}


def catalog():
    """{name: (help, unit)} of the indicators, from docs/metrics.md."""
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        text = f.read()
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^\| `(village_\w+)` \| \w+ \| [^|]* \| (.*) \|$", text, re.M)}


def sensor_series(nseries, rounds, t0_ms, first_round=0):
    return [([("__name__", "tank_level_ratio"), ("tank", "T%03d" % k),
              ("village", "Bamu")],
             [(t0_ms + 1000 * r, (r * 7 + k) % 100 / 100.0)
              for r in range(first_round, first_round + rounds)])
            for k in range(nseries)]


def count(metrics, name, **labels):
    """The sum of the series that match; 0 when there is none."""
    return sum(v for (n, ls), v in metrics.items() if n == name and
               all(dict(ls).get(k) == want for k, want in labels.items()))


def exporter_status(d, name):
    return [e for e in d.status()["exporters"] if e["name"] == name][0]


class CountingProxy(LoopbackServer):
    """Forwards POSTs to a receiver and counts the answers by status."""

    def __init__(self, target_port):
        self.statuses = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "expect")}
                status, hdrs, answer = http_post(target_port, self.path, body, headers)
                with proxy.lock:
                    proxy.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.serve(Handler)

    def count(self, status=None):
        with self.lock:
            return sum(1 for s in self.statuses if status is None or s == status)


class ComplianceTest(IntegrationTest):
    def daemon(self, cfg, **kw):
        d = Daemon(cfg, self.tmp, **kw)
        self.stops.append(d.stop)
        return d

    def receiver(self, **kw):
        rx = rwspec.ComplianceReceiver(**kw)
        self.stops.append(rx.stop)
        return rx

    def exporter(self, port, **kw):
        e = {"type": "remote_write", "name": "rw",
             "url": "http://127.0.0.1:%d/api/v1/write" % port,
             "flush_interval": "100ms", "min_backoff": "200ms", "max_backoff": "2s"}
        e.update(kw)
        return e

    def push_config(self, port, **kw):
        return {"collectors": [{"type": "listen", "name": "push",
                                "max_samples_per_request": 100000}],
                "exporters": [{"type": "prometheus"}, self.exporter(port, **kw)]}

    def push(self, d, series):
        status, _, body = http_post(d.port, "/api/v1/write", rwspec.body(series), RW)
        self.assertEqual(status, 204, body)


class TestSender(ComplianceTest):
    def test_every_request_meets_the_specification(self):
        """Villages, their stale markers when the file goes, and the
        catalog's metadata: no MUST or SHOULD broken."""
        os.makedirs(os.path.join(self.tmp, "data"))
        shutil.copy(os.path.join(DATA, "villages.csv"),
                    os.path.join(self.tmp, "data", "villages.csv"))
        rx = self.receiver()
        metrics = {"village_population": "population",
                   "village_income_per_capita_yuan": "income_per_capita_yuan",
                   "village_water_safe_households_ratio": "water_safe_households_ratio"}
        d = self.daemon({
            "labels": {"city": "Tongren"},
            "collectors": [{"type": "file", "name": "villages", "path": "data/*.csv",
                            "settle": "50ms", "timestamp": "as_of",
                            "labels": {"county": "county", "town": "town",
                                       "village": "village"},
                            "metrics": metrics}],
            "exporters": [{"type": "prometheus"}, self.exporter(rx.port)]}).start()
        n = 180
        wait_for("every sample", lambda: rx.samples() == n)
        # The file goes: one stale marker per series, after its sample.
        os.unlink(os.path.join(self.tmp, "data", "villages.csv"))
        wait_for("stale markers", lambda: rx.samples() == 2 * n)
        rx.assert_compliant(self)
        with rx.lock:
            for key, samples in rx.accepted.items():
                self.assertEqual(len(samples), 2, key)
                (t0, v0), (t1, v1) = samples
                self.assertEqual(t0, 1577750400000)
                self.assertFalse(v0 != v0)
                self.assertEqual(rwspec.bits(v1), rwspec.STALE_NAN_BITS)
                self.assertGreater(t1, t0)
                self.assertEqual(dict(key)["city"], "Tongren")
        # Metadata: the catalog's help, type and unit, for Grafana.
        want = catalog()
        # village_info is the registry's (none here), not the catalog's.
        del want["village_info"]
        # 23 indicators and the two report dates.
        self.assertEqual(len(want), 25)
        for name, help_ in want.items():
            self.assertIn(name, rx.metadata)
            kind, got_help, unit = rx.metadata[name]
            self.assertEqual((kind, got_help), ("gauge", help_), name)
        self.assertEqual(rx.metadata["village_water_safe_households_ratio"][2], "ratio")
        self.assertEqual(rx.metadata["village_income_per_capita_yuan"][2], "yuan")
        self.assertIsNone(d.proc.poll())

    def test_families_of_prometheus_text_carry_their_metadata(self):
        with open(os.path.join(self.tmp, "modem.prom"), "w") as f:
            f.write("# HELP modem_signal_dbm Received signal strength.\n"
                    "# TYPE modem_signal_dbm gauge\n"
                    "modem_signal_dbm{village=\"Bamu\"} -71\n"
                    "# HELP modem_rx_bytes_total Bytes received.\n"
                    "# TYPE modem_rx_bytes_total counter\n"
                    "modem_rx_bytes_total{village=\"Bamu\"} 123456\n")
        rx = self.receiver()
        self.daemon({"collectors": [{"type": "file", "name": "modem",
                                     "path": "*.prom", "format": "prometheus",
                                     "settle": "50ms"}],
                     "exporters": [{"type": "prometheus"},
                                   self.exporter(rx.port, metadata_interval="300ms")]}
                    ).start()
        wait_for("samples", lambda: rx.samples() == 2)
        wait_for("metadata", lambda: "modem_rx_bytes_total" in rx.metadata)
        self.assertEqual(rx.metadata["modem_signal_dbm"],
                         ("gauge", "Received signal strength.", ""))
        self.assertEqual(rx.metadata["modem_rx_bytes_total"],
                         ("counter", "Bytes received.", ""))
        rx.assert_compliant(self)

    def test_5xx_and_429_are_retried_with_backoff(self):
        script = {0: (500, {}, b"boom\n"), 1: (503, {}, b"busy\n"),
                  2: (429, {"Retry-After": "1"}, b"slow down\n")}
        rx = self.receiver(answer=lambda rx, req: script.get(req.index))
        d = self.daemon(self.push_config(rx.port, metadata_interval="0")).start()
        self.push(d, sensor_series(10, 3, int(time.time() * 1000) - 60000))
        wait_for("delivered", lambda: rx.samples() == 30)
        rx.assert_compliant(self)
        reqs = rx.requests
        self.assertEqual([r.status for r in reqs], [500, 503, 429, 204])
        # The same request each time.
        self.assertEqual(len({r.raw_body for r in reqs}), 1)
        # A backoff: min_backoff (200 ms, less up to 25 % of jitter), then
        # doubled (less jitter again); then the server's Retry-After.
        gaps = [b.t - a.t for a, b in zip(reqs, reqs[1:])]
        self.assertGreaterEqual(gaps[0], 0.15)
        self.assertGreaterEqual(gaps[1], 0.22)
        self.assertGreater(gaps[1], gaps[0])
        self.assertGreaterEqual(gaps[2], 1.0)
        # The receiver holds the samples before the daemon has read its
        # answer: the counter follows once the 204 is handled.
        wait_for("sent counted", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total",
            exporter="rw") == 30)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_retried_samples_total",
                              exporter="rw"), 90)

    def test_400_is_never_sent_again_and_counted(self):
        """Refused data is dropped and counted; no request is sent twice
        (the receiver checks), and the rest of the batch arrives."""
        bad = {"T003"}

        def answer(rx, req):
            for s in req.series:
                if dict(s.labels).get("tank") in bad:
                    return 400, {}, b"invalid sample\n"
            return None
        rx = self.receiver(answer=answer)
        d = self.daemon(self.push_config(rx.port, metadata_interval="0")).start()
        self.push(d, sensor_series(64, 1, int(time.time() * 1000) - 60000))
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="rw") == 0)
        rx.assert_compliant(self)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_dropped_samples_total",
                              exporter="rw", reason="bad_request"), 1)
        self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                              exporter="rw"), 63)
        self.assertEqual(rx.samples(), 63)
        # Halving to the bad one: 1 + 2 log2(64) requests at most.
        self.assertLessEqual(len(rx.requests), 13)
        self.assertIn("HTTP 400: invalid sample", d.logs())

    def test_refused_sender_pauses_until_a_reload(self):
        fixed = threading.Event()
        rx = self.receiver(answer=lambda rx, req: None if fixed.is_set() else
                           (401, {}, b"Unauthorized\n"))
        d = self.daemon(self.push_config(rx.port, metadata_interval="0")).start()
        self.push(d, sensor_series(10, 3, int(time.time() * 1000) - 60000))
        wait_for("paused", lambda: exporter_status(d, "rw")["state"] == "paused")
        st = exporter_status(d, "rw")
        self.assertEqual((st["paused"], st["last_error"], st["lag_samples"]),
                         ("unauthorized", "credentials refused (HTTP 401: Unauthorized)",
                          30))
        self.assertEqual(find(d.metrics(), "villagemetrics_exporter_paused",
                              exporter="rw", reason="unauthorized"), 1)
        time.sleep(2.5)  # past max_backoff: still one request
        self.assertEqual(rx.count(), 1)
        self.assertIn("delivery paused: credentials refused", d.logs())
        fixed.set()
        rx.new_session()
        d.signal(signal.SIGHUP)
        wait_for("delivered after the reload", lambda: rx.samples() == 30)
        rx.assert_compliant(self)
        # Up to date once the daemon has read the receiver's answer.
        wait_for("up to date", lambda: exporter_status(d, "rw")["state"] == "up to date")

    def test_redirect_is_not_followed(self):
        other = self.receiver()
        rx = self.receiver(answer=lambda rx, req: (
            307, {"Location": "http://127.0.0.1:%d/api/v1/write" % other.port}, b""))
        d = self.daemon(self.push_config(rx.port, metadata_interval="0")).start()
        self.push(d, sensor_series(5, 1, int(time.time() * 1000) - 60000))
        wait_for("paused", lambda: exporter_status(d, "rw")["state"] == "paused")
        self.assertEqual(exporter_status(d, "rw")["paused"], "redirect")
        time.sleep(0.5)
        self.assertEqual((rx.count(), other.count()), (1, 0))

    def test_refused_drop_counts_by_reason(self):
        rx = self.receiver(answer=lambda rx, req: (403, {}, b"forbidden\n"))
        d = self.daemon(self.push_config(rx.port, metadata_interval="0",
                                         refused="drop", batch_size=10)).start()
        self.push(d, sensor_series(10, 5, int(time.time() * 1000) - 60000))
        wait_for("lag drained", lambda: find(
            d.metrics(), "villagemetrics_exporter_lag_samples", exporter="rw") == 0)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_exporter_dropped_samples_total",
                              exporter="rw", reason="forbidden"), 50)
        self.assertEqual(rx.count(), 5)  # one request a batch, none again
        rx.assert_compliant(self)


class TestReplays(ComplianceTest):
    """A cursor set back to 1 (the documented way to send again) against
    a receiver that has everything: requests per batch, before and after
    the exporter lost its memory of what it delivered."""

    def set_cursor_back(self, forget=False):
        with open(os.path.join(self.tmp, "state", "journal", "cursors", "rw"), "w") as f:
            f.write("1\n")
        if forget:
            os.unlink(os.path.join(self.tmp, "state", "remote_write", "rw.newest"))

    def replay(self, receiver_port, proxy, n, check):
        cfg = lambda: self.push_config(proxy.port, batch_size=200)  # noqa: E731
        d = self.daemon(cfg()).start()
        t0 = int(time.time() * 1000) - 10 * 60 * 1000
        self.push(d, sensor_series(50, n // 50, t0))
        wait_for("delivered", lambda: find(
            d.metrics(), "villagemetrics_exporter_sent_samples_total", exporter="rw") == n)
        check()
        self.assertEqual(d.stop()[0], 0)
        results = []
        for forget in (False, True):
            self.set_cursor_back(forget)
            before = proxy.count()
            d = self.daemon(cfg(), name="again%d.json" % forget).start()
            wait_for("replayed", lambda: find(
                d.metrics(), "villagemetrics_exporter_lag_samples", exporter="rw") == 0,
                timeout=60)
            m = d.metrics()
            sent = count(m, "villagemetrics_exporter_sent_samples_total", exporter="rw")
            skipped = count(m, "villagemetrics_exporter_skipped_samples_total",
                            exporter="rw")
            dropped = count(m, "villagemetrics_exporter_dropped_samples_total",
                            exporter="rw", reason="out_of_order")
            self.assertEqual(sent + skipped + dropped, n)
            results.append((proxy.count() - before, sent, skipped, dropped))
            check()
            self.assertEqual(d.stop()[0], 0)
        return results

    def test_prometheus(self):
        prom = Prometheus(self.tmp, [], extra_args=["--web.enable-remote-write-receiver"])
        self.stops.append(prom.stop)
        proxy = CountingProxy(prom.port)
        self.stops.append(proxy.stop)
        n = 1000

        def check():
            wait_for("every sample in Prometheus", lambda: prom.scalar(
                "sum(count_over_time(tank_level_ratio[30m]))") == n)
        (req1, sent1, skip1, drop1), (req2, sent2, skip2, drop2) = \
            self.replay(prom.port, proxy, n, check)
        # Knowing what it delivered: nothing is sent (a metadata request
        # at most).
        self.assertLessEqual(req1, 1)
        self.assertEqual((sent1, skip1, drop1), (0, n, 0))
        # Without that memory: five batches of 200, O(log n) requests each
        # (halving to single samples took about 2 a sample, ~2,000).
        self.assertLessEqual(req2, 1 + 5 * (3 * 8 + 4))
        self.assertEqual(sent2 + drop2, n)
        print("\nreplay of %d into Prometheus: %d requests with memory, %d without "
              "(%d refused as out of order, %d taken again)"
              % (n, req1, req2, drop2, sent2))

    def test_victoriametrics(self):
        vm = VictoriaMetrics(self.tmp)
        self.stops.append(vm.stop)
        proxy = CountingProxy(vm.port)
        self.stops.append(proxy.stop)
        n = 1000

        def check():
            wait_for("every sample in VictoriaMetrics", lambda: sum(
                len(v) for v in vm.export('{__name__="tank_level_ratio"}').values()) == n)
        (req1, sent1, skip1, drop1), (req2, sent2, skip2, drop2) = \
            self.replay(vm.port, proxy, n, check)
        self.assertLessEqual(req1, 1)
        self.assertEqual((sent1, skip1, drop1), (0, n, 0))
        # VictoriaMetrics takes it all again (and keeps it once).
        self.assertEqual((sent2, drop2), (n, 0))


class TestReceiver(ComplianceTest):
    """The daemon's /api/v1/write."""

    def setUp(self):
        super().setUp()
        self.d = self.daemon({"collectors": [{"type": "listen", "name": "push"}],
                              "exporters": [{"type": "prometheus"}]}).start()

    def post(self, series, histograms=(), headers=RW, raw=None):
        body = raw if raw is not None else rwspec.body(series, histograms)
        return http_post(self.d.port, "/api/v1/write", body, headers)

    def shown(self, name):
        return {dict(k[1]).get("tank"): v for k, v in self.d.metrics().items()
                if k[0] == name}

    def test_what_it_takes(self):
        t = int(time.time() * 1000)
        # Sorted or not (senders must sort; a receiver takes both), several
        # samples of a series in time order, a request of metadata only.
        status, _, body = self.post([
            ([("__name__", "tank_level_ratio"), ("tank", "A")], [(t - 2000, 0.5), (t - 1000, 0.6)]),
            ([("tank", "B"), ("__name__", "tank_level_ratio")], [(t - 1000, 0.7)])])
        self.assertEqual(status, 204, body)
        self.assertEqual(self.shown("tank_level_ratio"), {"A": 0.6, "B": 0.7})
        meta = rwspec.snappy_compress(b"\x1a\x12\x08\x02\x12\x0etank_level_rat")
        status, _, body = self.post(None, raw=meta)
        self.assertEqual(status, 204, body)
        # A stale marker ends the series it names.
        status, _, body = self.post([([("__name__", "tank_level_ratio"), ("tank", "A")],
                                      [(t, rwspec.stale_nan())])])
        self.assertEqual(status, 204, body)
        self.assertEqual(self.shown("tank_level_ratio"), {"B": 0.7})

    def test_what_it_refuses_clearly(self):
        t = int(time.time() * 1000)
        cases = [
            # A native histogram: not read, so not taken silently.
            ([([("__name__", "rtt_seconds"), ("tank", "H")], [])], (0,),
             "native histograms are not supported"),
            ([([("tank", "N")], [(t, 1.0)])], (), "no __name__ label"),
            ([([("__name__", "x"), ("tank", "D"), ("tank", "E")], [(t, 1.0)])], (),
             "duplicate label name"),
            ([([("__name__", "x"), ("bad-name", "v")], [(t, 1.0)])], (),
             "label name"),
        ]
        for series, histograms, words in cases:
            # The good series beside it is kept.
            good = ([("__name__", "tank_level_ratio"), ("tank", "G")], [(t, 0.9)])
            status, _, body = self.post(series + [good], histograms)
            self.assertEqual(status, 400, (words, body))
            self.assertIn(words, body.decode(), body)
            self.assertIn("(1 rejected; 1 accepted)", body.decode())
        self.assertEqual(self.shown("tank_level_ratio"), {"G": 0.9})
        m = self.d.metrics()
        self.assertEqual(count(m, "villagemetrics_rejected_values_total",
                               collector="push", reason="parse_error"), 1)
        self.assertEqual(count(m, "villagemetrics_rejected_values_total",
                               collector="push", reason="bad_label"), 3)
        # Not a request at all: nothing kept.
        status, _, _ = self.post(None, raw=rwspec.FRAMED_SNAPPY + b"\x00" * 8)
        self.assertEqual(status, 400)
        status, _, _ = self.post(None, raw=b"\x0a\x02\x0a",
                                 headers={"Content-Type": "application/x-protobuf"})
        self.assertEqual(status, 415)


if __name__ == "__main__":
    unittest.main()
