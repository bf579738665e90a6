/* daemon/formats/mapping_time.c - timestamps and dates as records write
 * them.
 *
 * Owns reading a record's time: RFC 3339, dates (midnight UTC) as offices
 * write them ("2019-12-31", "2019/12/31", "2019.12.31", "2019年12月31日",
 * and a month alone, "2019-12" or "2019年12月", which is its first day),
 * Unix seconds (with a fraction) or milliseconds, the serial date numbers
 * of spreadsheets ("excel"), and "auto", which tells them apart.  Pure and
 * exact: integer arithmetic only, so a written fraction is never rounded
 * through a double.  Must not accept what it cannot read whole (trailing text,
 * an impossible date).
 */
#include "daemon/formats/mapping_int.h"
#include "daemon/formats/sheet.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[] = {
    [VG__MAPPING_TS_AUTO] = "auto",       [VG__MAPPING_TS_RFC3339] = "rfc3339",
    [VG__MAPPING_TS_DATE] = "date",       [VG__MAPPING_TS_UNIX] = "unix",
    [VG__MAPPING_TS_UNIX_MS] = "unix_ms", [VG__MAPPING_TS_EXCEL] = "excel",
};

const char *vg__mapping_ts_name(enum vg__mapping_ts f) {
  return format_names[f];
}

bool vg__mapping_ts_lookup(const char *name, enum vg__mapping_ts *f) {
  for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
    if (strcmp(name, format_names[i]) == 0) {
      *f = (enum vg__mapping_ts)i;
      return true;
    }
  return false;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int64_t vg__mapping_days_from_civil(int64_t y, int64_t mo, int64_t d) {
  y -= mo <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Reads n digits at s; false unless all are digits. */
static bool digits_at(const char *s, size_t n, int64_t *out) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static bool valid_day(int64_t y, int64_t mo, int64_t d) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] &&
         !(mo == 2 && d == 29 && !leap);
}

/* "YYYY-MM-DD" at s (10 bytes): days since 1970-01-01. */
static bool parse_date(const char *s, size_t n, int64_t *days) {
  int64_t y, mo, d;
  if (n < 10 || s[4] != '-' || s[7] != '-' || !digits_at(s, 4, &y) ||
      !digits_at(s + 5, 2, &mo) || !digits_at(s + 8, 2, &d) ||
      !valid_day(y, mo, d))
    return false;
  *days = vg__mapping_days_from_civil(y, mo, d);
  return true;
}

/* One or two digits at s[*i] (a month or a day as people write it, "1"
 * or "01"). */
static bool small_number(const char *s, size_t n, size_t *i, int64_t *v) {
  size_t k = 0;
  while (*i + k < n && k < 3 && is_digit(s[*i + k]))
    k++;
  if (k == 0 || k > 2)
    return false;
  digits_at(s + *i, k, v);
  *i += k;
  return true;
}

static bool text_at(const char *s, size_t n, size_t *i, const char *t) {
  size_t k = strlen(t);
  if (n - *i < k || memcmp(s + *i, t, k) != 0)
    return false;
  *i += k;
  return true;
}

#define NIAN "\xE5\xB9\xB4" /* 年 */
#define YUE "\xE6\x9C\x88"  /* 月 */
#define RI "\xE6\x97\xA5"   /* 日 */

/* A date as offices write it, the whole of s: a four-digit year, then
 * the month and the day of month in one or two digits each, separated by
 * "-", "/" or "." (the same both times) or written 2019年12月31日; or a
 * month alone (2019-12, 2019/12, 2019.12, 2019年12月), read as its first
 * day: the period it names begins then, and a month's report dated on its
 * first day is never in the future while that month lasts.  Days since
 * 1970-01-01. */
static bool parse_office_date(const char *s, size_t n, int64_t *days) {
  int64_t y, mo, d = 1;
  size_t i = 4;
  if (n < 6 || !digits_at(s, 4, &y))
    return false;
  bool chinese = text_at(s, n, &i, NIAN);
  char sep = chinese ? 0 : s[4];
  if (!chinese) {
    if (sep != '-' && sep != '/' && sep != '.')
      return false;
    i++;
  }
  if (!small_number(s, n, &i, &mo))
    return false;
  if (chinese) {
    if (!text_at(s, n, &i, YUE))
      return false;
    if (i < n && (!small_number(s, n, &i, &d) || !text_at(s, n, &i, RI)))
      return false;
  } else if (i < n) {
    if (s[i++] != sep || !small_number(s, n, &i, &d))
      return false;
  }
  if (i != n || !valid_day(y, mo, d))
    return false;
  *days = vg__mapping_days_from_civil(y, mo, d);
  return true;
}

/* Whether s starts as a date does: four digits and a separator, so that
 * "2019.12" is December 2019, not 2019.12 seconds after 1970. */
static bool looks_like_date(const char *s, size_t n) {
  return n > 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
         is_digit(s[3]) && !is_digit(s[4]);
}

