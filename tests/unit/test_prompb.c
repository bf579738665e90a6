/* tests/unit/test_prompb.c - remote-write 1.0 encoding and decoding.
 *
 * Exact bytes for a hand-derived message, round trips through both the
 * raw and the snappy forms, skipping of what 1.0 receivers ignore, and the
 * exact error for each kind of malformed input.  Test messages are built
 * with the tiny protobuf writer below, independent of the code under
 * test. */
#include "daemon/formats/prompb.h"
#include "daemon/formats/snappy_block.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <float.h>
#include <snappy-c.h>
#include <stdint.h>

/* ---- a protobuf writer for building test input ------------------------ */

static void pb_varint(struct vg_buf *b, uint64_t v) {
  while (v >= 0x80) {
    ASSERT(vg_buf_putc(b, (char)(v | 0x80)) == 0);
    v >>= 7;
  }
  ASSERT(vg_buf_putc(b, (char)v) == 0);
}

static void pb_key(struct vg_buf *b, unsigned field, unsigned wt) {
  pb_varint(b, (uint64_t)field << 3 | wt);
}

static void pb_bytes(struct vg_buf *b, unsigned field, const void *p,
                     size_t n) {
  pb_key(b, field, 2);
  pb_varint(b, n);
  ASSERT(vg_buf_append(b, p, n) == 0);
}

static void pb_str(struct vg_buf *b, unsigned field, const char *s) {
  pb_bytes(b, field, s, strlen(s));
}

/* Appends `inner` as a length-delimited field and empties it. */
static void pb_msg(struct vg_buf *b, unsigned field, struct vg_buf *inner) {
  pb_bytes(b, field, inner->data ? inner->data : "", inner->len);
  vg_buf_reset(inner);
}

static void pb_fixed(struct vg_buf *b, unsigned field, uint64_t v, int n) {
  pb_key(b, field, n == 8 ? 1 : 5);
  for (int i = 0; i < n; i++)
    ASSERT(vg_buf_putc(b, (char)(v >> (8 * i))) == 0);
}

static void pb_label(struct vg_buf *series, const char *name,
                     const char *value) {
  struct vg_buf l;
  vg_buf_init(&l, 1 << 20);
  pb_str(&l, 1, name);
  pb_str(&l, 2, value);
  pb_msg(series, 1, &l);
  vg_buf_free(&l);
}

static void pb_sample(struct vg_buf *series, double v, int64_t ts) {
  struct vg_buf s;
  vg_buf_init(&s, 64);
  uint64_t bits;
  memcpy(&bits, &v, 8);
  pb_fixed(&s, 1, bits, 8);
  pb_key(&s, 2, 0);
  pb_varint(&s, (uint64_t)ts);
  pb_msg(series, 2, &s);
  vg_buf_free(&s);
}

/* ---- a visitor that writes down what it is given ---------------------- */

/* One line per series: labels as sent, then each sample as timestamp and
 * the exact bits of its value (so -0.0 and NaN payloads count). */
static void render(struct vg_buf *out, const struct vg_label *labels,
                   size_t nlabels, const int64_t *ts, const double *values,
                   size_t nsamples) {
  for (size_t i = 0; i < nlabels; i++)
    ASSERT(vg_buf_printf(out, "%s%s=\"%s\"", i ? "," : "{", labels[i].name,
                         labels[i].value) == 0);
  ASSERT(vg_buf_puts(out, "}") == 0);
  for (size_t i = 0; i < nsamples; i++) {
    uint64_t bits;
    memcpy(&bits, &values[i], 8);
    ASSERT(vg_buf_printf(out, " %lld:%016llx", (long long)ts[i],
                         (unsigned long long)bits) == 0);
  }
  ASSERT(vg_buf_puts(out, "\n") == 0);
}

static void on_series(void *arg, const struct vg_label *labels, size_t nlabels,
                      const int64_t *ts, const double *values,
                      size_t nsamples) {
  render(arg, labels, nlabels, ts, values, nsamples);
}

static void on_reject(void *arg, size_t index, const char *reason) {
  ASSERT(vg_buf_printf(arg, "reject %zu: %s\n", index, reason) == 0);
}

/* Decodes raw (or snappy when limit != 0) into a fresh capture text. */
static int decode(const struct vg_buf *in, size_t limit, struct vg_buf *seen,
                  char *err) {
  vg_buf_init(seen, 1 << 26);
  ASSERT(vg_buf_puts(seen, "") == 0);
  struct vg_prompb_visitor v = {on_series, on_reject, seen};
  err[0] = '\0';
  if (limit)
    return vg_prompb_decode(in->data, in->len, limit, &v, err, 200);
  return vg_prompb_decode_raw(in->data, in->len, &v, err, 200);
}

/* ---- the golden message ------------------------------------------------ */

/* {__name__="up", job="a"} 1.5 @ 1700000000000, derived by hand:
 *
 * Label __name__="up": 0a 08 "__name__" (field 1, wire type 2 -> key 0x0a;
 *   length 8), 12 02 "up" (field 2 -> key 0x12; length 2): 14 bytes.
 * Label job="a": 0a 03 "job" 12 01 "a": 8 bytes.
 * Sample: 09 (field 1, wire type 1 = fixed64) then 1.5 as IEEE 754
 *   0x3FF8000000000000 little-endian: 00 00 00 00 00 00 f8 3f; then 10
 *   (field 2, wire type 0) and the varint of 1700000000000 = 0x18BCFE56800,
 *   whose 7-bit groups from the lowest are 0x00 0x50 0x15 0x7f 0x3c 0x31,
 *   each but the last with bit 7 set: 80 d0 95 ff bc 31.  1+8+1+6 = 16.
 * TimeSeries: 0a 0e <label 1> 0a 08 <label 2> 12 10 <sample>:
 *   2+14 + 2+8 + 2+16 = 44 = 0x2c.
 * WriteRequest: 0a 2c <series>: 46 bytes. */
static const unsigned char golden[46] = {
    0x0a, 0x2c,                                                /* timeseries */
    0x0a, 0x0e,                                                /* labels */
    0x0a, 0x08, '_',  '_',  'n',  'a',  'm',  'e',  '_',  '_', /* name */
    0x12, 0x02, 'u',  'p',                                     /* value */
    0x0a, 0x08,                                                /* labels */
    0x0a, 0x03, 'j',  'o',  'b',                               /* name */
    0x12, 0x01, 'a',                                           /* value */
    0x12, 0x10,                                                /* samples */
    0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,      /* value */
    0x10, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31,                  /* timestamp */
};

