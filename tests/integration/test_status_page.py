"""The status page at / in a real browser.

Debian's headless Chromium renders the page of a daemon with a working
file collector, a file with bad values (rejections with their
file:row:column), a collector whose folder is missing (an error), and a
remote_write exporter pointed at a closed port (an error, and a lag); the
tests read the rendered DOM, with and without scripting, and save
screenshots for a person to look at.

Screenshots (test artifacts) go to $VG_ARTIFACTS, default
build/test-artifacts/:
  status-phone.png        412x915, the first screen on a phone
  status-phone-full.png   412x2600, the whole page on a phone
  status-desktop.png      1280x1000
The tests are skipped, saying so, when chromium is not installed
(scripts/setup.sh installs it).  Every Chromium runs with a timeout in a
session of its own, which is killed by its PID when it is done.
"""

import html.parser
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import unittest
import zlib

from harness import (DATA, ROOT, SLOW, Daemon, LoopbackServer, QuietHandler,
                     TempDir, free_port, http_get, wait_for)

CHROMIUM = shutil.which("chromium")
ARTIFACTS = os.environ.get("VG_ARTIFACTS",
                           os.path.join(ROOT, "build", "test-artifacts"))

# A name and a cell that would be markup if the page did not escape them.
EVIL_NAME = '石阡 <b id="injected-name">cadres</b> & \'co\''
EVIL_CELL = '<i id=injected>&amp;"q\'</i>'
BAD_CSV = ('county,town,village,population\n'
           'Shiqian,Wude,Taoziyuan,"3,8x5"\n'
           'Shiqian,Wude,Heishui,-5\n'
           'Shiqian,Wude,Baisha,"%s"\n'
           'Shiqian,Wude,Longtang,900\n' % EVIL_CELL.replace('"', '""'))


# --- Chromium ------------------------------------------------------------

