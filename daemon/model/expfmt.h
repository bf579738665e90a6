/* daemon/model/expfmt.h - the pieces of the Prometheus text formats.
 *
 * Text format 0.0.4 and OpenMetrics 1.0 share their sample lines; this
 * file holds what both need: exact number formatting, escaping of label
 * values and help text, and name checks.  The store (store_render.c) and
 * the self-metrics build whole pages from these pieces.
 */
#ifndef VG_EXPFMT_H
#define VG_EXPFMT_H

#include "daemon/util/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define VG_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define VG_CONTENT_TYPE_OPENMETRICS                                            \
  "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Longest output of vg_expfmt_format_double plus its NUL. */
#define VG_EXPFMT_DOUBLE_BUFSIZE 32

/* A text that reads back as exactly `v`, with 15, 16 or 17 significant
 * digits, whichever is the first to read back: so a value that came from
 * a decimal of up to 15 digits prints as written ("0.766", "3895").
 * "NaN", "+Inf", "-Inf" as both formats spell them.  Never "%g" alone,
 * which keeps six digits.  Returns the length. */
size_t vg_expfmt_format_double(double v, char out[VG_EXPFMT_DOUBLE_BUFSIZE]);

/* Appends a label value with \\, \" and \n escaped. */
int vg_expfmt_escape_label_value(struct vg_buf *out, const char *s, size_t len);
/* Appends HELP text with \\ and \n escaped. */
int vg_expfmt_escape_help(struct vg_buf *out, const char *s);

/* What each byte may be in a name of the classic rule below: a table,
 * as every byte of every name pushed is looked at. */
#define VG_NAME_HEAD_LABEL 1  /* may start a label name */
#define VG_NAME_TAIL_LABEL 2  /* may follow in one */
#define VG_NAME_HEAD_METRIC 4 /* may start a metric name */
#define VG_NAME_TAIL_METRIC 8 /* may follow in one */
extern const unsigned char vg_expfmt_name_class[256];

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
bool vg_expfmt_valid_metric_name(const char *s);
/* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved). */
bool vg_expfmt_valid_label_name(const char *s);
/* The length of s when it is a valid label name of at most max bytes,
 * else 0: one walk, reading at most max + 1 bytes of s. */
size_t vg_expfmt_label_name_len(const char *s, size_t max);
/* Well-formed UTF-8, as Prometheus requires of label values: no overlong
 * forms, surrogates or values past U+10FFFF. */
bool vg_expfmt_valid_utf8(const char *s, size_t len);
/* The length of the longest well-formed prefix (len when all of it is). */
size_t vg_expfmt_utf8_prefix(const char *s, size_t len);
/* The length of the string s when it is well-formed UTF-8 of at most max
 * bytes, else SIZE_MAX: measured and checked in one walk of its ASCII,
 * reading at most max + 1 bytes of s. */
size_t vg_expfmt_utf8_len(const char *s, size_t max);

/* Whether an Accept header prefers OpenMetrics to text 0.0.4. */
bool vg_expfmt_accepts_openmetrics(const char *accept);

#endif
