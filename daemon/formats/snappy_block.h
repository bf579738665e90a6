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
/* The pending literal's or copy's ops written out (none is pending
 * after): for vg_snappy_block_put, which is inline because a request is
 * a few pieces a series, each put by itself. */
void vg_snappy_block_end_literal(struct vg_snappy_block *w);
void vg_snappy_block_end_copy(struct vg_snappy_block *w);
/* Whether a copy of `len` bytes from `from` is worth its ops (at least
 * the margin the bound relies on shorter than the bytes). */
bool vg_snappy_block_copy_pays(const struct vg_snappy_block *w, size_t len,
                               size_t from);

#define VG_SNAPPY_TAG_MAX 5 /* a literal's tag with four length bytes */

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
    if (w->copy_len)
      vg_snappy_block_end_copy(w);
    if (!w->lit)
      w->p = w->lit = w->p + VG_SNAPPY_TAG_MAX;
    memcpy(w->p, bytes, len);
    w->p += len;
  }
  w->pos += len;
}

/* Ends the block (the bytes handed over must add up to its length):
 * the number of bytes written at `out`. */
size_t vg_snappy_block_end(struct vg_snappy_block *w);

#endif
