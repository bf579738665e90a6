/* collectors/http.c - one URL polled on the daemon's schedule: JSON APIs
 * (paginated or not), other exporters' /metrics, line protocol, CSV.
 *
 * A poll fetches the URL on the daemon's curl multi handle (never
 * blocking the loop), hands each answer to the thread pool to be parsed
 * into a vg_batch, and, when the last page is in, replays every page's
 * batch into the sink in one round: series that no page reported vanish,
 * and a poll that fails anywhere -- transfer, status, body cap, syntax,
 * pagination -- changes nothing in the store (the last good series stay,
 * and go stale if failures last longer than stale_after).
 *
 * Conditional requests: the ETag and Last-Modified of the first page of
 * the last good poll are sent back as If-None-Match / If-Modified-Since;
 * a 304 answer marks the series seen again (vg_sink_touch) without a
 * byte being parsed.  Validators change only with the store's content, at
 * the end of a good poll.
 *
 * Which pages a poll fetches -- the "pagination" keys, what a page says
 * of the next, the URLs of pages -- is collectors/http_pages.c's.
 *
 * Ownership: the collector owns its configuration, compiled payload and
 * pointers, validators, and the poll in progress: the easy handle and
 * header list of the request in flight, the answer being received, the
 * batches of pages already parsed, and the emptied batches of the last
 * polls kept for the next pages (vg_batch_keep).  A parse job owns the
 * answer it parses, the kept batch lent to it and its batch until its
 * after-work callback hands them back on the loop.
 *
 * Must never: parse on the loop thread, hold more than max_body of an
 * answer, store anything of a poll that failed, send credentials to a host
 * other than the configured one by following a next link, or call done()
 * twice for one collect.
 */
#include "collectors/collector.h"
#include "collectors/http_pages.h"
#include "daemon/pipeline/batch.h"
#include "daemon/net/curl.h"
#include "daemon/net/http_client_conf.h"
#include "daemon/formats/json.h"
#include "daemon/util/log.h"
#include "daemon/formats/mapping.h"
#include "daemon/util/mem.h"
#include "daemon/formats/payload.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds the memory one answer may take while parsed (about 4 times its
 * size, plus cJSON's tree). */
#define MAX_BODY_LIMIT ((uint64_t)4 << 30)
/* How much of an error answer goes into the message. */
#define SNIPPET_MAX 160

struct http_config {
  char *method;
  char *body;
  char *proxy;
  uint64_t max_body;
  int64_t max_redirects;
  char *format;
  const cJSON *pagination;
  int64_t max_pages;
  bool conditional;
};

