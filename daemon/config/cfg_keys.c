/* daemon/config/cfg_keys.c - configuration keys driven by tables.
 *
 * Owns: turning a cJSON object into the fields of a module's struct by its
 * table of keys (types, defaults, required keys), the unknown-key check
 * with its "did you mean" hint, the duration and size parsers, and the
 * Markdown reference.  It must not know any particular module's keys, and
 * it must never ignore a key silently: a typo in a key is an error.
 */
#include "daemon/config/cfg_keys.h"
#include "daemon/util/buf.h"
#include "daemon/util/distance.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- durations and sizes ---- */

static int parse_duration(const char *s, int64_t *out) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  int64_t total = 0;
  if (!*s)
    return -EINVAL;
  if (!strcmp(s, "0")) {
    *out = 0;
    return 0;
  }
  while (*s) {
    if (*s < '0' || *s > '9')
      return -EINVAL;
    int64_t n = 0;
    for (; *s >= '0' && *s <= '9'; s++)
      if (__builtin_mul_overflow(n, 10, &n) ||
          __builtin_add_overflow(n, *s - '0', &n))
        return -ERANGE;
    size_t k = 0, nunits = sizeof units / sizeof units[0];
    /* "ms" before "m": the first unit that matches is the longest one. */
    while (k < nunits && strncmp(s, units[k].unit, strlen(units[k].unit)))
      k++;
    if (k == nunits)
      return -EINVAL;
    s += strlen(units[k].unit);
    if (__builtin_mul_overflow(n, units[k].ms, &n) ||
        __builtin_add_overflow(total, n, &total))
      return -ERANGE;
  }
  *out = total;
  return 0;
}

int vg_cfg_parse_duration_ms(const char *s, int64_t *out) {
  return parse_duration(s, out) ? -EINVAL : 0;
}

static int parse_size(const char *s, uint64_t *out) {
  static const struct {
    const char *unit;
    uint64_t mult;
  } units[] = {{"", 1},
               {"B", 1},
               {"KB", 1000},
               {"MB", 1000000},
               {"GB", 1000000000},
               {"KiB", 1024},
               {"MiB", 1024 * 1024},
               {"GiB", 1024 * 1024 * 1024}};
  uint64_t n = 0;
  if (*s < '0' || *s > '9')
    return -EINVAL;
  for (; *s >= '0' && *s <= '9'; s++)
    if (__builtin_mul_overflow(n, 10, &n) ||
        __builtin_add_overflow(n, (uint64_t)(*s - '0'), &n))
      return -ERANGE;
  for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
    if (!strcmp(s, units[k].unit)) {
      if (__builtin_mul_overflow(n, units[k].mult, &n))
        return -ERANGE;
      *out = n;
      return 0;
    }
  return -EINVAL;
}

int vg_cfg_parse_size(const char *s, uint64_t *out) {
  return parse_size(s, out) ? -EINVAL : 0;
}

/* ---- applying a table ---- */

/* The value as the person wrote it, for messages: 12, "abc", an object. */
static void show(const cJSON *v, char *out, size_t size) {
  if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
    snprintf(out, size, "%s", cJSON_IsObject(v) ? "an object" : "an array");
    return;
  }
  char *text = cJSON_PrintUnformatted(v); /* freed below */
  size_t len = strlen(text);
  if (len > 60)
    snprintf(out, size, "%.56s...", text);
  else
    snprintf(out, size, "%s", text);
  free(text);
}

static const char *const expected[] = {
    [VG_CFG_STRING] = "a string",
    [VG_CFG_PATH] = "a path",
    [VG_CFG_BOOL] = "true or false",
    [VG_CFG_INT] = "an integer",
    [VG_CFG_DOUBLE] = "a number",
    [VG_CFG_DURATION] = "a duration such as \"30s\" or \"5m\"",
    [VG_CFG_SIZE] = "a size such as 1048576, \"512KiB\" or \"64MB\"",
    [VG_CFG_JSON] = "a value",
};

