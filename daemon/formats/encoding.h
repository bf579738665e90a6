/* daemon/formats/encoding.h - text in the encodings offices save, as UTF-8.
 *
 * Excel on a Chinese Windows saves "CSV" in GBK (code page 936), WPS and
 * newer tools in GB18030, and "Unicode text" in UTF-16 with a byte order
 * mark; everything past this module reads UTF-8 only.  glibc's iconv does
 * the conversion.
 */
#ifndef VG_ENCODING_H
#define VG_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

enum vg_encoding {
  VG_ENCODING_AUTO,    /* UTF-8 if it is, UTF-16 by its byte order mark,
                          else GB18030 (which GBK is a part of) */
  VG_ENCODING_UTF8,    /* read as it is; text that is not UTF-8 is refused
                          where it matters (names, labels) */
  VG_ENCODING_GBK,     /* GBK (CP936) */
  VG_ENCODING_GB18030, /* GB18030 */
  VG_ENCODING_UTF16,   /* UTF-16 with a byte order mark (little-endian
                          without one) */
};

/* The configuration's names: "auto", "utf-8", "gbk", "gb18030",
 * "utf-16"; false for any other. */
bool vg_encoding_lookup(const char *name, enum vg_encoding *e);
const char *vg_encoding_name(enum vg_encoding e);

/* Converts data to UTF-8 as `e` says.  Returns 0 with *out NULL when the
 * data is to be read as it is (UTF-8, or "utf-8" declared), 0 with *out a
 * UTF-8 copy (owned by the caller; *out_len its length) otherwise, and
 * *used says which encoding was read.  -EINVAL when the data is not in
 * that encoding: *error names the line and byte
 * ("line 7, byte 12: 0xFF 0x41 is not GB18030 text"). */
int vg_encoding_to_utf8(enum vg_encoding e, const char *data, size_t len,
                        char **out, size_t *out_len, enum vg_encoding *used,
                        char *error, size_t error_size);

#endif