static const struct vg_cfg_key http_keys[] = {
    {"method", VG_CFG_STRING, "GET", offsetof(struct http_config, method),
     "\"GET\" or \"POST\".", false},
    {"body", VG_CFG_STRING, NULL, offsetof(struct http_config, body),
     "The request body, with \"method\": \"POST\" (sent with every page); "
     "set its Content-Type in \"headers\".",
     false},
    {"proxy", VG_CFG_STRING, NULL, offsetof(struct http_config, proxy),
     "Proxy to go through: \"http://host:3128\", \"socks5h://host:1080\"; "
     "\"\" for none.  Default: the http_proxy, https_proxy and no_proxy "
     "environment variables.",
     false},
    {"max_body", VG_CFG_SIZE, "16MiB", offsetof(struct http_config, max_body),
     "The largest answer taken (after gzip decoding): past it the transfer "
     "is stopped and the poll fails.",
     false},
    {"max_redirects", VG_CFG_INT, "5",
     offsetof(struct http_config, max_redirects),
     "Redirects followed for one request; more fail the poll.  0 follows "
     "none (a 3xx answer fails).",
     false},
    {"format", VG_CFG_STRING, "json", offsetof(struct http_config, format),
     "What the answer holds: \"json\" or \"csv\" (records, read through "
     "the mapping keys below), \"influx\" (line protocol) or \"prometheus\" "
     "(text exposition: another exporter's /metrics, HELP and TYPE kept).",
     false},
    {"pagination", VG_CFG_JSON, NULL, offsetof(struct http_config, pagination),
     "Format \"json\": how to fetch the further pages of an API that pages; "
     "all pages of a poll make one round.  {\"type\": \"page\", \"param\": "
     "\"page\", \"start\": 1, \"pages\": \"/data/pages\"} sets ?page=1, 2, "
     "... up to the page count at the \"pages\" pointer (or while the "
     "\"has_more\" pointer is true; with neither, until a page has no "
     "records).  {\"type\": \"next\", \"next\": \"/links/next\"} follows "
     "the URL at that pointer (absolute or relative, same host) until it is "
     "missing, null or \"\".  {\"type\": \"cursor\", \"param\": \"cursor\", "
     "\"cursor\": \"/next_cursor\"} sets ?cursor=<value> until the value is "
     "missing, null or \"\" (or \"has_more\" is false).  See "
     "docs/cookbook.md.",
     false},
    {"max_pages", VG_CFG_INT, "100", offsetof(struct http_config, max_pages),
     "Most pages one poll fetches; an API with more fails the poll (raise "
     "it) rather than lose the rest silently.",
     false},
    {"conditional", VG_CFG_BOOL, "true",
     offsetof(struct http_config, conditional),
     "Send the last answer's ETag / Last-Modified back (If-None-Match / "
     "If-Modified-Since); a 304 keeps the series fresh without fetching or "
     "parsing them again.  Paginated sources ask it of the first page and "
     "take a 304 there to mean no page changed: set false for an API whose "
     "first page can stay the same while later ones change.",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const http_tables[] = {
    vg_http_client_conf_keys, http_keys, vg_mapping_keys, vg_payload_keys,
    NULL};

/* Headers the collector sets itself. */
static const char *const reserved_headers[] = {
    "Accept-Encoding", "If-None-Match", "If-Modified-Since", NULL};

/* ---- the collector --------------------------------------------------- */

struct parse_job;

struct http_collector {
  struct http_config cfg;
  struct vg_http_client_conf conn;
  struct vg__http_pages pg;
  struct vg_payload *payload;
  char *display; /* the URL without user info and query, for messages and
                    as the store's source key; owned */
  const char *accept;

  /* Validators of the store's content: the first page of the last good
   * poll.  Owned; NULL when the server sent none. */
  char *etag, *last_modified;

  uv_loop_t *loop;
  struct vg_sink *sink;
  const char *name;
  struct vg_curl *curl;

  /* The poll in progress (done != NULL). */
  vg_collect_done done;
  void *done_arg;
  int64_t pages;   /* fetched so far */
  int64_t page_no; /* VG__HTTP_PAGES_PAGE: the number of the page in flight */
  char *url;       /* of the request in flight or being parsed; owned */
  char *
      last_cursor; /* VG__HTTP_PAGES_CURSOR: the cursor of the page in flight */
  bool unconditional; /* do not send validators this poll */
  bool sent_validators;
  CURL *easy; /* in flight; owned */
  struct curl_slist *headers;
  char error[CURL_ERROR_SIZE];
  char *body; /* the answer being received; owned until a job takes it */
  size_t body_len, body_cap;
  bool too_large;
  char *new_etag, *new_last_modified; /* of the first page; owned */
  struct vg_batch **batches;          /* the pages parsed; owned */
  size_t nbatches, batches_cap;
  /* The last polls' batches, emptied, for the next pages to be parsed into
   * rather than into pages faulted in afresh; one lent to each job. */
  struct vg_batch_spares spares;
  struct parse_job *job; /* in the thread pool */

  /* Never started: stop() closes it, so that the answer to a collect in
   * flight and `stopped` come from the loop, never from inside stop()
   * (collectors/collector.h). */
  uv_idle_t closer;
  bool closer_closed;
  bool stopping;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

/* A page handed to the thread pool.  Inputs are read-only there; outputs
 * are read back on the loop in parse_after(). */
struct parse_job {
  uv_work_t work;
  struct http_collector *hc;
  /* inputs */
  char *body; /* owned */
  size_t len;
  char *input; /* names the page in locations; owned */
  int64_t page_no;
  struct vg_batch_spares spare; /* lent by the collector: at most one */
  /* outputs */
  struct vg_batch *batch;
  int rc;
  char error[512];
  bool more;  /* pagination: another page follows */
  char *next; /* VG__HTTP_PAGES_NEXT: its URL as written; VG__HTTP_PAGES_CURSOR:
                 the cursor; owned */
};

/* ---- messages -------------------------------------------------------- */

/* The answer's first bytes for a message: one line of printable text,
 * cut at a character boundary, "..." when there was more. */
static void snippet(const char *body, size_t len, char *out, size_t size) {
  size_t o = 0, i = 0;
  bool space = false;
  for (; i < len; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c < 0x20 || c == 0x7f) {
      space = o > 0;
      continue;
    }
    /* A whole UTF-8 sequence, or one byte. */
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (i + n > len || o + n + (space ? 1 : 0) > SNIPPET_MAX)
      break;
    if (space)
      out[o++] = ' ';
    space = false;
    memcpy(out + o, body + i, n);
    o += n;
    i += n - 1;
  }
  out[o] = '\0';
  if (i < len && o + 4 <= size)
    memcpy(out + o, "...", 4);
}

/* ---- the thread-pool side -------------------------------------------- */

static void job_error(struct parse_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void job_error(struct parse_job *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->error, sizeof j->error, fmt, ap);
  va_end(ap);
  j->rc = -EINVAL;
}

static void parse_work(uv_work_t *work) {
  struct parse_job *j = work->data;
  struct http_collector *hc = j->hc;
  /* The batch may use several times the answer's size for its samples
   * (entries, strings and labels together, vg_batch_new). */
  j->batch = vg_batch_take(&j->spare, (size_t)hc->cfg.max_body * 8 + (1 << 20));
  const struct vg_emitter *out = vg_batch_emitter(j->batch);
  if (hc->pg.type == VG__HTTP_PAGES_NONE) {
    j->rc = vg_payload_run(hc->payload, j->input, j->body, j->len, out,
                           j->error, sizeof j->error);
  } else {
    struct vg_json_doc *doc = NULL;
    j->rc = vg_json_doc_parse(j->body, j->len, &doc, j->error, sizeof j->error);
    if (!j->rc)
      j->rc = vg_payload_run_json(hc->payload, j->input, vg_json_doc_root(doc),
                                  out, j->error, sizeof j->error);
    if (!j->rc)
      j->rc =
          vg__http_pages_read(&hc->pg, vg_json_doc_root(doc), j->page_no,
                              &j->more, &j->next, j->error, sizeof j->error);
    vg_json_doc_free(doc);
  }
  if (!j->rc && vg_batch_overflowed(j->batch))
    job_error(j, "too many samples in one answer");
  free(j->body);
  j->body = NULL;
}

/* ---- the loop side --------------------------------------------------- */

static int start_request(struct http_collector *hc);

/* On the loop: what the job did not hand to the poll is kept. */
static void free_job(struct parse_job *j) {
  free(j->body);
  free(j->input);
  free(j->next);
  vg_batch_keep(&j->hc->spares, j->batch, VG_BATCH_KEEP_MAX);
  vg_batch_spares_move(&j->hc->spares, &j->spare, VG_BATCH_KEEP_MAX);
  free(j);
}

static void end_transfer(struct http_collector *hc) {
  if (hc->easy) {
    curl_easy_cleanup(hc->easy);
    hc->easy = NULL;
  }
  curl_slist_free_all(hc->headers);
  hc->headers = NULL;
  free(hc->body);
  hc->body = NULL;
  hc->body_len = hc->body_cap = 0;
}

/* Forgets the poll in progress (its batches, URLs, pending validators). */
static void clear_poll(struct http_collector *hc) {
  end_transfer(hc);
  for (size_t i = 0; i < hc->nbatches; i++)
    vg_batch_keep(&hc->spares, hc->batches[i], VG_BATCH_KEEP_MAX);
  hc->nbatches = 0;
  free(hc->url);
  free(hc->last_cursor);
  free(hc->new_etag);
  free(hc->new_last_modified);
  hc->url = hc->last_cursor = hc->new_etag = hc->new_last_modified = NULL;
}

static void finish(struct http_collector *hc, int status, const char *error) {
  clear_poll(hc);
  vg_collect_done done = hc->done;
  hc->done = NULL;
  done(hc->done_arg, status, error);
}

/* Fails the poll: nothing of it reaches the store. */
static void fail(struct http_collector *hc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct http_collector *hc, const char *fmt, ...) {
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  char *msg = hc->pg.type == VG__HTTP_PAGES_NONE
                  ? vg_asprintf("%s: %s", hc->display, what)
                  : vg_asprintf("%s page %lld: %s", hc->display,
                                (long long)hc->pages, what);
  finish(hc, -EIO, msg);
  free(msg);
}

static void replace(char **field, char *value) {
  free(*field);
  *field = value;
}

/* Every page is in: one round of the source. */
static void commit(struct http_collector *hc) {
  vg_sink_begin(hc->sink, hc->display);
  for (size_t i = 0; i < hc->nbatches; i++)
    vg_batch_replay(hc->batches[i], vg_sink_emitter(hc->sink));
  size_t removed = vg_sink_end(hc->sink);
  const struct vg_sink_stats *st = vg_sink_stats(hc->sink);
  vg_log(VG_LOG_DEBUG,
         "collector %s: %s: %llu samples, %llu rejected from %lld "
         "page(s), %zu series no longer in them removed",
         hc->name, hc->display, (unsigned long long)st->round_samples,
         (unsigned long long)st->round_rejected, (long long)hc->pages, removed);
  /* The validators now describe what the store holds. */
  replace(&hc->etag, hc->new_etag);
  replace(&hc->last_modified, hc->new_last_modified);
  hc->new_etag = hc->new_last_modified = NULL;
  finish(hc, 0, NULL);
}

/* The next request of a paginated poll, from what the page said. */
static void next_page(struct http_collector *hc, struct parse_job *j) {
  if (hc->pages >= hc->cfg.max_pages) {
    fail(hc,
         "more pages follow, but max_pages (%lld) were fetched; raise "
         "max_pages",
         (long long)hc->cfg.max_pages);
    return;
  }
  char *url = NULL;
  const char *why = NULL;
  switch (hc->pg.type) {
  case VG__HTTP_PAGES_PAGE:
    hc->page_no++;
    char number[24];
    snprintf(number, sizeof number, "%lld", (long long)hc->page_no);
    url = vg__http_pages_with_param(hc->conn.url, hc->pg.param, number);
    break;
  case VG__HTTP_PAGES_NEXT:
    url = vg__http_pages_resolve_next(hc->conn.url, hc->url, j->next, &why);
    if (!url) {
      fail(hc, "pagination: the next link \"%s\" %s", j->next, why);
      return;
    }
    if (strcmp(url, hc->url) == 0) {
      free(url);
      fail(hc, "pagination: the next link leads to the same page");
      return;
    }
    break;
  case VG__HTTP_PAGES_CURSOR:
    if (hc->last_cursor && strcmp(hc->last_cursor, j->next) == 0) {
      fail(hc,
           "pagination: the next cursor is the one this page was "
           "fetched with (\"%s\")",
           j->next);
      return;
    }
    url = vg__http_pages_with_param(hc->conn.url, hc->pg.param, j->next);
    replace(&hc->last_cursor, vg_strdup(j->next));
    break;
  case VG__HTTP_PAGES_NONE:
    break;
  }
  if (!url) {
    fail(hc, "pagination: cannot make the URL of the next page");
    return;
  }
  replace(&hc->url, url);
  int rc = start_request(hc);
  if (rc)
    fail(hc, "cannot start the request: %s", strerror(-rc));
}

/* Once the closer is closed and no parse is in flight: a collect in
 * flight is answered as cancelled, then `stopped` runs. */
static void maybe_stopped(struct http_collector *hc) {
  if (!hc->stopping || hc->job || !hc->closer_closed || !hc->stopped)
    return;
  if (hc->done)
    finish(hc, -ECANCELED, "stopped");
  void (*stopped)(void *) = hc->stopped;
  hc->stopped = NULL;
  stopped(hc->stopped_arg);
}

static void parse_after(uv_work_t *work, int status) {
  struct parse_job *j = work->data;
  struct http_collector *hc = j->hc;
  hc->job = NULL;
  if (hc->stopping || status == UV_ECANCELED) {
    free_job(j);
    maybe_stopped(hc);
    return;
  }
  if (j->rc) {
    fail(hc, "%s", j->error);
    free_job(j);
    return;
  }
  hc->batches = vg_grow(hc->batches, &hc->batches_cap, hc->nbatches + 1,
                        sizeof *hc->batches);
  hc->batches[hc->nbatches++] = j->batch;
  j->batch = NULL;
  if (j->more)
    next_page(hc, j);
  else
    commit(hc);
  free_job(j);
}

static void start_parse(struct http_collector *hc) {
  /* Owned by the job from here; freed in parse_after. */
  struct parse_job *j = vg_calloc(1, sizeof *j);
  j->hc = hc;
  j->work.data = j;
  j->body = hc->body;
  j->len = hc->body_len;
  j->page_no = hc->page_no;
  if (hc->spares.n)
    j->spare.b[j->spare.n++] = hc->spares.b[--hc->spares.n];
  hc->body = NULL;
  hc->body_len = hc->body_cap = 0;
  j->input =
      hc->pg.type == VG__HTTP_PAGES_NONE
          ? vg_strdup(hc->display)
          : vg_asprintf("%s page %lld", hc->display, (long long)hc->pages);
  hc->job = j;
  /* uv_queue_work cannot fail for a valid loop and callbacks. */
  uv_queue_work(hc->loop, &j->work, parse_work, parse_after);
}

/* 304: what the store holds is current. */
static void not_modified(struct http_collector *hc) {
  size_t series = vg_sink_touch(hc->sink, hc->display);
  /* Series that went stale meanwhile (stale_after shorter than an outage)
   * are not brought back by a 304: ask once more, unconditionally. */
  if (series == 0 && vg_sink_stats(hc->sink)->round_samples > 0) {
    hc->unconditional = true;
    hc->pages = 0;
    int rc = start_request(hc);
    if (rc)
      fail(hc, "cannot start the request: %s", strerror(-rc));
    return;
  }
  vg_log(VG_LOG_DEBUG, "collector %s: %s: not modified, %zu series kept",
         hc->name, hc->display, series);
  finish(hc, 0, NULL);
}

/* One debug line per request: what a debugging operator compares with
 * the server's own log. */
static void log_request(const struct http_collector *hc, CURL *easy,
                        CURLcode result, long status, int64_t number) {
  curl_off_t us = 0, wire = 0;
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
  curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &wire);
  char page[32] = "";
  if (number > 1)
    snprintf(page, sizeof page, " page %lld", (long long)number);
  if (result != CURLE_OK && !hc->too_large)
    vg_log(VG_LOG_DEBUG, "collector %s: GET %s%s: %s after %.1f ms", hc->name,
           hc->display, page,
           hc->error[0] ? hc->error : curl_easy_strerror(result),
           (double)us / 1e3);
  else
    vg_log(VG_LOG_DEBUG,
           "collector %s: GET %s%s: HTTP %ld, %zu bytes (%lld on the wire) "
           "in %.1f ms",
           hc->name, hc->display, page, status, hc->body_len, (long long)wire,
           (double)us / 1e3);
}

static void transfer_done(void *arg, CURL *easy, CURLcode result) {
  struct http_collector *hc = arg;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (vg_log_enabled(VG_LOG_DEBUG))
    log_request(hc, easy, result, status, (int64_t)hc->pages + 1);
  curl_easy_cleanup(hc->easy);
  hc->easy = NULL;
  curl_slist_free_all(hc->headers);
  hc->headers = NULL;
  hc->pages++;
  if (hc->too_large || result == CURLE_FILESIZE_EXCEEDED) {
    fail(hc,
         "the answer is larger than max_body (%llu bytes); the transfer "
         "was stopped",
         (unsigned long long)hc->cfg.max_body);
    return;
  }
  if (result != CURLE_OK) {
    fail(hc, "%s", hc->error[0] ? hc->error : curl_easy_strerror(result));
    return;
  }
  if (status == 304 && hc->pages == 1 && hc->sent_validators) {
    not_modified(hc);
    return;
  }
  if (status < 200 || status > 299) {
    char text[SNIPPET_MAX + 4];
    snippet(hc->body, hc->body_len, text, sizeof text);
    if (text[0])
      fail(hc, "HTTP %ld: %s", status, text);
    else
      fail(hc, "HTTP %ld (no text in the answer)", status);
    return;
  }
  start_parse(hc);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct http_collector *hc = arg;
  size_t len = size * n;
  if (len > hc->cfg.max_body - hc->body_len) {
    hc->too_large = true;
    return 0; /* curl stops the transfer: CURLE_WRITE_ERROR */
  }
  if (hc->body_len + len + 1 > hc->body_cap) {
    /* Room for the whole answer at once when its length is announced (a
     * compressed answer grows past it, and grows the buffer again). */
    curl_off_t announced = -1;
    curl_easy_getinfo(hc->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
    size_t need = hc->body_len + len + 1;
    if (announced > 0 && (uint64_t)announced <= hc->cfg.max_body &&
        (size_t)announced + 1 > need)
      need = (size_t)announced + 1;
    hc->body = vg_grow(hc->body, &hc->body_cap, need, 1);
  }
  memcpy(hc->body + hc->body_len, p, len);
  hc->body_len += len;
  hc->body[hc->body_len] = '\0';
  return len;
}

/* Keeps the value of a header line "Name: value\r\n" if it is `name`. */
static void keep_header(const char *line, size_t len, const char *name,
                        char **out) {
  size_t n = strlen(name);
  if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return;
  const char *v = line + n + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && isspace((unsigned char)end[-1]))
    end--;
  replace(out, end > v ? vg_strndup(v, (size_t)(end - v)) : NULL);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  struct http_collector *hc = arg;
  size_t len = size * n;
  if (hc->pages > 0)
    return len; /* validators are the first page's */
  /* A new status line starts a new answer (after a redirect or a 1xx). */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    replace(&hc->new_etag, NULL);
    replace(&hc->new_last_modified, NULL);
  } else {
    keep_header(p, len, "ETag", &hc->new_etag);
    keep_header(p, len, "Last-Modified", &hc->new_last_modified);
  }
  return len;
}

