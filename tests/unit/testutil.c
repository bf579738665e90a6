/* tests/unit/testutil.c - files and the log for the unit tests
 * (testutil.h). */
#include "tests/unit/testutil.h"

#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

void vg_test_write_file(const char *dir, const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    VG_FAIL("cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

char *vg_test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    VG_FAIL("cannot open %s", path);
  ASSERT(fseek(f, 0, SEEK_END) == 0);
  long n = ftell(f);
  ASSERT(n >= 0);
  rewind(f);
  char *p = vg_malloc((size_t)n);
  ASSERT(fread(p, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return p;
}

char *vg_test_read_text(const char *path) {
  size_t len;
  char *data = vg_test_read_file(path, &len);
  char *text = vg_malloc(len + 1);
  memcpy(text, data, len);
  text[len] = '\0';
  free(data);
  return text;
}

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

void vg_test_log_quiet(void) {
  vg_log_set_output(quiet, NULL);
}

static void capture(void *arg, int level, const char *line) {
  vg_buf_printf(arg, "%s\n", line);
}

void vg_test_log_capture(struct vg_buf *b) {
  vg_buf_init(b, 1 << 20);
  vg_buf_puts(b, "");
  vg_log_set_output(capture, b);
}

void vg_test_log_release(struct vg_buf *b) {
  vg_log_set_output(NULL, NULL);
  vg_buf_free(b);
}
