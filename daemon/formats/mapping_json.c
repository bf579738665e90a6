/* daemon/formats/mapping_json.c - a mapping run over JSON.
 *
 * Owns the walk over the records array of one parsed document: each
 * record's labels, timestamp and metrics are found by their compiled JSON
 * Pointers, and numbers, booleans and numeric strings all read as values.
 * Must not allocate per sample, format anything on the path of a good
 * value, or keep anything of the document after the run.
 */
#include "daemon/formats/json.h"
#include "daemon/formats/mapping_int.h"
#include "daemon/formats/value.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labels must not depend on how a number was written, so a number is
 * written back as the shortest text that reads as the same double:
 * integers without ".0", others with as few digits as round-trip. */
static void format_label_number(double v, char out[32]) {
  if (v == 0)
    v = 0; /* no "-0" */
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(out, 32, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

static const char *json_kind(const cJSON *v) {
  if (cJSON_IsObject(v))
    return "an object";
  if (cJSON_IsArray(v))
    return "an array";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsString(v))
    return "a string";
  return "a number";
}

static bool json_timestamp(enum vg__mapping_ts f, const cJSON *v, int64_t *ms) {
  if (cJSON_IsString(v))
    return vg__mapping_ts_parse(f, v->valuestring, strlen(v->valuestring), ms);
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
      !(v->valuedouble < 1e15) || f == VG__MAPPING_TS_RFC3339 ||
      f == VG__MAPPING_TS_DATE)
    return false;
  double x = v->valuedouble;
  bool seconds =
      f == VG__MAPPING_TS_UNIX || (f == VG__MAPPING_TS_AUTO && x < 1e11);
  *ms = (int64_t)llround(seconds ? x * 1000 : x);
  return true;
}

/* The value of label i of the record, or NULL when it has none that can
 * be a label. */
static const char *json_label(struct vg__mapping_run *r, size_t i,
                              const cJSON *rec) {
  const cJSON *v = vg_json_pointer_get(&r->m->refs[i].ptr, rec);
  if (cJSON_IsString(v) && v->valuestring[0] &&
      vg__mapping_utf8_prefix(v->valuestring, strlen(v->valuestring)) ==
          strlen(v->valuestring))
    return v->valuestring;
  if (cJSON_IsNumber(v)) {
    format_label_number(v->valuedouble, r->label_num[i]);
    return r->label_num[i];
  }
  if (cJSON_IsBool(v))
    return cJSON_IsTrue(v) ? "true" : "false";
  return NULL;
}

/* Says why label i of the record is none (json_label gave NULL). */
static void reject_label(struct vg__mapping_run *r, size_t i, const cJSON *rec,
                         struct vg_location *at) {
  const struct vg__mapping_ref *f = &r->m->refs[i];
  const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
  at->pointer = f->text;
  if (cJSON_IsString(v) && v->valuestring[0])
    vg__mapping_reject(r, VG_REJECT_BAD_LABEL, at,
                       "label \"%s\" is not UTF-8 text", f->name);
  else if (cJSON_IsString(v))
    vg__mapping_reject(r, VG_REJECT_BAD_LABEL, at, "label \"%s\" is empty",
                       f->name);
  else if (!v || cJSON_IsNull(v))
    vg__mapping_reject(r, VG_REJECT_BAD_LABEL, at,
                       "record has no value for label \"%s\"", f->name);
  else
    vg__mapping_reject(r, VG_REJECT_BAD_LABEL, at,
                       "label \"%s\" is %s, not a string or number", f->name,
                       json_kind(v));
}

/* Reports every bad value of the record, one rejection each; a bad label
 * or timestamp costs the whole record, but its values are still checked
 * (as a CSV row's cells are). */
