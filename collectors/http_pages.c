/* collectors/http_pages.c - the pages of one poll of the HTTP collector.
 *
 * The "pagination" keys and their checks, what a page's JSON says of the
 * next page, and the URLs of pages (see http_pages.h).  Owns nothing past
 * the compiled pagination; a function called on a worker thread reads its
 * arguments only.  Must never: follow a next link to another scheme, host
 * or port than the configured URL's, where the credentials would go with
 * it.
 */
#include "collectors/http_pages.h"
#include "daemon/config/cfg_keys.h"
#include "daemon/util/buf.h"
#include "daemon/util/mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the keys -------------------------------------------------------- */

struct pagination_config {
  char *type;
  char *param;
  int64_t start;
  char *pages, *has_more, *next, *cursor;
};

static const struct vg_cfg_key pagination_keys[] = {
    {"type", VG_CFG_STRING, NULL, offsetof(struct pagination_config, type),
     "\"page\", \"next\" or \"cursor\".", true},
    {"param", VG_CFG_STRING, NULL, offsetof(struct pagination_config, param),
     "The query parameter of the page number or cursor.", false},
    {"start", VG_CFG_INT, "1", offsetof(struct pagination_config, start),
     "The number of the first page.", false},
    {"pages", VG_CFG_STRING, NULL, offsetof(struct pagination_config, pages),
     "Pointer to the page count.", false},
    {"has_more", VG_CFG_STRING, NULL,
     offsetof(struct pagination_config, has_more),
     "Pointer to a boolean: more pages follow.", false},
    {"next", VG_CFG_STRING, NULL, offsetof(struct pagination_config, next),
     "Pointer to the next page's URL.", false},
    {"cursor", VG_CFG_STRING, NULL, offsetof(struct pagination_config, cursor),
     "Pointer to the next page's cursor.", false},
    VG_CFG_END,
};

static int pointer_key(struct vg_json_pointer *p, const cJSON *obj,
                       const char *key, const char *text,
                       struct vg_cfg_err *err) {
  const char *why = vg_json_pointer_parse(p, text);
  if (why)
    return vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, key),
                        "\"pagination\": \"%s\": \"%s\" is not a JSON "
                        "Pointer: %s",
                        key, text, why);
  return 0;
}

/* Keys of `obj` that its pagination type does not read. */
static int only_keys(const cJSON *obj, const char *type,
                     const char *const *allowed, struct vg_cfg_err *err) {
  for (const cJSON *m = obj->child; m; m = m->next) {
    bool ok = strcmp(m->string, "type") == 0;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(m->string, allowed[i]) == 0;
    if (!ok)
      return vg_cfg_error_key(err, m,
                              "\"pagination\": \"%s\" does not apply to type "
                              "\"%s\"",
                              m->string, type);
  }
  return 0;
}

