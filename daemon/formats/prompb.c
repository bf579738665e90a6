/* daemon/formats/prompb.c - remote-write 1.0 WriteRequest encoding/decoding.
 *
 * Owns a minimal protobuf reader and writer for the four messages remote
 * write 1.0 uses (WriteRequest, TimeSeries, Label, Sample) and the snappy
 * step around them: libsnappy, or for series given as pieces the ops
 * written straight from them (snappy_block.c).  It must not know about
 * HTTP, the store or the journal, and must never call a visitor for a
 * message it then rejects.
 *
 * Why not protobuf-c: it needs protoc-c at build time and generated code
 * in the tree, its unpacker allocates a tree of structs per message (one
 * per label and per sample) that we would then copy into our own, and its
 * packer wants that tree built first.  The subset we need is varints,
 * length-delimited fields and fixed64 doubles; written by hand it is a few
 * hundred lines, encodes straight from our arrays in one pass into one
 * buffer, and decodes without copying anything but label strings.
 *
 * Wire format used (protobuf encoding rules):
 *   key = (field_number << 3) | wire_type, as a varint
 *   wire types: 0 varint, 1 fixed64 (LE), 2 length-delimited, 5 fixed32
 *   WriteRequest { 1: repeated TimeSeries (2);
 *                  3: repeated MetricMetadata (2; written, skipped) }
 *   TimeSeries   { 1: repeated Label (2); 2: repeated Sample (2);
 *                  3: exemplars (skipped), 4: histograms (refused) }
 *   MetricMetadata { 1: type (0); 2: metric_family_name (2); 4: help (2);
 *                    5: unit (2) }
 *   Label        { 1: name (2); 2: value (2) }
 *   Sample       { 1: value double (1); 2: timestamp int64 (0) }
 */
#include "daemon/formats/prompb.h"
#include "daemon/formats/snappy_block.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/mem.h"
#include "daemon/util/varint.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

/* Keys of the fields we write: (field << 3) | wire type. */
#define KEY(field, wt) ((unsigned char)(((field) << 3) | (wt)))

/* ---- encoding ---------------------------------------------------------- */

/* A length-delimited field: key, length varint, payload. */
static size_t field_len(size_t payload) {
  return 1 + vg_varint_len(payload) + payload;
}

static unsigned char *put_varint(unsigned char *p, uint64_t v) {
  return p + vg_varint_put(p, v);
}

static unsigned char *put_bytes(unsigned char *p, unsigned char key,
                                const char *s, size_t len) {
  *p++ = key;
  p = put_varint(p, len);
  memcpy(p, s, len);
  return p + len;
}

static size_t label_len(const struct vg_label *l) {
  return field_len(strlen(l->name)) + field_len(strlen(l->value));
}

static size_t sample_len(int64_t ts) {
  /* Both fields are always written, even when zero (proto3 writers may
   * omit them): the size stays simple and -0.0 survives the trip. */
  return 1 + 8 + 1 + vg_varint_len((uint64_t)ts);
}

/* The TimeSeries payload length. */
static size_t series_len(const struct vg_prompb_series *s) {
  size_t len = 0;
  for (size_t i = 0; i < s->npieces; i++)
    len += s->pieces[i].len;
  for (size_t i = 0; !s->npieces && i < s->nlabels; i++)
    len += field_len(label_len(&s->labels[i]));
  for (size_t i = 0; i < s->nsamples; i++)
    len += field_len(sample_len(s->ts_ms[i]));
  return len;
}

/* Whether the series' labels are sorted by name, each name once, with a
 * non-empty __name__.  Checked once, by request_len, not again while
 * writing. */
static bool series_valid(const struct vg_prompb_series *s) {
  if (s->npieces)
    return true; /* its writer's to answer for */
  bool has_name = false;
  for (size_t i = 0; i < s->nlabels; i++) {
    const struct vg_label *l = &s->labels[i];
    if (i > 0 && strcmp(s->labels[i - 1].name, l->name) >= 0)
      return false;
    if (strcmp(l->name, "__name__") == 0)
      has_name = l->value[0] != '\0';
  }
  return has_name;
}

/* Labels of a series measured once while writing it, up to this many
 * (more are measured again: no series of ours has that many). */
#define MEASURED_LABELS 128

/* A Sample field: its value's part is SAMPLE_HEAD bytes, then the
 * timestamp's. */
#define SAMPLE_HEAD 11
#define SAMPLE_MAX (SAMPLE_HEAD + 1 + VG_VARINT_MAX)

