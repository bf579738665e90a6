"""The HTTP collector end to end: the daemon polls a fixture API server the
test runs on loopback (standard library, in a thread), and every test
asserts exact values on /metrics and /api/v1/status.

The fixture serves its own API shapes besides the provincial one:
page-number, next-link and cursor pagination, ETag/304, 500s that recover,
answers slower than the timeout, truncated and malformed JSON, redirect
chains, a 50 MB answer, gzip, Basic and bearer authentication, and a
modem's Prometheus exporter."""

import base64
import gzip
import json
import os
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import (BINARY, DATA, EXAMPLES, SLOW, Daemon, LoopbackServer,
                     QuietHandler, TempDir, find, wait_for)

TOKEN = "tok-7f3e9a"          # the bearer token, kept in a secret file
PASSWORD = "s3cret:with colon"  # Basic auth, kept in a secret file


def village(name, county, town, safe, income, poor):
    """A record of the county platform's API: nested objects, numbers in
    strings, nulls."""
    return {"village": {"name": name, "code": None},
            "admin": {"county": county, "town": town},
            "stats": {"water": {"safe": safe},
                      "income": {"perCapita": income},
                      "poor": {"households": poor}}}


# The county platform: ?pageNo=N&pageSize=2, the page count in a string.
COUNTY_PAGES = [
    [village("Taoziyuan", "Shiqian", "Wude", "0.7665", "3894.84", 119),
     village("Bamu", "Songtao", "Ganlong", 0.7227, "7806.96", "83")],
    [village("Luojiaba", "Sinan", "Sunjiaba", "0.7224", None, 248),
     # No name: rejected whole (bad_label), the rest goes on.
     village(None, "Sinan", "Sunjiaba", "0.5", "1000", 1)],
    [village("Jinghe", "Jiangkou", "Dewang", 0.741, "11203.5", 17)],
]

COUNTY_MAPPING = {
    "labels": {"village": "/village/name", "county": "/admin/county",
               "town": "/admin/town"},
    "metrics": {"village_water_safe_households_ratio": "/stats/water/safe",
                "village_income_per_capita_yuan": "/stats/income/perCapita",
                "village_poor_households": "/stats/poor/households"},
}

MODEM = (b"# HELP modem_signal_rsrp_dbm Reference signal received power, in dBm.\n"
         b"# TYPE modem_signal_rsrp_dbm gauge\n"
         b'modem_signal_rsrp_dbm{band="B3",cell="460-00-2a3f-8b"} -97\n'
         b"# HELP modem_rx_bytes_total Bytes received over the mobile link.\n"
         b"# TYPE modem_rx_bytes_total counter\n"
         b'modem_rx_bytes_total{interface="wwan0"} 8.388608e+07\n')

BIG_SIZE = 50 * 1000 * 1000


def big_answer():
    """50 MB of JSON: one record and a long padding string."""
    head = b'{"items": [{"v": "Dashuzui", "n": 4321}], "pad": "'
    tail = b'"}'
    return head + b"x" * (BIG_SIZE - len(head) - len(tail)) + tail


