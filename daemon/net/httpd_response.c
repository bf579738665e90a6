/* daemon/net/httpd_response.c - the HTTP server's responses.
 *
 * Owns a response's body from the answer to the moment MHD is done with
 * it: a buffer, or a stream read as the socket drains; gzipped when the
 * client's Accept-Encoding allows and the body is worth it (by zlib here,
 * or by a stream that gzips itself: vg_httpd_stream's read_gzip).  It must
 * never hold the loop for a whole body: compression runs a block at a time as
 * MHD asks for more, so a 100 MB /metrics is never compressed in one go.
 */
#include "daemon/net/httpd_int.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <limits.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define GZIP_MIN_BYTES 1024
#define GZIP_BLOCK_BYTES (32 * 1024)
/* Pieces of a streamed body: large enough that a scrape of 100 MB is a
 * few thousand reads, small enough to stay in cache. */
#define STREAM_BLOCK_BYTES (256 * 1024)

struct MHD_Response *vg__httpd_response_check(struct MHD_Response *r) {
  if (!r) {
    fputs("villagemetricsd: out of memory in libmicrohttpd\n", stderr);
    abort();
  }
  return r;
}

/* Whether Accept-Encoding lets us send gzip: a "gzip" (or "x-gzip") token,
 * else "*", with a q-value that is not zero.  q-values have at most three
 * decimals (RFC 9110), so "not zero" is "has a non-zero digit". */
static bool accepts_gzip(const char *ae) {
  int gzip_ok = -1, star_ok = -1;
  const char *p = ae;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *name = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
      p++;
    size_t name_len = (size_t)(p - name);
    int ok = 1;
    while (*p && *p != ',') {
      if (*p == ';') {
        p++;
        while (*p == ' ' || *p == '\t')
          p++;
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
          p += 2;
          ok = 0;
          for (; *p && *p != ',' && *p != ';'; p++)
            if (*p >= '1' && *p <= '9')
              ok = 1;
          continue;
        }
      }
      if (*p)
        p++;
    }
    if ((name_len == 4 && strncasecmp(name, "gzip", 4) == 0) ||
        (name_len == 6 && strncasecmp(name, "x-gzip", 6) == 0))
      gzip_ok = ok;
    else if (name_len == 1 && name[0] == '*')
      star_ok = ok;
  }
  return gzip_ok >= 0 ? gzip_ok == 1 : star_ok == 1;
}

bool vg_httpd_gzip_accepted(const struct vg_httpd_request *req) {
  const char *ae = vg_httpd_header(req, "Accept-Encoding");
  return ae && accepts_gzip(ae);
}

void vg__httpd_body_release(struct vg__httpd_body *src) {
  if (src->stream.read)
    src->stream.done(src->stream.ctx);
  else
    free(src->buf);
}

struct gzip_stream {
  z_stream zs;
  struct vg__httpd_body src;
  size_t remaining; /* bytes of a buffer not yet handed to zlib */
  char *in;         /* owned: the last piece read from a stream */
  bool src_end;     /* everything has been handed to zlib */
  bool finished;
};

/* Hands zlib the next input: a slice of the buffer (avail_in is 32 bits),
 * or the next piece of the stream. */
static void gzip_refill(struct gzip_stream *g) {
  if (!g->src.stream.read) {
    uInt slice = g->remaining > (1u << 30) ? (1u << 30) : (uInt)g->remaining;
    g->zs.avail_in = slice;
    g->remaining -= slice;
    g->src_end = g->remaining == 0;
    return;
  }
  size_t n = g->src.stream.read(g->src.stream.ctx, g->in, GZIP_BLOCK_BYTES);
  g->zs.next_in = (Bytef *)g->in;
  g->zs.avail_in = (uInt)n;
  g->src_end = n == 0;
}

/* Compresses the next block into MHD's buffer.  zlib's avail_in is 32
 * bits, so the body is fed in slices. */
static ssize_t gzip_read(void *cls, uint64_t pos, char *out, size_t max) {
  struct gzip_stream *g = cls;
  if (g->finished)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (max > UINT_MAX)
    max = UINT_MAX;
  g->zs.next_out = (Bytef *)out;
  g->zs.avail_out = (uInt)max;
  while (g->zs.avail_out > 0) {
    if (g->zs.avail_in == 0 && !g->src_end)
      gzip_refill(g);
    int rc = deflate(&g->zs, g->src_end ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      g->finished = true;
      break;
    }
    if (rc != Z_OK)
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return (ssize_t)(max - g->zs.avail_out);
}

static void gzip_free(void *cls) {
  struct gzip_stream *g = cls;
  deflateEnd(&g->zs);
  vg__httpd_body_release(&g->src);
  free(g->in);
  free(g);
}

/* Takes ownership of the source.  NULL when zlib cannot start (the source
 * is kept). */
static struct MHD_Response *gzip_response(const struct vg__httpd_body *src) {
  /* Owned by the response: freed by gzip_free when MHD is done. */
  struct gzip_stream *g = vg_calloc(1, sizeof *g);
  if (deflateInit2(&g->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    free(g);
    return NULL;
  }
  g->src = *src;
  if (src->stream.read) {
    g->in = vg_malloc(GZIP_BLOCK_BYTES);
  } else {
    g->remaining = src->len;
    g->zs.next_in = (Bytef *)src->buf;
  }
  return vg__httpd_response_check(MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, GZIP_BLOCK_BYTES, gzip_read, g, gzip_free));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
  struct vg_httpd_stream *s = cls;
  size_t n = s->read(s->ctx, out, max);
  return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static ssize_t stream_read_gzip(void *cls, uint64_t pos, char *out,
                                size_t max) {
  struct vg_httpd_stream *s = cls;
  size_t n = s->read_gzip(s->ctx, out, max);
  return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
  struct vg_httpd_stream *s = cls;
  s->done(s->ctx);
  free(s);
}

/* A response read from the source as the socket drains, through its
 * read_gzip when `gzipped`; takes the source. */
static struct MHD_Response *plain_response(const struct vg__httpd_body *src,
                                           bool gzipped) {
  if (!src->stream.read)
    return vg__httpd_response_check(
        MHD_create_response_from_buffer_with_free_callback(src->len, src->buf,
                                                           free));
  /* Owned by the response: freed by stream_free when MHD is done. */
  struct vg_httpd_stream *s = vg_malloc(sizeof *s);
  *s = src->stream;
  return vg__httpd_response_check(MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES,
      gzipped ? stream_read_gzip : stream_read, s, stream_free));
}

void vg__httpd_response_header(struct MHD_Response *resp, const char *name,
                               const char *value) {
  if (MHD_add_response_header(resp, name, value) != MHD_YES)
    vg_log(VG_LOG_WARNING, "http: cannot add response header \"%s\"", name);
}

/* Streams are taken to be large, so they are gzipped whenever the client
 * allows. */
struct MHD_Response *vg__httpd_response_new(const struct vg__httpd_body *src,
                                            const char *accept_encoding) {
  struct MHD_Response *resp = NULL;
  bool large = src->stream.read || src->len > GZIP_MIN_BYTES;
  if (large && accept_encoding && accepts_gzip(accept_encoding))
    resp =
        src->stream.read_gzip ? plain_response(src, true) : gzip_response(src);
  if (resp)
    vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
  else
    resp = plain_response(src, false);
  if (large)
    vg__httpd_response_header(resp, MHD_HTTP_HEADER_VARY,
                              MHD_HTTP_HEADER_ACCEPT_ENCODING);
  return resp;
}
