"""Hostile and careless clients against the HTTP server: floods of bare
connections, clients that trickle their headers a byte a second, the
same over TLS, and a server full of requests in progress.

What is checked is state, never a stopwatch: /healthz, /metrics and an
authenticated /write are answered while the attack runs (each within a
generous timeout, where the old server made them wait for its 30 s idle
timeout or for ever), every hostile connection is closed by the server
(the client sees the end of its stream), the daemon's counters add up to
exactly the connections it closed, it logs a flood once and not once
per connection, and it is alive with a bounded RSS afterwards.

Every client talks to the loopback only (127.0.0.0/8: the floods come
from 127.0.0.2 and 127.0.0.3 when they must not share the probes'
address), and every attack is bounded in connections and in time.
"""

import os
import random
import resource
import selectors
import socket
import ssl
import subprocess
import threading
import time
import unittest
import http.client

from harness import (SLOW, Daemon, IntegrationTest, find,
                     https_request, http_get, parse_metrics,
                     wait_for)

TOKEN = "s3cret"
AUTH = {"Authorization": "Bearer " + TOKEN}
LINE = b"m,village=a f=1\n"
# Generous: the daemon idles at a few MiB (tens under ASan); a leak of a
# connection's memory per hostile connection would pass it.
RSS_LIMIT_MIB = 400
CLOSED = "villagemetrics_http_closed_connections_total"


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for %d" % pid)


class Flood(threading.Thread):
    """Keeps `width` connections from `source` to the port open, opening a
    new one whenever the server closes one, until `max_connects` were
    opened or `duration` passed; then opens no more and waits (up to
    `drain` seconds) until the server has closed every one.  With
    `trickle`, each connection sends one byte of a request that never
    ends every second; without, it never sends a byte.

    `opened` counts connections established, `closed` those the server
    closed (end of stream or reset), `failed` connects that failed, and
    `stopped_sending` whether any trickler was still open when trickling
    had to stop (the end of `duration` plus `drain`)."""

    REQUEST = b"POST /write?" + b"a" * 4096

    def __init__(self, port, width, source="127.0.0.2", max_connects=None,
                 duration=5.0, drain=30.0, trickle=False, tls_context=None):
        super().__init__(daemon=True)
        self.port, self.width, self.source = port, width, source
        self.max_connects = width if max_connects is None else max_connects
        self.duration, self.drain = duration * SLOW, drain * SLOW
        self.trickle, self.tls_context = trickle, tls_context
        self.opened = self.closed = self.failed = 0
        self.connected = threading.Event()  # the first `width` are up
        self.leftover = 0
        self.error = None

    def _connect(self, sel):
        s = socket.socket()
        s.bind((self.source, 0))
        if self.tls_context:
            # A TLS client completes its handshake, then trickles inside.
            s.settimeout(10 * SLOW)
            try:
                s.connect(("127.0.0.1", self.port))
                s = self.tls_context.wrap_socket(s, server_hostname="127.0.0.1")
            except OSError:
                s.close()
                self.failed += 1
                return
            s.setblocking(False)
            self.opened += 1
            sel.register(s, selectors.EVENT_READ, self._trickle_state())
            return
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        sel.register(s, selectors.EVENT_WRITE, None)

    @staticmethod
    def _trickle_state():
        # Each connection at a phase of its own within the second, as
        # independent clients would be, not all in one burst.
        return {"sent": 0, "next": time.monotonic() + random.random()}

    def _gone(self, sel, s, by_server):
        sel.unregister(s)
        s.close()
        if by_server:
            self.closed += 1

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test
            self.error = e

    def _run(self):
        sel = selectors.DefaultSelector()
        start = time.monotonic()
        end = start + self.duration
        give_up = end + self.drain
        attempts = 0
        while True:
            now = time.monotonic()
            # The first `width` always; more while the flood lasts.
            flooding = ((now < end or attempts < self.width)
                        and attempts < self.max_connects)
            if flooding:
                while len(sel.get_map()) < self.width and attempts < self.max_connects:
                    attempts += 1
                    self._connect(sel)
            if not sel.get_map() and not flooding:
                return
            if now >= give_up:
                self.leftover = len(sel.get_map())
                return
            if self.opened + self.failed >= min(self.width, self.max_connects):
                self.connected.set()
            for key, mask in sel.select(timeout=0.02 if self.trickle else 0.1):
                s = key.fileobj
                if key.data is None:  # connect finished
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    sel.unregister(s)
                    if err:
                        s.close()
                        self.failed += 1
                        continue
                    self.opened += 1
                    sel.register(s, selectors.EVENT_READ, self._trickle_state())
                    continue
                try:
                    data = s.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except (OSError, ssl.SSLError):
                    data = b""
                if data:
                    raise AssertionError("a hostile client got an answer: %r"
                                         % data[:200])
                self._gone(sel, s, True)
            if self.trickle:
                now = time.monotonic()
                for key in list(sel.get_map().values()):
                    if not key.data or key.data["next"] > now:
                        continue
                    key.data["next"] += 1.0
                    i = key.data["sent"]
                    key.data["sent"] = i + 1
                    try:
                        key.fileobj.send(self.REQUEST[i:i + 1])
                    except (ssl.SSLWantWriteError, BlockingIOError):
                        pass
                    except (OSError, ssl.SSLError):
                        self._gone(sel, key.fileobj, True)


