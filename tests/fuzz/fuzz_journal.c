/* Fuzz target: a format-1 journal segment's records region (one sample a
 * record, as releases before blocks wrote and this one still reads),
 * decoded as a reader does (damage skipped, sync markers searched).  Every
 * record found must lie inside the input and encode back to exactly the
 * bytes it came from.  Blocks (format 2): fuzz_journal_block.c. */
#include "daemon/util/buf.h"
#include "daemon/pipeline/journal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
  const char *p;
  size_t len;
};

static void check(void *arg, const struct vg_journal_record *rec,
                  const char *frame, size_t frame_len) {
  const struct input *in = arg;
  if (frame < in->p || frame_len > in->len ||
      (size_t)(frame - in->p) > in->len - frame_len)
    abort();
  struct vg_buf out;
  vg_buf_init(&out, 2 * VG_JOURNAL_MAX_RECORD);
  if (vg__journal_encode(rec, &out) != 0 || out.len != frame_len ||
      memcmp(out.data, frame, frame_len) != 0)
    abort();
  vg_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly `size` bytes, so that ASan sees any over-read. */
  char *p = malloc(size ? size : 1);
  if (!p)
    return 0;
  memcpy(p, data, size);
  struct input in = {p, size};
  vg__journal_decode(p, size, 1, check, &in);
  free(p);
  return 0;
}
