/* tests/unit/test_inflate.c - gzip bodies: members, caps, what is refused.
 *
 * The compressed inputs are made here with zlib's own deflate, the same
 * encoder as gzip(1) and most HTTP clients' gzip.
 */
#include "daemon/net/inflate.h"

#include "tests/vgtest.h"

#include <errno.h>
#include <stdlib.h>
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

/* The size alone, without keeping anything: every member counted, the
 * cap and the refusals as vg_gunzip's; then a buffer made once to that
 * size takes the body without growing. */
VG_TEST(size_first_then_a_buffer_to_the_byte) {
  struct vg_buf in;
  vg_buf_init(&in, 1 << 24);
  char *big = malloc(1000001);
  memset(big, 'x', 1000000);
  big[1000000] = '\0';
  gzip_member(&in, "a v=1 1\n");
  gzip_member(&in, big);
  gzip_member(&in, "c v=3 3\n");
  char error[256] = "";
  size_t size = 1;
  ASSERT_INT_EQ(vg_gunzip_size(in.data, in.len, 1000016, &size, error, 256), 0);
  ASSERT_INT_EQ(size, 1000016);
  struct vg_buf out;
  vg_buf_init(&out, size + 1);
  ASSERT_INT_EQ(vg_buf_reserve(&out, size + 1), 0);
  size_t cap = out.cap;
  ASSERT_INT_EQ(vg_gunzip(in.data, in.len, size, &out, error, 256), 0);
  ASSERT_INT_EQ(out.len, size);
  ASSERT_INT_EQ(out.cap, cap);
  vg_buf_free(&out);
  /* One byte under: refused, as vg_gunzip refuses it. */
  ASSERT_INT_EQ(vg_gunzip_size(in.data, in.len, 1000015, &size, error, 256),
                -EMSGSIZE);
  ASSERT_INT_EQ(size, 0);
  ASSERT_STR_EQ(error, "the body is over 1000015 bytes once decompressed");
  /* Trailing bytes and truncation, as vg_gunzip. */
  ASSERT_INT_EQ(vg_buf_append(&in, "zz", 2), 0);
  ASSERT_INT_EQ(vg_gunzip_size(in.data, in.len, 1 << 24, &size, error, 256),
                -EINVAL);
  ASSERT_CONTAINS(error, "2 bytes after its gzip data");
  ASSERT_INT_EQ(
      vg_gunzip_size(in.data, in.len - 20, 1 << 24, &size, error, 256),
      -EINVAL);
  free(big);
  vg_buf_free(&in);
}

VG_TEST_MAIN(VG_T(one_member), VG_T(every_member_is_decoded),
             VG_T(the_cap_spans_members), VG_T(trailing_bytes_are_refused),
             VG_T(truncated_second_member_is_refused),
             VG_T(not_gzip_is_refused),
             VG_T(size_first_then_a_buffer_to_the_byte))
