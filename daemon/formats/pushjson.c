/* daemon/formats/pushjson.c - decoding the JSON push schema into samples.
 *
 * Owns the parsed tree for the call only, in an arena of its own (freed
 * whole, within the caller's limits: json.h).  Must not check values against
 * the catalog's ranges (the sink does, for every source alike); it only
 * checks that a record's indicator names are in the catalog.
 */
#include "daemon/formats/pushjson.h"
#include "daemon/model/catalog.h"
#include "daemon/formats/json.h"
#include "daemon/formats/mapping.h"
#include "daemon/formats/value.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_LABELS 64

struct walk {
  const char *input;
  const struct vg_emitter *out;
  char pointer[512];
};

static void reject(struct walk *w, enum vg_reject_reason why,
                   const char *detail) {
  struct vg_location at = {.input = w->input, .pointer = w->pointer};
  w->out->reject(w->out->arg, why, &at, detail);
}

/* Sets w->pointer to `base` plus `/member` (escaped as RFC 6901 says). */
static void point_at(struct walk *w, const char *base, const char *member) {
  size_t n = (size_t)snprintf(w->pointer, sizeof w->pointer, "%s", base);
  if (!member)
    return;
  if (n + 1 < sizeof w->pointer)
    w->pointer[n++] = '/';
  for (const char *c = member; *c && n + 2 < sizeof w->pointer; c++) {
    if (*c == '~' || *c == '/') {
      w->pointer[n++] = '~';
      w->pointer[n++] = *c == '~' ? '0' : '1';
    } else {
      w->pointer[n++] = *c;
    }
  }
  w->pointer[n < sizeof w->pointer ? n : sizeof w->pointer - 1] = '\0';
}

/* 0 and *ms (0 when absent), or -1 after a rejection. */
static int read_timestamp(struct walk *w, const char *base, const cJSON *obj,
                          int64_t *ms) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "timestamp");
  *ms = 0;
  if (!t || cJSON_IsNull(t))
    return 0;
  point_at(w, base, "timestamp");
  if (cJSON_IsNumber(t) && t->valuedouble == floor(t->valuedouble) &&
      t->valuedouble > 0 && t->valuedouble < 1e16) {
    *ms = (int64_t)t->valuedouble;
    return 0;
  }
  if (cJSON_IsString(t) &&
      vg_timestamp_parse(t->valuestring, strlen(t->valuestring), ms) && *ms > 0)
    return 0;
  reject(w, VG_REJECT_BAD_TIMESTAMP,
         "expected Unix milliseconds or a date such as "
         "\"2020-01-01T00:00:00Z\"");
  return -1;
}

/* Fills `labels`; returns how many, or -1 after a rejection. */
static int read_labels(struct walk *w, const char *base, const cJSON *obj,
                       struct vg_label *labels) {
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "labels");
  if (!l || cJSON_IsNull(l))
    return 0;
  if (!cJSON_IsObject(l)) {
    point_at(w, base, "labels");
    reject(w, VG_REJECT_BAD_LABEL, "\"labels\" must be an object of strings");
    return -1;
  }
  int n = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, l) {
    if (n == MAX_LABELS) {
      point_at(w, base, "labels");
      reject(w, VG_REJECT_BAD_LABEL, "more than 64 labels");
      return -1;
    }
    if (!cJSON_IsString(item)) {
      char at[512];
      snprintf(at, sizeof at, "%s/labels", base);
      point_at(w, at, item->string);
      reject(w, VG_REJECT_BAD_LABEL, "a label value must be a string");
      return -1;
    }
    labels[n].name = item->string;
    labels[n].value = item->valuestring;
    n++;
  }
  return n;
}

/* 0 and *v; 1 for null (no value); -1 after a rejection.  w->pointer
 * already names the value. */
static int read_value(struct walk *w, const cJSON *v, double *out) {
  if (cJSON_IsNull(v))
    return 1;
  if (cJSON_IsNumber(v)) {
    /* JSON has no infinity: a number that overflowed a double on the
     * way in (1e400) is refused, as line protocol refuses 1e309, rather
     * than stored as +Inf. */
    if (!isfinite(v->valuedouble)) {
      reject(w, VG_REJECT_NOT_A_NUMBER,
             "the number is out of the range of a double");
      return -1;
    }
    *out = v->valuedouble;
    return 0;
  }
  if (cJSON_IsString(v)) {
    enum vg_value_result r =
        vg_value_parse(v->valuestring, strlen(v->valuestring), out);
    if (r == VG_VALUE_OK)
      return 0;
    if (r == VG_VALUE_EMPTY)
      return 1;
  }
  char detail[160];
  if (cJSON_IsString(v))
    snprintf(detail, sizeof detail, "\"%.100s\" is not a number",
             v->valuestring);
  else
    snprintf(detail, sizeof detail, "a %s is not a number",
             cJSON_IsBool(v)     ? "boolean"
             : cJSON_IsArray(v)  ? "list"
             : cJSON_IsObject(v) ? "object"
                                 : "value of this kind");
  reject(w, VG_REJECT_NOT_A_NUMBER, detail);
  return -1;
}