class Fixture(LoopbackServer):
    """The API server.  Keeps every request it saw (path, query, headers,
    arrival time); `fail_first` makes /flaky answer 500 that many times."""

    def __init__(self, tmp):
        self.requests = []
        self.lock = threading.Lock()
        self.fail_first = 0
        self.etag_body = json.dumps({"items": [
            {"v": "Chuanyan", "n": 6815}, {"v": "Gangdeng", "n": 13295}]}).encode()
        self.big = None
        with open(os.path.join(DATA, "province-api-page-1.json"), "rb") as f:
            self.province = f.read()
        fixture = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                with fixture.lock:
                    fixture.requests.append(
                        (url.path, q, {k.lower(): v for k, v in self.headers.items()},
                         time.monotonic()))
                try:
                    fixture.route(self, url.path, q)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.serve(Handler)
        self.base = "http://127.0.0.1:%d" % self.port

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == path]

    @staticmethod
    def send(h, status, body, ctype="application/json", headers=()):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def route(self, h, path, q):
        send = self.send
        if path == "/county/villages":
            n = int(q.get("pageNo", "0"))
            if not 1 <= n <= len(COUNTY_PAGES) or q.get("pageSize") != "2":
                return send(h, 400, b'{"success": false, "msg": "bad page"}')
            send(h, 200, json.dumps({"success": True, "result": {
                "pageNo": n, "totalPage": str(len(COUNTY_PAGES)),
                "records": COUNTY_PAGES[n - 1]}}).encode())
        elif path == "/links":
            # Next links: relative, then absolute, then none.
            page = q.get("after", "")
            pages = {"": ([{"v": "Chuanyan", "n": 6815}], "links?after=k1"),
                     "k1": ([{"v": "Gangdeng", "n": 13295}],
                            self.base + "/links?after=k2"),
                     "k2": ([{"v": "Yangxi", "n": 4020}], None)}
            items, nxt = pages[page]
            send(h, 200, json.dumps({"villages": items,
                                     "links": {"self": h.path, "next": nxt}}).encode())
        elif path == "/cursor":
            cursors = {"": ("c1", True), "c1": ("c2", True), "c2": (None, False)}
            nxt, more = cursors[q.get("cursor", "")]
            n = {"": 1, "c1": 2, "c2": 3}[q.get("cursor", "")]
            send(h, 200, json.dumps({"data": [{"v": "V%d" % n, "n": n * 100}],
                                     "meta": {"next_cursor": nxt,
                                              "has_more": more}}).encode())
        elif path == "/province":
            send(h, 200, self.province)
        elif path == "/etag":
            if h.headers.get("If-None-Match") == '"r1"':
                h.send_response(304)
                h.send_header("ETag", '"r1"')
                h.end_headers()
                return
            send(h, 200, self.etag_body, headers=[("ETag", '"r1"')])
        elif path == "/named":
            send(h, 200, json.dumps({"items": [{"v": q.get("s", "?"),
                                                "n": 1}]}).encode())
        elif path == "/flaky":
            with self.lock:
                failing = self.fail_first > 0
                self.fail_first -= 1
            if failing:
                send(h, 500, b"database unavailable\n", "text/plain")
            else:
                send(h, 200, b'{"items": [{"v": "Chuanyan", "n": 6815}]}')
        elif path == "/slow":
            time.sleep(3)
            send(h, 200, b'{"items": []}')
        elif path == "/truncated":
            send(h, 200, b'{"items": [{"v": "Chuanyan", "n": 6815}, {"v": "Gang')
        elif path == "/malformed":
            send(h, 200, b'{"items": [{"v": "Chuanyan", "n": 6815},\n'
                         b'  {"v": "Gangdeng" "n": 1}]}')
        elif path == "/cut":
            # Content-Length promises more than comes: the server goes away.
            body = b'{"items": [{"v": "Chuanyan", "n": 6815}'
            h.send_response(200)
            h.send_header("Content-Length", str(len(body) + 100))
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
            h.close_connection = True
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            h.send_response(302)
            h.send_header("Location", "/hop/%d" % (left - 1) if left > 1 else "/etag")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path == "/big":
            if self.big is None:
                self.big = big_answer()
            send(h, 200, self.big)
        elif path == "/gzip":
            body = json.dumps({"items": [{"v": "Chuanyan", "n": 6815}] * 1 +
                              [{"v": "V%d" % i, "n": i} for i in range(200)]}).encode()
            if "gzip" in h.headers.get("Accept-Encoding", ""):
                send(h, 200, gzip.compress(body), headers=[("Content-Encoding", "gzip")])
            else:
                send(h, 406, b"gzip only\n", "text/plain")
        elif path == "/basic":
            want = "Basic " + base64.b64encode(
                ("county:" + PASSWORD).encode()).decode()
            if h.headers.get("Authorization") != want:
                return send(h, 401, b"who are you?\n", "text/plain",
                            [("WWW-Authenticate", 'Basic realm="county"')])
            send(h, 200, b'{"items": [{"v": "Chuanyan", "n": 6815}]}')
        elif path == "/bearer":
            if h.headers.get("Authorization") != "Bearer " + TOKEN:
                return send(h, 401, b'{"error": "invalid token"}')
            send(h, 200, b'{"items": [{"v": "Gangdeng", "n": 13295}]}')
        elif path == "/modem/metrics":
            send(h, 200, MODEM, "text/plain; version=0.0.4")
        else:
            send(h, 404, b"not found\n", "text/plain")


