"""The daemon as a systemd service: the watchdog pings, what `cmake
--install` puts where, and the unit file as systemd-analyze sees it.

No systemd runs here: the tests own the notify socket, and look at the unit
offline."""

import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
import unittest

from harness import (BINARY, DATA, ROOT, SLOW, Daemon, TempDir, find, free_port,
                     wait_for)

# The exposure `systemd-analyze security` may find, at most (issue #6).
MAX_EXPOSURE = 2.0


class NotifySocket:
    """The AF_UNIX datagram socket systemd would own; a thread stamps each
    message with its arrival time, so that gaps between pings are measured
    while the test does other things."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (monotonic time, text)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return  # closed
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def times(self, text):
        with self._lock:
            return [t for t, m in self.messages if m == text]

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)


class TestWatchdog(unittest.TestCase):
    def test_pings_go_on_while_a_source_fails_and_a_sink_is_down(self):
        # A remote outage on both sides: a collector whose folder is gone
        # (failing, backing off to 4 s, twice the watchdog timeout) and a
        # push exporter whose receiver does not answer.  systemd must not
        # restart the daemon for that: every gap between pings stays under
        # WATCHDOG_USEC.
        watchdog_s = 2.0
        max_backoff_s = 4
        with TempDir() as tmp:
            os.makedirs(os.path.join(tmp, "data"))
            shutil.copy(os.path.join(DATA, "villages.csv"),
                        os.path.join(tmp, "data", "villages.csv"))
            notify = NotifySocket(os.path.join(tmp, "notify.sock"))
            d = Daemon({
                "collectors": [
                    {"type": "file", "name": "villages", "path": "data/*.csv",
                     "labels": {"village": "village"},
                     "metrics": {"village_population": "population"}},
                    {"type": "file", "name": "gone", "path": "gone/*.csv",
                     "interval": "250ms", "max_backoff": "%ds" % max_backoff_s,
                     "metrics": {"village_population": "population"}},
                    # Never scheduled, and never a reason to withhold.
                    {"type": "listen", "name": "push"}],
                "exporters": [
                    {"type": "prometheus"},
                    {"type": "remote_write", "name": "down",
                     "url": "http://127.0.0.1:%d/api/v1/write" % free_port(),
                     "min_backoff": "100ms", "max_backoff": "1s"}]},
                tmp, env={"NOTIFY_SOCKET": notify.path,
                          "WATCHDOG_USEC": str(int(watchdog_s * 1e6))})
            try:
                d.start()
                wait_for("READY=1", lambda: notify.times("READY=1"))
                # The failing collector reaches its longest wait, then runs
                # (and fails) once more after it: its timer fired after a
                # wait longer than the watchdog timeout.
                errors = wait_for("the longest backoff", lambda: (
                    find(d.metrics(), "villagemetrics_collector_interval_seconds",
                         collector="gone") == max_backoff_s and
                    find(d.metrics(), "villagemetrics_collector_errors_total",
                         collector="gone")))
                wait_for("one more run after the longest backoff", lambda: find(
                    d.metrics(), "villagemetrics_collector_errors_total",
                    collector="gone") > errors, timeout=3 * max_backoff_s)
                m = d.metrics()
                self.assertGreater(find(m, "villagemetrics_exporter_backoff_seconds",
                                        exporter="down"), 0)
                self.assertEqual(find(m, "villagemetrics_exporter_sent_samples_total",
                                      exporter="down"), 0)
                self.assertEqual(find(m, "villagemetrics_collector_up",
                                      collector="villages"), 1)
                stopped = time.monotonic()
                self.assertEqual(d.stop()[0], 0)
            finally:
                d.stop()
                notify.close()
            pings = [t for t in notify.times("WATCHDOG=1") if t <= stopped]
            # The first ping comes at once, then one every watchdog_s / 2
            # for at least 2 * max_backoff_s.
            self.assertGreaterEqual(len(pings), 2 * max_backoff_s / (watchdog_s / 2))
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            gaps.append(stopped - pings[-1])
            self.assertLess(max(gaps), watchdog_s * SLOW, gaps)


def build_dir():
    """The CMake build tree of the binary under test, or None."""
    d = os.path.dirname(os.path.abspath(BINARY))
    return d if os.path.exists(os.path.join(d, "CMakeCache.txt")) else None


def cache_value(build, name):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key.partition(":")[0] == name:
                return value
    raise KeyError(name)


class Installed:
    """`cmake --install` of the binary's build tree into a temporary
    DESTDIR, with the prefix it was configured with."""

    def __init__(self, root):
        self.root = root
        self.build = build_dir()
        self.prefix = cache_value(self.build, "CMAKE_INSTALL_PREFIX")
        r = subprocess.run(["cmake", "--install", self.build],
                           env=dict(os.environ, DESTDIR=root),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        self.unit = self.path(self.prefix, "lib/systemd/system/villagemetricsd.service")
        with open(self.unit) as f:
            self.unit_text = f.read()
        # Where the unit says the binary and the configuration are.
        m = re.search(r"^ExecStart=(\S+) --config (\S+)$", self.unit_text, re.M)
        assert m, self.unit_text
        self.exec_start, self.config = m.group(1), m.group(2)

    def path(self, *parts):
        """A path of the installed system, inside DESTDIR."""
        return os.path.join(self.root, *[p.lstrip("/") for p in parts])


@unittest.skipUnless(build_dir(), "VG_BINARY is not in a CMake build tree")
class TestInstall(unittest.TestCase):
    def test_files_go_to_their_places(self):
        with TempDir() as tmp:
            inst = Installed(tmp)
            p = inst.prefix
            self.assertEqual(inst.exec_start, os.path.join(p, "sbin", "villagemetricsd"))
            binary = inst.path(inst.exec_start)
            self.assertTrue(os.stat(binary).st_mode & stat.S_IXOTH)
            # /etc for the prefix /usr, PREFIX/etc otherwise.
            etc = "/etc" if p == "/usr" else os.path.join(p, "etc")
            self.assertEqual(inst.config,
                             os.path.join(etc, "villagemetrics", "villagemetrics.json"))
            self.assertTrue(os.path.isdir(inst.path(etc, "villagemetrics", "conf.d")))
            self.assertEqual(os.listdir(inst.path(etc, "villagemetrics", "conf.d")), [])
            for f in ("share/man/man8/villagemetricsd.8.gz",
                      "share/man/man5/villagemetrics.json.5.gz",
                      "share/doc/villagemetricsd/docs/operations.md",
                      "share/doc/villagemetricsd/docs/configuration.md",
                      "share/doc/villagemetricsd/examples/demo.json"):
                self.assertTrue(os.path.isfile(inst.path(p, f)), f)
            # Every link of an installed document leads to an installed
            # file: the documents are laid out as in the source tree.
            doc = inst.path(p, "share/doc/villagemetricsd")
            broken = []
            for folder, _, files in os.walk(doc):
                for name in files:
                    if not name.endswith(".md"):
                        continue
                    with open(os.path.join(folder, name), encoding="utf-8") as fh:
                        text = fh.read()
                    for target in re.findall(r"\]\(([^)#\s]+)", text):
                        if "://" in target:
                            continue
                        if not os.path.exists(os.path.join(folder, target)):
                            broken.append("%s -> %s" % (
                                os.path.relpath(os.path.join(folder, name), doc),
                                target))
            self.assertEqual(broken, [])
            # Installed whole, where the source tree has them.
            for d in ("dashboards", "dashboards-influxdb", "rules"):
                if os.path.isdir(os.path.join(ROOT, d)):
                    self.assertTrue(os.path.isdir(
                        inst.path(p, "share/villagemetrics", d)), d)
            # The binary looks for the configuration where it was put.
            r = subprocess.run([binary, "--help"], capture_output=True, text=True)
            self.assertIn("(default %s)" % inst.config, r.stdout)
            r = subprocess.run([binary, "--check-config", "-c", inst.path(inst.config)],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration OK (1 collectors, 1 exporters)", r.stdout)

    def test_reinstall_keeps_the_configuration(self):
        with TempDir() as tmp:
            inst = Installed(tmp)
            config = inst.path(inst.config)
            with open(config, "a") as f:
                f.write("// the administrator's edit\n")
            with open(config) as f:
                edited = f.read()
            Installed(tmp)
            with open(config) as f:
                self.assertEqual(f.read(), edited)
            with open(os.path.join(ROOT, "packaging", "villagemetrics.json")) as f:
                default = f.read()
            with open(config + ".default") as f:
                self.assertEqual(f.read(), default)


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
@unittest.skipUnless(build_dir(), "VG_BINARY is not in a CMake build tree")
class TestUnitFile(unittest.TestCase):
    def test_verify_is_clean(self):
        with TempDir() as tmp:
            inst = Installed(tmp)
            # verify checks that ExecStart= exists: point it into DESTDIR,
            # and change nothing else.
            unit = os.path.join(tmp, "villagemetricsd.service")
            with open(unit, "w") as f:
                f.write(inst.unit_text.replace(
                    "ExecStart=" + inst.exec_start,
                    "ExecStart=" + inst.path(inst.exec_start)))
            r = subprocess.run(["systemd-analyze", "verify", unit],
                               capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_memory_is_capped_above_the_push_budget(self):
        """MemoryMax leaves the default max_memory of the push endpoints
        (512 MiB) room beside the store and the journal's appends."""
        with TempDir() as tmp:
            inst = Installed(tmp)
            m = re.search(r"^MemoryMax=(\d+)([KMG])$", inst.unit_text, re.M)
            self.assertTrue(m, "no MemoryMax= in the unit")
            mib = int(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024}[m.group(2)]
            self.assertGreaterEqual(mib, 512 + 1024)

    def test_security_exposure(self):
        with TempDir() as tmp:
            inst = Installed(tmp)
            r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                                "--no-pager", inst.unit],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            m = re.search(r"Overall exposure level for villagemetricsd\.service: "
                          r"(\d+\.\d+)", r.stdout)
            self.assertTrue(m, r.stdout)
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)


if __name__ == "__main__":
    unittest.main()
