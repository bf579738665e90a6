"""The files offices have, read by the daemon: the same villages as UTF-8
CSV, GBK CSV, .xlsx and .xls give exactly the same values on /metrics; a
county's workbook is read by sheet name and position, through merged
headers; a damaged workbook or cell is reported with its place and the
rest is still read.  The workbooks are the committed fixtures of
tests/data/office/ (saved by Gnumeric's ssconvert), and, where ssconvert is
installed, workbooks it saves from the CSV while the test runs."""

import os
import shutil
import subprocess
import unittest

from harness import DATA, Daemon, TempDir, find, wait_for

OFFICE = os.path.join(DATA, "office")

MAPPING = {
    "labels": {"county": "县", "village": "村"},
    "timestamp": "日期",
    "metrics": {
        "village_population": "户籍人口",
        "village_collective_income_yuan": "村集体收入",
        "village_water_safe_households_ratio": "安全饮水率",
        "village_income_per_capita_yuan": "人均收入(元)",
    },
}

# src/villages.csv as it must come out, whatever the file's shape: 万元
# scaled exactly, (%) made a fraction, full-width digits and "6,219" read,
# -, 无, n/a, — and 暂无 no sample at all.
EXPECTED = {
    ("village_population", "桃子园村"): 3987,
    ("village_collective_income_yuan", "桃子园村"): 160473.31,
    ("village_water_safe_households_ratio", "桃子园村"): 0.7665,
    ("village_income_per_capita_yuan", "桃子园村"): 3895,
    ("village_population", "坝木村"): 3318,
    ("village_collective_income_yuan", "坝木村"): 79790.11,
    ("village_water_safe_households_ratio", "坝木村"): 0.7227,
    ("village_income_per_capita_yuan", "坝木村"): 7807,
    ("village_population", "罗家坝村"): 2948,
    ("village_water_safe_households_ratio", "罗家坝村"): 0.7224,
    ("village_population", "净河村"): 3720,
    ("village_collective_income_yuan", "净河村"): 123581.02,
    ("village_income_per_capita_yuan", "净河村"): 6219,
    ("village_population", "泥烧村"): 2615,
    ("village_water_safe_households_ratio", "泥烧村"): 0.637,
}


def collector(name, path, **extra):
    c = {"type": "file", "name": name, "path": path,
         "const_labels": {"form": name}}
    c.update(MAPPING)
    c.update(extra)
    return c


def values_of(metrics, form):
    """{(metric, village): value} of one collector's villages."""
    out = {}
    for (name, labels), value in metrics.items():
        ls = dict(labels)
        if ls.get("form") == form and name.startswith("village_"):
            out[(name, ls["village"])] = value
    return out


