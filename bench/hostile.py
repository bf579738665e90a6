#!/usr/bin/python3
"""bench/hostile.py - what hostile and careless pushes cost villagemetricsd.

Owns: building the memory-amplifying bodies of the push endpoints (remote
write with millions of empty labels, snappy-compressed by hand; a gzipped
JSON list of zeros; millions of bad line-protocol lines, gzipped); sending
each to a fresh daemon and reading its peak and resident memory from
/proc/PID/status (VmHWM, VmRSS) before, just after the answer and a few
seconds later; the latency of GET /healthz (p50, p99, max) measured by a
thread while a 1M-sample push is being taken; and the latency of a small
push while eight gzip bombs are being decompressed.

Must not: talk to anything but 127.0.0.1, leave a process running (every
daemon is stopped by its PID in a finally block), or sleep a fixed time
waiting for a server: it polls.  Not part of the tests: the figures are
reported, never asserted.

Python 3 standard library only.  bench/run-hostile.sh builds the daemon
(Release) and runs it; `--binary` measures another build (say, an older
one, for a before/after table).
"""

import argparse
import gzip
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import log  # noqa: E402

MIB = 1 << 20


# ---- bodies ----------------------------------------------------------------


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
    if n < 1 << 16:
        return bytes([61 << 2]) + n.to_bytes(2, "little") + data
    return bytes([62 << 2]) + n.to_bytes(3, "little") + data


