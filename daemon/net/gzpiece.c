/* daemon/net/gzpiece.c - gzip streams assembled from deflated pieces.
 *
 * Owns the gzip framing (header, final block, trailer), the compressor of
 * one stream and the pieces' memory.  Must not keep a piece once its last
 * reference goes, or let a piece end in a final block (see gzpiece.h).
 */
#include "daemon/net/gzpiece.h"
#include "daemon/util/mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Header: magic, deflate, no flags, no time, no extra flags, Unix. */
static const unsigned char GZIP_HEADER[10] = {0x1f, 0x8b, 8, 0, 0,
                                              0,    0,    0, 0, 3};

#define SLICE (1u << 30)

enum part { HEADER, PIECES, TRAILER, END };

struct vg_gzpiece_stream {
  vg_gzpiece_next_fn next;
  void *arg;
  z_stream zs;
  bool zs_ready;
  enum part part;
  struct vg_gzpiece *cur; /* the piece being sent, held */
  size_t off;             /* into the header, cur's data or the trailer */
  uint32_t crc;
  uint64_t text_len;
  /* A final empty fixed-Huffman block (BFINAL=1, BTYPE=01, end of block),
   * then CRC-32 and ISIZE, little-endian. */
  unsigned char trailer[10];
};

struct vg_gzpiece *vg_gzpiece_ref(struct vg_gzpiece *p) {
  p->refs++;
  return p;
}

void vg_gzpiece_unref(struct vg_gzpiece *p) {
  if (p && --p->refs == 0)
    free(p);
}

struct vg_gzpiece_stream *vg_gzpiece_stream_new(vg_gzpiece_next_fn next,
                                                void *arg) {
  struct vg_gzpiece_stream *gs = vg_calloc(1, sizeof *gs);
  gs->next = next;
  gs->arg = arg;
  gs->crc = (uint32_t)crc32(0, Z_NULL, 0);
  return gs;
}

/* zlib fails only without memory (or when called wrongly): fatal, as
 * every allocation is (mem.h). */
static void zlib_failed(void) {
  fputs("<2>villagemetricsd: zlib failed to deflate\n", stderr);
  abort();
}

struct vg_gzpiece *vg_gzpiece_deflate(struct vg_gzpiece_stream *gs,
                                      const char *text, size_t n) {
  /* Owned by its references: freed by the last vg_gzpiece_unref. */
  struct vg_gzpiece *p;
  if (n == 0) {
    p = vg_calloc(1, sizeof *p);
    p->refs = 1;
    return p;
  }
  if (!gs->zs_ready) {
    /* Raw deflate: the framing is ours. */
    if (deflateInit2(&gs->zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      zlib_failed();
    gs->zs_ready = true;
  } else if (deflateReset(&gs->zs) != Z_OK) { /* no history from before */
    zlib_failed();
  }
  /* deflateBound covers the data; the sync flush adds an empty stored
   * block (5 bytes) and the partial byte before it. */
  size_t cap = deflateBound(&gs->zs, (uLong)n) + 16;
  p = vg_malloc(sizeof *p + cap);
  p->refs = 1;
  p->text_len = n;
  uLong crc = crc32(0, Z_NULL, 0);
  for (size_t at = 0; at < n; at += SLICE)
    crc = crc32(crc, (const Bytef *)text + at,
                n - at > SLICE ? SLICE : (uInt)(n - at));
  gs->zs.next_in = (Bytef *)text;
  gs->zs.next_out = p->data;
  size_t in_left = n, out_left = cap;
  /* zlib counts in 32 bits: both sides go in slices.  Done when all the
   * input is in, the flush asked for, and room left in the output. */
  for (;;) {
    uInt in = in_left > SLICE ? SLICE : (uInt)in_left;
    uInt out = out_left > SLICE ? SLICE : (uInt)out_left;
    gs->zs.avail_in = in;
    gs->zs.avail_out = out;
    bool last = in == in_left;
    int rc = deflate(&gs->zs, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      zlib_failed();
    in_left -= in - gs->zs.avail_in;
    out_left -= out - gs->zs.avail_out;
    if (last && !gs->zs.avail_in && gs->zs.avail_out)
      break;
    if (!out_left)
      zlib_failed(); /* past deflateBound: cannot be */
  }
  p->crc = (uint32_t)crc;
  p->len = cap - out_left;
  return vg_realloc(p, sizeof *p + p->len);
}

static void put_le32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)v;
  b[1] = (unsigned char)(v >> 8);
  b[2] = (unsigned char)(v >> 16);
  b[3] = (unsigned char)(v >> 24);
}

/* Takes the next non-empty piece into cur, adding its text to the CRC;
 * false at the end. */
static bool take_next(struct vg_gzpiece_stream *gs) {
  vg_gzpiece_unref(gs->cur);
  gs->cur = NULL;
  gs->off = 0;
  struct vg_gzpiece *p;
  while ((p = gs->next(gs->arg, gs))) {
    if (p->len) {
      gs->crc = (uint32_t)crc32_combine(gs->crc, p->crc, (z_off_t)p->text_len);
      gs->text_len += p->text_len;
      gs->cur = p;
      return true;
    }
    vg_gzpiece_unref(p);
  }
  return false;
}

static size_t copy_from(const unsigned char *from, size_t len, size_t *off,
                        char *out, size_t max) {
  size_t n = len - *off < max ? len - *off : max;
  memcpy(out, from + *off, n);
  *off += n;
  return n;
}

size_t vg_gzpiece_stream_read(struct vg_gzpiece_stream *gs, char *out,
                              size_t max) {
  size_t used = 0;
  while (used < max && gs->part != END) {
    switch (gs->part) {
    case HEADER:
      used += copy_from(GZIP_HEADER, sizeof GZIP_HEADER, &gs->off, out + used,
                        max - used);
      if (gs->off == sizeof GZIP_HEADER) {
        gs->part = PIECES;
        gs->off = 0;
      }
      break;
    case PIECES:
      if (gs->cur && gs->off < gs->cur->len) {
        used += copy_from(gs->cur->data, gs->cur->len, &gs->off, out + used,
                          max - used);
      } else if (!take_next(gs)) {
        gs->trailer[0] = 0x03;
        gs->trailer[1] = 0x00;
        put_le32(gs->trailer + 2, gs->crc);
        put_le32(gs->trailer + 6, (uint32_t)gs->text_len);
        gs->part = TRAILER;
        gs->off = 0;
      }
      break;
    case TRAILER:
      used += copy_from(gs->trailer, sizeof gs->trailer, &gs->off, out + used,
                        max - used);
      if (gs->off == sizeof gs->trailer)
        gs->part = END;
      break;
    case END:
      break;
    }
  }
  return used;
}

void vg_gzpiece_stream_free(struct vg_gzpiece_stream *gs) {
  if (!gs)
    return;
  vg_gzpiece_unref(gs->cur);
  if (gs->zs_ready)
    deflateEnd(&gs->zs);
  free(gs);
}
