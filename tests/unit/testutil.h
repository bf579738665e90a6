/* tests/unit/testutil.h - small things many unit tests need: files to
 * write and read, and the log sent nowhere or into a buffer.  Every call
 * fails the test (tests/vgtest.h) rather than return an error. */
#ifndef VG_TESTUTIL_H
#define VG_TESTUTIL_H

#include "daemon/util/buf.h"

#include <stddef.h>

/* Writes `text` to dir/name. */
void vg_test_write_file(const char *dir, const char *name, const char *text);

/* A file's bytes, exactly: no NUL after them, so that a parser reading
 * past the end shows under ASan and valgrind.  The caller frees them. */
char *vg_test_read_file(const char *path, size_t *len);
/* A file as a string; the caller frees it. */
char *vg_test_read_text(const char *path);

/* Sends the log nowhere. */
void vg_test_log_quiet(void);
/* Sends the log into *b, one line each, from empty; b->data is always a
 * string.  vg_test_log_release() restores the log and frees *b. */
void vg_test_log_capture(struct vg_buf *b);
void vg_test_log_release(struct vg_buf *b);

#endif
