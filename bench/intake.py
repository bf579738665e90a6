#!/usr/bin/python3
"""bench/intake.py - line protocol pushed into villagemetricsd, vmagent and VictoriaMetrics.

Owns: generating village sensor data in line protocol (water tanks and
signal modems) as pre-built request bodies; pushing the same bodies over
HTTP (`/write`, a fixed number of lines per request, a few persistent
connections) into (a) villagemetricsd's listen collector, answered once
durable, forwarding by remote_write to a VictoriaMetrics; (b) vmagent's
/write forwarding to a VictoriaMetrics; (c) VictoriaMetrics' own /write;
counting that every sample arrived; the CPU-seconds and peak RSS of every
process; the parser-only throughput of daemon/formats/lp.c and
daemon/formats/lp_samples.c (bench/lp_parse_bench.c); optionally a perf profile
or a callgrind count of the daemon during (a); and printing/writing the
comparison table.

Must not: touch anything outside its own temp dir and bench/results/, talk
to anything but 127.0.0.1, leave a process running (every process it starts
is stopped by its own PID in a finally block), or sleep a fixed time waiting
for a server: it polls instead.  The targets are reported, never used to
tune anything.

Python 3 standard library only.  Run it through bench/run-intake.sh, which
builds the daemon and the parser bench first; `--quick` is the short run.
"""

import argparse
import glob
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (processes, HTTP, polling, the report)
import exposition as ex  # noqa: E402  (village and place names)
from benchlib import cpu_seconds, f, log, met, poll, wchar  # noqa: E402

ROOT = bl.ROOT

# The targets of issue #4; reported, never used to tune anything.
TARGET_SAMPLES_PER_CPU_S = 2e6
TARGET_VS_VMAGENT = 2.5
TARGET_PARSE_BYTES_PER_S = 1e9

# Of every 10 line-protocol series: 6 water tanks (2 fields), 2 modems with
# 2 fields and 2 with 1 (an old firmware that reports no battery): 1.8
# samples per line, as in the vmagent reference.
SHAPE = ("tank",) * 6 + ("modem2",) * 2 + ("modem1",) * 2
TANKS_PER_VILLAGE = 3
MODEMS_PER_VILLAGE = 2
ROUND_STEP_MS = 10000   # sensors report every 10 s
POOL = 97               # distinct field sets per kind, cycled over rounds

SYSTEMS = ("villagemetricsd", "vmagent", "victoria-metrics")


# ---- the workload --------------------------------------------------------


def field_pool(rng, kind, one_field, extra_fields):
    """POOL field sets of one kind of sensor, as its firmware writes them;
    with `one_field`, only the first field of each; `extra_fields` more
    float fields after those (y00, y01, ...)."""
    out = []
    for _ in range(POOL):
        more = b"".join(b",y%02d=%.2f" % (j, rng.uniform(0, 100))
                        for j in range(extra_fields))
        if one_field:
            out.append(b"level_ratio=%.3f" % rng.uniform(0.05, 1.0)
                       if kind == "tank" else
                       b"rssi_dbm=%di" % rng.randrange(-110, -50))
        elif kind == "tank":
            out.append(b"level_ratio=%.3f,volume_m3=%.1f" %
                       (rng.uniform(0.05, 1.0), rng.uniform(0.5, 60.0)))
        elif kind == "modem2":
            out.append(b"rssi_dbm=%di,battery_v=%.2f" %
                       (rng.randrange(-110, -50), rng.uniform(3.3, 4.2)))
        else:
            out.append(b"rssi_dbm=%di" % rng.randrange(-110, -50))
        out[-1] += more
    return out


