#!/bin/sh
# Makes the office fixtures in tests/data/office/ from their sources in
# tests/data/office/src/, with real office software: Gnumeric's ssconvert
# (Debian's gnumeric package, which scripts/setup.sh installs) writes the
# .xlsx and .xls files exactly as it would for a person saving a sheet.
# The results are committed, so the unit tests need no office software;
# run this again after changing a source, and commit what it wrote.
#
#   villages.xlsx, villages.xls   src/villages.csv opened and saved again:
#                                 a title row, units in the headers,
#                                 no-data markers, dates, "6,219"
#   villages.csv                  the source itself
#   villages-gbk.csv              the same in GB18030 (GBK for these
#                                 characters), as Excel on a Chinese
#                                 Windows saves "CSV"
#   report.xlsx, report.xls       src/report.gnumeric.xml (Gnumeric's XML,
#                                 written by hand): two sheets, merged
#                                 title, merged two-row header, a county
#                                 merged down its villages, percentages,
#                                 an error value; shared strings (for text
#                                 used twice) and inline strings (the rest)
#   corrupt.xlsx, corrupt.xls     the above cut short (head -c)
#   bad-cells.xlsx                villages.xlsx with two cells damaged by
#                                 hand (python3, stdlib only): D3 holds
#                                 "39x7" in a number cell, B4 a shared
#                                 string that does not exist
set -eu
cd "$(dirname "$0")/../data/office"
if ! command -v ssconvert >/dev/null; then
  echo "make-office-fixtures: ssconvert is missing (apt-get install gnumeric)" >&2
  exit 1
fi
biff8=Gnumeric_Excel:excel_biff8
ssconvert src/villages.csv villages.xlsx
ssconvert -T $biff8 src/villages.csv villages.xls
ssconvert src/report.gnumeric.xml report.xlsx
ssconvert -T $biff8 src/report.gnumeric.xml report.xls
cp src/villages.csv villages.csv
iconv -f UTF-8 -t GB18030 src/villages.csv >villages-gbk.csv
head -c 1500 villages.xlsx >corrupt.xlsx
head -c 2048 villages.xls >corrupt.xls
python3 - <<'PY'
import zipfile
with zipfile.ZipFile("villages.xlsx") as src:
    parts = [(i, src.read(i.filename)) for i in src.infolist()]
with zipfile.ZipFile("bad-cells.xlsx", "w", zipfile.ZIP_DEFLATED) as out:
    for info, data in parts:
        if info.filename == "xl/worksheets/sheet1.xml":
            text = data.decode("utf-8")
            d3 = '<c r="D3">\n        <v>3987</v>'
            b4 = '<c r="B4" t="inlineStr">\n        <is>\n          <t>坝木村</t>\n        </is>'
            assert d3 in text and b4 in text, "ssconvert wrote another layout"
            text = text.replace(d3, '<c r="D3">\n        <v>39x7</v>')
            text = text.replace(b4, '<c r="B4" t="s">\n        <v>999</v>')
            data = text.encode("utf-8")
        out.writestr(info, data)
PY
echo "make-office-fixtures: done" >&2