static void add_header(struct curl_slist **list, const char *line) {
  struct curl_slist *l = curl_slist_append(*list, line);
  if (!l) {
    fputs("villagemetricsd: out of memory\n", stderr);
    abort();
  }
  *list = l;
}

static bool has_header(const struct vg_http_client_conf *c, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; c->extra_headers && c->extra_headers[i]; i++)
    if (strncasecmp(c->extra_headers[i], name, n) == 0 &&
        c->extra_headers[i][n] == ':')
      return true;
  return false;
}

/* Starts the request of hc->url; 0, or -errno. */
static int start_request(struct http_collector *hc) {
  end_transfer(hc);
  hc->too_large = false;
  hc->error[0] = '\0';
  CURL *e = curl_easy_init();
  if (!e)
    return -ENOMEM;
  hc->easy = e;
  vg_http_client_conf_setopt(&hc->conn, e, &hc->headers);
  if (hc->accept)
    add_header(&hc->headers, hc->accept);
  hc->sent_validators = false;
  if (hc->pages == 0 && hc->cfg.conditional && !hc->unconditional) {
    if (hc->etag) {
      char *h = vg_asprintf("If-None-Match: %s", hc->etag);
      add_header(&hc->headers, h);
      free(h);
      hc->sent_validators = true;
    }
    if (hc->last_modified) {
      char *h = vg_asprintf("If-Modified-Since: %s", hc->last_modified);
      add_header(&hc->headers, h);
      free(h);
      hc->sent_validators = true;
    }
  }
  curl_easy_setopt(e, CURLOPT_URL, hc->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hc->headers);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (hc->cfg.max_redirects > 0) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)hc->cfg.max_redirects);
  }
  /* Every encoding this libcurl decodes; the cap is on decoded bytes. */
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)hc->cfg.max_body);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, hc);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, hc);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, hc->error);
  if (hc->cfg.proxy)
    curl_easy_setopt(e, CURLOPT_PROXY, hc->cfg.proxy);
  if (strcmp(hc->cfg.method, "POST") == 0) {
    const char *body = hc->cfg.body ? hc->cfg.body : "";
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  }
  int rc = vg_curl_start(hc->curl, e, transfer_done, hc);
  if (rc)
    end_transfer(hc);
  return rc;
}

