"""Failures that show, and receipts for the people who drop files.

The daemon runs as the unprivileged user `nobody` (through setpriv when
the tests run as root, whom permissions do not stop), so that a file
without read permission truly fails with EACCES: the collector is
failing, up is 0, the status says which path and why, and the file's
series stay for stale_after and then go.  A file configured by name that
is missing fails the same way.  Every file read has a receipt -- counts,
villages matched and unmatched, every bad cell by village -- on
/api/v1/status, on the status page and, configured so, as a text file
beside it.  --check-config refuses invalid patterns and misspelt
indicators with their place in the file, and checks the paths as the
service's user.
"""

import html.parser
import json
import os
import pwd
import re
import subprocess
import unittest

from harness import (BINARY, SLOW, WRAPPER, Daemon, IntegrationTest, find,
                     http_get, wait_for)

NOBODY = 65534
AS_NOBODY = (["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
              "--clear-groups"] if os.geteuid() == 0 else [])

GOOD = "village,population,households\nBamu,3318,800\nWenjia,1200,300\n"
BAD = ("village,population,households\n"
       "Bamu,3320,801\n"
       "Nisao,x,y\n"
       ",5,1\n"
       "Yangliu,-2,3\n")


class DaemonAsNobody(Daemon):
    """The daemon as the user nobody, as a service runs as its own user."""

    def start(self, wait_ready=True, args=()):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            AS_NOBODY + WRAPPER + [BINARY, "--config", self.config_path] +
            list(args), stdout=self.log, stderr=subprocess.STDOUT,
            env=self.env, stdin=subprocess.DEVNULL)
        if wait_ready:
            wait_for("daemon ready", self._ready)
        return self


