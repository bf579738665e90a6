"""The documents that are generated from the code's tables are current, and
every self-metric the daemon serves is documented."""

import os
import re
import shutil
import subprocess
import unittest

from harness import BINARY, ROOT, WRAPPER, Daemon, TempDir, free_port


def section(path, begin, end):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text[text.index(begin) + len(begin) + 1:text.index(end)]


def run(*args):
    return subprocess.run(WRAPPER + [BINARY] + list(args), capture_output=True,
                          text=True, check=True).stdout


class TestDocs(unittest.TestCase):
    def test_configuration_reference_is_current(self):
        self.assertEqual(
            section(os.path.join(ROOT, "docs", "configuration.md"),
                    "<!-- BEGIN GENERATED REFERENCE -->",
                    "<!-- END GENERATED REFERENCE -->"),
            run("--config-reference"),
            "docs/configuration.md is out of date: regenerate its reference "
            "with villagemetricsd --config-reference")

    def test_catalog_is_current(self):
        self.assertEqual(
            section(os.path.join(ROOT, "docs", "metrics.md"),
                    "<!-- BEGIN GENERATED CATALOG -->",
                    "<!-- END GENERATED CATALOG -->"),
            run("--metrics-reference"),
            "docs/metrics.md is out of date: regenerate its catalog with "
            "villagemetricsd --metrics-reference")

    def test_every_self_metric_is_documented(self):
        with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
            doc = f.read()
        with TempDir() as tmp:
            # A push exporter too, so that its metrics and the journal's
            # are on the page.
            d = Daemon({"collectors": [{
                "type": "file", "path": "none/*.csv",
                "metrics": {"village_population": "population"}}],
                "exporters": [{"type": "prometheus"}, {
                    "type": "remote_write",
                    "url": "http://127.0.0.1:%d/api/v1/write" % free_port()}]},
                tmp)
            d.start()
            try:
                names = set(re.findall(r"^(\w+)(?:\{| )", d.metrics_text(), re.M))
            finally:
                d.stop()
        self.assertTrue(names)
        missing = sorted(n for n in names if "`%s`" % n not in doc)
        self.assertEqual(missing, [], "self-metrics missing from docs/metrics.md")


MAN_PAGES = [os.path.join(ROOT, "docs", "man", p)
             for p in ("villagemetricsd.8", "villagemetrics.json.5")]


class TestManPages(unittest.TestCase):
    def test_groff_renders_without_warnings(self):
        # Without -k (preconv) groff also flags any byte outside ASCII,
        # which not every man(1) on every system would render.
        for page in MAN_PAGES:
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                               capture_output=True, text=True,
                               env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)

    @unittest.skipUnless(shutil.which("mandoc"), "mandoc is not installed")
    def test_mandoc_lint_is_clean(self):
        r = subprocess.run(["mandoc", "-Tlint", "-W", "all"] + MAN_PAGES,
                           capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_every_option_of_help_is_in_the_page(self):
        options = re.findall(r"--([a-z][a-z-]+)", run("--help"))
        self.assertIn("check-config", options)
        with open(MAN_PAGES[0], encoding="utf-8") as f:
            page = f.read()
        missing = [o for o in options
                   if "\\-\\-" + o.replace("-", "\\-") not in page]
        self.assertEqual(missing, [],
                         "options of --help missing from villagemetricsd.8")


if __name__ == "__main__":
    unittest.main()
