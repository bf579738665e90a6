/* daemon/formats/encoding.c - conversion to UTF-8 with iconv.
 *
 * Owns choosing an input's encoding ("auto": valid UTF-8 stays as it is,
 * a UTF-16 byte order mark says UTF-16, anything else is read as GB18030)
 * and converting it in one pass into one new buffer.  Must not read the
 * text for anything else, and must not accept a byte that does not
 * convert: a damaged input is refused with the line and byte of the first
 * bad sequence, never read with replacement characters that would then
 * become labels.
 */
#include "daemon/formats/encoding.h"

#include "daemon/model/expfmt.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    [VG_ENCODING_AUTO] = "auto",    [VG_ENCODING_UTF8] = "utf-8",
    [VG_ENCODING_GBK] = "gbk",      [VG_ENCODING_GB18030] = "gb18030",
    [VG_ENCODING_UTF16] = "utf-16",
};

/* iconv's names of the same. */
static const char *const iconv_names[] = {
    [VG_ENCODING_GBK] = "GBK",
    [VG_ENCODING_GB18030] = "GB18030",
    [VG_ENCODING_UTF16] = "UTF-16",
};

bool vg_encoding_lookup(const char *name, enum vg_encoding *e) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) {
      *e = (enum vg_encoding)i;
      return true;
    }
  /* What people also write. */
  if (strcmp(name, "utf8") == 0) {
    *e = VG_ENCODING_UTF8;
    return true;
  }
  if (strcmp(name, "cp936") == 0) {
    *e = VG_ENCODING_GBK;
    return true;
  }
  return false;
}

const char *vg_encoding_name(enum vg_encoding e) {
  return names[e];
}

static bool utf16_bom(const char *data, size_t len) {
  return len >= 2 && ((memcmp(data, "\xFF\xFE", 2) == 0) ||
                      memcmp(data, "\xFE\xFF", 2) == 0);
}

/* The line (1-based) and byte in it of data[pos], counting LF, CRLF and
 * CR as line ends as the CSV reader does; UTF-16 by code units.  No byte
 * of a GB18030 multi-byte character is a line end. */
static void locate(const char *data, size_t pos, enum vg_encoding e,
                   size_t *line, size_t *byte) {
  const unsigned char *u = (const unsigned char *)data;
  size_t step = e == VG_ENCODING_UTF16 ? 2 : 1;
  bool be = step == 2 && pos >= 2 && u[0] == 0xFE && u[1] == 0xFF;
  size_t l = 1, start = 0;
  bool prev_cr = false;
  for (size_t i = 0; i + step <= pos; i += step) {
    unsigned c = step == 1 ? u[i]
                 : be      ? (unsigned)u[i] << 8 | u[i + 1]
                           : (unsigned)u[i + 1] << 8 | u[i];
    if (c == '\n' && prev_cr) {
      start = i + step;
    } else if (c == '\n' || c == '\r') {
      l++;
      start = i + step;
    }
    prev_cr = c == '\r';
  }
  *line = l;
  *byte = pos - start + 1;
}

int vg_encoding_to_utf8(enum vg_encoding e, const char *data, size_t len,
                        char **out, size_t *out_len, enum vg_encoding *used,
                        char *error, size_t error_size) {
  *out = NULL;
  *out_len = 0;
  bool guessed = e == VG_ENCODING_AUTO;
  if (e == VG_ENCODING_AUTO) {
    if (utf16_bom(data, len))
      e = VG_ENCODING_UTF16;
    else if (vg_expfmt_utf8_prefix(data, len) == len)
      e = VG_ENCODING_UTF8;
    else
      e = VG_ENCODING_GB18030;
  }
  *used = e;
  if (e == VG_ENCODING_UTF8)
    return 0;

  /* Without a byte order mark, UTF-16 is the little-endian of Windows
   * (glibc's "UTF-16" would take it as big-endian). */
  const char *from = iconv_names[e];
  if (e == VG_ENCODING_UTF16 && !utf16_bom(data, len))
    from = "UTF-16LE";
  iconv_t cd = iconv_open("UTF-8", from);
  if (cd == (iconv_t)-1) {
    snprintf(error, error_size, "this system cannot convert %s (iconv: %s)",
             iconv_names[e], strerror(errno));
    return -EINVAL;
  }
  /* UTF-8 takes at most 3 bytes for a 2-byte GBK or UTF-16 character and 4
   * for a 4-byte one, and 1 for each single byte: 1.5 times the input and
   * a little.  Grown if ever short. */
  size_t cap = len + len / 2 + 16;
  char *buf = vg_malloc(cap);
  char *in = (char *)data, *o = buf;
  size_t in_left = len, o_left = cap;
  int rc = 0;
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &o, &o_left) != (size_t)-1)
      break;
    if (errno == E2BIG) {
      size_t used_bytes = (size_t)(o - buf);
      cap *= 2;
      buf = vg_realloc(buf, cap);
      o = buf + used_bytes;
      o_left = cap - used_bytes;
      continue;
    }
    /* EILSEQ: a bad sequence; EINVAL: one cut off by the end. */
    int why = errno;
    size_t pos = (size_t)(in - data), line, byte;
    /* A guess that fails: the input is more likely the one of the two
     * that read further, so its first bad byte is the one to show. */
    if (guessed && e == VG_ENCODING_GB18030) {
      size_t utf8 = vg_expfmt_utf8_prefix(data, len);
      if (utf8 > pos) {
        pos = utf8;
        in = (char *)data + pos;
        in_left = len - pos;
        why = EILSEQ;
      }
    }
    locate(data, pos, e, &line, &byte);
    char bytes[16];
    size_t show = in_left < 2 ? in_left : 2;
    if (show == 2)
      snprintf(bytes, sizeof bytes, "0x%02X 0x%02X", (unsigned char)in[0],
               (unsigned char)in[1]);
    else
      snprintf(bytes, sizeof bytes, "0x%02X", (unsigned char)in[0]);
    snprintf(error, error_size, "line %zu, byte %zu: %s %s %s text%s", line,
             byte, bytes, show == 2 ? "are" : "is",
             guessed && e == VG_ENCODING_GB18030 ? "neither UTF-8 nor GB18030"
             : e == VG_ENCODING_GBK              ? "not GBK"
             : e == VG_ENCODING_GB18030          ? "not GB18030"
                                                 : "not UTF-16",
             why == EINVAL ? " (cut off at the end)" : "");
    rc = -EINVAL;
    break;
  }
  iconv_close(cd);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *out_len = (size_t)(o - buf);
  return 0;
}
