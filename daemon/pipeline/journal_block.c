/* daemon/pipeline/journal_block.c - the journal's blocks (format 2): many
 * samples in one record, compressed.
 *
 * Owns building a block from the appends of a commit (on the commit
 * thread) and decoding one back into samples (in the thread pool, and in
 * the fuzz target).  A block is one record of the framing in
 * journal_codec.c, so recovery stays per record: a damaged block costs
 * its samples, counted by their sequence numbers, and nothing else.
 *
 * Payload of a format-2 record (integers little endian, varints LEB128):
 *   varint first seq, varint sample count (1..VG__JOURNAL_BLOCK_SAMPLES),
 *   u8 codec (0: stored, 1: zstd), varint raw length (at most
 *   VG__JOURNAL_BLOCK_RAW), then the raw bytes, zstd-compressed or not.
 * Raw bytes, laid out so that a sender finds each label set once and the
 * samples as columns:
 *   varint label-set count, label sets (varint label count, then name and
 *     value strings: varint length + bytes, no NUL), each distinct set once;
 *   varint metric-name count, names (varint length + bytes), each once;
 *   per sample, in sequence order: varint name index;
 *   per sample: varint label-set index;
 *   per sample: varint zigzag (ts_ms - the previous sample's ts_ms, from 0);
 *   the samples' values as IEEE doubles, byte-plane by byte-plane (all
 *     lowest bytes first): values of a kind share their high bytes, which
 *     the compressor then finds in runs.
 * Consumed exactly.  Sample i has sequence number first seq + i.
 */
#include "daemon/pipeline/journal_int.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/mem.h"
#include "daemon/util/varint.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define CODEC_STORED 0
#define CODEC_ZSTD 1
/* Level 1: the commit thread compresses while senders wait for the
 * fsync after it; higher levels gained little on journal data. */
#define ZSTD_LEVEL 1
#define SLOTS (2 * VG__JOURNAL_BLOCK_SAMPLES) /* a power of two */

struct slice {
  const unsigned char *p;
  size_t n;
};

/* An open-addressing set of slices, emptied in O(1) by a new generation. */
struct slot {
  uint32_t gen, idx;
};

struct dict {
  struct slot slots[SLOTS];
  struct slice items[VG__JOURNAL_BLOCK_SAMPLES];
  size_t n, bytes;
};

struct vg__journal_builder {
  ZSTD_CCtx *cctx;
  uint32_t gen;
  struct dict names, sets;
  size_t count;
  uint32_t name_idx[VG__JOURNAL_BLOCK_SAMPLES],
      set_idx[VG__JOURNAL_BLOCK_SAMPLES];
  int64_t ts[VG__JOURNAL_BLOCK_SAMPLES];
  uint64_t bits[VG__JOURNAL_BLOCK_SAMPLES];
  /* The labels of the record added last, for one that says it has the
   * same (in the caller's records buffer, which outlives the commit). */
  struct slice last_set;
  size_t raw_estimate;
  struct vg_buf raw; /* the raw bytes of the block being finished */
};

struct vg__journal_builder *vg__journal_builder_new(void) {
  /* Owned by the journal (freed with it); about 1 MB, made once. */
  struct vg__journal_builder *bb = vg_calloc(1, sizeof *bb);
  bb->cctx = ZSTD_createCCtx();
  if (!bb->cctx)
    abort(); /* out of memory, as vg_malloc treats it */
  bb->gen = 1;
  vg_buf_init(&bb->raw, SIZE_MAX / 2);
  return bb;
}

void vg__journal_builder_free(struct vg__journal_builder *bb) {
  if (!bb)
    return;
  ZSTD_freeCCtx(bb->cctx);
  vg_buf_free(&bb->raw);
  free(bb);
}

/* The index of s in d, added if new. */
static uint32_t intern(struct vg__journal_builder *bb, struct dict *d,
                       struct slice s) {
  size_t h = vg_crc32c(0, s.p, s.n) & (SLOTS - 1);
  for (;; h = (h + 1) & (SLOTS - 1)) {
    struct slot *sl = &d->slots[h];
    if (sl->gen != bb->gen) {
      *sl = (struct slot){bb->gen, (uint32_t)d->n};
      d->items[d->n++] = s;
      d->bytes += s.n;
      return sl->idx;
    }
    const struct slice *it = &d->items[sl->idx];
    if (it->n == s.n && memcmp(it->p, s.p, s.n) == 0)
      return sl->idx;
  }
}