static unsigned char *put_sample(unsigned char *p, int64_t ts, double value) {
  uint64_t bits;
  memcpy(&bits, &value, sizeof bits);
  *p++ = KEY(2, WT_LEN);
  *p++ = (unsigned char)sample_len(ts); /* at most 20: one byte */
  *p++ = KEY(1, WT_FIXED64);
  for (int b = 0; b < 8; b++)
    *p++ = (unsigned char)(bits >> (8 * b));
  *p++ = KEY(2, WT_VARINT);
  return put_varint(p, (uint64_t)ts);
}

static unsigned char *put_samples(unsigned char *p,
                                  const struct vg_prompb_series *s) {
  for (size_t i = 0; i < s->nsamples; i++)
    p = put_sample(p, s->ts_ms[i], s->values[i]);
  return p;
}

static unsigned char *put_label(unsigned char *p, const char *name, size_t nl,
                                const char *value, size_t vl) {
  *p++ = KEY(1, WT_LEN);
  p = put_varint(p, field_len(nl) + field_len(vl));
  p = put_bytes(p, KEY(1, WT_LEN), name, nl);
  return put_bytes(p, KEY(2, WT_LEN), value, vl);
}

/* The Label fields' length; with n <= MEASURED_LABELS, each name's and
 * value's length in lens (room for 2 n), for put_labels. */
static size_t measure_labels(const struct vg_label *l, size_t n, size_t *lens) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(l[i].name), vl = strlen(l[i].value);
    if (n <= MEASURED_LABELS) {
      lens[2 * i] = nl;
      lens[2 * i + 1] = vl;
    }
    len += field_len(field_len(nl) + field_len(vl));
  }
  return len;
}

static unsigned char *put_labels(unsigned char *p, const struct vg_label *l,
                                 size_t n, const size_t *lens) {
  bool measured = n <= MEASURED_LABELS;
  for (size_t i = 0; i < n; i++)
    p = put_label(p, l[i].name, measured ? lens[2 * i] : strlen(l[i].name),
                  l[i].value, measured ? lens[2 * i + 1] : strlen(l[i].value));
  return p;
}

int vg_prompb_put_labels(const struct vg_label *labels, size_t n,
                         struct vg_buf *out) {
  size_t lens[2 * MEASURED_LABELS];
  size_t len = measure_labels(labels, n, lens);
  int rc = vg_buf_reserve(out, len);
  if (rc)
    return rc;
  put_labels((unsigned char *)out->data + out->len, labels, n, lens);
  out->len += len;
  out->data[out->len] = '\0';
  return 0;
}

int vg_prompb_put_labels_measured(const struct vg_label *labels,
                                  const uint32_t *lens, size_t n,
                                  struct vg_buf *out) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += field_len(field_len(lens[2 * i]) + field_len(lens[2 * i + 1]));
  int rc = vg_buf_reserve(out, len);
  if (rc)
    return rc;
  unsigned char *p = (unsigned char *)out->data + out->len;
  for (size_t i = 0; i < n; i++)
    p = put_label(p, labels[i].name, lens[2 * i], labels[i].value,
                  lens[2 * i + 1]);
  out->len += len;
  out->data[out->len] = '\0';
  return 0;
}

static unsigned char *put_series(unsigned char *p,
                                 const struct vg_prompb_series *s) {
  if (s->npieces) {
    *p++ = KEY(1, WT_LEN);
    p = put_varint(p, series_len(s));
    for (size_t i = 0; i < s->npieces; i++) {
      memcpy(p, s->pieces[i].bytes, s->pieces[i].len);
      p += s->pieces[i].len;
    }
    return put_samples(p, s);
  }
  size_t lens[2 * MEASURED_LABELS];
  size_t len = measure_labels(s->labels, s->nlabels, lens);
  for (size_t i = 0; i < s->nsamples; i++)
    len += field_len(sample_len(s->ts_ms[i]));
  *p++ = KEY(1, WT_LEN);
  p = put_varint(p, len);
  p = put_labels(p, s->labels, s->nlabels, lens);
  return put_samples(p, s);
}

/* Sizes first, so that the message is written in one pass into memory
 * reserved once.  Series lengths are computed twice (here and while
 * writing, from lengths measured once there) rather than stored, to keep
 * encoding free of allocation. */
static int request_len(const struct vg_prompb_series *series, size_t n,
                       size_t *total) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (!series_valid(&series[i]))
      return -EINVAL;
    len += field_len(series_len(&series[i]));
  }
  *total = len;
  return 0;
}

static void put_request(unsigned char *p, const struct vg_prompb_series *series,
                        size_t n) {
  for (size_t i = 0; i < n; i++)
    p = put_series(p, &series[i]);
}