/* ---- the collector type ---------------------------------------------- */

static int http_collect(void *ctx, vg_collect_done done, void *arg) {
  struct http_collector *hc = ctx;
  if (hc->done)
    return -EBUSY;
  if (hc->stopping)
    return -ESHUTDOWN;
  hc->pages = 0;
  hc->page_no = hc->pg.start;
  hc->unconditional = false;
  if (hc->pg.type == VG__HTTP_PAGES_PAGE) {
    char number[24];
    snprintf(number, sizeof number, "%lld", (long long)hc->page_no);
    hc->url = vg__http_pages_with_param(hc->conn.url, hc->pg.param, number);
  } else {
    hc->url = vg_strdup(hc->conn.url);
  }
  if (!hc->url)
    return -EINVAL;
  int rc = start_request(hc);
  if (rc) {
    clear_poll(hc);
    return rc;
  }
  hc->done = done;
  hc->done_arg = arg;
  return 0;
}

static int http_start(void *ctx, const struct vg_collector_env *env) {
  struct http_collector *hc = ctx;
  if (!env->curl)
    return -EINVAL;
  hc->loop = env->loop;
  hc->sink = env->sink;
  hc->name = env->name;
  hc->curl = env->curl;
  uv_idle_init(hc->loop, &hc->closer);
  hc->closer.data = hc;
  return 0;
}