static const struct vg_label up_labels[] = {{"__name__", "up"}, {"job", "a"}};
static const int64_t up_ts[] = {1700000000000};
static const double up_values[] = {1.5};
static const struct vg_prompb_series up_series = {.labels = up_labels,
                                                  .nlabels = 2,
                                                  .ts_ms = up_ts,
                                                  .values = up_values,
                                                  .nsamples = 1};

/* A series of these labels with up's one sample. */
static struct vg_prompb_series up_sample(const struct vg_label *labels,
                                         size_t n) {
  return (struct vg_prompb_series){.labels = labels,
                                   .nlabels = n,
                                   .ts_ms = up_ts,
                                   .values = up_values,
                                   .nsamples = 1};
}

/* Two encodings of one thing: byte for byte the same. */
static void assert_same_bytes(const struct vg_buf *a, const struct vg_buf *b) {
  ASSERT_INT_EQ(a->len, b->len);
  ASSERT(memcmp(a->data, b->data, a->len) == 0);
}

VG_TEST(golden_raw_bytes) {
  struct vg_buf out;
  vg_buf_init(&out, 1024);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&up_series, 1, &out), 0);
  ASSERT_INT_EQ(out.len, sizeof golden);
  for (size_t i = 0; i < sizeof golden; i++)
    if ((unsigned char)out.data[i] != golden[i])
      VG_FAIL("byte %zu: %02x != %02x", i, (unsigned char)out.data[i],
              golden[i]);
  ASSERT_INT_EQ(out.data[out.len], '\0');
  vg_buf_free(&out);
}

VG_TEST(golden_snappy_decodes_to_golden) {
  struct vg_buf out;
  vg_buf_init(&out, 1024);
  ASSERT_INT_EQ(vg_prompb_encode(&up_series, 1, &out), 0);
  char raw[64];
  size_t raw_len = sizeof raw;
  ASSERT_INT_EQ(snappy_uncompress(out.data, out.len, raw, &raw_len), SNAPPY_OK);
  ASSERT_INT_EQ(raw_len, sizeof golden);
  ASSERT(memcmp(raw, golden, sizeof golden) == 0);

  struct vg_buf seen;
  char err[200];
  ASSERT_INT_EQ(decode(&out, 1 << 20, &seen, err), 0);
  ASSERT_STR_EQ(seen.data,
                "{__name__=\"up\",job=\"a\"} 1700000000000:3ff8000000000000\n");
  vg_buf_free(&seen);
  vg_buf_free(&out);
}

VG_TEST(headers) {
  ASSERT_STR_EQ(VG_PROMPB_HEADER_CONTENT_ENCODING, "Content-Encoding: snappy");
  ASSERT_STR_EQ(VG_PROMPB_HEADER_CONTENT_TYPE,
                "Content-Type: application/x-protobuf");
  ASSERT_STR_EQ(VG_PROMPB_HEADER_VERSION,
                "X-Prometheus-Remote-Write-Version: 0.1.0");
}

/* ---- round trips ------------------------------------------------------- */

#define NSERIES 300

VG_TEST(round_trip_many_series) {
  static char names[NSERIES][32];
  static struct vg_label labels[NSERIES][6];
  static int64_t ts[NSERIES][1000];
  static double values[NSERIES][1000];
  static struct vg_prompb_series series[NSERIES];
  char long_value[301];
  for (int i = 0; i < 300; i++)
    long_value[i] = (char)('a' + i % 26);
  long_value[300] = '\0';
  const double specials[] = {NAN,     -NAN,   INFINITY, -INFINITY, -0.0, 0.0,
                             DBL_MAX, 1e-310, 0.766,    3895,      -2.5};
  const int64_t tss[] = {INT64_MIN, -1, 0, 1, 127, 128, INT64_MAX};

  struct vg_buf expected;
  vg_buf_init(&expected, 1 << 26);
  for (int i = 0; i < NSERIES; i++) {
    snprintf(names[i], sizeof names[i], "metric_%d", i);
    size_t n = 0;
    /* Upper case sorts before "__name__" in byte order. */
    if (i % 3 == 0)
      labels[i][n++] = (struct vg_label){"A_upper", "x"};
    labels[i][n++] = (struct vg_label){"__name__", names[i]};
    labels[i][n++] = (struct vg_label){"county", "黔东南州"};
    if (i % 2)
      labels[i][n++] = (struct vg_label){"empty", ""};
    if (i % 5 == 0)
      labels[i][n++] = (struct vg_label){"long", long_value};
    labels[i][n++] = (struct vg_label){"village", "Dàzhài 大寨"};
    /* Series 7 has no samples; 8 has enough for a 3-byte length. */
    size_t ns = i == 7 ? 0 : i == 8 ? 1000 : (size_t)(i % 4 + 1);
    for (size_t k = 0; k < ns; k++) {
      values[i][k] = specials[(i + k) % (sizeof specials / sizeof *specials)];
      ts[i][k] = i == 8 ? 1700000000000 + (int64_t)k
                        : tss[(i + k) % (sizeof tss / sizeof *tss)];
    }
    series[i] = (struct vg_prompb_series){.labels = labels[i],
                                          .nlabels = n,
                                          .ts_ms = ts[i],
                                          .values = values[i],
                                          .nsamples = ns};
    render(&expected, labels[i], n, ts[i], values[i], ns);
  }

  struct vg_buf raw, z, seen;
  char err[200];
  vg_buf_init(&raw, 1 << 24);
  vg_buf_init(&z, 1 << 24);
  ASSERT_INT_EQ(vg_prompb_encode_raw(series, NSERIES, &raw), 0);
  ASSERT_INT_EQ(decode(&raw, 0, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, expected.data);
  vg_buf_free(&seen);

  ASSERT_INT_EQ(vg_prompb_encode(series, NSERIES, &z), 0);
  ASSERT(z.len < raw.len);
  ASSERT_INT_EQ(decode(&z, raw.len, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, expected.data);
  vg_buf_free(&seen);

  /* One byte under the limit: refused before decompressing. */
  ASSERT_INT_EQ(decode(&z, raw.len - 1, &seen, err), -EMSGSIZE);
  char want[200];
  snprintf(want, sizeof want,
           "uncompressed size %zu bytes is over the limit of %zu bytes",
           raw.len, raw.len - 1);
  ASSERT_STR_EQ(err, want);
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);

  vg_buf_free(&expected);
  vg_buf_free(&raw);
  vg_buf_free(&z);
}

/* The stale marker is a signalling NaN: its exact bits go on the wire
 * (02 00 00 00 00 00 f0 7f) and come back, never as an ordinary NaN. */
VG_TEST(stale_marker_bits_survive) {
  const double v[] = {vg_stale_nan()};
  const int64_t t[] = {1700000000000};
  const struct vg_prompb_series s = {.labels = up_labels,
                                     .nlabels = 2,
                                     .ts_ms = t,
                                     .values = v,
                                     .nsamples = 1};
  struct vg_buf raw, z, seen;
  char err[200];
  vg_buf_init(&raw, 1 << 20);
  vg_buf_init(&z, 1 << 20);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&s, 1, &raw), 0);
  static const unsigned char wire[] = {0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f};
  ASSERT(memmem(raw.data, raw.len, wire, sizeof wire) != NULL);
  ASSERT_INT_EQ(decode(&raw, 0, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, "{__name__=\"up\",job=\"a\"} "
                           "1700000000000:7ff0000000000002\n");
  vg_buf_free(&seen);
  ASSERT_INT_EQ(vg_prompb_encode(&s, 1, &z), 0);
  ASSERT_INT_EQ(decode(&z, raw.len, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, "{__name__=\"up\",job=\"a\"} "
                           "1700000000000:7ff0000000000002\n");
  vg_buf_free(&seen);
  vg_buf_free(&raw);
  vg_buf_free(&z);
}

/* A series given as its encoded Label fields (vg_prompb_put_labels) is
 * written byte for byte as the same series given as labels. */
VG_TEST(encoded_labels_write_the_same_bytes) {
  const struct vg_label l[] = {
      {"__name__", "village_population"}, {"county", "Xiji"}, {"v", "x"}};
  struct vg_buf fields, a, b;
  vg_buf_init(&fields, 1 << 20);
  vg_buf_init(&a, 1 << 20);
  vg_buf_init(&b, 1 << 20);
  ASSERT_INT_EQ(vg_prompb_put_labels(l, 1, &fields), 0);
  size_t name_len = fields.len;
  ASSERT_INT_EQ(vg_prompb_put_labels(l + 1, 2, &fields), 0);
  const unsigned char *f = (const unsigned char *)fields.data;
  const struct vg_prompb_series plain = up_sample(l, 3);
  const struct vg_prompb_series pre = {
      .ts_ms = up_ts,
      .values = up_values,
      .nsamples = 1,
      .pieces = {{f, (uint32_t)name_len, 0},
                 {f + name_len, (uint32_t)(fields.len - name_len), 0}},
      .npieces = 2};
  ASSERT_INT_EQ(vg_prompb_encode_raw(&plain, 1, &a), 0);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&pre, 1, &b), 0);
  assert_same_bytes(&a, &b);
  vg_buf_free(&fields);
  vg_buf_free(&a);
  vg_buf_free(&b);
}