int vg_prompb_encode_raw(const struct vg_prompb_series *series, size_t n,
                         struct vg_buf *out) {
  vg_buf_reset(out);
  size_t len;
  int rc = request_len(series, n, &len);
  if (rc == 0)
    rc = vg_buf_reserve(out, len);
  if (rc)
    return rc;
  put_request((unsigned char *)out->data, series, n);
  out->len = len;
  out->data[len] = '\0';
  return 0;
}

/* How many bytes a and b begin with alike, up to n: eight at a time, as a
 * village's label set shares most of its neighbour's. */
static size_t common_prefix(const unsigned char *a, const unsigned char *b,
                            size_t n) {
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y)
      break;
  }
  while (i < n && a[i] == b[i])
    i++;
  return i;
}

/* The message written straight as snappy ops when every series is given
 * as pieces: a piece of an id written before is a copy of it.  So is what
 * a sample has of the sample before: the start of its value's field (a
 * whole number's low bytes are zeros) and its timestamp's field (a batch
 * is mostly one round's).  `scratch` holds each series' length (measured
 * once: for the message's length first, then for the series' own field),
 * each id's last position, then the ops. */
static int encode_pieces(const struct vg_prompb_series *series, size_t n,
                         struct vg_buf *scratch, struct vg_buf *out) {
  if (n > UINT32_MAX)
    return -ENOSPC;
  size_t lens_bytes = (n * sizeof(uint32_t) + 7) & ~(size_t)7;
  int rc = vg_buf_reserve(scratch, lens_bytes);
  if (rc)
    return rc;
  uint32_t *lens = (uint32_t *)(void *)scratch->data; /* malloc's alignment */
  uint32_t ids = 0;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < series[i].npieces; k++)
      if (series[i].pieces[k].id > ids)
        ids = series[i].pieces[k].id;
    size_t sl = series_len(&series[i]);
    len += field_len(sl);
    if (len > UINT32_MAX)
      return -ENOSPC;
    lens[i] = (uint32_t)sl;
  }
  size_t table = ((size_t)ids + 1) * sizeof(size_t);
  rc = vg_buf_reserve(scratch, lens_bytes + table + vg_snappy_block_bound(len));
  if (rc)
    return rc;
  lens = (uint32_t *)(void *)scratch->data;
  size_t *at = (size_t *)(void *)(scratch->data + lens_bytes);
  memset(at, 0xff, table); /* VG_SNAPPY_NEW */
  unsigned char *ops = (unsigned char *)scratch->data + lens_bytes + table;
  struct vg_snappy_block w;
  vg_snappy_block_start(&w, ops, len);
  /* The sample before: where it began, its value's field, its ts. */
  size_t was_at = VG_SNAPPY_NEW;
  /* Where the series before had each of its pieces. */
  size_t piece_at[VG_PROMPB_PIECES];
  unsigned char was[SAMPLE_HEAD];
  int64_t ts_was = 0;
  for (size_t i = 0; i < n; i++) {
    const struct vg_prompb_series *s = &series[i];
    unsigned char head[SAMPLE_MAX];
    head[0] = KEY(1, WT_LEN);
    size_t hl = (size_t)(put_varint(head + 1, lens[i]) - head);
    vg_snappy_block_put(&w, head, hl, VG_SNAPPY_NEW);
    for (size_t k = 0; k < s->npieces; k++) {
      const struct vg_prompb_piece *piece = &s->pieces[k];
      size_t from = piece->id ? at[piece->id] : VG_SNAPPY_NEW;
      if (piece->id)
        at[piece->id] = w.pos;
      /* A piece new to the message is most often like the one in its
       * place in the series before (a village's set after its
       * neighbour's): what they begin with alike is a copy. */
      size_t like = 0;
      const struct vg_prompb_piece *before =
          i > 0 && k < series[i - 1].npieces ? &series[i - 1].pieces[k] : NULL;
      if (from == VG_SNAPPY_NEW && before)
        like =
            common_prefix(piece->bytes, before->bytes,
                          piece->len < before->len ? piece->len : before->len);
      vg_snappy_block_put(&w, piece->bytes, like, like ? piece_at[k] : from);
      piece_at[k] = w.pos - like;
      vg_snappy_block_put(&w, piece->bytes + like, piece->len - like, from);
    }
    for (size_t k = 0; k < s->nsamples; k++) {
      size_t sl = (size_t)(put_sample(head, s->ts_ms[k], s->values[k]) - head);
      size_t same = 0;
      while (was_at != VG_SNAPPY_NEW && same < SAMPLE_HEAD &&
             head[same] == was[same])
        same++;
      size_t ts_from = was_at != VG_SNAPPY_NEW && s->ts_ms[k] == ts_was
                           ? was_at + SAMPLE_HEAD
                           : VG_SNAPPY_NEW;
      size_t here = w.pos;
      vg_snappy_block_put(&w, head, same, was_at);
      vg_snappy_block_put(&w, head + same, SAMPLE_HEAD - same, VG_SNAPPY_NEW);
      vg_snappy_block_put(&w, head + SAMPLE_HEAD, sl - SAMPLE_HEAD, ts_from);
      was_at = here;
      memcpy(was, head, SAMPLE_HEAD);
      ts_was = s->ts_ms[k];
    }
  }
  return vg_buf_append(out, ops, vg_snappy_block_end(&w));
}

