/* Unit tests: gzip streams assembled from pieces deflated apart. */
#include "daemon/net/gzpiece.h"
#include "daemon/net/inflate.h"
#include "daemon/util/buf.h"
#include "tests/vgtest.h"

#include <zlib.h>

/* Hands out the pieces of a NULL-terminated array, one reference each. */
struct list {
  struct vg_gzpiece **p;
  size_t next;
};

static struct vg_gzpiece *next_piece(void *arg, struct vg_gzpiece_stream *gs) {
  (void)gs;
  struct list *l = arg;
  return l->p[l->next] ? vg_gzpiece_ref(l->p[l->next++]) : NULL;
}

/* The whole stream, read `chunk` bytes at a time. */
static void read_stream(struct vg_gzpiece_stream *gs, size_t chunk,
                        struct vg_buf *gz) {
  char buf[4096];
  size_t n;
  while ((n = vg_gzpiece_stream_read(gs, buf, chunk)) > 0)
    vg_buf_append(gz, buf, n);
}

static void gunzip_is(const struct vg_buf *gz, const char *want, size_t len) {
  struct vg_buf text;
  vg_buf_init(&text, 1 << 24);
  char error[128];
  ASSERT_INT_EQ(
      vg_gunzip(gz->data, gz->len, 1 << 23, &text, error, sizeof error), 0);
  ASSERT_INT_EQ(text.len, len);
  ASSERT(len == 0 || memcmp(text.data, want, len) == 0);
  /* One member: zlib's gzip reader stops at its end, with nothing left. */
  z_stream zs = {0};
  ASSERT_INT_EQ(inflateInit2(&zs, 31), Z_OK);
  unsigned char *out = malloc(len + 1);
  zs.next_in = (Bytef *)gz->data;
  zs.avail_in = (uInt)gz->len;
  zs.next_out = out;
  zs.avail_out = (uInt)len + 1;
  ASSERT_INT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  ASSERT_INT_EQ(zs.avail_in, 0);
  ASSERT_INT_EQ(zs.total_out, len);
  inflateEnd(&zs);
  free(out);
  vg_buf_free(&text);
}

VG_TEST(no_pieces_is_an_empty_gzip) {
  struct vg_gzpiece *none[] = {NULL};
  struct list l = {none, 0};
  struct vg_gzpiece_stream *gs = vg_gzpiece_stream_new(next_piece, &l);
  struct vg_buf gz;
  vg_buf_init(&gz, 1 << 20);
  read_stream(gs, 3, &gz);
  ASSERT_INT_EQ(vg_gzpiece_stream_read(gs, (char[4]){0}, 4), 0);
  vg_gzpiece_stream_free(gs);
  gunzip_is(&gz, "", 0);
  vg_buf_free(&gz);
}

/* Pieces made by different streams, one empty, one kept and sent twice,
 * make one valid member whatever the size of the reads. */
VG_TEST(pieces_made_apart_concatenate) {
  struct vg_buf text;
  vg_buf_init(&text, 1 << 22);
  unsigned seed = 7;
  for (int i = 0; i < 20000; i++) {
    seed = seed * 1103515245 + 12345;
    vg_buf_printf(&text, "village_population{village=\"V%d\"} %u\n", i,
                  seed >> 20);
  }
  size_t cut1 = 1000, cut2 = text.len / 2;
  struct vg_gzpiece_stream *maker = vg_gzpiece_stream_new(next_piece, NULL);
  struct vg_gzpiece *a = vg_gzpiece_deflate(maker, text.data, cut1);
  struct vg_gzpiece *empty = vg_gzpiece_deflate(maker, "", 0);
  struct vg_gzpiece *b =
      vg_gzpiece_deflate(maker, text.data + cut1, cut2 - cut1);
  vg_gzpiece_stream_free(maker);
  ASSERT(b->len < b->text_len / 2);
  size_t chunks[] = {1, 10, 4096};
  for (size_t k = 0; k < 3; k++) {
    struct list l = {(struct vg_gzpiece *[]){a, empty, b, NULL, NULL}, 0};
    struct vg_gzpiece_stream *gs = vg_gzpiece_stream_new(next_piece, &l);
    /* The last piece is made by the stream that sends it. */
    l.p[3] = vg_gzpiece_deflate(gs, text.data + cut2, text.len - cut2);
    struct vg_buf gz;
    vg_buf_init(&gz, 1 << 22);
    read_stream(gs, chunks[k], &gz);
    vg_gzpiece_stream_free(gs);
    vg_gzpiece_unref(l.p[3]);
    gunzip_is(&gz, text.data, text.len);
    vg_buf_free(&gz);
  }
  ASSERT_INT_EQ(a->refs, 1);
  vg_gzpiece_unref(a);
  vg_gzpiece_unref(empty);
  vg_gzpiece_unref(b);
  vg_buf_free(&text);
}

VG_TEST_MAIN(VG_T(no_pieces_is_an_empty_gzip),
             VG_T(pieces_made_apart_concatenate))