/* How many ops of each kind (literal, copy with a 1, 2 and 4-byte offset)
 * a snappy block holds. */
static void count_ops(const struct vg_buf *z, size_t kinds[4]) {
  const unsigned char *p = (const unsigned char *)z->data;
  const unsigned char *end = p + z->len;
  while (*p++ & 0x80) /* the length */
    ;
  while (p < end) {
    unsigned char tag = *p++;
    kinds[tag & 3]++;
    if ((tag & 3) == 0) {
      size_t n = tag >> 2, extra = n < 60 ? 0 : n - 59, len = 0;
      for (size_t i = 0; i < extra; i++)
        len |= (size_t)p[i] << (8 * i);
      p += extra + (extra ? len : n) + 1;
    } else {
      p += (tag & 3) == 1 ? 1 : (tag & 3) == 2 ? 2 : 4;
    }
  }
  ASSERT(p == end);
}

/* Series given as pieces go out as snappy ops of their own: what any
 * snappy decoder makes of them is the raw message, byte for byte, and a
 * piece of an id written before is a copy (near, far past 64 KiB, long
 * past 64 bytes, empty, or of no id), as is a repeated timestamp. */
VG_TEST(pieces_are_copied_where_they_repeat) {
  enum { SETS = 7, NAMES = 5, SERIES = 3000 };
  static char long_value[300];
  memset(long_value, 'v', sizeof long_value - 1);
  struct vg_buf fields, raw, z, scratch, plain;
  vg_buf_init(&fields, 1 << 24);
  vg_buf_init(&raw, 1 << 24);
  vg_buf_init(&z, 1 << 24);
  vg_buf_init(&scratch, 1 << 26);
  vg_buf_init(&plain, 1 << 24);
  size_t set_at[SETS + 1], name_at[NAMES + 1];
  for (size_t i = 0; i < SETS; i++) {
    char v[32];
    snprintf(v, sizeof v, "village %zu", i);
    const struct vg_label set[] = {
        {"county", "Xiji"}, {"long", i == 3 ? long_value : "x"}, {"v", v}};
    set_at[i] = fields.len;
    ASSERT_INT_EQ(vg_prompb_put_labels(set, i == 5 ? 0 : 3, &fields), 0);
  }
  set_at[SETS] = fields.len;
  for (size_t i = 0; i < NAMES; i++) {
    char n[32];
    snprintf(n, sizeof n, "village_m%zu", i);
    name_at[i] = fields.len;
    ASSERT_INT_EQ(
        vg_prompb_put_labels(&(struct vg_label){"__name__", n}, 1, &fields), 0);
  }
  name_at[NAMES] = fields.len;
  const unsigned char *f = (const unsigned char *)fields.data;
  static struct vg_prompb_series series[SERIES];
  static int64_t ts[SERIES][3];
  static double values[SERIES][3];
  for (size_t i = 0; i < SERIES; i++) {
    /* Set 6 comes back only after more than 64 KiB of others. */
    size_t set = i == 1 ? 6 : i < SERIES / 2 ? i % 6 : i % SETS;
    size_t name = i % NAMES;
    size_t ns = i % 11 == 0 ? 3 : i % 13 == 0 ? 0 : 1;
    for (size_t k = 0; k < ns; k++) {
      ts[i][k] = 1700000000000 + (int64_t)(i / 100) * 1000 + (int64_t)k;
      values[i][k] = (double)(i * 3 + k) / 7;
    }
    uint32_t set_id = i % 17 == 0 ? 0 : (uint32_t)(2 * set + 1);
    series[i] = (struct vg_prompb_series){
        .ts_ms = ts[i],
        .values = values[i],
        .nsamples = ns,
        .pieces = {{f + name_at[name],
                    (uint32_t)(name_at[name + 1] - name_at[name]),
                    (uint32_t)(2 * name + 2 * SETS + 2)},
                   {f + set_at[set], (uint32_t)(set_at[set + 1] - set_at[set]),
                    set_id}},
        .npieces = 2};
  }
  ASSERT_INT_EQ(vg_prompb_encode_raw(series, SERIES, &raw), 0);
  ASSERT(raw.len > 3 * 65536);
  ASSERT_INT_EQ(vg_prompb_encode_scratch(series, SERIES, &scratch, &z), 0);
  size_t ulen = 0;
  ASSERT_INT_EQ(snappy_uncompressed_length(z.data, z.len, &ulen), SNAPPY_OK);
  ASSERT_INT_EQ(ulen, raw.len);
  ASSERT_INT_EQ(vg_buf_reserve(&plain, ulen), 0);
  ASSERT_INT_EQ(snappy_uncompress(z.data, z.len, plain.data, &ulen), SNAPPY_OK);
  plain.len = ulen;
  assert_same_bytes(&plain, &raw);
  /* Copies, not literals: well under a third of the raw bytes; and every
   * kind of op. */
  ASSERT(z.len * 3 < raw.len);
  size_t kinds[4] = {0};
  count_ops(&z, kinds);
  for (int k = 0; k < 4; k++)
    ASSERT(kinds[k] > 0);

  /* One series alone, and one of no samples: still exact. */
  for (size_t n = 1; n <= 13; n += 12) {
    const struct vg_prompb_series *one = &series[n == 1 ? 1 : 13];
    ASSERT_INT_EQ(vg_prompb_encode_raw(one, 1, &raw), 0);
    ASSERT_INT_EQ(vg_prompb_encode_scratch(one, 1, &scratch, &z), 0);
    ulen = raw.len;
    ASSERT_INT_EQ(snappy_uncompress(z.data, z.len, plain.data, &ulen),
                  SNAPPY_OK);
    plain.len = ulen;
    assert_same_bytes(&plain, &raw);
  }
  vg_buf_free(&fields);
  vg_buf_free(&raw);
  vg_buf_free(&z);
  vg_buf_free(&scratch);
  vg_buf_free(&plain);
}