def snappy_repeat(head, unit, count, tail=b""):
    """The snappy block of head + unit * count + tail (count >= 1): one
    literal, then 64-byte copies of the period, then the tail."""
    total = len(head) + len(unit) * count + len(tail)
    out = bytearray(varint(total))
    out += snappy_literal(head + unit)
    left = len(unit) * (count - 1)
    copy = bytes([(63 << 2) | 2]) + len(unit).to_bytes(2, "little")
    out += copy * (left // 64)
    if left % 64:
        out += bytes([((left % 64 - 1) << 2) | 2]) + \
            len(unit).to_bytes(2, "little")
    if tail:
        out += snappy_literal(tail)
    return bytes(out)


def rw_empty_labels(raw_max):
    """A WriteRequest of one series, __name__="x" and then empty labels up
    to raw_max bytes uncompressed: 2 bytes each on the wire."""
    name = b"\x0a\x0d\x0a\x08__name__\x12\x01x"
    n = (raw_max - 6 - len(name)) // 2
    series_len = len(name) + 2 * n
    head = b"\x0a" + varint(series_len) + name
    return snappy_repeat(head, b"\x0a\x00", n), n


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def json_zeros(raw_max):
    n = (raw_max - 1) // 2
    return gz(b"[" + b"0," * (n - 1) + b"0]"), n


def lp_bad_lines(n):
    return gz(b"x\n" * n), n


def lp_samples(n_samples, fields=5):
    """n_samples samples in line protocol, `fields` per line, each line a
    series of its own."""
    lines = []
    fs = ",".join("f%d=%%d.5" % i for i in range(fields))
    for i in range(n_samples // fields):
        lines.append(("sensor,county=c%d,village=v%d " % (i % 97, i) +
                      fs % tuple(range(fields)) +
                      " %d\n" % (1600000000000 + i)).encode())
    return b"".join(lines)


# ---- the daemon ------------------------------------------------------------


class Daemon:
    def __init__(self, binary, tmp, journal):
        self.dir = tempfile.mkdtemp(prefix="d-", dir=tmp)
        self.port = bl.free_port()
        cfg = {
            "listen": "127.0.0.1:%d" % self.port,
            "state_dir": os.path.join(self.dir, "state"),
            "log_level": "warning",
            "collectors": [{"type": "listen", "name": "push",
                            "max_series": 0}],
            "exporters": [{"type": "prometheus"}],
        }
        if journal:
            # A receiver that is never there: the journal keeps everything
            # and every answer waits for its fsync.
            cfg["exporters"].append({
                "type": "remote_write", "name": "nowhere",
                "url": "http://127.0.0.1:%d/api/v1/write" % bl.free_port()})
            cfg["journal"] = {"max_bytes": "4GiB"}
        conf = os.path.join(self.dir, "villagemetrics.json")
        bl.write_config(conf, cfg)
        self.server = bl.Server([binary, "--config", conf],
                                os.path.join(self.dir, "daemon.log"),
                                bl.daemon_environment())
        bl.wait_for(self.server, self.port, "/readyz", 60, "villagemetricsd")
        # Starts libuv's thread pool before the baseline is read.
        bl.request(self.port, "POST", "/write", body=b"")

    def mem(self):
        rss, hwm = bl.rss_bytes(self.server.pid)
        return rss, hwm

    def alive(self):
        return self.server.proc.poll() is None

    def stop(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def post(port, path, body, headers, timeout=600):
    t0 = time.monotonic()
    try:
        status, hdrs, answer = bl.request(port, "POST", path, headers, body,
                                          timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return None, {}, repr(e).encode(), time.monotonic() - t0
    return status, hdrs, answer, time.monotonic() - t0


ATTACKS = {
    "rw-64M-empty-labels": lambda a: (
        "/api/v1/write", {"Content-Encoding": "snappy",
                          "Content-Type": "application/x-protobuf"},
        rw_empty_labels(a.raw_max)),
    "json-zeros-gzip": lambda a: (
        "/api/v1/push", {"Content-Encoding": "gzip",
                         "Content-Type": "application/json"},
        json_zeros(a.raw_max)),
    "lp-8M-bad-lines-gzip": lambda a: (
        "/write", {"Content-Encoding": "gzip"}, lp_bad_lines(8 << 20)),
    "lp-67M-bad-lines-gzip": lambda a: (
        "/write", {"Content-Encoding": "gzip"},
        lp_bad_lines((a.raw_max - 2) // 2)),
}


def attack(args, tmp, name):
    path, headers, (body, count) = ATTACKS[name](args)
    d = Daemon(args.binary, tmp, journal=False)
    try:
        rss0, _ = d.mem()
        status, hdrs, answer, secs = post(d.port, path, body, headers)
        alive = d.alive()
        rss1, hwm = d.mem() if alive else (0, 0)
        time.sleep(3)
        rss2 = d.mem()[0] if d.alive() else 0
        return {"attack": name, "body_bytes": len(body), "elements": count,
                "status": status, "answer": answer[:200].decode(
                    "utf-8", "replace").strip(),
                "retry_after": hdrs.get("Retry-After"),
                "seconds": round(secs, 2), "alive": alive and d.alive(),
                "rss_before_mb": rss0 / MIB, "hwm_mb": hwm / MIB,
                "rss_after_mb": rss1 / MIB, "rss_after_3s_mb": rss2 / MIB}
    finally:
        d.stop()


class HealthzProbe(threading.Thread):
    """GET /healthz every `every` seconds on one keep-alive connection.
    A probe's latency runs from when it was due, not from when it was sent:
    a stalled loop delays every probe due meanwhile, and each of them
    counts the wait (no coordinated omission)."""

    def __init__(self, port, every=0.01):
        super().__init__(daemon=True)
        self.port = port
        self.every = every
        self.samples = []
        self.stop_flag = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        due = time.monotonic()
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            try:
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=60)
                ok = False
            t1 = time.monotonic()
            # Every probe that fell due while this one waited.
            while due <= t1:
                self.samples.append((due, t1 - due, ok))
                due += self.every
        conn.close()


def latency_stats(samples, t_from, t_to):
    xs = [lat for due, lat, ok in samples if t_from <= due <= t_to]
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50_ms": bl.percentile(xs, 50) * 1000,
            "p99_ms": bl.percentile(xs, 99) * 1000,
            "max_ms": max(xs) * 1000}


def healthz_during_push(args, tmp, journal):
    body = lp_samples(args.samples)
    d = Daemon(args.binary, tmp, journal=journal)
    probe = HealthzProbe(d.port)
    try:
        probe.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        status, _, answer, secs = post(d.port, "/write?precision=ms", body, {})
        t1 = time.monotonic()
        time.sleep(0.3)
        probe.stop_flag.set()
        probe.join(30)
        st = latency_stats(probe.samples, t0, t1)
        st.update({"journal": journal, "samples": args.samples,
                   "body_mb": len(body) / MIB, "status": status,
                   "answer": answer[:200].decode("utf-8", "replace"),
                   "push_s": round(secs, 2),
                   "hwm_mb": d.mem()[1] / MIB if d.alive() else None})
        return st
    finally:
        probe.stop_flag.set()
        d.stop()


def small_push_during_bombs(args, tmp):
    """A small push's latency alone, and while 8 gzip bombs (8M bad
    line-protocol lines each, 16 MiB once decompressed) are being taken."""
    bomb = lp_bad_lines(8 << 20)[0]
    small = b"small,village=a v=1\n"
    d = Daemon(args.binary, tmp, journal=True)
    try:
        alone = [post(d.port, "/write", small, {})[3] for _ in range(5)]
        threads = []
        for _ in range(8):
            t = threading.Thread(target=post, args=(
                d.port, "/write", bomb, {"Content-Encoding": "gzip"}),
                daemon=True)
            t.start()
            threads.append(t)
        time.sleep(0.3)
        during = []
        for _ in range(5):
            status, _, _, secs = post(d.port, "/write", small, {})
            during.append((status, secs))
        for t in threads:
            t.join(600)
        return {"alone_ms": [round(x * 1000) for x in alone],
                "during_8_bombs_ms": [round(x * 1000) for _, x in during],
                "during_status": [s for s, _ in during],
                "hwm_mb": d.mem()[1] / MIB if d.alive() else None,
                "alive": d.alive()}
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(
        bl.ROOT, "build-bench", "villagemetricsd"))
    ap.add_argument("--raw-max", type=int, default=128 * MIB,
                    help="decompressed size of the bombs (max_decompressed)")
    ap.add_argument("--samples", type=int, default=1000000)
    ap.add_argument("--only", default="attacks,healthz,bombs")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    only = args.only.split(",")
    out = {"binary": args.binary, "attacks": [], "healthz": [], "bombs": None}
    tmp = tempfile.mkdtemp(prefix="vg-hostile-")
    try:
        if "attacks" in only:
            for name in ATTACKS:
                log("attack %s" % name)
                r = attack(args, tmp, name)
                out["attacks"].append(r)
                print("%-24s %s %-5s %6.0f MB peak %6.0f MB after %6.0f MB "
                      "3 s later  %5.1f s  %s" % (
                          name, r["status"], "alive" if r["alive"] else "DEAD",
                          r["hwm_mb"], r["rss_after_mb"],
                          r["rss_after_3s_mb"], r["seconds"], r["answer"]),
                      flush=True)
        if "healthz" in only:
            for journal in (False, True):
                log("healthz during a %d-sample push (journal %s)" %
                    (args.samples, journal))
                r = healthz_during_push(args, tmp, journal)
                out["healthz"].append(r)
                print("healthz during %d-sample push, journal %-5s: %s in "
                      "%.1f s; %d answers p50 %.1f ms p99 %.1f ms max %.1f ms"
                      % (args.samples, journal, r["status"], r["push_s"],
                         r["n"], r.get("p50_ms", 0), r.get("p99_ms", 0),
                         r.get("max_ms", 0)), flush=True)
        if "bombs" in only:
            log("a small push during 8 gzip bombs")
            r = small_push_during_bombs(args, tmp)
            out["bombs"] = r
            print("small push alone %s ms; during 8 gzip bombs %s ms (%s); "
                  "peak %.0f MB" % (r["alone_ms"], r["during_8_bombs_ms"],
                                    r["during_status"], r["hwm_mb"] or 0),
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