def fresh_profile(workdir, scripting):
    """A new --user-data-dir.  Scripting off: --blink-settings=
    scriptEnabled=false would be the flag, but --dump-dom reads the DOM
    through script and prints nothing then; the profile's content setting
    blocks the page's scripts only, as a person's browser with JavaScript
    off does."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    if not scripting:
        os.makedirs(os.path.join(profile, "Default"))
        with open(os.path.join(profile, "Default", "Preferences"), "w") as f:
            json.dump({"profile": {"default_content_setting_values": {"javascript": 2}}}, f)
    return profile


def chromium(workdir, url, *args, scripting=True, timeout=60):
    """Runs headless Chromium on url; returns its stdout."""
    profile = fresh_profile(workdir, scripting)
    log_path = os.path.join(profile, "chromium.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--user-data-dir=" + profile, "--hide-scrollbars", "--no-first-run",
             "--disable-dev-shm-usage"] + list(args) + [url],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            out = None
        finally:
            stop_chromium(proc)
    if out is None or proc.returncode != 0:
        with open(log_path, "rb") as f:
            tail = f.read().decode("utf-8", "replace")[-3000:]
        raise AssertionError("chromium %s on %s:\n%s" % (
            "took longer than %ds" % timeout if out is None
            else "exited %d" % proc.returncode, url, tail))
    return out.decode("utf-8")


def stop_chromium(proc):
    """Chromium's helpers (zygote, renderers) are in the session its PID
    leads: they go with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def png_content_rows(path, bands):
    """How many rows of each of `bands` horizontal bands of an 8-bit RGB or
    RGBA PNG (as Chromium saves screenshots) are not one flat colour.  Read
    from the filtered rows, without undoing the filters: a flat row is all
    one pixel when unfiltered (filter 0), and all zeros after its first
    pixel under the others -- but for the one row below a change, which
    the Up, Average and Paeth filters see, so a blank band counts at most
    one row."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp + 1
    counts = [0] * bands
    for y in range(height):
        line = raw[y * stride:(y + 1) * stride]
        if line[0] == 0:
            flat = line[1:] == line[1:1 + bpp] * width
        else:
            flat = not line[1 + bpp:].strip(b"\0")
        counts[y * bands // height] += not flat
    return counts


# --- the DOM, as Chromium serialised it ---------------------------------

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag=None, **attrs):
        for c in self.children:
            if isinstance(c, Node):
                if (tag is None or c.tag == tag) and all(
                        c.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()):
                    yield c
                yield from c.all(tag, **attrs)

    def one(self, tag=None, **attrs):
        found = list(self.all(tag, **attrs))
        assert len(found) == 1, "%d <%s %r>" % (len(found), tag, attrs)
        return found[0]


class DOM(html.parser.HTMLParser):
    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag == "br":
            node.children.append("\n")  # a line break reads as a space
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def cells(row):
    """{data-label: text} of a table row; the title cell under its label."""
    return {td.attrs["data-label"]: " ".join(td.text().replace("\xa0", " ").split())
            for td in row.all("td")}


def rows(section):
    return [cells(tr) for tr in section.all("tr") if list(tr.all("td"))]


# --- a proxy that counts what the browser asks for ----------------------

class CountingProxy(LoopbackServer):
    """Forwards GETs to the daemon and counts them by path; with
    fail_after=n, answers 503 from the (n+1)-th request of / on, as a
    daemon that went away would."""

    def __init__(self, daemon_port, fail_after=None):
        proxy = self
        self.requests = []
        self.lock = threading.Lock()

        class Handler(QuietHandler):
            def do_GET(self):
                with proxy.lock:
                    proxy.requests.append(self.path)
                    n = proxy.requests.count("/")
                if fail_after is not None and self.path == "/" and n > fail_after:
                    status, ctype, body = 503, "text/plain", b"gone\n"
                else:
                    status, hdrs, body = http_get(daemon_port, self.path)
                    ctype = hdrs.get("content-type", "text/plain")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.serve(Handler)

    def count(self, path):
        with self.lock:
            return self.requests.count(path)


# --- the tests ----------------------------------------------------------

@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/setup.sh installs it)")
class TestStatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.tmp = cls._tmp.__enter__()
        data = os.path.join(cls.tmp, "data")
        os.makedirs(data)
        shutil.copy(os.path.join(DATA, "villages.csv"), data)
        with open(os.path.join(data, "bad.csv"), "w", encoding="utf-8") as f:
            f.write(BAD_CSV)
        cls.dead_port = free_port()  # nothing listens: the exporter fails
        cls.daemon = Daemon({
            "collectors": [
                {"type": "file", "name": "villages", "path": "data/*.csv",
                 "interval": "1h", "settle": "50ms",
                 "labels": {"county": "county", "town": "town", "village": "village"},
                 "metrics": {"village_population": "population"}},
                {"type": "file", "name": EVIL_NAME, "path": "missing/*.csv",
                 "interval": "1h",
                 "labels": {"village": "village"},
                 "metrics": {"village_population": "population"}},
            ],
            "exporters": [
                {"type": "prometheus"},
                {"type": "remote_write", "name": "city-vm",
                 "url": "http://127.0.0.1:%d/api/v1/write" % cls.dead_port,
                 "flush_interval": "100ms", "min_backoff": "100ms",
                 "max_backoff": "1s"},
            ],
            "journal": {"max_bytes": "1MiB", "segment_bytes": "256KiB"},
        }, cls.tmp)
        cls.daemon.start()
        # The exporter has tried, and learnt the age of what waits.
        wait_for("exporter error and lag", lambda: cls.exporter()["last_error"] and
                 cls.exporter()["lag_seconds"] > 0)
        cls.url = "http://127.0.0.1:%d/" % cls.daemon.port
        # Prometheus, as the status page should name it.
        status, _, _ = http_get(cls.daemon.port, "/metrics",
                                {"User-Agent": "Prometheus/2.45.0"})
        assert status == 200

    @classmethod
    def tearDownClass(cls):
        try:
            # Under ASan or valgrind (VG_WRAPPER) a memory error fails here.
            code, _ = cls.daemon.stop()
            if code != 0:
                raise AssertionError("daemon exited %d:\n%s" % (code, cls.daemon.logs()))
        finally:
            cls._tmp.__exit__(None, None, None)

    @classmethod
    def exporter(cls):
        return [e for e in cls.daemon.status()["exporters"] if e["name"] == "city-vm"][0]

    def render(self, url=None, *args, scripting=True):
        return DOM(chromium(self.tmp, url or self.url, *args, scripting=scripting)).root

    def assert_content(self, doc):
        """What the page must show, whether the server or the script put it
        there; checked against /api/v1/status of the same moment."""
        st = self.daemon.status()
        villages, evil = st["collectors"]
        self.assertEqual(doc.one("title").text(), "(2) villagemetricsd on %s"
                         % socket.gethostname())

        collectors = rows(doc.one("section", id="collectors"))
        self.assertEqual([c["Collector"] for c in collectors],
                         ["villages file", " ".join(EVIL_NAME.split()) + " file"])
        v, e = collectors
        self.assertEqual((v["State"], v["Runs"], v["Samples"], v["Rejected"]),
                         ("ok", "1", str(villages["samples_total"]), "3"))
        self.assertEqual(villages["samples_total"], 61)  # 60 villages + Longtang
        # The latest rejection, with its file:row:column.
        self.assertTrue(villages["recent_rejections"][-1]["where"].endswith(
            "bad.csv:4:4 (population)"))
        # ... and the village of its row.
        self.assertEqual(villages["recent_rejections"][-1]["village"], "Baisha")
        self.assertEqual(v["Last error"], "latest rejected value: %s Baisha: %s" % (
            villages["recent_rejections"][-1]["where"],
            villages["recent_rejections"][-1]["detail"]))
        self.assertEqual((e["State"], e["Last success"], e["Samples"]),
                         ("failing", "never", "0"))
        self.assertEqual(e["Runs"], "1 1 failed")
        self.assertTrue(e["Last error"].startswith("cannot read folder "), e)
        self.assertEqual(e["Last error"], evil["last_error"])

        exporters = rows(doc.one("section", id="exporters"))
        self.assertEqual([(x["Exporter"], x["State"]) for x in exporters],
                         [("prometheus prometheus", "serving"),
                          ("city-vm remote_write", "backing off")])
        prom, vm = exporters
        # Who scraped it last, and when: the first question when Grafana
        # shows "No data".
        scrapes = st["exporters"][0]["scrapes"]
        self.assertEqual((scrapes["client"], scrapes["user_agent"]),
                         ("127.0.0.1", "Prometheus/2.45.0"))
        self.assertRegex(prom["Last scrape"], r"^(just now|\d+ (s|min|min \d+ s) ago) by 127\.0\.0\.1 "
                                              r"\(Prometheus/2\.45\.0\)$")
        self.assertEqual(prom["Scrapes"], "%d scrape%s since start"
                         % (scrapes["count"], "" if scrapes["count"] == 1 else "s"))
        # Tries, not samples tried again: every try failed.
        tries = st["exporters"][1]["tries"]
        self.assertEqual(st["exporters"][1]["failed_tries"], tries)
        self.assertGreater(tries, 0)
        self.assertRegex(vm["Delivered"], r"^0 sent (\d+) tries?, \1 failed$")
        self.assertNotIn("retries", vm["Delivered"])
        self.assertTrue(vm["Behind"].startswith("%d samples oldest " % 61), vm)
        self.assertEqual(vm["Last success"], "never")
        self.assertIn("127.0.0.1 port %d" % self.dead_port, vm["Last error"])
        self.assertIn("Couldn't connect to server", vm["Last error"])

        journal = doc.one("section", id="journal")
        facts = dict(zip([dt.text() for dt in journal.all("dt")],
                         [dd.text().replace("\xa0", " ") for dd in journal.all("dd")]))
        self.assertEqual(st["journal"]["max_bytes"], 1 << 20)
        kib = st["journal"]["bytes"] / 1024  # a few KiB: 61 samples
        self.assertTrue(1 <= kib < 10, kib)
        self.assertTrue(facts["Disk used"].startswith(
            "%s KiB of 1 MiB (%.1f %%)" % ("%.0f" % kib if kib == int(kib) else "%.1f" % kib,
                                           math.floor(kib / 1024 * 1000) / 10)), facts)
        self.assertEqual(facts["Segments"], "1")
        self.assertEqual(facts["Samples written"], "61")
        self.assertRegex(facts["fsync"], r"^last took [\d.]+ (µs|ms|s), [\d.]+ (µs|ms|s) "
                                         r"on average over %d$" % st["journal"]["fsyncs"])

        rejected = doc.one("section", id="rejected")
        by_reason, latest = [t for t in rejected.all("table")]
        self.assertEqual([(r["Reason"], r["Count"], r["Collectors"]) for r in rows(by_reason)],
                         [("not_a_number", "2", "villages (2)"),
                          ("out_of_range", "1", "villages (1)")])
        self.assertEqual([(r["Value at"][-len("bad.csv:2:4 (population)"):], r["Reason"])
                          for r in rows(latest)],
                         [("bad.csv:4:4 (population)", "not_a_number"),
                          ("bad.csv:3:4 (population)", "out_of_range"),
                          ("bad.csv:2:4 (population)", "not_a_number")])
        self.assertEqual([r["Village"] for r in rows(latest)],
                         ["Baisha", "Heishui", "Taoziyuan"])
        self.assertEqual(rows(latest)[0]["What"], '"%s" is not a number' % EVIL_CELL)
        self.assertEqual(rows(latest)[1]["What"], "village_population: -5 is below 0")

        # Counters of the instances: since start (no reload).
        self.assertEqual(st["counters_since"], {"event": "start", "time": st["started"]})
        self.assertEqual(doc.one("section", id="collectors").one("p").text(),
                         "Runs, samples and rejected values count since start.")
        # The guide, where this build has it.
        self.assertTrue(os.path.isfile(st["docs"]), st["docs"])
        self.assertIn(st["docs"], doc.one("footer").text())

        # Escaped: the name and the cell are text, not elements.
        self.assertEqual(list(doc.all(id="injected")), [])
        self.assertEqual(list(doc.all(id="injected-name")), [])

    def test_rendered_with_scripting(self):
        # 12 s of virtual time: the script has refreshed <main> twice.
        doc = self.render(None, "--virtual-time-budget=12000", "--dump-dom")
        page = doc.one("html")
        self.assertIn("data-live", page.attrs)
        self.assertEqual(page.attrs.get("data-refreshes"), "2")
        self.assertEqual(doc.one("p", id="refresh").text(),
                         "This page updates itself every 5 s.")
        self.assertIn("hidden", doc.one("p", id="stale").attrs)
        self.assert_content(doc)

    def test_rendered_without_scripting(self):
        doc = self.render(None, "--dump-dom", scripting=False)
        page = doc.one("html")
        self.assertNotIn("data-live", page.attrs)
        self.assertNotIn("data-refreshes", page.attrs)
        self.assertEqual(doc.one("p", id="refresh").text(),
                         "This page reloads itself every 10 s.")
        self.assert_content(doc)

    def test_reloads_itself_without_scripting(self):
        """The <noscript> refresh: Chromium without scripting, on virtual
        time, asks for the page again; nothing else (no icon, no asset)."""
        proxy = CountingProxy(self.daemon.port)
        self.addCleanup(proxy.stop)
        profile = fresh_profile(self.tmp, scripting=False)
        with open(os.path.join(self.tmp, "chromium.log"), "ab") as log:
            # Each reload starts the budget again: this Chromium never ends by
            # itself, and is stopped once it has reloaded.
            proc = subprocess.Popen(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                 "--user-data-dir=" + profile, "--virtual-time-budget=30000",
                 "--dump-dom", "http://127.0.0.1:%d/" % proxy.port],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True)
            try:
                wait_for("a reload", lambda: proxy.count("/") >= 2, timeout=60)
            finally:
                stop_chromium(proc)
        self.assertEqual(set(proxy.requests), {"/"})

    def test_daemon_gone_keeps_the_page_under_a_banner(self):
        proxy = CountingProxy(self.daemon.port, fail_after=1)
        self.addCleanup(proxy.stop)
        doc = self.render("http://127.0.0.1:%d/" % proxy.port,
                          "--virtual-time-budget=6000", "--dump-dom")
        stale = doc.one("p", id="stale")
        self.assertNotIn("hidden", stale.attrs)
        self.assertRegex(stale.text(), r"^No answer from the daemon since .+ \(HTTP 503\)\. "
                                       r"This is what it said last; trying again every 5 s\.$")
        self.assertNotIn("data-refreshes", doc.one("html").attrs)
        self.assert_content(doc)

    def test_screenshots(self):
        """At a phone's and a desktop's width: the page as the browser lays
        it out at that width (the DOM it holds there), and a screenshot of
        that size with something drawn in each part of it."""
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name, size in [("status-phone.png", (412, 915)),
                           ("status-phone-full.png", (412, 2600)),
                           ("status-desktop.png", (1280, 1000))]:
            path = os.path.join(ARTIFACTS, name)
            if os.path.exists(path):
                os.unlink(path)
            window = "--window-size=%d,%d" % size
            self.assert_content(self.render(None, window, "--dump-dom"))
            chromium(self.tmp, self.url, window, "--screenshot=" + path)
            self.assertEqual(png_size(path), size)
            # Not a blank page: every band of rows, down to the last, has
            # something drawn (text, badges, tiles) on the background.
            bands = png_content_rows(path, bands=4 if size[1] > 1000 else 2)
            self.assertTrue(all(n >= 20 for n in bands), (name, bands))

    def test_no_external_assets(self):
        status, headers, body = http_get(self.daemon.port, "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["cache-control"], "no-store")
        doc = DOM(body.decode("utf-8")).root
        self.assertEqual(doc.one("meta", name="viewport").attrs["content"],
                         "width=device-width, initial-scale=1")
        for node in doc.all():
            for attr in ("src", "href", "action"):
                value = node.attrs.get(attr)
                if value is not None:
                    self.assertNotRegex(value, r"^(https?:)?//", node.tag)
        self.assertEqual([s.attrs for s in doc.all("script")], [{}])  # inline only
        self.assertEqual(list(doc.all("link", rel="stylesheet")), [])


if __name__ == "__main__":
    unittest.main()
