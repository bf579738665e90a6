#!/usr/bin/env python3
"""Writes the demo data set: every village of Tongren city, one CSV a county.

    python3 examples/generate-demo-data.py OUTDIR

writes OUTDIR/<County>.csv for the ten districts and counties of Tongren
(Bijiang, Wanshan, Jiangkou, Yuping, Shiqian, Sinan, Yinjiang, Dejiang,
Yanhe, Songtao), the village registry of them all,
OUTDIR/registry/tongren.csv (codes, pinyin and Chinese names, coordinates,
households, population; see docs/configuration.md), and a cadres' monthly
report in Chinese, OUTDIR/reports/monthly-report.csv (one village a town,
its values those of the county files): 2,600 villages in all, in 8 to 17 towns a county and 10 to
40 villages a town, with the header of examples/data/villages.csv.  The 60
villages of that file are included verbatim -- the same lines, blank cells
and all -- and count in the 2,600; the others are invented, with every
indicator filled and inside its valid range (ratios 0..1, counts whole and
not negative), and with the usual correlations: a better-off village has
more tap water, hardened roads, 4G and income, and fewer poor households.

Every village also gets a report_date (its filing date, 填报日期): a day
of the current month up to today (UTC), taken from its code, so that the
demo's monthly cadence (due on the 10th) has no village overdue on the
day it is generated.

It owns only those twelve files.  It must stay deterministic (one fixed seed,
so two runs on one day write the same bytes and demos and tests can
compare numbers; the report dates alone follow the calendar),
must use nothing but the standard library, and must never leave a half-
written file where examples/demo.json's glob, demo-data/*.csv, can see it:
each file is written beside its target under a dot-name that the glob does
not match and then renamed over it, which is atomic on one file system.
"""

import csv
import datetime
import io
import math
import os
import random
import sys
import time

SEED = 20191231
TOTAL_VILLAGES = 2600
AS_OF = "2019-12-31"

# County name -> (the county's part of the 12-digit village code, villages,
# latitude and longitude of the county seat).  The village counts add up to
# TOTAL_VILLAGES and follow the counties' real sizes roughly; the seats keep
# the generated villages on the map of Tongren.
COUNTIES = {
    "Bijiang": ("522201", 150, 27.72, 109.19),
    "Wanshan": ("522202", 120, 27.52, 109.21),
    "Jiangkou": ("522203", 160, 27.70, 108.84),
    "Yuping": ("522204", 100, 27.24, 108.92),
    "Shiqian": ("522205", 270, 27.51, 108.22),
    "Sinan": ("522206", 420, 27.94, 108.25),
    "Yinjiang": ("522207", 380, 27.99, 108.41),
    "Dejiang": ("522208", 340, 28.26, 108.12),
    "Yanhe": ("522209", 290, 28.56, 108.50),
    "Songtao": ("522210", 370, 28.16, 109.20),
}

# The counties' real Chinese names, for the registry.
COUNTIES_ZH = {
    "Bijiang": "碧江区", "Wanshan": "万山区", "Jiangkou": "江口县",
    "Yuping": "玉屏侗族自治县", "Shiqian": "石阡县", "Sinan": "思南县",
    "Yinjiang": "印江土家族苗族自治县", "Dejiang": "德江县",
    "Yanhe": "沿河土家族自治县", "Songtao": "松桃苗族自治县",
}
# The Chinese names of the seed towns that examples/data/cadre-monthly-
# report.csv writes in Chinese; the other seed towns keep their pinyin in
# the registry, generated towns get the characters of their syllables.
SEED_TOWNS_ZH = {
    ("Shiqian", "Wude"): "五德镇", ("Songtao", "Ganlong"): "甘龙镇",
    ("Sinan", "Sunjiaba"): "孙家坝镇", ("Jiangkou", "Dewang"): "德旺乡",
    ("Yanhe", "Guanzhou"): "官舟镇", ("Bijiang", "Bahuang"): "坝黄镇",
    ("Sinan", "Tangtou"): "塘头镇", ("Dejiang", "Quankou"): "泉口镇",
    ("Jiangkou", "Shuangjiang"): "双江街道", ("Shiqian", "Qingyang"): "青阳乡",
}
REGISTRY_HEADER = ("code,county,town,village,county_zh,town_zh,village_zh,"
                   "aliases,latitude,longitude,households,population")

# How developed a county is on the whole, 0..1: the two urban districts more
# than the mountain counties.  Villages scatter around it.
COUNTY_DEVELOPMENT = {
    "Bijiang": 0.70, "Wanshan": 0.62, "Jiangkou": 0.52, "Yuping": 0.55,
    "Shiqian": 0.40, "Sinan": 0.42, "Yinjiang": 0.38, "Dejiang": 0.36,
    "Yanhe": 0.37, "Songtao": 0.34,
}

