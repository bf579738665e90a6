/* Fuzz target: the remote_write exporter's newest table read from a file
 * (daemon/pipeline/newest.c: version 3 chunks, version 2 and 1 records).
 * Whatever it holds, what was read must survive a sync and a reopen
 * exactly: every entry, by hash, and the flags.  The first byte odd: the
 * chunks' CRCs are made right first, so that mutations reach the chunks'
 * parser instead of stopping at their checksum. */
#include "daemon/pipeline/newest.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *path;
static uv_loop_t loop;

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

static void on_synced(void *arg) {
  *(int *)arg = 1;
}

static struct vg_newest *open_it(void) {
  char error[256];
  struct vg_newest *n = NULL;
  if (vg_newest_open(&loop, path, &n, error, sizeof error) != 0)
    abort(); /* a file that reads is never an error */
  return n;
}

/* Every hash of the first 64 K the input could name: the entries read. */
static void check_same(const struct vg_newest *a, const struct vg_newest *b,
                       const uint8_t *data, size_t size) {
  if (vg_newest_count(a) != vg_newest_count(b) ||
      vg_newest_refuses(a) != vg_newest_refuses(b))
    abort();
  for (size_t off = 0; off + 8 <= size; off++) {
    uint64_t hash = 0;
    for (int i = 0; i < 8; i++)
      hash |= (uint64_t)data[off + i] << (8 * i);
    const struct vg_newest_entry *x = vg_newest_get(a, hash);
    const struct vg_newest_entry *y = vg_newest_get(b, hash);
    if (!x != !y || (x && memcmp(x, y, sizeof *x) != 0))
      abort();
  }
}

/* Writes each chunk's CRC (a version-3 file's, as far as lengths hold). */
static void fix_crcs(uint8_t *p, size_t size) {
  for (size_t off = 8; size - off >= 8;) {
    size_t len =
        p[off] | p[off + 1] << 8 | p[off + 2] << 16 | (size_t)p[off + 3] << 24;
    if (len > size - off - 8)
      return;
    uint32_t crc = vg_crc32c(0, p + off + 8, len);
    for (int i = 0; i < 4; i++)
      p[off + 4 + i] = (uint8_t)(crc >> (8 * i));
    off += 8 + len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size) {
  if (!input_size)
    return 0;
  size_t size = input_size - 1;
  uint8_t *data = vg_malloc(size + 1);
  memcpy(data, input + 1, size);
  if ((input[0] & 1) && size >= 8)
    fix_crcs(data, size);
  if (!path) {
    vg_log_set_output(quiet, NULL);
    if (uv_loop_init(&loop) != 0)
      abort();
    path = vg_asprintf("/tmp/fuzz-newest-%ld", (long)getpid());
  }
  FILE *fp = fopen(path, "wb");
  if (!fp || (size && fwrite(data, size, 1, fp) != 1) || fclose(fp) != 0)
    abort();
  struct vg_newest *n = open_it();
  /* A flag changed twice: a sync that writes (the file whole, or a chunk
   * after what was read) and leaves the table as it was. */
  vg_newest_set_refuses(n, !vg_newest_refuses(n));
  vg_newest_set_refuses(n, !vg_newest_refuses(n));
  int synced = 0;
  if (vg_newest_sync(n, on_synced, &synced) == 0)
    while (!synced)
      uv_run(&loop, UV_RUN_ONCE);
  struct vg_newest *again = open_it();
  check_same(n, again, data, size);
  vg_newest_close(again);
  vg_newest_close(n);
  unlink(path);
  char *tmp = vg_asprintf("%s.tmp", path);
  unlink(tmp);
  free(tmp);
  free(data);
  return 0;
}
