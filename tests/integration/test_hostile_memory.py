"""The push endpoints under bodies made to cost memory and time: each
answered with its documented code, the daemon alive, its peak and resident
memory (/proc/PID/status) within a bound derived from its caps, the memory
back after; rejections counted exactly however many; the memory budget
answering 503 (and 413) instead of growing; /healthz answered while a
million samples go in.

Loopback only; bodies of at most 32 MiB once decompressed (a few MB as
sent), made here.  Bounds are generous for a noisy 2-core machine, and
wider under AddressSanitizer (its shadow memory and its quarantine of
freed blocks) and VG_SLOW."""

import gzip
import http.client
import json
import os
import threading
import time

from harness import (SLOW, Daemon, IntegrationTest, find, http_get, http_post,
                     free_port, wait_for)

MIB = 1 << 20
# The caps of the attacked daemon: small, so that the bounds are tight
# enough to tell the old behaviour (gigabytes) from the new.
MAX_DECOMPRESSED = 32 * MIB
MAX_MEMORY = 96 * MIB


# ---- bodies -----------------------------------------------------------------

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def snappy_literal(data):
    n = len(data) - 1
    if n < 60:
        return bytes([n << 2]) + data
    if n < 1 << 8:
        return bytes([60 << 2, n]) + data
    return bytes([61 << 2]) + n.to_bytes(2, "little") + data


