"""Shared pieces of the integration tests: free ports, the daemon under
test, a real Prometheus, polling instead of sleeping, HTTP servers of the
tests' own, and a test case with a temporary folder and things to stop.

Standard library only: the tests run with Debian's /usr/bin/python3 on a
fresh machine.  Every process started here is stopped by its own PID.
"""

import gzip
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("VG_BINARY", os.path.join(ROOT, "build", "villagemetricsd"))
DATA = os.path.join(ROOT, "tests", "data")
EXAMPLES = os.path.join(ROOT, "examples")
# A command put before the daemon's, e.g. "valgrind --error-exitcode=99".
WRAPPER = os.environ.get("VG_WRAPPER", "").split()
# Sanitizer and valgrind builds run slower; deadlines for readiness scale.
SLOW = float(os.environ.get("VG_SLOW", "1"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=20.0, interval=0.05):
    """Polls fn until it returns something true; returns it.  An
    AssertionError is "not yet" too: find() raises one while the series
    it looks for is not there (a collector's first round after a reload
    still running), which must not end the wait at its first poll."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError,
                AssertionError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def http_get(port, path, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def http_post(port, path, body, headers=None, timeout=10):
    """(status, {lowercase header: value}, body) of a POST."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def stop_process(proc, log):
    """SIGTERM, then SIGKILL after 30 s; by the process's own PID."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def parse_metrics(text):
    """{(name, frozenset(labels)): value} from text exposition (no escapes
    beyond those the tests use)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            labels = {}
            for part in _split_labels(rest[:-1]):
                k, _, v = part.partition("=")
                labels[k] = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            name, labels = head, {}
        out[(name, frozenset(labels.items()))] = float(value)
    return out


def _split_labels(s):
    parts, cur, quoted, esc = [], "", False, False
    for c in s:
        if esc:
            cur += c
            esc = False
        elif c == "\\":
            cur += c
            esc = True
        elif c == '"':
            cur += c
            quoted = not quoted
        elif c == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        parts.append(cur)
    return parts


def find(metrics, name, **labels):
    """The value of the one series of `name` whose labels include these."""
    hits = [v for (n, ls), v in metrics.items()
            if n == name and set(labels.items()) <= set(ls)]
    if len(hits) != 1:
        raise AssertionError("%d series %s%r" % (len(hits), name, labels))
    return hits[0]


# The files examples/demo.json reads from examples/data/ besides the
# generated demo-data/: a copied demo.json reads them relative to its copy.
DEMO_FILES = ("yanhe-register.xlsx", "jiangkou-register-gbk.csv")


def copy_demo_files(workdir):
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    for name in DEMO_FILES:
        shutil.copy(os.path.join(EXAMPLES, "data", name),
                    os.path.join(workdir, "data", name))


class Daemon:
    """villagemetricsd on a free port with its config in a temp dir."""

    def __init__(self, config, workdir, env=None, name="villagemetrics.json"):
        self.workdir = workdir
        self.port = free_port()
        self.config_path = os.path.join(workdir, name)
        if isinstance(config, dict):
            config.setdefault("listen", "127.0.0.1:%d" % self.port)
            config.setdefault("state_dir", os.path.join(workdir, "state"))
            with open(self.config_path, "w") as f:
                json.dump(config, f, ensure_ascii=False, indent=1)
        else:
            shutil.copy(config, self.config_path)
        self.env = dict(os.environ)
        self.env["VG_LISTEN"] = "127.0.0.1:%d" % self.port
        self.env["VG_STATE_DIR"] = os.path.join(workdir, "state")
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(workdir, "daemon.log")

    def start(self, wait_ready=True, args=()):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            WRAPPER + [BINARY, "--config", self.config_path] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
            stdin=subprocess.DEVNULL)
        if wait_ready:
            wait_for("daemon ready", lambda: self._ready())
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("daemon exited %d:\n%s" % (self.proc.returncode, self.logs()))
        return http_get(self.port, "/readyz")[0] == 200

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def metrics_text(self, headers=None):
        status, hdrs, body = http_get(self.port, "/metrics", headers)
        assert status == 200, (status, body)
        if hdrs.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode("utf-8")

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def status(self):
        status, _, body = http_get(self.port, "/api/v1/status")
        assert status == 200
        return json.loads(body)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; returns (exit code, seconds it took)."""
        if not self.proc or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon ignored SIGTERM:\n" + self.logs())
        finally:
            self.log.close()
        return code, time.monotonic() - t0


class Prometheus:
    """A real Prometheus (Debian's package) scraping the given targets."""

    def __init__(self, workdir, targets, scrape_interval="1s", extra_yaml="",
                 extra_args=(), evaluation_interval=None):
        self.workdir = workdir
        self.port = free_port()
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: %s\n  scrape_timeout: 1s\n"
                    % scrape_interval)
            if evaluation_interval:
                f.write("  evaluation_interval: %s\n" % evaluation_interval)
            if targets:
                f.write("scrape_configs:\n  - job_name: villagemetrics\n"
                        "    static_configs:\n      - targets: [%s]\n"
                        % ", ".join("'127.0.0.1:%d'" % t for t in targets))
            f.write(extra_yaml)
        self.args = ["prometheus", "--config.file=" + cfg,
                     "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                     "--web.listen-address=127.0.0.1:%d" % self.port,
                     "--web.enable-lifecycle"] + list(extra_args)
        self.start()

    def start(self):
        """Starts (again, after stop: same port, same data)."""
        self.log = open(os.path.join(self.workdir, "prometheus.log"), "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_for("prometheus ready",
                 lambda: self.proc.poll() is None and
                 http_get(self.port, "/-/ready")[0] == 200, timeout=60)

    def query(self, expr):
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, q), timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, expr):
        """The one value of an instant query, or None when it is empty."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def stop(self):
        stop_process(self.proc, self.log)


def https_request(port, ctx, method, path, body=None, headers=None):
    """(status, body) of one request over TLS, on a connection of its own
    (ctx: an ssl context that trusts the daemon's certificate)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10 * SLOW)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="vg-it-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class IntegrationTest(unittest.TestCase):
    """A test with a temporary folder, self.tmp, and self.stops: what the
    test started, stopped at its end in the reverse order, before the
    folder is removed."""

    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.stops = []

    def tearDown(self):
        for stop in reversed(self.stops):
            stop()
        self._tmp.__exit__(None, None, None)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing (the tests' output is theirs)."""

    def log_message(self, *args):
        pass


class LoopbackServer:
    """An HTTP server of the test's own on a free loopback port, each
    request in a thread of its own, until stop().  A subclass hands its
    handler class (a QuietHandler) to serve()."""

    def serve(self, handler, port=0):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class VictoriaMetrics:
    """Debian's victoria-metrics on a free (or given) port; it accepts
    remote write (/api/v1/write) and line protocol (/write,
    /api/v2/write).  Identical samples are kept once, so a batch sent
    twice after a crash counts once."""

    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.data = os.path.join(workdir, "vm-data")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.workdir, "vm.log"), "ab")
        self.proc = subprocess.Popen(
            ["victoria-metrics", "-storageDataPath=" + self.data,
             "-httpListenAddr=127.0.0.1:%d" % self.port,
             "-dedup.minScrapeInterval=1ms", "-search.latencyOffset=0s",
             "-retentionPeriod=100y"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for("victoria-metrics ready",
                 lambda: self.proc.poll() is None and
                 http_get(self.port, "/health")[0] == 200, timeout=60)

    def export(self, match):
        """{(name, labels...): [(ts_ms, value), ...]} of every series."""
        http_get(self.port, "/internal/force_flush")
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        status, _, body = http_get(self.port, "/api/v1/export?" + q)
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            if not line:
                continue
            s = json.loads(line)
            key = frozenset(s["metric"].items())
            out.setdefault(key, []).extend(zip(s["timestamps"], s["values"]))
        for v in out.values():
            v.sort()
        return out

    def points_by(self, match, label):
        """{(value of `label`, ts_ms): value} of every point matched."""
        out = {}
        for labels, points in self.export(match).items():
            key = dict(labels)[label]
            for ts, value in points:
                out[(key, ts)] = value
        return out

    def stop(self):
        stop_process(self.proc, self.log)


class InfluxDB:
    """Debian's InfluxDB 1.6 with its data in a temp dir."""

    def __init__(self, workdir):
        self.port = free_port()
        rpc = free_port()
        root = os.path.join(workdir, "influx")
        os.makedirs(root)
        conf = os.path.join(root, "influxdb.conf")
        with open(conf, "w") as f:
            f.write('reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n'
                    '[meta]\n  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n'
                    '  wal-dir = "%s/wal"\n  query-log-enabled = false\n'
                    '[http]\n  bind-address = "127.0.0.1:%d"\n'
                    '  log-enabled = false\n[monitor]\n  store-enabled = false\n'
                    % (rpc, root, root, root, self.port))
        self.log = open(os.path.join(workdir, "influxd.log"), "ab")
        self.proc = subprocess.Popen(["influxd", "-config", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_for("influxd ready", lambda: self.proc.poll() is None and
                 http_get(self.port, "/ping")[0] == 204, timeout=60)

    def query(self, q, db=None):
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        status, _, body = http_get(self.port, "/query?" + urllib.parse.urlencode(params))
        assert status == 200, body
        return json.loads(body)

    def stop(self):
        stop_process(self.proc, self.log)


class ScriptedReceiver(LoopbackServer):
    """An HTTP server on a free loopback port that answers the POSTs to
    `path` with a script: the i-th answer is script[i], a tuple (status,
    headers, body); past its end it answers 204.  It decodes nothing: it
    keeps each request's path, headers, body and arrival time in
    `requests`.  hold(i) makes the i-th request wait for release(i) before
    it is answered, so that a test can look at the sender in between."""

    class Request:
        def __init__(self, path, headers, body, t):
            self.path, self.headers, self.body, self.t = path, headers, body, t

    def __init__(self, path, script):
        self.path = path
        self.script = list(script)
        self.requests = []
        self._lock = threading.Lock()
        self._arrived = {}
        self._release = {}
        receiver = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the senders use

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                req = ScriptedReceiver.Request(
                    self.path, dict((k.lower(), v) for k, v in self.headers.items()),
                    body, time.monotonic())
                with receiver._lock:
                    i = len(receiver.requests)
                    receiver.requests.append(req)
                    arrived = receiver._arrived.get(i)
                    release = receiver._release.get(i)
                if arrived:
                    arrived.set()
                    release.wait(60)
                if self.path.partition("?")[0] != receiver.path:
                    status, headers, answer = 404, {}, b"no such path\n"
                elif i < len(receiver.script):
                    status, headers, answer = receiver.script[i]
                else:
                    status, headers, answer = 204, {}, b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.serve(Handler)

    def hold(self, i):
        with self._lock:
            self._arrived[i] = threading.Event()
            self._release[i] = threading.Event()

    def wait_arrived(self, i, timeout=20.0):
        if not self._arrived[i].wait(timeout * SLOW):
            raise AssertionError("request %d never came (%d came)"
                                 % (i, len(self.requests)))

    def release(self, i):
        self._release[i].set()

    def stop(self):
        for e in self._release.values():
            e.set()
        super().stop()