SIMPLE = {"records": "/items", "labels": {"village": "/v"},
          "metrics": {"village_population": "/n"}}


def source(name, url, **kw):
    c = {"type": "http", "name": name, "url": url, "interval": "1s",
         "spread": "0s"}
    c.update(kw)
    return c


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.tmp = cls._tmp.__enter__()
        cls.api = Fixture(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        cls._tmp.__exit__(None, None, None)

    def setUp(self):
        self.daemons = []
        self.dir = os.path.join(self.tmp, self.id().rsplit(".", 1)[1])
        os.makedirs(self.dir)

    def tearDown(self):
        # A clean exit: under the sanitizers a leak or an error fails it.
        for d in self.daemons:
            code, _ = d.stop()
            self.assertEqual(code, 0, d.logs())

    def daemon(self, collectors, **top):
        cfg = {"labels": {"city": "Tongren"}, "collectors": collectors,
               "exporters": [{"type": "prometheus"}]}
        cfg.update(top)
        d = Daemon(cfg, self.dir)
        self.daemons.append(d)
        return d.start()

    def collector(self, d, name):
        for c in d.status()["collectors"]:
            if c["name"] == name:
                return c
        raise AssertionError("no collector %s" % name)

    def wait_error(self, d, name, timeout=20):
        return wait_for("an error of %s" % name,
                        lambda: self.collector(d, name)["last_error"], timeout)


class TestPagination(HttpTest):
    def test_page_numbers_nested_records_strings_and_nulls(self):
        url = self.api.base + "/county/villages?pageSize=2&pageNo=7"
        c = source("county", url, interval="1h",
                   pagination={"type": "page", "param": "pageNo",
                               "pages": "/result/totalPage"},
                   records="/result/records", **COUNTY_MAPPING)
        d = self.daemon([c])
        m = d.metrics()
        t = dict(village="Taoziyuan", county="Shiqian", town="Wude", city="Tongren")
        self.assertEqual(find(m, "village_water_safe_households_ratio", **t), 0.7665)
        self.assertEqual(find(m, "village_income_per_capita_yuan", **t), 3894.84)
        self.assertEqual(find(m, "village_poor_households", **t), 119)
        self.assertEqual(find(m, "village_poor_households", village="Bamu"), 83)
        self.assertEqual(find(m, "village_poor_households", village="Jinghe"), 17)
        self.assertEqual(find(m, "village_water_safe_households_ratio",
                              village="Jinghe"), 0.741)
        # A null figure is no sample; a record without a name is rejected.
        self.assertFalse([k for k in m if k[0] == "village_income_per_capita_yuan"
                          and ("village", "Luojiaba") in k[1]])
        self.assertEqual(find(m, "village_water_safe_households_ratio",
                              village="Luojiaba"), 0.7224)
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="county", reason="bad_label"), 1)
        self.assertEqual(find(m, "villagemetrics_collector_last_round_samples",
                              collector="county"), 11)
        self.assertEqual(len([k for k in m if k[0].startswith("village_")]), 11)
        # ?pageNo=1,2,3 in that order, the URL's other parameter kept.
        self.assertEqual([r[1] for r in self.api.seen("/county/villages")],
                         [{"pageSize": "2", "pageNo": str(n)} for n in (1, 2, 3)])
        rej = self.collector(d, "county")["recent_rejections"]
        self.assertEqual(len(rej), 1)
        self.assertEqual(rej[0]["where"], self.api.base +
                         "/county/villages page 2 /result/records/1/village/name")

    def test_next_links(self):
        c = source("links", self.api.base + "/links", interval="1h",
                   pagination={"type": "next", "next": "/links/next"},
                   records="/villages", labels={"village": "/v"},
                   metrics={"village_population": "/n"})
        m = self.daemon([c]).metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "village_population", village="Gangdeng"), 13295)
        self.assertEqual(find(m, "village_population", village="Yangxi"), 4020)
        self.assertEqual([r[1] for r in self.api.seen("/links")],
                         [{}, {"after": "k1"}, {"after": "k2"}])

    def test_cursor(self):
        c = source("cursor", self.api.base + "/cursor", interval="1h",
                   pagination={"type": "cursor", "cursor": "/meta/next_cursor",
                               "has_more": "/meta/has_more"},
                   records="/data", labels={"village": "/v"},
                   metrics={"village_population": "/n"})
        m = self.daemon([c]).metrics()
        self.assertEqual([find(m, "village_population", village="V%d" % n)
                          for n in (1, 2, 3)], [100, 200, 300])
        self.assertEqual([r[1] for r in self.api.seen("/cursor")],
                         [{}, {"cursor": "c1"}, {"cursor": "c2"}])


