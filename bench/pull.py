#!/usr/bin/python3
"""bench/pull.py - polling HTTP JSON APIs: villagemetricsd beside collectd.

Owns: one run in which villagemetricsd (one `http` collector per endpoint)
and collectd's curl_json plugin (one <URL> block per endpoint) poll the same
1,000 endpoints of one fixture server, each answering the same ~50 KB JSON
page of village records every 10 s, side by side for a few minutes; and the
report: CPU-seconds per poll of each (utime+stime from /proc/PID/stat over
a window after a warm-up, polls counted by the server), poll-time jitter
(from the server's request-arrival log: how far each endpoint's time
between two polls is from the interval; p50, p99, max), resident memory
(VmRSS, VmHWM) of each at the end, and the daemon's idle VmRSS with no
sources, each against its target.

The fixture server runs in a process of its own (`pull.py --serve`): an
asyncio server with every answer pre-rendered (status line, headers and
body as bytes), keep-alive, nothing parsed but the request line; it stamps
each request when its bytes arrive and measures its own event-loop lag,
reported so that a busy server would show rather than pass for poller
jitter.  It sends no ETag or Last-Modified: every poll is a full fetch and
parse for both pollers.

Must not: touch anything outside its own temp dir and bench/results/, talk
to anything but 127.0.0.1, leave a process running (every process it starts
is stopped by its own PID in a finally block), or sleep a fixed time
waiting for a server to be ready: it polls instead.  The targets are
reported, never used to tune anything.

Python 3 standard library only.  Run it through bench/run-pull.sh, which
builds the daemon first.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (processes, HTTP, polling, the report)
from benchlib import cpu_seconds, log  # noqa: E402

TARGET_CPU_RATIO = 0.5      # daemon CPU per poll / collectd CPU per poll
TARGET_JITTER_P99_MS = 50.0
TARGET_IDLE_RSS = 5 * 1024 * 1024

# The 12 figures of a record both pollers read: (metric, JSON Pointer).
FIGURES = [
    ("village_water_safe_households_ratio", "/indicators/water/safeRatio"),
    ("village_water_tap_households_ratio", "/indicators/water/tapRatio"),
    ("village_road_hardened_km", "/indicators/road/hardenedKm"),
    ("village_road_group_access_ratio", "/indicators/road/groupAccess"),
    ("village_road_household_access_ratio", "/indicators/road/householdAccess"),
    ("village_signal_4g_coverage_ratio", "/indicators/signal/coverage4g"),
    ("village_broadband_households_ratio", "/indicators/signal/broadband"),
    ("village_income_per_capita_yuan", "/indicators/income/perCapitaYuan"),
    ("village_collective_income_yuan", "/indicators/income/collectiveYuan"),
    ("village_poor_households", "/indicators/poverty/households"),
    ("village_poverty_incidence_ratio", "/indicators/poverty/incidence"),
    ("village_lifted_households", "/indicators/poverty/liftedTotal"),
]


def percentile(xs, p):
    """By the index rounded, NaN of nothing (the tables of this bench were
    made so; benchlib's is nearest-rank)."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


# ---- the answers -----------------------------------------------------------


def record(rng, ep, i):
    """One village as the provincial API writes it (province-api-page-1.json's
    shape), with numbers as numbers: collectd's curl_json reads no numbers
    held in strings."""
    r4 = lambda: round(rng.uniform(0.2, 1.0), 4)  # noqa: E731
    return {
        "id": "5222%04d%04d" % (ep, i),
        "name": {"en": "E%04dV%03d" % (ep, i), "zh": None},
        "region": {"county": "County%02d" % (ep % 10),
                   "town": "Town%03d" % (ep // 10)},
        "geo": {"lat": round(rng.uniform(27, 29), 5),
                "lon": round(rng.uniform(108, 110), 5)},
        "updatedAt": "2019-12-31T16:00:00Z",
        "flags": {"deepPoverty": rng.random() < 0.1},
        "indicators": {
            "water": {"safeRatio": r4(), "tapRatio": r4()},
            "road": {"hardenedKm": round(rng.uniform(1, 20), 2),
                     "groupAccess": r4(), "householdAccess": r4()},
            "signal": {"coverage4g": r4(), "broadband": r4()},
            "income": {"perCapitaYuan": round(rng.uniform(2500, 15000), 2),
                       "collectiveYuan": round(rng.uniform(10000, 500000), 2)},
            "poverty": {"households": rng.randint(0, 300),
                        "incidence": round(rng.uniform(0, 0.4), 4),
                        "liftedTotal": rng.randint(0, 400)},
        },
    }


def answer(ep, size, seed, n=None):
    """The endpoint's page: n records, by default the fewest that make the
    JSON `size` bytes or more."""
    rng = random.Random(seed * 100003 + ep)
    items = []

    def body(n):
        while len(items) < n:
            items.append(record(rng, ep, len(items)))
        doc = {"code": 0, "msg": "ok", "page": 1, "pages": 1, "total": n,
               "data": {"items": items[:n]}}
        return json.dumps(doc, indent=1, ensure_ascii=False).encode()

    if n:
        return body(n), n
    empty, ten = len(body(0)), len(body(10))
    n = max(1, -(-(size - empty) * 10 // (ten - empty)))
    while len(body(n)) < size:
        n += 1
    while n > 1 and len(body(n - 1)) >= size:
        n -= 1
    return body(n), n


# ---- the fixture server (its own process) ----------------------------------


def serve(args):
    """Serves /vg/epNNNN and /cd/epNNNN (the same answer; the prefix tells
    the pollers apart) until SIGTERM, then writes the arrival log and the
    loop-lag samples to args.serve_log as JSON."""
    responses = {}
    # Every page has as many records as the first needs (about the size).
    _, n = answer(0, args.body_bytes, args.seed)
    for ep in range(args.endpoints):
        body, _ = answer(ep, args.body_bytes, args.seed, n)
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        for prefix in (b"/vg/", b"/cd/"):
            responses[prefix + b"ep%04d" % ep] = (head, body)
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    arrivals = []   # (monotonic, path)
    lags = []       # (monotonic, event-loop lag in seconds)

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""

        def data_received(self, data):
            now = time.monotonic()
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                line = self.buf[:self.buf.find(b"\r\n")]
                self.buf = self.buf[end + 4:]
                parts = line.split(b" ")
                path = parts[1] if len(parts) > 2 else b""
                r = responses.get(path)
                if r is None:
                    self.t.write(not_found)
                    continue
                arrivals.append((now, path.decode()))
                self.t.writelines(r)

    async def lag_probe(stop):
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.1)
            now = time.monotonic()
            lags.append((now, now - t - 0.1))

    async def main():
        # The instrument goes first: a server the machine's other work
        # delays would stamp arrivals late and pass for poller jitter.
        try:
            os.nice(-10)
        except OSError:
            pass
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(Proto, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        probe = asyncio.ensure_future(lag_probe(stop))
        await stop.wait()
        server.close()
        await probe
        with open(args.serve_log, "w") as f:
            json.dump({"arrivals": arrivals, "lags": lags}, f)

    asyncio.run(main())


class FixtureServer:
    def __init__(self, args, tmp):
        self.logpath = os.path.join(tmp, "server.json")
        self.out = os.path.join(tmp, "server.out")
        argv = [sys.executable, os.path.abspath(__file__), "--serve",
                "--serve-log", self.logpath, "--endpoints",
                str(args.endpoints), "--body-bytes", str(args.body_bytes),
                "--seed", str(args.seed)]
        self.server = bl.Server(argv, self.out)
        self.pid = self.server.pid
        start = time.monotonic()
        while True:
            self.server.check_alive()
            with open(self.out) as f:
                text = f.read()
            if text.startswith("PORT "):
                self.port = int(text.split()[1])
                break
            if time.monotonic() - start > 300:
                raise RuntimeError("fixture server: no port after 300 s")
            time.sleep(0.05)

    def stop(self):
        """Stops the server and returns its log."""
        self.server.stop()
        with open(self.logpath) as f:
            return json.load(f)


# ---- the pollers -----------------------------------------------------------


def daemon_config(args, port, server_port, state_dir, endpoints):
    collectors = [{
        "type": "http", "name": "ep%04d" % ep,
        "url": "http://127.0.0.1:%d/vg/ep%04d" % (server_port, ep),
        "interval": "%ds" % args.interval, "timeout": "5s",
        "records": "/data/items",
        "labels": {"county": "/region/county", "town": "/region/town",
                   "village": "/name/en"},
        "metrics": dict(FIGURES),
    } for ep in range(endpoints)]
    return {"listen": "127.0.0.1:%d" % port, "state_dir": state_dir,
            "log_level": "warning", "stale_after": "10m",
            "collectors": collectors,
            "exporters": [{"type": "prometheus"}]}


def collectd_config(args, tmp, server_port):
    """curl_json with one <URL> per endpoint; a type per figure (with the
    array index as type instance, the figures of a record would collide
    under one type).  Values go through collectd's cache, which keeps the
    latest value of every series as the daemon's store does, and a
    PostCache chain then stops them: no write plugin runs, and none
    complains (write_prometheus, the daemon's /metrics counterpart, costs
    about 30 times more CPU per poll than the fetch and parse; without a
    write plugin collectd logs a complaint for every value)."""
    types = os.path.join(tmp, "bench-types.db")
    with open(types, "w") as f:
        for name, _ in FIGURES:
            f.write("%s value:GAUGE:U:U\n" % name)
    lines = [
        'Hostname "bench"', "FQDNLookup false",
        'BaseDir "%s"' % tmp, 'PIDFile "%s/collectd.pid"' % tmp,
        'TypesDB "/usr/share/collectd/types.db" "%s"' % types,
        "Interval %d" % args.interval,
        "ReadThreads %d" % args.collectd_read_threads,
        # Without a cap, values dispatched faster than its write threads
        # take them queue up without bound (gigabytes within minutes at
        # this load); past the cap collectd drops values and says so.
        "WriteQueueLimitHigh %d" % args.collectd_queue_limit,
        "WriteQueueLimitLow %d" % (args.collectd_queue_limit // 2),
        "LoadPlugin logfile",
        "<Plugin logfile>", '  File "%s/collectd.log"' % tmp,
        "  LogLevel info", "  Timestamp true", "</Plugin>",
        'PostCacheChain "Keep"', '<Chain "Keep">', '  Target "stop"',
        "</Chain>",
        "LoadPlugin curl_json", "<Plugin curl_json>"]
    for ep in range(args.endpoints):
        lines.append('  <URL "http://127.0.0.1:%d/cd/ep%04d">'
                     % (server_port, ep))
        lines.append('    Instance "ep%04d"' % ep)
        lines.append("    Timeout 5000")
        for name, pointer in FIGURES:
            lines.append('    <Key "data/items/*%s">' % pointer)
            lines.append('      Type "%s"' % name)
            lines.append("    </Key>")
        lines.append("  </URL>")
    lines.append("</Plugin>")
    conf = os.path.join(tmp, "collectd.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def start_daemon(args, tmp, tag, server_port, endpoints):
    port = bl.free_port()
    d = os.path.join(tmp, tag)
    os.makedirs(d)
    conf = os.path.join(d, "villagemetrics.json")
    bl.write_config(conf, daemon_config(args, port, server_port,
                                        os.path.join(d, "state"), endpoints))
    server = bl.Server([args.daemon, "--config", conf],
                       os.path.join(d, "daemon.log"), bl.daemon_environment())
    return server, port


def idle_rss(args, tmp):
    """VmRSS of the daemon with no sources, once it is ready and has been
    scraped once."""
    server, port = start_daemon(args, tmp, "idle", 1, 0)
    try:
        bl.wait_for(server, port, "/readyz", 60, "idle daemon")
        bl.request(port, "GET", "/metrics")
        rss, hwm = bl.rss_bytes(server.pid)
        anon = 0
        with open("/proc/%d/status" % server.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1]) * 1024
        return {"rss": rss, "hwm": hwm, "anon": anon}
    finally:
        server.stop()


# ---- the analysis ----------------------------------------------------------


def analyse(arrivals, prefix, t0, t1, interval):
    """Polls of one poller inside [t0, t1], and the deviation of each
    endpoint's time between consecutive polls from the interval (only
    pairs whose both ends lie in the window)."""
    by_ep = {}
    polls = 0
    for t, path in arrivals:
        if not path.startswith(prefix) or not t0 <= t <= t1:
            continue
        polls += 1
        by_ep.setdefault(path, []).append(t)
    dev = []
    for ts in by_ep.values():
        ts.sort()
        dev.extend(abs((b - a) - interval) for a, b in zip(ts, ts[1:]))
    return {"polls": polls, "endpoints": len(by_ep),
            "jitter_ms": {"p50": percentile(dev, 50) * 1e3,
                          "p99": percentile(dev, 99) * 1e3,
                          "max": (max(dev) if dev else float("nan")) * 1e3,
                          "pairs": len(dev)}}


def series_on_page(port):
    """Village series on the daemon's /metrics, and its collectors' errors
    summed."""
    _, _, body = bl.request(port, "GET", "/metrics", timeout=120)
    lines = body.split(b"\n")
    errors = sum(float(x.rsplit(b" ", 1)[1]) for x in lines
                 if x.startswith(b"villagemetrics_collector_errors_total{"))
    return sum(1 for x in lines if x.startswith(b"village_")), int(errors)


# ---- the run -----------------------------------------------------------------


def failures(logpath):
    """What the daemon logged as collector failures: {kind: count}, numbers
    written as N.  Each source logs an error once a minute at most, so this
    counts failing sources a minute rather than failed polls."""
    kinds = {}
    with open(logpath, errors="replace") as f:
        for line in f:
            m = re.search(r"collector ep\d+: \S+: (.*) \(next try in", line)
            if m:
                k = re.sub(r"\d+", "N", m.group(1))
                kinds[k] = kinds.get(k, 0) + 1
    return sorted(kinds.items(), key=lambda x: -x[1])[:5]


def phase(args, tmp, srv, tag, with_collectd, window):
    """One run of the pollers against the server: warm-up, then a window;
    returns the window's times, CPU and memory of each process, and the
    daemon's state at its end."""
    out = {"pollers": {}}
    daemon = collectd = None
    try:
        start = time.monotonic()
        daemon, dport = start_daemon(args, tmp, tag, srv.port, args.endpoints)
        procs = {"villagemetricsd": daemon, "server": srv}
        if with_collectd:
            conf = collectd_config(args, tmp, srv.port)
            collectd = bl.Server([args.collectd, "-f", "-C", conf],
                                 os.path.join(tmp, "collectd.out"))
            procs["collectd"] = collectd
        ready = bl.wait_for(daemon, dport, "/readyz", 120, "villagemetricsd")
        log("%s: daemon ready after %.1f s; warm-up until %d s" %
            (tag, ready, args.warmup))

        def wait(seconds, since):
            while time.monotonic() - since < seconds:
                daemon.check_alive()
                if collectd:
                    collectd.check_alive()
                time.sleep(0.5)

        wait(args.warmup, start)
        out["t0"] = time.monotonic()
        cpu0 = {k: cpu_seconds(p.pid) for k, p in procs.items()}
        log("%s: window of %d s" % (tag, window))
        wait(window, out["t0"])
        out["t1"] = time.monotonic()
        for k, p in procs.items():
            out["pollers"][k] = {"cpu_s": cpu_seconds(p.pid) - cpu0[k]}
            if k != "server":
                out["pollers"][k]["rss"], out["pollers"][k]["hwm"] = \
                    bl.rss_bytes(p.pid)
        out["series"], out["daemon_errors"] = series_on_page(dport)
    finally:
        if daemon:
            daemon.stop()
        if collectd:
            collectd.stop()
    out["daemon_failures"] = failures(os.path.join(tmp, tag, "daemon.log"))
    if with_collectd:
        with open(os.path.join(tmp, "collectd.log"), errors="replace") as f:
            lines = f.read().splitlines()
        out["collectd_log"] = [x for x in lines if "error" in x.lower() or
                               "warning" in x.lower() or
                               "dropping" in x.lower()][:5]
    return out


def run(args, tmp):
    info = {}
    log("idle daemon: no sources")
    info["idle"] = idle_rss(args, tmp)
    log("idle VmRSS %.1f MiB (anonymous %.1f MiB)" %
        (info["idle"]["rss"] / 1048576, info["idle"]["anon"] / 1048576))

    log("fixture server: rendering %d answers of %d bytes"
        % (args.endpoints, args.body_bytes))
    body, nrec = answer(0, args.body_bytes, args.seed)
    sizes = [len(answer(ep, args.body_bytes, args.seed, nrec)[0])
             for ep in range(0, args.endpoints, max(1, args.endpoints // 20))]
    info["answer"] = {"bytes": len(body), "records": nrec,
                      "bytes_min": min(sizes), "bytes_max": max(sizes),
                      "values": nrec * len(FIGURES)}
    srv = FixtureServer(args, tmp)
    phases = []
    try:
        log("fixture server on port %d" % srv.port)
        if not args.no_collectd:
            phases.append(("side by side", phase(args, tmp, srv, "both",
                                                 True, args.window)))
        if args.alone_window:
            phases.append(("daemon alone", phase(args, tmp, srv, "alone",
                                                 False, args.alone_window)))
    finally:
        data = srv.stop()
    arrivals = data["arrivals"]
    info["phases"] = []
    for title, ph in phases:
        ph["title"] = title
        ph["window_s"] = ph["t1"] - ph["t0"]
        lags = [lag for t, lag in data["lags"] if ph["t0"] <= t <= ph["t1"]]
        ph["server_lag_ms"] = {"p99": percentile(lags, 99) * 1e3,
                               "max": max(lags) * 1e3}
        for name, prefix in (("villagemetricsd", "/vg/"),
                             ("collectd", "/cd/")):
            p = ph["pollers"].get(name)
            if not p:
                continue
            p.update(analyse(arrivals, prefix, ph["t0"], ph["t1"],
                             args.interval))
            p["expected_polls"] = round(ph["window_s"] / args.interval *
                                        args.endpoints)
            p["cpu_ms_per_poll"] = (p["cpu_s"] / p["polls"] * 1e3
                                    if p["polls"] else float("nan"))
        info["phases"].append(ph)
    return info


def mib(b):
    return "%.1f MiB" % (b / 1048576)


def render(meta, info, args):
    out = bl.table_head(
        "pull benchmark: villagemetricsd (http collector) vs collectd "
        "(curl_json)", meta,
        ["%s, ReadThreads %d, WriteQueueLimitHigh %d" % (
            meta["collectd"], args.collectd_read_threads,
            args.collectd_queue_limit)])
    w = out.append
    a = info["answer"]
    w("%d endpoints, each a JSON page of %d village records (%d to %d bytes "
      "in a sample of 20; %d values read per poll: %d figures x %d records), "
      "polled every %d s; warm-up %d s, then the window." % (
          args.endpoints, a["records"], a["bytes_min"], a["bytes_max"],
          a["values"], len(FIGURES), a["records"], args.interval,
          args.warmup))
    w("CPU: utime+stime of the poller's process over the window / polls the "
      "server answered it in the window.")
    w("jitter: |time between two polls of an endpoint - %d s|, over every "
      "endpoint, both polls in the window." % args.interval)
    w("memory: VmRSS (VmHWM) at the end of the window.")
    for ph in info["phases"]:
        w("")
        w("%s, %.0f s window:" % (ph["title"], ph["window_s"]))
        w("%-16s %7s %7s %9s %12s %9s %9s %9s %11s %11s" % (
            "poller", "polls", "of", "CPU-s", "CPU ms/poll", "jit p50",
            "jit p99", "jit max", "VmRSS", "VmHWM"))
        w("-" * 112)
        for name in ("villagemetricsd", "collectd"):
            p = ph["pollers"].get(name)
            if not p:
                continue
            j = p["jitter_ms"]
            w("%-16s %7d %7d %9.2f %12.3f %7.1fms %7.1fms %7.1fms %11s %11s"
              % (name, p["polls"], p["expected_polls"], p["cpu_s"],
                 p["cpu_ms_per_poll"], j["p50"], j["p99"], j["max"],
                 mib(p["rss"]), mib(p["hwm"])))
        w("daemon /metrics at the end: %d village series (expected %d); "
          "collector errors %d" % (ph["series"], args.endpoints * a["values"],
                                   ph["daemon_errors"]))
        for kind, n in ph["daemon_failures"]:
            w("  logged %d times: %s" % (n, kind))
        srv = ph["pollers"]["server"]
        w("fixture server: %.1f CPU-s (%.0f%% of one core); event-loop lag "
          "p99 %.1f ms, max %.1f ms" % (
              srv["cpu_s"], 100 * srv["cpu_s"] / ph["window_s"],
              ph["server_lag_ms"]["p99"], ph["server_lag_ms"]["max"]))
        if ph.get("collectd_log"):
            w("collectd log: %s" % " | ".join(ph["collectd_log"]))
    idle = info["idle"]
    w("")
    w("daemon idle (no sources, ready, scraped once): VmRSS %s, of which "
      "anonymous %s (the rest is pages of shared libraries)" % (
          mib(idle["rss"]), mib(idle["anon"])))
    w("")
    w("targets (never tuned to; reported as measured):")
    for ph in info["phases"]:
        vg = ph["pollers"]["villagemetricsd"]
        cd = ph["pollers"].get("collectd")
        if cd:
            ratio = vg["cpu_ms_per_poll"] / cd["cpu_ms_per_poll"]
            w("  %s: <= 1/2 of collectd's CPU per poll:  %.3f vs %.3f ms = "
              "%.2f -> %s" % (ph["title"], vg["cpu_ms_per_poll"],
                              cd["cpu_ms_per_poll"], ratio,
                              "MET" if ratio <= TARGET_CPU_RATIO
                              else "NOT MET"))
        p99 = vg["jitter_ms"]["p99"]
        w("  %s: poll-time jitter p99 <= %.0f ms:  %.1f ms -> %s" % (
            ph["title"], TARGET_JITTER_P99_MS, p99,
            "MET" if p99 <= TARGET_JITTER_P99_MS else "NOT MET"))
    w("  idle resident memory <= 5 MiB:  VmRSS %s -> %s" % (
        mib(idle["rss"]), "MET" if idle["rss"] <= TARGET_IDLE_RSS
        else "NOT MET"))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collectd", default="/usr/sbin/collectd")
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--body-bytes", type=int, default=50 * 1024)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=40,
                    help="seconds from start before the window opens")
    ap.add_argument("--window", type=int, default=180)
    ap.add_argument("--collectd-read-threads", type=int, default=5,
                    help="collectd's ReadThreads (its default: 5)")
    ap.add_argument("--collectd-queue-limit", type=int, default=1000000,
                    help="collectd's WriteQueueLimitHigh, in values (Low is "
                    "half)")
    ap.add_argument("--alone-window", type=int, default=120,
                    help="then the daemon alone for this long (0: not)")
    ap.add_argument("--no-collectd", action="store_true",
                    help="no side-by-side run: the daemon alone")
    bl.add_common_args(ap, seed=20191231)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args)
        return 0
    bl.require_executables("pull.py", [args.daemon] + (
        [] if args.no_collectd else [args.collectd]),
        "run bench/run-pull.sh to build the daemon; scripts/setup.sh "
        "installs collectd-core")
    started = time.monotonic()
    meta = bl.machine_info(args.daemon)
    meta["collectd"] = "collectd %s" % bl.dpkg_version("collectd-core")
    tmp = tempfile.mkdtemp(prefix="vg-pull-")
    try:
        info = run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = bl.write_results(args.results, "pull", render(meta, info, args),
                            {"meta": meta, "info": info, "args": vars(args)})
    log("results: %s.txt, %s.json (%.0f s)" % (base, base,
                                                time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
