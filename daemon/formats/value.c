/* daemon/formats/value.c - numbers as people type them into spreadsheets.
 *
 * Owns the one decision of what text counts as a number.  It accepts a
 * strict grammar (sign, digits in valid thousands groups, fraction,
 * exponent, or one trailing scale: %, ‰, 万 or 亿) and hands the cleaned
 * text to strtod, so every result is the double nearest to what was
 * written.  Full-width forms (１２３，４５６．７％), which Chinese input
 * methods type, are read as their ASCII twins first.  It
 * must not guess: a cell that is not entirely a number is invalid, and it
 * never formats a double or allocates.
 *
 * strtod reads the decimal point of LC_NUMERIC; the daemon never calls
 * setlocale, so that is always the "C" locale's ".".
 */
#include "daemon/formats/value.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest trimmed text we accept; a longer cell is no number anyone typed. */
#define VALUE_MAX 63

/* Bytes of blank at the start of s: ASCII space or tab, U+00A0 (no-break
 * space) or U+3000 (ideographic space), which spreadsheets in Chinese
 * locales put around numbers; 0 when s does not start with one. */
static size_t blank_at_start(const char *s, size_t n) {
  if (n >= 1 && (s[0] == ' ' || s[0] == '\t'))
    return 1;
  if (n >= 2 && memcmp(s, "\xC2\xA0", 2) == 0)
    return 2;
  if (n >= 3 && memcmp(s, "\xE3\x80\x80", 3) == 0)
    return 3;
  return 0;
}

