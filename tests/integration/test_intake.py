"""The push endpoints (listen collector) end to end, with real clients:
curl-like requests, the influx CLI, Prometheus as a remote-write sender;
durable answers checked by kill -9; limits, credentials and TLS; the
malformed corpus of tests/data/intake.  Every test asserts the exact
values that arrive."""

import base64
import gzip
import json
import os
import signal
import socket
import ssl
import subprocess
import unittest
import http.client

from harness import (DATA, SLOW, Daemon, IntegrationTest, Prometheus,
                     https_request,
                     VictoriaMetrics, find, free_port, http_get, http_post,
                     parse_metrics, wait_for)

INTAKE = os.path.join(DATA, "intake")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_unescaped(s, sep, quotes=False):
    """Splits on `sep` outside backslash escapes (and "strings")."""
    out, cur, i, quoted = [], "", 0, False
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur += s[i:i + 2]
            i += 2
            continue
        if quotes and c == '"':
            quoted = not quoted
        if c == sep and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def unescape(s):
    out, i = "", 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in ", =":
            out += s[i + 1]
            i += 2
        else:
            out += s[i]
            i += 1
    return out


def sensor_samples(path):
    """[(metric, {labels}, value, ts_ms)] of a line-protocol file, by the
    documented rule: measurement_field, booleans 0/1, strings skipped."""
    out = []
    for line in read(path).decode().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, fields, ts = split_unescaped(line, " ", quotes=True)
        parts = split_unescaped(key, ",")
        labels = dict(unescape(p).split("=", 1) for p in parts[1:])
        for field in split_unescaped(fields, ",", quotes=True):
            name, v = field.split("=", 1)
            if v.startswith('"'):
                continue
            if v in ("true", "false"):
                value = 1.0 if v == "true" else 0.0
            else:
                value = float(v.rstrip("iu"))
            out.append((unescape(parts[0]) + "_" + name, labels, value,
                        int(ts) // 1000000))
    return out


def latest(samples):
    """{(metric, frozenset(labels)): value} of the newest sample of each."""
    out = {}
    for metric, labels, value, ts in sorted(samples, key=lambda s: s[3]):
        out[(metric, frozenset(labels.items()))] = value
    return out


def listen(**kw):
    c = {"type": "listen", "name": "push"}
    c.update(kw)
    return c


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class IntakeTest(IntegrationTest):
    def daemon(self, collectors, exporters=(), **kw):
        cfg = {"collectors": list(collectors),
               "exporters": [{"type": "prometheus"}] + list(exporters)}
        cfg.update(kw)
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        return d.start()

    def push_metrics(self, d):
        """{(name, labels): value} of what the push collector stored."""
        return {k: v for k, v in d.metrics().items()
                if not k[0].startswith(("villagemetrics_", "process_"))}

    def rejected(self, d, reason):
        return find(d.metrics(), "villagemetrics_rejected_values_total",
                    collector="push", reason=reason)


class TestLineProtocol(IntakeTest):
    def test_sensor_file_arrives_exactly(self):
        d = self.daemon([listen()])
        path = os.path.join(INTAKE, "valid", "field-sensors.lp")
        status, _, body = http_post(d.port, "/write?db=villages", read(path))
        self.assertEqual((status, body), (204, b""))
        want = latest(sensor_samples(path))
        self.assertEqual(len(want), 60)  # 12 villages x (3 tank + 2 modem)
        self.assertEqual(self.push_metrics(d), want)
        self.assertEqual(self.rejected(d, "parse_error"), 0)

    def test_small_bodies_on_the_loop_and_large_ones_in_the_pool_agree(self):
        # Bodies up to 64 KiB, not gzipped, are parsed on the loop, others
        # in the thread pool: one workload through both, each round with
        # a bad line, must store the same exact values and refuse the same.
        d = self.daemon([listen()])
        villages = 2500  # ~95 KB a round: one body is past 64 KiB

        def round_lines(r):
            return ["m,village=V%04d f=%d.25 %d" % (k, r * 10000 + k,
                                                   1577808000000 + r * 1000)
                    for k in range(villages)]

        def want(r):
            return {("m_f", frozenset({("village", "V%04d" % k)})):
                    r * 10000 + k + 0.25 for k in range(villages)}

        bad = "m,village=V9999 f=oops 1577808000000"
        ways = [("one body", lambda ls: [ls], False),
                ("bodies of 100 lines", lambda ls: [ls[i:i + 100] for i in
                                                    range(0, len(ls), 100)],
                 False),
                ("one gzipped body", lambda ls: [ls], True)]
        for r, (how, split, gz) in enumerate(ways, 1):
            lines = round_lines(r)
            lines.insert(7, bad)
            bodies = split(lines)
            if not gz:
                sizes = [len("\n".join(b)) for b in bodies]
                self.assertTrue(max(sizes) > 65536 if len(bodies) == 1
                                else max(sizes) < 65536, (how, sizes))
            for i, b in enumerate(bodies):
                data = ("\n".join(b) + "\n").encode()
                headers = {}
                if gz:
                    data = gzip.compress(data)
                    headers["Content-Encoding"] = "gzip"
                status, _, body = http_post(d.port, "/write?precision=ms",
                                            data, headers=headers)
                if i == 0:
                    self.assertEqual(status, 400, (how, body))
                    self.assertIn('/write:8:19: invalid boolean "oops"',
                                  json.loads(body)["error"], how)
                else:
                    self.assertEqual((status, body), (204, b""), how)
            self.assertEqual(self.push_metrics(d), want(r), how)
            self.assertEqual(self.rejected(d, "parse_error"), r, how)

    def test_every_type_escape_and_line_end(self):
        d = self.daemon([listen()])
        for name in ("escapes.lp", "crlf.lp"):
            status, _, body = http_post(d.port, "/api/v2/write?org=o&bucket=b",
                                        read(os.path.join(INTAKE, "valid", name)))
            self.assertEqual(status, 204, (name, body))
        got = self.push_metrics(d)
        tank = {"village": "Bamu", "tank": "No.,1=a"}

        def v(metric, **labels):
            return got[(metric, frozenset(labels.items()))]
        # "water tank" is no Prometheus name: escaped as Prometheus 3 does,
        # it reads back as written (not as water_tank, which it would merge
        # with).
        self.assertEqual(v("U__water_20_tank__level__ratio", **tank), 0.25)
        self.assertEqual(v("U__water_20_tank__volume__m3", **tank), 100)
        self.assertEqual(v("U__water_20_tank__count", **tank), 7)
        self.assertEqual(v("U__water_20_tank__pump__on", **tank), 1)
        self.assertEqual(v("U__water_20_tank__dry", **tank), 0)
        self.assertEqual(v("signal_modem", village="Bamu"), -90.5)
        self.assertEqual(v("crlf_line_f", village="Bamu"), 1)
        self.assertEqual(v("crlf_line_g", village="Bamu"), 2)
        self.assertEqual(len(got), 8)  # the string field is skipped

    def test_gzip_precision_and_credentials(self):
        d = self.daemon([listen(token="s3cret")])
        body = gzip.compress(b"m,village=A f=1.5 1577808000\n")
        gz = {"Content-Encoding": "gzip"}
        self.assertEqual(http_post(d.port, "/api/v2/write?bucket=b&precision=s",
                                   body, gz)[0], 401)
        self.assertEqual(http_post(d.port, "/api/v2/write?bucket=b&precision=s", body,
                                   dict(gz, Authorization="Token wrong"))[0], 401)
        self.assertEqual(http_post(d.port, "/api/v2/write?bucket=b&precision=s", body,
                                   dict(gz, Authorization="Token s3cret"))[0], 204)
        # v1: the token as Basic password, or as the p query parameter.
        self.assertEqual(http_post(d.port, "/write?db=x", b"m,village=B f=2\n",
                                   {"Authorization": basic("any", "s3cret")})[0], 204)
        self.assertEqual(http_post(d.port, "/write?db=x&u=any&p=s3cret",
                                   b"m,village=C f=3\n")[0], 204)
        # 1.x spellings of precision are refused by the 2.x endpoint.
        status, _, body = http_post(d.port, "/api/v2/write?precision=n", b"m f=1\n",
                                    {"Authorization": "Bearer s3cret"})
        self.assertEqual((status, json.loads(body)["error"]),
                         (400, "invalid precision: use ns, us, ms or s"))
        # /ping answers without credentials, as InfluxDB's does.
        self.assertEqual(http_get(d.port, "/ping")[0], 204)
        m = d.metrics()
        self.assertEqual(
            [find(m, "villagemetrics_push_requests_total", endpoint=e, code=c)
             for e, c in (("/write", "204"), ("/api/v2/write", "204"),
                          ("/api/v2/write", "401"), ("/api/v2/write", "400"))],
            [2, 1, 2, 1])
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="push"), 1)
        got = self.push_metrics(d)
        self.assertEqual(got, {("m_f", frozenset({("village", "A")})): 1.5,
                               ("m_f", frozenset({("village", "B")})): 2,
                               ("m_f", frozenset({("village", "C")})): 3})

    def test_unsupported_encoding(self):
        d = self.daemon([listen()])
        status, _, body = http_post(d.port, "/write", b"x",
                                    {"Content-Encoding": "br"})
        self.assertEqual(status, 415, body)


