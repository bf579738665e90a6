/* daemon/net/http_client.c - POSTs of push exporters on the daemon's curl
 * multi.
 *
 * Owns: one client per configured sink: a curl easy handle reused for every
 * request (so the connection is kept alive between batches), its header list, a
 * copy of the body in flight (gzipped when configured) and the first bytes
 * of the answer.  Options that never change are set once in
 * vg_http_client_new; a request only sets the URL and the body.
 *
 * Must never: decide what an answer means (the exporter does), block the
 * loop, or call `done` after vg_http_client_cancel/free or from inside
 * vg_http_client_post.
 */
#include "daemon/net/http_client.h"
#include "daemon/util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_ANSWER 4096

const struct vg_cfg_key vg_http_client_keys[] = {
    {"gzip", VG_CFG_BOOL, "false", offsetof(struct vg_http_client_config, gzip),
     "Compress request bodies with gzip.", false},
    VG_CFG_END,
};

int vg_http_client_configure(struct vg_http_client_config *c, const cJSON *cfg,
                             const char *const *reserved,
                             struct vg_cfg_err *err) {
  int rc = vg_http_client_conf_apply(&c->conn, cfg, reserved, err);
  if (rc)
    return rc;
  rc = vg_cfg_apply(vg_http_client_keys, c, cfg, err);
  if (rc)
    vg_http_client_conf_release(&c->conn);
  return rc;
}

void vg_http_client_release(struct vg_http_client_config *c) {
  vg_http_client_conf_release(&c->conn);
}

/* ---- the client ---- */

struct vg_http_client {
  struct vg_curl *curl;
  const struct vg_http_client_config *c;
  CURL *easy;                 /* owned; reused for every request */
  struct curl_slist *headers; /* owned; referenced by easy */
  z_stream z;                 /* initialised when c->gzip */
  char *body;                 /* owned: the copy in flight, kept between */
  size_t body_cap;            /* requests so that no request allocates */
  bool busy;
  vg_http_client_done done;
  void *arg;
  char answer[MAX_ANSWER + 1];
  size_t answer_len;
  int64_t retry_after_ms;
  char error[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct vg_http_client *h = arg;
  size_t len = size * n, room = MAX_ANSWER - h->answer_len;
  size_t take = len < room ? len : room;
  memcpy(h->answer + h->answer_len, p, take);
  h->answer_len += take;
  h->answer[h->answer_len] = '\0';
  /* The rest is read and dropped: the connection stays reusable. */
  return len;
}

/* Retry-After is delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static int64_t parse_retry_after(const char *v, size_t len) {
  char text[128];
  while (len && (*v == ' ' || *v == '\t'))
    v++, len--;
  while (len && isspace((unsigned char)v[len - 1]))
    len--;
  if (!len || len >= sizeof text)
    return 0;
  memcpy(text, v, len);
  text[len] = '\0';
  if (strspn(text, "0123456789") == len) {
    /* More than a day is not a delay anyone means; it also bounds the
     * multiplication. */
    if (len > 6)
      return 86400 * 1000LL;
    int64_t s = strtoll(text, NULL, 10);
    return (s > 86400 ? 86400 : s) * 1000;
  }
  time_t when = curl_getdate(text, NULL);
  if (when == -1)
    return 0;
  double d = difftime(when, time(NULL));
  if (d <= 0)
    return 0;
  return (d > 86400 ? 86400 : (int64_t)d) * 1000;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  struct vg_http_client *h = arg;
  size_t len = size * n;
  static const char name[] = "Retry-After:";
  /* A new status line starts a new answer (after a 1xx). */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    h->retry_after_ms = 0;
  else if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0)
    h->retry_after_ms =
        parse_retry_after(p + sizeof name - 1, len - (sizeof name - 1));
  return len;
}

struct vg_http_client *vg_http_client_new(struct vg_curl *curl,
                                          const struct vg_http_client_config *c,
                                          const char *const *fixed) {
  /* Owned by the caller; freed by vg_http_client_free. */
  struct vg_http_client *h = vg_calloc(1, sizeof *h);
  h->curl = curl;
  h->c = c;
  h->easy = curl_easy_init();
  if (!h->easy) {
    fputs("villagemetricsd: curl_easy_init failed\n", stderr);
    abort();
  }
  for (size_t i = 0; fixed && fixed[i]; i++)
    h->headers = curl_slist_append(h->headers, fixed[i]);
  vg_http_client_conf_setopt(&c->conn, h->easy, &h->headers);
  if (c->gzip) {
    h->headers = curl_slist_append(h->headers, "Content-Encoding: gzip");
    /* 15 + 16: a gzip wrapper rather than zlib's. */
    /* Level 1: compression runs on the loop thread, and on village data it
     * gives most of level 6's gain for a fraction of the time. */
    if (deflateInit2(&h->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      fputs("villagemetricsd: deflateInit2 failed\n", stderr);
      abort();
    }
  }
  /* No "Expect: 100-continue" round trip before large bodies. */
  h->headers = curl_slist_append(h->headers, "Expect:");
  if (!h->headers) {
    fputs("villagemetricsd: out of memory\n", stderr);
    abort();
  }
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->error);
  return h;
}

