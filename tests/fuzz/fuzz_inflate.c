/* Fuzz target: gzip bodies (daemon/net/inflate.c).  The first byte picks
 * the mode:
 *  - even: the rest is taken as a gzip body as sent.  vg_gunzip_size and
 *    vg_gunzip must agree (same answer, same size), the output never
 *    passes the cap, and a buffer made to the announced size takes the
 *    body without growing;
 *  - odd: the rest is split into up to four parts, each made a gzip member
 *    of its own with zlib (bits 1-2 of the first byte choose how many),
 *    with trailing bytes after the last member (bit 3) or the last member
 *    cut short (bit 4).  Whole members must decode to the parts joined;
 *    trailing bytes and a cut member must be refused. */
#include "daemon/net/inflate.h"
#include "daemon/util/buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP (1 << 20)

static void check_body(const char *p, size_t len) {
  char e1[256] = "", e2[256] = "";
  size_t n = 0;
  int rc1 = vg_gunzip_size(p, len, CAP, &n, e1, sizeof e1);
  struct vg_buf out;
  vg_buf_init(&out, CAP + 1);
  int rc2 = vg_gunzip(p, len, CAP, &out, e2, sizeof e2);
  if (rc1 != rc2 || (rc1 && (!e1[0] || n || out.len)) ||
      (!rc1 && (n != out.len || out.len > CAP)))
    abort();
  vg_buf_free(&out);
  if (rc1)
    return;
  /* A buffer to the byte: no growth, the same bytes. */
  struct vg_buf exact;
  vg_buf_init(&exact, n + 1);
  if (vg_buf_reserve(&exact, n + 1) != 0)
    abort();
  size_t cap = exact.cap;
  if (vg_gunzip(p, len, n, &exact, e2, sizeof e2) != 0 || exact.len != n ||
      exact.cap != cap)
    abort();
  vg_buf_free(&exact);
}

static void member(struct vg_buf *out, const uint8_t *p, size_t n, int level) {
  z_stream z = {0};
  if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  uLong bound = deflateBound(&z, (uLong)n) + 32;
  if (vg_buf_reserve(out, bound) != 0)
    abort();
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out->data + out->len;
  z.avail_out = (uInt)bound;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END)
    abort();
  out->len += bound - z.avail_out;
  deflateEnd(&z);
}

static void check_members(uint8_t mode, const uint8_t *p, size_t n) {
  size_t parts = 1 + ((mode >> 1) & 3);
  bool trailing = mode & 8, cut = mode & 16;
  struct vg_buf body;
  vg_buf_init(&body, 4 * n + 4096);
  for (size_t i = 0; i < parts; i++) {
    size_t from = n * i / parts, to = n * (i + 1) / parts;
    member(&body, p + from, to - from, (int)(mode >> 5) % 10);
  }
  if (trailing && vg_buf_append(&body, "\x1f\x8c tail", 7) != 0)
    abort();
  if (cut && !trailing)
    body.len -= 1 + body.len % 8; /* into the last member's trailer */
  char error[256] = "";
  struct vg_buf out;
  vg_buf_init(&out, CAP + 1);
  int rc = vg_gunzip(body.data, body.len, CAP, &out, error, sizeof error);
  size_t size = 0;
  int rc_size =
      vg_gunzip_size(body.data, body.len, CAP, &size, error, sizeof error);
  if (rc != rc_size)
    abort();
  if (trailing || cut) {
    if (rc != -EINVAL)
      abort();
  } else if (n > CAP) {
    if (rc != -EMSGSIZE)
      abort();
  } else if (rc != 0 || out.len != n || size != n ||
             (n && memcmp(out.data, p, n) != 0)) {
    abort();
  }
  vg_buf_free(&out);
  vg_buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if (data[0] & 1)
    check_members(data[0], data + 1, size - 1);
  else
    check_body((const char *)data + 1, size - 1);
  return 0;
}