class TestProvinceExample(HttpTest):
    def test_example_config_reads_the_shared_answer_shape(self):
        shutil.copy(os.path.join(EXAMPLES, "province-api-http.json"), self.dir)
        d = Daemon(os.path.join(self.dir, "province-api-http.json"), self.dir,
                   env={"PROVINCE_API_URL": self.api.base + "/province",
                        "TMPDIR": self.dir})
        self.daemons.append(d)
        d.start()
        m = d.metrics()
        v = dict(village="Taoziyuan", county="Shiqian", town="Wude",
                 city="Tongren", source="province-api")
        self.assertEqual(find(m, "village_income_per_capita_yuan", **v), 3894.84)
        self.assertEqual(find(m, "village_poor_households", **v), 119)
        self.assertEqual(find(m, "village_latitude_degrees", **v), 27.35331)
        self.assertEqual(find(m, "village_income_per_capita_yuan",
                              village="Chuanyan"), 6815)
        # The answer says "pages": 1: one request, with ?page=1 and the key.
        reqs = self.api.seen("/province")
        self.assertEqual([r[1] for r in reqs], [{"page": "1"}])
        self.assertEqual(reqs[0][2]["x-api-key"], "demo")
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="province-api", reason="not_a_number"), 0)

    def test_example_config_checks(self):
        r = subprocess.run([BINARY, "--check-config", "-c",
                            os.path.join(EXAMPLES, "province-api-http.json")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)


class TestConditional(HttpTest):
    def test_not_modified_keeps_series_fresh_without_parsing(self):
        d = self.daemon([source("etag", self.api.base + "/etag", **SIMPLE)],
                        stale_after="2s")
        # Long past stale_after, only 304s having come.
        wait_for("6 polls", lambda: len(self.api.seen("/etag")) >= 6)
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "village_population", village="Gangdeng"), 13295)
        # Parsed once: two samples in all, however many runs.
        self.assertEqual(find(m, "villagemetrics_collector_samples_total",
                              collector="etag"), 2)
        self.assertGreaterEqual(find(m, "villagemetrics_collector_runs_total",
                                     collector="etag"), 6)
        self.assertEqual(find(m, "villagemetrics_collector_errors_total",
                              collector="etag"), 0)
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="etag"), 1)
        reqs = self.api.seen("/etag")
        self.assertNotIn("if-none-match", reqs[0][2])
        self.assertTrue(all(r[2].get("if-none-match") == '"r1"' for r in reqs[1:]))
        st = self.collector(d, "etag")
        self.assertIsNone(st["last_error"])