int vg__http_pages_configure(struct vg__http_pages *pg, const cJSON *obj,
                             const cJSON *cfg, const char *format,
                             struct vg_cfg_err *err) {
  if (!obj)
    return 0;
  if (!cJSON_IsObject(obj))
    return vg_cfg_error(err, obj,
                        "\"pagination\": expected an object such as "
                        "{\"type\": \"page\", \"pages\": \"/pages\"}");
  if (strcmp(format, "json") != 0)
    return vg_cfg_error_key(err, obj,
                            "\"pagination\" reads the answer as JSON: it "
                            "needs \"format\": \"json\"");
  const struct vg_cfg_key *const tables[] = {pagination_keys, NULL};
  int rc = vg_cfg_check_unknown(tables, obj, err);
  struct pagination_config pc = {0};
  if (!rc)
    rc = vg_cfg_apply(pagination_keys, &pc, obj, err);
  if (rc)
    return rc;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
  const cJSON *param = cJSON_GetObjectItemCaseSensitive(obj, "param");
  if (strcmp(pc.type, "page") == 0) {
    static const char *const allowed[] = {"param", "start", "pages", "has_more",
                                          NULL};
    pg->type = VG__HTTP_PAGES_PAGE;
    rc = only_keys(obj, pc.type, allowed, err);
    if (!rc && pc.pages && pc.has_more)
      rc = vg_cfg_error_key(
          err, cJSON_GetObjectItemCaseSensitive(obj, "has_more"),
          "\"pagination\": give \"pages\" or \"has_more\", not both");
    if (!rc && pc.start < 0)
      rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "start"),
                        "\"pagination\": \"start\" must be 0 or more");
  } else if (strcmp(pc.type, "next") == 0) {
    static const char *const allowed[] = {"next", NULL};
    pg->type = VG__HTTP_PAGES_NEXT;
    rc = only_keys(obj, pc.type, allowed, err);
    if (!rc && !pc.next)
      rc = vg_cfg_error(err, obj,
                        "\"pagination\": type \"next\" needs \"next\", the "
                        "pointer to the next page's URL");
  } else if (strcmp(pc.type, "cursor") == 0) {
    static const char *const allowed[] = {"param", "cursor", "has_more", NULL};
    pg->type = VG__HTTP_PAGES_CURSOR;
    rc = only_keys(obj, pc.type, allowed, err);
    if (!rc && !pc.cursor)
      rc = vg_cfg_error(err, obj,
                        "\"pagination\": type \"cursor\" needs \"cursor\", "
                        "the pointer to the next page's cursor");
  } else {
    rc = vg_cfg_error(err, type,
                      "\"pagination\": \"type\" must be \"page\", \"next\" or "
                      "\"cursor\", got \"%s\"",
                      pc.type);
  }
  if (!rc && pg->type != VG__HTTP_PAGES_NEXT) {
    const char *p = pc.param                          ? pc.param
                    : pg->type == VG__HTTP_PAGES_PAGE ? "page"
                                                      : "cursor";
    if (!*p || strpbrk(p, "&=#? "))
      rc = vg_cfg_error(err, param,
                        "\"pagination\": \"param\" must be a query parameter "
                        "name");
    pg->param = vg_strdup(p);
  }
  pg->start = pc.start;
  if (!rc && pc.pages) {
    pg->use_pages = true;
    rc = pointer_key(&pg->pages, obj, "pages", pc.pages, err);
  }
  if (!rc && pc.has_more) {
    pg->use_has_more = true;
    rc = pointer_key(&pg->has_more, obj, "has_more", pc.has_more, err);
  }
  if (!rc && pc.next)
    rc = pointer_key(&pg->next, obj, "next", pc.next, err);
  if (!rc && pc.cursor)
    rc = pointer_key(&pg->cursor, obj, "cursor", pc.cursor, err);
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(cfg, "records");
  if (!rc && cJSON_IsString(records))
    rc = pointer_key(&pg->records, cfg, "records", records->valuestring, err);
  vg_cfg_release(pagination_keys, &pc);
  return rc;
}

void vg__http_pages_release(struct vg__http_pages *pg) {
  free(pg->param);
  vg_json_pointer_free(&pg->pages);
  vg_json_pointer_free(&pg->has_more);
  vg_json_pointer_free(&pg->next);
  vg_json_pointer_free(&pg->cursor);
  vg_json_pointer_free(&pg->records);
}

/* ---- what a page says of the next ----------------------------------- */

/* A number or a string holding one ("numbers held in strings"). */
static bool read_number(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return true;
  }
  if (!cJSON_IsString(v))
    return false;
  char *end;
  errno = 0;
  *out = strtod(v->valuestring, &end);
  return end != v->valuestring && !*end && !errno;
}

/* true, false, 1, 0, "true", "false"; -1 for anything else. */
static int read_bool(const cJSON *v) {
  if (cJSON_IsBool(v))
    return cJSON_IsTrue(v);
  if (cJSON_IsNumber(v))
    return v->valuedouble != 0;
  if (cJSON_IsString(v) && strcmp(v->valuestring, "true") == 0)
    return 1;
  if (cJSON_IsString(v) && strcmp(v->valuestring, "false") == 0)
    return 0;
  return -1;
}

static const char *describe(const cJSON *v) {
  if (!v)
    return "nothing there";
  if (cJSON_IsObject(v))
    return "an object";
  if (cJSON_IsArray(v))
    return "an array";
  if (cJSON_IsString(v))
    return "a string";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsNull(v))
    return "null";
  return "a number";
}

static int read_error(char *error, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int read_error(char *error, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, size, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

/* The text at a next-link or cursor pointer into *next; none at the end. */
static int read_link(const cJSON *v, const char *key, char **next, char *error,
                     size_t size) {
  if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) ||
      (cJSON_IsString(v) && !v->valuestring[0]))
    return 0;
  if (cJSON_IsString(v)) {
    *next = vg_strdup(v->valuestring);
    return 0;
  }
  if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
      fabs(v->valuedouble) < 1e15) {
    *next = vg_asprintf("%.0f", v->valuedouble);
    return 0;
  }
  return read_error(error, size, "pagination: \"%s\" is %s, not a string", key,
                    describe(v));
}

