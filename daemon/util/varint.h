/* daemon/util/varint.h - unsigned LEB128 varints. */
#ifndef VG_VARINT_H
#define VG_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes a varint of 64 bits takes. */
#define VG_VARINT_MAX 10

/* Writes v at out (room for VG_VARINT_MAX bytes); returns the length. */
size_t vg_varint_put(unsigned char *out, uint64_t v);
/* Reads one at *p, before end, and moves *p past it.  Only minimal
 * encodings are accepted, so that what decodes encodes back to the same
 * bytes: false for a cut, overlong or too large one. */
bool vg_varint_get(const unsigned char **p, const unsigned char *end,
                   uint64_t *v);

#endif