static void closer_closed(uv_handle_t *h) {
  struct http_collector *hc = h->data;
  hc->closer_closed = true;
  maybe_stopped(hc);
}

static void http_stop(void *ctx, void (*stopped)(void *arg), void *arg) {
  struct http_collector *hc = ctx;
  hc->stopping = true;
  hc->stopped = stopped;
  hc->stopped_arg = arg;
  if (hc->easy)
    vg_curl_cancel(hc->curl, hc->easy);
  end_transfer(hc);
  /* A job not yet picked up by a thread is cancelled; one running
   * finishes and parse_after() discards it. */
  if (hc->job)
    uv_cancel((uv_req_t *)&hc->job->work);
  uv_close((uv_handle_t *)&hc->closer, closer_closed);
}

static void http_destroy(void *ctx) {
  struct http_collector *hc = ctx;
  clear_poll(hc);
  vg_batch_spares_free(&hc->spares);
  free(hc->batches);
  free(hc->etag);
  free(hc->last_modified);
  free(hc->display);
  vg_payload_free(hc->payload);
  vg__http_pages_release(&hc->pg);
  vg_http_client_conf_release(&hc->conn);
  vg_cfg_release(http_keys, &hc->cfg);
  free(hc);
}

static const char *accept_header(const char *format) {
  if (strcmp(format, "json") == 0)
    return "Accept: application/json, */*;q=0.1";
  if (strcmp(format, "prometheus") == 0)
    return "Accept: text/plain;version=0.0.4, */*;q=0.1";
  if (strcmp(format, "csv") == 0)
    return "Accept: text/csv, */*;q=0.1";
  return "Accept: text/plain, */*;q=0.1";
}

