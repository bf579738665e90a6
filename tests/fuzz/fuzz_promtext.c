/* Fuzz target: the exposition text parser on arbitrary bytes.
 *
 * 1. Every sample it accepts, written back as a sample line, must read
 *    back as exactly the same sample; every rejection is located and says
 *    why; every family is a valid name with one of the five types.
 * 2. What it accepts, put through a sink into a store, renders as a page
 *    (text 0.0.4) whose every series line reads back: the store's headers
 *    (the scraped HELP and TYPE, histogram parts grouped) never make a
 *    line unreadable.  The one allowance: a bucket or quantile series
 *    stored before its family was declared a histogram or summary lacks
 *    the label the declaration asks for, and is rejected for that. */
#include "daemon/model/expfmt.h"
#include "daemon/util/log.h"
#include "daemon/formats/promtext.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LABELS 64

struct sample {
  const char *metric;
  const struct vg_label *labels;
  size_t nlabels;
  double value;
  int64_t ts_ms;
  int seen;
};

static void compare(void *arg, const char *metric,
                    const struct vg_label *labels, size_t n, double value,
                    int64_t ts_ms, const struct vg_location *where) {
  struct sample *want = arg;
  want->seen++;
  if (strcmp(metric, want->metric) != 0 || n != want->nlabels ||
      ts_ms != want->ts_ms || where->line != 1)
    abort();
  /* Bit for bit, but any NaN is NaN. */
  if (!(isnan(value) && isnan(want->value)) &&
      memcmp(&value, &want->value, sizeof value) != 0)
    abort();
  for (size_t i = 0; i < n; i++)
    if (strcmp(labels[i].name, want->labels[i].name) != 0 ||
        strcmp(labels[i].value, want->labels[i].value) != 0)
      abort();
}

static void unexpected_reject(void *arg, enum vg_reject_reason reason,
                              const struct vg_location *where,
                              const char *detail) {
  abort();
}

static void rewrite(void *arg, const char *metric,
                    const struct vg_label *labels, size_t n, double value,
                    int64_t ts_ms, const struct vg_location *where) {
  struct vg_buf *out = arg;
  if (!vg_expfmt_valid_metric_name(metric) || n > MAX_LABELS ||
      where->line == 0)
    abort();
  vg_buf_reset(out);
  vg_buf_puts(out, metric);
  for (size_t i = 0; i < n; i++) {
    if (!labels[i].value[0])
      abort(); /* an empty value is no label */
    vg_buf_printf(out, "%c%s=\"", i ? ',' : '{', labels[i].name);
    vg_expfmt_escape_label_value(out, labels[i].value, strlen(labels[i].value));
    vg_buf_putc(out, '"');
  }
  char v[VG_EXPFMT_DOUBLE_BUFSIZE];
  vg_expfmt_format_double(value, v);
  vg_buf_printf(out, "%s %s", n ? "}" : "", v);
  if (ts_ms)
    vg_buf_printf(out, " %lld", (long long)ts_ms);
  vg_buf_putc(out, '\n');
  struct sample want = {metric, labels, n, value, ts_ms, 0};
  struct vg_emitter again = {
      .sample = compare, .reject = unexpected_reject, .arg = &want};
  struct vg_promtext_stats st;
  vg_promtext_parse("again", out->data, out->len, &again, &st);
  if (want.seen != 1 || st.samples != 1)
    abort();
}

static void check_reject(void *arg, enum vg_reject_reason reason,
                         const struct vg_location *where, const char *detail) {
  if (reason != VG_REJECT_PARSE_ERROR || where->line == 0 ||
      where->column == 0 || !detail[0])
    abort();
}

static void check_family(void *arg, const char *name, const char *type,
                         const char *help) {
  if (!vg_expfmt_valid_metric_name(name) ||
      (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
       strcmp(type, "histogram") != 0 && strcmp(type, "summary") != 0 &&
       strcmp(type, "untyped") != 0))
    abort();
  if (help && !vg_expfmt_valid_utf8(help, strlen(help)))
    abort();
}

/* Phase 2: counts what the rendered page reads back as. */
struct reread {
  size_t samples;
  size_t allowed_rejects;
};

static void count_sample(void *arg, const char *metric,
                         const struct vg_label *labels, size_t n, double value,
                         int64_t ts_ms, const struct vg_location *where) {
  ((struct reread *)arg)->samples++;
}

static void check_reread_reject(void *arg, enum vg_reject_reason reason,
                                const struct vg_location *where,
                                const char *detail) {
  if (strncmp(detail, "histogram bucket ", 17) != 0 &&
      strncmp(detail, "summary quantile ", 17) != 0 &&
      strncmp(detail, "label \"le\" of ", 14) != 0 &&
      strncmp(detail, "label \"quantile\" of ", 20) != 0)
    abort();
  ((struct reread *)arg)->allowed_rejects++;
}

static void quiet(void *arg, int level, const char *line) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_buf out;
  vg_buf_init(&out, 4 * size + 4096);
  struct vg_emitter em = {.sample = rewrite,
                          .reject = check_reject,
                          .family = check_family,
                          .arg = &out};
  vg_promtext_parse("fuzz", (const char *)data, size, &em, NULL);
  vg_buf_free(&out);

  vg_log_set_output(quiet, NULL);
  struct vg_store *st = vg_store_new();
  struct vg_sink_options o = {.collector = "fuzz"};
  struct vg_sink *sink = vg_sink_new(st, &o);
  vg_sink_begin(sink, "fuzz");
  vg_promtext_parse("fuzz", (const char *)data, size, vg_sink_emitter(sink),
                    NULL);
  vg_sink_end(sink);
  struct vg_buf page;
  vg_buf_init(&page, SIZE_MAX / 2);
  if (vg_store_render(st, &page, false) != 0)
    abort();
  struct reread r = {0};
  struct vg_emitter count = {
      .sample = count_sample, .reject = check_reread_reject, .arg = &r};
  vg_promtext_parse("page", page.data ? page.data : "", page.len, &count, NULL);
  struct vg_store_stats ss;
  vg_store_stats(st, &ss);
  if (r.samples + r.allowed_rejects != ss.series)
    abort();
  vg_buf_reset(&page);
  if (vg_store_render(st, &page, true) != 0)
    abort();
  vg_buf_free(&page);
  vg_sink_free(sink);
  vg_store_free(st);
  return 0;
}
