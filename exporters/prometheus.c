/* exporters/prometheus.c - the /metrics endpoint for Prometheus to scrape.
 *
 * Serves the store and the daemon's self-metrics in text format 0.0.4, or
 * OpenMetrics 1.0 when the scraper's Accept header prefers it; the HTTP
 * server gzips when asked.  Samples carry no timestamps: Prometheus stamps
 * them with the scrape time, which is what a dashboard of "current state"
 * wants; a file's as-of date reaches the push exporters instead.
 *
 * Must never: wait on the disk or the network; the page is built from
 * memory in one pass.
 */
#include "daemon/daemon.h"
#include "daemon/expfmt.h"
#include "daemon/mem.h"
#include "exporters/exporter.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct prometheus {
  char *path;
  struct vg_exporter_env env;
  size_t last_size;
};

static const struct vg_cfg_key prometheus_keys[] = {
    {"path", VG_CFG_STRING, "/metrics", offsetof(struct prometheus, path),
     "The URL path of the scrape endpoint.", false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const prometheus_tables[] = {prometheus_keys,
                                                             NULL};

/* A page may not outgrow this: 1 M series is about 100 MB. */
#define MAX_PAGE ((size_t)2 << 30)

static void serve(void *arg, struct vg_http_request *req) {
  struct prometheus *p = arg;
  bool om = vg_accepts_openmetrics(vg_http_header(req, "Accept"));
  struct vg_buf page;
  vg_buf_init(&page, MAX_PAGE);
  /* Reserve what the last page needed, so that a large page is not built
   * through a dozen reallocations. */
  int rc = vg_buf_reserve(&page, p->last_size + p->last_size / 8 + 4096);
  if (!rc)
    rc = vg_selfmetrics_render(p->env.daemon, &page, om);
  if (!rc)
    rc = vg_store_render(p->env.store, &page, om);
  if (!rc && om)
    rc = vg_buf_puts(&page, "# EOF\n");
  if (rc) {
    vg_buf_free(&page);
    char *msg = vg_strdup("the page is larger than 2 GiB\n");
    vg_http_respond(req, 500, "text/plain", msg, strlen(msg));
    return;
  }
  p->last_size = page.len;
  size_t len;
  char *body = vg_buf_take(&page, &len);
  vg_http_respond(req, 200,
                  om ? VG_CONTENT_TYPE_OPENMETRICS : VG_CONTENT_TYPE_TEXT, body,
                  len);
}

static int prometheus_configure(void **ctx, const cJSON *cfg,
                                struct vg_cfg_err *err) {
  struct prometheus *p = vg_calloc(1, sizeof *p);
  int rc = vg_cfg_apply(prometheus_keys, p, cfg, err);
  if (!rc && p->path[0] != '/')
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "path"),
                      "\"path\" must start with /");
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
  return vg_http_route(env->http, "GET", p->path, 0, serve, p, p);
}

static void prometheus_stop(void *ctx) {
  struct prometheus *p = ctx;
  if (p->env.http)
    vg_http_unroute(p->env.http, p);
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