/* Where a piece comes from: new bytes of src (from SIZE_MAX), or
 * `from` in what was handed over before. */
struct piece_plan {
  size_t src, n, from;
};

/* The block writer at every literal and copy length around where its
 * ops change form (a literal's tag past 59 bytes, and past 255; a copy's
 * one-byte offset, its 64 bytes an op, and its offset past 64 KiB), each
 * copy made longer by the next piece or not: libsnappy reads back every
 * byte. */
VG_TEST(snappy_block_ops_at_every_edge) {
  enum { SOURCE = 70000, PLAN = 400 };
  static unsigned char src[SOURCE], want[1 << 20], got[1 << 20];
  static unsigned char ops[(1 << 20) + 64];
  static struct piece_plan plan[PLAN];
  for (size_t i = 0; i < sizeof src; i++)
    src[i] = (unsigned char)(i * 7 + i / 251);
  static const size_t lits[] = {1,  2,  58, 59,  60,  61,  62,
                                63, 64, 65, 255, 256, 257, 3000};
  static const size_t copies[] = {7,  11,  12,  63,  64,  65,  66,
                                  67, 128, 129, 130, 131, 1000};
  /* Each past its copies: the bytes were all handed over before. */
  static const size_t offsets[] = {1100, 2047, 2048, 65535, 65536, 69000};
  for (int extend = 0; extend < 2; extend++) {
    size_t np = 0, len = SOURCE;
    plan[np++] = (struct piece_plan){0, SOURCE, VG_SNAPPY_NEW};
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
      plan[np++] = (struct piece_plan){3 * i, lits[i], VG_SNAPPY_NEW};
      plan[np++] = (struct piece_plan){0, 20, 100}; /* ends the literal */
      len += lits[i] + 20;
    }
    for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++)
      for (size_t c = 0; c < sizeof copies / sizeof *copies; c++) {
        size_t from = len - offsets[o];
        plan[np++] = (struct piece_plan){0, copies[c], from};
        len += copies[c];
        if (extend) { /* continues both its source and the copy */
          plan[np++] = (struct piece_plan){0, 3, from + copies[c]};
          len += 3;
        }
        plan[np++] = (struct piece_plan){7, 1, VG_SNAPPY_NEW};
        len++;
      }
    ASSERT(np <= PLAN && len <= sizeof want);
    struct vg_snappy_block w;
    vg_snappy_block_start(&w, ops, len);
    size_t at = 0;
    for (size_t i = 0; i < np; i++) {
      const struct piece_plan *p = &plan[i];
      memcpy(want + at,
             p->from == VG_SNAPPY_NEW ? src + p->src : want + p->from, p->n);
      vg_snappy_block_put(&w, want + at, p->n, p->from);
      at += p->n;
    }
    size_t zlen = vg_snappy_block_end(&w);
    ASSERT(zlen <= vg_snappy_block_bound(len));
    size_t ulen = 0;
    ASSERT_INT_EQ(snappy_uncompressed_length((const char *)ops, zlen, &ulen),
                  SNAPPY_OK);
    ASSERT_INT_EQ(ulen, len);
    ASSERT_INT_EQ(
        snappy_uncompress((const char *)ops, zlen, (char *)got, &ulen),
        SNAPPY_OK);
    ASSERT(memcmp(got, want, len) == 0);
  }
}

/* A series of more labels than the encoder measures at once (128) is
 * written the same, as a series and as Label fields given as a piece. */
VG_TEST(many_labels_round_trip) {
  enum { N = 200 };
  struct vg_label l[N];
  char names[N][8];
  l[0] = (struct vg_label){"__name__", "m"};
  for (int i = 1; i < N; i++) {
    snprintf(names[i], sizeof names[i], "l%03d", i);
    l[i] = (struct vg_label){names[i], names[i] + 1}; /* "l001", "001" */
  }
  const struct vg_prompb_series s = up_sample(l, N);
  struct vg_buf raw, seen, expected;
  char err[200];
  vg_buf_init(&raw, 1 << 20);
  vg_buf_init(&expected, 1 << 20);
  render(&expected, l, N, up_ts, up_values, 1);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&s, 1, &raw), 0);
  ASSERT_INT_EQ(decode(&raw, 0, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, expected.data);
  struct vg_buf fields, pieced;
  vg_buf_init(&fields, 1 << 20);
  vg_buf_init(&pieced, 1 << 20);
  ASSERT_INT_EQ(vg_prompb_put_labels(l, N, &fields), 0);
  const struct vg_prompb_series as_piece = {
      .ts_ms = up_ts,
      .values = up_values,
      .nsamples = 1,
      .pieces = {{(const unsigned char *)fields.data, (uint32_t)fields.len, 0}},
      .npieces = 1};
  ASSERT_INT_EQ(vg_prompb_encode_raw(&as_piece, 1, &pieced), 0);
  assert_same_bytes(&raw, &pieced);
  vg_buf_free(&fields);
  vg_buf_free(&pieced);
  vg_buf_free(&seen);
  vg_buf_free(&raw);
  vg_buf_free(&expected);
}