static void json_record(struct vg__mapping_run *r, const cJSON *rec,
                        size_t idx) {
  const struct vg_mapping *m = r->m;
  /* Every sample and rejection of the record is located by the records
   * pointer, the record's index and the ref's own pointer text: nothing
   * is formatted here, vg_location_format() joins them if a message is
   * ever made. */
  struct vg_location at = {.input = r->input,
                           .pointer_prefix = m->records_text,
                           .record_index = (int64_t)idx};
  bool lost = false;
  r->village = NULL;
  for (size_t i = 0; i < m->nlabels; i++) {
    r->labels[i].value = json_label(r, i, rec);
    if (!r->labels[i].value)
      lost = true;
    else if (strcmp(m->refs[i].name, "village") == 0)
      r->village = r->labels[i].value;
  }
  for (size_t i = 0; lost && i < m->nlabels; i++)
    if (!r->labels[i].value)
      reject_label(r, i, rec, &at);

  int64_t ts = 0;
  if (m->has_ts) {
    const struct vg__mapping_ref *f = &m->refs[m->nlabels + m->nmetrics];
    const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
    if (!json_timestamp(m->ts_format, v, &ts)) {
      at.pointer = f->text;
      if (cJSON_IsString(v)) {
        char q[VG__MAPPING_QUOTE_MAX + 8];
        vg__mapping_quote(q, sizeof q, v->valuestring, strlen(v->valuestring));
        vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
                           "%s is not a timestamp (timestamp_format \"%s\")", q,
                           vg__mapping_ts_name(m->ts_format));
      } else if (!v || cJSON_IsNull(v)) {
        vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
                           "record has no timestamp");
      } else {
        vg__mapping_reject(r, VG_REJECT_BAD_TIMESTAMP, &at,
                           "%s is not a timestamp (timestamp_format \"%s\")",
                           json_kind(v), vg__mapping_ts_name(m->ts_format));
      }
      lost = true;
    }
  }

  if (m->has_report) {
    const struct vg__mapping_ref *f = &m->refs[vg__mapping_report_index(m)];
    at.pointer = f->text;
    vg__mapping_report_json(r, vg_json_pointer_get(&f->ptr, rec), ts, &at);
  }

  for (size_t i = m->nlabels; i < m->nlabels + m->nmetrics; i++) {
    const struct vg__mapping_ref *f = &m->refs[i];
    const cJSON *v = vg_json_pointer_get(&f->ptr, rec);
    double x;
    at.pointer = f->text;
    if (!v || cJSON_IsNull(v))
      continue;
    if (cJSON_IsNumber(v)) {
      x = v->valuedouble;
      /* cJSON reads 1e999 as infinity; JSON has no such number. */
      if (!isfinite(x)) {
        vg__mapping_reject(r, VG_REJECT_NOT_A_NUMBER, &at,
                           "the number is too large for a double");
        continue;
      }
    } else if (cJSON_IsBool(v)) {
      x = cJSON_IsTrue(v) ? 1 : 0;
    } else if (cJSON_IsString(v)) {
      /* "-", "暂无", "N/A": no figure, as null is. */
      const char *t = v->valuestring;
      size_t n = strlen(t);
      while (n > 0 && (*t == ' ' || *t == '\t')) {
        t++;
        n--;
      }
      while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
      if (n > 0 && vg__mapping_no_data(m, t, n))
        continue;
      enum vg_value_result res =
          vg_value_parse(v->valuestring, strlen(v->valuestring), &x);
      if (res == VG_VALUE_EMPTY)
        continue;
      if (res == VG_VALUE_INVALID) {
        char q[VG__MAPPING_QUOTE_MAX + 8];
        vg__mapping_quote(q, sizeof q, v->valuestring, strlen(v->valuestring));
        vg__mapping_reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number",
                           q);
        continue;
      }
    } else {
      vg__mapping_reject(r, VG_REJECT_NOT_A_NUMBER, &at, "%s is not a number",
                         json_kind(v));
      continue;
    }
    if (!lost)
      r->out->sample(r->out->arg, f->name, r->labels, m->nlabels, x, ts, &at);
  }
}

int vg__mapping_json_run_tree(struct vg__mapping_run *r, const cJSON *root,
                              char *error, size_t esize) {
  const struct vg_mapping *m = r->m;
  const cJSON *records = vg_json_pointer_get(&m->records, root);
  if (!cJSON_IsArray(records)) {
    vg__mapping_set_error(error, esize,
                          "records pointer %s does not lead to an array",
                          m->records_text[0] ? m->records_text : "\"\"");
    return -EINVAL;
  }
  size_t idx = 0;
  const cJSON *rec;
  cJSON_ArrayForEach(rec, records) json_record(r, rec, idx++);
  r->village = NULL; /* it pointed into the document */
  return 0;
}

int vg__mapping_json_run(struct vg__mapping_run *r, const char *data,
                         size_t len, char *error, size_t esize) {
  /* The document is owned here and freed before returning. */
  struct vg_json_doc *doc = NULL;
  int rc = vg_json_doc_parse(data, len, &doc, error, esize);
  if (rc)
    return rc;
  rc = vg__mapping_json_run_tree(r, vg_json_doc_root(doc), error, esize);
  vg_json_doc_free(doc);
  return rc;
}