void vg_http_client_cancel(struct vg_http_client *h) {
  if (!h->busy)
    return;
  vg_curl_cancel(h->curl, h->easy);
  h->busy = false;
}

void vg_http_client_free(struct vg_http_client *h) {
  if (!h)
    return;
  vg_http_client_cancel(h);
  curl_easy_cleanup(h->easy);
  curl_slist_free_all(h->headers);
  if (h->c->gzip)
    deflateEnd(&h->z);
  free(h->body);
  free(h);
}

static void on_done(void *arg, CURL *easy, CURLcode result) {
  struct vg_http_client *h = arg;
  struct vg_http_client_response r = {
      .result = result,
      .body = h->answer,
      .body_len = h->answer_len,
  };
  if (result == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    r.retry_after_ms = h->retry_after_ms;
  } else {
    r.error = h->error[0] ? h->error : curl_easy_strerror(result);
  }
  /* Free for the next request before done runs: done may post again, or
   * free the client (so h is not touched after it). */
  h->busy = false;
  vg_http_client_done done = h->done;
  void *done_arg = h->arg;
  done(done_arg, &r);
}

/* Copies (or gzips) body into h->body; returns the length to send. */
static int copy_body(struct vg_http_client *h, const char *body, size_t len,
                     size_t *out_len) {
  if (!h->c->gzip) {
    if (len > h->body_cap)
      h->body = vg_grow(h->body, &h->body_cap, len, 1);
    if (len)
      memcpy(h->body, body, len);
    *out_len = len;
    return 0;
  }
  if (len > UINT32_MAX)
    return -EMSGSIZE; /* zlib counts in uInt */
  if (deflateReset(&h->z) != Z_OK)
    return -EIO;
  uLong bound = deflateBound(&h->z, (uLong)len);
  if (bound > UINT32_MAX)
    return -EMSGSIZE;
  if (bound > h->body_cap)
    h->body = vg_grow(h->body, &h->body_cap, bound, 1);
  h->z.next_in = (Bytef *)body;
  h->z.avail_in = (uInt)len;
  h->z.next_out = (Bytef *)h->body;
  h->z.avail_out = (uInt)bound;
  /* deflateBound guarantees that one Z_FINISH call completes. */
  if (deflate(&h->z, Z_FINISH) != Z_STREAM_END)
    return -EIO;
  *out_len = h->z.total_out;
  return 0;
}

int vg_http_client_post(struct vg_http_client *h, const char *query,
                        const char *body, size_t len, vg_http_client_done done,
                        void *arg) {
  if (h->busy)
    return -EBUSY;
  size_t send_len;
  int rc = copy_body(h, body, len, &send_len);
  if (rc)
    return rc;
  if (query) {
    char *url = vg_asprintf("%s%s", h->c->conn.url, query); /* freed below */
    curl_easy_setopt(h->easy, CURLOPT_URL, url);            /* curl copies it */
    free(url);
  } else {
    curl_easy_setopt(h->easy, CURLOPT_URL, h->c->conn.url);
  }
  curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send_len);
  /* Never NULL: curl would read the body from stdin. */
  curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, h->body ? h->body : "");
  h->answer_len = 0;
  h->answer[0] = '\0';
  h->retry_after_ms = 0;
  h->error[0] = '\0';
  h->done = done;
  h->arg = arg;
  rc = vg_curl_start(h->curl, h->easy, on_done, h);
  if (rc)
    return rc;
  h->busy = true;
  return 0;
}

enum vg_http_answer vg_http_client_answer(long status, const char **reason,
                                          const char **what) {
  const char *r = "client_error", *w = "the server refuses these requests";
  enum vg_http_answer a = VG_HTTP_SENDER_REFUSED;
  if (status >= 200 && status < 300)
    a = VG_HTTP_DELIVERED;
  else if (status == 0 || status == 429 || status >= 500 || status < 200)
    a = VG_HTTP_TRY_AGAIN;
  else if (status == 400 || status == 409 || status == 422)
    a = VG_HTTP_DATA_REFUSED;
  else if (status == 413)
    a = VG_HTTP_TOO_LARGE;
  else if (status < 400)
    r = "redirect", w = "the url redirects elsewhere (redirects are not "
                        "followed with the data)";
  else if (status == 401 || status == 407)
    r = "unauthorized", w = "credentials refused";
  else if (status == 403)
    r = "forbidden", w = "credentials refused for this endpoint";
  else if (status == 404 || status == 410)
    r = "not_found", w = "no such endpoint, database or bucket";
  else if (status == 405)
    r = "method_not_allowed", w = "the url does not take writes";
  if (reason)
    *reason = a == VG_HTTP_SENDER_REFUSED ? r : NULL;
  if (what)
    *what = a == VG_HTTP_SENDER_REFUSED ? w : NULL;
  return a;
}