class HostileTest(IntegrationTest):
    def daemon(self, http=None, start=True):
        cfg = {"collectors": [{"type": "listen", "name": "push", "token": TOKEN}],
               "exporters": [{"type": "prometheus"}],
               # Short, so that the difference from the idle timeout (30 s)
               # is plain.
               "http": dict({"header_timeout": "2s"}, **(http or {}))}
        d = Daemon(cfg, self.tmp)
        self.stops.append(d.stop)
        return d.start() if start else d

    def flood(self, *args, **kw):
        f = Flood(*args, **kw)
        f.start()
        self.addCleanup(f.join, 1)
        return f

    def finish(self, flood):
        flood.join((flood.duration + flood.drain) + 30 * SLOW)
        self.assertFalse(flood.is_alive(), "the flood did not end")
        if flood.error:
            raise flood.error
        self.assertEqual(flood.failed, 0, "connects failed")
        self.assertEqual(flood.leftover, 0,
                         "connections the server never closed")
        self.assertEqual(flood.closed, flood.opened)

    def probe(self, d):
        """/healthz, /metrics and an authenticated /write, each answered
        within a generous timeout (the harness scales it with VG_SLOW).

        Each may be sent a second time, as any client does, when its
        connection was closed before its request arrived: a flood from
        the probe's own address pushes the oldest connection that has not
        spoken out, and on a loaded machine the probe can be slower to
        speak than 64 of the flood's connections are to open.  Returns
        how many were sent again: connections the server closed."""
        again = 0

        def once_more(request):
            nonlocal again
            try:
                return request()
            except (ConnectionError, http.client.RemoteDisconnected):
                again += 1
                return request()

        def write():
            conn = http.client.HTTPConnection("127.0.0.1", d.port,
                                              timeout=10 * SLOW)
            try:
                conn.request("POST", "/write", body=LINE, headers=AUTH)
                r = conn.getresponse()
                r.read()
                return r.status
            finally:
                conn.close()
        self.assertEqual(once_more(
            lambda: http_get(d.port, "/healthz", timeout=10)[0]), 200)
        self.assertEqual(once_more(
            lambda: http_get(d.port, "/metrics", timeout=10)[0]), 200)
        self.assertEqual(once_more(write), 204)
        return again

    def closed_by_reason(self, d):
        m = d.metrics()
        return {reason: find(m, CLOSED, reason=reason)
                for reason in ("header_timeout", "address_limit",
                               "connection_limit")}

    def assert_healthy(self, d):
        self.assertIsNone(d.proc.poll(), "the daemon died:\n" + d.logs())
        self.assertEqual(http_get(d.port, "/healthz")[0], 200)
        self.assertLess(rss_mib(d.proc.pid), RSS_LIMIT_MIB)

    def flood_lines(self, d, needle):
        return [l for l in d.logs().splitlines() if needle in l]