int vg_prompb_encode_scratch(const struct vg_prompb_series *series, size_t n,
                             struct vg_buf *scratch, struct vg_buf *out) {
  vg_buf_reset(out);
  vg_buf_reset(scratch);
  bool pieces = n > 0;
  for (size_t i = 0; i < n && pieces; i++)
    pieces = series[i].npieces > 0;
  if (pieces)
    return encode_pieces(series, n, scratch, out);
  size_t len;
  int rc = request_len(series, n, &len);
  if (rc)
    return rc;
  /* scratch holds the raw message, then snappy's output, which must not
   * overlap its input and must have room for the worst case. */
  size_t room = snappy_max_compressed_length(len);
  if (len > SIZE_MAX / 2 || room > SIZE_MAX / 2)
    return -ENOSPC;
  rc = vg_buf_reserve(scratch, len + room);
  if (rc)
    return rc;
  put_request((unsigned char *)scratch->data, series, n);
  size_t clen = room;
  if (snappy_compress(scratch->data, len, scratch->data + len, &clen) !=
      SNAPPY_OK)
    return -EINVAL; /* cannot happen: room is snappy's own worst case */
  /* One copy of the (small) compressed message, so that out's cap is
   * checked against what is sent, not against snappy's worst case. */
  return vg_buf_append(out, scratch->data + len, clen);
}

static size_t metadata_len(const struct vg_prompb_metadata *m) {
  size_t len =
      1 + vg_varint_len((uint64_t)m->type) + field_len(strlen(m->family));
  if (m->help && m->help[0])
    len += field_len(strlen(m->help));
  if (m->unit && m->unit[0])
    len += field_len(strlen(m->unit));
  return len;
}

int vg_prompb_encode_metadata(const struct vg_prompb_metadata *m, size_t n,
                              struct vg_buf *scratch, struct vg_buf *out) {
  vg_buf_reset(out);
  vg_buf_reset(scratch);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (!m[i].family || !m[i].family[0])
      return -EINVAL;
    len += field_len(metadata_len(&m[i]));
  }
  size_t room = snappy_max_compressed_length(len);
  int rc = vg_buf_reserve(scratch, len + room);
  if (rc)
    return rc;
  unsigned char *p = (unsigned char *)scratch->data;
  for (size_t i = 0; i < n; i++) {
    *p++ = KEY(3, WT_LEN);
    p = put_varint(p, metadata_len(&m[i]));
    *p++ = KEY(1, WT_VARINT);
    p = put_varint(p, (uint64_t)m[i].type);
    p = put_bytes(p, KEY(2, WT_LEN), m[i].family, strlen(m[i].family));
    if (m[i].help && m[i].help[0])
      p = put_bytes(p, KEY(4, WT_LEN), m[i].help, strlen(m[i].help));
    if (m[i].unit && m[i].unit[0])
      p = put_bytes(p, KEY(5, WT_LEN), m[i].unit, strlen(m[i].unit));
  }
  size_t clen = room;
  if (snappy_compress(scratch->data, len, scratch->data + len, &clen) !=
      SNAPPY_OK)
    return -EINVAL;
  return vg_buf_append(out, scratch->data + len, clen);
}

int vg_prompb_encode(const struct vg_prompb_series *series, size_t n,
                     struct vg_buf *out) {
  struct vg_buf scratch; /* owned here, freed below */
  vg_buf_init(&scratch, SIZE_MAX / 2);
  int rc = vg_prompb_encode_scratch(series, n, &scratch, out);
  vg_buf_free(&scratch);
  return rc;
}

/* ---- decoding ---------------------------------------------------------- */

/* Where a label's bytes lie in the message, until the series is whole and
 * the strings can be copied in one go (copying earlier would move them
 * when the string scratch grows). */
struct span {
  const unsigned char *name;
  size_t name_len;
  const unsigned char *value;
  size_t value_len;
};

/* One decode call's state.  Every array is owned here, sized once after
 * the checking pass for the largest series (so that its memory is known
 * before it is allocated), reused from one series to the next and freed
 * by dec_free. */
