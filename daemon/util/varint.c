/* daemon/util/varint.c - LEB128 varints, as protobuf writes them: the
 * journal's records and the newest table's file.
 */
#include "daemon/util/varint.h"

size_t vg_varint_put(unsigned char *out, uint64_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7)
    out[n++] = (unsigned char)(v | 0x80);
  out[n++] = (unsigned char)v;
  return n;
}

/* Only minimal encodings are accepted, so that a decoded record encodes
 * back to the same bytes. */
bool vg_varint_get(const unsigned char **p, const unsigned char *end,
                   uint64_t *v) {
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