class TestMalformedCorpus(IntakeTest):
    def test_each_bad_body_is_answered_and_the_rest_kept(self):
        d = self.daemon([listen()])
        expected = json.loads(read(os.path.join(INTAKE, "malformed", "expected.json")))
        for name in sorted(expected):
            if name.startswith("_"):
                continue
            status_want, where, why, kept = expected[name]
            path = "/api/v1/push" if name.endswith(".json") else "/write"
            status, _, body = http_post(d.port, path,
                                        read(os.path.join(INTAKE, "malformed", name)))
            answer = json.loads(body)
            self.assertEqual(status, status_want, (name, answer))
            self.assertIn(where, answer["error"], name)
            if why:
                self.assertIn(why, answer["error"], name)
            got = {dict(k[1]).get("village") for k in self.push_metrics(d)
                   if k[0] == "m_f"}
            self.assertEqual(got, set(kept), name)
            # A fresh daemon for the next body, so that each keeps its own.
            d.stop()
            self.stops.remove(d.stop)
            d = self.daemon([listen()])
        self.assertIsNone(d.proc.poll())


def curl(*args):
    """curl's exit code and output (the body, then the status on its own
    line): the command an operator types, run as it is."""
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}"] + list(args),
                         capture_output=True, text=True, timeout=30 * SLOW)
    return out.returncode, out.stdout


