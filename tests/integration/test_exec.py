"""The exec collector end to end: the real daemon runs scripts written
here, and /metrics (and a real Prometheus) shows exactly what they
printed."""

import json
import os
import shutil
import subprocess
import unittest
import urllib.parse
import urllib.request

from harness import (DATA, Daemon, IntegrationTest, Prometheus, find,
                     parse_metrics, wait_for)


def write_script(path, body):
    with open(path, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


class ExecTest(IntegrationTest):
    def daemon(self, collector):
        d = Daemon({"labels": {"city": "Tongren"},
                    "collectors": [collector],
                    "exporters": [{"type": "prometheus"}]}, self.tmp)
        self.stops.append(d.stop)
        return d


class TestLineProtocolScript(ExecTest):
    def test_exact_values_in_metrics(self):
        # Every run prints the run's number as a counter, so that /metrics
        # shows a run's output as a whole, replaced by the next one's.
        write_script(os.path.join(self.tmp, "tanks.sh"),
                     'n=$(cat runs 2>/dev/null || echo 0); n=$((n+1)); '
                     'echo $n > runs\n'
                     'echo "water_tank,village=Bamu,tank=No.\\ 1 '
                     'level_ratio=0.59,volume_m3=118i,pump_on=true '
                     '1577829600000000000"\n'
                     'echo "water_tank,village=Nisao level_ratio=0.766"\n'
                     'echo "script_runs,village=Bamu value=$n"\n'
                     'echo "checked ${MODEM:-?} in $(pwd)" >&2\n')
        d = self.daemon({"type": "exec", "name": "tanks",
                         "command": ["./tanks.sh"], "format": "influx",
                         "dir": ".", "env": {"MODEM": "E8372h"},
                         "interval": "300ms"}).start()
        m = d.metrics()
        self.assertEqual(
            find(m, "water_tank_level_ratio", village="Bamu", tank="No. 1",
                 city="Tongren"), 0.59)
        self.assertEqual(find(m, "water_tank_volume_m3", village="Bamu"), 118)
        self.assertEqual(find(m, "water_tank_pump_on", village="Bamu"), 1)
        self.assertEqual(find(m, "water_tank_level_ratio", village="Nisao"), 0.766)
        # A later run's output replaces the earlier's.
        wait_for("a third run", lambda: find(d.metrics(), "script_runs",
                                             village="Bamu") >= 3)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="tanks"), 1)
        self.assertEqual(find(m, "villagemetrics_collector_errors_total",
                              collector="tanks"), 0)
        self.assertEqual(find(m, "villagemetrics_collector_skipped_runs_total",
                              collector="tanks"), 0)
        self.assertIn("collector tanks: stderr: checked E8372h in %s\n" % self.tmp,
                      d.logs())
        # Exact: these series and no others from the script.
        ours = sorted(n for (n, _) in m if not n.startswith(("villagemetrics_",
                                                              "process_")))
        self.assertEqual(ours, ["script_runs", "water_tank_level_ratio",
                                "water_tank_level_ratio", "water_tank_pump_on",
                                "water_tank_volume_m3"])

    def test_a_failing_run_keeps_the_last_good_values(self):
        write_script(os.path.join(self.tmp, "s.sh"),
                     'if [ -e fail ]; then echo "m value=2"; '
                     'echo "modem not answering" >&2; exit 4; fi\n'
                     'echo "m value=1"\n')
        d = self.daemon({"type": "exec", "name": "s", "command": ["./s.sh"],
                         "format": "influx", "dir": ".",
                         "interval": "200ms"}).start()
        self.assertEqual(find(d.metrics(), "m"), 1)
        open(os.path.join(self.tmp, "fail"), "w").close()
        wait_for("an error", lambda: find(
            d.metrics(), "villagemetrics_collector_errors_total", collector="s") >= 1)
        m = d.metrics()
        self.assertEqual(find(m, "m"), 1)
        self.assertEqual(find(m, "villagemetrics_collector_up", collector="s"), 0)
        status = d.status()
        [c] = [c for c in status["collectors"] if c["name"] == "s"]
        self.assertEqual(c["last_error"],
                         '"%s/s.sh" exited with status 4 (stderr: modem not '
                         'answering)' % self.tmp)