class Workload:
    """`series` line-protocol series (measurement + tag set, as InfluxDB
    counts them), each sent once per round for `rounds` rounds, in bodies of
    `batch` lines: the bodies are built once, before anything is timed, and
    the same bodies go to every system.  Other shapes: `extra_tags` more
    tags on every line (x00, x01, ...: a sensor's metadata, five values
    each, after the others in key order), `one_field` a single field per
    line, `extra_fields` more fields on every line, `gzip` bodies sent
    gzip-compressed (Content-Encoding: gzip, as Telegraf's
    content_encoding = "gzip" sends them)."""

    def __init__(self, series, rounds, batch, seed,
                 names=("water_tank", "signal_modem"), extra_tags=0,
                 one_field=False, extra_fields=0, gzip_bodies=False):
        rng = random.Random(seed)
        per_village = TANKS_PER_VILLAGE + MODEMS_PER_VILLAGE
        self.series = series
        self.rounds = rounds
        self.batch = batch
        prefixes, kinds = [], []
        county = town = None
        extra = [[ex.place_name(rng) for _ in range(5)]
                 for _ in range(extra_tags)]
        v = 0
        while len(prefixes) < series:
            if v % ex.VILLAGES_PER_COUNTY == 0:
                county = "%s%03d" % (ex.place_name(rng),
                                     v // ex.VILLAGES_PER_COUNTY)
            if v % ex.VILLAGES_PER_TOWN == 0:
                town = "%s%d" % (ex.place_name(rng), v // ex.VILLAGES_PER_TOWN)
            village = "%s%d" % (ex.place_name(rng), v)
            for k in range(per_village):
                if len(prefixes) == series:
                    break
                kind = SHAPE[len(prefixes) % len(SHAPE)]
                n = len(prefixes)
                more = "".join(",x%02d=%s" % (j, extra[j][(n >> j) % 5])
                               for j in range(extra_tags))
                # Tags in key order, as Telegraf and the InfluxDB clients
                # send them.
                if kind == "tank":
                    prefixes.append(
                        ("%s,county=%s,tank=t%d,town=%s,village=%s%s " %
                         (names[0], county, k, town, village, more)).encode())
                else:
                    prefixes.append(
                        ("%s,county=%s,modem=m%d,town=%s,"
                         "village=%s%s " % (names[1], county, k, town,
                                            village, more)).encode())
                kinds.append(kind)
            v += 1
        self.villages = v
        self.extra_tags = extra_tags
        self.one_field = one_field
        self.extra_fields = extra_fields
        pools = {k: field_pool(rng, k, one_field, extra_fields)
                 for k in set(SHAPE)}
        fields_per = ({"tank": 1, "modem2": 1, "modem1": 1} if one_field
                      else {"tank": 2, "modem2": 2, "modem1": 1})
        fields_per = {k: v + extra_fields for k, v in fields_per.items()}
        self.prom_series = sum(fields_per[k] for k in kinds)
        self.samples = self.prom_series * rounds
        self.lines = series * rounds
        # Rounds end about now, ROUND_STEP_MS apart, timestamps in ms.
        end = int(time.time()) * 1000
        self.first_ts = end - (rounds - 1) * ROUND_STEP_MS
        self.bodies = []
        per_line = [(p, pools[k]) for p, k in zip(prefixes, kinds)]
        for r in range(rounds):
            suffix = b" %d\n" % (self.first_ts + r * ROUND_STEP_MS)
            for lo in range(0, series, batch):
                chunk = per_line[lo:lo + batch]
                parts = []
                for i, (p, pool) in enumerate(chunk, lo):
                    parts += (p, pool[(i * 31 + r * 7) % POOL], suffix)
                self.bodies.append(b"".join(parts))
        self.bytes = sum(len(b) for b in self.bodies)
        # What goes on the wire: the bodies, or each gzipped at Go's and
        # zlib's default level, which Telegraf's gzip writer uses.
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        self.wire = self.bodies
        if gzip_bodies:
            self.headers["Content-Encoding"] = "gzip"
            self.wire = [gzip.compress(b, 6) for b in self.bodies]
        self.wire_bytes = sum(len(b) for b in self.wire)

    def write_file(self, path, rounds):
        """The first `rounds` rounds as one file, for the parser bench."""
        per_round = -(-self.series // self.batch)
        with open(path, "wb") as f:
            for b in self.bodies[:per_round * rounds]:
                f.write(b)
        return os.path.getsize(path)


# ---- the client ----------------------------------------------------------


def push_all(port, path, bodies, connections, headers=None):
    """Sends every body as one POST, `connections` persistent connections
    taking the next body in turn.  Returns wall time, the client's own CPU
    (this process, all threads: nothing else runs in it meanwhile), request
    latencies and the answers by status."""
    lock = threading.Lock()
    nxt = [0]
    latencies = []
    status = {}
    errors = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        mine = []
        try:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(bodies):
                    break
                t0 = time.perf_counter()
                conn.request("POST", path, body=bodies[i], headers=headers or {
                    "Content-Type": "text/plain; charset=utf-8"})
                resp = conn.getresponse()
                answer = resp.read()
                mine.append(time.perf_counter() - t0)
                with lock:
                    status[resp.status] = status.get(resp.status, 0) + 1
                    if resp.status // 100 != 2 and len(errors) < 5:
                        errors.append("%d %s" % (resp.status, answer[:300]))
        except (OSError, http.client.HTTPException) as e:
            with lock:
                errors.append("connection: %r" % e)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    c0 = os.times()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    c1 = os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return {"wall_s": wall, "client_cpu_s": cpu, "status": status,
            "errors": errors, "requests": len(latencies),
            "latency_ms": {
                "median": statistics.median(latencies) * 1000
                if latencies else None,
                "p99": bl.percentile(latencies, 99) * 1000
                if latencies else None,
                "max": max(latencies) * 1000 if latencies else None}}


def check_pushed(who, pushed, wl):
    ok = sum(v for k, v in pushed["status"].items() if k // 100 == 2)
    if ok != len(wl.bodies) or pushed["errors"]:
        raise RuntimeError("%s: %d of %d requests answered 2xx; %s" %
                           (who, ok, len(wl.bodies), pushed["errors"]))


LATENCY_CONNECTIONS = (1, 8)
# The latency phase's series: other metric names than the throughput
# workload's, so that counting those (stored()) is not disturbed.
LATENCY_NAMES = ("probe_tank", "probe_modem")


def latency_workload(args):
    """Small requests for the ack-latency phase: --latency-requests bodies
    from one connection, then 4 times as many from 8 connections, each of
    --latency-batch lines."""
    bodies = args.latency_requests * 5
    series = args.latency_batch * 10
    return Workload(series, -(-bodies // 10), args.latency_batch,
                    args.seed + 1, LATENCY_NAMES)


def latency_phase(who, port, lat, args):
    """One sender, then eight, each waiting for every answer before its
    next request: the time from sending a request to its answer."""
    n1 = args.latency_requests
    out = {}
    for conns, bodies in ((1, lat.bodies[:n1]), (8, lat.bodies[n1:])):
        log("%s: ack latency from %d connection(s), %d requests of %d lines"
            % (who, conns, len(bodies), lat.batch))
        pushed = push_all(port, "/write?precision=ms", bodies, conns)
        ok = sum(v for k, v in pushed["status"].items() if k // 100 == 2)
        if ok != len(bodies) or pushed["errors"]:
            raise RuntimeError("%s latency: %d of %d answered 2xx; %s" %
                               (who, ok, len(bodies), pushed["errors"]))
        out[conns] = pushed["latency_ms"]
        out[conns]["requests"] = len(bodies)
        out[conns]["wall_s"] = pushed["wall_s"]
    return out


# ---- processes -----------------------------------------------------------


def hwm(pid):
    return bl.rss_bytes(pid)[1]


def start_vm(args, tmp, tag):
    d = os.path.join(tmp, tag)
    os.makedirs(d)
    return bl.start_victoria_metrics(
        args.victoria_metrics, os.path.join(d, "data"),
        os.path.join(d, "victoria-metrics.log"),
        # The stored-sample count below reads every series and sample: 18M
        # on a receiver that may still be busy.
        ["-search.maxUniqueTimeseries=100000000",
         "-search.maxQueryDuration=1h"], tag)


def rows_in(vm_port):
    return bl.vm_metric(vm_port, "vm_rows_inserted_total")


def wait_rows(vm, vm_port, expected, deadline_s, what):
    """Polls until VictoriaMetrics has inserted `expected` rows; more is an
    error (something was sent twice)."""
    def reached():
        vm.check_alive()
        got = rows_in(vm_port)
        if got > expected:
            raise RuntimeError("%s: VictoriaMetrics inserted %d rows, "
                               "expected %d" % (what, got, expected))
        return got == expected
    poll(what, reached, deadline_s, 0.02)
    return time.monotonic()


VILLAGE_SERIES = '{__name__=~"water_tank_.+|signal_modem_.+"}'


def vm_query(vm_port, q, at_ms):
    """The value of an instant query that returns one number."""
    path = "/api/v1/query?" + urllib.parse.urlencode(
        {"query": q, "time": "%.3f" % (at_ms / 1000)})
    status, _, body = bl.request(vm_port, "GET", path, timeout=1800)
    if status != 200:
        raise RuntimeError("query %s: %d %s" % (q, status, body[:300]))
    result = json.loads(body)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def stored(vm_port, wl):
    """What VictoriaMetrics holds and answers queries with, counted
    exactly at the last round's time over a window that holds every round:
    (samples, series)."""
    bl.request(vm_port, "GET", "/internal/force_flush")
    last = wl.first_ts + (wl.rounds - 1) * ROUND_STEP_MS
    window = "[%ds]" % (wl.rounds * ROUND_STEP_MS // 1000 + 5)
    return (vm_query(vm_port, "sum(count_over_time(%s%s))" %
                     (VILLAGE_SERIES, window), last),
            vm_query(vm_port, "count(last_over_time(%s%s))" %
                     (VILLAGE_SERIES, window), last))


def receiver_report(vm, vm_port, cpu0, wl):
    """The receiver's CPU (taken first: the counting queries below are not
    part of the intake) and what it holds."""
    cpu = cpu_seconds(vm.pid) - cpu0
    try:
        samples, series = stored(vm_port, wl)
        error = None
    except (RuntimeError, OSError, http.client.HTTPException) as e:
        # The count by query failed (the rows were counted already): the
        # table says so rather than losing the run.
        samples = series = -1
        error = str(e)[:300]
        log("receiver: counting by query failed: %s" % error)
    return {"cpu_s": cpu, "rows_inserted": rows_in(vm_port),
            "stored_samples": samples, "series": series,
            "count_error": error, "peak_rss": hwm(vm.pid)}


def front_vmagent(args, tmp, port, tag):
    """With --via-vmagent, a vmagent (default flags) that takes the bodies
    and sends them on as remote write to `port`'s /api/v1/write: (server,
    its port).  Otherwise (None, port): the bodies go to the system."""
    if not args.via_vmagent:
        return None, port
    return start_vmagent(args, os.path.join(tmp, "front-" + tag), port,
                         "front vmagent")


def start_vmagent(args, d, port, what):
    """A vmagent with default flags but for the addresses and the queue's
    folder (under d, made here), sending remote write to `port`: (server,
    its port)."""
    os.makedirs(d)
    vport = bl.free_port()
    agent = bl.Server([
        args.vmagent, "-httpListenAddr=127.0.0.1:%d" % vport,
        "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" % port,
        "-remoteWrite.tmpDataPath=" + os.path.join(d, "queue"),
        "-loggerLevel=WARN"], os.path.join(d, "vmagent.log"))
    bl.wait_for(agent, vport, "/health", 120, what)
    return agent, vport


# ---- (a) villagemetricsd --------------------------------------------------


def daemon_config(port, state_dir, rw_url):
    return {
        "listen": "127.0.0.1:%d" % port,
        "state_dir": state_dir,
        "log_level": "warning",
        # 18M samples of the full run are ~2.3 GB of journal: room for all
        # of it, so a slow receiver can never make the journal drop any.
        "journal": {"commit_window": "100ms", "fsync": "batch",
                    "max_bytes": "32GiB"},
        # The default max_series (1M) is below the 1.8M series of the full
        # run; vmagent and VictoriaMetrics have no such limit by default.
        "collectors": [{"type": "listen", "name": "push", "max_series": 0}],
        "exporters": [{"type": "remote_write", "name": "vm", "url": rw_url}],
    }


def start_thread_pool(port):
    """An empty write: no sample, but libuv starts its thread pool (the
    parsers' threads) now, before the CPU baseline and before perf
    attaches (perf -p follows only the threads that exist)."""
    status, _, answer = bl.request(port, "POST", "/write", body=b"")
    if status != 204:
        raise RuntimeError("villagemetricsd: empty write answered %d %s"
                           % (status, answer[:300]))


def bench_daemon(args, tmp, wl, lat, profile=False):
    vm, vm_port = start_vm(args, tmp, "recv-a")
    server = prof = front = None
    count = None
    try:
        d = os.path.join(tmp, "villagemetricsd")
        os.makedirs(os.path.join(d, "state"))
        port = bl.free_port()
        conf = os.path.join(d, "villagemetrics.json")
        bl.write_config(conf, daemon_config(
            port, os.path.join(d, "state"),
            "http://127.0.0.1:%d/api/v1/write" % vm_port))
        argv = [args.daemon, "--config", conf]
        if args.instructions:
            count = os.path.join(tmp, "callgrind.out")
            argv = [VALGRIND, "--tool=callgrind", "--instr-atstart=no",
                    "--callgrind-out-file=" + count] + argv
        server = bl.Server(argv, os.path.join(d, "daemon.log"),
                           bl.daemon_environment())
        bl.wait_for(server, port, "/readyz", 120, "villagemetricsd")
        start_thread_pool(port)
        front, push_port = front_vmagent(args, tmp, port, "a")
        if profile:
            prof = start_perf(args, server.pid, tmp)
        if count:
            callgrind_control(server.pid, "-i", "on")
        log("(a) villagemetricsd: pushing %d bodies" % len(wl.bodies))
        c0 = cpu_seconds(server.pid)
        w0 = wchar(server.pid)
        r0 = cpu_seconds(vm.pid)
        t0 = time.monotonic()
        pushed = push_all(push_port, "/write?precision=ms", wl.wire,
                          args.connections, wl.headers)
        t_acked = time.monotonic()
        c_acked = cpu_seconds(server.pid)
        check_pushed("villagemetricsd", pushed, wl)

        def drained():
            server.check_alive()
            st = bl.daemon_status(port)
            e = bl.exporter_status(st)
            return e["lag_samples"] == 0 and st
        log("(a) acknowledged in %.1f s; draining to VictoriaMetrics" %
            (t_acked - t0))
        # Watched at the receiver, as vmagent is, then one look or a few at
        # the daemon: its /api/v1/status every 20 ms, a connection each
        # time, was about 5% of the CPU measured here.
        t_recv = wait_rows(vm, vm_port, wl.samples, args.deadline,
                           "(a) receiver rows")
        st = poll("(a) remote_write drained", drained, args.deadline,
                  0.02)
        t_drained = time.monotonic()
        c1 = cpu_seconds(server.pid)
        w1 = wchar(server.pid)
        if prof:
            profile_out = stop_perf(prof)
            prof = None
        else:
            profile_out = None
        if count:
            profile_out = instructions(args, server.pid, count, wl.samples)
        e = bl.exporter_status(st)
        res = {
            "pushed": pushed, "wall_acked_s": t_acked - t0,
            "wall_delivered_s": max(t_drained, t_recv) - t0,
            "cpu_acked_s": c_acked - c0, "cpu_s": c1 - c0,
            "peak_rss": hwm(server.pid),
            "journal_appended": st["journal"]["appended_samples"],
            # Segments are deleted once delivered: what was written.
            "journal_bytes": st["journal"].get("written_bytes"),
            "written_bytes": w1 - w0,
            "sent_samples": e.get("sent_samples"),
            "receiver": receiver_report(vm, vm_port, r0, wl),
            "profile": profile_out}
        if lat:
            j0 = bl.daemon_status(port)["journal"]
            res["latency"] = latency_phase("(a)", port, lat, args)
            j1 = bl.daemon_status(port)["journal"]
            res["latency_fsyncs"] = (j1.get("fsyncs", 0) -
                                     j0.get("fsyncs", 0))
            wait_rows(vm, vm_port, wl.samples + lat.samples, args.deadline,
                      "(a) receiver rows with the latency phase")
            poll("(a) latency samples drained", drained, args.deadline, 0.02)
        server.check_alive()
        vm.check_alive()
        return res
    finally:
        if prof:
            stop_perf(prof)
        if front:
            front.stop()
        if server:
            server.stop()
        vm.stop()
        shutil.rmtree(os.path.join(tmp, "villagemetricsd"), ignore_errors=True)
        shutil.rmtree(os.path.join(tmp, "recv-a"), ignore_errors=True)


# The daemon cut short, for --stages: what a sample costs before the
# journal, and before remote write.
STAGES = (("store", "the parse, the sink and the store (no exporter)"),
          ("journal", "and the journal (remote_write to a closed port)"))


def bench_daemon_stage(args, tmp, wl, stage):
    """(a)'s daemon on (a)'s bodies, with no exporter ("store") or with its
    remote_write to a closed port ("journal": appended and fsynced, never
    read back but by the exporter's retries).  Its CPU from the first
    request to the last answer, and its own count of what it took: every
    sample, or the run fails."""
    d = os.path.join(tmp, "stage-" + stage)
    os.makedirs(os.path.join(d, "state"))
    server = None
    try:
        port = bl.free_port()
        conf = os.path.join(d, "villagemetrics.json")
        config = daemon_config(port, os.path.join(d, "state"),
                               "http://127.0.0.1:%d/api/v1/write" %
                               bl.free_port())
        if stage == "store":
            config["exporters"] = []
        bl.write_config(conf, config)
        server = bl.Server([args.daemon, "--config", conf],
                           os.path.join(d, "daemon.log"),
                           bl.daemon_environment())
        bl.wait_for(server, port, "/readyz", 120, "villagemetricsd")
        start_thread_pool(port)
        log("(a) %s stage: pushing %d bodies" % (stage, len(wl.bodies)))
        c0 = cpu_seconds(server.pid)
        t0 = time.monotonic()
        pushed = push_all(port, "/write?precision=ms", wl.wire,
                          args.connections, wl.headers)
        res = {"wall_acked_s": time.monotonic() - t0,
               "cpu_acked_s": cpu_seconds(server.pid) - c0,
               "peak_rss": hwm(server.pid)}
        check_pushed("villagemetricsd (%s stage)" % stage, pushed, wl)
        st = bl.daemon_status(port)
        taken = (st["journal"]["appended_samples"] if stage == "journal"
                 else st["collectors"][0]["samples_total"])
        if taken != wl.samples:
            raise RuntimeError("villagemetricsd (%s stage) took %d samples "
                               "of %d" % (stage, taken, wl.samples))
        server.check_alive()
        return res
    finally:
        if server:
            server.stop()
        shutil.rmtree(d, ignore_errors=True)


# ---- (b) vmagent ----------------------------------------------------------


def bench_vmagent(args, tmp, wl, lat):
    vm, vm_port = start_vm(args, tmp, "recv-b")
    agent = None
    try:
        agent, port = start_vmagent(args, os.path.join(tmp, "vmagent"),
                                    vm_port, "vmagent")
        log("(b) vmagent: pushing %d bodies" % len(wl.bodies))
        c0 = cpu_seconds(agent.pid)
        r0 = cpu_seconds(vm.pid)
        t0 = time.monotonic()
        pushed = push_all(port, "/write?precision=ms", wl.wire,
                          args.connections, wl.headers)
        t_acked = time.monotonic()
        c_acked = cpu_seconds(agent.pid)
        check_pushed("vmagent", pushed, wl)
        log("(b) answered in %.1f s; waiting for VictoriaMetrics" %
            (t_acked - t0))
        t_recv = wait_rows(vm, vm_port, wl.samples, args.deadline,
                           "(b) receiver rows")
        c1 = cpu_seconds(agent.pid)
        res = {"pushed": pushed, "wall_acked_s": t_acked - t0,
               "wall_delivered_s": t_recv - t0,
               "cpu_acked_s": c_acked - c0, "cpu_s": c1 - c0,
               "peak_rss": hwm(agent.pid),
               "receiver": receiver_report(vm, vm_port, r0, wl)}
        if lat:
            res["latency"] = latency_phase("(b)", port, lat, args)
            wait_rows(vm, vm_port, wl.samples + lat.samples, args.deadline,
                      "(b) receiver rows with the latency phase")
        agent.check_alive()
        vm.check_alive()
        return res
    finally:
        if agent:
            agent.stop()
        vm.stop()
        shutil.rmtree(os.path.join(tmp, "vmagent"), ignore_errors=True)
        shutil.rmtree(os.path.join(tmp, "recv-b"), ignore_errors=True)


# ---- (c) VictoriaMetrics' own /write ---------------------------------------


def bench_vm(args, tmp, wl, lat):
    vm, vm_port = start_vm(args, tmp, "vm-c")
    front = None
    try:
        front, push_port = front_vmagent(args, tmp, vm_port, "c")
        log("(c) victoria-metrics: pushing %d bodies" % len(wl.bodies))
        c0 = cpu_seconds(vm.pid)
        t0 = time.monotonic()
        pushed = push_all(push_port, "/write?precision=ms", wl.wire,
                          args.connections, wl.headers)
        t_acked = time.monotonic()
        c_acked = cpu_seconds(vm.pid)
        check_pushed("victoria-metrics", pushed, wl)
        t_recv = wait_rows(vm, vm_port, wl.samples, args.deadline,
                           "(c) rows")
        c1 = cpu_seconds(vm.pid)
        res = {"pushed": pushed, "wall_acked_s": t_acked - t0,
               "wall_delivered_s": t_recv - t0,
               "cpu_acked_s": c_acked - c0, "cpu_s": c1 - c0,
               "peak_rss": hwm(vm.pid),
               "receiver": receiver_report(vm, vm_port, c0, wl)}
        # It is its own receiver: its CPU is counted once, as the process.
        res["receiver"]["cpu_s"] = 0.0
        if lat:
            res["latency"] = latency_phase("(c)", vm_port, lat, args)
            wait_rows(vm, vm_port, wl.samples + lat.samples, args.deadline,
                      "(c) rows with the latency phase")
        vm.check_alive()
        return res
    finally:
        if front:
            front.stop()
        vm.stop()
        shutil.rmtree(os.path.join(tmp, "vm-c"), ignore_errors=True)


# ---- the parser alone -----------------------------------------------------


def bench_parser(args, tmp, wl):
    path = os.path.join(tmp, "bench.lp")
    size = wl.write_file(path, min(wl.rounds, args.parse_rounds))
    log("parser: %.0f MiB of line protocol, %d runs each" %
        (size / 1048576, args.parse_runs))
    out = subprocess.run([args.lp_parse_bench, path, str(args.parse_runs),
                          "ms"], capture_output=True, text=True, timeout=3600)
    os.unlink(path)
    if out.returncode != 0:
        raise RuntimeError("lp_parse_bench failed (%d): %s" %
                           (out.returncode, out.stderr))
    res = json.loads(out.stdout)
    for k in ("parse", "samples"):
        r = res[k]
        r["bytes_per_s"] = res["bytes"] / r["best_s"]
        r["lines_per_s"] = res["lines"] / r["best_s"]
        r["median_bytes_per_s"] = res["bytes"] / r["median_s"]
        r["samples_per_s"] = r["samples"] / r["best_s"]
    return res


# ---- the profile ---------------------------------------------------------


PERF_RECORD = "perf record -F 499 -e cpu-clock --call-graph dwarf,16384 -p PID"


def start_perf(args, pid, tmp, name="intake"):
    """perf record on the daemon, with DWARF call graphs (the Release build
    has no frame pointers) at a rate low enough to keep the data small;
    the data goes to args.results/NAME-<time>.perf.data."""
    os.makedirs(args.results, exist_ok=True)
    data = os.path.join(args.results, "%s-%s.perf.data" %
                        (name, time.strftime("%Y%m%d-%H%M%S")))
    srv = bl.Server([args.perf] + PERF_RECORD.split()[1:-2] +
                    ["-o", data, "-p", str(pid)],
                    os.path.join(tmp, "perf.log"))
    # perf writes its header once it is attached: poll for it.
    poll("perf attached", lambda: (srv.check_alive() or True) and
              os.path.exists(data) and os.path.getsize(data) > 0, 30, 0.05)
    return srv, data, args.perf


VALGRIND = "/usr/bin/valgrind"
CALLGRIND_CONTROL = "/usr/bin/callgrind_control"
CALLGRIND_ANNOTATE = "/usr/bin/callgrind_annotate"


def callgrind_control(pid, *opts):
    subprocess.run([CALLGRIND_CONTROL] + list(opts) + [str(pid)],
                   check=True, capture_output=True, timeout=600)


def instructions(args, pid, out, samples, name="intake"):
    """Dumps what callgrind counted since its instrumentation was turned
    on (at the first request; in push.py, at the drain's start) and reads
    the total and the heaviest functions (their own instructions, every
    thread's) from it, per sample: a figure that does not move with the
    machine's load, for changes too small for the CPU seconds' noise
    (callgrind counts a vector instruction as one, and no cache miss; a
    large memcpy's `rep movsb` as one a byte).  The dump stays in
    args.results as NAME-<time>.callgrind for callgrind_annotate."""
    callgrind_control(pid, "-d")
    dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
    if not dumps:
        raise RuntimeError("callgrind wrote no dump in %s" % out)
    os.makedirs(args.results, exist_ok=True)
    data = os.path.join(args.results, "%s-%s.callgrind" %
                        (name, time.strftime("%Y%m%d-%H%M%S")))
    shutil.copy(dumps[-1], data)
    text = subprocess.run([CALLGRIND_ANNOTATE, "--threshold=100", data],
                          capture_output=True,
                          text=True, check=True, timeout=600).stdout
    total, rows = None, []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.*)$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = ir
        elif total and len(rows) < 30 and ":" in m.group(2):
            rows.append("  %8.0f  %s" % (ir / samples,
                                         m.group(2).split(" [")[0]))
    if total is None:
        raise RuntimeError("callgrind_annotate gave no total for %s" % data)
    return {"instructions": total, "per_sample": total / samples,
            "data": data, "functions": "\n".join(rows)}


def stop_perf(prof):
    """SIGINT (perf writes its data and exits), then the reports; the data
    stays in bench/results/ for `perf report -i`."""
    srv, data, perf = prof
    if srv.proc.poll() is None:
        os.kill(srv.pid, signal.SIGINT)
        try:
            srv.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            pass
    srv.stop()

    def report(*opts):
        out = subprocess.run([perf, "report", "-i", data, "--stdio",
                              "--no-children", "--percent-limit", "0.5"] +
                             list(opts), capture_output=True, text=True,
                             timeout=1800)
        return "\n".join(line for line in out.stdout.splitlines()
                         if line.strip() and not line.startswith("#"))
    return {"data": data,
            "by_thread": report("-g", "none", "--sort", "pid"),
            "by_dso": report("-g", "none", "--sort", "dso"),
            "by_symbol": report("-g", "none", "--sort", "dso,sym"),
            "callers": report("-g", "caller,2,callee,function,percent",
                              "--sort", "sym", "--percent-limit", "2")}


# ---- report --------------------------------------------------------------


def machine(args):
    info = bl.machine_info(args.daemon)
    info.update(bl.victoria_metrics_versions())
    return info


def render_stages(add, wl, res, stages):
    """Where (a)'s CPU goes: its stage runs, then (a), beside vmagent."""
    b = res.get("vmagent")
    add("where (a)'s CPU goes: the daemon again on the same bodies, cut "
        "short (each its own run;")
    add("  CPU-s from the first request to the last answer, (a)'s to "
        "delivered):")
    hdr = "%-50s %8s %8s %14s %9s" % ("villagemetricsd with", "acked s",
                                      "CPU-s", "samples/CPU-s", "x vmagent")
    add(hdr)
    add("-" * len(hdr))
    rows = [(what, stages[k]["wall_acked_s"], stages[k]["cpu_acked_s"])
            for k, what in STAGES]
    if "villagemetricsd" in res:
        a = res["villagemetricsd"]
        rows.append(("and remote write to VictoriaMetrics: (a)",
                     a["wall_acked_s"], a["cpu_s"]))
    for what, wall, cpu in rows:
        rate = wl.samples / cpu if cpu else None
        add("%-50s %8.2f %8.2f %14s %9s" % (
            what, wall, cpu, f(rate, "%.0f"),
            f(rate / b["samples_per_cpu_s"] if rate and b else None,
              "%.2fx")))
    add("")


def render(info, wl, gen_s, res, stages, parser, args, latwl):
    L = bl.table_head("intake benchmark: line protocol over HTTP into "
                      "villagemetricsd, vmagent and VictoriaMetrics", info,
                      [info["vmagent"], info["victoria-metrics"]])
    add = L.append
    if wl.one_field:
        add("workload: %d line-protocol series (water_tank: level_ratio; "
            "signal_modem: rssi_dbm;" % wl.series)
    else:
        add("workload: %d line-protocol series (water_tank: level_ratio, "
            "volume_m3; signal_modem:" % wl.series)
        add("  rssi_dbm[, battery_v];")
    if wl.extra_fields:
        add("  and on every line fields y00..y%02d;" % (wl.extra_fields - 1))
    add("  tags county, tank|modem, town, village%s; %d villages) x %d "
        "rounds" % (", x00..x%02d" % (wl.extra_tags - 1) if wl.extra_tags
                    else "", wl.villages, wl.rounds))
    add("  = %d lines, %d samples (%.2f per line), %d Prometheus series, "
        "%.0f MiB;" % (wl.lines, wl.samples, wl.samples / wl.lines,
                       wl.prom_series, wl.bytes / 1048576))
    add("  POST /write?precision=ms, %d lines per body (%d bodies, built "
        "in %.0f s before timing),"
        % (wl.batch, len(wl.bodies), gen_s))
    if wl.wire is not wl.bodies:
        add("  each gzipped (Content-Encoding: gzip, level 6): %.0f MiB on "
            "the wire;" % (wl.wire_bytes / 1048576))
    add("  %d persistent connections; the same bodies to each system, one "
        "system at a time." % args.connections)
    if args.via_vmagent:
        add("  Through a vmagent in front of (a) and (c): what they take is "
            "its remote write (snappy")
        add("  protobuf to /api/v1/write); 'acked' is the front vmagent's "
            "answer, CPU-s the system's alone.")
    add("  (a) villagemetricsd: listen collector, answered once fsynced "
        "(journal commit_window 100ms,")
    add("      fsync batch), remote_write to its own VictoriaMetrics;  "
        "(b) vmagent (default flags)")
    add("      -> its own VictoriaMetrics;  (c) VictoriaMetrics' /write "
        "(answers before its data is on disk).")
    add("  acked s: first request -> last answer.  delivered s: -> the "
        "receiver has inserted every sample.")
    add("  CPU-s: utime+stime of the process (all threads) from the first "
        "request to delivered.")
    add("")
    hdr = ("%-17s %8s %10s %8s %9s %14s %9s %9s %9s" %
           ("system", "acked s", "delivered", "CPU-s", "acked CPU",
            "samples/CPU-s", "peak MiB", "p50 ms", "p99 ms"))
    add(hdr)
    add("-" * len(hdr))
    for s in SYSTEMS:
        r = res.get(s)
        if not r:
            continue
        r["samples_per_cpu_s"] = wl.samples / r["cpu_s"] if r["cpu_s"] \
            else None
        lat = r["pushed"]["latency_ms"]
        add("%-17s %8.2f %10.2f %8.2f %9.2f %14s %9s %9s %9s" %
            (s, r["wall_acked_s"], r["wall_delivered_s"], r["cpu_s"],
             r["cpu_acked_s"], f(r["samples_per_cpu_s"], "%.0f"),
             ex.mib(r["peak_rss"]), f(lat["median"]), f(lat["p99"])))
    add("")
    if stages:
        render_stages(add, wl, res, stages)
    add("receivers (a fresh VictoriaMetrics per system; CPU over the same "
        "span):")
    hdr = "%-17s %13s %13s %13s %10s %10s %9s %9s" % (
        "receiver of", "rows inserted", "stored", "expected", "series",
        "expected", "CPU-s", "peak MiB")
    add(hdr)
    add("-" * len(hdr))
    for s in SYSTEMS:
        r = res.get(s)
        if not r:
            continue
        rc = r["receiver"]
        add("%-17s %13d %13d %13d %10d %10d %9s %9s" % (
            s, rc["rows_inserted"], rc["stored_samples"], wl.samples,
            rc["series"], wl.prom_series,
            "(itself)" if s == "victoria-metrics" else "%.2f" % rc["cpu_s"],
            ex.mib(rc["peak_rss"])))
    add("  stored = sum(count_over_time(...)) at the last round's time, "
        "series = count(...) there:")
    add("  every sample held exactly once: %s" % ", ".join(
        "%s %s" % (s, "yes" if res[s]["receiver"]["stored_samples"] ==
                   wl.samples and res[s]["receiver"]["series"] ==
                   wl.prom_series else "NO") for s in SYSTEMS if s in res))
    for s in SYSTEMS:
        if s in res and res[s]["receiver"].get("count_error"):
            add("  %s: counting by query failed: %s" %
                (s, res[s]["receiver"]["count_error"]))
    if "villagemetricsd" in res:
        a = res["villagemetricsd"]
        add("villagemetricsd: journal appended %d, remote_write sent %s, "
            "journal written %.0f MiB = %.1f bytes per sample appended" % (
                a["journal_appended"], f(a["sent_samples"], "%.0f"),
                (a["journal_bytes"] or 0) / 1048576,
                (a["journal_bytes"] or 0) / max(a["journal_appended"], 1)))
        add("villagemetricsd: write(2) wrote %.0f MiB = %.1f bytes per sample "
            "appended (the journal, the newest table's file, cursors)" % (
                a["written_bytes"] / 1048576,
                a["written_bytes"] / max(a["journal_appended"], 1)))
    add("")
    if latwl and any("latency" in r for r in res.values()):
        add("ack latency (after each run, same instance: %d requests of %d "
            "lines from 1 connection," % (args.latency_requests,
                                          latwl.batch))
        add("  then %d from 8 connections; each connection sends its next "
            "request once answered;" % (4 * args.latency_requests))
        add("  metrics %s, not counted in the table above; every sample "
            "counted at the receivers):" % "/".join(LATENCY_NAMES))
        hdr = "%-17s %9s %9s %9s %9s %9s %9s" % (
            "system", "1c p50", "1c p99", "8c p50", "8c p99", "1c req/s",
            "8c req/s")
        add(hdr)
        add("-" * len(hdr))
        for s in SYSTEMS:
            r = res.get(s)
            if not r or "latency" not in r:
                continue
            one, eight = r["latency"][1], r["latency"][8]
            add("%-17s %9s %9s %9s %9s %9.0f %9.0f" % (
                s, f(one["median"]), f(one["p99"]), f(eight["median"]),
                f(eight["p99"]), one["requests"] / one["wall_s"],
                eight["requests"] / eight["wall_s"]))
        if "latency_fsyncs" in res.get("villagemetricsd", {}):
            add("  villagemetricsd: %d fsyncs for the %d latency requests" %
                (res["villagemetricsd"]["latency_fsyncs"],
                 5 * args.latency_requests))
        add("")
    add("client (this Python process, its %d connections):" %
        args.connections)
    for s in SYSTEMS:
        r = res.get(s)
        if not r:
            continue
        p = r["pushed"]
        add("  %-17s %7.2f CPU-s over %7.2f s -> %.0f samples per client "
            "CPU-s, %.0f%% of a core" %
            (s, p["client_cpu_s"], p["wall_s"],
             wl.samples / p["client_cpu_s"] if p["client_cpu_s"] else 0,
             100 * p["client_cpu_s"] / p["wall_s"]))
    add("")
    a, b, c = (res.get(s) for s in SYSTEMS)
    ratios = {}
    if a and b:
        ratios["vs_vmagent"] = a["samples_per_cpu_s"] / b["samples_per_cpu_s"]
    if a and c:
        ratios["vs_vm"] = a["samples_per_cpu_s"] / c["samples_per_cpu_s"]
    if ratios:
        add("samples per CPU-s, villagemetricsd / peer:  %s" % ", ".join(
            "%s %.2fx" % (k[3:], v) for k, v in ratios.items()))
        add("")
    if parser:
        add("parser only (bench/lp_parse_bench, %d MiB, %d lines of the "
            "same data in memory;" % (parser["bytes"] / 1048576,
                                      parser["lines"]))
        add("  best of %d runs after a warm-up, one thread; MB = 10^6 "
            "bytes):" % parser["parse"]["runs"])
        hdr = "%-34s %10s %12s %14s %14s" % (
            "", "MB/s", "median MB/s", "lines/s", "samples/s")
        add("  " + hdr)
        for k, what in (("parse", "vg_lp_parse, counting visitor"),
                        ("samples", "vg_lp_samples, counting emitter")):
            r = parser[k]
            add("  %-34s %10.0f %12.0f %14.0f %14s" % (
                what, r["bytes_per_s"] / 1e6, r["median_bytes_per_s"] / 1e6,
                r["lines_per_s"],
                "%.0f" % r["samples_per_s"] if k == "samples" else "-"))
        add("")
    add("targets (issue #4; never tuned to, reported as measured):")
    if a and not args.via_vmagent:
        add("  >= 2M samples per CPU-s with durable acknowledgement:  %.0f "
            "-> %s" % (a["samples_per_cpu_s"],
                       met(a["samples_per_cpu_s"] >= TARGET_SAMPLES_PER_CPU_S)))
    if "vs_vmagent" in ratios:
        add("  >= 2.5x vmagent's samples per CPU-s:  %.2fx -> %s" %
            (ratios["vs_vmagent"],
             met(ratios["vs_vmagent"] >= TARGET_VS_VMAGENT)))
    if a and a.get("latency"):
        p50 = a["latency"][1]["median"]
        add("  p50 ack latency from 1 connection <= 10 ms:  %.1f ms -> %s" %
            (p50, met(p50 <= 10)))
    if a:
        bps_j = (a["journal_bytes"] or 0) / max(a["journal_appended"], 1)
        add("  journal <= 24 bytes per sample:  %.1f -> %s" %
            (bps_j, met(bps_j <= 24)))
    if parser:
        bps = parser["parse"]["bytes_per_s"]
        add("  parser only >= 1 GB/s (vg_lp_parse):  %.0f MB/s -> %s "
            "(vg_lp_samples: %.0f MB/s)" %
            (bps / 1e6, met(bps >= TARGET_PARSE_BYTES_PER_S),
             parser["samples"]["bytes_per_s"] / 1e6))
    if a and a.get("profile") and "instructions" in a["profile"]:
        p = a["profile"]
        add("")
        add("instructions of villagemetricsd under callgrind during (a), "
            "first request to delivered:")
        add("  %.0f per sample (%d in all); by function, its own, per "
            "sample (callgrind_annotate %s):" %
            (p["per_sample"], p["instructions"],
             os.path.relpath(p["data"], ROOT)))
        add(p["functions"])
    elif a and a.get("profile"):
        p = a["profile"]
        add("")
        add("perf profile of villagemetricsd during (a), first request to "
            "delivered (%s):" % PERF_RECORD)
        add("by thread:")
        add(p["by_thread"])
        add("by object:")
        add(p["by_dso"])
        add("by function (self):")
        add("\n".join(p["by_symbol"].splitlines()[:40]))
        add("callers of the functions over 2 %% (caller chains over 2 %%; "
            "perf report -i %s):" % os.path.relpath(p["data"], ROOT))
        add(p["callers"])
    return "\n".join(L) + "\n", ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="100k series x 10 rounds (about 2 minutes)")
    ap.add_argument("--series", type=int, default=1000000,
                    help="line-protocol series (measurement + tag set)")
    ap.add_argument("--rounds", type=int, default=10,
                    help="lines per series (one per round)")
    ap.add_argument("--batch", type=int, default=5000,
                    help="lines per request")
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--extra-tags", type=int, default=0,
                    help="more tags on every line (x00=..., five values "
                    "each), for a wider label set")
    ap.add_argument("--one-field", action="store_true",
                    help="one field per line (1 sample a line, not 1.8)")
    ap.add_argument("--extra-fields", type=int, default=0,
                    help="more float fields on every line (y00=...), for "
                    "more samples per point")
    ap.add_argument("--via-vmagent", action="store_true",
                    help="push the bodies to a vmagent in front of (a) and "
                    "(c), which sends them on as remote write: their "
                    "remote-write intake, not their line protocol; (b) and "
                    "the parser and ack-latency phases are not run")
    ap.add_argument("--gzip", action="store_true",
                    help="send the bodies gzip-compressed (Content-Encoding: "
                    "gzip)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="which of %s to run" % ",".join(SYSTEMS))
    ap.add_argument("--parse-rounds", type=int, default=1,
                    help="rounds of the workload in the parser bench's file")
    ap.add_argument("--parse-runs", type=int, default=5)
    ap.add_argument("--no-parser", action="store_true")
    ap.add_argument("--latency-requests", type=int, default=100,
                    help="ack-latency phase after each system's run: this "
                    "many requests from 1 connection, 4 times as many from "
                    "8 (0: none)")
    ap.add_argument("--latency-batch", type=int, default=1000,
                    help="lines per request in the ack-latency phase "
                    "(Telegraf's default metric_batch_size)")
    ap.add_argument("--stages", action="store_true",
                    help="before (a), run the daemon on the same bodies "
                    "with no exporter, then with remote_write to a closed "
                    "port: what the store, then the journal, cost of (a)'s "
                    "CPU")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--profile", action="store_true",
                     help="run (a) alone under perf record and print its "
                     "hotspots (the CPU figures then include perf's cost)")
    how.add_argument("--instructions", action="store_true",
                     help="run (a) alone under callgrind and print its "
                     "instructions per sample, in all and by function "
                     "(use a small workload: about 50 times slower)")
    ap.add_argument("--deadline", type=int, default=1800,
                    help="seconds any one wait may take")
    ap.add_argument("--lp-parse-bench",
                    default=os.path.join(ROOT, "build-bench", "bench",
                                         "lp_parse_bench"))
    ap.add_argument("--vmagent", default="/usr/bin/vmagent")
    ap.add_argument("--victoria-metrics", default="/usr/bin/victoria-metrics")
    ap.add_argument("--perf", default="/usr/bin/perf")
    bl.add_common_args(ap, seed=2020)
    args = ap.parse_args()
    if args.quick:
        args.series = 100000
    systems = [s for s in args.systems.split(",") if s]
    if args.via_vmagent:
        systems = [s for s in systems if s != "vmagent"]
        args.no_parser = True
        args.latency_requests = 0
    if args.profile or args.instructions:
        systems = ["villagemetricsd"]
        args.no_parser = True
        args.stages = False
    if args.via_vmagent:
        args.stages = False
    for s in systems:
        if s not in SYSTEMS:
            sys.exit("intake.py: unknown system %s" % s)
    need = [args.victoria_metrics]
    need += [args.daemon] if "villagemetricsd" in systems else []
    need += ([args.vmagent] if "vmagent" in systems or args.via_vmagent
             else [])
    need += [] if args.no_parser else [args.lp_parse_bench]
    need += [args.perf] if args.profile else []
    need += ([VALGRIND, CALLGRIND_CONTROL, CALLGRIND_ANNOTATE]
             if args.instructions else [])
    bl.require_executables("intake.py", need, "run bench/run-intake.sh to "
                           "build the daemon and the parser bench")
    info = machine(args)
    began = time.monotonic()
    log("generating %d series x %d rounds" % (args.series, args.rounds))
    t = time.monotonic()
    wl = Workload(args.series, args.rounds, args.batch, args.seed,
                  extra_tags=args.extra_tags, one_field=args.one_field,
                  extra_fields=args.extra_fields, gzip_bodies=args.gzip)
    # Not with --profile: the profile covers the throughput run only.
    lat = (latency_workload(args) if args.latency_requests and
           not args.profile and not args.instructions else None)
    gen_s = time.monotonic() - t
    log("generated %d bodies, %.0f MiB, in %.1f s" %
        (len(wl.bodies), wl.bytes / 1048576, gen_s))
    tmp = tempfile.mkdtemp(prefix="vg-bench-intake-")
    res = {}
    parser = stages = None
    try:
        if not args.no_parser:
            parser = bench_parser(args, tmp, wl)
        if "villagemetricsd" in systems:
            if args.stages:
                stages = {k: bench_daemon_stage(args, tmp, wl, k)
                          for k, _ in STAGES}
            res["villagemetricsd"] = bench_daemon(args, tmp, wl, lat,
                                                  args.profile)
        if "vmagent" in systems:
            res["vmagent"] = bench_vmagent(args, tmp, wl, lat)
        if "victoria-metrics" in systems:
            res["victoria-metrics"] = bench_vm(args, tmp, wl, lat)
    finally:
        if res:
            # What was measured so far survives a later failure.
            os.makedirs(args.results, exist_ok=True)
            with open(os.path.join(args.results, "intake-partial.json"),
                      "w") as fh:
                json.dump({"args": vars(args), "results": res,
                           "stages": stages, "parser": parser}, fh,
                          indent=1, default=str)
        shutil.rmtree(tmp, ignore_errors=True)
    info["runtime_s"] = round(time.monotonic() - began)
    text, ratios = render(info, wl, gen_s, res, stages, parser, args, lat)
    base = bl.write_results(
        args.results, "intake", text,
        {"machine": info, "args": vars(args),
         "workload": {"series": wl.series, "rounds": wl.rounds,
                      "lines": wl.lines, "samples": wl.samples,
                      "prom_series": wl.prom_series, "bytes": wl.bytes,
                      "wire_bytes": wl.wire_bytes,
                      "generate_s": gen_s},
         "results": res, "stages": stages, "ratios": ratios,
         "parser": parser})
    log("results: %s.txt, %s.json (%d s)" % (base, base, info["runtime_s"]))


if __name__ == "__main__":
    main()