int vg__http_pages_read(const struct vg__http_pages *pg, const cJSON *root,
                        int64_t page_no, bool *more, char **next, char *error,
                        size_t size) {
  *more = false;
  if (pg->use_has_more) {
    const cJSON *v = vg_json_pointer_get(&pg->has_more, root);
    int m = read_bool(v);
    if (m < 0)
      return read_error(error, size,
                        "pagination: \"has_more\" is %s, not a boolean",
                        describe(v));
    if (!m)
      return 0;
    if (pg->type == VG__HTTP_PAGES_PAGE) {
      *more = true;
      return 0;
    }
  }
  int rc = 0;
  switch (pg->type) {
  case VG__HTTP_PAGES_NONE:
    return 0;
  case VG__HTTP_PAGES_PAGE: {
    if (pg->use_pages) {
      const cJSON *v = vg_json_pointer_get(&pg->pages, root);
      double total;
      if (!read_number(v, &total) || total < 0 || total != floor(total))
        return read_error(
            error, size, "pagination: the page count is %s, not a whole number",
            describe(v));
      *more = (double)(page_no - pg->start + 1) < total;
      return 0;
    }
    /* Neither count nor flag: on until a page without records. */
    const cJSON *records = vg_json_pointer_get(&pg->records, root);
    *more = cJSON_GetArraySize(records) > 0;
    return 0;
  }
  case VG__HTTP_PAGES_NEXT:
    rc = read_link(vg_json_pointer_get(&pg->next, root), "next", next, error,
                   size);
    break;
  case VG__HTTP_PAGES_CURSOR:
    rc = read_link(vg_json_pointer_get(&pg->cursor, root), "cursor", next,
                   error, size);
    break;
  }
  if (!rc)
    *more = *next != NULL;
  return rc;
}

/* ---- URLs ------------------------------------------------------------ */

static CURLU *url_parse(const char *url) {
  CURLU *u = curl_url();
  if (!u) {
    fputs("villagemetricsd: out of memory\n", stderr);
    abort();
  }
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    return NULL;
  }
  return u;
}

char *vg__http_pages_display_url(const char *url) {
  CURLU *u = url_parse(url);
  if (!u)
    return NULL;
  curl_url_set(u, CURLUPART_USER, NULL, 0);
  curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
  curl_url_set(u, CURLUPART_QUERY, NULL, 0);
  curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
  char *text = NULL, *out = NULL;
  if (curl_url_get(u, CURLUPART_URL, &text, 0) == CURLUE_OK) {
    out = vg_strdup(text);
    curl_free(text);
  }
  curl_url_cleanup(u);
  return out;
}

char *vg__http_pages_with_param(const char *url, const char *param,
                                const char *value) {
  CURLU *u = url_parse(url);
  if (!u)
    return NULL;
  char *query = NULL;
  struct vg_buf kept;
  vg_buf_init(&kept, SIZE_MAX / 2);
  size_t plen = strlen(param);
  if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
    for (char *s = query; *s;) {
      size_t n = strcspn(s, "&");
      if (n && !(n >= plen && strncmp(s, param, plen) == 0 &&
                 (n == plen || s[plen] == '='))) {
        if (kept.len)
          vg_buf_putc(&kept, '&');
        vg_buf_append(&kept, s, n);
      }
      s += n + (s[n] == '&');
    }
    curl_free(query);
  }
  curl_url_set(u, CURLUPART_QUERY, kept.len ? kept.data : NULL, 0);
  vg_buf_free(&kept);
  char *pair = vg_asprintf("%s=%s", param, value);
  CURLUcode rc = curl_url_set(u, CURLUPART_QUERY, pair,
                              CURLU_APPENDQUERY | CURLU_URLENCODE);
  free(pair);
  char *text = NULL, *out = NULL;
  if (rc == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &text, 0) == CURLUE_OK) {
    out = vg_strdup(text);
    curl_free(text);
  }
  curl_url_cleanup(u);
  return out;
}

static bool same_part(CURLU *a, CURLU *b, CURLUPart part) {
  char *x = NULL, *y = NULL;
  curl_url_get(a, part, &x, CURLU_DEFAULT_PORT);
  curl_url_get(b, part, &y, CURLU_DEFAULT_PORT);
  bool same = x && y && strcasecmp(x, y) == 0;
  curl_free(x);
  curl_free(y);
  return same;
}

char *vg__http_pages_resolve_next(const char *base, const char *page,
                                  const char *next, const char **why) {
  CURLU *u = url_parse(page);
  CURLU *origin = url_parse(base);
  char *out = NULL, *text = NULL;
  *why = "is not a URL";
  if (u && origin && curl_url_set(u, CURLUPART_URL, next, 0) == CURLUE_OK) {
    *why = "leads to another scheme, host or port (the credentials would go "
           "with it)";
    if (same_part(u, origin, CURLUPART_SCHEME) &&
        same_part(u, origin, CURLUPART_HOST) &&
        same_part(u, origin, CURLUPART_PORT) &&
        curl_url_get(u, CURLUPART_URL, &text, 0) == CURLUE_OK) {
      out = vg_strdup(text);
      curl_free(text);
      *why = NULL;
    }
  }
  curl_url_cleanup(u);
  curl_url_cleanup(origin);
  return out;
}
