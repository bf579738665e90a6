/* daemon/util/mem.h - allocation with one out-of-memory policy.
 *
 * villagemetricsd runs under a supervisor (systemd restarts it); a process
 * that cannot allocate a few bytes cannot do anything useful, and checking
 * every small allocation would hide the real error paths.  So these wrappers
 * abort with a message on failure and callers never check for NULL.  Large,
 * input-driven allocations use capped buffers (buf.h) instead, which fail
 * with -ENOSPC and are handled.
 */
#ifndef VG_MEM_H
#define VG_MEM_H

#include <stddef.h>

void *vg_malloc(size_t size);
void *vg_calloc(size_t count, size_t size);
void *vg_realloc(void *ptr, size_t size);
/* Grows an array to hold at least `need` elements; *cap is updated. */
void *vg_grow(void *ptr, size_t *cap, size_t need, size_t elem_size);
char *vg_strdup(const char *s);
char *vg_strndup(const char *s, size_t n);
/* printf into a new string; the caller owns it. */
char *vg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
