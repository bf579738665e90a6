/* daemon/formats/mapping_report.c - report dates and when the next report
 * is due.
 *
 * Owns the "report_date", "report_cadence", "report_due_day" and
 * "report_date_is" keys and
 * what a record's report date gives: village_report_timestamp_seconds
 * (the date, whatever "timestamp" says) and, with a cadence,
 * village_report_next_due_timestamp_seconds, both with the record's
 * labels and "source", the collector's name, so that two sources of one
 * village keep a date each.  The due date is calendar arithmetic on whole
 * UTC days, pure and exact.  Must not cost the record's metrics for a bad
 * date: the date cell alone is rejected, naming the village.
 */
#include "daemon/formats/mapping_int.h"
#include "daemon/formats/sheet.h"
#include "daemon/util/mem.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_METRIC "village_report_timestamp_seconds"
#define DUE_METRIC "village_report_next_due_timestamp_seconds"

static const struct {
  const char *name;
  enum vg__mapping_cadence cadence;
  int64_t days; /* the most days a period has: the largest due day */
} cadences[] = {
    {"weekly", VG__MAPPING_CADENCE_WEEKLY, 7},
    {"monthly", VG__MAPPING_CADENCE_MONTHLY, 31},
    {"quarterly", VG__MAPPING_CADENCE_QUARTERLY, 92},
    {"yearly", VG__MAPPING_CADENCE_YEARLY, 366},
};
#define NCADENCES (sizeof cadences / sizeof cadences[0])

int vg__mapping_report_configure(struct vg_mapping *m, const cJSON *cfg,
                                 struct vg_cfg_err *err) {
  const cJSON *cad = cJSON_GetObjectItemCaseSensitive(cfg, "report_cadence");
  const cJSON *due = cJSON_GetObjectItemCaseSensitive(cfg, "report_due_day");
  const cJSON *is = cJSON_GetObjectItemCaseSensitive(cfg, "report_date_is");
  m->village_label = SIZE_MAX;
  for (size_t i = 0; i < m->nlabels; i++)
    if (strcmp(m->refs[i].name, "village") == 0)
      m->village_label = i;
  if (cad && !m->has_report)
    return vg_cfg_error_key(err, cad,
                            "\"report_cadence\" needs "
                            "\"report_date\"");
  if (due && !cad)
    return vg_cfg_error_key(err, due,
                            "\"report_due_day\" needs "
                            "\"report_cadence\"");
  if (is && !cad)
    return vg_cfg_error_key(err, is,
                            "\"report_date_is\" needs "
                            "\"report_cadence\"");
  if (is && (!cJSON_IsString(is) || (strcmp(is->valuestring, "filed") != 0 &&
                                     strcmp(is->valuestring, "period") != 0)))
    return vg_cfg_error(err, is,
                        "\"report_date_is\" must be \"filed\" (the day "
                        "the report was made) or \"period\" (a day of the "
                        "period it reports on)");
  m->period = is && strcmp(is->valuestring, "period") == 0;
  if (!m->has_report)
    return 0;
  for (size_t i = 0; i < m->nlabels; i++)
    if (strcmp(m->refs[i].name, "source") == 0)
      return vg_cfg_error(err, cfg,
                          "\"report_date\" labels its series with "
                          "\"source\", the collector's name: map the "
                          "label \"source\" under another name");
  /* The collector's name, as the daemon defaults it: its type. */
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
  if (!cJSON_IsString(name))
    name = cJSON_GetObjectItemCaseSensitive(cfg, "type");
  m->source =
      vg_strdup(cJSON_IsString(name) && name->valuestring[0] ? name->valuestring
                                                             : "records");
  while (m->source_pos < m->nlabels &&
         strcmp(m->refs[m->source_pos].name, "source") < 0)
    m->source_pos++;
  if (!cad)
    return 0;
  int64_t max_day = 0;
  for (size_t i = 0; cJSON_IsString(cad) && i < NCADENCES; i++)
    if (strcmp(cad->valuestring, cadences[i].name) == 0) {
      m->cadence = cadences[i].cadence;
      max_day = cadences[i].days;
    }
  if (m->cadence == VG__MAPPING_CADENCE_NONE)
    return vg_cfg_error(err, cad,
                        "\"report_cadence\" must be one of \"weekly\", "
                        "\"monthly\", \"quarterly\", \"yearly\"");
  m->due_day = 1;
  if (due) {
    double v = due->valuedouble;
    if (!cJSON_IsNumber(due) || v != floor(v) || v < 1 || v > (double)max_day)
      return vg_cfg_error(err, due,
                          "\"report_due_day\" must be a whole number from 1 "
                          "to %lld for a %s cadence",
                          (long long)max_day, cad->valuestring);
    m->due_day = (int64_t)v;
  }
  return 0;
}

/* The civil date of a day number (days since 1970-01-01). */
static void civil_from_days(int64_t z, int64_t *y, int64_t *mo, int64_t *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *mo = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*mo <= 2);
}