bool vg__journal_builder_add(struct vg__journal_builder *bb,
                             const unsigned char *rest, size_t rlen,
                             bool same_labels, size_t raw_cap) {
  if (bb->count == VG__JOURNAL_BLOCK_SAMPLES ||
      (bb->count && bb->raw_estimate + rlen > raw_cap))
    return false;
  /* rest is what vg__journal_encode_rest wrote: ts, value, metric name,
   * label count and labels; it cannot be malformed. */
  const unsigned char *p = rest, *end = rest + rlen, *s;
  uint64_t zz = 0;
  size_t len;
  vg_varint_get(&p, end, &zz);
  size_t i = bb->count++;
  bb->ts[i] = (int64_t)vg_unzigzag(zz);
  uint64_t bits = 0;
  for (int k = 0; k < 8; k++)
    bits |= (uint64_t)p[k] << (8 * k);
  bb->bits[i] = bits;
  p += 8;
  const unsigned char *name = p;
  vg__journal_take_string(&p, &s, &len);
  size_t before = bb->names.bytes + bb->sets.bytes;
  bb->name_idx[i] =
      intern(bb, &bb->names, (struct slice){name, (size_t)(p - name)});
  if (!same_labels)
    bb->last_set = (struct slice){p, (size_t)(end - p)};
  bb->set_idx[i] = same_labels && i > 0 ? bb->set_idx[i - 1]
                                        : intern(bb, &bb->sets, bb->last_set);
  /* Three varints and the value per sample, and the new strings. */
  bb->raw_estimate += 3 * 10 + 8 + bb->names.bytes + bb->sets.bytes - before;
  return true;
}

static void put_varint(struct vg_buf *b, uint64_t v) {
  unsigned char tmp[VG_VARINT_MAX];
  vg_buf_append(b, tmp, vg_varint_put(tmp, v));
}

static void put_table(struct vg_buf *b, const struct dict *d) {
  put_varint(b, d->n);
  for (size_t i = 0; i < d->n; i++)
    vg_buf_append(b, d->items[i].p, d->items[i].n);
}

/* Lays out the raw bytes of the block (see the top of this file). */
static void lay_out(struct vg__journal_builder *bb) {
  struct vg_buf *b = &bb->raw;
  vg_buf_reset(b);
  /* The raw buffer is capped at SIZE_MAX / 2: appends cannot fail. */
  vg_buf_reserve(b, bb->raw_estimate + 30);
  put_table(b, &bb->sets);
  put_table(b, &bb->names);
  for (size_t i = 0; i < bb->count; i++)
    put_varint(b, bb->name_idx[i]);
  for (size_t i = 0; i < bb->count; i++)
    put_varint(b, bb->set_idx[i]);
  uint64_t prev = 0;
  for (size_t i = 0; i < bb->count; i++) {
    /* Wrapping arithmetic: any two timestamps have a delta that undoes. */
    uint64_t d = (uint64_t)bb->ts[i] - prev;
    prev = (uint64_t)bb->ts[i];
    put_varint(b, vg_zigzag(d));
  }
  vg_buf_reserve(b, 8 * bb->count);
  unsigned char *v = (unsigned char *)b->data + b->len;
  for (int k = 0; k < 8; k++)
    for (size_t i = 0; i < bb->count; i++)
      *v++ = (unsigned char)(bb->bits[i] >> (8 * k));
  b->len += 8 * bb->count;
}

size_t vg__journal_builder_finish(struct vg__journal_builder *bb,
                                  uint64_t first_seq, struct vg_buf *out) {
  lay_out(bb);
  size_t rawlen = bb->raw.len;
  size_t bound = ZSTD_compressBound(rawlen);
  unsigned char head[32];
  size_t hl = vg_varint_put(head, first_seq);
  hl += vg_varint_put(head + hl, bb->count);
  size_t codec_at = hl++;
  hl += vg_varint_put(head + hl, rawlen);
  /* Frame header, payload head, then the data: written in place. */
  vg_buf_reserve(out,
                 VG__JOURNAL_REC_HDR + hl + (bound > rawlen ? bound : rawlen));
  unsigned char *rec = (unsigned char *)out->data + out->len;
  unsigned char *data = rec + VG__JOURNAL_REC_HDR + hl;
  size_t zn = ZSTD_compressCCtx(bb->cctx, data, bound, bb->raw.data, rawlen,
                                ZSTD_LEVEL);
  if (ZSTD_isError(zn) || zn >= rawlen) {
    /* Incompressible (or a failure to compress): stored as it is. */
    head[codec_at] = CODEC_STORED;
    memcpy(data, bb->raw.data, rawlen);
    zn = rawlen;
  } else {
    head[codec_at] = CODEC_ZSTD;
  }
  memcpy(rec + VG__JOURNAL_REC_HDR, head, hl);
  size_t n = vg__journal_frame_payload(rec, hl + zn);
  out->len += n;
  bb->count = 0;
  bb->raw_estimate = 0;
  bb->names.n = bb->names.bytes = 0;
  bb->sets.n = bb->sets.bytes = 0;
  if (++bb->gen == 0) {
    /* Generations wrapped: the stamps of old ones must not match. */
    memset(bb->names.slots, 0, sizeof bb->names.slots);
    memset(bb->sets.slots, 0, sizeof bb->sets.slots);
    bb->gen = 1;
  }
  return n;
}

/* --- decoding ----------------------------------------------------------- */

struct set_ref {
  const unsigned char *labels, *end;
  size_t nlabels;
};

