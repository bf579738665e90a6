/* tests/unescape_name.h - Prometheus's UnescapeName for the value-encoding
 * scheme (U__), written from its description: what the daemon's escaped
 * line-protocol names must read back as.  Shared by test_lp_samples and
 * fuzz_names; not part of the daemon, which never unescapes. */
#ifndef VG_UNESCAPE_NAME_H
#define VG_UNESCAPE_NAME_H

#include "daemon/util/buf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The unescaped `s` in `out` (not NUL-terminated); false for an escape
 * that is not `_<hex code point>_`. */
static inline bool vg_test_unescape_name(const char *s, struct vg_buf *out) {
  vg_buf_reset(out);
  if (strncmp(s, "U__", 3) != 0) {
    vg_buf_puts(out, s);
    return true;
  }
  for (s += 3; *s;) {
    if (s[0] == '_' && s[1] == '_') {
      vg_buf_putc(out, '_');
      s += 2;
    } else if (s[0] == '_') {
      char *end;
      unsigned long r = strtoul(s + 1, &end, 16);
      if (*end != '_' || end == s + 1 || r > 0x10FFFF)
        return false;
      char u[4];
      size_t n = r < 0x80 ? 1 : r < 0x800 ? 2 : r < 0x10000 ? 3 : 4;
      if (n == 1) {
        u[0] = (char)r;
      } else {
        for (size_t k = n - 1; k > 0; k--, r >>= 6)
          u[k] = (char)(0x80 | (r & 0x3F));
        u[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | r);
      }
      vg_buf_append(out, u, n);
      s = end + 1;
    } else {
      vg_buf_putc(out, *s++);
    }
  }
  return true;
}

#endif
