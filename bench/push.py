#!/usr/bin/python3
"""bench/push.py - push path of villagemetricsd beside vmagent and the Prometheus agent.

Owns: the journal throughput run (one large CSV journaled with nothing to
drain it), the remote-write drain of that journal into VictoriaMetrics, and
the side-by-side run of villagemetricsd, vmagent and Prometheus in agent
mode forwarding the same village series to one VictoriaMetrics through
counting TCP proxies: CPU per sample, bytes on the wire per sample, catch-up
after an outage of the receiver, and what each delivers after a kill -9
during catch-up, counted exactly per (series, timestamp).

Must not: touch anything outside its own temp dir and bench/results/, talk
to anything but 127.0.0.1, leave a process running (every process it starts
is stopped by its own PID in a finally block), or sleep a fixed time waiting
for a server to be ready: it polls instead.  The targets are reported, never
used to tune anything.

Python 3 standard library only.  Run it through bench/run-push.sh, which
builds the daemon first; `--quick` is the short run.
"""

import argparse
import collections
import http.client
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (processes, HTTP, polling, the report)
import exposition as ex  # noqa: E402  (the village series)
from benchlib import (cpu_seconds, exporter_status, f, log,  # noqa: E402
                      met, poll, vm_metric)

ROOT = bl.ROOT

TARGET_SAMPLES_PER_CPU_S = 2e6   # the drain: read, encoded, sent, per core
TARGET_CPU_VS_VMAGENT = 1 / 3.0
TARGET_CATCHUP_X = 5.0

AGENTS = ("villagemetricsd", "vmagent", "prometheus")


from push_peers import (Agent, CountingProxy, Feed,  # noqa: E402
                        ScrapeTarget)
from intake import (CALLGRIND_ANNOTATE, CALLGRIND_CONTROL,  # noqa: E402
                    VALGRIND, callgrind_control, instructions, start_perf,
                    stop_perf)


def daemon_config(port, state_dir, collector, rw_url, extra_rw=None,
                  prometheus=True):
    rw = {"type": "remote_write", "name": "vm", "url": rw_url,
          "batch_size": 10000, "flush_interval": "1s"}
    rw.update(extra_rw or {})
    exporters = ([{"type": "prometheus"}] if prometheus else []) + [rw]
    return {
        "listen": "127.0.0.1:%d" % port,
        "labels": {"city": "Bench"},
        "stale_after": "24h",
        "state_dir": state_dir,
        "log_level": "warning",
        "journal": {"commit_window": "100ms", "fsync": "batch"},
        "collectors": [collector],
        "exporters": exporters,
    }


def file_collector(data_dir, metrics, timestamp, const_labels=None):
    c = {"type": "file", "name": "v", "path": os.path.join(data_dir, "*.csv"),
         "format": "csv", "interval": "1h", "settle": "50ms",
         "labels": {"county": "county", "town": "town", "village": "village"},
         "metrics": {m: m[len("village_"):] for m, _ in metrics}}
    if timestamp:
        c.update(timestamp="ts", timestamp_format="unix_ms")
    if const_labels:
        c["const_labels"] = const_labels
    return c


# ---- part 1 and 2: journal throughput, then the drain -------------------


