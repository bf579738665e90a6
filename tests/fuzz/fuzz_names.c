/* Fuzz target: the escaping of line-protocol names into Prometheus names
 * (daemon/formats/lp_samples.c).  The input is two names split at its
 * first NUL byte.  Each must come out a valid metric and label name that
 * Prometheus's UnescapeName reads back as the input, and two different
 * names must never come out the same: the escape is injective. */
#include "daemon/formats/lp_samples.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/buf.h"
#include "tests/unescape_name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The escaped name, NUL-terminated, in `out`; checked to read back. */
static void escape_checked(const char *s, size_t n, bool label,
                           struct vg_buf *out, struct vg_buf *back) {
  vg_buf_reset(out);
  vg_lp_samples_escape(out, s, n, label);
  vg_buf_putc(out, '\0');
  /* A tag key starting with "__" stays as it is, and the sink refuses it
   * as a reserved label name (docs/configuration.md). */
  bool reserved = label && strncmp(out->data, "__", 2) == 0;
  if (label ? !reserved && !vg_expfmt_valid_label_name(out->data)
            : !vg_expfmt_valid_metric_name(out->data))
    abort();
  if (!vg_test_unescape_name(out->data, back))
    abort();
  if (back->len != n || memcmp(back->data, s, n) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *a = (const char *)data;
  const char *nul = memchr(a, '\0', size);
  size_t na = nul ? (size_t)(nul - a) : size;
  const char *b = nul ? nul + 1 : "";
  size_t nb = nul ? size - na - 1 : 0;
  /* Names reach the escape as valid UTF-8 without NUL (the parser checks);
   * an empty name never does. */
  if (!na || !nb || memchr(b, '\0', nb) || !vg_expfmt_valid_utf8(a, na) ||
      !vg_expfmt_valid_utf8(b, nb))
    return 0;
  struct vg_buf ea, eb, back;
  vg_buf_init(&ea, 1 << 24);
  vg_buf_init(&eb, 1 << 24);
  vg_buf_init(&back, 1 << 24);
  for (int label = 0; label <= 1; label++) {
    escape_checked(a, na, label, &ea, &back);
    escape_checked(b, nb, label, &eb, &back);
    bool same_in = na == nb && memcmp(a, b, na) == 0;
    bool same_out = strcmp(ea.data, eb.data) == 0;
    if (same_in != same_out)
      abort();
  }
  vg_buf_free(&ea);
  vg_buf_free(&eb);
  vg_buf_free(&back);
  return 0;
}