struct vg__journal_block {
  ZSTD_DCtx *dctx;
  unsigned char *raw; /* owned: decompressed bytes */
  size_t rawcap;
  uint64_t first_seq;
  size_t count;
  struct set_ref sets[VG__JOURNAL_BLOCK_SAMPLES];
  struct slice names[VG__JOURNAL_BLOCK_SAMPLES];
  uint32_t name_idx[VG__JOURNAL_BLOCK_SAMPLES],
      set_idx[VG__JOURNAL_BLOCK_SAMPLES];
  int64_t ts[VG__JOURNAL_BLOCK_SAMPLES];
  uint64_t bits[VG__JOURNAL_BLOCK_SAMPLES]; /* the values' */
};

struct vg__journal_block *vg__journal_block_new(void) {
  /* Owned by its caller (a read job, a decode call).  Not zeroed: a
   * decode writes what the samples read. */
  struct vg__journal_block *d = vg_malloc(sizeof *d);
  d->raw = NULL;
  d->rawcap = 0;
  d->dctx = ZSTD_createDCtx();
  if (!d->dctx)
    abort();
  return d;
}

void vg__journal_block_free(struct vg__journal_block *d) {
  if (!d)
    return;
  ZSTD_freeDCtx(d->dctx);
  free(d->raw);
  free(d);
}

static bool get_index(const unsigned char **p, const unsigned char *end,
                      size_t n, uint32_t *out) {
  uint64_t v;
  if (!vg_varint_get(p, end, &v) || v >= n)
    return false;
  *out = (uint32_t)v;
  return true;
}

static bool parse_raw(struct vg__journal_block *d, const unsigned char *p,
                      const unsigned char *end) {
  uint64_t nsets, nnames, nl;
  const unsigned char *s;
  size_t len;
  /* Every set and name is used by a sample: no more of them than
   * samples. */
  if (!vg_varint_get(&p, end, &nsets) || nsets == 0 || nsets > d->count)
    return false;
  for (size_t i = 0; i < nsets; i++) {
    if (!vg_varint_get(&p, end, &nl) || nl > (uint64_t)(end - p) / 2)
      return false;
    d->sets[i].labels = p;
    d->sets[i].nlabels = (size_t)nl;
    for (size_t k = 0; k < 2 * nl; k++)
      if (!vg__journal_get_string(&p, end, &s, &len))
        return false;
    d->sets[i].end = p;
  }
  if (!vg_varint_get(&p, end, &nnames) || nnames == 0 || nnames > d->count)
    return false;
  for (size_t i = 0; i < nnames; i++) {
    if (!vg__journal_get_string(&p, end, &s, &len))
      return false;
    d->names[i] = (struct slice){s, len};
  }
  for (size_t i = 0; i < d->count; i++)
    if (!get_index(&p, end, nnames, &d->name_idx[i]))
      return false;
  for (size_t i = 0; i < d->count; i++)
    if (!get_index(&p, end, nsets, &d->set_idx[i]))
      return false;
  uint64_t prev = 0, zz;
  for (size_t i = 0; i < d->count; i++) {
    if (!vg_varint_get(&p, end, &zz))
      return false;
    prev += vg_unzigzag(zz);
    d->ts[i] = (int64_t)prev;
  }
  if ((size_t)(end - p) != 8 * d->count)
    return false;
  /* Plane by plane, each read in order (a loop the compiler makes
   * vector code of): value by value, each took eight reads a plane
   * apart. */
  for (size_t i = 0; i < d->count; i++)
    d->bits[i] = p[i];
  for (size_t k = 1; k < 8; k++) {
    const unsigned char *plane = p + k * d->count;
    for (size_t i = 0; i < d->count; i++)
      d->bits[i] |= (uint64_t)plane[i] << (8 * k);
  }
  return true;
}

bool vg__journal_block_decode(struct vg__journal_block *d,
                              const struct vg__journal_view *v) {
  d->first_seq = v->seq;
  d->count = (size_t)v->count;
  if (v->raw_len == 0)
    return false; /* a block has a label set at least */
  if (d->rawcap < v->raw_len) {
    free(d->raw);
    d->raw = vg_malloc(v->raw_len);
    d->rawcap = v->raw_len;
  }
  /* A stored block is copied too, so that the samples point into d only
   * and outlive v's bytes (a reader keeps the block for its next read). */
  size_t n = v->raw_len;
  if (v->codec == CODEC_STORED)
    memcpy(d->raw, v->data, n);
  else
    n = ZSTD_decompressDCtx(d->dctx, d->raw, v->raw_len, v->data, v->dlen);
  return !ZSTD_isError(n) && n == v->raw_len &&
         parse_raw(d, d->raw, d->raw + n);
}

void vg__journal_block_sample(const struct vg__journal_block *d, size_t i,
                              struct vg__journal_view *out) {
  const struct set_ref *set = &d->sets[d->set_idx[i]];
  const struct slice *name = &d->names[d->name_idx[i]];
  double value;
  memcpy(&value, &d->bits[i], sizeof value);
  *out = (struct vg__journal_view){.seq = d->first_seq + i,
                                   .count = 1,
                                   .ts = d->ts[i],
                                   .value = value,
                                   .metric = name->p,
                                   .mlen = name->n,
                                   .labels = set->labels,
                                   .nlabels = set->nlabels,
                                   .name_idx = d->name_idx[i],
                                   .set_idx = d->set_idx[i],
                                   .end = set->end};
}