def bench_journal(args, tmp, metrics, vm_port):
    n = args.journal_samples
    log("journal: generating %d samples" % n)
    villages = ex.Villages(n, metrics, args.seed)
    data = os.path.join(tmp, "journal", "data")
    state = os.path.join(tmp, "journal", "state")
    os.makedirs(data)
    os.makedirs(state)
    villages.write_csv(data)
    csv_bytes = sum(os.path.getsize(os.path.join(data, f))
                    for f in os.listdir(data))
    del villages
    port = bl.free_port()
    closed = bl.free_port()   # nothing listens here until the drain
    conf = os.path.join(tmp, "journal", "villagemetrics.json")
    bl.write_config(conf, daemon_config(
        port, state, file_collector(data, metrics, False),
        "http://127.0.0.1:%d/api/v1/write" % closed,
        {"min_backoff": "100ms", "max_backoff": "1s"}))
    log("journal: villagemetricsd, remote_write to a closed port")
    start = time.monotonic()
    argv = [args.daemon, "--config", conf]
    count = None
    if args.instructions:  # counted from the drain's start only
        count = os.path.join(tmp, "callgrind.out")
        argv = [VALGRIND, "--tool=callgrind", "--instr-atstart=no",
                "--callgrind-out-file=" + count] + argv
    server = bl.Server(argv, os.path.join(tmp, "journal", "daemon.log"),
                       bl.daemon_environment())
    proxy = None
    try:
        def journaled():
            server.check_alive()
            try:
                st = bl.daemon_status(port)
            except (OSError, http.client.HTTPException, RuntimeError):
                return None
            got = st.get("journal", {}).get("appended_samples", 0)
            if got > n:
                raise RuntimeError("journal holds %d samples, expected %d" %
                                   (got, n))
            return got == n and st
        st = poll("journal: %d samples appended" % n, journaled, 600, 0.02)
        wall = time.monotonic() - start
        cpu = cpu_seconds(server.pid)
        lag = exporter_status(st)["lag_samples"]
        jbytes = st["journal"]["bytes"]
        # One journal round-trip through /metrics for the fsync counters.
        _, _, body = bl.request(port, "GET", "/metrics", timeout=60)
        fsyncs = bl.self_metric(body, "villagemetrics_journal_fsyncs_total")
        fsync_s = bl.self_metric(body,
                                 "villagemetrics_journal_fsync_seconds_total")
        journal = {"samples": n, "csv_bytes": csv_bytes, "wall_s": wall,
                   "cpu_s": cpu, "samples_per_s": n / wall,
                   "samples_per_cpu_s": n / cpu, "lag_at_end": lag,
                   "journal_bytes": jbytes, "fsyncs": fsyncs,
                   "fsync_seconds": fsync_s}
        log("journal: %d samples in %.2f s wall, %.2f CPU-s" % (n, wall, cpu))

        # Part 2: the receiver appears on the closed port (a counting
        # proxy to VictoriaMetrics) and the journal drains.
        rows0 = vm_metric(vm_port, "vm_rows_inserted_total")
        prof = (start_perf(args, server.pid, tmp, "push-drain")
                if args.profile else None)
        if count:
            callgrind_control(server.pid, "-i", "on")
        cpu0 = cpu_seconds(server.pid)
        proxy = CountingProxy(vm_port, "drain")
        proxy.listener.close()
        proxy.running = False
        proxy.thread.join()
        proxy.port = closed
        proxy.up()
        t0 = time.monotonic()

        # Watched at the receiver: polling the daemon's /status this often
        # cost it more CPU than the drain itself (a connection each time).
        # Then one look at the daemon, which has sent everything by now.
        poll("drain: rows at VictoriaMetrics",
             lambda: (server.check_alive() or True) and
             vm_metric(vm_port, "vm_rows_inserted_total") - rows0 >= n,
             600, 0.02)
        t1 = time.monotonic()

        def drained():
            server.check_alive()
            e = exporter_status(bl.daemon_status(port))
            return e["lag_samples"] == 0 and e
        e = poll("drain", drained, 600, 0.02)
        cpu1 = cpu_seconds(server.pid)
        profile = stop_perf(prof) if prof else None
        if count:
            profile = instructions(args, server.pid, count, n, "push-drain")
        snap = proxy.snapshot()
        ok = proxy.ok_times
        first = ok[0] if ok else t0
        bl.request(vm_port, "GET", "/internal/force_flush")
        rows = poll("VictoriaMetrics rows",
                    lambda: (vm_metric(vm_port, "vm_rows_inserted_total")
                             - rows0) >= n and
                    vm_metric(vm_port, "vm_rows_inserted_total") - rows0,
                    60, 0.2)
        drain = {"samples": n, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
                 "wall_from_first_ok_s": t1 - first,
                 "samples_per_cpu_s": n / max(cpu1 - cpu0, 1e-9),
                 "samples_per_s": n / max(t1 - first, 1e-9),
                 "sent_samples": e.get("sent_samples"),
                 "vm_rows_inserted": rows, "proxy": snap,
                 "wire_bytes_per_sample": snap["wire"] / n,
                 "body_bytes_per_sample": snap["body"] / n,
                 "profile": profile}
        log("drain: %d samples, %.2f CPU-s, %.2f s, %.1f B/sample on the "
            "wire" % (n, cpu1 - cpu0, t1 - first, snap["wire"] / n))
        return journal, drain
    finally:
        if proxy:
            proxy.down()
        server.stop()
        shutil.rmtree(os.path.join(tmp, "journal"), ignore_errors=True)


# ---- part 3: three agents side by side, steady, outages, kill -9 --------


