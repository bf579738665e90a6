"""bench/benchlib.py - what the bench drivers share: processes, HTTP, the report.

Owns: free loopback ports; starting a process and stopping it by its own
PID (Server), the daemon with the environment its systemd unit gives it
(daemon_environment); polling for readiness instead of sleeping (wait_for,
poll); one HTTP request on a fresh connection; the CPU-seconds and resident
memory of a PID, from /proc; the daemon's status document and a metric of
a /metrics page; VictoriaMetrics as the receiver (started, its counters,
its version); the machine description that heads every table; and writing
a table and its JSON document to bench/results/.

Must not: talk to anything but 127.0.0.1, leave a process running (a
Server is stopped by its PID, and start_server stops one that never gets
ready), or know what any one benchmark measures: the workloads and the
tables are the drivers' (exposition.py, push.py, pull.py, intake.py).

Python 3 standard library only.
"""

import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


# ---- processes -----------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    """(VmRSS, VmHWM) of a process, in bytes."""
    got = {}
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                got[key] = int(rest.split()[0]) * 1024
    return got["VmRSS"], got["VmHWM"]


def wchar(pid):
    """Bytes a process handed to write(2) and its kind, from /proc/PID/io:
    its files' writes (sockets written with send(2), as curl and
    libmicrohttpd do, are not counted)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/%d/io" % pid)


def cpu_seconds(pid):
    """utime + stime of every thread of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


UNIT = os.path.join(ROOT, "systemd", "villagemetricsd.service.in")


def unit_environment():
    """The unit's Environment= settings that mean the same outside systemd
    (no %-specifier), {name: value}: the daemon is measured as it runs
    installed."""
    env = {}
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"Environment=([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$",
                         line)
            if m and "%" not in m.group(2):
                env[m.group(1)] = m.group(2)
    return env


def daemon_environment():
    """The environment the bench starts the daemon with: the bench's own
    plus the unit's settings (unit_environment), except those the bench's
    environment sets already, so that `GLIBC_TUNABLES= bench/run-...`
    measures without the unit's value."""
    env = dict(os.environ)
    for name, value in unit_environment().items():
        env.setdefault(name, value)
    return env