static bool is_negative(const cJSON *v) {
  return (cJSON_IsNumber(v) && v->valuedouble < 0) ||
         (cJSON_IsString(v) && v->valuestring[0] == '-');
}

/* Sets the field of key k from v; `dir_of` is the node whose file's
 * directory relative paths are taken from. */
static int set_field(const struct vg_cfg_key *k, void *field, const cJSON *v,
                     const cJSON *dir_of, struct vg_cfg_err *err) {
  const struct vg_cfg_doc *doc = err->doc;
  const char *str = cJSON_IsString(v) ? v->valuestring : NULL;
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  char got[80];
  int rc = 0;
  switch (k->type) {
  case VG_CFG_STRING:
    if (!str)
      break;
    *(char **)field = vg_strdup(str); /* freed by vg_cfg_release */
    return 0;
  case VG_CFG_PATH:
    if (!str || !*str)
      break;
    *(char **)field =
        str[0] == '/' ? vg_strdup(str)
                      : vg_asprintf("%s/%s", vg_cfg_doc_node_dir(doc, dir_of),
                                    str); /* freed by vg_cfg_release */
    return 0;
  case VG_CFG_BOOL:
    if (!cJSON_IsBool(v))
      break;
    *(bool *)field = cJSON_IsTrue(v);
    return 0;
  case VG_CFG_INT:
    /* 2^63 is exact as a double; everything below it fits. */
    if (d != trunc(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
      break;
    *(int64_t *)field = (int64_t)d;
    return 0;
  case VG_CFG_DOUBLE:
    if (isnan(d))
      break;
    *(double *)field = d;
    return 0;
  case VG_CFG_DURATION:
    if (d == 0) {
      *(int64_t *)field = 0;
      return 0;
    }
    if (str && !(rc = parse_duration(str, (int64_t *)field)))
      return 0;
    break;
  case VG_CFG_SIZE:
    if (d >= 0 && d == trunc(d) && d < 18446744073709551616.0) {
      *(uint64_t *)field = (uint64_t)d;
      return 0;
    }
    if (str && !(rc = parse_size(str, (uint64_t *)field)))
      return 0;
    if (d >= 18446744073709551616.0)
      rc = -ERANGE;
    break;
  case VG_CFG_JSON:
    *(const cJSON **)field = v;
    return 0;
  }
  show(v, got, sizeof got);
  if (rc == -ERANGE)
    return vg_cfg_error(err, v, "\"%s\": %s is too large", k->name, got);
  if ((k->type == VG_CFG_DURATION || k->type == VG_CFG_SIZE) && is_negative(v))
    return vg_cfg_error(err, v, "\"%s\": a %s cannot be negative, got %s",
                        k->name, k->type == VG_CFG_SIZE ? "size" : "duration",
                        got);
  return vg_cfg_error(err, v, "\"%s\": expected %s, got %s", k->name,
                      expected[k->type], got);
}

/* A default is written as a person would write the value: "30s", "256",
 * "true".  It goes through the same checks as a value from a file. */
static int set_default(const struct vg_cfg_key *k, void *field,
                       const cJSON *obj, struct vg_cfg_err *err) {
  if (!k->def || k->type == VG_CFG_JSON)
    return 0;
  cJSON *v = NULL; /* freed below */
  if (k->type != VG_CFG_STRING && k->type != VG_CFG_PATH)
    v = cJSON_ParseWithOpts(k->def, NULL, 1);
  if (!v || cJSON_IsString(v) || cJSON_IsObject(v) || cJSON_IsArray(v)) {
    cJSON_Delete(v);
    v = cJSON_CreateString(k->def);
  }
  int rc = set_field(k, field, v, obj, err);
  cJSON_Delete(v);
  return rc;
}

int vg_cfg_apply(const struct vg_cfg_key *keys, void *base, const cJSON *obj,
                 struct vg_cfg_err *err) {
  if (obj && !cJSON_IsObject(obj)) {
    char got[80];
    show(obj, got, sizeof got);
    return vg_cfg_error(err, obj, "expected an object, got %s", got);
  }
  for (const struct vg_cfg_key *k = keys; k->name; k++) {
    void *field = (char *)base + k->offset;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->name);
    int rc;
    if (v)
      rc = set_field(k, field, v, v, err);
    else if (k->required)
      rc = vg_cfg_error(err, obj, "missing required key \"%s\"", k->name);
    else
      rc = set_default(k, field, obj, err);
    if (rc) {
      vg_cfg_release(keys, base);
      return rc;
    }
  }
  return 0;
}

void vg_cfg_release(const struct vg_cfg_key *keys, void *base) {
  for (const struct vg_cfg_key *k = keys; k->name; k++)
    if (k->type == VG_CFG_STRING || k->type == VG_CFG_PATH) {
      char **field = (char **)((char *)base + k->offset);
      free(*field);
      *field = NULL;
    }
}

/* ---- unknown keys ---- */

size_t vg_cfg_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > VG_DISTANCE_MAX || lb > VG_DISTANCE_MAX)
    return 99;
  uint32_t ua[VG_DISTANCE_MAX], ub[VG_DISTANCE_MAX];
  for (size_t i = 0; i < la; i++)
    ua[i] = (unsigned char)a[i];
  for (size_t i = 0; i < lb; i++)
    ub[i] = (unsigned char)b[i];
  return vg_distance(ua, la, ub, lb);
}