struct dec {
  const unsigned char *base;         /* offsets in messages count from here */
  const struct vg_prompb_visitor *v; /* NULL in the checking pass */
  char *error;
  size_t error_size;
  const struct vg_prompb_limits *lim;

  /* The checking pass's counts: the message's series and samples, and
   * the largest series' labels (up to the cap), label bytes and samples. */
  size_t nseries, total_samples;
  size_t max_spans, max_label_bytes, max_samples;
  /* The series being read: every label seen (spans holds those within
   * the cap), and in the checking pass its samples and label bytes. */
  size_t seen_labels, cur_samples, cur_bytes;
  size_t scratch_bytes; /* taken from lim->hold for the arrays below */

  struct span *spans;
  size_t nspans, spans_cap;
  int64_t *ts;
  double *values;
  size_t nsamples, ts_cap, values_cap;
  struct vg_label *labels; /* as sent, pointing into strings */
  size_t labels_cap;
  struct vg_label *sorted; /* a sorted copy when labels are not */
  size_t sorted_cap;
  char *strings; /* NUL-terminated copies of names and values */
  size_t strings_cap;
  char reason[160];
};

/* One field as read: its key, and its payload by wire type. */
struct field {
  uint32_t num;
  unsigned wt;
  size_t at;              /* offset of its key */
  uint64_t u;             /* varint, fixed64 or fixed32 */
  const unsigned char *p; /* length-delimited payload */
  size_t len;
};

static int fail(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct dec *d, const char *fmt, ...) {
  if (d->error && d->error_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, d->error_size, fmt, ap);
    va_end(ap);
  }
  return -EINVAL;
}

static size_t offset(const struct dec *d, const unsigned char *p) {
  return (size_t)(p - d->base);
}

static int get_varint(struct dec *d, const unsigned char **pp,
                      const unsigned char *end, uint64_t *out) {
  const unsigned char *p = *pp;
  uint64_t v = 0;
  for (unsigned i = 0; i < 10; i++) {
    if (p + i == end)
      return fail(d, "truncated varint at byte %zu", offset(d, p));
    uint64_t b = p[i];
    /* The tenth byte holds only bit 63. */
    if (i == 9 && b > 1)
      break;
    v |= (b & 0x7F) << (7 * i);
    if (b < 0x80) {
      *pp = p + i + 1;
      *out = v;
      return 0;
    }
  }
  return fail(d, "bad varint at byte %zu (over 64 bits)", offset(d, p));
}

static int get_field(struct dec *d, const unsigned char **pp,
                     const unsigned char *end, struct field *f) {
  const unsigned char *p = *pp;
  uint64_t key = 0;
  f->at = offset(d, p);
  int rc = get_varint(d, &p, end, &key);
  if (rc)
    return rc;
  f->wt = (unsigned)(key & 7);
  if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
    return fail(d, "bad field number %llu at byte %zu",
                (unsigned long long)(key >> 3), f->at);
  f->num = (uint32_t)(key >> 3);
  switch (f->wt) {
  case WT_VARINT:
    rc = get_varint(d, &p, end, &f->u);
    break;
  case WT_FIXED64:
  case WT_FIXED32: {
    size_t n = f->wt == WT_FIXED64 ? 8 : 4;
    if ((size_t)(end - p) < n)
      return fail(d, "truncated fixed%zu at byte %zu", n * 8, offset(d, p));
    f->u = 0;
    for (size_t i = 0; i < n; i++)
      f->u |= (uint64_t)p[i] << (8 * i);
    p += n;
    break;
  }
  case WT_LEN: {
    const unsigned char *lp = p;
    rc = get_varint(d, &p, end, &f->u);
    if (rc)
      return rc;
    size_t left = (size_t)(end - p);
    if (f->u > left)
      return fail(d,
                  "length %llu at byte %zu runs past the end of its "
                  "message (%zu bytes left)",
                  (unsigned long long)f->u, offset(d, lp), left);
    f->p = p;
    f->len = (size_t)f->u;
    p += f->len;
    break;
  }
  default:
    return fail(d, "unsupported wire type %u at byte %zu", f->wt, f->at);
  }
  *pp = p;
  return rc;
}

static int want(struct dec *d, const struct field *f, unsigned wt,
                const char *what) {
  if (f->wt == wt)
    return 0;
  return fail(d, "wrong wire type %u for %s at byte %zu (expected %u)", f->wt,
              what, f->at, wt);
}

