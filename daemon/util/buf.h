/* daemon/util/buf.h - a growable byte buffer with a size cap.
 *
 * Like curl's dynbuf: every buffer is created with the most it may ever
 * hold, so input from the network or a file can never grow it without
 * bound.  Appends that would pass the cap fail with -ENOSPC and leave the
 * buffer as it was.  The contents are always NUL-terminated (the NUL is not
 * counted in len) so they can be handed to string functions.
 */
#ifndef VG_BUF_H
#define VG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct vg_buf {
  char *data; /* owned; NULL until the first append */
  size_t len;
  size_t cap;
  size_t max; /* most bytes len may reach */
};

void vg_buf_init(struct vg_buf *b, size_t max);
void vg_buf_free(struct vg_buf *b);  /* back to empty; max kept */
void vg_buf_reset(struct vg_buf *b); /* len = 0, memory kept */
int vg_buf_reserve(struct vg_buf *b, size_t extra);
int vg_buf_grow_append(struct vg_buf *b, const void *p, size_t n);
/* Inline, because the journal, the batches and the parsers append a few
 * bytes at a time, millions of times a second: with room already there
 * an append is a copy, not a call.  vg_buf_grow_append does the rest, and
 * says -ENOSPC past max (which a buffer may be given below its cap: a
 * request's body in a kept buffer). */
static inline int vg_buf_append(struct vg_buf *b, const void *p, size_t n) {
  if (n >= b->cap - b->len || n > b->max - b->len)
    return vg_buf_grow_append(b, p, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}
static inline int vg_buf_putc(struct vg_buf *b, char c) {
  return vg_buf_append(b, &c, 1);
}
int vg_buf_puts(struct vg_buf *b, const char *s);
int vg_buf_printf(struct vg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int vg_buf_vprintf(struct vg_buf *b, const char *fmt, va_list ap);
/* Hands the contents to the caller (who frees them) and empties b. */
char *vg_buf_take(struct vg_buf *b, size_t *len);

#endif
