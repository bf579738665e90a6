/* bench/promtext.c - how fast the exposition text parser reads a page.
 *
 * Builds one large page in memory, shaped like a busy exporter's /metrics
 * (gauges with four labels, counters, histograms with 12 buckets, a
 * summary, HELP and TYPE for each family), then times three ways of
 * reading it, each repeated until it has run for about two seconds:
 *   parse   into an emitter that only counts (the parser alone);
 *   batch   into a vg_batch, as a collector does in the thread pool;
 *   store   into a sink and the store, as the loop does with the batch.
 * Prints MB/s and samples/s for each.  Not a test: no figure is checked.
 *
 *   bench/run-promtext.sh [series]      (default 200000)
 */
#include "daemon/pipeline/batch.h"
#include "daemon/util/buf.h"
#include "daemon/util/log.h"
#include "daemon/formats/promtext.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* About `series` sample lines; returns the page (caller frees). */
static char *make_page(long series, size_t *len, long *lines) {
  struct vg_buf b;
  vg_buf_init(&b, (size_t)1 << 34);
  static const char *const les[] = {"0.005", "0.01", "0.025", "0.05",
                                    "0.1",   "0.25", "0.5",   "1",
                                    "2.5",   "5",    "10",    "+Inf"};
  long n = 0, family = 0;
  unsigned seed = 12345;
  while (n < series) {
    long f = family++;
    switch (f % 4) {
    case 0: /* a gauge over many label sets */
      vg_buf_printf(&b,
                    "# HELP modem_signal_rsrp_dbm_%ld Reference signal "
                    "received power, in dBm.\n"
                    "# TYPE modem_signal_rsrp_dbm_%ld gauge\n",
                    f, f);
      for (int i = 0; i < 500 && n < series; i++, n++) {
        seed = seed * 1103515245 + 12345;
        vg_buf_printf(&b,
                      "modem_signal_rsrp_dbm_%ld{band=\"B%d\",cell=\"460-00-"
                      "%04x-%02x\",county=\"Shiqian\",village=\"Village "
                      "%d\"} %d.%d\n",
                      f, i % 41, seed >> 16, i % 256, i, -60 - (int)(seed % 60),
                      (int)(seed >> 8) % 10);
      }
      break;
    case 1: /* a counter */
      vg_buf_printf(&b,
                    "# HELP modem_rx_bytes_%ld_total Bytes received.\n"
                    "# TYPE modem_rx_bytes_%ld_total counter\n",
                    f, f);
      for (int i = 0; i < 200 && n < series; i++, n++) {
        seed = seed * 1103515245 + 12345;
        vg_buf_printf(&b,
                      "modem_rx_bytes_%ld_total{interface=\"wwan%d\"} "
                      "%u\n",
                      f, i, seed);
      }
      break;
    case 2: /* a histogram per label set */
      vg_buf_printf(&b,
                    "# HELP probe_duration_seconds_%ld Probe time.\n"
                    "# TYPE probe_duration_seconds_%ld histogram\n",
                    f, f);
      for (int i = 0; i < 20 && n < series; i++) {
        long count = 0;
        for (int k = 0; k < 12; k++, n++) {
          count += (seed >> (k + 3)) % 50;
          vg_buf_printf(&b,
                        "probe_duration_seconds_%ld_bucket{target=\"t%d\","
                        "le=\"%s\"} %ld\n",
                        f, i, les[k], count);
        }
        vg_buf_printf(&b,
                      "probe_duration_seconds_%ld_sum{target=\"t%d\"} "
                      "%.6g\n"
                      "probe_duration_seconds_%ld_count{target=\"t%d\"} "
                      "%ld\n",
                      f, i, (double)count * 0.137, f, i, count);
        n += 2;
      }
      break;
    default: /* a summary */
      vg_buf_printf(&b,
                    "# HELP gc_duration_seconds_%ld GC pauses.\n"
                    "# TYPE gc_duration_seconds_%ld summary\n"
                    "gc_duration_seconds_%ld{quantile=\"0\"} 2.4e-05\n"
                    "gc_duration_seconds_%ld{quantile=\"0.5\"} 5.2e-05\n"
                    "gc_duration_seconds_%ld{quantile=\"1\"} 0.000412\n"
                    "gc_duration_seconds_%ld_sum 0.013824\n"
                    "gc_duration_seconds_%ld_count 211\n",
                    f, f, f, f, f, f, f);
      n += 5;
      break;
    }
  }
  *lines = n;
  return vg_buf_take(&b, len);
}

static void count_sample(void *arg, const char *metric,
                         const struct vg_label *labels, size_t n, double value,
                         int64_t ts_ms, const struct vg_location *where) {
  (*(long *)arg)++;
}

static void count_reject(void *arg, enum vg_reject_reason reason,
                         const struct vg_location *where, const char *detail) {
  fprintf(stderr, "rejected: line %u: %s\n", where->line, detail);
  exit(1);
}

static void quiet(void *arg, int level, const char *line) {}

static void report(const char *what, size_t bytes, long samples, int runs,
                   double seconds) {
  double per = seconds / runs;
  printf("%-6s %8.1f MB/s %12.0f samples/s  %8.2f ms per page  (%d runs)\n",
         what, (double)bytes / per / 1e6, (double)samples / per, per * 1e3,
         runs);
}

int main(int argc, char **argv) {
  long series = argc > 1 ? atol(argv[1]) : 200000;
  size_t len;
  long lines;
  char *page = make_page(series, &len, &lines);
  printf("page: %zu bytes, %ld sample lines\n", len, lines);

  long got = 0;
  struct vg_emitter counter = {
      .sample = count_sample, .reject = count_reject, .arg = &got};
  int runs = 0;
  double start = now_s(), t;
  do {
    got = 0;
    vg_promtext_parse("bench", page, len, &counter, NULL);
    runs++;
  } while ((t = now_s() - start) < 2.0);
  if (got != lines) {
    fprintf(stderr, "parsed %ld samples, expected %ld\n", got, lines);
    return 1;
  }
  report("parse", len, got, runs, t);

  runs = 0;
  start = now_s();
  do {
    struct vg_batch *b = vg_batch_new(len * 8);
    vg_promtext_parse("bench", page, len, vg_batch_emitter(b), NULL);
    vg_batch_free(b);
    runs++;
  } while ((t = now_s() - start) < 2.0);
  report("batch", len, got, runs, t);

  vg_log_set_output(quiet, NULL);
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "bench"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  runs = 0;
  start = now_s();
  do {
    vg_sink_begin(sink, "bench");
    vg_promtext_parse("bench", page, len, vg_sink_emitter(sink), NULL);
    vg_sink_end(sink);
    runs++;
  } while ((t = now_s() - start) < 2.0);
  report("store", len, got, runs, t);
  vg_sink_free(sink);
  vg_store_free(st);
  free(page);
  return 0;
}