static int parse_label(struct dec *d, const unsigned char *p,
                       const unsigned char *end) {
  /* Absent fields are empty strings; a repeated one: the last wins. */
  struct span s = {p, 0, p, 0};
  while (p < end) {
    struct field f;
    int rc = get_field(d, &p, end, &f);
    if (rc)
      return rc;
    if (f.num == 1 || f.num == 2) {
      rc = want(d, &f, WT_LEN, f.num == 1 ? "Label.name" : "Label.value");
      if (rc)
        return rc;
      if (f.num == 1)
        s.name = f.p, s.name_len = f.len;
      else
        s.value = f.p, s.value_len = f.len;
    }
  }
  /* Labels past the cap are counted, never stored: a series of millions
   * of empty labels (2 bytes each on the wire) costs a counter. */
  if (d->seen_labels++ >= d->lim->max_labels)
    return 0;
  if (d->v) {
    d->spans = vg_grow(d->spans, &d->spans_cap, d->nspans + 1, sizeof s);
    d->spans[d->nspans++] = s;
  } else {
    d->cur_bytes += s.name_len + s.value_len + 2;
  }
  return 0;
}

static int parse_sample(struct dec *d, const unsigned char *p,
                        const unsigned char *end) {
  uint64_t bits = 0, ts = 0;
  while (p < end) {
    struct field f;
    int rc = get_field(d, &p, end, &f);
    if (rc)
      return rc;
    if (f.num == 1)
      rc = want(d, &f, WT_FIXED64, "Sample.value");
    else if (f.num == 2)
      rc = want(d, &f, WT_VARINT, "Sample.timestamp");
    if (rc)
      return rc;
    if (f.num == 1)
      bits = f.u;
    else if (f.num == 2)
      ts = f.u;
  }
  d->cur_samples++;
  if (d->v) {
    size_t need = d->nsamples + 1;
    d->ts = vg_grow(d->ts, &d->ts_cap, need, sizeof *d->ts);
    d->values = vg_grow(d->values, &d->values_cap, need, sizeof *d->values);
    d->ts[d->nsamples] = (int64_t)ts;
    memcpy(&d->values[d->nsamples], &bits, sizeof bits);
    d->nsamples++;
  }
  return 0;
}

static bool valid_label_name(const unsigned char *s, size_t len) {
  if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

/* A label name for a message: printable ASCII as is, the rest as \xNN,
 * cut at 40 bytes, because it came from the network. */
static void quote_name(char *out, size_t size, const unsigned char *s,
                       size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && i < 40 && o + 5 < size; i++) {
    if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\')
      out[o++] = (char)s[i];
    else
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", s[i]);
  }
  if (len > 40 && o + 4 < size)
    o += (size_t)snprintf(out + o, size - o, "...");
  out[o] = '\0';
}

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const struct vg_label *)a)->name,
                ((const struct vg_label *)b)->name);
}

/* Why the series in d's scratch is not valid, or NULL.  Builds d->labels
 * as a side effect. */
static const char *check_series(struct dec *d) {
  if (d->seen_labels > d->lim->max_labels) {
    snprintf(d->reason, sizeof d->reason,
             "%zu labels (with __name__), more than the %zu allowed",
             d->seen_labels, d->lim->max_labels);
    return d->reason;
  }
  size_t bytes = 0;
  for (size_t i = 0; i < d->nspans; i++) {
    const struct span *s = &d->spans[i];
    char name[96];
    if (!valid_label_name(s->name, s->name_len)) {
      quote_name(name, sizeof name, s->name, s->name_len);
      snprintf(d->reason, sizeof d->reason, "invalid label name \"%s\"", name);
      return d->reason;
    }
    if (!vg_expfmt_valid_utf8((const char *)s->value, s->value_len) ||
        memchr(s->value, '\0', s->value_len)) {
      quote_name(name, sizeof name, s->name, s->name_len);
      snprintf(d->reason, sizeof d->reason,
               "value of label \"%s\" is not UTF-8 without NUL bytes", name);
      return d->reason;
    }
    bytes += s->name_len + s->value_len + 2;
  }

  d->strings = vg_grow(d->strings, &d->strings_cap, bytes, 1);
  d->labels = vg_grow(d->labels, &d->labels_cap, d->nspans, sizeof *d->labels);
  char *o = d->strings;
  bool sorted = true;
  const struct vg_label *metric = NULL;
  for (size_t i = 0; i < d->nspans; i++) {
    const struct span *s = &d->spans[i];
    struct vg_label *l = &d->labels[i];
    l->name = o;
    memcpy(o, s->name, s->name_len);
    o += s->name_len;
    *o++ = '\0';
    l->value = o;
    memcpy(o, s->value, s->value_len);
    o += s->value_len;
    *o++ = '\0';
    if (i > 0 && strcmp(d->labels[i - 1].name, l->name) >= 0)
      sorted = false;
    if (strcmp(l->name, "__name__") == 0)
      metric = l;
  }

  if (!sorted) {
    /* Sorting a copy finds repeats in n log n: label counts come from the
     * network and a pairwise check would let one request burn minutes. */
    d->sorted =
        vg_grow(d->sorted, &d->sorted_cap, d->nspans, sizeof *d->sorted);
    memcpy(d->sorted, d->labels, d->nspans * sizeof *d->sorted);
    qsort(d->sorted, d->nspans, sizeof *d->sorted, cmp_label);
    for (size_t i = 1; i < d->nspans; i++)
      if (strcmp(d->sorted[i - 1].name, d->sorted[i].name) == 0) {
        snprintf(d->reason, sizeof d->reason, "duplicate label name \"%s\"",
                 d->sorted[i].name);
        return d->reason;
      }
  }
  if (!metric)
    return "no __name__ label";
  if (!metric->value[0])
    return "empty __name__ label";
  return NULL;
}

