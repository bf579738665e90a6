/* daemon/util/mem.c - the out-of-memory policy: abort with a message. */
#include "daemon/util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size) {
  fprintf(stderr, "<2>villagemetricsd: out of memory allocating %zu bytes\n",
          size);
  abort();
}

void *vg_malloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    out_of_memory(size);
  return p;
}

void *vg_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    out_of_memory(count * size);
  return p;
}

void *vg_realloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p)
    out_of_memory(size);
  return p;
}

void *vg_grow(void *ptr, size_t *cap, size_t need, size_t elem_size) {
  if (need <= *cap)
    return ptr;
  size_t n = *cap ? *cap : 8;
  while (n < need)
    n *= 2;
  *cap = n;
  return vg_realloc(ptr, n * elem_size);
}

char *vg_strdup(const char *s) {
  return vg_strndup(s, strlen(s));
}

char *vg_strndup(const char *s, size_t n) {
  char *p = vg_malloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *vg_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = vg_malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}