int vg_cfg_check_unknown(const struct vg_cfg_key *const *tables,
                         const cJSON *obj, struct vg_cfg_err *err) {
  if (!cJSON_IsObject(obj))
    return 0;
  for (const cJSON *m = obj->child; m; m = m->next) {
    const char *best = NULL;
    size_t best_d = 3; /* suggest at distance 2 or less */
    bool known = false;
    for (size_t t = 0; tables[t] && !known; t++)
      for (const struct vg_cfg_key *k = tables[t]; k->name && !known; k++) {
        size_t d = vg_cfg_distance(m->string, k->name);
        known = d == 0;
        if (d < best_d) {
          best_d = d;
          best = k->name;
        }
      }
    if (known)
      continue;
    if (best)
      return vg_cfg_error_key(
          err, m, "unknown key \"%s\" (did you mean \"%s\"?)", m->string, best);
    return vg_cfg_error_key(err, m, "unknown key \"%s\"", m->string);
  }
  return 0;
}

/* ---- the reference ---- */

static void cell(struct vg_buf *out, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      vg_buf_putc(out, '\\');
    vg_buf_putc(out, *s == '\n' ? ' ' : *s);
  }
}

void vg_cfg_describe(const struct vg_cfg_key *keys, struct vg_buf *out) {
  static const char *const type_names[] = {
      [VG_CFG_STRING] = "string", [VG_CFG_PATH] = "path",
      [VG_CFG_BOOL] = "bool",     [VG_CFG_INT] = "integer",
      [VG_CFG_DOUBLE] = "number", [VG_CFG_DURATION] = "duration",
      [VG_CFG_SIZE] = "size",     [VG_CFG_JSON] = "JSON",
  };
  /* A full buffer truncates the table; the caller sizes it for docs. */
  vg_buf_puts(out, "| key | type | default | description |\n"
                   "|---|---|---|---|\n");
  for (const struct vg_cfg_key *k = keys; k->name; k++) {
    vg_buf_printf(out, "| `%s` | %s | ", k->name, type_names[k->type]);
    if (k->required)
      vg_buf_puts(out, "required");
    else if (k->def) {
      vg_buf_putc(out, '`');
      cell(out, k->def);
      vg_buf_putc(out, '`');
    }
    vg_buf_puts(out, " | ");
    cell(out, k->desc ? k->desc : "");
    vg_buf_puts(out, " |\n");
  }
}
