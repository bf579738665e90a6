/* exporters/prometheus.c - the /metrics endpoint for Prometheus to scrape.
 *
 * Serves the store and the daemon's self-metrics in text format 0.0.4, or
 * OpenMetrics 1.0 when the scraper's Accept header prefers it; the HTTP
 * server gzips when asked.  The page is streamed: written from the
 * store's cached text as the socket drains, never built whole.  Samples carry
 * no timestamps: Prometheus stamps them with the scrape time, which is what a
 * dashboard of "current state" wants; a file's as-of date reaches the push
 * exporters instead.
 *
 * Must never: wait on the disk or the network, or hold a whole page in
 * memory.
 */
#include "daemon/model/expfmt.h"
#include "daemon/net/gzpiece.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "exporters/exporter.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prometheus {
  char *path;
  struct vg_exporter_env env;
};

static const struct vg_cfg_key prometheus_keys[] = {
    {"path", VG_CFG_STRING, "/metrics", offsetof(struct prometheus, path),
     "The URL path of the scrape endpoint.", false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const prometheus_tables[] = {prometheus_keys,
                                                             NULL};

/* One scrape in progress, owned by the HTTP server until scrape_done: the
 * self-metrics (a few kilobytes, made up front), then the store read
 * through a cursor as the socket drains, then "# EOF" for OpenMetrics.
 * Gzipped, the same parts as pieces of one gzip stream: the store's come
 * mostly deflated already, from earlier scrapes. */
struct scrape {
  char *head; /* owned */
  size_t head_len, head_off;
  struct vg_store_cursor *cursor; /* owned */
  bool store_done;
  const char *tail;
  size_t tail_len, tail_off;
  struct vg_gzpiece_stream *gzip; /* owned; made by the first gzip read */
  enum { GZ_HEAD, GZ_STORE, GZ_TAIL, GZ_END } gz_part;
  /* log_level debug only: what its line says when the scrape ends. */
  struct scrape_debug *debug; /* owned; NULL when not logging */
};

/* One line per scrape at debug level: who, how much, how long. */
struct scrape_debug {
  char *exporter; /* owned: the scrape may outlive a reload */
  char client[64];
  bool gzip;
  double started_s;
  size_t bytes; /* before gzip */
};

static size_t copy_part(const char *from, size_t len, size_t *off, char *out,
                        size_t max) {
  size_t n = len - *off < max ? len - *off : max;
  memcpy(out, from + *off, n);
  *off += n;
  return n;
}

static size_t scrape_read(void *ctx, char *out, size_t max) {
  struct scrape *s = ctx;
  size_t used = copy_part(s->head, s->head_len, &s->head_off, out, max);
  /* A short read of the cursor is not its end: only 0 is. */
  if (used < max && !s->store_done) {
    size_t n = vg_store_cursor_read(s->cursor, out + used, max - used);
    s->store_done = n == 0;
    used += n;
  }
  if (used < max && s->store_done)
    used +=
        copy_part(s->tail, s->tail_len, &s->tail_off, out + used, max - used);
  if (s->debug)
    s->debug->bytes += used;
  return used;
}

/* The next piece of the gzipped page: the head, the store's blocks, the
 * tail. */
static struct vg_gzpiece *next_piece(struct scrape *s,
                                     struct vg_gzpiece_stream *gs) {
  switch (s->gz_part) {
  case GZ_HEAD:
    s->gz_part = GZ_STORE;
    return vg_gzpiece_deflate(gs, s->head, s->head_len);
  case GZ_STORE: {
    struct vg_gzpiece *p = vg_store_cursor_piece(s->cursor, gs);
    if (p)
      return p;
    s->gz_part = GZ_TAIL;
  }
    /* fall through */
  case GZ_TAIL:
    s->gz_part = GZ_END;
    return vg_gzpiece_deflate(gs, s->tail, s->tail_len);
  case GZ_END:
    break;
  }
  return NULL;
}

/* vg_gzpiece_next_fn; the debug line counts each piece by its text. */
static struct vg_gzpiece *scrape_piece(void *ctx,
                                       struct vg_gzpiece_stream *gs) {
  struct scrape *s = ctx;
  struct vg_gzpiece *p = next_piece(s, gs);
  if (p && s->debug)
    s->debug->bytes += p->text_len;
  return p;
}

static size_t scrape_read_gzip(void *ctx, char *out, size_t max) {
  struct scrape *s = ctx;
  if (!s->gzip)
    s->gzip = vg_gzpiece_stream_new(scrape_piece, s);
  return vg_gzpiece_stream_read(s->gzip, out, max);
}

static void scrape_done(void *ctx) {
  struct scrape *s = ctx;
  if (s->debug) {
    struct scrape_debug *d = s->debug;
    vg_log(VG_LOG_DEBUG,
           "exporter %s: scrape from %s: %zu bytes%s in %.1f ms%s", d->exporter,
           d->client, d->bytes, d->gzip ? " before gzip" : "",
           (vg_clock_monotonic_s() - d->started_s) * 1e3,
           (s->gzip ? s->gz_part == GZ_END
                    : s->store_done && s->tail_off == s->tail_len)
               ? ""
               : " (the client went away before the end)");
    free(d->exporter);
    free(d);
  }
  vg_gzpiece_stream_free(s->gzip);
  vg_store_cursor_free(s->cursor);
  free(s->head);
  free(s);
}

/* A self-metrics page is a few dozen lines; this only bounds a bug. */
#define MAX_HEAD ((size_t)16 << 20)

/* Who scrapes, for the status page. */
static void record_scrape(struct prometheus *p,
                          const struct vg_httpd_request *req) {
  struct vg_exporter_scrapes *r = p->env.scrapes;
  if (!r)
    return;
  r->count++;
  r->last_ms = vg_clock_now_ms();
  vg_httpd_client(req, r->client, sizeof r->client);
  const char *ua = vg_httpd_header(req, "User-Agent");
  snprintf(r->user_agent, sizeof r->user_agent, "%s", ua ? ua : "");
}

static struct scrape_debug *debug_scrape(const struct prometheus *p,
                                         const struct vg_httpd_request *req) {
  if (!vg_log_enabled(VG_LOG_DEBUG))
    return NULL;
  struct scrape_debug *d = vg_calloc(1, sizeof *d); /* owned by the scrape */
  d->exporter = vg_strdup(p->env.name ? p->env.name : "prometheus");
  vg_httpd_client(req, d->client, sizeof d->client);
  d->gzip = vg_httpd_gzip_accepted(req);
  d->started_s = vg_clock_monotonic_s();
  return d;
}

static void serve(void *arg, struct vg_httpd_request *req) {
  struct prometheus *p = arg;
  record_scrape(p, req);
  bool om = vg_expfmt_accepts_openmetrics(vg_httpd_header(req, "Accept"));
  struct vg_buf head;
  vg_buf_init(&head, MAX_HEAD);
  if (p->env.render_self &&
      p->env.render_self(p->env.render_arg, &head, om) < 0) {
    vg_buf_free(&head);
    char *msg = vg_strdup("self-metrics too large\n");
    vg_httpd_respond(req, 500, "text/plain", msg, strlen(msg));
    return;
  }
  struct scrape *s = vg_calloc(1, sizeof *s);
  s->head = vg_buf_take(&head, &s->head_len);
  s->cursor = vg_store_cursor_new(p->env.store, om);
  s->tail = om ? "# EOF\n" : "";
  s->tail_len = strlen(s->tail);
  s->debug = debug_scrape(p, req);
  struct vg_httpd_stream body = {.read = scrape_read,
                                 .read_gzip = scrape_read_gzip,
                                 .done = scrape_done,
                                 .ctx = s};
  vg_httpd_respond_stream(
      req, 200, om ? VG_CONTENT_TYPE_OPENMETRICS : VG_CONTENT_TYPE_TEXT, &body);
}

static int prometheus_configure(void **ctx, const cJSON *cfg,
                                struct vg_cfg_err *err) {
  struct prometheus *p = vg_calloc(1, sizeof *p);
  int rc = vg_cfg_apply(prometheus_keys, p, cfg, err);
  static const char *const reserved[] = {"/", "/healthz", "/readyz",
                                         "/api/v1/status"};
  const cJSON *path_node = cJSON_GetObjectItemCaseSensitive(cfg, "path");
  if (!rc && p->path[0] != '/')
    rc = vg_cfg_error(err, path_node, "\"path\" must start with /");
  for (size_t i = 0; !rc && i < sizeof reserved / sizeof *reserved; i++)
    if (strcmp(p->path, reserved[i]) == 0)
      rc = vg_cfg_error(err, path_node,
                        "\"path\": %s is the daemon's own; choose another",
                        p->path);
  if (rc) {
    vg_cfg_release(prometheus_keys, p);
    free(p);
    return rc;
  }
  *ctx = p;
  return 0;
}

static int prometheus_start(void *ctx, const struct vg_exporter_env *env) {
  struct prometheus *p = ctx;
  p->env = *env;
  if (!env->http)
    return 0; /* --test: nothing to serve */
  int rc = vg_httpd_route(env->http, "GET", p->path, 0, serve, p, p);
  /* Scrapes are answered even when the server is full of requests. */
  if (!rc)
    rc = vg_httpd_route_priority(env->http, "GET", p->path);
  return rc ? rc
            : vg_httpd_route_auth(env->http, "GET", p->path, env->read_auth);
}

static void prometheus_stop(void *ctx) {
  struct prometheus *p = ctx;
  if (p->env.http)
    vg_httpd_unroute(p->env.http, p);
}

static void prometheus_destroy(void *ctx) {
  struct prometheus *p = ctx;
  vg_cfg_release(prometheus_keys, p);
  free(p);
}

const struct vg_exporter_type vg_exporter_prometheus = {
    .name = "prometheus",
    .description = "Serves every series and the self-metrics for "
                   "Prometheus to scrape (text 0.0.4 or OpenMetrics, gzip).",
    .config_tables = prometheus_tables,
    .configure = prometheus_configure,
    .start = prometheus_start,
    .stop = prometheus_stop,
    .destroy = prometheus_destroy,
};
