/* daemon/net/inflate.h - decompressing request bodies within a cap.
 *
 * A compressed body is small on the wire and may be huge once inflated (a
 * "zip bomb"); the cap is checked while inflating, so no more than `max`
 * bytes are ever allocated for the result.
 */
#ifndef VG_INFLATE_H
#define VG_INFLATE_H

#include "daemon/util/buf.h"

#include <stddef.h>

/* Appends the gzip-decoded `data` to `out` (whose own cap also applies;
 * make it max + 1 so that max is the one that speaks).
 * 0; -EMSGSIZE past `max` bytes of output; -EINVAL for data that is not
 * gzip or is truncated, with `error` saying so. */
int vg_gunzip(const char *data, size_t len, size_t max, struct vg_buf *out,
              char *error, size_t error_size);

/* The gzip-decoded size of `data`, decoding it into 64 KiB of scratch
 * and keeping nothing: 0 and *size, or the errors of vg_gunzip (and
 * *size 0).  For a receiver that must know what the body will take before
 * it allocates it: a bomb is refused without its memory, and the buffer
 * of the real decoding is made once, to the byte (vg_buf_init(size + 1)
 * and vg_buf_reserve(size + 1), then vg_gunzip with max = size: the byte
 * past the end is where it finds the end of the stream). */
int vg_gunzip_size(const char *data, size_t len, size_t max, size_t *size,
                   char *error, size_t error_size);

#endif