class OfficeTest(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.tmp = self._tmp.__enter__()
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.stop()
        self._tmp.__exit__(None, None, None)

    def place(self, folder, *names, src=OFFICE):
        os.makedirs(os.path.join(self.tmp, folder), exist_ok=True)
        for n in names:
            shutil.copy(os.path.join(src, n), os.path.join(self.tmp, folder, n))

    def start(self, collectors):
        self.d = Daemon({"collectors": collectors,
                         "exporters": [{"type": "prometheus"}]}, self.tmp).start()
        return self.d

    def collector_status(self, name):
        return [c for c in self.d.status()["collectors"] if c["name"] == name][0]


class TestOfficeFiles(OfficeTest):
    def test_csv_gbk_xlsx_and_xls_give_the_same_values(self):
        self.place("csv", "villages.csv")
        self.place("gbk", "villages-gbk.csv")
        self.place("xlsx", "villages.xlsx")
        self.place("xls", "villages.xls")
        d = self.start([collector("csv", "csv/*.csv"),
                        collector("gbk", "gbk/*.csv", encoding="gbk"),
                        collector("xlsx", "xlsx/*.xlsx"),
                        collector("xls", "xls/*.xls")])
        m = d.metrics()
        for form in ("csv", "gbk", "xlsx", "xls"):
            self.assertEqual(values_of(m, form), EXPECTED, form)
            self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                                  collector=form, reason="not_a_number"), 0)
        self.assertEqual(find(m, "village_population", form="xls",
                              county="松桃县", village="坝木村"), 3318)

    def test_gbk_is_found_without_being_declared(self):
        self.place("gbk", "villages-gbk.csv")
        d = self.start([collector("gbk", "gbk/*.csv")])
        self.assertEqual(values_of(d.metrics(), "gbk"), EXPECTED)
        self.assertIn("villages-gbk.csv: not UTF-8 text; read as GB18030",
                      d.logs())

    def test_county_workbook_by_sheet_name_and_position(self):
        self.place("book", "report.xlsx")
        report = {
            "labels": {"county": "县", "village": "村"},
            "timestamp": "填报日期",
            "metrics": {"village_population": "户籍人口",
                        "village_poor_households": "贫困户",
                        "village_collective_income_yuan": "村集体收入",
                        "village_water_safe_households_ratio": "安全饮水率"},
        }
        by_name = dict(report, type="file", name="by-name",
                       path="book/*.xlsx", sheet="村级指标",
                       const_labels={"form": "by-name"})
        by_index = dict(report, type="file", name="by-index",
                        path="book/*.xlsx", sheet=2,
                        const_labels={"form": "by-index"})
        towns = {"type": "file", "name": "towns", "path": "book/*.xlsx",
                 "labels": {"village": "乡镇"},
                 "metrics": {"village_population": "户籍人口"},
                 "const_labels": {"form": "towns"}}
        d = self.start([by_name, by_index, towns])
        m = d.metrics()
        want = {
            ("village_population", "桃子园村"): 3987,
            ("village_poor_households", "桃子园村"): 119,
            ("village_collective_income_yuan", "桃子园村"): 160473.31,
            ("village_water_safe_households_ratio", "桃子园村"): 0.7665,
            # The county merged down from the row above.
            ("village_population", "大沙坝村"): 3318,
            ("village_collective_income_yuan", "大沙坝村"): 79790.11,
            ("village_water_safe_households_ratio", "大沙坝村"): 0.7227,
            ("village_population", "坝木村"): 2948,
            ("village_poor_households", "坝木村"): 83,
            ("village_population", "寨英村"): 2100,
            ("village_collective_income_yuan", "寨英村"): 52000,
            ("village_water_safe_households_ratio", "寨英村"): 0.9,
        }
        self.assertEqual(values_of(m, "by-name"), want)
        self.assertEqual(values_of(m, "by-index"), want)
        self.assertEqual(find(m, "village_population", form="by-name",
                              village="大沙坝村", county="石阡县"), 3318)
        # The first sheet by default.
        self.assertEqual(values_of(m, "towns"),
                         {("village_population", "五德镇"): 23456,
                          ("village_population", "甘龙镇"): 18765})
        # The error value is counted and placed by sheet and cell.
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="by-name", reason="not_a_number"), 1)
        book = os.path.join(self.tmp, "book", "report.xlsx")
        rej = self.collector_status("by-name")["recent_rejections"]
        self.assertEqual([(r["reason"], r["where"], r["detail"]) for r in rej], [
            ("not_a_number", book + " [村级指标] E7 (贫困户)",
             '"#DIV/0!" is not a number')])

    def test_damage_is_reported_and_the_rest_is_read(self):
        self.place("book", "villages.xlsx", "corrupt.xlsx", "bad-cells.xlsx")
        d = self.start([collector("book", "book/*.xlsx"),
                        collector("sheet", "book/villages.xlsx",
                                  sheet="村级指标")])
        m = d.metrics()
        book = os.path.join(self.tmp, "book")
        rej = self.collector_status("book")["recent_rejections"]
        seen = sorted((r["reason"], r["where"], r["detail"]) for r in rej)
        self.assertEqual(seen, sorted([
            ("parse_error", os.path.join(book, "bad-cells.xlsx") +
             " [villages.csv] B4 (村)", "shared string 999 does not exist"),
            ("parse_error", os.path.join(book, "bad-cells.xlsx") +
             " [villages.csv] D3 (户籍人口)",
             '"39x7" in a number cell is no number'),
            ("parse_error", os.path.join(book, "corrupt.xlsx"),
             "not an .xlsx workbook (not a zip: Not a zip archive)"),
        ]))
        self.assertEqual(find(m, "villagemetrics_rejected_values_total",
                              collector="book", reason="parse_error"), 3)
        # The rest of both good and damaged workbooks is read.
        self.assertEqual(find(m, "village_population", form="book",
                              village="净河村"), 3720)
        self.assertEqual(find(m, "village_population", form="book",
                              village="坝木村"), 3318)
        # A sheet that is not there fails that file, saying which there are.
        rej = self.collector_status("sheet")["recent_rejections"]
        self.assertEqual([(r["where"], r["detail"]) for r in rej], [
            (os.path.join(book, "villages.xlsx"),
             'no sheet "村级指标" in the workbook; it has "villages.csv"')])


@unittest.skipUnless(shutil.which("ssconvert"), "ssconvert is not installed")
class TestSavedNow(OfficeTest):
    """Gnumeric saves the CSV as .xlsx and .xls now, with whatever version
    this machine has: the daemon reads the same values from all three."""

    def test_ssconvert_workbooks_read_as_the_csv(self):
        src = os.path.join(OFFICE, "src", "villages.csv")
        for form, args in (("xlsx", []),
                           ("xls", ["-T", "Gnumeric_Excel:excel_biff8"])):
            os.makedirs(os.path.join(self.tmp, form))
            out = os.path.join(self.tmp, form, "villages." + form)
            subprocess.run(["ssconvert"] + args + [src, out], check=True,
                           capture_output=True)
        self.place("csv", "villages.csv", src=os.path.join(OFFICE, "src"))
        d = self.start([collector("csv", "csv/*.csv"),
                        collector("xlsx", "xlsx/*.xlsx"),
                        collector("xls", "xls/*.xls")])
        m = d.metrics()
        self.assertEqual(values_of(m, "csv"), EXPECTED)
        self.assertEqual(values_of(m, "xlsx"), EXPECTED)
        self.assertEqual(values_of(m, "xls"), EXPECTED)


if __name__ == "__main__":
    unittest.main()
