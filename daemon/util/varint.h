/* daemon/util/varint.h - LEB128 varints and zigzag, as protobuf writes them:
 * the journal's records, the newest table's file and remote write's
 * protobuf.  Inline: a varint is a byte or two, and the journal's reader
 * decodes several per sample. */
#ifndef VG_VARINT_H
#define VG_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes a varint of 64 bits takes. */
#define VG_VARINT_MAX 10

/* A signed value, or a difference taken in wrapping arithmetic, as an
 * unsigned one that is small when the value is near 0 of either sign
 * (protobuf's sint64); and back.  Any two values' difference undoes. */
static inline uint64_t vg_zigzag(uint64_t v) {
  return v << 1 ^ (0 - (v >> 63));
}

static inline uint64_t vg_unzigzag(uint64_t z) {
  return z >> 1 ^ (0 - (z & 1));
}

/* The bytes v takes as a varint, counted without a loop: 7 bits a byte
 * of the bits it needs (v | 1 keeps the count defined for 0). */
static inline size_t vg_varint_len(uint64_t v) {
  return (size_t)(63 - __builtin_clzll(v | 1)) / 7 + 1;
}

/* Writes v at out (room for VG_VARINT_MAX bytes); returns the length. */
static inline size_t vg_varint_put(unsigned char *out, uint64_t v) {
  unsigned char *p = out;
  for (; v >= 0x80; v >>= 7)
    *p++ = (unsigned char)(v | 0x80);
  *p++ = (unsigned char)v;
  return (size_t)(p - out);
}

/* Reads one at *p, before end, and moves *p past it.  Only minimal
 * encodings are accepted, so that what decodes encodes back to the same
 * bytes: false for a cut, overlong or too large one. */
static inline bool vg_varint_get(const unsigned char **p,
                                 const unsigned char *end, uint64_t *v) {
  if (*p < end && **p < 0x80) { /* one byte, most of them */
    *v = *(*p)++;
    return true;
  }
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    unsigned char b = *(*p)++;
    if (shift == 63 && b > 1)
      return false;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return b != 0 || shift == 0;
    }
  }
  return false;
}

#endif
