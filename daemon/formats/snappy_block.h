/* daemon/formats/snappy_block.h - snappy's block format, written op by op.
 *
 * For a writer that knows where its output repeats itself: it hands over
 * its bytes piece by piece, and says of a piece where the same bytes were
 * handed over before; the piece then goes out as a copy of them, and
 * nothing is searched for.  A remote-write request is mostly label sets
 * and names repeated from one series to the next, and compressing it
 * with libsnappy, which looks for those repeats by hashing every few
 * bytes, was a sixth of the drain's CPU (bench/run-push.sh --profile).
 * Any snappy decoder reads the result: the block format's literals and
 * copies (1, 2 and 4-byte offsets) are all it uses.
 *
 * Owns nothing: it writes into memory the caller reserved, at least
 * vg_snappy_block_bound(length) bytes.
 */
#ifndef VG_SNAPPY_BLOCK_H
#define VG_SNAPPY_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Not an earlier position: the bytes have not been handed over before. */
#define VG_SNAPPY_NEW ((size_t)-1)

struct vg_snappy_block {
  unsigned char *start, *p; /* the output, and where the next op goes */
  unsigned char *lit;       /* the pending literal's bytes, or NULL */
  /* The pending copy: its source and length (0: none).  A piece that
   * continues both its source and it makes it longer, not a new op. */
  size_t copy_from, copy_len;
  size_t pos; /* uncompressed bytes handed over so far */
};

/* The most bytes the writer writes for `length` uncompressed bytes. */
size_t vg_snappy_block_bound(size_t length);

/* Begins a block of exactly `length` uncompressed bytes at `out`: below
 * 4 GiB, as the format's own limit is. */
void vg_snappy_block_start(struct vg_snappy_block *w, unsigned char *out,
                           size_t length);
/* The pending literal's or copy's ops written out, when one is pending:
 * for vg_snappy_block_put, which is inline because a request is a few
 * pieces a series, each put by itself.  So are these ends' common cases
 * (a literal below 60 bytes, a copy of at most 64), a few stores each,
 * where the calls were most of an op's cost; the _slow halves do the
 * rest.  With the series' lengths measured once (prompb.c), a drain
 * took a tenth fewer instructions (bench/push.py --no-agents, the
 * daemon under callgrind). */
void vg_snappy_block_literal_slow(struct vg_snappy_block *w);
void vg_snappy_block_copy_slow(struct vg_snappy_block *w);

#define VG_SNAPPY_TAG_MAX 5 /* a literal's tag with four length bytes */

/* Whether a copy of `len` bytes from `from` is worth its ops: at least
 * the margin the bound relies on (VG_SNAPPY_TAG_MAX) shorter than the
 * bytes, the ops taking at most 5 bytes per 64. */
static inline bool vg_snappy_block_copy_pays(const struct vg_snappy_block *w,
                                             size_t len, size_t from) {
  if (from >= w->pos)
    return false;
  size_t offset = w->pos - from;
  size_t cost = len >= 4 && len <= 11 && offset < 2048
                    ? 2
                    : (len + 63) / 64 * (offset < 65536 ? 3 : 5);
  return cost + VG_SNAPPY_TAG_MAX <= len;
}

static inline void vg_snappy_block_end_literal(struct vg_snappy_block *w) {
  if (!w->lit)
    return;
  size_t n = (size_t)(w->p - w->lit) - 1;
  if (n >= 60) {
    vg_snappy_block_literal_slow(w);
    return;
  }
  w->lit[-1] = (unsigned char)(n << 2);
  w->lit = NULL;
}

static inline void vg_snappy_block_end_copy(struct vg_snappy_block *w) {
  size_t len = w->copy_len;
  if (!len)
    return;
  /* The copy ends where the bytes handed over end. */
  size_t offset = w->pos - len - w->copy_from;
  if (len > 64) {
    vg_snappy_block_copy_slow(w);
    return;
  }
  w->copy_len = 0;
  unsigned char *p = w->p;
  if (len >= 4 && len <= 11 && offset < 2048) {
    p[0] = (unsigned char)(1 | (len - 4) << 2 | (offset >> 8) << 5);
    p[1] = (unsigned char)offset;
    w->p = p + 2;
  } else if (offset < 65536) {
    p[0] = (unsigned char)(2 | (len - 1) << 2);
    p[1] = (unsigned char)offset;
    p[2] = (unsigned char)(offset >> 8);
    w->p = p + 3;
  } else {
    p[0] = (unsigned char)(3 | (len - 1) << 2);
    for (int i = 0; i < 4; i++)
      p[1 + i] = (unsigned char)(offset >> (8 * i));
    w->p = p + 5;
  }
}

/* Hands over the next `len` bytes; `from` is an earlier position where
 * the same bytes were handed over, or VG_SNAPPY_NEW.  A copy goes out
 * where it continues the copy before it, or pays; else the bytes are a
 * literal. */
static inline void vg_snappy_block_put(struct vg_snappy_block *w,
                                       const void *bytes, size_t len,
                                       size_t from) {
  if (!len)
    return;
  if (w->copy_len && from == w->copy_from + w->copy_len) {
    w->copy_len += len;
  } else if (from != VG_SNAPPY_NEW && vg_snappy_block_copy_pays(w, len, from)) {
    vg_snappy_block_end_literal(w);
    vg_snappy_block_end_copy(w);
    w->copy_from = from;
    w->copy_len = len;
  } else {
    vg_snappy_block_end_copy(w);
    if (!w->lit)
      w->p = w->lit = w->p + 1; /* its tag's first byte */
    memcpy(w->p, bytes, len);
    w->p += len;
  }
  w->pos += len;
}

/* Ends the block (the bytes handed over must add up to its length):
 * the number of bytes written at `out`. */
size_t vg_snappy_block_end(struct vg_snappy_block *w);

#endif