VG_TEST(long_strings_take_multibyte_lengths) {
  /* A 20000-byte value: its length varint takes 3 bytes, as do those of
   * its Label and its TimeSeries. */
  char *big = vg_malloc(20001);
  memset(big, 'v', 20000);
  big[20000] = '\0';
  const struct vg_label l[] = {{"__name__", "m"}, {"big", big}};
  const struct vg_prompb_series s = up_sample(l, 2);
  struct vg_buf raw, seen;
  vg_buf_init(&raw, 1 << 20);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&s, 1, &raw), 0);
  /* Label big = (1+1+3) + (1+3+20000) = 20009; series = (2+13) for
   * __name__ + (1+3+20009) + (2+16) for the sample = 20046; request =
   * 1+3+20046. */
  ASSERT_INT_EQ(raw.len, 20050);
  char err[200];
  ASSERT_INT_EQ(decode(&raw, 0, &seen, err), 0);
  ASSERT_INT_EQ(seen.len, strlen("{__name__=\"m\",big=\"\"} "
                                 "1700000000000:3ff8000000000000\n") +
                              20000);
  vg_buf_free(&seen);
  vg_buf_free(&raw);
  free(big);
}

VG_TEST(scratch_is_reused) {
  struct vg_buf scratch, a, b;
  vg_buf_init(&scratch, 1 << 20);
  vg_buf_init(&a, 1024);
  vg_buf_init(&b, 1024);
  ASSERT_INT_EQ(vg_prompb_encode_scratch(&up_series, 1, &scratch, &a), 0);
  char *mem = scratch.data;
  ASSERT_INT_EQ(vg_prompb_encode_scratch(&up_series, 1, &scratch, &b), 0);
  ASSERT(scratch.data == mem);
  assert_same_bytes(&a, &b);
  vg_buf_free(&scratch);
  vg_buf_free(&a);
  vg_buf_free(&b);
}