/* The first day of the month `months` after (y, mo). */
static int64_t month_start(int64_t y, int64_t mo, int64_t months) {
  int64_t k = (mo - 1) + months;
  return vg__mapping_days_from_civil(y + k / 12, k % 12 + 1, 1);
}

/* The period `after` periods after the one holding the report's day (1
 * for a filing date, 2 for the period a report is on): it begins on day
 * `start` and lasts `len` days.  Weeks begin on Monday (ISO 8601),
 * quarters in January, April, July and October.  The report is due on
 * day due_day of it (its last day when it is shorter: the 31st of a
 * monthly cadence is the end of every month), at the end of that day. */
int64_t vg__mapping_report_next_due(enum vg__mapping_cadence c, int64_t due_day,
                                    int64_t after, int64_t report_ms) {
  int64_t day = report_ms / 86400000 - (report_ms % 86400000 < 0);
  int64_t y, mo, d, start, len;
  civil_from_days(day, &y, &mo, &d);
  switch (c) {
  case VG__MAPPING_CADENCE_WEEKLY: {
    int64_t weekday = ((day + 3) % 7 + 7) % 7; /* 1970-01-01: a Thursday */
    start = day - weekday + 7 * after;
    len = 7;
    break;
  }
  case VG__MAPPING_CADENCE_QUARTERLY: {
    int64_t q = (mo - 1) / 3 * 3 + 1;
    start = month_start(y, q, 3 * after);
    len = month_start(y, q, 3 * after + 3) - start;
    break;
  }
  case VG__MAPPING_CADENCE_YEARLY:
    start = vg__mapping_days_from_civil(y + after, 1, 1);
    len = vg__mapping_days_from_civil(y + after + 1, 1, 1) - start;
    break;
  case VG__MAPPING_CADENCE_MONTHLY:
  default:
    start = month_start(y, mo, after);
    len = month_start(y, mo, after + 1) - start;
    break;
  }
  int64_t due = start + (due_day < len ? due_day : len) - 1;
  return (due + 1) * 86400;
}

static void emit(struct vg__mapping_run *r, int64_t report_ms, int64_t ts,
                 const struct vg_location *at) {
  const struct vg_mapping *m = r->m;
  for (size_t i = 0, k = 0; i <= m->nlabels; i++) {
    if (i == m->source_pos)
      r->report_labels[i] = (struct vg_label){"source", m->source};
    else
      r->report_labels[i] = r->labels[k++];
  }
  r->out->sample(r->out->arg, REPORT_METRIC, r->report_labels, m->nlabels + 1,
                 (double)report_ms / 1000, ts, at);
  if (m->cadence != VG__MAPPING_CADENCE_NONE) {
    struct vg_location due_at = *at;
    due_at.derived = true;
    r->out->sample(r->out->arg, DUE_METRIC, r->report_labels, m->nlabels + 1,
                   (double)vg__mapping_report_next_due(
                       m->cadence, m->due_day, m->period ? 2 : 1, report_ms),
                   ts, &due_at);
  }
}

/* Rejects a report date that does not read, naming the village (a date
 * is the one cell a village office is asked about). */
static void reject(struct vg__mapping_run *r, const char *what,
                   const struct vg_location *at) {
  const struct vg_mapping *m = r->m;
  if (m->village_label != SIZE_MAX)
    vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, at,
                       "%s is not a report date (village \"%s\")", what,
                       r->labels[m->village_label].value);
  else
    vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, at,
                       "%s is not a report date", what);
}

void vg__mapping_report_cell(struct vg__mapping_run *r, const char *s, size_t n,
                             bool date1904, int64_t ts,
                             const struct vg_location *at) {
  int64_t ms;
  if (n == 0 || vg__mapping_no_data(r->m, s, n))
    return;
  if (vg__mapping_date_parse(s, n, date1904, &ms)) {
    emit(r, ms, ts, at);
    return;
  }
  char q[VG__MAPPING_QUOTE_MAX + 8];
  vg__mapping_quote(q, sizeof q, s, n);
  reject(r, q, at);
}

void vg__mapping_report_json(struct vg__mapping_run *r, const cJSON *v,
                             int64_t ts, const struct vg_location *at) {
  if (!v || cJSON_IsNull(v))
    return;
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    size_t n = strlen(s);
    while (n > 0 && (*s == ' ' || *s == '\t'))
      s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
    vg__mapping_report_cell(r, s, n, false, ts, at);
    return;
  }
  double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
  int64_t ms;
  if (x >= 0 && x < 1e7 && vg_sheet_serial_to_ms(x, false, &ms)) {
    emit(r, ms, ts, at);
  } else if (x >= 1e7 && x < 1e15) {
    emit(r, (int64_t)llround(x < 1e11 ? x * 1000 : x), ts, at);
  } else {
    reject(r, cJSON_IsNumber(v) ? "the number" : "a value that is no text", at);
  }
}
