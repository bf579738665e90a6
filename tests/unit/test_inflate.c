/* tests/unit/test_inflate.c - gzip bodies: members, caps, what is refused.
 *
 * The compressed inputs are made here with zlib's own deflate, the same
 * encoder as gzip(1) and most HTTP clients' gzip.
 */
#include "daemon/net/inflate.h"

#include "tests/vgtest.h"

#include <errno.h>
#include <zlib.h>

/* Appends one gzip member holding `text` to `out`. */
static void gzip_member(struct vg_buf *out, const char *text) {
  z_stream z = {0};
  ASSERT_INT_EQ(
      deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  size_t len = strlen(text);
  uLong bound = deflateBound(&z, (uLong)len) + 32;
  ASSERT_INT_EQ(vg_buf_reserve(out, bound), 0);
  z.next_in = (Bytef *)text;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out->data + out->len;
  z.avail_out = (uInt)bound;
  ASSERT_INT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out->len += bound - z.avail_out;
  deflateEnd(&z);
}

static int gunzip(const struct vg_buf *in, size_t max, struct vg_buf *out,
                  char *error) {
  return vg_gunzip(in->data, in->len, max, out, error, 256);
}

VG_TEST(one_member) {
  struct vg_buf in, out;
  vg_buf_init(&in, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  gzip_member(&in, "m v=1 1\n");
  char error[256] = "";
  ASSERT_INT_EQ(gunzip(&in, 1024, &out, error), 0);
  ASSERT_STR_EQ(out.data, "m v=1 1\n");
  vg_buf_free(&in);
  vg_buf_free(&out);
}

/* `cat a.gz b.gz`: both members are the body, in order. */
VG_TEST(every_member_is_decoded) {
  struct vg_buf in, out;
  vg_buf_init(&in, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  gzip_member(&in, "a v=1 1\n");
  gzip_member(&in, "b v=2 2\n");
  gzip_member(&in, "c v=3 3\n");
  char error[256] = "";
  ASSERT_INT_EQ(gunzip(&in, 1024, &out, error), 0);
  ASSERT_STR_EQ(out.data, "a v=1 1\nb v=2 2\nc v=3 3\n");
  vg_buf_free(&in);
  vg_buf_free(&out);
}

/* The cap counts every member's output together. */
VG_TEST(the_cap_spans_members) {
  struct vg_buf in, out;
  vg_buf_init(&in, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  gzip_member(&in, "0123456789");
  gzip_member(&in, "0123456789");
  char error[256] = "";
  ASSERT_INT_EQ(gunzip(&in, 15, &out, error), -EMSGSIZE);
  ASSERT_CONTAINS(error, "over 15 bytes");
  ASSERT_INT_EQ(out.len, 0);
  ASSERT_INT_EQ(gunzip(&in, 20, &out, error), 0);
  ASSERT_INT_EQ(out.len, 20);
  vg_buf_free(&in);
  vg_buf_free(&out);
}

VG_TEST(trailing_bytes_are_refused) {
  struct vg_buf in, out;
  vg_buf_init(&in, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  gzip_member(&in, "m v=1 1\n");
  ASSERT_INT_EQ(vg_buf_append(&in, "junk", 4), 0);
  char error[256] = "";
  ASSERT_INT_EQ(gunzip(&in, 1024, &out, error), -EINVAL);
  ASSERT_CONTAINS(error, "4 bytes after its gzip data");
  ASSERT_INT_EQ(out.len, 0);
  /* One stray byte is refused too, not taken as half a magic number. */
  in.len -= 3;
  ASSERT_INT_EQ(gunzip(&in, 1024, &out, error), -EINVAL);
  ASSERT_CONTAINS(error, "1 bytes after its gzip data");
  vg_buf_free(&in);
  vg_buf_free(&out);
}

VG_TEST(truncated_second_member_is_refused) {
  struct vg_buf in, out;
  vg_buf_init(&in, 1 << 20);
  vg_buf_init(&out, 1 << 20);
  gzip_member(&in, "a v=1 1\n");
  size_t first = in.len;
  gzip_member(&in, "b v=2 2\n");
  in.len = first + (in.len - first) / 2;
  char error[256] = "";
  ASSERT_INT_EQ(gunzip(&in, 1024, &out, error), -EINVAL);
  ASSERT_CONTAINS(error, "truncated");
  ASSERT_INT_EQ(out.len, 0);
  vg_buf_free(&in);
  vg_buf_free(&out);
}

VG_TEST(not_gzip_is_refused) {
  struct vg_buf out;
  vg_buf_init(&out, 1 << 20);
  char error[256] = "";
  ASSERT_INT_EQ(vg_gunzip("m v=1 1\n", 8, 1024, &out, error, sizeof error),
                -EINVAL);
  ASSERT_CONTAINS(error, "not valid gzip");
  vg_buf_free(&out);
}

VG_TEST_MAIN(VG_T(one_member), VG_T(every_member_is_decoded),
             VG_T(the_cap_spans_members), VG_T(trailing_bytes_are_refused),
             VG_T(truncated_second_member_is_refused),
             VG_T(not_gzip_is_refused))
