/* collectors/http_pages.h - which pages one poll of the HTTP collector
 * fetches.
 *
 * Internal to the HTTP collector (collectors/http.c), hence the vg__
 * names: the "pagination" keys, compiled once by configure; what a page's
 * JSON says of the page after it, read on worker threads (so these read
 * only their arguments and the compiled pagination, never change it); and
 * the URLs of pages: a query parameter set, a next link resolved, a URL as
 * messages may show it.
 */
#ifndef VG_HTTP_PAGES_H
#define VG_HTTP_PAGES_H

#include "daemon/config/cfg_doc.h"
#include "daemon/formats/json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vg__http_pages_type {
  VG__HTTP_PAGES_NONE,
  VG__HTTP_PAGES_PAGE,   /* a page number in a query parameter */
  VG__HTTP_PAGES_NEXT,   /* each page links to the next */
  VG__HTTP_PAGES_CURSOR, /* each page gives the next one's cursor */
};

/* Compiled once; read by the parse jobs on worker threads. */
struct vg__http_pages {
  enum vg__http_pages_type type;
  char *param; /* owned */
  int64_t start;
  struct vg_json_pointer pages, has_more, next, cursor, records;
  bool use_pages, use_has_more;
};

/* Compiles the collector object `cfg`'s "pagination" object `obj` (NULL:
 * no pagination) into pg; `format` is the collector's.  On error pg may
 * hold some of it: release it either way. */
int vg__http_pages_configure(struct vg__http_pages *pg, const cJSON *obj,
                             const cJSON *cfg, const char *format,
                             struct vg_cfg_err *err);
void vg__http_pages_release(struct vg__http_pages *pg);

/* What the JSON document `root` of page `page_no` says of the next page:
 * *more, and for next links and cursors *next (the caller's to free;
 * NULL at the end).  0, or -EINVAL with a message in `error`. */
int vg__http_pages_read(const struct vg__http_pages *pg, const cJSON *root,
                        int64_t page_no, bool *more, char **next, char *error,
                        size_t error_size);

/* The URL as messages show it: no user info, query or fragment, which may
 * hold secrets.  NULL when curl cannot read the URL; the caller owns it. */
char *vg__http_pages_display_url(const char *url);
/* url with its query parameter `param` set to `value` (percent-encoded),
 * replacing any the URL had; NULL on error.  The caller owns the result. */
char *vg__http_pages_with_param(const char *url, const char *param,
                                const char *value);
/* The next link `next` of the page at `page`, resolved against it; NULL
 * and *why when it cannot be followed (not a URL, or another scheme, host
 * or port than `base`, where the credentials would go with it). */
char *vg__http_pages_resolve_next(const char *base, const char *page,
                                  const char *next, const char **why);

#endif