/* The checking pass at the end of a series: the message's counts, the
 * largest series' needs, and the caps on series and samples, checked as
 * soon as they are passed (a message of 64M empty series stops at the
 * first one past the cap, not at its end). */
static int count_series(struct dec *d) {
  const struct vg_prompb_limits *lim = d->lim;
  d->nseries++;
  d->total_samples += d->cur_samples;
  size_t spans =
      d->seen_labels < lim->max_labels ? d->seen_labels : lim->max_labels;
  if (spans > d->max_spans)
    d->max_spans = spans;
  if (d->seen_labels <= lim->max_labels && d->cur_bytes > d->max_label_bytes)
    d->max_label_bytes = d->cur_bytes;
  if (d->cur_samples > d->max_samples)
    d->max_samples = d->cur_samples;
  if (d->nseries > lim->max_series) {
    fail(d, "the message holds more than %zu series", lim->max_series);
    return -E2BIG;
  }
  if (d->total_samples > lim->max_samples) {
    fail(d, "the message holds more than %zu samples", lim->max_samples);
    return -E2BIG;
  }
  return 0;
}

static int parse_series(struct dec *d, const unsigned char *p,
                        const unsigned char *end, size_t index) {
  d->nspans = 0;
  d->nsamples = 0;
  d->seen_labels = d->cur_samples = d->cur_bytes = 0;
  bool histograms = false;
  while (p < end) {
    struct field f;
    int rc = get_field(d, &p, end, &f);
    if (rc)
      return rc;
    if (f.num == 1) {
      rc = want(d, &f, WT_LEN, "TimeSeries.labels");
      if (!rc)
        rc = parse_label(d, f.p, f.p + f.len);
    } else if (f.num == 2) {
      rc = want(d, &f, WT_LEN, "TimeSeries.samples");
      if (!rc)
        rc = parse_sample(d, f.p, f.p + f.len);
    } else if (f.num == 4) {
      histograms = true;
    }
    if (rc)
      return rc;
  }
  if (!d->v)
    return count_series(d);
  const char *why = histograms ? VG_PROMPB_HISTOGRAMS_REFUSED : check_series(d);
  if (why) {
    if (d->v->reject)
      d->v->reject(d->v->arg, index, why);
  } else {
    d->v->series(d->v->arg, d->labels, d->nspans, d->ts, d->values,
                 d->nsamples);
  }
  return 0;
}

static int parse_request(struct dec *d, const unsigned char *p,
                         const unsigned char *end) {
  size_t index = 0;
  while (p < end) {
    struct field f;
    int rc = get_field(d, &p, end, &f);
    if (rc)
      return rc;
    if (f.num == 1) {
      rc = want(d, &f, WT_LEN, "WriteRequest.timeseries");
      if (!rc)
        rc = parse_series(d, f.p, f.p + f.len, index++);
      if (rc)
        return rc;
    }
  }
  return 0;
}

static void dec_free(struct dec *d) {
  free(d->spans);
  free(d->ts);
  free(d->values);
  free(d->labels);
  free(d->sorted);
  free(d->strings);
}

/* The arrays of the visiting pass, sized for the largest series the
 * checking pass found, and taken from the hold first. */