/* RFC 3339: 2019-12-31T16:00:00Z, with an optional fraction and a
 * numeric offset instead of Z.  The fraction is cut to milliseconds. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *ms) {
  int64_t days, h, mi, sec, frac = 0;
  if (n < 20 || !parse_date(s, n, &days))
    return false;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':' || !digits_at(s + 11, 2, &h) || !digits_at(s + 14, 2, &mi) ||
      !digits_at(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 60)
    return false;
  size_t i = 19;
  if (s[i] == '.') {
    size_t start = ++i;
    while (i < n && is_digit(s[i])) {
      if (i - start < 3)
        frac = frac * 10 + (s[i] - '0');
      i++;
    }
    if (i == start)
      return false;
    for (size_t k = i - start; k < 3; k++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    int64_t oh, om;
    if (n - i < 6 || s[i + 3] != ':' || !digits_at(s + i + 1, 2, &oh) ||
        !digits_at(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return false;
    offset = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return false;
  }
  if (i != n)
    return false;
  *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset) * 1000 + frac;
  return true;
}

/* Unix time as digits with an optional fraction; `unit_ms` is 1000 for
 * seconds and 1 for milliseconds (which take no fraction).  Integer
 * arithmetic, so "1577808000.123" is exactly 1577808000123. */
static bool parse_unix(const char *s, size_t n, int64_t unit_ms, int64_t *ms) {
  size_t int_len = 0;
  while (int_len < n && is_digit(s[int_len]))
    int_len++;
  int64_t v, frac = 0, scale = 100;
  if (int_len == 0 || int_len > 15 || !digits_at(s, int_len, &v))
    return false;
  if (int_len < n) {
    if (unit_ms == 1 || s[int_len] != '.' || int_len + 1 == n)
      return false;
    for (size_t i = int_len + 1; i < n; i++) {
      if (!is_digit(s[i]))
        return false;
      frac += (s[i] - '0') * scale; /* digits past the third add 0 */
      scale /= 10;
    }
  }
  *ms = v * unit_ms + frac;
  return true;
}

bool vg__mapping_ts_excel(const char *s, size_t n, bool date1904, int64_t *ms) {
  /* Digits and one point: what a workbook writes for a date's number.
   * The double is then turned into milliseconds by rounding, so a time of
   * day kept to the workbook's 15 digits lands on its millisecond. */
  char buf[32];
  size_t points = 0;
  if (n == 0 || n >= sizeof buf)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.')
      points++;
    else if (!is_digit(s[i]))
      return false;
  }
  if (points > 1 || s[0] == '.' || s[n - 1] == '.')
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return vg_sheet_serial_to_ms(strtod(buf, NULL), date1904, ms);
}

bool vg__mapping_ts_parse(enum vg__mapping_ts f, const char *s, size_t n,
                          int64_t *ms) {
  int64_t days;
  switch (f) {
  case VG__MAPPING_TS_AUTO:
    if (looks_like_date(s, n) && parse_office_date(s, n, &days)) {
      *ms = days * 86400000;
      return true;
    }
    if (n > 0 && is_digit(s[0]) && (n < 5 || s[4] != '-')) {
      /* Plain digits: seconds below 1e11 (the year 5138), milliseconds
       * from there on, which take no fraction. */
      if (parse_unix(s, n, 1000, ms) && *ms < 100000000000000)
        return true;
      return parse_unix(s, n, 1, ms);
    }
    return parse_rfc3339(s, n, ms);
  case VG__MAPPING_TS_RFC3339:
    return parse_rfc3339(s, n, ms);
  case VG__MAPPING_TS_DATE:
    if (!parse_office_date(s, n, &days))
      return false;
    *ms = days * 86400000;
    return true;
  case VG__MAPPING_TS_UNIX:
    return parse_unix(s, n, 1000, ms);
  case VG__MAPPING_TS_UNIX_MS:
    return parse_unix(s, n, 1, ms);
  case VG__MAPPING_TS_EXCEL:
    return vg__mapping_ts_excel(s, n, false, ms);
  }
  return false;
}

bool vg__mapping_date_parse(const char *s, size_t n, bool date1904,
                            int64_t *ms) {
  int64_t days;
  if (looks_like_date(s, n) && parse_office_date(s, n, &days)) {
    *ms = days * 86400000;
    return true;
  }
  /* A number of up to 7 digits is a serial date (9999-12-31 is 2958465):
   * a workbook's date cell formatted as a number, or exported to CSV as
   * one.  Unix seconds of any year since 1973 have 9 digits or more. */
  size_t int_len = 0;
  while (int_len < n && is_digit(s[int_len]))
    int_len++;
  if (int_len > 0 && int_len <= 7 && vg__mapping_ts_excel(s, n, date1904, ms))
    return true;
  return vg__mapping_ts_parse(VG__MAPPING_TS_AUTO, s, n, ms);
}

bool vg_timestamp_parse(const char *s, size_t n, int64_t *ms) {
  return vg__mapping_ts_parse(VG__MAPPING_TS_AUTO, s, n, ms);
}
