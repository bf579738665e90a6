/* Fuzz target: a journal block's payload (format 2: first seq, count,
 * codec, raw length, stored or zstd bytes), decoded as a reader does once
 * its record's CRC has held.  A block that decodes gives exactly its count
 * of samples, numbered from its first seq, each with a metric name and
 * labels that are C strings inside the decoded data. */
#include "daemon/pipeline/journal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
  size_t n;
  uint64_t first;
};

static void check(void *arg, const struct vg_journal_record *rec) {
  struct seen *s = arg;
  if (s->n == 0)
    s->first = rec->seq;
  else if (rec->seq != s->first + s->n)
    abort();
  s->n++;
  /* Reading every byte lets ASan see a string that is not one. */
  volatile size_t len = strlen(rec->metric);
  for (size_t i = 0; i < rec->nlabels; i++)
    len += strlen(rec->labels[i].name) + strlen(rec->labels[i].value);
  (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly `size` bytes, so that ASan sees any over-read. */
  char *p = malloc(size ? size : 1);
  if (!p)
    return 0;
  memcpy(p, data, size);
  struct seen s = {0};
  size_t n = vg__journal_decode_block(p, size, check, &s);
  if (n != s.n)
    abort();
  free(p);
  return 0;
}