VG_TEST(empty_request) {
  struct vg_buf z, seen;
  char err[200];
  vg_buf_init(&z, 64);
  ASSERT_INT_EQ(vg_prompb_encode(NULL, 0, &z), 0);
  ASSERT_INT_EQ(z.len, 1); /* snappy: just the length 0 */
  ASSERT_INT_EQ(decode(&z, 1, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  ASSERT_INT_EQ(vg_prompb_decode_raw(NULL, 0, NULL, err, sizeof err), 0);
  vg_buf_free(&z);
}

/* ---- what the encoder refuses ------------------------------------------ */

VG_TEST(encode_refuses_invalid_series) {
  const struct vg_label unsorted[] = {{"job", "a"}, {"__name__", "up"}};
  const struct vg_label dup[] = {{"__name__", "up"}, {"a", "1"}, {"a", "2"}};
  const struct vg_label noname[] = {{"job", "a"}};
  const struct vg_label emptyname[] = {{"__name__", ""}, {"job", "a"}};
  const struct vg_prompb_series bad[] = {
      up_sample(unsorted, 2),  up_sample(dup, 3),  up_sample(noname, 1),
      up_sample(emptyname, 2), up_sample(NULL, 0),
  };
  struct vg_buf out;
  vg_buf_init(&out, 1024);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ASSERT_INT_EQ(vg_buf_puts(&out, "old"), 0);
    const struct vg_prompb_series two[] = {up_series, bad[i]};
    ASSERT_INT_EQ(vg_prompb_encode_raw(two, 2, &out), -EINVAL);
    ASSERT_INT_EQ(out.len, 0);
    ASSERT_INT_EQ(vg_prompb_encode(two, 2, &out), -EINVAL);
    ASSERT_INT_EQ(out.len, 0);
  }
  vg_buf_free(&out);
}

VG_TEST(encode_respects_caps) {
  struct vg_buf out;
  vg_buf_init(&out, sizeof golden - 1);
  ASSERT_INT_EQ(vg_prompb_encode_raw(&up_series, 1, &out), -ENOSPC);
  ASSERT_INT_EQ(out.len, 0);
  out.max = sizeof golden;
  ASSERT_INT_EQ(vg_prompb_encode_raw(&up_series, 1, &out), 0);

  /* The snappy form is checked against its real size, not snappy's worst
   * case (which is larger than the message). */
  struct vg_buf z;
  vg_buf_init(&z, 1024);
  ASSERT_INT_EQ(vg_prompb_encode(&up_series, 1, &z), 0);
  size_t zlen = z.len;
  ASSERT(snappy_max_compressed_length(sizeof golden) > zlen);
  z.max = zlen;
  ASSERT_INT_EQ(vg_prompb_encode(&up_series, 1, &z), 0);
  ASSERT_INT_EQ(z.len, zlen);
  z.max = zlen - 1;
  ASSERT_INT_EQ(vg_prompb_encode(&up_series, 1, &z), -ENOSPC);
  ASSERT_INT_EQ(z.len, 0);

  struct vg_buf scratch;
  vg_buf_init(&scratch, 10);
  z.max = 1024;
  ASSERT_INT_EQ(vg_prompb_encode_scratch(&up_series, 1, &scratch, &z), -ENOSPC);
  vg_buf_free(&scratch);
  vg_buf_free(&z);
  vg_buf_free(&out);
}

/* ---- what the decoder skips and rejects -------------------------------- */

VG_TEST(decode_skips_unknown_fields_exemplars_metadata) {
  struct vg_buf req, ts, inner, seen;
  vg_buf_init(&req, 1 << 20);
  vg_buf_init(&ts, 1 << 20);
  vg_buf_init(&inner, 1 << 20);

  /* WriteRequest.metadata (3): type, family name, help, unit. */
  pb_key(&inner, 1, 0);
  pb_varint(&inner, 2);
  pb_str(&inner, 2, "up");
  pb_str(&inner, 4, "help text");
  pb_msg(&req, 3, &inner);
  /* Reserved field 2 and unknown fields of every skippable wire type. */
  pb_str(&req, 2, "cortex");
  pb_key(&req, 100, 0);
  pb_varint(&req, UINT64_MAX);
  pb_fixed(&req, 7, 0xdeadbeef, 4);
  pb_fixed(&req, 8, 0x0123456789abcdefULL, 8);

  /* A series whose Label has an unknown field and a repeated name (the
   * last wins), an exemplar and an unknown sample field. */
  pb_str(&inner, 1, "ignored");
  pb_fixed(&inner, 3, 1, 4);
  pb_str(&inner, 1, "__name__");
  pb_str(&inner, 2, "up");
  pb_msg(&ts, 1, &inner);
  pb_label(&ts, "job", "a");
  pb_sample(&ts, 1.5, 1700000000000);
  pb_label(&inner, "trace_id", "abc");
  pb_fixed(&inner, 2, 0x3ff0000000000000ULL, 8);
  pb_key(&inner, 3, 0);
  pb_varint(&inner, 1700000000001);
  pb_msg(&ts, 3, &inner);
  pb_key(&ts, 99, 0);
  pb_varint(&ts, 1);
  pb_fixed(&inner, 1, 0x4000000000000000ULL, 8); /* 2.0 */
  pb_key(&inner, 2, 0);
  pb_varint(&inner, 1700000001000);
  pb_str(&inner, 3, "future field");
  pb_msg(&ts, 2, &inner);
  /* A Sample with no fields: value 0, timestamp 0. */
  pb_msg(&ts, 2, &inner);
  pb_msg(&req, 1, &ts);
  /* A series with a native histogram: refused, clearly, not taken as a
   * series without samples (a 2xx would tell the sender it arrived). */
  pb_label(&ts, "__name__", "h");
  pb_key(&inner, 1, 0);
  pb_varint(&inner, 5);
  pb_msg(&ts, 4, &inner);
  pb_msg(&req, 1, &ts);

  char err[200];
  ASSERT_INT_EQ(decode(&req, 0, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, "{__name__=\"up\",job=\"a\"}"
                           " 1700000000000:3ff8000000000000"
                           " 1700000001000:4000000000000000"
                           " 0:0000000000000000\n"
                           "reject 1: native histograms are not supported: "
                           "send float samples (classic histograms)\n");
  vg_buf_free(&seen);
  vg_buf_free(&req);
  vg_buf_free(&ts);
  vg_buf_free(&inner);
}

VG_TEST(decode_rejects_invalid_series_only) {
  static const struct {
    const char *labels[6]; /* name, value pairs */
  } cases[] = {
      {{"job", "a", "__name__", "unsorted_ok"}},
      {{"job", "a"}},
      {{"__name__", "m", "1x", "v"}},
      {{"__name__", "m", "job", "a", "job", "b"}},
      {{"__name__", "m", "job", "\xff"}},
      {{"__name__", "", "job", "a"}},
      {{"__name__", "m", "a\x01\"b", "v"}},
      {{"zone", "z", "__name__", "m", "zone", "y"}},
      {{"__name__", "ok", "a", "\xe9\xbb\x94"}},
  };
  struct vg_buf req, ts, seen;
  vg_buf_init(&req, 1 << 20);
  vg_buf_init(&ts, 1 << 20);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    for (size_t k = 0; k < 6 && cases[i].labels[k]; k += 2)
      pb_label(&ts, cases[i].labels[k], cases[i].labels[k + 1]);
    pb_sample(&ts, (double)i, (int64_t)i);
    pb_msg(&req, 1, &ts);
  }
  /* A NUL byte inside a value: valid UTF-8, unusable as a C string. */
  struct vg_buf l;
  vg_buf_init(&l, 64);
  pb_str(&l, 1, "__name__");
  pb_str(&l, 2, "m");
  pb_msg(&ts, 1, &l);
  pb_str(&l, 1, "x");
  pb_bytes(&l, 2, "a\0b", 3);
  pb_msg(&ts, 1, &l);
  pb_msg(&req, 1, &ts);
  vg_buf_free(&l);

  char err[200];
  ASSERT_INT_EQ(decode(&req, 0, &seen, err), 0);
  ASSERT_STR_EQ(seen.data,
                "{job=\"a\",__name__=\"unsorted_ok\"} 0:0000000000000000\n"
                "reject 1: no __name__ label\n"
                "reject 2: invalid label name \"1x\"\n"
                "reject 3: duplicate label name \"job\"\n"
                "reject 4: value of label \"job\" is not UTF-8 without NUL "
                "bytes\n"
                "reject 5: empty __name__ label\n"
                "reject 6: invalid label name \"a\\x01\\x22b\"\n"
                "reject 7: duplicate label name \"zone\"\n"
                "{__name__=\"ok\",a=\"黔\"} 8:4020000000000000\n"
                "reject 9: value of label \"x\" is not UTF-8 without NUL "
                "bytes\n");
  vg_buf_free(&seen);

  /* Without a reject callback the bad series are skipped silently. */
  vg_buf_init(&seen, 1 << 20);
  ASSERT(vg_buf_puts(&seen, "") == 0);
  struct vg_prompb_visitor v = {on_series, NULL, &seen};
  ASSERT_INT_EQ(vg_prompb_decode_raw(req.data, req.len, &v, NULL, 0), 0);
  ASSERT_STR_EQ(seen.data,
                "{job=\"a\",__name__=\"unsorted_ok\"} 0:0000000000000000\n"
                "{__name__=\"ok\",a=\"黔\"} 8:4020000000000000\n");
  vg_buf_free(&seen);
  vg_buf_free(&req);
  vg_buf_free(&ts);
}

/* ---- malformed messages ------------------------------------------------ */

/* Decodes `len` bytes as raw protobuf (or snappy when limit != 0): must
 * fail with `rc` and exactly `message`, having called nobody. */
static void expect_error(const void *data, size_t len, size_t limit, int rc,
                         const char *message) {
  struct vg_buf in, seen;
  vg_buf_init(&in, 1 << 20);
  ASSERT(vg_buf_append(&in, data, len) == 0);
  char err[200];
  ASSERT_INT_EQ(decode(&in, limit, &seen, err), rc);
  ASSERT_STR_EQ(err, message);
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  vg_buf_free(&in);
}

/* The golden message followed by `tail`: proves that an error late in a
 * message keeps the valid series before it from being delivered. */
static void expect_tail_error(const char *tail, size_t len,
                              const char *message) {
  unsigned char msg[128];
  memcpy(msg, golden, sizeof golden);
  memcpy(msg + sizeof golden, tail, len);
  expect_error(msg, sizeof golden + len, 0, -EINVAL, message);
}

VG_TEST(decode_malformed_protobuf) {
  /* Series at 46: 0a 05, label at 48: 0a 03, its name key at 50 (0a) and
   * its length varint at 51 (ff ff), cut by the label's end. */
  expect_tail_error("\x0a\x05\x0a\x03\x0a\xff\xff", 7,
                    "truncated varint at byte 51");
  /* A varint of 11 bytes for an unknown field 5. */
  expect_error("\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, 0,
               -EINVAL, "bad varint at byte 1 (over 64 bits)");
  /* Ten bytes whose last holds more than bit 63. */
  expect_error("\x28\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 11, 0, -EINVAL,
               "bad varint at byte 1 (over 64 bits)");
  expect_error("\x0a\x10\x0a\x00", 4, 0, -EINVAL,
               "length 16 at byte 1 runs past the end of its message "
               "(2 bytes left)");
  /* A Label whose length passes the end of its TimeSeries, though not
   * the end of the whole message. */
  expect_tail_error("\x0a\x02\x0a\x05\x00\x00\x00\x00\x00", 9,
                    "length 5 at byte 49 runs past the end of its message "
                    "(0 bytes left)");
  /* Sample.value sent as a varint: series 46, sample 48, its key 50. */
  expect_tail_error("\x0a\x04\x12\x02\x08\x01", 6,
                    "wrong wire type 0 for Sample.value at byte 50 "
                    "(expected 1)");
  expect_tail_error("\x0a\x04\x12\x02\x11\x01", 6,
                    "truncated fixed64 at byte 51");
  expect_tail_error("\x0a\x03\x12\x01\x15", 5, "truncated fixed32 at byte 51");
  /* An empty Label (valid: name and value ""), then a series whose label
   * at 6 holds a varint name at 8. */
  expect_error("\x0a\x02\x0a\x00\x0a\x04\x0a\x02\x08\x01", 10, 0, -EINVAL,
               "wrong wire type 0 for Label.name at byte 8 (expected 2)");
  expect_error("\x08\x01", 2, 0, -EINVAL,
               "wrong wire type 0 for WriteRequest.timeseries at byte 0 "
               "(expected 2)");
  expect_error("\x0a\x02\x10\x01", 4, 0, -EINVAL,
               "wrong wire type 0 for TimeSeries.samples at byte 2 "
               "(expected 2)");
  expect_error("\x0b\x0c", 2, 0, -EINVAL, "unsupported wire type 3 at byte 0");
  expect_tail_error("\x0e", 1, "unsupported wire type 6 at byte 46");
  expect_error("\x02\x00", 2, 0, -EINVAL, "bad field number 0 at byte 0");
  expect_error("\x80", 1, 0, -EINVAL, "truncated varint at byte 0");
}

VG_TEST(decode_malformed_snappy) {
  expect_error("\xff\xff\xff\xff\xff\xff", 6, 1 << 20, -EINVAL,
               "not snappy data: bad length header");
  /* Announces 5 bytes, then a copy with nothing before it to copy. */
  expect_error("\x05\xff\xff", 3, 1 << 20, -EINVAL,
               "not snappy data: corrupt after the length header");
  /* Announces 2000000 bytes (varint 80 89 7a) and carries none: refused
   * on the header alone. */
  expect_error("\x80\x89\x7a", 3, 1048576, -EMSGSIZE,
               "uncompressed size 2000000 bytes is over the limit of 1048576 "
               "bytes");
  /* Valid snappy around a malformed message: offsets are in the
   * uncompressed message. */
  char z[64];
  size_t zlen = sizeof z;
  ASSERT_INT_EQ(
      snappy_compress("\x0a\x02\x0a\x00\x0a\x04\x0a\x02\x08\x01", 10, z, &zlen),
      SNAPPY_OK);
  expect_error(z, zlen, 1 << 20, -EINVAL,
               "wrong wire type 0 for Label.name at byte 8 (expected 2)");
}

/* ---- limits ------------------------------------------------------------ */

static char *snappy_of(const struct vg_buf *raw, size_t *len) {
  *len = snappy_max_compressed_length(raw->len);
  char *z = vg_malloc(*len);
  ASSERT_INT_EQ(snappy_compress(raw->data, raw->len, z, len), SNAPPY_OK);
  return z;
}

static int decode_limited(const char *z, size_t zlen,
                          const struct vg_prompb_limits *lim,
                          struct vg_buf *seen, char *err) {
  vg_buf_init(seen, 1 << 26);
  ASSERT(vg_buf_puts(seen, "") == 0);
  struct vg_prompb_visitor v = {on_series, on_reject, seen};
  err[0] = '\0';
  return vg_prompb_decode_limited(z, zlen, lim, &v, err, 200);
}

/* One series of __name__ and a million empty labels (2 bytes each on the
 * wire), then a good one: the first is refused for its label count and
 * costs no memory per label; the second is delivered. */
VG_TEST(decode_counts_labels_past_the_cap_without_storing_them) {
  struct vg_buf raw, series;
  vg_buf_init(&raw, 1 << 24);
  vg_buf_init(&series, 1 << 24);
  pb_label(&series, "__name__", "x");
  for (int i = 0; i < 1000000; i++)
    ASSERT(vg_buf_append(&series, "\x0a\x00", 2) == 0);
  pb_sample(&series, 1, 1000);
  pb_msg(&raw, 1, &series);
  pb_label(&series, "__name__", "up");
  pb_label(&series, "job", "a");
  pb_sample(&series, 2, 2000);
  pb_msg(&raw, 1, &series);
  size_t zlen;
  char *z = snappy_of(&raw, &zlen);

  /* A budget of the message's size and 64 KiB more: enough for the
   * uncompressed copy and the scratch of a series of 33 labels. */
  struct vg_budget budget;
  vg_budget_init(&budget, raw.len + (64 << 10));
  struct vg_budget_hold hold;
  vg_budget_hold_init(&hold, &budget);
  struct vg_prompb_limits lim = {.max_uncompressed = 1 << 24,
                                 .max_labels = 33,
                                 .max_series = 10,
                                 .max_samples = 10,
                                 .hold = &hold};
  struct vg_buf seen;
  char err[200];
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), 0);
  ASSERT_STR_EQ(seen.data,
                "reject 0: 1000001 labels (with __name__), more "
                "than the 33 allowed\n"
                "{__name__=\"up\",job=\"a\"} 2000:4000000000000000\n");
  vg_buf_free(&seen);
  ASSERT_INT_EQ(hold.held, 0);
  ASSERT(budget.peak <= raw.len + (64 << 10));

  /* Without a cap on labels the scratch for them (48 bytes a label) is
   * more than this budget will ever hold: refused before anything. */
  lim.max_labels = SIZE_MAX;
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), -EFBIG);
  ASSERT_STR_EQ(seen.data, "");
  ASSERT_CONTAINS(err, "no memory for the message now");
  vg_buf_free(&seen);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);

  /* Another request holding the budget: the copy is refused, "later". */
  struct vg_budget_hold other;
  vg_budget_hold_init(&other, &budget);
  ASSERT_INT_EQ(vg_budget_take(&other, 1 << 20), 0);
  vg_budget_release(&hold);
  lim.max_labels = 33;
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), -EAGAIN);
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  vg_budget_release(&other);
  free(z);
  vg_buf_free(&raw);
  vg_buf_free(&series);
}