class TestConnections(HostileTest):
    def test_bare_connects_from_the_probes_own_address(self):
        # Below the default (1024), so that 500 connections pass it.
        d = self.daemon({"max_connections_per_address": 64})
        # 500 connections that never send a byte, kept at 500 (each one
        # the server closes is opened again) for 4 s, from 127.0.0.1 like
        # the probes: the 64 per address are the flood's newest ones, and
        # each probe's connection makes room by closing the oldest.
        t0 = time.monotonic()
        flood = self.flood(d.port, 500, source="127.0.0.1",
                           max_connects=5000, duration=4)
        self.assertTrue(flood.connected.wait(20 * SLOW))
        probes_closed = self.probe(d)
        self.assertTrue(flood.is_alive(), "probed after the attack ended")
        self.finish(flood)
        self.assertGreaterEqual(flood.opened, 500)
        closed = self.closed_by_reason(d)
        # Every flood connection, and nothing else (but a probe's that the
        # flood pushed out before it spoke), was closed by the server: to
        # make room for a newer one from its address, or at the header
        # deadline.
        self.assertEqual(sum(closed.values()), flood.opened + probes_closed,
                         closed)
        self.assertEqual(closed["connection_limit"], 0)
        self.assertGreater(closed["address_limit"], 0)
        # Only the scrape's own connection is left (the probes' are gone
        # once the server has read their ends).
        wait_for("probes' connections gone", lambda: find(
            d.metrics(), "villagemetrics_http_connections") == 1)
        m = d.metrics()
        if resource.getrlimit(resource.RLIMIT_NOFILE)[1] >= 4096 + 256 + 1024:
            self.assertEqual(find(m, "villagemetrics_http_max_connections"), 4096)
        self.assertEqual(find(m, "villagemetrics_http_busy_responses_total"), 0)
        # Logged once a minute, with the address: not per connection.
        minutes = int((time.monotonic() - t0) / 60)
        lines = self.flood_lines(d, "connection flood from 127.0.0.1")
        self.assertTrue(1 <= len(lines) <= 1 + minutes, lines)
        self.assertLess(len(d.logs().splitlines()), 30, d.logs())
        self.assert_healthy(d)

    def test_trickling_headers(self):
        # 300 connections from one address, each sending one byte of a
        # request a second: every byte resets the idle timeout (30 s), so
        # only the header deadline closes them.  max_connections at the
        # old default (256), which they overfill.
        d = self.daemon({"max_connections": 256,
                         "max_connections_per_address": 1000})
        t0 = time.monotonic()
        flood = self.flood(d.port, 300, trickle=True, duration=0, drain=30)
        self.assertTrue(flood.connected.wait(20 * SLOW))
        probes_closed = self.probe(d)
        self.finish(flood)
        # Each was closed while it was still sending (finish: none left
        # when trickling had to stop), by the deadline or to make room.
        self.assertEqual(flood.opened, 300)
        closed = self.closed_by_reason(d)
        self.assertEqual(sum(closed.values()), 300 + probes_closed, closed)
        self.assertEqual(closed["address_limit"], 0)
        self.assertGreater(closed["header_timeout"], 0)
        minutes = int((time.monotonic() - t0) / 60)
        lines = self.flood_lines(d, "127.0.0.2 sent no complete request headers")
        self.assertTrue(1 <= len(lines) <= 1 + minutes, lines)
        self.assert_healthy(d)

    def make_cert(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        # An EC key: cheap handshakes, so that the test's time goes to the
        # attack and not to RSA.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        return cert, key

    def test_the_same_over_tls(self):
        cert, key = self.make_cert()
        d = self.daemon({"tls_cert_file": cert, "tls_key_file": key,
                         "max_connections_per_address": 64}, start=False)
        d.start(wait_ready=False)
        ctx = ssl.create_default_context(cafile=cert)

        def request(method, path, body=None, headers=None):
            return https_request(d.port, ctx, method, path, body, headers)

        deadline = time.monotonic() + 20 * SLOW
        while True:
            try:
                if request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline, d.logs())
            time.sleep(0.05)
        # Bare TCP connections that never start a handshake, and TLS
        # clients that finish theirs and then trickle their headers.
        t0 = time.monotonic()
        bare = self.flood(d.port, 300, source="127.0.0.2", max_connects=3000,
                          duration=4)
        tricklers = self.flood(d.port, 40, source="127.0.0.3", trickle=True,
                               duration=0, drain=30, tls_context=ctx)
        self.assertTrue(bare.connected.wait(20 * SLOW))
        self.assertTrue(tricklers.connected.wait(20 * SLOW))
        self.assertEqual(request("GET", "/healthz")[0], 200)
        self.assertEqual(request("GET", "/metrics")[0], 200)
        self.assertEqual(request("POST", "/write", LINE, AUTH)[0], 204)
        self.finish(bare)
        self.finish(tricklers)
        self.assertEqual(tricklers.opened, 40)
        status, body = request("GET", "/metrics")
        m = parse_metrics(body.decode())
        closed = {r: find(m, CLOSED, reason=r)
                  for r in ("header_timeout", "address_limit", "connection_limit")}
        self.assertEqual(sum(closed.values()), bare.opened + 40, closed)
        self.assertEqual(closed["connection_limit"], 0)
        self.assertGreaterEqual(closed["header_timeout"], 40)
        lines = self.flood_lines(d, "connection flood from 127.0.0.2")
        self.assertTrue(1 <= len(lines) <= 1 + int(time.monotonic() - t0) // 60,
                        lines)
        self.assertIsNone(d.proc.poll())
        self.assertLess(rss_mib(d.proc.pid), RSS_LIMIT_MIB)

    def test_a_full_server_answers_503_with_retry_after(self):
        d = self.daemon({"max_connections": 4})
        # Four requests in progress: authenticated writes whose bodies are
        # still coming.
        held = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10 * SLOW)
            self.addCleanup(s.close)
            s.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n"
                      % len(LINE) + LINE[:5])
            held.append(s)
        # All four in progress (the fifth is the scrape that tells).
        wait_for("the held requests in progress", lambda: find(
            d.metrics(), "villagemetrics_http_requests_in_progress") == 5)
        # The fifth request waits for no one: 503, and when to come back.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10 * SLOW)
        self.addCleanup(s.close)
        s.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(LINE))
        r = http.client.HTTPResponse(s)
        r.begin()
        self.assertEqual(r.status, 503)
        self.assertEqual(r.getheader("Retry-After"), "5")
        self.assertEqual(r.getheader("Connection"), "close")
        r.read()
        status, headers, _ = http_get(d.port, "/api/v1/status")
        self.assertEqual((status, headers.get("retry-after")), (503, "5"))
        # Probes and scrapes have headroom of their own.
        self.assertEqual(http_get(d.port, "/healthz")[0], 200)
        self.assertEqual(http_get(d.port, "/readyz")[0], 200)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_http_busy_responses_total"), 2)
        # The held requests finish and are taken.
        for s in held:
            s.sendall(LINE[5:])
            r = http.client.HTTPResponse(s)
            r.begin()
            self.assertEqual(r.status, 204)
            s.close()
        status = None
        deadline = time.monotonic() + 10 * SLOW
        while status != 204 and time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10 * SLOW)
            conn.request("POST", "/write", body=LINE, headers=AUTH)
            status = conn.getresponse().status
            conn.close()
        self.assertEqual(status, 204)
        self.assertEqual(find(d.metrics(), "villagemetrics_push_requests_total",
                              collector="push", endpoint="/write", code="204"), 5)
        self.assert_healthy(d)


if __name__ == "__main__":
    unittest.main()