static void one_sample(struct walk *w, const char *base, const cJSON *s) {
  point_at(w, base, NULL);
  if (!cJSON_IsObject(s)) {
    reject(w, VG_REJECT_PARSE_ERROR, "a sample must be an object");
    return;
  }
  const cJSON *metric = cJSON_GetObjectItemCaseSensitive(s, "metric");
  if (!cJSON_IsString(metric)) {
    point_at(w, base, "metric");
    reject(w, VG_REJECT_BAD_NAME, "\"metric\" must be a string");
    return;
  }
  struct vg_label labels[MAX_LABELS];
  int nlabels = read_labels(w, base, s, labels);
  int64_t ts;
  if (nlabels < 0 || read_timestamp(w, base, s, &ts) < 0)
    return;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "value");
  point_at(w, base, "value");
  if (!v) {
    reject(w, VG_REJECT_NOT_A_NUMBER, "\"value\" is missing");
    return;
  }
  double x;
  if (read_value(w, v, &x))
    return;
  struct vg_location at = {.input = w->input, .pointer = w->pointer};
  w->out->sample(w->out->arg, metric->valuestring, labels, (size_t)nlabels, x,
                 ts, &at);
}

static void one_record(struct walk *w, const char *base, const cJSON *r) {
  point_at(w, base, NULL);
  if (!cJSON_IsObject(r)) {
    reject(w, VG_REJECT_PARSE_ERROR, "a record must be an object");
    return;
  }
  struct vg_label labels[MAX_LABELS];
  int nlabels = read_labels(w, base, r, labels);
  int64_t ts;
  if (nlabels < 0 || read_timestamp(w, base, r, &ts) < 0)
    return;
  const cJSON *ind = cJSON_GetObjectItemCaseSensitive(r, "indicators");
  if (!cJSON_IsObject(ind)) {
    point_at(w, base, "indicators");
    reject(w, VG_REJECT_PARSE_ERROR,
           "\"indicators\" must be an object of catalog names and values");
    return;
  }
  char at_ind[512];
  snprintf(at_ind, sizeof at_ind, "%s/indicators", base);
  const cJSON *v;
  cJSON_ArrayForEach(v, ind) {
    point_at(w, at_ind, v->string);
    if (!vg_catalog_find(v->string)) {
      char detail[200];
      snprintf(detail, sizeof detail,
               "\"%.120s\" is not an indicator of the catalog (see "
               "docs/metrics.md)",
               v->string);
      reject(w, VG_REJECT_BAD_NAME, detail);
      continue;
    }
    double x;
    if (read_value(w, v, &x))
      continue;
    struct vg_location at = {.input = w->input, .pointer = w->pointer};
    w->out->sample(w->out->arg, v->string, labels, (size_t)nlabels, x, ts, &at);
  }
}

static bool list_or_absent(const cJSON *x) {
  return !x || cJSON_IsNull(x) || cJSON_IsArray(x);
}

/* Runs `each` over the array `list` (a member of the body named `name`, or
 * the body itself when `name` is ""); NULL or null is an empty list. */
static void each_item(struct walk *w, const cJSON *list, const char *name,
                      void (*each)(struct walk *, const char *,
                                   const cJSON *)) {
  size_t i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, list) {
    char base[64];
    snprintf(base, sizeof base, "%s%s/%zu", name[0] ? "/" : "", name, i++);
    each(w, base, item);
  }
}

/* cJSON's strings end at a NUL, so "A\u0000x" would become the label
 * value "A" and merge with it.  The escape is found in the text (its
 * backslash is not itself escaped); 0, or -EINVAL with the place. */
static int refuse_nul(const char *data, size_t len, char *error,
                      size_t error_size) {
  const char *p = data, *end = data + len;
  while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
    if (end - p > 5 && memcmp(p + 1, "u0000", 5) == 0) {
      unsigned line = 1;
      const char *bol = data;
      for (const char *q = data; q < p; q++)
        if (*q == '\n') {
          line++;
          bol = q + 1;
        }
      snprintf(error, error_size,
               "line %u, byte %zu: a string holds \\u0000 (NUL), which no "
               "name or label value may hold",
               line, (size_t)(p - bol) + 1);
      return -EINVAL;
    }
    p += 2; /* past whatever it escapes, a backslash included */
    if (p >= end)
      break;
  }
  return 0;
}

int vg_pushjson_run_limited(const char *input, const char *data, size_t len,
                            const struct vg_json_limits *lim,
                            const struct vg_emitter *out, char *error,
                            size_t error_size) {
  struct vg_json_doc *doc = NULL;
  int rc = refuse_nul(data, len, error, error_size);
  if (!rc)
    rc = vg_json_doc_parse_limited(data, len, lim, &doc, error, error_size);
  if (rc)
    return rc;
  const cJSON *root = vg_json_doc_root(doc);
  struct walk w = {.input = input, .out = out};
  const cJSON *samples = cJSON_GetObjectItemCaseSensitive(root, "samples");
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(root, "records");
  if (cJSON_IsArray(root)) {
    each_item(&w, root, "", one_sample);
  } else if (!cJSON_IsObject(root) || (!samples && !records)) {
    snprintf(error, error_size,
             "expected an object with \"samples\" or \"records\", or a list "
             "of samples");
    rc = -EINVAL;
  } else if (!list_or_absent(samples) || !list_or_absent(records)) {
    snprintf(error, error_size, "\"%s\" must be a list",
             list_or_absent(samples) ? "records" : "samples");
    rc = -EINVAL;
  } else {
    each_item(&w, samples, "samples", one_sample);
    each_item(&w, records, "records", one_record);
  }
  vg_json_doc_free(doc);
  return rc;
}

int vg_pushjson_run(const char *input, const char *data, size_t len,
                    const struct vg_emitter *out, char *error,
                    size_t error_size) {
  const struct vg_json_limits none = {.max_bytes = SIZE_MAX};
  return vg_pushjson_run_limited(input, data, len, &none, out, error,
                                 error_size);
}