class TestCurl(IntakeTest):
    def test_json_and_v2_with_curl(self):
        d = self.daemon([listen(token="s3cret")])
        base = "http://127.0.0.1:%d" % d.port
        rc, out = curl("-H", "Authorization: Bearer s3cret",
                       "-H", "Content-Type: application/json", "--data-binary",
                       "@" + os.path.join(INTAKE, "valid", "records.json"),
                       base + "/api/v1/push")
        self.assertEqual((rc, out), (0, '{"accepted":4,"rejected":0}\n\n200'))
        body = gzip.compress(b"water_tank,village=Bamu level_ratio=0.5 1577808000\n")
        out = subprocess.run(
            ["curl", "-sS", "-w", "%{http_code}", "-H", "Authorization: Token s3cret",
             "-H", "Content-Encoding: gzip", "--data-binary", "@-",
             base + "/api/v2/write?org=tongren&bucket=villages&precision=s"],
            input=body, capture_output=True, timeout=30 * SLOW)
        self.assertEqual(out.stdout, b"204")
        rc, out = curl("--data-binary", "m f=1", base + "/write")
        self.assertEqual(out.splitlines()[-1], "401")
        got = self.push_metrics(d)
        self.assertEqual(got[("water_tank_level_ratio",
                              frozenset({("village", "Bamu")}))], 0.5)
        self.assertEqual(got[("village_population", frozenset(
            {("county", "Sinan"), ("town", "Sunjiaba"), ("village", "Luojiaba")}))], 2948)