PROM_YML = """global:
  scrape_interval: {interval}s
  scrape_timeout: {timeout}s
{external}scrape_configs:
  - job_name: villages
    metrics_path: /metrics/{agent}
    static_configs:
      - targets: ["127.0.0.1:{target}"]
    metric_relabel_configs:
      - action: labeldrop
        regex: "job|instance"
{remote}"""


def make_agents(args, tmp, feed_dir, metrics, target_port, proxies):
    logdir = os.path.join(tmp, "logs")
    os.makedirs(logdir, exist_ok=True)
    agents = {}
    # villagemetricsd: the CSV rewritten every round, remote_write.
    d = os.path.join(tmp, "villagemetricsd")
    os.makedirs(os.path.join(d, "state"))
    port = bl.free_port()
    conf = os.path.join(d, "villagemetrics.json")
    bl.write_config(conf, daemon_config(
        port, os.path.join(d, "state"),
        file_collector(feed_dir, metrics, True, {"agent": "villagemetricsd"}),
        "http://127.0.0.1:%d/api/v1/write" % proxies["villagemetricsd"].port,
        {"max_backoff": args.daemon_max_backoff}))
    agents["villagemetricsd"] = Agent(
        "villagemetricsd", [args.daemon, "--config", conf], port, "/readyz",
        logdir)
    interval = args.period
    # vmagent: scrapes, disk queue in -remoteWrite.tmpDataPath.
    d = os.path.join(tmp, "vmagent")
    os.makedirs(d)
    port = bl.free_port()
    yml = os.path.join(d, "scrape.yml")
    with open(yml, "w") as f:
        f.write(PROM_YML.format(interval=interval, timeout=interval,
                                external="", agent="vmagent",
                                target=target_port, remote=""))
    agents["vmagent"] = Agent("vmagent", [
        args.vmagent, "-httpListenAddr=127.0.0.1:%d" % port,
        "-promscrape.config=" + yml,
        "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" %
        proxies["vmagent"].port,
        "-remoteWrite.tmpDataPath=" + os.path.join(d, "queue"),
        "-remoteWrite.label=agent=vmagent", "-loggerLevel=WARN"],
        port, "/health", logdir)
    # Prometheus in agent mode: scrapes, WAL in --storage.agent.path.
    d = os.path.join(tmp, "prometheus")
    os.makedirs(d)
    port = bl.free_port()
    yml = os.path.join(d, "prometheus.yml")
    with open(yml, "w") as f:
        f.write(PROM_YML.format(
            interval=interval, timeout=interval,
            external="  external_labels:\n    agent: prometheus\n",
            agent="prometheus", target=target_port,
            remote="remote_write:\n  - url: http://127.0.0.1:%d/api/v1/write\n"
            % proxies["prometheus"].port))
    agents["prometheus"] = Agent("prometheus", [
        args.prometheus, "--enable-feature=agent", "--config.file=" + yml,
        "--storage.agent.path=" + os.path.join(d, "wal"),
        "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
        port, "/-/ready", logdir)
    return agents


def catchup_end(ok_times, after, gap):
    """The last 2xx answer before the first pause of `gap` seconds in the
    answers after `after`: the end of a backlog's drain."""
    times = [t for t in ok_times if t >= after]
    if not times:
        return None, None
    last = times[0]
    for t in times[1:]:
        if t - last >= gap:
            break
        last = t
    return times[0], last


def vm_counts(vm_port, agent, start_s, end_s):
    """Distinct (series, timestamp) of one agent's village series in
    VictoriaMetrics: {timestamp_ms: number of series}."""
    q = urllib.parse.urlencode({
        "match[]": '{__name__=~"village_.*",agent="%s"}' % agent,
        "start": "%.3f" % start_s, "end": "%.3f" % end_s})
    conn = http.client.HTTPConnection("127.0.0.1", vm_port, timeout=600)
    counts = collections.Counter()
    series = 0
    try:
        conn.request("GET", "/api/v1/export?" + q)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError("export %s: %d %s" % (agent, resp.status,
                                                     resp.read()[:300]))
        for line in resp:
            if line.strip():
                series += 1
                counts.update(set(json.loads(line)["timestamps"]))
    finally:
        conn.close()
    return counts, series


def bench_agents(args, tmp, metrics, vm_port):
    n = args.series
    feed_dir = os.path.join(tmp, "feed")
    os.makedirs(feed_dir)
    log("agents: generating %d series" % n)
    feed = Feed(n, metrics, args.seed + 1, feed_dir)
    feed.write_round(0)
    target = ScrapeTarget(feed)
    proxies = {a: CountingProxy(vm_port, a) for a in AGENTS}
    agents = make_agents(args, tmp, feed_dir, metrics, target.port, proxies)
    t_wall0 = time.time()
    mono0 = time.monotonic()
    stop_feed = threading.Event()
    res = {a: {} for a in AGENTS}
    timeline = []

    def mark(what):
        timeline.append((time.monotonic() - mono0, what))
        log("agents: " + what)

    def feeder():
        r = 1
        nxt = time.monotonic() + args.period
        while not stop_feed.wait(max(0.0, nxt - time.monotonic())):
            feed.write_round(r)
            r += 1
            nxt += args.period

    try:
        for a in AGENTS:
            agents[a].start()
        feed_thread = threading.Thread(target=feeder, daemon=True)
        feed_thread.start()
        mark("all three agents up; warm-up %d s" % args.warmup)
        time.sleep(args.warmup)

        # Steady state.
        prof = (start_perf(args, agents["villagemetricsd"].server.pid, tmp,
                           "push-steady") if args.profile else None)
        c0 = {a: cpu_seconds(agents[a].server.pid) for a in AGENTS}
        p0 = {a: proxies[a].snapshot() for a in AGENTS}
        t0 = time.monotonic()
        mark("steady window %d s" % args.steady)
        time.sleep(args.steady)
        t1 = time.monotonic()
        c1 = {a: cpu_seconds(agents[a].server.pid) for a in AGENTS}
        steady_profile = stop_perf(prof) if prof else None
        for a in AGENTS:
            cpu = c1[a] - c0[a]
            p1 = proxies[a].snapshot()
            if a == "villagemetricsd":
                ingested = sum(1 for _, _, w in feed.rounds if t0 <= w < t1)
            else:
                ingested = sum(1 for s, e in target.served[a] if t0 <= e < t1)
            samples = ingested * n
            res[a]["steady"] = {
                "seconds": t1 - t0, "rounds": ingested, "samples": samples,
                "cpu_s": cpu,
                "cpu_s_per_million": cpu / samples * 1e6 if samples else None,
                "samples_per_cpu_s": samples / cpu if cpu else None,
                "wire_bytes": p1["wire"] - p0[a]["wire"],
                "body_bytes": p1["body"] - p0[a]["body"],
                "requests": p1["requests"] - p0[a]["requests"],
                "wire_bytes_per_sample":
                    (p1["wire"] - p0[a]["wire"]) / samples if samples else None,
                "body_bytes_per_sample":
                    (p1["body"] - p0[a]["body"]) / samples if samples else None}
        res["villagemetricsd"]["steady"]["profile"] = steady_profile

        # Outage 1: the receiver goes away, comes back; the catch-up.
        mark("outage 1: receiver down %d s" % args.outage)
        for p in proxies.values():
            p.down()
        down1 = time.monotonic()
        time.sleep(args.outage)
        for p in proxies.values():
            p.up()
        up1 = time.monotonic()
        mark("outage 1: receiver up")
        # Wait for every agent's answers to pause (drained) or the deadline.
        deadline = up1 + args.catchup_deadline
        while time.monotonic() < deadline:
            time.sleep(0.5)
            done = all(
                catchup_end(proxies[a].ok_times, up1, args.gap)[1] is not None
                and time.monotonic() - catchup_end(
                    proxies[a].ok_times, up1, args.gap)[1] > args.gap
                for a in AGENTS)
            if done:
                break
        steady_rate = n / args.period
        for a in AGENTS:
            first, last = catchup_end(proxies[a].ok_times, up1, args.gap)
            backlog = (up1 - down1) * steady_rate
            c = {"outage_s": up1 - down1, "backlog_samples": backlog,
                 "first_ok_after_s": first - up1 if first else None}
            if first and last and last > first:
                c["drain_s"] = last - first
                c["drain_samples_per_s"] = backlog / (last - first)
                c["x_steady"] = c["drain_samples_per_s"] / steady_rate
            res[a]["catchup"] = c
        mark("catch-up measured; pause %d s" % args.pause)
        time.sleep(args.pause)

        # Outage 2, and kill -9 of each agent during its catch-up.
        mark("outage 2: receiver down %d s" % args.outage)
        for p in proxies.values():
            p.down()
        time.sleep(args.outage)
        killed = {}

        def killer(a):
            seen = [0]

            def cb(now):
                seen[0] += 1
                if seen[0] == args.kill_after_answers and a not in killed:
                    agents[a].kill9(now)
                    killed[a] = now
            return cb
        for a in AGENTS:
            proxies[a].on_2xx = killer(a)
        for p in proxies.values():
            p.up()
        up2 = time.monotonic()
        mark("outage 2: receiver up; kill -9 at each agent's %d. answer" %
             args.kill_after_answers)
        poll("every agent killed", lambda: len(killed) == len(AGENTS),
             args.catchup_deadline, 0.01)
        for a in AGENTS:
            proxies[a].on_2xx = None
            res[a]["kill"] = {"after_up_s": killed[a] - up2}
        for a in AGENTS:
            agents[a].server.proc.wait()
        time.sleep(args.restart_delay)
        for a in AGENTS:
            agents[a].start()
        mark("all restarted; ingest goes on %d s" % args.after)
        time.sleep(args.after)
        stop_feed.set()
        feed_thread.join()
        with feed.lock:
            feed.page = None
        t_end = time.monotonic()
        mark("ingest stopped; waiting for the agents to deliver")
        # Delivered: no request carrying samples (a body over 4 KiB; the
        # peers go on sending their `up` series) for two rounds.
        deadline = t_end + args.catchup_deadline
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = time.monotonic()
            if now - t_end > 2 * args.period + 1 and all(
                    now - proxies[a].last_big > 2 * args.period
                    for a in AGENTS):
                break
        bl.request(vm_port, "GET", "/internal/force_flush")
        time.sleep(2)  # force_flush makes data searchable within a second

        # Count what arrived against what each agent had taken in.
        mono_to_wall = t_wall0 - mono0
        for a in AGENTS:
            counts, nseries = vm_counts(vm_port, a, t_wall0 - 60,
                                        time.time() + 60)
            kill = killed[a]
            grace = args.grace
            if a == "villagemetricsd":
                took = []
                for r, ts, w in feed.rounds:
                    for s, e in agents[a].alive:
                        e = e if e is not None else float("inf")
                        if s <= w < e:
                            took.append((ts, w))
                            break
                    else:
                        # A round current when the daemon (re)started is
                        # read at start.
                        for s, _ in agents[a].alive:
                            nxt = [w2 for _, _, w2 in feed.rounds if w2 > w]
                            if w < s and (not nxt or nxt[0] > s):
                                took.append((ts, w))
                                break
                ingested = [(ts, w) for ts, w in took if w <= t_end]
                delivered_by = {ts: counts.get(ts, 0) for ts, _ in ingested}
                matched = set(delivered_by)
            else:
                ingested = []
                delivered_by = {}
                matched = set()
                for s, e in target.served.get(a, []):
                    if e > t_end:
                        continue
                    lo = int((s + mono_to_wall - 1.0) * 1000)
                    hi = int((e + mono_to_wall + 0.5) * 1000)
                    cand = [ts for ts in counts if lo <= ts <= hi]
                    best = max(cand, key=lambda t: counts[t]) if cand else None
                    ingested.append((best, e))
                    if best is not None:
                        delivered_by[best] = counts[best]
                        matched.add(best)
            acked = [(ts, w) for ts, w in ingested
                     if not (kill - grace < w <= kill)]
            inflight = [(ts, w) for ts, w in ingested
                        if kill - grace < w <= kill]

            def lost(rows):
                return sum(n - (delivered_by.get(ts, 0) if ts is not None
                                else 0) for ts, _ in rows)
            lost_acked = lost(acked)
            around_kill = [(ts, w) for ts, w in acked
                           if ts is None or delivered_by.get(ts, 0) < n]
            res[a]["delivery"] = {
                "series_in_vm": nseries,
                "ingested_samples": len(ingested) * n,
                "acked_samples": len(acked) * n,
                "lost_acked_samples": lost_acked,
                "lost_acked_pct": 100.0 * lost_acked / (len(acked) * n)
                if acked else None,
                "inflight_samples": len(inflight) * n,
                "lost_inflight_samples": lost(inflight),
                "delivered_distinct": sum(counts.values()),
                "unmatched_samples": sum(
                    v for t, v in counts.items()
                    if t not in matched and t <= (t_end + mono_to_wall) * 1000),
                "lost_rounds_s_from_kill": [
                    round(w - kill, 1) for _, w in around_kill][:40],
                "proxy": proxies[a].snapshot()}
            log("agents: %s: %d acknowledged, %d lost" %
                (a, len(acked) * n, lost_acked))
        res["_timeline"] = timeline
        res["_series"] = n
        res["_period"] = args.period
        return res
    finally:
        stop_feed.set()
        for a in agents.values():
            a.stop()
        for p in proxies.values():
            try:
                p.down()
            except (OSError, RuntimeError, AttributeError):
                pass
        target.stop()


# ---- report --------------------------------------------------------------


def machine(args):
    info = bl.machine_info(args.daemon)
    info.update(bl.victoria_metrics_versions())
    info["prometheus"] = bl.first_line([args.prometheus, "--version"])
    return info


def render(info, journal, drain, ag, args):
    L = bl.table_head("push benchmark: villagemetricsd vs vmagent and "
                      "Prometheus (agent mode), to VictoriaMetrics", info,
                      [info["vmagent"], info["prometheus"],
                       info["victoria-metrics"]])
    add = L.append
    add("1. journal append + fsync (commit_window 100ms, fsync batch): %d "
        "samples" % journal["samples"])
    add("   (20 metrics x %d villages in %d CSVs, %.1f MiB, read by the file "
        "collector;" % (journal["samples"] // 20,
                        -(-journal["samples"] // 20 // 500),
                        journal["csv_bytes"] / 1048576))
    add("   CSV parsing is included; remote_write to a closed port so "
        "nothing drains)")
    add("   wall, exec to appended=%d:  %.2f s  -> %.0f samples/s" %
        (journal["samples"], journal["wall_s"], journal["samples_per_s"]))
    add("   daemon CPU over the same:    %.2f CPU-s -> %.0f samples per "
        "CPU-s" % (journal["cpu_s"], journal["samples_per_cpu_s"]))
    add("   fsyncs %s, %.3f s in fsync; journal %.1f MiB (%.0f B/sample)" %
        (f(journal["fsyncs"], "%.0f"), journal["fsync_seconds"] or 0,
         journal["journal_bytes"] / 1048576,
         journal["journal_bytes"] / journal["samples"]))
    add("")
    add("2a. remote_write drain of that journal into VictoriaMetrics "
        "(batch_size 10000)")
    add("   daemon CPU, journaled -> lag 0:  %.2f CPU-s -> %.0f samples per "
        "CPU-s" % (drain["cpu_s"], drain["samples_per_cpu_s"]))
    add("   wall, first 2xx -> lag 0:        %.2f s -> %.0f samples/s" %
        (drain["wall_from_first_ok_s"], drain["samples_per_s"]))
    add("   on the wire: %.2f B/sample (%.2f B/sample of request bodies), "
        "%d requests; VM inserted %d rows" %
        (drain["wire_bytes_per_sample"], drain["body_bytes_per_sample"],
         drain["proxy"]["requests"], drain["vm_rows_inserted"]))
    add("   VictoriaMetrics took %.2f s of that wall time to answer (request "
        "sent -> answer:" % drain["proxy"]["receiver_s"])
    add("   every one of these series is new to it), the daemon's loop the "
        "rest")
    p = drain.get("profile")
    if p and "instructions" in p:
        add("   instructions of villagemetricsd under callgrind during the "
            "drain (its CPU figures")
        add("   above are callgrind's): %.0f per sample (%d in all); by "
            "function, its own, per" % (p["per_sample"], p["instructions"]))
        add("   sample (callgrind_annotate %s):" %
            os.path.relpath(p["data"], ROOT))
        add(p["functions"])
    elif p:
        add("   perf profile of the drain (data: %s), top symbols:" % p["data"])
        add("\n".join(p["by_symbol"].splitlines()[:25]))
    add("")
    if ag:
        n = ag["_series"]
        add("2b. steady forwarding: %d village series, new values every %d s "
            "(vmagent, Prometheus: scrape" % (n, ag["_period"]))
        add("   every %d s of a page served by the bench; villagemetricsd: "
            "the CSV rewritten every %d s)," % (ag["_period"], ag["_period"]))
        add("   the three at once, each through its own counting proxy to "
            "one VictoriaMetrics.")
        add("   CPU of the agent's process over the window; samples = rounds "
            "taken in x series.")
        add("")
        hdr = "%-16s %8s %10s %12s %14s %12s %12s" % (
            "agent", "rounds", "CPU-s", "CPU-s/M", "samples/CPU-s",
            "wire B/smp", "body B/smp")
        add(hdr)
        add("-" * len(hdr))
        for a in AGENTS:
            s = ag[a]["steady"]
            add("%-16s %8d %10.2f %12s %14s %12s %12s" % (
                a, s["rounds"], s["cpu_s"], f(s["cpu_s_per_million"], "%.2f"),
                f(s["samples_per_cpu_s"], "%.0f"),
                f(s["wire_bytes_per_sample"], "%.2f"),
                f(s["body_bytes_per_sample"], "%.2f")))
        sp = ag["villagemetricsd"]["steady"].get("profile")
        if sp:
            add("   perf profile of villagemetricsd in the window (data: %s), "
                "top symbols:" % sp["data"])
            add("\n".join(sp["by_symbol"].splitlines()[:25]))
        vmd = ag["villagemetricsd"]["steady"]["cpu_s_per_million"]
        add("")
        add("   CPU per sample, peer / villagemetricsd:  %s" % ", ".join(
            "%s %s" % (a, f(ag[a]["steady"]["cpu_s_per_million"] / vmd
                            if vmd and ag[a]["steady"]["cpu_s_per_million"]
                            else None, "%.1fx"))
            for a in AGENTS[1:]))
        add("")
        add("3. outages of the receiver (%d s each, every proxy refusing "
            "connections), ingest going on" % args.outage)
        add("   catch-up after outage 1: backlog = outage x ingest rate (%.0f "
            "samples/s); drain = first 2xx" % (n / ag["_period"]))
        add("   after the receiver returns -> last 2xx before a %.1f s pause "
            "in answers" % args.gap)
        hdr = "%-16s %14s %12s %10s %14s %10s" % (
            "agent", "backlog", "1st 2xx s", "drain s", "samples/s",
            "x ingest")
        add(hdr)
        add("-" * len(hdr))
        for a in AGENTS:
            c = ag[a]["catchup"]
            add("%-16s %14.0f %12s %10s %14s %10s" % (
                a, c["backlog_samples"], f(c["first_ok_after_s"], "%.2f"),
                f(c.get("drain_s"), "%.2f"),
                f(c.get("drain_samples_per_s"), "%.0f"),
                f(c.get("x_steady"), "%.1fx")))
        add("")
        add("   outage 2, then kill -9 of each agent at its %d. 2xx after "
            "the receiver returned," % args.kill_after_answers)
        add("   restart %.0f s later on the same disk queue; %d s more "
            "ingest; counted in VM as distinct" % (args.restart_delay,
                                                   args.after))
        add("   (series, timestamp).  acknowledged = taken in (scrape "
            "answered in full / CSV round")
        add("   read) more than %.1f s before the kill; in flight = within "
            "%.1f s before it." % (args.grace, args.grace))
        hdr = "%-16s %8s %12s %12s %10s %10s %10s %10s" % (
            "agent", "kill s", "acked", "acked lost", "lost %", "inflight",
            "if. lost", "unmatched")
        add(hdr)
        add("-" * len(hdr))
        for a in AGENTS:
            d = ag[a]["delivery"]
            add("%-16s %8.2f %12d %12d %10s %10d %10d %10d" % (
                a, ag[a]["kill"]["after_up_s"], d["acked_samples"],
                d["lost_acked_samples"], f(d["lost_acked_pct"], "%.2f"),
                d["inflight_samples"], d["lost_inflight_samples"],
                d["unmatched_samples"]))
        add("")
    add("targets (never tuned to; reported as measured):")
    per_core = drain["samples_per_cpu_s"]
    if args.instructions:
        add("  >= 2M samples/s per core encoded and sent (2a): not "
            "measured, the daemon ran under callgrind")
    else:
        add("  >= 2M samples/s per core encoded and sent (2a, samples per "
            "CPU-s of the drain):  %.0f -> %s" %
            (per_core, met(per_core >= TARGET_SAMPLES_PER_CPU_S)))
    if ag:
        v = ag["villagemetricsd"]["steady"]
        va = ag["vmagent"]["steady"]
        if v["cpu_s_per_million"] and va["cpu_s_per_million"]:
            r = v["cpu_s_per_million"] / va["cpu_s_per_million"]
            add("  <= 1/3 of vmagent's CPU per sample (2b):  %.2f vs %.2f "
                "CPU-s/M = %.2f -> %s" %
                (v["cpu_s_per_million"], va["cpu_s_per_million"], r,
                 met(r <= TARGET_CPU_VS_VMAGENT)))
        mine = v["wire_bytes_per_sample"]
        peers = [ag[a]["steady"]["wire_bytes_per_sample"] for a in AGENTS[1:]]
        if mine and all(peers):
            add("  no more bytes per sample on the wire than the peers (2b): "
                "%.2f vs %s -> %s" % (mine, ", ".join("%.2f" % p
                                                     for p in peers),
                                      met(mine <= min(peers))))
        x = ag["villagemetricsd"]["catchup"].get("x_steady")
        add("  catch-up drains >= 5x the steady ingest rate (3):  %s -> %s" %
            (f(x, "%.1fx"), met(x is not None and x >= TARGET_CATCHUP_X)))
        d = ag["villagemetricsd"]["delivery"]
        add("  zero acknowledged samples lost with kill -9 (3):  %d lost of "
            "%d -> %s" % (d["lost_acked_samples"], d["acked_samples"],
                          met(d["lost_acked_samples"] == 0)))
    else:
        add("  (2b and 3 not run: --no-agents)")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and short phases (about 2 minutes)")
    ap.add_argument("--journal-samples", type=int, default=1000000)
    ap.add_argument("--series", type=int, default=100000,
                    help="series each agent forwards in 2b and 3")
    ap.add_argument("--period", type=int, default=5,
                    help="seconds between rounds of new values (scrape "
                    "interval of the peers)")
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--steady", type=int, default=120)
    ap.add_argument("--outage", type=int, default=30)
    ap.add_argument("--pause", type=int, default=10)
    ap.add_argument("--after", type=int, default=20,
                    help="seconds of ingest after the restarts")
    ap.add_argument("--gap", type=float, default=1.0,
                    help="a pause in 2xx answers this long ends a catch-up")
    ap.add_argument("--grace", type=float, default=1.0,
                    help="what an agent took in this close before the kill "
                    "counts as in flight, not acknowledged")
    ap.add_argument("--catchup-deadline", type=int, default=120)
    ap.add_argument("--kill-after-answers", type=int, default=2)
    ap.add_argument("--restart-delay", type=float, default=2.0)
    ap.add_argument("--daemon-max-backoff", default="5s",
                    help="the daemon's remote_write max_backoff in 3 "
                    "(Prometheus' default)")
    ap.add_argument("--profile", action="store_true",
                    help="the drain (2a) and villagemetricsd's steady "
                    "window (2b) under perf record, their hotspots in the "
                    "table (their CPU figures then include perf's cost)")
    ap.add_argument("--instructions", action="store_true",
                    help="the daemon under callgrind, counting the drain "
                    "(2a) alone: its instructions per sample, in all and by "
                    "function (its CPU figures are then callgrind's); parts "
                    "1 and 2a only")
    ap.add_argument("--perf", default="/usr/bin/perf")
    ap.add_argument("--no-agents", action="store_true",
                    help="parts 1 and 2a only")
    ap.add_argument("--vmagent", default="/usr/bin/vmagent")
    ap.add_argument("--victoria-metrics", default="/usr/bin/victoria-metrics")
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    bl.add_common_args(ap, seed=2020)
    args = ap.parse_args()
    if args.instructions and args.profile:
        ap.error("--instructions and --profile each run the daemon under "
                 "their own tool: one at a time")
    args.no_agents = args.no_agents or args.instructions
    if args.quick:
        args.journal_samples = 200000
        args.series = 20000
        args.warmup, args.steady, args.outage = 10, 30, 10
        args.pause, args.after = 5, 10
    bl.require_executables("push.py", [args.daemon, args.victoria_metrics] + (
        [] if args.no_agents else [args.vmagent, args.prometheus]) + (
        [VALGRIND, CALLGRIND_CONTROL, CALLGRIND_ANNOTATE]
        if args.instructions else []),
        "run bench/run-push.sh to build the daemon")
    metrics = ex.read_catalog(20)
    info = machine(args)
    tmp = tempfile.mkdtemp(prefix="vg-bench-push-")
    vm = None
    began = time.monotonic()
    try:
        vm, vm_port = bl.start_victoria_metrics(
            args.victoria_metrics, os.path.join(tmp, "vm"),
            os.path.join(tmp, "victoria-metrics.log"))
        journal, drain = bench_journal(args, tmp, metrics, vm_port)
        ag = None if args.no_agents else bench_agents(args, tmp, metrics,
                                                      vm_port)
        vm.check_alive()
    finally:
        if vm:
            vm.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    info["runtime_s"] = round(time.monotonic() - began)
    base = bl.write_results(args.results, "push",
                            render(info, journal, drain, ag, args),
                            {"machine": info, "args": vars(args),
                             "journal": journal, "drain": drain, "agents": ag})
    log("results: %s.txt, %s.json (%d s)" % (base, base, info["runtime_s"]))


if __name__ == "__main__":
    main()
