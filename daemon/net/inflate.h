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

#endif
