/* bench/lp_parse_bench.c - line-protocol parser throughput, nothing else.
 *
 * Reads a line-protocol file into memory and times, over the whole buffer:
 *   parse    vg_lp_parse with a visitor that only counts points and fields
 *            (the syntax, unescaping and tag sorting the push endpoints pay
 *            for every body);
 *   samples  vg_lp_samples with an emitter that only counts samples (the
 *            above plus the measurement_field naming rule: what /write runs
 *            in the thread pool before the batch).
 * Each is run `runs` times after one untimed warm-up; the best and the
 * median run are printed as one JSON object on stdout, for bench/intake.py,
 * in wall time and in the CPU time of the thread (best_cpu_s: what the
 * parse costs, whatever else the machine runs meanwhile).
 *
 * Usage: lp_parse_bench FILE [runs] [precision]
 *
 * Owns the file's buffer.  Must not: print anything but the JSON on stdout,
 * or count a run whose results differ from the warm-up's (the parser is
 * deterministic: a difference is a bug, and the program fails).
 */
#include "daemon/formats/lp.h"
#include "daemon/formats/lp_samples.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct counts {
  uint64_t points, fields, samples, bad;
};

static void count_point(void *arg, const char *measurement,
                        const struct vg_label *tags, size_t ntags,
                        const struct vg_lp_field *fields, size_t nfields,
                        bool has_ts, int64_t ts_ns, uint32_t line) {
  struct counts *c = arg;
  c->points++;
  c->fields += nfields;
}

static void count_bad(void *arg, uint32_t line, uint32_t column,
                      const char *reason) {
  struct counts *c = arg;
  c->bad++;
  /* The first one is worth seeing (once, not once per run): a bench input
   * should have none. */
  static bool shown;
  if (!shown) {
    shown = true;
    fprintf(stderr, "lp_parse_bench: bad line %u:%u: %s\n", line, column,
            reason);
  }
}

static void count_sample(void *arg, const char *metric,
                         const struct vg_label *labels, size_t nlabels,
                         double value, int64_t ts_ms,
                         const struct vg_location *where) {
  struct counts *c = arg;
  c->samples++;
}

static void count_reject(void *arg, enum vg_reject_reason reason,
                         const struct vg_location *where, const char *detail) {
  struct counts *c = arg;
  c->bad++;
}

static double now_s(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The whole file in one malloc'd buffer (owned by the caller). */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 20, n = 0;
  char *data = vg_malloc(cap);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      data = vg_realloc(data, cap);
    }
    size_t got = fread(data + n, 1, cap - n, f);
    if (!got)
      break;
    n += got;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(data);
    return NULL;
  }
  *len = n;
  return data;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One pass of `what` over the buffer into `c`; returns its wall time and
 * its CPU time in *cpu. */
static double run_once(int what, const char *data, size_t len,
                       enum vg_lp_precision precision, struct counts *c,
                       double *cpu) {
  memset(c, 0, sizeof *c);
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), t0 = now_s(CLOCK_MONOTONIC);
  if (what == 0) {
    struct vg_lp_visitor v = {count_point, count_bad, c};
    vg_lp_parse(data, len, precision, NULL, &v);
  } else {
    struct vg_emitter em = {
        .sample = count_sample, .reject = count_reject, .arg = c};
    vg_lp_samples("bench", data, len, precision, NULL, &em, NULL);
  }
  double t1 = now_s(CLOCK_MONOTONIC);
  *cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  return t1 - t0;
}

/* Times `runs` passes after a warm-up and prints one JSON member. */
static int bench(int what, const char *data, size_t len,
                 enum vg_lp_precision precision, int runs, bool last) {
  struct counts warm, c;
  double cpu, best_cpu = 0;
  run_once(what, data, len, precision, &warm, &cpu);
  double *t = vg_malloc(sizeof *t * (size_t)runs);
  for (int i = 0; i < runs; i++) {
    t[i] = run_once(what, data, len, precision, &c, &cpu);
    if (i == 0 || cpu < best_cpu)
      best_cpu = cpu;
    if (memcmp(&c, &warm, sizeof c) != 0) {
      fprintf(stderr, "lp_parse_bench: run %d counted differently\n", i);
      free(t);
      return -1;
    }
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  double best = t[0], median = t[runs / 2];
  free(t);
  printf("\"%s\": {\"runs\": %d, \"best_s\": %.6f, \"median_s\": %.6f, "
         "\"best_cpu_s\": %.6f, "
         "\"points\": %llu, \"fields\": %llu, \"samples\": %llu, "
         "\"bad\": %llu}%s\n",
         what == 0 ? "parse" : "samples", runs, best, median, best_cpu,
         (unsigned long long)warm.points, (unsigned long long)warm.fields,
         (unsigned long long)warm.samples, (unsigned long long)warm.bad,
         last ? "" : ",");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s FILE [runs] [precision]\n", argv[0]);
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  int precision = vg_lp_precision_parse(argc > 3 ? argv[3] : "ns");
  if (runs < 1 || precision < 0) {
    fprintf(stderr, "%s: runs must be >= 1 and precision ns, us, ms or s\n",
            argv[0]);
    return 2;
  }
  size_t len = 0;
  char *data = read_file(argv[1], &len);
  if (!data) {
    fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
    return 1;
  }
  uint64_t lines = 0;
  for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data)));
       p++)
    lines++;
  printf("{\"bytes\": %zu, \"lines\": %llu,\n", len, (unsigned long long)lines);
  int rc = bench(0, data, len, (enum vg_lp_precision)precision, runs, false);
  if (rc == 0)
    rc = bench(1, data, len, (enum vg_lp_precision)precision, runs, true);
  printf("}\n");
  free(data);
  return rc ? 1 : 0;
}
