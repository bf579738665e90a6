"""bench/push_peers.py - what bench/push.py runs its agents through.

Owns: the counting TCP proxy in front of VictoriaMetrics (bytes and
requests per agent), the feed that writes the village series each agent
reads, the scrape target that serves them to vmagent and Prometheus, and
the Agent record of one forwarding process.  Kept apart from push.py,
which owns the runs and the report.

Must not: talk to anything but 127.0.0.1, or leave a thread or socket open
after its close().
"""

import collections
import http.client
import http.server
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import exposition as ex  # noqa: E402

# ---- the counting proxy --------------------------------------------------


class CountingProxy:
    """A TCP proxy in front of the receiver.  Counts every byte the agent
    sends (the wire), the request bodies (by Content-Length), requests, and
    the receiver's answers by status, with their times.  down() closes the
    listening socket and every open connection, so the agent sees
    "connection refused" as when the receiver is gone; up() listens again on
    the same port.  on_2xx, when set, is called (in the proxy's thread) with
    the time of each 2xx answer."""

    def __init__(self, upstream_port, name):
        self.name = name
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.wire = 0
        self.body = 0
        self.requests = 0
        self.status = collections.Counter()
        self.ok_times = []
        self.receiver_s = 0.0    # request sent -> answer, summed
        self.last_big = 0.0      # when a body over 4 KiB last went by
        self.on_2xx = None
        self.conns = set()
        self.listener = None
        self.port = bl.free_port()
        self.running = False
        self.thread = None
        self.up()

    def up(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(256)
        s.settimeout(0.1)
        self.listener = s
        self.running = True
        self.thread = threading.Thread(target=self._accept, args=(s,),
                                       daemon=True)
        self.thread.start()

    def down(self):
        self.running = False
        self.thread.join()
        self.listener.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def snapshot(self):
        with self.lock:
            return {"wire": self.wire, "body": self.body,
                    "requests": self.requests,
                    "ok": sum(v for k, v in self.status.items()
                              if k.startswith("2")),
                    "receiver_s": self.receiver_s,
                    "status": dict(self.status)}

    def _accept(self, s):
        while self.running:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(None)
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.update((c, u))
            sent = collections.deque()
            threading.Thread(target=self._up_pump, args=(c, u, sent),
                             daemon=True).start()
            threading.Thread(target=self._down_pump, args=(u, c, sent),
                             daemon=True).start()

    def _close(self, a, b):
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            self.conns.discard(a)
            self.conns.discard(b)

    def _up_pump(self, c, u, sent):
        """Agent -> receiver: counts bytes, requests and bodies; `sent`
        gets the time each request was sent in full."""
        head = b""
        need = 0
        try:
            while True:
                data = c.recv(1 << 16)
                if not data:
                    break
                u.sendall(data)
                n = len(data)
                body = 0
                while data:
                    if need:
                        take = min(need, len(data))
                        need -= take
                        body += take
                        data = data[take:]
                        if not need:
                            sent.append(time.monotonic())
                        continue
                    head += data
                    data = b""
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    m = re.search(rb"(?im)^content-length:\s*(\d+)",
                                  head[:end])
                    need = int(m.group(1)) if m else 0
                    if need > 4096:
                        self.last_big = time.monotonic()
                    if not need:
                        sent.append(time.monotonic())
                    data = head[end + 4:]
                    head = b""
                    with self.lock:
                        self.requests += 1
                with self.lock:
                    self.wire += n
                    self.body += body
        except OSError:
            pass
        finally:
            self._close(c, u)
            c.close()

    def _down_pump(self, u, c, sent):
        """Receiver -> agent: counts the answers by status, and the time
        the receiver took to answer each request."""
        try:
            while True:
                data = u.recv(1 << 16)
                if not data:
                    break
                c.sendall(data)
                codes = re.findall(rb"HTTP/1\.[01] (\d{3})", data)
                if codes:
                    now = time.monotonic()
                    cb = None
                    with self.lock:
                        for code in codes:
                            if sent:
                                self.receiver_s += now - sent.popleft()
                            self.status[code.decode()] += 1
                            if code.startswith(b"2"):
                                self.ok_times.append(now)
                                cb = self.on_2xx
                    if cb:
                        cb(now)
        except OSError:
            pass
        finally:
            self._close(u, c)
            u.close()


# ---- the village series, round by round ----------------------------------


class Feed:
    """N village series (20 catalog metrics x N/20 villages, the exposition
    bench's data) whose values change every round.  Each round the same
    values go to the daemon (a CSV with the round's time in a `ts` column,
    renamed into place) and to the scrape target (a text page the peers
    scrape, no timestamps: they stamp the scrape)."""

    def __init__(self, n_series, metrics, seed, csv_dir):
        self.v = ex.Villages(n_series, metrics, seed)
        self.metrics = metrics
        self.csv_dir = csv_dir
        self.n = n_series
        self.page = b""
        self.rounds = []         # [(round, ts_ms, monotonic written)]
        self.lock = threading.Lock()
        self.prefixes = []
        self.base = []
        for i, (name, _) in enumerate(metrics):
            for county, rows in self.v.counties:
                for town, village, values in rows:
                    self.prefixes.append(
                        '%s{city="Bench",county="%s",town="%s",village="%s"} '
                        % (name, county, town, village))
                    self.base.append(values[i])
        self.per_village = len(metrics)

    @staticmethod
    def bump(text, r):
        """The round's value, inside the catalog's range (the daemon
        rejects what is outside it): integers go up by r % 10, decimals
        move by (r % 10) / 100 towards zero."""
        d = r % 10
        if "." in text:
            places = len(text) - text.index(".") - 1
            v = float(text)
            return "%.*f" % (places, v - d / 100.0 if v >= 0.1 else
                             v + d / 100.0)
        return str(int(text) + d)

    def write_round(self, r):
        vals = [self.bump(b, r) for b in self.base]
        page = "".join(p + v + "\n" for p, v in zip(self.prefixes, vals))
        ts_ms = int(time.time() * 1000)
        nv = self.n // self.per_village
        header = ["county", "town", "village", "ts"] + [
            m[len("village_"):] for m, _ in self.metrics]
        out = [",".join(header) + "\n"]
        k = 0
        for county, rows in self.v.counties:
            for town, village, _ in rows:
                cells = [vals[i * nv + k] for i in range(self.per_village)]
                out.append("%s,%s,%s,%d,%s\n" % (county, town, village, ts_ms,
                                                  ",".join(cells)))
                k += 1
        tmp = os.path.join(self.csv_dir, ".round.tmp")
        with open(tmp, "w") as f:
            f.write("".join(out))
        os.rename(tmp, os.path.join(self.csv_dir, "villages.csv"))
        with self.lock:
            self.page = page.encode()
            self.rounds.append((r, ts_ms, time.monotonic()))


class ScrapeTarget:
    """Serves the feed's current page at /metrics/<agent> and records every
    scrape it answered in full: (agent, start, end) in monotonic time."""

    def __init__(self, feed):
        self.feed = feed
        self.served = collections.defaultdict(list)
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                start = time.monotonic()
                agent = self.path.rsplit("/", 1)[-1]
                with feed.lock:
                    body = feed.page
                if body is None:  # ingest is over
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type",
                                 "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except ConnectionError:
                    # The agent was killed mid-answer (phase 3's kill -9):
                    # no scrape answered in full, and no traceback.
                    self.close_connection = True
                    return
                target.served[agent].append((start, time.monotonic()))

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- the agents ----------------------------------------------------------


class Agent:
    """One forwarding agent: how to start it (again, on the same state),
    its readiness probe, its process."""

    def __init__(self, name, argv, port, ready_path, logdir):
        self.name = name
        self.argv = argv
        self.port = port
        self.ready_path = ready_path
        self.logdir = logdir
        self.server = None
        self.starts = 0
        self.alive = []          # [(monotonic start, monotonic end or None)]
        self.killed_at = None

    def start(self):
        self.starts += 1
        self.server = bl.Server(self.argv, os.path.join(
            self.logdir, "%s-%d.log" % (self.name, self.starts)))
        bl.wait_for(self.server, self.port, self.ready_path, 120, self.name)
        self.alive.append([time.monotonic(), None])

    def kill9(self, when):
        if self.server and self.server.proc.poll() is None:
            os.kill(self.server.pid, signal.SIGKILL)
            self.killed_at = when
            self.alive[-1][1] = when

    def stop(self):
        if self.server:
            if self.alive and self.alive[-1][1] is None:
                self.alive[-1][1] = time.monotonic()
            self.server.stop()