/* A message of n series "up"{i="<k>"} at 1000 + k, snappy-compressed. */
static char *numbered(int n, size_t *zlen) {
  struct vg_buf raw, series;
  vg_buf_init(&raw, 1 << 24);
  vg_buf_init(&series, 1 << 20);
  for (int k = 0; k < n; k++) {
    char v[16];
    snprintf(v, sizeof v, "%d", k);
    pb_label(&series, "__name__", "up");
    pb_label(&series, "i", v);
    pb_sample(&series, k, 1000 + k);
    pb_msg(&raw, 1, &series);
  }
  char *z = snappy_of(&raw, zlen);
  vg_buf_free(&raw);
  vg_buf_free(&series);
  return z;
}

/* A receiver's kept buffer takes the uncompressed copy: the messages
 * decode as without it, a smaller one reuses its memory, a larger one
 * grows it, and a corrupt one leaves it usable. */
VG_TEST(decode_into_a_kept_buffer) {
  size_t big_len, small_len;
  char *big = numbered(1000, &big_len);
  char *small = numbered(3, &small_len);
  struct vg_prompb_limits lim = {.max_uncompressed = 1 << 24,
                                 .max_labels = 33,
                                 .max_series = 1000,
                                 .max_samples = 1000};
  struct vg_buf want_big, want_small, seen;
  char err[200];
  ASSERT_INT_EQ(decode_limited(big, big_len, &lim, &want_big, err), 0);
  ASSERT_INT_EQ(decode_limited(small, small_len, &lim, &want_small, err), 0);
  ASSERT_CONTAINS(want_big.data, "{__name__=\"up\",i=\"999\"} 1999:");

  struct vg_buf keep;
  vg_buf_init(&keep, 0);
  lim.raw = &keep;
  ASSERT_INT_EQ(decode_limited(small, small_len, &lim, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, want_small.data);
  vg_buf_free(&seen);
  ASSERT_INT_EQ(decode_limited(big, big_len, &lim, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, want_big.data);
  vg_buf_free(&seen);
  const char *grown = keep.data;
  size_t cap = keep.cap;
  ASSERT(cap > keep.len && keep.len > 1000);
  ASSERT_INT_EQ(decode_limited(small, small_len, &lim, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, want_small.data);
  vg_buf_free(&seen);
  ASSERT(keep.data == grown && keep.cap == cap);

  char *bad = vg_malloc(big_len);
  memcpy(bad, big, big_len);
  memset(bad + big_len / 2, 0xff, 8);
  ASSERT_INT_EQ(decode_limited(bad, big_len, &lim, &seen, err), -EINVAL);
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  ASSERT_INT_EQ(decode_limited(big, big_len, &lim, &seen, err), 0);
  ASSERT_STR_EQ(seen.data, want_big.data);
  vg_buf_free(&seen);

  free(bad);
  vg_buf_free(&keep);
  vg_buf_free(&want_big);
  vg_buf_free(&want_small);
  free(big);
  free(small);
}

/* Series and samples past the caps refuse the whole message in the
 * checking pass: nothing is called. */
VG_TEST(decode_refuses_series_and_samples_past_the_caps) {
  struct vg_buf raw, series;
  vg_buf_init(&raw, 1 << 24);
  vg_buf_init(&series, 1 << 20);
  for (int i = 0; i < 100; i++) {
    pb_label(&series, "__name__", "up");
    pb_sample(&series, i, 1000 + i);
    if (i == 99)
      pb_sample(&series, i, 2000 + i);
    pb_msg(&raw, 1, &series);
  }
  size_t zlen;
  char *z = snappy_of(&raw, &zlen);
  struct vg_prompb_limits lim = {.max_uncompressed = 1 << 24,
                                 .max_labels = 33,
                                 .max_series = 100,
                                 .max_samples = 101};
  struct vg_buf seen;
  char err[200];
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), 0);
  vg_buf_free(&seen);
  lim.max_series = 99;
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), -E2BIG);
  ASSERT_STR_EQ(err, "the message holds more than 99 series");
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  lim.max_series = 100;
  lim.max_samples = 100;
  ASSERT_INT_EQ(decode_limited(z, zlen, &lim, &seen, err), -E2BIG);
  ASSERT_STR_EQ(err, "the message holds more than 100 samples");
  ASSERT_STR_EQ(seen.data, "");
  vg_buf_free(&seen);
  free(z);
  vg_buf_free(&raw);
  vg_buf_free(&series);
}