static int size_scratch(struct dec *d) {
  size_t spans = d->max_spans, samples = d->max_samples;
  size_t bytes =
      spans * (sizeof *d->spans + sizeof *d->labels + sizeof *d->sorted) +
      d->max_label_bytes + samples * (sizeof *d->ts + sizeof *d->values);
  if (d->lim->hold) {
    int rc = vg_budget_take(d->lim->hold, bytes);
    if (rc) {
      fail(d,
           "no memory for the message now (%zu bytes of labels and "
           "samples)",
           bytes);
      return rc;
    }
    d->scratch_bytes = bytes;
  }
  if (spans) {
    d->spans = vg_grow(d->spans, &d->spans_cap, spans, sizeof *d->spans);
    d->labels = vg_grow(d->labels, &d->labels_cap, spans, sizeof *d->labels);
    d->sorted = vg_grow(d->sorted, &d->sorted_cap, spans, sizeof *d->sorted);
  }
  if (d->max_label_bytes)
    d->strings = vg_grow(d->strings, &d->strings_cap, d->max_label_bytes, 1);
  if (samples) {
    d->ts = vg_grow(d->ts, &d->ts_cap, samples, sizeof *d->ts);
    d->values = vg_grow(d->values, &d->values_cap, samples, sizeof *d->values);
  }
  return 0;
}

static const struct vg_prompb_limits no_limits = {
    .max_uncompressed = SIZE_MAX,
    .max_labels = SIZE_MAX,
    .max_series = SIZE_MAX,
    .max_samples = SIZE_MAX,
};

static int decode_raw(const char *data, size_t len,
                      const struct vg_prompb_limits *lim,
                      const struct vg_prompb_visitor *v, char *error,
                      size_t error_size) {
  if (!data)
    data = ""; /* no arithmetic on a NULL pointer, even + 0 */
  struct dec d = {.base = (const unsigned char *)data,
                  .error = error,
                  .error_size = error_size,
                  .lim = lim};
  const unsigned char *end = d.base + len;
  /* Two passes: the first only checks the structure and the caps and
   * calls nobody, so that a message broken near its end delivers nothing
   * at all, and measures what the second will need. */
  int rc = parse_request(&d, d.base, end);
  if (rc == 0 && v)
    rc = size_scratch(&d);
  if (rc == 0 && v) {
    d.v = v;
    rc = parse_request(&d, d.base, end);
  }
  dec_free(&d);
  if (lim->hold)
    vg_budget_give(lim->hold, d.scratch_bytes);
  return rc;
}

int vg_prompb_decode_raw(const char *data, size_t len,
                         const struct vg_prompb_visitor *v, char *error,
                         size_t error_size) {
  return decode_raw(data, len, &no_limits, v, error, error_size);
}

int vg_prompb_uncompressed_length(const char *data, size_t len, size_t *out) {
  return snappy_uncompressed_length(data, len, out) == SNAPPY_OK ? 0 : -EINVAL;
}

int vg_prompb_decode_limited(const char *data, size_t len,
                             const struct vg_prompb_limits *lim,
                             const struct vg_prompb_visitor *v, char *error,
                             size_t error_size) {
  struct dec d = {.error = error, .error_size = error_size};
  size_t raw_len;
  if (snappy_uncompressed_length(data, len, &raw_len) != SNAPPY_OK)
    return fail(&d, "not snappy data: bad length header");
  if (raw_len > lim->max_uncompressed) {
    fail(&d, "uncompressed size %zu bytes is over the limit of %zu bytes",
         raw_len, lim->max_uncompressed);
    return -EMSGSIZE;
  }
  /* The copy: in the caller's kept buffer, or in one owned here and
   * freed below.  A fresh one per message was faulted in each time (a
   * sixth of the daemon's CPU with vmagent sending it 1.8 M samples). */
  struct vg_buf own, *raw = lim->raw ? lim->raw : &own;
  vg_buf_init(&own, 0);
  uint64_t taken;
  int rc = vg_budget_take_buf(lim->hold, raw, raw_len, &taken);
  if (rc) {
    fail(&d, "no memory for the %zu bytes of the message now", raw_len);
    return rc;
  }
  size_t got = raw_len;
  if (snappy_uncompress(data, len, raw->data, &got) != SNAPPY_OK ||
      got != raw_len) {
    rc = fail(&d, "not snappy data: corrupt after the length header");
  } else {
    raw->len = got; /* and its NUL, as a vg_buf keeps it */
    raw->data[got] = '\0';
    rc = decode_raw(raw->data, got, lim, v, error, error_size);
  }
  vg_buf_free(&own);
  if (lim->hold)
    vg_budget_give(lim->hold, taken);
  return rc;
}

int vg_prompb_decode(const char *data, size_t len, size_t max_uncompressed,
                     const struct vg_prompb_visitor *v, char *error,
                     size_t error_size) {
  struct vg_prompb_limits lim = no_limits;
  lim.max_uncompressed = max_uncompressed;
  return vg_prompb_decode_limited(data, len, &lim, v, error, error_size);
}