static size_t blank_at_end(const char *s, size_t n) {
  if (n >= 1 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    return 1;
  if (n >= 2 && memcmp(s + n - 2, "\xC2\xA0", 2) == 0)
    return 2;
  if (n >= 3 && memcmp(s + n - 3, "\xE3\x80\x80", 3) == 0)
    return 3;
  return 0;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Stand-ins for the multi-byte scales in the normalized text; no ASCII
 * number holds a control character. */
#define PER_MILLE '\x01'
#define WAN '\x02'
#define YI '\x03'

/* Copies text into out (of at least len + 1 bytes) with full-width digits,
 * signs, point, comma and percent made ASCII and the multi-byte scales
 * made one byte; returns the new length.  Everything else is copied as
 * it is, for the grammar to refuse. */
static size_t normalize(const char *text, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    const unsigned char *u = (const unsigned char *)text + i;
    size_t left = len - i;
    /* U+FF01..U+FF5E are ASCII 0x21..0x7E shifted: EF BC 81..BF, EF BD
     * 80..9E.  Only the ones a number can hold are taken. */
    if (left >= 3 && u[0] == 0xEF && u[1] == 0xBC && u[2] >= 0x81) {
      char c = (char)(u[2] - 0x81 + 0x21);
      if (is_digit(c) || c == '.' || c == ',' || c == '+' || c == '-' ||
          c == '%') {
        out[o++] = c;
        i += 3;
        continue;
      }
    }
    if (left >= 3 && memcmp(u, "\xE2\x80\xB0", 3) == 0) {
      out[o++] = PER_MILLE;
      i += 3;
    } else if (left >= 3 && memcmp(u, "\xE4\xB8\x87", 3) == 0) {
      out[o++] = WAN;
      i += 3;
    } else if (left >= 3 && memcmp(u, "\xE4\xBA\xBF", 3) == 0) {
      out[o++] = YI;
      i += 3;
    } else {
      out[o++] = text[i++];
    }
  }
  return o;
}

/* The exponent a trailing scale stands for; NULL for any other byte. */
static const char *scale_exponent(char c) {
  switch (c) {
  case '%':
    return "e-2";
  case PER_MILLE:
    return "e-3";
  case WAN:
    return "e+4";
  case YI:
    return "e+8";
  default:
    return NULL;
  }
}

enum vg_value_result vg_value_parse(const char *text, size_t len, double *out) {
  return vg_value_parse_scaled(text, len, 0, out);
}

/* Most exponent digits read as a number; past them the value is 0 or
 * infinite whatever a column's scale adds. */
#define EXP_DIGITS_MAX 7

enum vg_value_result vg_value_parse_scaled(const char *text, size_t len,
                                           int column_exp, double *out) {
  size_t k;
  while ((k = blank_at_start(text, len)) > 0) {
    text += k;
    len -= k;
  }
  while ((k = blank_at_end(text, len)) > 0)
    len -= k;
  if (len == 0)
    return VG_VALUE_EMPTY;
  if (len > VALUE_MAX)
    return VG_VALUE_INVALID;
  char norm[VALUE_MAX + 1];
  len = normalize(text, len, norm);
  text = norm;

  /* The cleaned text: at most the input without its commas, plus an
   * exponent of "e", a sign and EXP_DIGITS_MAX + 1 digits, plus the NUL. */
  char buf[VALUE_MAX + EXP_DIGITS_MAX + 5];
  size_t o = 0, i = 0;
  if (text[i] == '+' || text[i] == '-')
    buf[o++] = text[i++];

  /* Integer part.  Once a comma is seen every group after it must have
   * exactly three digits and the first group one to three, so "3,89",
   * ",123" and "1,,234" are refused rather than read as something else. */
  size_t digits = 0, group = 0;
  bool grouped = false;
  while (i < len) {
    if (is_digit(text[i])) {
      buf[o++] = text[i++];
      digits++;
      group++;
    } else if (text[i] == ',') {
      if (grouped ? group != 3 : (group == 0 || group > 3))
        return VG_VALUE_INVALID;
      grouped = true;
      group = 0;
      i++;
    } else {
      break;
    }
  }
  if (grouped && group != 3)
    return VG_VALUE_INVALID;

  if (i < len && text[i] == '.') {
    buf[o++] = text[i++];
    while (i < len && is_digit(text[i])) {
      buf[o++] = text[i++];
      digits++;
    }
  }
  if (digits == 0)
    return VG_VALUE_INVALID;

  /* The written exponent, kept apart so that a column's scale can be
   * added to it. */
  bool exponent = false;
  long exp = 0;
  if (i < len && (text[i] == 'e' || text[i] == 'E')) {
    exponent = true;
    i++;
    bool negative = i < len && text[i] == '-';
    if (i < len && (text[i] == '+' || text[i] == '-'))
      i++;
    size_t exp_digits = 0;
    while (i < len && is_digit(text[i])) {
      if (exp <= 9999999)
        exp = exp * 10 + (text[i] - '0');
      i++;
      exp_digits++;
    }
    if (exp_digits == 0)
      return VG_VALUE_INVALID;
    if (negative)
      exp = -exp;
  }

  /* A scale moves the decimal point in the text, so that "76.6%" is read
   * as 76.6e-2 -- the double nearest to 0.766, which 76.6 / 100 is not --
   * and "1.2万" as 1.2e+4.  Nobody writes an exponent and a scale.  A cell
   * that names its own scale is read as written; the column's scale (a
   * header's "(万元)") applies to bare numbers only. */
  const char *scale = i < len ? scale_exponent(text[i]) : NULL;
  if (scale) {
    if (exponent)
      return VG_VALUE_INVALID;
    i++;
    memcpy(buf + o, scale, 3);
    o += 3;
  } else if (exponent || column_exp != 0) {
    long e = exp + column_exp;
    if (e > 9999999)
      e = 9999999;
    if (e < -9999999)
      e = -9999999;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "e%ld", e);
  }
  if (i != len)
    return VG_VALUE_INVALID;
  buf[o] = '\0';

  char *end;
  double v = strtod(buf, &end);
  if (end != buf + o || !isfinite(v))
    return VG_VALUE_INVALID;
  *out = v;
  return VG_VALUE_OK;
}