/* MetricMetadata in field 3: type, family, help and unit, the empty ones
 * left out; no series. */
VG_TEST(metadata_encoding) {
  struct vg_prompb_metadata m[] = {
      {VG_PROMPB_GAUGE, "village_population", "Registered residents.", ""},
      {VG_PROMPB_COUNTER, "modem_rx_bytes_total", NULL, NULL}};
  struct vg_buf scratch, out;
  vg_buf_init(&scratch, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  ASSERT_INT_EQ(vg_prompb_encode_metadata(m, 2, &scratch, &out), 0);
  size_t len;
  ASSERT(snappy_uncompressed_length(out.data, out.len, &len) == SNAPPY_OK);
  char raw[256];
  ASSERT(len < sizeof raw);
  ASSERT(snappy_uncompress(out.data, out.len, raw, &len) == SNAPPY_OK);
  static const char want[] = "\x1a\x2d\x08\x02\x12\x12village_population"
                             "\x22\x15Registered residents."
                             "\x1a\x18\x08\x01\x12\x14modem_rx_bytes_total";
  ASSERT_INT_EQ(len, sizeof want - 1);
  ASSERT(memcmp(raw, want, len) == 0);
  /* Decoders skip it: no series. */
  ASSERT_INT_EQ(vg_prompb_decode(out.data, out.len, 1 << 20, NULL, NULL, 0), 0);
  struct vg_prompb_metadata bad = {VG_PROMPB_GAUGE, "", NULL, NULL};
  ASSERT_INT_EQ(vg_prompb_encode_metadata(&bad, 1, &scratch, &out), -EINVAL);
  vg_buf_free(&scratch);
  vg_buf_free(&out);
}

VG_TEST_MAIN(VG_T(golden_raw_bytes), VG_T(snappy_block_ops_at_every_edge),
             VG_T(golden_snappy_decodes_to_golden), VG_T(headers),
             VG_T(round_trip_many_series),
             VG_T(encoded_labels_write_the_same_bytes),
             VG_T(pieces_are_copied_where_they_repeat),
             VG_T(many_labels_round_trip),
             VG_T(long_strings_take_multibyte_lengths), VG_T(scratch_is_reused),
             VG_T(empty_request), VG_T(encode_refuses_invalid_series),
             VG_T(encode_respects_caps),
             VG_T(decode_skips_unknown_fields_exemplars_metadata),
             VG_T(metadata_encoding), VG_T(decode_rejects_invalid_series_only),
             VG_T(decode_malformed_protobuf), VG_T(decode_malformed_snappy),
             VG_T(stale_marker_bits_survive),
             VG_T(decode_counts_labels_past_the_cap_without_storing_them),
             VG_T(decode_into_a_kept_buffer),
             VG_T(decode_refuses_series_and_samples_past_the_caps))