TOWNS_MIN, TOWNS_MAX = 8, 17
VILLAGES_PER_TOWN_MIN, VILLAGES_PER_TOWN_MAX = 10, 40
LAT_MIN, LAT_MAX = 27.1, 29.1
LON_MIN, LON_MAX = 107.7, 109.5

# Place-name syllables with a character each, so that the pinyin name and
# the Chinese name of a generated village agree.  Names begin with any of
# FIRST and end with one of LAST, which are the landforms Guizhou villages
# are usually named after (dam, flat, pond, gully, cliff, stockade...).
FIRST = [
    ("shang", "上"), ("xia", "下"), ("zhong", "中"), ("dong", "东"),
    ("nan", "南"), ("bei", "北"), ("xin", "新"), ("lao", "老"),
    ("da", "大"), ("xiao", "小"), ("gao", "高"), ("long", "龙"),
    ("ma", "马"), ("niu", "牛"), ("yang", "杨"), ("li", "李"),
    ("wang", "王"), ("zhang", "张"), ("liu", "刘"), ("chen", "陈"),
    ("huang", "黄"), ("bai", "白"), ("hong", "红"), ("qing", "青"),
    ("shi", "石"), ("mu", "木"), ("zhu", "竹"), ("cha", "茶"),
    ("tao", "桃"), ("mei", "梅"), ("hua", "花"), ("jin", "金"),
    ("yin", "银"), ("tong", "铜"), ("feng", "枫"), ("song", "松"),
    ("yun", "云"), ("bao", "宝"), ("quan", "泉"), ("fu", "福"),
    ("an", "安"), ("le", "乐"), ("he", "和"), ("xing", "兴"),
    ("wen", "文"), ("tai", "太"), ("jiang", "江"), ("lian", "莲"),
    ("guan", "关"), ("ying", "营"), ("luo", "罗"), ("tian", "田"),
    ("he", "河"), ("sha", "沙"), ("yu", "鱼"), ("ji", "鸡"),
]
MIDDLE = [
    ("jia", "家"), ("shui", "水"), ("shan", "山"), ("tian", "田"),
    ("mu", "木"), ("zi", "子"), ("lin", "林"), ("tang", "塘"),
    ("feng", "丰"), ("quan", "泉"), ("shi", "石"), ("yang", "阳"),
]
LAST = [
    ("ba", "坝"), ("ping", "坪"), ("tang", "塘"), ("gou", "沟"),
    ("yan", "岩"), ("zhai", "寨"), ("xi", "溪"), ("wan", "湾"),
    ("chong", "冲"), ("wo", "窝"), ("po", "坡"), ("ling", "岭"),
    ("tun", "屯"), ("pu", "铺"), ("chang", "场"), ("qiao", "桥"),
    ("kou", "口"), ("shan", "山"), ("he", "河"), ("tian", "田"),
    ("jing", "井"), ("yuan", "园"), ("zhuang", "庄"), ("dong", "洞"),
]
# Pinyin syllables that begin with a vowel need an apostrophe after another
# syllable ("Xi'an"); such names are simply not generated.
VOWELS = "aeiou"


def clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def make_name(rng, taken):
    """A pinyin name and its characters, not yet in `taken` (lower-case
    pinyin).  Two syllables mostly, three now and then."""
    while True:
        parts = [rng.choice(FIRST)]
        if rng.random() < 0.25:
            parts.append(rng.choice(MIDDLE))
        parts.append(rng.choice(LAST))
        if any(p[0][0] in VOWELS for p in parts[1:]):
            continue
        if len({p[1] for p in parts}) < len(parts):
            continue
        pinyin = "".join(p[0] for p in parts)
        if pinyin in taken:
            continue
        taken.add(pinyin)
        return pinyin.capitalize(), "".join(p[1] for p in parts)


