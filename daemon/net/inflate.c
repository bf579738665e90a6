/* daemon/net/inflate.c - gzip decoding with an output cap.
 *
 * Owns the zlib stream for the call only.  Must never grow `out` past the
 * cap, whatever the compressed data claims.  A body may hold several gzip
 * members (RFC 1952 2.2: a gzip file is a series of members, and `cat
 * a.gz b.gz` is how tools append): every member is decoded, as gzip(1)
 * and Go's reader do; bytes after the last member that do not start
 * another one are refused, so nothing of a body is silently ignored.
 */
#include "daemon/net/inflate.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

/* What vg_gunzip_size decodes into and throws away, a slice at a time. */
#define COUNT_SLICE 65536

/* Decodes every member of `data` into out (NULL: into a scratch slice,
 * only counting); *produced gets the decoded size, which never passes
 * max + 1.  0, -EMSGSIZE, -EINVAL or -ENOMEM with `error` set. */
static int gunzip(const char *data, size_t len, size_t max, struct vg_buf *out,
                  size_t *produced, char *error, size_t error_size) {
  z_stream z = {0};
  /* 16 + MAX_WBITS: gzip framing only, as Content-Encoding: gzip says. */
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    snprintf(error, error_size, "cannot start gzip decoding");
    return -ENOMEM;
  }
  char *scratch = out ? NULL : vg_malloc(COUNT_SLICE); /* freed below */
  size_t start = out ? out->len : 0, done = 0;
  int rc = 0;
  z.next_in = (Bytef *)data;
  /* avail_in is 32 bits: a larger body is handed over in slices. */
  size_t left = len;
  int zrc = Z_OK;
  while (zrc != Z_STREAM_END) {
    if (z.avail_in == 0 && left) {
      z.avail_in = left > 1u << 30 ? 1u << 30 : (uInt)left;
      left -= z.avail_in;
    }
    /* Room for one byte past the cap, so that a body of exactly `max`
     * bytes can still reach its end marker. */
    if (done > max) {
      rc = -EMSGSIZE;
      snprintf(error, error_size,
               "the body is over %zu bytes once decompressed", max);
      break;
    }
    size_t room = max + 1 - done < 65536 ? max + 1 - done : 65536;
    if (out && vg_buf_reserve(out, room) < 0) {
      rc = -EMSGSIZE;
      snprintf(error, error_size,
               "the body is over %zu bytes once decompressed",
               out->max - start < max ? out->max - start : max);
      break;
    }
    z.next_out = (Bytef *)(out ? out->data + out->len : scratch);
    z.avail_out = (uInt)room;
    zrc = inflate(&z, Z_NO_FLUSH);
    done += room - z.avail_out;
    if (out)
      out->len += room - z.avail_out;
    if (zrc == Z_STREAM_END) {
      size_t rest = z.avail_in + left;
      if (!rest)
        break;
      /* Another member starts with the gzip magic; anything else is
       * data we would otherwise drop without a word. */
      if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b) {
        rc = -EINVAL;
        snprintf(error, error_size,
                 "the body has %zu bytes after its gzip data that are not "
                 "another gzip member",
                 rest);
        break;
      }
      if (inflateReset(&z) != Z_OK) {
        rc = -EINVAL;
        snprintf(error, error_size, "cannot restart gzip decoding");
        break;
      }
      zrc = Z_OK;
      continue;
    }
    if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
      rc = -EINVAL;
      snprintf(error, error_size, "the body is not valid gzip: %s",
               z.msg ? z.msg : "corrupt data");
      break;
    }
    if (zrc == Z_BUF_ERROR && z.avail_in == 0 && !left) {
      rc = -EINVAL;
      snprintf(error, error_size, "the gzip body is truncated");
      break;
    }
  }
  inflateEnd(&z);
  free(scratch);
  if (!rc && done > max) {
    rc = -EMSGSIZE;
    snprintf(error, error_size, "the body is over %zu bytes once decompressed",
             max);
  }
  *produced = done;
  return rc;
}

int vg_gunzip(const char *data, size_t len, size_t max, struct vg_buf *out,
              char *error, size_t error_size) {
  size_t start = out->len, produced;
  int rc = gunzip(data, len, max, out, &produced, error, error_size);
  if (rc)
    out->len = start;
  if (out->data)
    out->data[out->len] = '\0';
  return rc;
}

int vg_gunzip_size(const char *data, size_t len, size_t max, size_t *size,
                   char *error, size_t error_size) {
  size_t produced = 0;
  int rc = gunzip(data, len, max, NULL, &produced, error, error_size);
  *size = rc ? 0 : produced;
  return rc;
}
