/* Fuzz target: remote-write decoding, snappy or raw (the first byte's low
 * bit chooses), then the round trip of whatever decoded: every accepted
 * series, labels sorted, is encoded again (raw and snappy) and decoded
 * again, and must come back the same, every series accepted.  Snappy
 * input is also decoded within small caps and a small memory budget: a
 * refusal calls nobody, a series delivered has no more labels than the
 * cap, and the budget is whole again afterwards. */
#include "daemon/formats/prompb.h"
#include "daemon/util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Series as decoded, copied, with labels sorted for re-encoding. */
struct got {
  struct vg_prompb_series *series;
  size_t n, cap;
  size_t rejected;
};

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const struct vg_label *)a)->name,
                ((const struct vg_label *)b)->name);
}

static void on_series(void *arg, const struct vg_label *labels, size_t nlabels,
                      const int64_t *ts, const double *values,
                      size_t nsamples) {
  struct got *g = arg;
  g->series = vg_grow(g->series, &g->cap, g->n + 1, sizeof *g->series);
  struct vg_label *l = vg_calloc(nlabels, sizeof *l);
  for (size_t i = 0; i < nlabels; i++) {
    if (!labels[i].name || !labels[i].value)
      abort();
    l[i].name = vg_strdup(labels[i].name);
    l[i].value = vg_strdup(labels[i].value);
  }
  qsort(l, nlabels, sizeof *l, cmp_label);
  int64_t *t = vg_malloc(nsamples * sizeof *t);
  double *v = vg_malloc(nsamples * sizeof *v);
  if (nsamples) {
    memcpy(t, ts, nsamples * sizeof *t);
    memcpy(v, values, nsamples * sizeof *v);
  }
  g->series[g->n++] =
      (struct vg_prompb_series){l, nlabels, t, v, nsamples, NULL, 0};
}

static void on_reject(void *arg, size_t index, const char *reason) {
  struct got *g = arg;
  if (!reason || !*reason)
    abort();
  g->rejected++;
}

static void got_free(struct got *g) {
  for (size_t i = 0; i < g->n; i++) {
    struct vg_prompb_series *s = &g->series[i];
    for (size_t k = 0; k < s->nlabels; k++) {
      free((char *)s->labels[k].name);
      free((char *)s->labels[k].value);
    }
    free((void *)s->labels);
    free((void *)s->ts_ms);
    free((void *)s->values);
  }
  free(g->series);
}

static int decode(const char *p, size_t len, int snappy, struct got *g) {
  struct vg_prompb_visitor v = {on_series, on_reject, g};
  char err[256];
  memset(g, 0, sizeof *g);
  int rc = snappy ? vg_prompb_decode(p, len, 1 << 24, &v, err, sizeof err)
                  : vg_prompb_decode_raw(p, len, &v, err, sizeof err);
  if (rc && (g->n || g->rejected))
    abort(); /* an error after a callback */
  if (rc && !err[0])
    abort(); /* an error without a message */
  return rc;
}

static void same(const struct got *a, const struct got *b) {
  if (a->n != b->n || b->rejected)
    abort();
  for (size_t i = 0; i < a->n; i++) {
    const struct vg_prompb_series *x = &a->series[i], *y = &b->series[i];
    if (x->nlabels != y->nlabels || x->nsamples != y->nsamples)
      abort();
    for (size_t k = 0; k < x->nlabels; k++)
      if (strcmp(x->labels[k].name, y->labels[k].name) ||
          strcmp(x->labels[k].value, y->labels[k].value))
        abort();
    if (x->nsamples &&
        (memcmp(x->ts_ms, y->ts_ms, x->nsamples * sizeof *x->ts_ms) ||
         memcmp(x->values, y->values, x->nsamples * sizeof *x->values)))
      abort();
  }
}

/* The receiver's kept buffer (vg_prompb_limits.raw), from one input to
 * the next as from one request to the next: the unlimited decode makes
 * its own copy, so both ways are run on every input. */
static struct vg_buf keep;

static void decode_limited(const char *p, size_t len, int unlimited_rc) {
  struct vg_budget budget;
  vg_budget_init(&budget, 1 << 16);
  struct vg_budget_hold hold;
  vg_budget_hold_init(&hold, &budget);
  struct vg_prompb_limits lim = {.max_uncompressed = 1 << 24,
                                 .max_labels = 4,
                                 .max_series = 8,
                                 .max_samples = 16,
                                 .hold = &hold,
                                 .raw = &keep};
  struct got g = {0};
  struct vg_prompb_visitor v = {on_series, on_reject, &g};
  char err[256];
  int rc = vg_prompb_decode_limited(p, len, &lim, &v, err, sizeof err);
  if (rc && (g.n || g.rejected || !err[0]))
    abort();
  if (rc == 0 && unlimited_rc != 0)
    abort(); /* caps can refuse more, never accept more */
  for (size_t i = 0; i < g.n; i++)
    if (g.series[i].nlabels > lim.max_labels)
      abort();
  if (g.n + g.rejected > lim.max_series || hold.held ||
      vg_budget_used(&budget) || budget.peak > budget.limit)
    abort();
  got_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  int snappy = !(data[0] & 1);
  struct got first;
  int rc = decode((const char *)data + 1, size - 1, snappy, &first);
  if (snappy)
    decode_limited((const char *)data + 1, size - 1, rc);
  if (rc == 0) {
    struct vg_buf out;
    vg_buf_init(&out, (size_t)1 << 28);
    struct got again;
    if (vg_prompb_encode_raw(first.series, first.n, &out) != 0)
      abort();
    if (decode(out.data, out.len, 0, &again) != 0)
      abort();
    same(&first, &again);
    got_free(&again);
    if (vg_prompb_encode(first.series, first.n, &out) != 0)
      abort();
    if (decode(out.data, out.len, 1, &again) != 0)
      abort();
    same(&first, &again);
    got_free(&again);
    vg_buf_free(&out);
  }
  got_free(&first);
  return 0;
}