static int http_configure(void **ctx, const cJSON *cfg,
                          struct vg_cfg_err *err) {
  /* Owned by the daemon through ctx; freed by http_destroy. */
  struct http_collector *hc = vg_calloc(1, sizeof *hc);
  int rc = vg_cfg_apply(http_keys, &hc->cfg, cfg, err);
  if (rc) {
    vg_cfg_release(http_keys, &hc->cfg);
    free(hc);
    return rc;
  }
  rc = vg_http_client_conf_apply(&hc->conn, cfg, reserved_headers, err);
  if (rc) {
    vg_cfg_release(http_keys, &hc->cfg);
    free(hc);
    return rc;
  }
  const struct http_config *c = &hc->cfg;
  int format = vg_payload_format_parse(c->format);
  if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "POST") != 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "method"),
                      "\"method\": expected \"GET\" or \"POST\", got \"%s\"",
                      c->method);
  else if (c->body && strcmp(c->method, "POST") != 0)
    rc = vg_cfg_error_key(err, cJSON_GetObjectItemCaseSensitive(cfg, "body"),
                          "\"body\" is sent with \"method\": \"POST\" only");
  else if (c->max_body == 0 || c->max_body > MAX_BODY_LIMIT)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "max_body"),
                      "\"max_body\": from 1 byte to 4GiB");
  else if (c->max_redirects < 0 || c->max_redirects > 50)
    rc = vg_cfg_error(err,
                      cJSON_GetObjectItemCaseSensitive(cfg, "max_redirects"),
                      "\"max_redirects\": from 0 to 50");
  else if (c->max_pages < 1)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "max_pages"),
                      "\"max_pages\": at least 1");
  else if (format < 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "format"),
                      "\"format\": expected %s, got \"%s\"",
                      vg_payload_format_names, c->format);
  else if (!(hc->display = vg__http_pages_display_url(hc->conn.url)))
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "url"),
                      "\"url\": \"%s\" is not a valid URL", hc->conn.url);
  if (!rc)
    rc = vg__http_pages_configure(&hc->pg, hc->cfg.pagination, cfg,
                                  hc->cfg.format, err);
  if (!rc)
    rc = vg_payload_new(&hc->payload, (enum vg_payload_format)format, cfg, err);
  if (rc) {
    http_destroy(hc);
    return rc;
  }
  if (!has_header(&hc->conn, "Accept"))
    hc->accept = accept_header(c->format);
  *ctx = hc;
  return 0;
}

const struct vg_collector_type vg_collector_http = {
    .name = "http",
    .description = "Polls one URL: a JSON API (through the same mapping as "
                   "files, with pagination), another exporter's /metrics, "
                   "line protocol or CSV.",
    .config_tables = http_tables,
    .configure = http_configure,
    .start = http_start,
    .collect = http_collect,
    .stop = http_stop,
    .destroy = http_destroy,
};