def read_seed(path):
    """The seed file's header and its data lines, kept as text so they are
    written back byte for byte, each with its county, town, village and
    code."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.splitlines()
    header = lines[0]
    seeds = []
    for line in lines[1:]:
        if not line:
            continue
        row = next(csv.reader([line]))
        seeds.append({"line": line, "code": row[0], "county": row[1],
                      "town": row[2], "village": row[3]})
    return header, seeds


def split_towns(rng, n_villages, seed_count):
    """How many villages each town gets: seed towns first, then new ones.
    `seed_count` lists the seed villages of each seed town."""
    lo = max(TOWNS_MIN, math.ceil(n_villages / VILLAGES_PER_TOWN_MAX),
             len(seed_count))
    hi = min(TOWNS_MAX, n_villages // VILLAGES_PER_TOWN_MIN)
    n_towns = rng.randint(lo, hi)
    sizes = [max(VILLAGES_PER_TOWN_MIN, c) for c in seed_count]
    sizes += [VILLAGES_PER_TOWN_MIN] * (n_towns - len(seed_count))
    weights = [rng.uniform(0.3, 2.0) for _ in sizes]
    for _ in range(n_villages - sum(sizes)):
        open_towns = [i for i, s in enumerate(sizes)
                      if s < VILLAGES_PER_TOWN_MAX]
        i = rng.choices(open_towns, [weights[j] for j in open_towns])[0]
        sizes[i] += 1
    return sizes


def village_row(rng, code, county, town, village, village_zh, lat, lon,
                development):
    """One invented village, every column filled.  `development` (0..1)
    drives the correlated indicators."""
    d = clamp(development + rng.gauss(0, 0.12), 0.0, 1.0)

    def ratio(v):
        return "%.4f" % clamp(v, 0.0, 1.0)

    households = rng.randint(150, 1150)
    population = round(households * rng.uniform(2.9, 4.3))
    incidence = clamp(0.02 + 0.33 * (1 - d) + rng.gauss(0, 0.04), 0.0, 0.6)
    poor = min(households, round(households * incidence *
                                 rng.uniform(0.5, 0.9)))
    lifted = min(households - poor,
                 round(households * incidence * rng.uniform(0.3, 1.2)))
    water_safe = clamp(0.55 + 0.42 * d + rng.gauss(0, 0.05), 0.0, 1.0)
    water_tap = water_safe - rng.uniform(0.0, 0.35)
    income = max(2500.0, 3000 + 10500 * d + rng.gauss(0, 600))
    collective = max(0.0, 5000 + 400000 * d * rng.uniform(0.2, 1.2))
    row = [
        code, county, town, village, village_zh,
        "%.5f" % lat, "%.5f" % lon, AS_OF,
        str(population), str(households), str(poor), str(lifted),
        ratio(incidence),
        ratio(water_safe),
        ratio(water_tap),
        "%.2f" % rng.uniform(0.5, 28.0),
        ratio(0.30 + 0.65 * d + rng.gauss(0, 0.08)),
        ratio(0.20 + 0.75 * d + rng.gauss(0, 0.08)),
        ratio(0.40 + 0.55 * d + rng.gauss(0, 0.06)),
        ratio(0.05 + 0.80 * d + rng.gauss(0, 0.08)),
        ratio(rng.uniform(0.90, 1.0)),
        "%.2f" % income,
        "%.2f" % collective,
        "%.2f" % rng.uniform(30.0, 2500.0),
        "%.2f" % (collective * rng.uniform(0.05, 0.7)),
        ratio(0.70 + 0.30 * d + rng.gauss(0, 0.04)),
        ratio(rng.uniform(0.85, 1.0)),
        str(max(0, round(rng.gauss(4 * (1 - d), 1.2)))),
        str(rng.randint(1, 6)),
    ]
    return row


def registry_line(row, town_zh):
    """The registry's line of a village from its data row (code, county,
    town, village, village_zh, lat, lon, as_of, population, households,
    ...)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        row[0:4] + [COUNTIES_ZH[row[1]], town_zh, row[4], "", row[5], row[6],
                    row[9], row[8]])
    return out.getvalue()


def county_rows(rng, county, seeds):
    """Every row of one county, as CSV text lines in code order, and the
    county's lines of the registry."""
    prefix, n_villages, seat_lat, seat_lon = COUNTIES[county]
    base = COUNTY_DEVELOPMENT[county]

    # Seed towns keep the town part of their seeds' codes; new towns take
    # the next free numbers.
    seed_towns = {}
    for s in seeds:
        seed_towns.setdefault(s["town"], int(s["code"][6:9]))
    town_names = list(seed_towns)
    sizes = split_towns(rng, n_villages,
                        [sum(1 for s in seeds if s["town"] == t)
                         for t in town_names])
    taken_towns = {t.lower() for t in town_names}
    next_code = max(seed_towns.values(), default=0) + 1
    towns = [(t, seed_towns[t], SEED_TOWNS_ZH.get((county, t), ""))
             for t in town_names]
    while len(towns) < len(sizes):
        name, name_zh = make_name(rng, taken_towns)
        towns.append((name, next_code, name_zh + "镇"))
        next_code += 1

    rows, registry = [], []
    for (town, town_code, town_zh), size in zip(towns, sizes):
        town_seeds = [s for s in seeds if s["town"] == town]
        taken = {s["village"].lower() for s in town_seeds}
        for s in town_seeds:
            rows.append((s["code"], s["line"]))
            registry.append((s["code"], registry_line(
                next(csv.reader([s["line"]])), town_zh)))
        # A town lies within ~0.25 degrees of its county seat and its
        # villages within ~0.06 of the town; both stay inside Tongren.
        town_lat = seat_lat + rng.uniform(-0.25, 0.25)
        town_lon = seat_lon + rng.uniform(-0.25, 0.25)
        town_dev = clamp(base + rng.gauss(0, 0.08), 0.05, 0.95)
        # Seed villages use serials below 100 (000-059), so generated ones
        # start at 100 and the 12-digit codes stay unique.
        for serial in range(100, 100 + size - len(town_seeds)):
            name, name_zh = make_name(rng, taken)
            lat = clamp(town_lat + rng.uniform(-0.06, 0.06), LAT_MIN, LAT_MAX)
            lon = clamp(town_lon + rng.uniform(-0.06, 0.06), LON_MIN, LON_MAX)
            code = "%s%03d%03d" % (prefix, town_code, serial)
            row = village_row(rng, code, county, town, name, name_zh + "村",
                              lat, lon, town_dev)
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(row)
            rows.append((code, out.getvalue()))
            registry.append((code, registry_line(row, town_zh)))
    rows.sort()
    registry.sort()
    return [line for _, line in rows], [line for _, line in registry]