class TestJSON(IntakeTest):
    def test_samples_records_and_bare_lists(self):
        d = self.daemon([listen()])
        for name in ("samples.json", "records.json", "bare-list.json"):
            status, _, body = http_post(d.port, "/api/v1/push",
                                        read(os.path.join(INTAKE, "valid", name)),
                                        {"Content-Type": "application/json"})
            self.assertEqual(status, 200, (name, body))
            self.assertEqual(json.loads(body)["rejected"], 0, name)
        self.assertEqual(json.loads(http_post(
            d.port, "/api/v1/push",
            read(os.path.join(INTAKE, "valid", "records.json")))[2])["accepted"], 4)
        got = self.push_metrics(d)
        bamu = frozenset({("county", "Songtao"), ("town", "Ganlong"),
                          ("village", "Bamu")})
        self.assertEqual(got[("village_population", bamu)], 3318)
        self.assertEqual(got[("village_water_safe_households_ratio", bamu)], 0.766)
        self.assertEqual(got[("village_income_per_capita_yuan", bamu)], 6815.5)
        self.assertNotIn(("village_school_dropouts", bamu), got)
        self.assertEqual(got[("water_tank_level_ratio", frozenset(
            {("village", "Taoziyuan"), ("tank", "No. 1")}))], 0.59)
        self.assertEqual(got[("bare_list_sample", frozenset({("village", "Bamu")}))], 2.5)
        self.assertEqual(len(got), 8)


def remote_write(port, name="up", **kw):
    e = {"type": "remote_write", "name": name,
         "url": "http://127.0.0.1:%d/api/v1/write" % port,
         "flush_interval": "100ms", "min_backoff": "100ms", "max_backoff": "1s"}
    e.update(kw)
    return e


class TestDurableAnswers(IntakeTest):
    def test_every_acknowledged_sample_survives_kill_9(self):
        # No receiver yet: everything stays in the journal.  Each request
        # answered 204 must be delivered after a kill -9 right after it.
        port = free_port()
        cfg = {"collectors": [listen()],
               "exporters": [{"type": "prometheus"}, remote_write(port, name="vm")]}
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        d.start()
        sent = {}
        for i in range(50):
            body = "".join("m,village=V%d f=%d %d\n" % (k, i * 100 + k,
                                                       1577808000000 + i * 1000)
                           for k in range(20))
            status, _, _ = http_post(d.port, "/write?precision=ms", body.encode())
            self.assertEqual(status, 204)
            for k in range(20):
                sent[("V%d" % k, 1577808000000 + i * 1000)] = float(i * 100 + k)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        vm = VictoriaMetrics(self.tmp, port)
        self.stops.append(vm.stop)
        d.start()

        def arrived():
            return vm.points_by('{__name__="m_f"}', "village")
        wait_for("every acknowledged sample in VictoriaMetrics",
                 lambda: len(arrived()) == len(sent), timeout=60)
        self.assertEqual(arrived(), sent)