class TestFailures(HttpTest):
    def test_500_backs_off_then_recovers(self):
        self.api.fail_first = 2
        d = self.daemon([source("flaky", self.api.base + "/flaky",
                                max_backoff="4s", **SIMPLE)])
        url = self.api.base + "/flaky"
        st = self.collector(d, "flaky")
        self.assertEqual(st["last_error"], url + ": HTTP 500: database unavailable")
        self.assertEqual(st["interval_seconds"], 2)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="flaky"), 0)
        self.assertEqual(find(m, "villagemetrics_collector_interval_seconds",
                              collector="flaky"), 2)
        wait_for("second failure",
                 lambda: self.collector(d, "flaky")["errors"] == 2)
        self.assertEqual(self.collector(d, "flaky")["interval_seconds"], 4)
        wait_for("recovery", lambda: self.collector(d, "flaky")["state"] == "ok",
                 timeout=30)
        st = self.collector(d, "flaky")
        self.assertIsNone(st["last_error"])
        self.assertEqual(st["interval_seconds"], 1)
        self.assertEqual(st["errors"], 2)
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="flaky"), 1)
        self.assertEqual(find(m, "villagemetrics_collector_errors_total",
                              collector="flaky"), 2)
        # The gaps between the tries: 2 s, then 4 s.
        t = [r[3] for r in self.api.seen("/flaky")]
        self.assertAlmostEqual(t[1] - t[0], 2, delta=0.5)
        self.assertAlmostEqual(t[2] - t[1], 4, delta=0.5)
        self.assertIn("collector flaky: " + url + ": HTTP 500: database "
                      "unavailable (next try in 2s)", d.logs())
        self.assertIn("collector flaky: working again", d.logs())

    def test_slow_answer_past_the_timeout(self):
        d = self.daemon([source("slow", self.api.base + "/slow", timeout="500ms",
                                interval="1h", **SIMPLE)])
        err = self.collector(d, "slow")["last_error"]
        self.assertRegex(err, r"^http://127\.0\.0\.1:\d+/slow: Operation timed out "
                         r"after 5\d\d milliseconds with 0 bytes received$")
        self.assertEqual(find(d.metrics(), "villagemetrics_collector_up",
                              collector="slow"), 0)

    def test_truncated_malformed_and_cut_answers(self):
        d = self.daemon([source(n, self.api.base + "/" + n, interval="1h", **SIMPLE)
                         for n in ("truncated", "malformed", "cut")])
        b = self.api.base
        self.assertEqual(self.collector(d, "truncated")["last_error"],
                         b + "/truncated: JSON syntax error at line 1, byte 48")
        self.assertEqual(self.collector(d, "malformed")["last_error"],
                         b + "/malformed: JSON syntax error at line 2, byte 60")
        self.assertEqual(self.collector(d, "cut")["last_error"],
                         b + "/cut: transfer closed with 100 bytes remaining to read")
        m = d.metrics()
        self.assertFalse([k for k in m if k[0] == "village_population"])
        for n in ("truncated", "malformed", "cut"):
            self.assertEqual(find(m, "villagemetrics_collector_errors_total",
                                  collector=n), 1)

    def test_redirects_followed_and_capped(self):
        d = self.daemon([source("hops", self.api.base + "/hop/3", interval="1h",
                                **SIMPLE),
                         source("loop", self.api.base + "/hop/9", interval="1h",
                                max_redirects=5, **SIMPLE)])
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(self.collector(d, "loop")["last_error"],
                         self.api.base + "/hop/9: Maximum (5) redirects followed")
        self.assertIsNone(self.collector(d, "hops")["last_error"])

    def test_50mb_answer_refused_under_the_cap_parsed_above(self):
        d = self.daemon([source("capped", self.api.base + "/big", interval="1h",
                                **SIMPLE),
                         source("raised", self.api.base + "/big", interval="1h",
                                max_body="64MiB", timeout="60s", **SIMPLE)])
        self.assertEqual(self.collector(d, "capped")["last_error"],
                         self.api.base + "/big: the answer is larger than max_body "
                         "(16777216 bytes); the transfer was stopped")
        self.assertIsNone(self.collector(d, "raised")["last_error"])
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Dashuzui"), 4321)
        self.assertEqual(find(m, "villagemetrics_collector_last_round_samples",
                              collector="raised"), 1)