def snappy_repeat(head, unit, count):
    """The snappy block of head + unit * count: a literal, then copies of
    the period 64 bytes at a time (3 bytes each on the wire)."""
    out = bytearray(varint(len(head) + len(unit) * count))
    out += snappy_literal(head + unit)
    left = len(unit) * (count - 1)
    out += (bytes([(63 << 2) | 2]) + len(unit).to_bytes(2, "little")) * (left // 64)
    if left % 64:
        out += bytes([((left % 64 - 1) << 2) | 2]) + len(unit).to_bytes(2, "little")
    return bytes(out)


def rw_empty_labels(raw):
    """One series: __name__="x", then empty labels (2 bytes each) up to
    `raw` bytes uncompressed.  Returns (body, labels with __name__)."""
    name = b"\x0a\x0d\x0a\x08__name__\x12\x01x"
    n = (raw - 6 - len(name)) // 2
    head = b"\x0a" + varint(len(name) + 2 * n) + name
    return snappy_repeat(head, b"\x0a\x00", n), n + 1


def rw_empty_series(raw):
    """Empty TimeSeries (2 bytes each) up to `raw` bytes."""
    n = raw // 2
    return snappy_repeat(b"", b"\x0a\x00", n), n


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def lp_samples(n, fields=5):
    fs = ",".join("f%d=%%d.5" % i for i in range(fields))
    return b"".join(
        ("sensor,village=v%d " % i + fs % tuple(range(fields)) +
         " %d\n" % (1600000000000 + i)).encode() for i in range(n // fields))


# ---- the process ------------------------------------------------------------

def status_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


class HostileTest(IntegrationTest):
    def daemon(self, journal=False, **listen):
        c = {"type": "listen", "name": "push", "max_series": 0}
        c.update(listen)
        cfg = {"collectors": [c], "exporters": [{"type": "prometheus"}]}
        if journal:
            # A receiver that is not there: the journal keeps it all, and
            # every answer waits for the commit.
            cfg["exporters"].append({
                "type": "remote_write", "name": "nowhere",
                "url": "http://127.0.0.1:%d/api/v1/write" % free_port()})
            cfg["journal"] = journal
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        d.start()
        # The thread pool starts with the first body: before the baseline.
        self.assertEqual(http_post(d.port, "/write", b"")[0], 204)
        return d

    def memory(self, d):
        return status_kb(d.proc.pid)

    def bound(self, d, nbytes):
        """A bound on memory past the baseline, widened under ASan (its
        quarantine keeps 256 MB of freed blocks) and VG_SLOW."""
        if sanitized(d.proc.pid):
            return 3 * nbytes + 320 * MIB
        return nbytes if SLOW <= 1 else 2 * nbytes

    def gauge(self, d, name):
        return find(d.metrics(), name, collector="push")

    def alive(self, d):
        self.assertIsNone(d.proc.poll(), d.logs()[-2000:])
        self.assertEqual(http_get(d.port, "/healthz")[0], 200)


class TestMemory(HostileTest):
    def attacked(self):
        """The daemon the memory-amplifying bodies go to, and its resident
        size before them."""
        self.d = self.daemon(max_decompressed="%dMiB" % (MAX_DECOMPRESSED // MIB),
                             max_memory="%dMiB" % (MAX_MEMORY // MIB))
        self.base = self.memory(self.d)["VmRSS"]

    def attack(self, path, body, headers):
        status, hdrs, answer = http_post(self.d.port, path, body, headers,
                                         timeout=120)
        self.alive(self.d)
        return status, hdrs, answer

    def check_memory(self, held):
        """Peak within `held` past the baseline; the budget whole again and
        the resident size back near the baseline."""
        d = self.d
        hwm = self.memory(d)["VmHWM"]
        self.assertLess(hwm - self.base, self.bound(d, held),
                        "peak %.0f MB over a baseline of %.0f MB" %
                        ((hwm - self.base) / MIB, self.base / MIB))
        self.assertLessEqual(self.gauge(d, "villagemetrics_push_memory_peak_bytes"),
                             MAX_MEMORY)
        wait_for("memory handed back", lambda:
                 self.gauge(d, "villagemetrics_push_memory_bytes") == 0 and
                 self.memory(d)["VmRSS"] - self.base < self.bound(d, 48 * MIB),
                 timeout=20)

    def test_remote_write_of_millions_of_empty_labels(self):
        self.attacked()
        body, labels = rw_empty_labels(MAX_DECOMPRESSED)
        self.assertLess(len(body), 2 * MIB)
        status, _, answer = self.attack(
            "/api/v1/write", body, {"Content-Encoding": "snappy"})
        # Each label used to cost a 32-byte span: 512 MB for these.
        self.assertEqual(
            (status, answer.decode()),
            (400, "partial write: /api/v1/write timeseries[0]: %d labels "
                  "(with __name__), more than the 33 allowed (1 rejected; 0 "
                  "accepted)\n" % labels))
        self.assertEqual(find(self.d.metrics(), "villagemetrics_rejected_values_total",
                              collector="push", reason="bad_label"), 1)
        # The uncompressed copy, and next to nothing per label.
        self.check_memory(MAX_DECOMPRESSED + 48 * MIB)

    def test_remote_write_of_millions_of_empty_series(self):
        self.attacked()
        body, n = rw_empty_series(MAX_DECOMPRESSED)
        status, _, answer = self.attack(
            "/api/v1/write", body, {"Content-Encoding": "snappy"})
        self.assertEqual(
            (status, answer.decode()),
            (413, "the message holds more than 1000000 series "
                  "(max_samples_per_request): nothing was kept; send it in "
                  "smaller parts\n"))
        self.check_memory(MAX_DECOMPRESSED + 48 * MIB)

    def test_gzipped_json_list_of_zeros(self):
        self.attacked()
        n = (MAX_DECOMPRESSED - 2) // 2
        body = gz(b"[" + b"0," * (n - 1) + b"0]")
        self.assertLess(len(body), 128 * 1024)
        status, _, answer = self.attack("/api/v1/push", body,
                                        {"Content-Encoding": "gzip"})
        # 80 bytes of tree for every 2 of body: refused from its commas.
        self.assertEqual(status, 413, answer)
        error = json.loads(answer)["error"]
        self.assertIn("the JSON body holds at least %d values" % n, error)
        self.assertIn("(16 times its size): nothing was kept", error)
        self.check_memory(MAX_DECOMPRESSED + 48 * MIB)

    def test_gzipped_bad_lines_on_both_line_protocol_endpoints(self):
        self.attacked()
        n = MAX_DECOMPRESSED // 2
        body = gz(b"x\n" * n)
        rejected = 0
        for path in ("/write", "/api/v2/write?org=o&bucket=b"):
            status, _, answer = self.attack(path, body, {"Content-Encoding": "gzip"})
            rejected += n
            # Every one counted, exactly; only the first 1000 kept whole.
            self.assertEqual(
                (status, json.loads(answer)),
                (400, {"error": "partial write: %s:1:2: missing fields "
                                "(%d rejected, details kept for the first "
                                "1000; 0 accepted)" % (path.split("?")[0], n)}))
            self.assertEqual(
                find(self.d.metrics(), "villagemetrics_rejected_values_total",
                     collector="push", reason="parse_error"), rejected)
        # 64 bytes a line used to stay in the batch: 1 GB for these.
        self.check_memory(MAX_DECOMPRESSED + 48 * MIB)

    def test_the_budget_answers_503_together_and_413_alone(self):
        d = self.daemon(journal={"commit_window": "500ms"}, max_memory="8MiB")
        # Bodies of 40000 samples held until their commit, 500 ms away:
        # each takes about 6.5 MiB (its body, 1 MiB besides, 4 MiB of
        # entries and their strings), so one fits at a time and the others
        # are answered 503.
        body = lp_samples(40000)
        self.assertGreater(len(body), 512 * 1024)
        results = []

        def send():
            results.append(http_post(d.port, "/write?precision=ms", body,
                                     timeout=60))
        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        codes = sorted(r[0] for r in results)
        self.assertEqual(len(codes), 6)
        self.assertIn(204, codes)
        self.assertIn(503, codes)
        self.assertEqual(set(codes), {204, 503})
        for status, hdrs, answer in results:
            if status == 503:
                self.assertEqual(hdrs.get("retry-after"), "5")
                self.assertIn("other requests hold the memory this one needs "
                              "now", json.loads(answer)["error"])
        # One alone past the budget: 413, never fits.
        status, _, answer = http_post(d.port, "/write?precision=ms",
                                      lp_samples(200000), timeout=60)
        self.assertEqual(status, 413, answer)
        self.assertIn("needs more memory than max_memory (8388608 bytes)",
                      json.loads(answer)["error"])
        self.alive(d)
        self.assertLessEqual(find(d.metrics(), "villagemetrics_push_memory_peak_bytes",
                                  collector="push"), 8 * MIB)
        wait_for("the budget whole again", lambda: find(
            d.metrics(), "villagemetrics_push_memory_bytes", collector="push") == 0)

    def test_healthz_is_answered_while_a_million_samples_go_in(self):
        d = self.daemon(journal={"max_bytes": "1GiB"})
        body = lp_samples(1000000)
        probes = []  # (sent at, latency, status)
        done = threading.Event()

        def probe():
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30 * SLOW)
            while not done.is_set():
                t0 = time.monotonic()
                try:
                    conn.request("GET", "/healthz")
                    r = conn.getresponse()
                    r.read()
                    probes.append((t0, time.monotonic() - t0, r.status))
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", d.port,
                                                      timeout=30 * SLOW)
                    probes.append((t0, time.monotonic() - t0, None))
                time.sleep(0.02)
            conn.close()
        t = threading.Thread(target=probe)
        t.start()
        try:
            t0 = time.monotonic()
            status, _, answer = http_post(d.port, "/write?precision=ms", body,
                                          timeout=300)
            t1 = time.monotonic()
        finally:
            done.set()
            t.join(60)
        self.assertEqual((status, answer), (204, b""))
        during = [p for p in probes if t0 <= p[0] <= t1]
        # Answered all along: a probe every 20 ms, each within half a
        # second (the replay used to hold the loop for 2-3 s at once).
        self.assertGreaterEqual(len(during), 20, "%d probes in %.1f s" %
                                (len(during), t1 - t0))
        self.assertEqual([p for p in during if p[2] != 200], [])
        slowest = max(p[1] for p in during)
        self.assertLess(slowest, 0.5 * SLOW, "slowest /healthz %.0f ms" %
                        (slowest * 1000))
        self.assertEqual(find(d.metrics(), "villagemetrics_series"), 1000000)