class TestLimits(IntakeTest):
    def test_caps_answer_413_and_keep_nothing(self):
        d = self.daemon([listen(max_body="1KiB", max_decompressed="4KiB",
                                max_samples_per_request=3)])
        status, _, body = http_post(d.port, "/write", b"m f=1\n" * 200)
        self.assertEqual(status, 413, body)
        bomb = gzip.compress(b"m f=1\n" * 100000)
        self.assertLess(len(bomb), 1024)
        status, _, body = http_post(d.port, "/write", bomb, {"Content-Encoding": "gzip"})
        self.assertEqual((status, json.loads(body)["error"]),
                         (413, "the body is over 4096 bytes once decompressed"))
        status, _, body = http_post(d.port, "/write", b"m,v=a f=1\nm,v=b f=1\n"
                                    b"m,v=c f=1\nm,v=d f=1\n")
        self.assertEqual(status, 413, body)
        self.assertIn("4 samples, more than max_samples_per_request (3)",
                      json.loads(body)["error"])
        self.assertEqual(self.push_metrics(d), {})
        self.assertEqual(self.rejected(d, "series_limit"), 1)
        self.assertEqual(self.rejected(d, "parse_error"), 1)
        m = d.metrics()
        # The first 413 comes from the server, before the body is read.
        self.assertEqual(find(m, "villagemetrics_push_requests_total",
                              endpoint="/write", code="413"), 3)
        self.assertEqual(find(m, "villagemetrics_push_requests_total",
                              endpoint="/write", code="204"), 0)
        self.assertEqual(find(m, "villagemetrics_push_received_bytes_total",
                              endpoint="/write"), len(bomb) + 40)

    def test_line_labels_and_series_caps(self):
        d = self.daemon([listen(max_line=40, max_labels=2, max_label_value=8,
                                max_series=3)])
        body = (b"m,a=1 f=1\n"
                b"m,a=1,b=2,c=3 f=1\n"                      # 3 labels
                b"m,a=123456789 f=1\n"                      # value of 9 bytes
                b"m,a=2 f=1,g=2,h=3,i=4,j=5,k=6,l=7,n=8,o=9\n"  # over 40 bytes
                b"m,a=3 f=1,g=2\n"                          # 2 new series
                b"m,a=4 f=1\n")                             # past max_series
        status, _, answer = http_post(d.port, "/write", body)
        self.assertEqual(status, 400, answer)
        # The reason names the setting to raise.
        self.assertIn("/write:2:11: too many tags (limit 2, set by max_labels)",
                      json.loads(answer)["error"])
        self.assertEqual(set(self.push_metrics(d)), {
            ("m_f", frozenset({("a", "1")})), ("m_f", frozenset({("a", "3")})),
            ("m_g", frozenset({("a", "3")}))})
        self.assertEqual(self.rejected(d, "series_limit"), 1)
        self.assertEqual(self.rejected(d, "bad_label"), 1)
        self.assertEqual(self.rejected(d, "parse_error"), 2)

    def test_a_slow_sender_never_blocks_a_scrape(self):
        d = self.daemon([listen()], http={"timeout": "4s"})
        slow = socket.create_connection(("127.0.0.1", d.port))
        self.addCleanup(slow.close)
        slow.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm f=")
        self.assertEqual(http_get(d.port, "/metrics")[0], 200)
        # ... served while the sender's body was still missing: its
        # connection is still open, neither answered nor cut off.
        with self.assertRaises(BlockingIOError):
            slow.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        # The idle sender is cut off by the timeout.
        slow.settimeout(10 * SLOW)
        try:
            self.assertEqual(slow.recv(100), b"")
        except ConnectionResetError:
            pass