class TestSchedule(HttpTest):
    def test_sources_poll_spread_each_at_a_steady_pace(self):
        # 20 sources, interval 2 s, spread 2 s: the first polls fall at
        # offsets hashed from the names, all within 2 s of the start, not
        # together; after that each source polls every 2 s.
        names = ["spread%02d" % i for i in range(20)]
        d = self.daemon([source(n, self.api.base + "/named?s=" + n,
                                interval="2s", spread="2s", **SIMPLE)
                         for n in names])
        wait_for("4 polls of each source", lambda: all(
            len([r for r in self.api.seen("/named") if r[1].get("s") == n]) >= 4
            for n in names), timeout=30)
        by = {n: [r[3] for r in self.api.seen("/named") if r[1].get("s") == n]
              for n in names}
        firsts = sorted(ts[0] for ts in by.values())
        self.assertLess(firsts[-1] - firsts[0], 2.2)
        self.assertGreater(firsts[-1] - firsts[0], 1.0)
        # Spread over the 2 s: the first polls of these names fall in 8 of
        # the ten 200 ms slots after the first (their hashes' offsets).
        slots = {int((t - firsts[0]) / 0.2) for t in firsts}
        self.assertGreaterEqual(len(slots), 6, sorted(slots))
        for n, ts in by.items():
            for a, b in zip(ts, ts[1:4]):
                self.assertAlmostEqual(b - a, 2.0, delta=0.25 * SLOW, msg=n)
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="spread07"), 1)
        self.assertEqual(find(m, "villagemetrics_collector_errors_total",
                              collector="spread07"), 0)


class TestTransport(HttpTest):
    def test_gzip(self):
        d = self.daemon([source("gz", self.api.base + "/gzip", interval="1h",
                                **SIMPLE)])
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "village_population", village="V199"), 199)
        self.assertEqual(find(m, "villagemetrics_collector_last_round_samples",
                              collector="gz"), 201)
        self.assertIn("gzip", self.api.seen("/gzip")[0][2]["accept-encoding"])

    def test_basic_and_bearer_with_secret_files(self):
        with open(os.path.join(self.dir, "county.password"), "w") as f:
            f.write(PASSWORD + "\n")
        with open(os.path.join(self.dir, "api.token"), "w") as f:
            f.write(TOKEN + "\n")
        d = self.daemon([
            source("basic", self.api.base + "/basic", interval="1h",
                   username="county", password="@file:county.password", **SIMPLE),
            source("bearer", self.api.base + "/bearer", interval="1h",
                   bearer_token="@file:api.token", **SIMPLE),
            source("nobody", self.api.base + "/bearer", interval="1h",
                   bearer_token="wrong", **SIMPLE)])
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Chuanyan"), 6815)
        self.assertEqual(find(m, "village_population", village="Gangdeng"), 13295)
        self.assertEqual(self.collector(d, "nobody")["last_error"],
                         self.api.base + '/bearer: HTTP 401: {"error": "invalid token"}')
        # The secrets are nowhere in what the daemon shows.
        text = json.dumps(d.status()) + d.metrics_text() + d.logs()
        self.assertNotIn(TOKEN, text)
        self.assertNotIn("s3cret", text)

    def test_modem_exporter(self):
        d = self.daemon([source("modem", self.api.base + "/modem/metrics",
                                interval="1h", format="prometheus")])
        text = d.metrics_text()
        self.assertIn("# HELP modem_signal_rsrp_dbm Reference signal received "
                      "power, in dBm.\n# TYPE modem_signal_rsrp_dbm gauge\n"
                      'modem_signal_rsrp_dbm{band="B3",cell="460-00-2a3f-8b",'
                      'city="Tongren"} -97\n', text)
        m = d.metrics()
        self.assertEqual(find(m, "modem_rx_bytes_total", interface="wwan0"), 83886080)
        accept = self.api.seen("/modem/metrics")[0][2]["accept"]
        self.assertTrue(accept.startswith("text/plain;version=0.0.4"), accept)


if __name__ == "__main__":
    unittest.main()