def monthly_report(county_lines, registry_lines):
    """The cadres' report as Excel on a Chinese Windows exports it: a
    byte order mark, a title row, Chinese headers, Chinese names (every
    other village without its 村), percentages and thousands separators.
    The first village of each town with both figures; the registry joins
    its rows to the county files' villages."""
    town_zh = {}
    for line in registry_lines:
        r = next(csv.reader([line]))
        town_zh[r[0]] = r[5]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["铜仁市村级指标月报", "", "", "", ""])
    w.writerow(["县", "乡镇", "村", "安全饮水率", "人均收入(元)"])
    seen = set()
    for line in county_lines:
        r = next(csv.reader([line]))
        # Seed villages and towns without Chinese names keep their pinyin.
        code, county, town, village_zh = r[0], r[1], r[2], r[4] or r[3]
        water, income = r[13], r[21]
        if (county, town) in seen or not water or not income:
            continue
        seen.add((county, town))
        if len(seen) % 2 == 0:
            village_zh = village_zh[:-1] if village_zh.endswith("村") else \
                village_zh
        # 0.7665 is "76.65%": the decimal point moved in the text.
        whole, _, frac = ("%.4f" % float(water)).partition(".")
        percent = (str(int(whole + frac[:2])) + "." + frac[2:]).rstrip("0")
        w.writerow([COUNTIES_ZH[county], town_zh[code] or town, village_zh,
                    percent.rstrip(".") + "%", "{:,}".format(float(income))])
    return "\ufeff" + out.getvalue()


def with_report_date(line, today):
    """The line with its village's report date appended: a day of this
    month up to today, from the village's code (not from the seeded random
    numbers, which must stay the same for every other column)."""
    code = line.split(",", 1)[0]
    day = 1 + int(code) % today.day if code.isdigit() else 1
    return "%s,%s" % (line, today.replace(day=day).isoformat())


def write_atomically(path, text):
    """Writes `text` to `path` so that a reader sees the old file or the new
    one, never a part: a dot-named temporary beside it, then a rename."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, "." + name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: %s OUTDIR\n" % argv[0])
        return 2
    outdir = argv[1]
    started = time.monotonic()
    seed_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "data", "villages.csv")
    header, seeds = read_seed(seed_path)
    unknown = {s["county"] for s in seeds} - set(COUNTIES)
    if unknown:
        sys.stderr.write("%s: unknown counties in %s: %s\n"
                         % (argv[0], seed_path, ", ".join(sorted(unknown))))
        return 1

    rng = random.Random(SEED)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    os.makedirs(outdir, exist_ok=True)
    villages = 0
    registry = [REGISTRY_HEADER]
    report = []
    for county in COUNTIES:
        lines, county_registry = county_rows(
            rng, county, [s for s in seeds if s["county"] == county])
        villages += len(lines)
        registry += county_registry
        report += lines
        # CRLF like the seed file, which came from a spreadsheet export.
        lines = [with_report_date(line, today) for line in lines]
        write_atomically(os.path.join(outdir, county + ".csv"),
                         "\r\n".join([header + ",report_date"] + lines) +
                         "\r\n")
    # Beside the county files, not among them: demo.json's glob reads
    # demo-data/*.csv as indicators.
    os.makedirs(os.path.join(outdir, "registry"), exist_ok=True)
    write_atomically(os.path.join(outdir, "registry", "tongren.csv"),
                     "\n".join(registry) + "\n")
    os.makedirs(os.path.join(outdir, "reports"), exist_ok=True)
    write_atomically(os.path.join(outdir, "reports", "monthly-report.csv"),
                     monthly_report(report, registry[1:]))
    sys.stderr.write("generate-demo-data: wrote %d files, %d villages to %s "
                     "in %.2f s\n" % (len(COUNTIES) + 2, villages, outdir,
                                      time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
