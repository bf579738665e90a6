"""A village daemon forwards to a township daemon, which exports to a real
Prometheus and a real InfluxDB, over a flaky path: the township daemon is
stopped for an outage and restarted, then Prometheus is, then the village
daemon is killed with SIGKILL.  Collection goes on all along.  Every
sample arrives at both sinks with its original timestamp, counted
exactly.

The outage lasts VG_OUTAGE_S seconds (60 by default; the sanitizer and
valgrind runs of scripts/test.sh make it shorter, where the same paths run
slower)."""

import csv
import os
import signal
import time
import unittest

from harness import (DATA, Daemon, InfluxDB, IntegrationTest, Prometheus,
                     find, wait_for)

OUTAGE_S = float(os.environ.get("VG_OUTAGE_S", "60"))
ROUND_S = 2.0


def sensor_series():
    """[(measurement, {tags})] of the shared sensor file, each once."""
    seen, out = set(), []
    with open(os.path.join(DATA, "field-sensors.influx"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key = line.split(" level_ratio=")[0].split(" rsrp_dbm=")[0]
            if key in seen:
                continue
            seen.add(key)
            parts = key.replace("\\ ", "\0").split(",")
            tags = dict(p.replace("\0", " ").split("=", 1) for p in parts[1:])
            out.append((parts[0], tags))
    return out


class Scenario:
    """Writes the village daemon's input files, one round at a time, and
    remembers every sample they hold."""

    def __init__(self, datadir):
        self.datadir = datadir
        with open(os.path.join(DATA, "villages.csv"), encoding="utf-8") as f:
            self.villages = list(csv.DictReader(f))
        self.sensors = sensor_series()
        # Recent enough for Prometheus, which refuses old samples.
        self.t0 = int(time.time()) - 1800
        self.round = 0
        self.written = set()  # (metric, frozenset(labels), ts_ms, value)

    def write_round(self):
        i, ts = self.round, self.t0 + 2 * self.round
        self.round += 1
        tmp = os.path.join(self.datadir, ".villages.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("county,town,village,as_of,population,income\n")
            for k, r in enumerate(self.villages):
                pop = int(r["population"]) + i + k
                income = round(float(r["income_per_capita_yuan"]) + 0.25 * i, 2)
                f.write("%s,%s,%s,%d,%d,%s\n" % (r["county"], r["town"], r["village"],
                                                ts, pop, income))
                labels = frozenset({"county": r["county"], "town": r["town"],
                                    "village": r["village"]}.items())
                self.written.add(("village_population", labels, ts * 1000, float(pop)))
                self.written.add(("village_income_per_capita_yuan", labels, ts * 1000,
                                  income))
        os.replace(tmp, os.path.join(self.datadir, "villages.csv"))
        tmp = os.path.join(self.datadir, ".sensors.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for k, (measurement, tags) in enumerate(self.sensors):
                tagtext = ",".join("%s=%s" % (n, v.replace(" ", "\\ "))
                                   for n, v in tags.items())
                labels = frozenset(tags.items())
                if measurement == "water_tank":
                    level = round(((i * 7 + k * 13) % 100) / 100, 2)
                    pump = (i + k) % 2
                    f.write("%s,%s level_ratio=%s,pump_on=%s %d\n" % (
                        measurement, tagtext, level, "true" if pump else "false",
                        ts * 10**9))
                    self.written.add(("water_tank_level_ratio", labels, ts * 1000, level))
                    self.written.add(("water_tank_pump_on", labels, ts * 1000,
                                      float(pump)))
                else:
                    rsrp = -70.0 - (i + k) % 40
                    f.write('%s,%s rsrp_dbm=%s,site="ridge" %d\n' % (
                        measurement, tagtext, rsrp, ts * 10**9))
                    self.written.add(("signal_modem_rsrp_dbm", labels, ts * 1000, rsrp))
        os.replace(tmp, os.path.join(self.datadir, "sensors.influx"))

    def per_round(self):
        return 2 * len(self.villages) + sum(
            2 if m == "water_tank" else 1 for m, _ in self.sensors)


METRICS = "village_population|village_income_per_capita_yuan|" \
          "water_tank_level_ratio|water_tank_pump_on|signal_modem_rsrp_dbm"


def in_prometheus(prom):
    out = set()
    for s in prom.query('{__name__=~"%s"}[3h]' % METRICS):
        m = dict(s["metric"])
        name = m.pop("__name__")
        for ts, v in s["values"]:
            out.add((name, frozenset(m.items()), int(round(float(ts) * 1000)),
                     float(v)))
    return out


# The InfluxDB exporter's default schema: the text before the first "_" is
# the measurement, the rest the field.
def in_influxdb(ix):
    out = set()
    res = ix.query('SELECT * FROM "village", "water", "signal"',
                   db="villages")["results"][0]
    for s in res.get("series", []):
        cols = s["columns"]
        tags = {"county", "town", "village", "tank", "operator", "band"}
        for row in s["values"]:
            r = dict(zip(cols, row))
            labels = frozenset((k, v) for k, v in r.items() if k in tags and v is not None)
            for k, v in r.items():
                if k == "time" or k in tags or v is None:
                    continue
                out.add((s["name"] + "_" + k, labels, r["time"], float(v)))
    return out


class TestHierarchy(IntegrationTest):
    def test_village_to_township_to_prometheus_and_influxdb(self):
        vdir, tdir = os.path.join(self.tmp, "village"), os.path.join(self.tmp, "town")
        for d in (vdir, tdir, os.path.join(vdir, "data")):
            os.makedirs(d)
        scenario = Scenario(os.path.join(vdir, "data"))
        scenario.write_round()

        prom = Prometheus(self.tmp, [],
                          extra_args=["--web.enable-remote-write-receiver"])
        self.stops.append(prom.stop)
        ix = InfluxDB(self.tmp)
        self.stops.append(ix.stop)
        ix.query("CREATE DATABASE villages")
        fast = {"flush_interval": "200ms", "min_backoff": "200ms",
                "max_backoff": "2s"}
        township = Daemon({
            "collectors": [{"type": "listen", "name": "villages", "token": "t"}],
            "exporters": [
                {"type": "prometheus"},
                dict(fast, type="remote_write", name="prom",
                     url="http://127.0.0.1:%d/api/v1/write" % prom.port),
                dict(fast, type="influxdb", name="influx", version="1",
                     url="http://127.0.0.1:%d" % ix.port, database="villages")],
        }, tdir)
        self.stops.append(township.stop)
        township.start()
        village = Daemon({
            "collectors": [
                {"type": "file", "name": "villages", "path": "data/villages.csv",
                 "settle": "50ms", "timestamp": "as_of", "timestamp_format": "unix",
                 "labels": {"county": "county", "town": "town", "village": "village"},
                 "metrics": {"village_population": "population",
                             "village_income_per_capita_yuan": "income"}},
                {"type": "file", "name": "sensors", "path": "data/*.influx",
                 "settle": "50ms"}],
            "exporters": [
                {"type": "prometheus"},
                dict(fast, type="remote_write", name="township",
                     url="http://127.0.0.1:%d/api/v1/write" % township.port,
                     bearer_token="t")],
        }, vdir)
        self.stops.append(village.stop)
        village.start()

        def collect_for(seconds):
            """Writes a round every ROUND_S for `seconds`; each is read
            (in the village's journal) before the next."""
            end = time.monotonic() + seconds
            while True:
                before = find(village.metrics(),
                              "villagemetrics_journal_appended_samples_total")
                scenario.write_round()
                wait_for("round read", lambda: find(
                    village.metrics(), "villagemetrics_journal_appended_samples_total")
                    >= before + scenario.per_round())
                if time.monotonic() >= end:
                    return
                # The collection schedule of the scenario, not a readiness wait.
                time.sleep(ROUND_S)

        def all_arrived():
            want = scenario.written
            return in_prometheus(prom) >= want and in_influxdb(ix) >= want

        collect_for(2 * ROUND_S)
        wait_for("the first rounds at both sinks", all_arrived, timeout=60)

        # 1. The township daemon is down; the village keeps collecting.
        self.assertEqual(township.stop()[0], 0)
        collect_for(OUTAGE_S)
        self.assertGreater(find(village.metrics(), "villagemetrics_exporter_lag_samples",
                                exporter="township"), 0)
        township.start()

        # 2. Prometheus is down; the township journals for it.
        prom.stop()
        collect_for(OUTAGE_S)
        prom.start()

        # 3. The village daemon dies without warning, right after a round.
        collect_for(0)
        village.proc.send_signal(signal.SIGKILL)
        village.proc.wait()
        village.log.close()
        village.start()
        collect_for(2 * ROUND_S)

        wait_for("every sample at both sinks", all_arrived, timeout=120)
        self.assertEqual(in_prometheus(prom), scenario.written)
        self.assertEqual(in_influxdb(ix), scenario.written)
        # Nothing was dropped on the way to InfluxDB.  (Prometheus may
        # refuse, as out of order, samples the village sent again after its
        # kill -9 and that it already holds: the sets above are exact.)
        dropped = sum(v for (name, labels), v in township.metrics().items()
                      if name == "villagemetrics_exporter_dropped_samples_total"
                      and ("exporter", "influx") in labels)
        self.assertEqual(dropped, 0)


if __name__ == "__main__":
    unittest.main()
