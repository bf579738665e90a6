/* daemon/formats/snappy_block.c - snappy's block format, written op by op.
 *
 * The format (github.com/google/snappy, format_description.txt): the
 * uncompressed length as a varint, then ops, each a tag byte whose low
 * two bits say what it is:
 *   00 literal: length - 1 in the tag's upper six bits when below 60,
 *      else 60..63 there and length - 1 in the next 1..4 bytes (LE);
 *      then the bytes;
 *   01 copy of 4..11 bytes from an offset below 2048: length - 4 in bits
 *      2-4, the offset's high three bits in 5-7, its low byte next;
 *   10 copy of 1..64 bytes: length - 1 in bits 2-7, a 2-byte offset;
 *   11 the same with a 4-byte offset.
 * An offset counts back from the copy's own position in the output.
 *
 * A pending literal's bytes are written after room for its longest tag,
 * and moved back over what its tag does not use when it ends: its length
 * is only known then, and a literal here is a few bytes.
 *
 * A copy is kept pending too, so that the next piece, when it continues
 * both the copy's source and the copy (a sample's timestamp after its
 * value, both as in the sample before), makes it longer: no new op.
 *
 * The bound: a copy is begun only where it is at least MARGIN bytes
 * shorter than what it copies, which a copy made longer stays (its ops
 * take at most 5 bytes per 64), and a literal's tag takes at most MARGIN
 * bytes, so every literal but the first is paid for by the copy before
 * it.  The output is at most the varint, the length, one tag and the
 * room kept before a pending literal.
 */
#include "daemon/formats/snappy_block.h"
#include "daemon/util/varint.h"

#include <string.h>

#define TAG_MAX VG_SNAPPY_TAG_MAX
#define MARGIN TAG_MAX

size_t vg_snappy_block_bound(size_t length) {
  return VG_VARINT_MAX + length + 2 * TAG_MAX;
}

void vg_snappy_block_start(struct vg_snappy_block *w, unsigned char *out,
                           size_t length) {
  w->start = out;
  w->p = out + vg_varint_put(out, length);
  w->lit = NULL;
  w->copy_from = w->copy_len = 0;
  w->pos = 0;
}

void vg_snappy_block_end_literal(struct vg_snappy_block *w) {
  if (!w->lit)
    return;
  size_t run = (size_t)(w->p - w->lit), n = run - 1;
  unsigned char *tag = w->lit - TAG_MAX;
  size_t extra = n < 60         ? 0
                 : n < 256      ? 1
                 : n < 65536    ? 2
                 : n < 1u << 24 ? 3
                                : 4;
  if (!extra) {
    tag[0] = (unsigned char)(n << 2);
  } else {
    tag[0] = (unsigned char)((59 + extra) << 2);
    for (size_t i = 0; i < extra; i++)
      tag[1 + i] = (unsigned char)(n >> (8 * i));
  }
  memmove(tag + 1 + extra, w->lit, run);
  w->p = tag + 1 + extra + run;
  w->lit = NULL;
}

/* What the ops copying `len` bytes from `offset` back take, at most. */
static size_t copy_cost(size_t offset, size_t len) {
  if (len >= 4 && len <= 11 && offset < 2048)
    return 2;
  return (len + 63) / 64 * (offset < 65536 ? 3 : 5);
}

void vg_snappy_block_end_copy(struct vg_snappy_block *w) {
  size_t len = w->copy_len;
  if (!len)
    return;
  /* The copy ends where the bytes handed over end. */
  size_t offset = w->pos - len - w->copy_from;
  w->copy_len = 0;
  unsigned char *p = w->p;
  while (len > 0) {
    if (len >= 4 && len <= 11 && offset < 2048) {
      *p++ = (unsigned char)(1 | (len - 4) << 2 | (offset >> 8) << 5);
      *p++ = (unsigned char)offset;
      break;
    }
    size_t n = len < 64 ? len : 64;
    int wide = offset >= 65536;
    *p++ = (unsigned char)((wide ? 3 : 2) | (n - 1) << 2);
    for (int i = 0; i < (wide ? 4 : 2); i++)
      *p++ = (unsigned char)(offset >> (8 * i));
    len -= n;
  }
  w->p = p;
}

bool vg_snappy_block_copy_pays(const struct vg_snappy_block *w, size_t len,
                               size_t from) {
  return from < w->pos && copy_cost(w->pos - from, len) + MARGIN <= len;
}

size_t vg_snappy_block_end(struct vg_snappy_block *w) {
  vg_snappy_block_end_literal(w);
  vg_snappy_block_end_copy(w);
  return (size_t)(w->p - w->start);
}