def page_text(html_text):
    """The page's text, tags removed, whitespace folded."""
    class Text(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []

        def handle_data(self, data):
            self.parts.append(data)
    p = Text()
    p.feed(html_text)
    return re.sub(r"\s+", " ", " ".join(p.parts))


class TestFailuresAndReceipts(IntegrationTest):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)
        self.inbox = os.path.join(self.tmp, "in")
        os.makedirs(self.inbox)
        state = os.path.join(self.tmp, "state")
        os.makedirs(state)
        if os.geteuid() == 0:
            os.chown(self.inbox, NOBODY, NOBODY)
            os.chown(state, NOBODY, NOBODY)
        for name, text in (("a.csv", GOOD), ("b.csv", BAD)):
            self.write(name, text)

    def write(self, name, text):
        path = os.path.join(self.inbox, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", 0o644)
        os.rename(path + ".tmp", path)
        return path

    def daemon(self, extra_collectors=()):
        cfg = {
            "stale_after": "4s",
            "collectors": [{
                "type": "file", "name": "share",
                "path": self.inbox + "/*.csv", "interval": "1s",
                "max_backoff": "1s", "receipts": "alongside",
                "labels": {"village": "village"},
                "metrics": {"village_population": "population",
                            "village_households": "households"},
            }] + list(extra_collectors),
            "exporters": [{"type": "prometheus"}],
        }
        d = DaemonAsNobody(cfg, self.tmp)
        self.stops.append(d.stop)
        d.start()
        return d

    def collector(self, d, name="share"):
        return [c for c in d.status()["collectors"] if c["name"] == name][0]

    def test_receipts_on_status_page_and_beside_the_file(self):
        d = self.daemon()
        c = self.collector(d)
        self.assertEqual(c["state"], "ok")
        files = {f["path"]: f for f in c["files"]}
        self.assertEqual(sorted(files), [self.inbox + "/a.csv",
                                         self.inbox + "/b.csv"])
        b = files[self.inbox + "/b.csv"]
        self.assertEqual(b["state"], "read")
        r = b["receipt"]
        self.assertEqual(r["rows"], 4)
        self.assertEqual((r["rows_accepted"], r["rows_rejected"]), (1, 3))
        self.assertEqual((r["values_accepted"], r["values_rejected"]), (3, 4))
        self.assertEqual((r["villages_matched"], r["villages_unmatched"]), (2, 1))
        self.assertEqual(r["unmatched_villages"], ["Nisao"])
        self.assertEqual(r["rejections"], [
            {"village": "Nisao", "cell": "3:2 (population)",
             "reason": "not_a_number", "detail": '"x" is not a number'},
            {"village": "Nisao", "cell": "3:3 (households)",
             "reason": "not_a_number", "detail": '"y" is not a number'},
            {"village": None, "cell": "4:1 (village)", "reason": "bad_label",
             "detail": 'row has no value for label "village"'},
            {"village": "Yangliu", "cell": "5:2 (population)",
             "reason": "out_of_range",
             "detail": "village_population: -2 is below 0"},
        ])
        self.assertEqual(r["more_rejections"], 0)
        # Every rejection names its village in the recent list too.
        villages = [x["village"] for x in c["recent_rejections"]]
        self.assertEqual(villages, ["Nisao", "Nisao", None, "Yangliu"])

        # The receipt file, for whoever dropped b.csv on the share.
        path = self.inbox + "/b.csv.receipt.txt"
        text = wait_for("b.csv's receipt", lambda: os.path.exists(path) and
                        open(path, encoding="utf-8").read())
        lines = text.splitlines()
        self.assertRegex(lines[1], r"^Read at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        del lines[1]
        self.assertEqual(lines, [
            "Receipt for %s/b.csv" % self.inbox,
            "Rows: 4 (1 accepted, 3 with rejected cells)",
            "Values: 3 accepted, 4 rejected",
            "Villages: 2 matched, 1 unmatched",
            "Unmatched villages: Nisao",
            "Rejected cells:",
            '- Nisao, at 3:2 (population): "x" is not a number',
            '- Nisao, at 3:3 (households): "y" is not a number',
            '- (no village), at 4:1 (village): row has no value for label '
            '"village"',
            "- Yangliu, at 5:2 (population): village_population: -2 is "
            "below 0",
        ])
        good = open(self.inbox + "/a.csv.receipt.txt", encoding="utf-8").read()
        self.assertIn("Rows: 2 (2 accepted, 0 with rejected cells)\n", good)
        # Receipts are never read as input, and the daemon made no other
        # file in the folder.
        self.assertEqual(sorted(os.listdir(self.inbox)),
                         ["a.csv", "a.csv.receipt.txt", "b.csv",
                          "b.csv.receipt.txt"])

        # The status page: the village of each rejection, and the files.
        status, _, body = http_get(d.port, "/")
        self.assertEqual(status, 200)
        text = page_text(body.decode("utf-8"))
        self.assertIn("Files and their receipts", text)
        self.assertIn("villages 2 matched, 1 unmatched (Nisao)", text)
        self.assertIn('Nisao 3:2 (population) : "x" is not a number', text)
        self.assertIn('Yangliu 5:2 (population) : village_population: -2 is '
                      'below 0', text)
        self.assertRegex(text, r"b\.csv:3:2 \(population\) Nisao")

    def test_unreadable_file_fails_keeps_then_drops_its_series(self):
        d = self.daemon()
        m = d.metrics()
        self.assertEqual(find(m, "village_population", village="Wenjia"), 1200)
        path = self.inbox + "/a.csv"
        os.chmod(path, 0)
        c = wait_for("share failing", lambda: (lambda c: c["state"] == "failing"
                                                and c)(self.collector(d)))
        self.assertEqual(c["last_error"],
                         "cannot open %s: Permission denied" % path)
        m = d.metrics()
        self.assertEqual(find(m, "villagemetrics_collector_up",
                              collector="share"), 0)
        files = {f["path"]: f for f in c["files"]}
        self.assertEqual(files[path]["state"], "unreadable")
        self.assertEqual(files[path]["error"],
                         "cannot open %s: Permission denied" % path)
        # Kept for stale_after (4 s), then gone; b.csv's stay.
        wait_for("a.csv's series gone", lambda: 'village="Wenjia"' not in
                 d.metrics_text(), timeout=30)
        self.assertEqual(find(d.metrics(), "village_population",
                              village="Bamu"), 3320)
        receipt = open(path + ".receipt.txt", encoding="utf-8").read()
        self.assertTrue(receipt.endswith(
            "NOT READ: cannot open %s: Permission denied\n" % path), receipt)
        self.assertIn("%s; the series of its last reading are kept" % (
            "cannot open %s: Permission denied" % path), d.logs())
        # Readable again: read whole, working again.
        os.chmod(path, 0o644)
        wait_for("share ok", lambda: self.collector(d)["state"] == "ok")
        wait_for("a.csv's series back", lambda: find(
            d.metrics(), "village_population", village="Wenjia") == 1200)

    def test_missing_file_fails(self):
        d = self.daemon([{
            "type": "file", "name": "one", "path": self.inbox + "/report.csv",
            "interval": "1s", "labels": {"village": "village"},
            "metrics": {"village_population": "population"}}])
        c = wait_for("one failing", lambda: (lambda c: c["state"] == "failing"
                                              and c)(self.collector(d, "one")))
        self.assertEqual(c["last_error"], "cannot open %s/report.csv: No such "
                         "file or directory" % self.inbox)
        self.assertEqual(find(d.metrics(), "villagemetrics_collector_up",
                              collector="one"), 0)
        self.write("report.csv", "village,population\nXinzhai,77\n")
        wait_for("one ok", lambda: self.collector(d, "one")["state"] == "ok")
        self.assertEqual(find(d.metrics(), "village_population",
                              village="Xinzhai"), 77)


class TestCheckConfig(IntegrationTest):
    def check(self, cfg, *args):
        path = os.path.join(self.tmp, "c.json")
        with open(path, "w") as f:
            f.write(cfg)
        r = subprocess.run(WRAPPER + [BINARY, "--check-config", "-c", path] +
                           list(args), capture_output=True, text=True,
                           timeout=120 * SLOW)
        return path, r

    def test_invalid_glob_and_misspelt_indicator_are_located(self):
        line = '  {"type": "file", "path": "/srv/in/data[.csv",'
        path, r = self.check(
            '{"collectors": [\n' + line + '\n'
            '   "metrics": {"village_population": "p"}}]}\n')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         'villagemetricsd: %s:2:%d: "path": the pattern '
                         '"data[.csv" has a "[" that is never closed by "]" '
                         '(at character 5 of the pattern)'
                         % (path, line.index('"/srv') + 1))
        path, r = self.check(
            '{"collectors": [\n'
            '  {"type": "file", "path": "/srv/in/*.csv",\n'
            '   "metrics": {"village_popuation": "p"}}]}\n')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "villagemetricsd: %s:3:16: village_popuation: did you "
                         "mean village_population? (metric names starting with "
                         "village_ are the indicator catalog's, see "
                         "docs/metrics.md)" % path)

    def test_configuration_ok_only_when_the_paths_pass(self):
        # A file named without a wildcard that does not exist fails the
        # path check as any user; the check runs as this process's own.
        me = pwd.getpwuid(os.geteuid()).pw_name
        inbox = os.path.join(self.tmp, "in")
        os.makedirs(inbox)
        with open(os.path.join(inbox, "a.csv"), "w") as f:
            f.write(GOOD)

        def cfg(name):
            return json.dumps({"collectors": [{
                "type": "file", "name": "county", "path": inbox + "/" + name,
                "metrics": {"village_population": "population"}}]})
        path, r = self.check(cfg("b.csv"), "--as-user", me)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stderr, "villagemetricsd: collector county: cannot "
                         "open %s/b.csv: No such file or directory\n" % inbox)
        self.assertNotIn("configuration OK", r.stdout)
        self.assertEqual(r.stdout, "")
        path, r = self.check(cfg("a.csv"), "--as-user", me)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(r.stdout, "paths readable as this user\n"
                         "%s: configuration OK (1 collectors, 0 exporters)\n"
                         % path)

    @unittest.skipUnless(os.geteuid() == 0, "checking as another user needs root")
    def test_paths_are_checked_as_the_service_user(self):
        os.chmod(self.tmp, 0o755)
        inbox = os.path.join(self.tmp, "in")
        os.makedirs(inbox)
        report = os.path.join(inbox, "a.csv")
        with open(report, "w") as f:
            f.write(GOOD)
        os.chmod(report, 0o600)
        cfg = json.dumps({"collectors": [{
            "type": "file", "path": inbox + "/*.csv",
            "metrics": {"village_population": "population"}}]})
        path, r = self.check(cfg, "--as-user", "nobody")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot open %s: Permission denied" % report, r.stderr)
        self.assertNotIn("configuration OK", r.stdout)
        os.chmod(report, 0o644)
        os.chmod(path, 0o644)
        path, r = self.check(cfg, "--as-user", "nobody")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("paths readable as user nobody", r.stdout)
        self.assertIn("configuration OK", r.stdout)
        # As root itself, the 0600 file would pass: the check is the user's.
        os.chmod(report, 0o600)
        path, r = self.check(cfg, "--as-user", "root")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
