/* daemon/net/gzpiece.h - one gzip stream made of pieces deflated apart.
 *
 * A piece is text deflated on its own: no back-reference reaches before
 * its start, and it ends with a sync flush, on a byte boundary, in a block
 * that is not the last.  So pieces deflated at different times, in any
 * order, concatenate into one valid deflate stream; the CRC-32 of the
 * whole text is combined from each piece's own (crc32_combine).  A page
 * that changes little between scrapes keeps its pieces (the store keeps
 * one per block of a family's series) and a scrape sends them without
 * compressing them again.
 *
 * One gzip member, not a member per piece: gzip members concatenate by
 * RFC 1952 and Go's reader takes them, but curl (7.88) stops after the
 * first one and reports a write error, and so would the http collector of
 * another villagemetricsd.  zlib rather than libdeflate for the same
 * reason: libdeflate always ends what it makes with a final block, which
 * cannot be followed by another.
 *
 * Pieces are reference counted, on one thread (the loop's): a cache holds
 * one, a stream holds the one it is sending.
 */
#ifndef VG_GZPIECE_H
#define VG_GZPIECE_H

#include <stddef.h>
#include <stdint.h>

struct vg_gzpiece {
  uint32_t refs;
  uint32_t crc;    /* CRC-32 of the text */
  size_t text_len; /* bytes of text it holds */
  size_t len;      /* bytes of deflate data */
  unsigned char data[];
};

struct vg_gzpiece *vg_gzpiece_ref(struct vg_gzpiece *p);
void vg_gzpiece_unref(struct vg_gzpiece *p); /* NULL-safe; frees at 0 */

/* A gzip stream being written: its header, the pieces `next` hands out
 * (each a reference the stream takes over; NULL at the end), then the
 * final block and the trailer. */
struct vg_gzpiece_stream;
typedef struct vg_gzpiece *(*vg_gzpiece_next_fn)(void *arg,
                                                 struct vg_gzpiece_stream *gs);

/* Owned by the caller: vg_gzpiece_stream_free. */
struct vg_gzpiece_stream *vg_gzpiece_stream_new(vg_gzpiece_next_fn next,
                                                void *arg);
/* Deflates `text` into a new piece (one reference, the caller's), with
 * the stream's compressor (level 1, as the server's other gzip). */
struct vg_gzpiece *vg_gzpiece_deflate(struct vg_gzpiece_stream *gs,
                                      const char *text, size_t n);
/* Writes the next bytes of the gzip stream; returns how many, 0 at the
 * end. */
size_t vg_gzpiece_stream_read(struct vg_gzpiece_stream *gs, char *out,
                              size_t max);
void vg_gzpiece_stream_free(struct vg_gzpiece_stream *gs); /* NULL-safe */

#endif