class TestSecurity(IntakeTest):
    def make_cert(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        return cert, key

    def test_tls_and_a_read_token_of_its_own(self):
        cert, key = self.make_cert()
        cfg = {"collectors": [listen(token="w")], "exporters": [{"type": "prometheus"}],
               "http": {"tls_cert_file": cert, "tls_key_file": key, "read_token": "r"}}
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        d.start(wait_ready=False)
        ctx = ssl.create_default_context(cafile=cert)

        def request(method, path, body=None, headers=None):
            return https_request(d.port, ctx, method, path, body, headers)
        wait_for("HTTPS ready", lambda: request("GET", "/readyz")[0] == 200)
        self.assertEqual(request("GET", "/healthz")[0], 200)
        self.assertEqual(request("GET", "/metrics")[0], 401)
        self.assertEqual(request("GET", "/api/v1/status")[0], 401)
        self.assertEqual(request("POST", "/write", b"m,v=a f=1\n",
                                 {"Authorization": "Bearer r"})[0], 401)
        self.assertEqual(request("POST", "/write", b"m,v=a f=1\n",
                                 {"Authorization": "Bearer w"})[0], 204)
        status, body = request("GET", "/metrics", headers={"Authorization": "Bearer r"})
        self.assertEqual(status, 200)
        self.assertEqual(parse_metrics(body.decode())[("m_f", frozenset({("v", "a")}))], 1)
        # Plain HTTP to the TLS port gets nothing.
        with self.assertRaises((http.client.HTTPException, OSError)):
            http_get(d.port, "/healthz", timeout=2)


class TestInfluxCLI(IntakeTest):
    def test_insert_with_the_influx_cli(self):
        d = self.daemon([listen(username="field", password="pw")])
        out = subprocess.run(
            ["influx", "-host", "127.0.0.1", "-port", str(d.port), "-username", "field",
             "-password", "pw", "-database", "villages", "-precision", "s", "-execute",
             "INSERT water_tank,village=Bamu,tank=No.\\ 1 level_ratio=0.25,pump_on=true "
             "1577808000"],
            capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        got = self.push_metrics(d)
        tank = frozenset({("village", "Bamu"), ("tank", "No. 1")})
        self.assertEqual(got, {("water_tank_level_ratio", tank): 0.25,
                               ("water_tank_pump_on", tank): 1})
        bad = subprocess.run(
            ["influx", "-host", "127.0.0.1", "-port", str(d.port), "-username", "field",
             "-password", "nope", "-database", "villages", "-execute", "INSERT m f=1"],
            capture_output=True, text=True, timeout=30 * SLOW)
        self.assertIn("authorization failed", bad.stdout + bad.stderr)


class TestPrometheusSender(IntakeTest):
    def test_prometheus_remote_writes_into_the_daemon(self):
        # A daemon serving villages.csv, scraped by Prometheus, which
        # forwards by remote write to a second daemon.
        os.makedirs(os.path.join(self.tmp, "a", "data"))
        with open(os.path.join(DATA, "villages.csv"), "rb") as src, \
                open(os.path.join(self.tmp, "a", "data", "villages.csv"), "wb") as dst:
            dst.write(src.read())
        source = Daemon({"collectors": [{
            "type": "file", "name": "villages", "path": "data/*.csv",
            "labels": {"county": "county", "town": "town", "village": "village"},
            "metrics": {"village_population": "population"}}],
            "exporters": [{"type": "prometheus"}]}, os.path.join(self.tmp, "a"))
        self.stops.append(source.stop)
        source.start()
        receiver = self.daemon([listen(token="t")])
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write("t")
        prom = Prometheus(self.tmp, [source.port], extra_yaml=(
            "remote_write:\n  - url: http://127.0.0.1:%d/api/v1/write\n"
            "    authorization:\n      credentials_file: %s\n"
            "    queue_config:\n      batch_send_deadline: 200ms\n"
            "      min_backoff: 100ms\n" % (receiver.port, os.path.join(self.tmp, "token"))))
        self.stops.append(prom.stop)
        want = {dict(k[1])["village"]: v for k, v in source.metrics().items()
                if k[0] == "village_population"}

        def got():
            return {dict(k[1])["village"]: v for k, v in receiver.metrics().items()
                    if k[0] == "village_population"
                    and dict(k[1]).get("job") == "villagemetrics"}
        wait_for("every village forwarded by Prometheus",
                 lambda: len(got()) == len(want), timeout=60)
        self.assertEqual(got(), want)
        self.assertEqual(self.rejected(receiver, "parse_error"), 0)

    def test_malformed_remote_write_bodies(self):
        d = self.daemon([listen(max_decompressed="1KiB")])
        snappy = {"Content-Encoding": "snappy",
                  "Content-Type": "application/x-protobuf"}
        status, _, body = http_post(d.port, "/api/v1/write", b"\x05garbage", snappy)
        self.assertEqual(status, 400, body)
        status, _, body = http_post(d.port, "/api/v1/write", b"plain", {})
        self.assertEqual(status, 415, body)
        # Snappy's header announces 100000 bytes: refused before inflating.
        status, _, body = http_post(d.port, "/api/v1/write",
                                    b"\xa0\x8d\x06" + b"\x00" * 10, snappy)
        self.assertEqual(status, 413, body)
        self.assertIn("over the limit of 1024 bytes", body.decode())
        self.assertIsNone(d.proc.poll())


if __name__ == "__main__":
    unittest.main()