class Server:
    """A process started by the bench; stop() ends it by its PID.  env:
    its environment (None: the bench's)."""

    def __init__(self, argv, logpath, env=None):
        self.logpath = logpath
        self.log = open(logpath, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("server %d exited with %d; log:\n%s" %
                               (self.pid, self.proc.returncode,
                                self.tail()))

    def tail(self):
        self.log.flush()
        with open(self.logpath, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_server(argv, logpath, port, path, deadline_s, what, env=None):
    """Starts a Server and waits until GET path answers 200 on port;
    returns (server, seconds from exec to ready).  A server that never gets
    ready is stopped before the error is raised."""
    server = Server(argv, logpath, env)
    try:
        return server, wait_for(server, port, path, deadline_s, what)
    except BaseException:
        server.stop()
        raise


def write_config(path, doc):
    """A configuration file as JSON."""
    with open(path, "w") as f:
        json.dump(doc, f)


def require_executables(prog, paths, hint):
    for path in paths:
        if not os.access(path, os.X_OK):
            sys.exit("%s: %s is not executable (%s)" % (prog, path, hint))


# ---- HTTP and polling ----------------------------------------------------


def request(port, method, path, headers=None, body=None, timeout=120):
    """One request on a fresh connection; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), data
    finally:
        conn.close()


def get_json(port, path):
    status, _, body = request(port, "GET", path, timeout=30)
    if status != 200:
        raise RuntimeError("GET %s: %d" % (path, status))
    return json.loads(body)


def wait_for(server, port, path, deadline_s, what):
    """Polls until GET path answers 200; the poll interval grows from 5 ms
    so a fast server is not made to look slow.  Returns the seconds it
    took."""
    start = time.monotonic()
    delay = 0.005
    while True:
        server.check_alive()
        try:
            status, _, _ = request(port, "GET", path, timeout=30)
            if status == 200:
                return time.monotonic() - start
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        if time.monotonic() - start > deadline_s:
            raise RuntimeError("%s: %s not 200 after %.0f s" %
                               (what, path, deadline_s))
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def poll(what, cond, deadline_s, every=0.05):
    """cond() until it is true; returns what it returned."""
    start = time.monotonic()
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() - start > deadline_s:
            raise RuntimeError("%s: not reached in %.0f s" % (what,
                                                               deadline_s))
        time.sleep(every)


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# ---- villagemetricsd and VictoriaMetrics ---------------------------------


def self_metric(body, name):
    """The value of an unlabelled metric on a /metrics page, or None."""
    m = re.search(rb"^" + name.encode() + rb" (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def daemon_status(port):
    return get_json(port, "/api/v1/status")


def exporter_status(st, name="vm"):
    for e in st.get("exporters", []):
        if e.get("name") == name:
            return e
    raise RuntimeError("no exporter %s in /api/v1/status" % name)


def vm_metric(port, name):
    """Sum of every sample of one metric on VictoriaMetrics' /metrics."""
    _, _, body = request(port, "GET", "/metrics", timeout=30)
    total = 0.0
    for m in re.finditer(rb"^" + re.escape(name.encode()) +
                         rb"(?:\{[^}]*\})? (\S+)$", body, re.M):
        total += float(m.group(1))
    return total


def start_victoria_metrics(binary, data_path, logpath, extra=(),
                           what="victoria-metrics"):
    """VictoriaMetrics on a free port, keeping everything (a year) and
    answering queries with the latest samples at once; returns (server,
    port) once it is healthy."""
    port = free_port()
    server, _ = start_server(
        [binary, "-httpListenAddr=127.0.0.1:%d" % port,
         "-storageDataPath=" + data_path, "-retentionPeriod=1y",
         "-search.latencyOffset=0s", "-search.disableCache",
         "-loggerLevel=WARN"] + list(extra),
        logpath, port, "/health", 60, what)
    return server, port


# ---- the report ----------------------------------------------------------


def first_line(argv):
    """The first line a program prints (a version), or why there is none."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30)
        lines = (out.stdout + out.stderr).strip().splitlines()
        return lines[0] if lines else "unknown"
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unknown (%s)" % e


def dpkg_version(pkg):
    """The installed version of a Debian package (some binaries, such as
    Debian's VictoriaMetrics, print an empty -version)."""
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                              capture_output=True, text=True,
                              timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def victoria_metrics_versions():
    deb = "victoria-metrics %s (Debian)" % dpkg_version("victoria-metrics")
    return {"vmagent": "vmagent from " + deb, "victoria-metrics": deb}


def machine_info(daemon, peers=None):
    """The machine, the source the daemon was built from, its version and
    each peer's ({name: argv that prints its version}), and the command:
    the head of every table."""
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])

    def git(*argv):
        try:
            return subprocess.run(("git", "-C", ROOT) + argv,
                                  capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    # Read-only: the commit the daemon was built from, and whether its
    # sources differed from it (others may be editing the tree).
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "daemon", "collectors",
           "exporters", "CMakeLists.txt"):
        rev += " + uncommitted changes in the daemon's sources"
    env = daemon_environment()
    info = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": rev,
        "host": platform.node(),
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 1048576, 1),
        "loadavg_at_start": load,
        "python": platform.python_version(),
        "villagemetricsd": first_line([daemon, "--version"]),
        "daemon_env": {name: env[name] for name in unit_environment()},
    }
    for name, argv in (peers or {}).items():
        info[name] = first_line(argv)
    info["command"] = os.environ.get("BENCH_COMMAND") or " ".join(
        [sys.executable] + sys.argv)
    return info


def table_head(title, info, peers):
    """The first lines of every table: what ran, on which machine, from
    which source, beside which peers (their versions and settings)."""
    return [title, "",
            "machine   %s, %d CPUs, %.1f GiB, kernel %s" %
            (info["cpu"], info["nproc"], info["mem_gib"], info["kernel"]),
            "daemon    %s, git %s" % (info["villagemetricsd"], info["source"]),
            "          environment from its systemd unit: %s" %
            (" ".join("%s=%s" % kv for kv in info["daemon_env"].items())
             or "none"),
            "%-10s%s" % ("peer" if len(peers) == 1 else "peers",
                         " | ".join(peers)),
            "python    %s   date %s   load average at start %s" %
            (info["python"], info["date"], info["loadavg_at_start"]),
            "command   %s" % info["command"], ""]


def f(x, fmt="%.1f"):
    return fmt % x if x is not None else "-"


def met(ok):
    return "MET" if ok else "NOT MET"


def add_common_args(ap, seed):
    """--daemon, --results and --seed, as every driver takes them."""
    ap.add_argument("--daemon", default=os.path.join(ROOT, "build-bench",
                                                     "villagemetricsd"))
    ap.add_argument("--results", default=os.path.join(ROOT, "bench",
                                                      "results"))
    ap.add_argument("--seed", type=int, default=seed)


def write_results(results_dir, name, text, doc):
    """Prints the table, and writes it and its JSON document to
    results_dir/NAME-YYYYmmdd-HHMMSS.{txt,json}; returns that path without
    the suffix."""
    sys.stdout.write(text)
    os.makedirs(results_dir, exist_ok=True)
    base = os.path.join(results_dir,
                        name + "-" + time.strftime("%Y%m%d-%H%M%S"))
    with open(base + ".txt", "w") as fh:
        fh.write(text)
    with open(base + ".json", "w") as fh:
        json.dump(doc, fh, indent=1, default=str)
    return base
