/* daemon/util/buf.c - capped growable buffer. */
#include "daemon/util/buf.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_buf_init(struct vg_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void vg_buf_free(struct vg_buf *b) {
  free(b->data);
  vg_buf_init(b, b->max);
}

void vg_buf_reset(struct vg_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

int vg_buf_reserve(struct vg_buf *b, size_t extra) {
  if (extra > b->max - b->len)
    return -ENOSPC;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  /* Never more than the cap allows (b->max + 1 would wrap at SIZE_MAX). */
  if (b->max < SIZE_MAX && cap > b->max + 1)
    cap = b->max + 1;
  b->data = vg_realloc(b->data, cap);
  b->cap = cap;
  return 0;
}

int vg_buf_grow_append(struct vg_buf *b, const void *p, size_t n) {
  int rc = vg_buf_reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int vg_buf_puts(struct vg_buf *b, const char *s) {
  return vg_buf_append(b, s, strlen(s));
}

int vg_buf_vprintf(struct vg_buf *b, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0)
    return -EINVAL;
  int rc = vg_buf_reserve(b, (size_t)n);
  if (rc)
    return rc;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int vg_buf_printf(struct vg_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vg_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

char *vg_buf_take(struct vg_buf *b, size_t *len) {
  char *p = b->data ? b->data : vg_strdup("");
  if (len)
    *len = b->len;
  vg_buf_init(b, b->max);
  return p;
}
