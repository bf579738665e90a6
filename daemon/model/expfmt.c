/* daemon/model/expfmt.c - number formatting, escaping and name checks. */
#include "daemon/model/expfmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t vg_expfmt_format_double(double v, char out[VG_EXPFMT_DOUBLE_BUFSIZE]) {
  if (isnan(v))
    return (size_t)snprintf(out, VG_EXPFMT_DOUBLE_BUFSIZE, "NaN");
  if (isinf(v))
    return (size_t)snprintf(out, VG_EXPFMT_DOUBLE_BUFSIZE,
                            v > 0 ? "+Inf" : "-Inf");
  /* 15 significant digits print every value that came from a decimal of
   * at most 15 digits exactly as written; 17 always read back exactly.
   * Take the first that reads back as v. */
  int n = 0;
  for (int precision = 15; precision <= 17; precision++) {
    n = snprintf(out, VG_EXPFMT_DOUBLE_BUFSIZE, "%.*g", precision, v);
    if (strtod(out, NULL) == v)
      break;
  }
  return (size_t)n;
}

int vg_expfmt_escape_label_value(struct vg_buf *out, const char *s,
                                 size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    const char *esc = NULL;
    if (s[i] == '\\')
      esc = "\\\\";
    else if (s[i] == '"')
      esc = "\\\"";
    else if (s[i] == '\n')
      esc = "\\n";
    if (!esc)
      continue;
    int rc = vg_buf_append(out, s + start, i - start);
    if (!rc)
      rc = vg_buf_append(out, esc, 2);
    if (rc)
      return rc;
    start = i + 1;
  }
  return vg_buf_append(out, s + start, len - start);
}

int vg_expfmt_escape_help(struct vg_buf *out, const char *s) {
  for (; *s; s++) {
    int rc;
    if (*s == '\\')
      rc = vg_buf_append(out, "\\\\", 2);
    else if (*s == '\n')
      rc = vg_buf_append(out, "\\n", 2);
    else
      rc = vg_buf_putc(out, *s);
    if (rc)
      return rc;
  }
  return 0;
}

/* clang-format off */
const unsigned char vg_expfmt_name_class[256] = {
    /* 0-9, then ':' */
    ['0'] = 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 12,
    /* A-Z */
    ['A'] = 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
            15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    ['_'] = 15,
    /* a-z */
    ['a'] = 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
            15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
};
/* clang-format on */

/* The length of s when it is a name of at most max bytes whose first byte
 * has the class `head` and every other one `tail`, else 0; reads at most
 * max + 1 of its bytes. */
static size_t name_len(const char *s, unsigned head, unsigned tail,
                       size_t max) {
  const unsigned char *p = (const unsigned char *)s;
  if (!(vg_expfmt_name_class[p[0]] & head))
    return 0; /* the empty name too: NUL has no class */
  size_t i = 1;
  while (i <= max && (vg_expfmt_name_class[p[i]] & tail))
    i++;
  return i > max || p[i] ? 0 : i;
}

bool vg_expfmt_valid_metric_name(const char *s) {
  return name_len(s, VG_NAME_HEAD_METRIC, VG_NAME_TAIL_METRIC, SIZE_MAX - 1);
}

size_t vg_expfmt_label_name_len(const char *s, size_t max) {
  if (s[0] == '_' && s[1] == '_')
    return 0;
  return name_len(s, VG_NAME_HEAD_LABEL, VG_NAME_TAIL_LABEL, max);
}

bool vg_expfmt_valid_label_name(const char *s) {
  return vg_expfmt_label_name_len(s, SIZE_MAX - 1);
}

size_t vg_expfmt_utf8_prefix(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80) {
      /* ASCII, most label values: eight bytes at a time while no byte
       * has its high bit. */
      for (i++; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080u)
          break;
      }
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return i;
    }
    if (len - i <= n)
      return i;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return i;
    i += n + 1;
  }
  return len;
}

bool vg_expfmt_valid_utf8(const char *s, size_t len) {
  return vg_expfmt_utf8_prefix(s, len) == len;
}

size_t vg_expfmt_utf8_len(const char *s, size_t max) {
  const unsigned char *v = (const unsigned char *)s;
  size_t k = 0;
  while (k <= max && v[k] && v[k] < 0x80)
    k++;
  if (k > max)
    return SIZE_MAX;
  if (!v[k]) /* ASCII to the end */
    return k;
  /* Past the ASCII, where a character starts: the rest measured and
   * checked. */
  size_t rest = strnlen(s + k, max + 1 - k);
  return k + rest <= max && vg_expfmt_utf8_prefix(s + k, rest) == rest
             ? k + rest
             : SIZE_MAX;
}

bool vg_expfmt_accepts_openmetrics(const char *accept) {
  /* Prometheus sends "application/openmetrics-text;version=1.0.0;q=0.5,
   * text/plain;version=0.0.4;q=0.4,..." when it can read OpenMetrics.  We
   * honour a q=0 refusal and otherwise serve OpenMetrics whenever it is
   * listed with a q at least that of text/plain. */
  if (!accept)
    return false;
  double om_q = -1, text_q = -1;
  const char *p = accept;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && (*p == ' ' || *p == '\t'))
      p++, len--;
    double q = 1.0;
    const char *qp = NULL;
    for (size_t i = 0; i + 2 < len; i++)
      if (p[i] == ';') {
        size_t j = i + 1;
        while (j < len && p[j] == ' ')
          j++;
        if (j + 1 < len && p[j] == 'q' && p[j + 1] == '=')
          qp = p + j + 2;
      }
    if (qp)
      q = strtod(qp, NULL);
    if (len >= 28 && strncasecmp(p, "application/openmetrics-text", 28) == 0)
      om_q = q > om_q ? q : om_q;
    else if (len >= 10 && strncasecmp(p, "text/plain", 10) == 0)
      text_q = q > text_q ? q : text_q;
    if (!end)
      break;
    p = end + 1;
  }
  return om_q > 0 && om_q >= text_q;
}
