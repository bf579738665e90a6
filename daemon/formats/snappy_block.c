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
 * A pending literal's bytes are written after one byte, its tag's when
 * it ends below 60 bytes, as a literal here is a few bytes; a longer one
 * is moved on by the bytes its tag takes more when it ends.
 *
 * A copy is kept pending too, so that the next piece, when it continues
 * both the copy's source and the copy (a sample's timestamp after its
 * value, both as in the sample before), makes it longer: no new op.
 *
 * The bound: a copy is begun only where it is at least TAG_MAX bytes
 * shorter than what it copies, which a copy made longer stays (its ops
 * take at most 5 bytes per 64), and a literal's tag takes at most TAG_MAX
 * bytes, so every literal but the first is paid for by the copy before
 * it.  The output is at most the varint, the length, one tag and the
 * room kept before a pending literal, the longest tag's (a literal moved
 * on is where a literal after its longest tag's room would be).
 */
#include "daemon/formats/snappy_block.h"
#include "daemon/util/varint.h"

#include <string.h>

#define TAG_MAX VG_SNAPPY_TAG_MAX

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

void vg_snappy_block_literal_slow(struct vg_snappy_block *w) {
  size_t run = (size_t)(w->p - w->lit), n = run - 1;
  unsigned char *tag = w->lit - 1;
  size_t extra = n < 256 ? 1 : n < 65536 ? 2 : n < 1u << 24 ? 3 : 4;
  memmove(w->lit + extra, w->lit, run);
  tag[0] = (unsigned char)((59 + extra) << 2);
  for (size_t i = 0; i < extra; i++)
    tag[1 + i] = (unsigned char)(n >> (8 * i));
  w->p += extra;
  w->lit = NULL;
}

void vg_snappy_block_copy_slow(struct vg_snappy_block *w) {
  /* Ops of 64 bytes while more than 64 are left, then the inline end's
   * op for the rest: every op's offset is the same, as each goes as far
   * on in the output as in its source. */
  size_t offset = w->pos - w->copy_len - w->copy_from;
  int wide = offset >= 65536;
  unsigned char *p = w->p;
  while (w->copy_len > 64) {
    *p++ = (unsigned char)((wide ? 3 : 2) | 63 << 2);
    for (int i = 0; i < (wide ? 4 : 2); i++)
      *p++ = (unsigned char)(offset >> (8 * i));
    w->copy_len -= 64;
    w->copy_from += 64;
  }
  w->p = p;
  vg_snappy_block_end_copy(w);
}

size_t vg_snappy_block_end(struct vg_snappy_block *w) {
  vg_snappy_block_end_literal(w);
  vg_snappy_block_end_copy(w);
  return (size_t)(w->p - w->start);
}
