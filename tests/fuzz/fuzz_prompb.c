/* Fuzz target: remote-write decoding, snappy or raw (the first byte's low
 * bit chooses), then the round trip of whatever decoded: every accepted
 * series, labels sorted, is encoded again (raw and snappy) and decoded
 * again, and must come back the same, every series accepted; and given
 * as pieces (a series' Label fields cut in up to three, a piece the same
 * as one of the series before given its id), the snappy ops written for
 * them must decompress to the raw message byte for byte (the seeds in
 * tests/data/prompb, raw WriteRequests of villages' series, share
 * labels and timestamps the way a batch does).  Snappy
 * input is also decoded within small caps and a small memory budget: a
 * refusal calls nobody, a series delivered has no more labels than the
 * cap, and the budget is whole again afterwards. */
#include "daemon/formats/prompb.h"
#include "daemon/util/mem.h"

#include <snappy-c.h>
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
  g->series[g->n++] = (struct vg_prompb_series){.labels = l,
                                                .nlabels = nlabels,
                                                .ts_ms = t,
                                                .values = v,
                                                .nsamples = nsamples};
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

/* The series again as pieces: their Label fields in `fields`, cut where
 * the input's bytes say, a piece the same as the one in its place in one
 * of the 4 series before given that one's id (else a new id, or none). */
static void as_pieces(const struct got *g, const uint8_t *cut, size_t ncut,
                      struct vg_buf *fields, struct vg_prompb_series *out) {
  size_t *at = vg_calloc(g->n + 1, sizeof *at);
  for (size_t i = 0; i < g->n; i++) {
    at[i] = fields->len;
    if (vg_prompb_put_labels(g->series[i].labels, g->series[i].nlabels,
                             fields) != 0)
      abort();
  }
  at[g->n] = fields->len;
  for (size_t i = 0; i < g->n; i++) {
    out[i] = g->series[i];
    const unsigned char *f = (const unsigned char *)fields->data + at[i];
    size_t len = at[i + 1] - at[i];
    uint8_t c = ncut ? cut[i % ncut] : 0;
    size_t a = len ? (c & 15) % (len + 1) : 0;
    size_t b = a + (len - a ? (size_t)(c >> 4) % (len - a + 1) : 0);
    size_t ends[VG_PROMPB_PIECES + 1] = {0, a, b, len};
    out[i].npieces = VG_PROMPB_PIECES;
    for (size_t k = 0; k < VG_PROMPB_PIECES; k++) {
      struct vg_prompb_piece *p = &out[i].pieces[k];
      *p = (struct vg_prompb_piece){f + ends[k],
                                    (uint32_t)(ends[k + 1] - ends[k]),
                                    (c & 8) ? 0 : (uint32_t)(3 * i + k + 1)};
      for (size_t j = i >= 4 ? i - 4 : 0; j < i && p->id; j++) {
        const struct vg_prompb_piece *q = &out[j].pieces[k];
        if (q->id && q->len == p->len && !memcmp(q->bytes, p->bytes, p->len)) {
          p->id = q->id;
          break;
        }
      }
    }
  }
  free(at);
}

static void pieces_round_trip(const struct got *g, const uint8_t *cut,
                              size_t ncut) {
  struct vg_buf fields, raw, z, scratch;
  vg_buf_init(&fields, (size_t)1 << 28);
  vg_buf_init(&raw, (size_t)1 << 28);
  vg_buf_init(&z, (size_t)1 << 28);
  vg_buf_init(&scratch, (size_t)1 << 29);
  struct vg_prompb_series *s = vg_calloc(g->n + 1, sizeof *s);
  as_pieces(g, cut, ncut, &fields, s);
  if (vg_prompb_encode_raw(s, g->n, &raw) != 0 ||
      vg_prompb_encode_scratch(s, g->n, &scratch, &z) != 0)
    abort();
  size_t ulen = 0;
  if (snappy_uncompressed_length(z.data, z.len, &ulen) != SNAPPY_OK ||
      ulen != raw.len)
    abort();
  char *plain = vg_malloc(ulen + 1);
  if (snappy_uncompress(z.data, z.len, plain, &ulen) != SNAPPY_OK ||
      ulen != raw.len || memcmp(plain, raw.data, ulen) != 0)
    abort();
  free(plain);
  free(s);
  vg_buf_free(&fields);
  vg_buf_free(&raw);
  vg_buf_free(&z);
  vg_buf_free(&scratch);
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
    /* The input's bytes say where the pieces are cut. */
    pieces_round_trip(&first, data + 1, size - 1 < 64 ? size - 1 : 64);
  }
  got_free(&first);
  return 0;
}