class TestSkippedRuns(ExecTest):
    def test_a_slow_script_is_never_run_twice_at_once(self):
        # Each run takes about a second; one is due every 250 ms.
        write_script(os.path.join(self.tmp, "slow.sh"),
                     'echo start >> log\nsleep 1\necho end >> log\n'
                     'echo "m value=1"\n')
        d = self.daemon({"type": "exec", "name": "slow",
                         "command": ["./slow.sh"], "format": "influx",
                         "dir": ".", "interval": "250ms"}).start()
        # Three runs ended, by the script's own log: the counter counts a
        # run when it starts, before a loaded machine has run a line of it.
        log = os.path.join(self.tmp, "log")
        wait_for("three runs", lambda: os.path.exists(log) and open(
            log).read().split().count("end") >= 3, timeout=30)
        self.assertGreaterEqual(find(
            d.metrics(), "villagemetrics_collector_runs_total",
            collector="slow"), 3)
        d.stop()
        with open(os.path.join(self.tmp, "log")) as f:
            lines = f.read().split()
        # Strictly one after the other: start, end, start, end ... and the
        # run that stopping the daemon killed has no end.
        runs = (len(lines) + 1) // 2
        self.assertGreaterEqual(runs, 3)
        self.assertEqual(lines, (["start", "end"] * runs)[:len(lines)])

    def test_skipped_runs_are_counted(self):
        write_script(os.path.join(self.tmp, "slow.sh"),
                     'sleep 1\necho "m value=1"\n')
        d = self.daemon({"type": "exec", "name": "slow",
                         "command": ["./slow.sh"], "format": "influx",
                         "dir": ".", "interval": "300ms"}).start()
        m = wait_for("two runs", lambda: (lambda m: m if find(
            m, "villagemetrics_collector_runs_total", collector="slow") >= 2
            else None)(d.metrics()), timeout=30)
        runs = find(m, "villagemetrics_collector_runs_total", collector="slow")
        skipped = find(m, "villagemetrics_collector_skipped_runs_total",
                       collector="slow")
        # Slots at 300, 600, 900 ms of a run lasting ~1 s are skipped: three
        # per run that finished (more on a slow machine, never fewer).
        self.assertGreaterEqual(skipped, 3 * (runs - 1))
        # Logged once, however many were skipped within the minute.
        self.assertEqual(d.logs().count(
            "collector slow: still running when the next run was due; that "
            "run was skipped (interval 0.3s)\n"), 1)
        [c] = [c for c in d.status()["collectors"] if c["name"] == "slow"]
        self.assertGreaterEqual(c["skipped_runs"], skipped)


class TestExporterScript(ExecTest):
    """A script that prints another exporter's page: its HELP and TYPE
    survive onto our /metrics, which promtool and Prometheus read."""

    def setUp(self):
        super().setUp()
        shutil.copy(os.path.join(DATA, "promtext", "modem-exporter.prom"),
                    os.path.join(self.tmp, "modem.prom"))
        write_script(os.path.join(self.tmp, "modem.sh"), "cat modem.prom\n")
        self.d = self.daemon({"type": "exec", "name": "modem",
                              "command": ["./modem.sh"], "format": "prometheus",
                              "dir": ".", "interval": "1s"}).start()

    def test_help_and_type_are_kept_and_promtool_agrees(self):
        text = self.d.metrics_text()
        self.assertIn("# HELP modem_probe_duration_seconds How long a probe of "
                      "the modem's web interface took.\n"
                      "# TYPE modem_probe_duration_seconds histogram\n"
                      'modem_probe_duration_seconds_bucket{city="Tongren",'
                      'le="0.05"} 12\n', text)
        self.assertIn("# HELP modem_last_sms_timestamp_seconds When the last "
                      "SMS arrived.\\nZero if none since boot.\n", text)
        m = parse_metrics(text)
        self.assertEqual(find(m, "modem_signal_rsrp_dbm", band="B41"), -104.5)
        self.assertEqual(find(m, "modem_rx_bytes_total"), 83886080)
        self.assertEqual(find(m, "go_gc_duration_seconds", quantile="0.5"), 5.2e-05)
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, b""))

    def test_prometheus_scrapes_it_with_its_metadata(self):
        prom = Prometheus(self.tmp, [self.d.port])
        try:
            wait_for("a scrape", lambda: prom.scalar(
                'modem_probe_duration_seconds_count{job="villagemetrics"}') == 61)
            self.assertEqual(prom.scalar('up{job="villagemetrics"}'), 1)
            # The median (rank 30.5 of 61) lies in (0.05, 0.1], which holds 28.
            self.assertAlmostEqual(prom.scalar(
                "histogram_quantile(0.5, modem_probe_duration_seconds_bucket)"),
                0.05 + 0.05 * (30.5 - 12) / 28)
            q = urllib.parse.urlencode({"metric": "modem_probe_duration_seconds"})
            meta = wait_for("metadata", lambda: self._metadata(prom, q))
            self.assertEqual(meta, [{"type": "histogram",
                                     "help": "How long a probe of the modem's "
                                             "web interface took.",
                                     "unit": ""}])
        finally:
            prom.stop()

    @staticmethod
    def _metadata(prom, q):
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/metadata?%s"
                                    % (prom.port, q), timeout=10) as r:
            body = json.load(r)
        return body["data"].get("modem_probe_duration_seconds")


if __name__ == "__main__":
    unittest.main()
