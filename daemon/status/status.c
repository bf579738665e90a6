/* daemon/status/status.c - health, readiness and status for people and tools.
 *
 * /healthz answers 200 while the loop runs; /readyz 200 once the first
 * collection round is done (503 before); /api/v1/status is the state of
 * every collector -- runs, errors, last error, recent rejected values with
 * their location --, every exporter and the journal as JSON, and / the
 * same document rendered for people (daemon/status/status_page.c).  Both are
 * built fresh on each request from the instances' counters; nothing here
 * is kept between requests.
 */
#include "daemon/status/status.h"
#include "daemon/daemon.h"
#include "daemon/generation.h"
#include "daemon/pipeline/receipt.h"
#include "daemon/pipeline/resolve.h"
#include "daemon/status/status_page.h"
#include "daemon/util/clock.h"
#include "daemon/util/mem.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void respond_text(struct vg_httpd_request *req, unsigned status,
                         const char *text) {
  char *body = vg_strdup(text);
  vg_httpd_respond(req, status, "text/plain; charset=utf-8", body,
                   strlen(body));
}

static void healthz(void *arg, struct vg_httpd_request *req) {
  (void)arg;
  respond_text(req, 200, "ok\n");
}

static void readyz(void *arg, struct vg_httpd_request *req) {
  struct vg_daemon *d = arg;
  if (d->ready)
    respond_text(req, 200, "ready\n");
  else
    respond_text(req, 503,
                 "not ready: the first collection round is still "
                 "running\n");
}

static void add_time(cJSON *obj, const char *key, int64_t ms) {
  if (!ms) {
    cJSON_AddNullToObject(obj, key);
    return;
  }
  char text[32];
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON_AddStringToObject(obj, key, text);
}

static void add_rejection(void *arg, const struct vg_rejection *r) {
  cJSON *item = cJSON_CreateObject();
  add_time(item, "time", r->time_ms);
  cJSON_AddStringToObject(item, "reason", vg_reject_reason_name(r->reason));
  cJSON_AddStringToObject(item, "where", r->where);
  if (r->village[0])
    cJSON_AddStringToObject(item, "village", r->village);
  else
    cJSON_AddNullToObject(item, "village");
  cJSON_AddStringToObject(item, "detail", r->detail);
  cJSON_AddItemToArray(arg, item);
}

/* Files listed per collector: a folder of years of monthly reports stays
 * a readable document; the count says how many more there are. */
#define MAX_FILES_LISTED 200

static void add_string_or_null(cJSON *o, const char *key, const char *s) {
  if (s)
    cJSON_AddStringToObject(o, key, s);
  else
    cJSON_AddNullToObject(o, key);
}

/* A receipt as /api/v1/status has it (docs/operations.md, "Receipts"). */
static cJSON *receipt_json(const struct vg_receipt *r) {
  cJSON *o = cJSON_CreateObject();
  add_time(o, "read_at", r->read_ms);
  add_string_or_null(o, "error", r->error);
  cJSON_AddNumberToObject(o, "rows", (double)r->rows);
  cJSON_AddNumberToObject(o, "rows_accepted",
                          (double)(r->rows - r->rows_rejected));
  cJSON_AddNumberToObject(o, "rows_rejected", (double)r->rows_rejected);
  cJSON_AddNumberToObject(o, "values_accepted", (double)r->values_accepted);
  cJSON_AddNumberToObject(o, "values_rejected", (double)r->values_rejected);
  cJSON_AddNumberToObject(o, "villages_matched", (double)r->villages_matched);
  cJSON_AddNumberToObject(o, "villages_unmatched",
                          (double)r->villages_unmatched);
  cJSON *names = cJSON_AddArrayToObject(o, "unmatched_villages");
  for (size_t i = 0; i < r->nunmatched; i++)
    cJSON_AddItemToArray(names, cJSON_CreateString(r->unmatched[i]));
  cJSON *list = cJSON_AddArrayToObject(o, "rejections");
  for (size_t i = 0; i < r->nlisted; i++) {
    const struct vg_receipt_rejection *x = &r->listed[i];
    cJSON *item = cJSON_CreateObject();
    add_string_or_null(item, "village", x->village);
    cJSON_AddStringToObject(item, "cell", x->cell);
    cJSON_AddStringToObject(item, "reason", vg_reject_reason_name(x->reason));
    cJSON_AddStringToObject(item, "detail", x->detail);
    cJSON_AddItemToArray(list, item);
  }
  cJSON_AddNumberToObject(o, "more_rejections", (double)r->more);
  return o;
}

static void add_file(void *arg, const struct vg_collector_file *f) {
  cJSON *files = arg;
  if (cJSON_GetArraySize(files) >= MAX_FILES_LISTED)
    return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "path", f->path);
  cJSON_AddStringToObject(o, "state",
                          f->error     ? "unreadable"
                          : f->receipt ? "read"
                                       : "waiting");
  add_string_or_null(o, "error", f->error);
  add_time(o, "unreadable_since", f->unreadable_since_ms);
  if (f->receipt)
    cJSON_AddItemToObject(o, "receipt", receipt_json(f->receipt));
  else
    cJSON_AddNullToObject(o, "receipt");
  cJSON_AddItemToArray(files, o);
}

/* Started, whether or not it is stopping now. */
static bool started(const struct vg_collector_instance *c) {
  return c->state != VG_COLLECTOR_CONFIGURED &&
         c->state != VG_COLLECTOR_START_FAILED;
}

/* Two sources of the same series: {"sources": [{"collector", "source"},
 * ...], "series": n}. */
static void add_overlap(void *arg, const struct vg_store_overlap *ov) {
  cJSON *item = cJSON_CreateObject();
  cJSON *sources = cJSON_AddArrayToObject(item, "sources");
  for (int i = 0; i < 2; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "collector", ov->collector[i]);
    cJSON_AddStringToObject(s, "source", ov->source[i]);
    cJSON_AddItemToArray(sources, s);
  }
  cJSON_AddNumberToObject(item, "series", (double)ov->series);
  cJSON_AddItemToArray(arg, item);
}

static cJSON *collector_status(const struct vg_collector_instance *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", c->name);
  cJSON_AddStringToObject(o, "type", c->type->name);
  /* A push type is never run: it listens from start to stop. */
  bool pushed = !c->type->collect;
  cJSON_AddStringToObject(o, "state",
                          pushed ? (started(c) ? "listening" : "not started")
                          : !c->runs      ? "starting"
                          : c->last_error ? "failing"
                                          : "ok");
  cJSON_AddNumberToObject(o, "runs", (double)c->runs);
  cJSON_AddNumberToObject(o, "errors", (double)c->errors);
  cJSON_AddNumberToObject(o, "skipped_runs", (double)c->skipped_runs);
  add_time(o, "last_run", c->last_run_ms);
  add_time(o, "last_success", c->last_success_ms);
  cJSON_AddNumberToObject(o, "last_duration_seconds", c->last_duration_s);
  cJSON_AddNumberToObject(o, "interval_seconds",
                          (double)c->next_delay_ms / 1000.0);
  if (c->last_error)
    cJSON_AddStringToObject(o, "last_error", c->last_error);
  else
    cJSON_AddNullToObject(o, "last_error");
  if (c->sink) {
    const struct vg_sink_stats *st = vg_sink_stats(c->sink);
    cJSON_AddNumberToObject(o, "samples_total", (double)st->samples_total);
    cJSON_AddNumberToObject(o, "last_round_samples", (double)st->input_samples);
    cJSON_AddNumberToObject(o, "late_samples", (double)st->late);
    cJSON *rej = cJSON_AddObjectToObject(o, "rejected");
    for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
      cJSON_AddNumberToObject(rej, vg_reject_reason_name(r),
                              (double)st->rejected[r]);
    /* What the inputs hold now, as the villagemetrics_rejected_values
     * gauge. */
    cJSON *current = cJSON_AddObjectToObject(o, "current_rejected");
    for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
      cJSON_AddNumberToObject(current, vg_reject_reason_name(r),
                              (double)st->input_rejected[r]);
    cJSON *recent = cJSON_AddArrayToObject(o, "recent_rejections");
    vg_sink_recent(c->sink, add_rejection, recent);
  }
  if (c->type->files && started(c)) {
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    size_t n = c->type->files(c->ctx, add_file, files);
    size_t listed = (size_t)cJSON_GetArraySize(files);
    cJSON_AddNumberToObject(o, "files_not_listed", (double)(n - listed));
  }
  return o;
}

/* Who scraped a pull exporter last: "No data" in Grafana starts here. */
static void add_scrapes(cJSON *o, const struct vg_exporter_scrapes *sc) {
  cJSON *j = cJSON_AddObjectToObject(o, "scrapes");
  cJSON_AddNumberToObject(j, "count", (double)sc->count);
  add_time(j, "last", sc->last_ms);
  if (sc->last_ms) {
    cJSON_AddStringToObject(j, "client", sc->client);
    cJSON_AddStringToObject(j, "user_agent", sc->user_agent);
  } else {
    cJSON_AddNullToObject(j, "client");
    cJSON_AddNullToObject(j, "user_agent");
  }
}

static cJSON *exporter_status(const struct vg_exporter_instance *e,
                              int64_t now_ms) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", e->name);
  cJSON_AddStringToObject(o, "type", e->type->name);
  bool push = e->type->flush != NULL;
  cJSON_AddStringToObject(o, "kind", push ? "push" : "pull");
  const struct vg_pusher_stats *ps =
      e->pusher ? vg_pusher_stats(e->pusher) : e->last_stats;
  if (!push || !ps || !e->reader) {
    /* A pull exporter answers scrapes; a push exporter without a pusher
     * could not open its cursor (the log says why). */
    cJSON_AddStringToObject(o, "state", push ? "not running" : "serving");
    if (!push)
      add_scrapes(o, &e->scrapes);
    return o;
  }
  struct vg_journal_reader_stats rs;
  vg_journal_reader_stats(e->reader, &rs);
  cJSON_AddStringToObject(o, "state",
                          ps->paused       ? "paused"
                          : ps->backoff_ms ? "backing off"
                          : rs.lag_records ? "sending"
                                           : "up to date");
  /* Why the sink refused the sender, as the self-metric's reason. */
  if (ps->paused)
    cJSON_AddStringToObject(o, "paused", ps->paused);
  else
    cJSON_AddNullToObject(o, "paused");
  cJSON_AddNumberToObject(o, "sent_samples", (double)ps->sent);
  /* Requests, not samples: "60,000 retries" of a batch of 10,000 tried
   * six times reads as sixty thousand failures. */
  cJSON_AddNumberToObject(o, "tries", (double)ps->flushes);
  cJSON_AddNumberToObject(o, "failed_tries", (double)ps->failed_flushes);
  cJSON_AddNumberToObject(o, "retried_samples", (double)ps->retried);
  cJSON_AddNumberToObject(o, "skipped_samples", (double)ps->skipped);
  cJSON *dropped = cJSON_AddObjectToObject(o, "dropped_samples");
  for (size_t k = 0; k < ps->ndropped; k++)
    cJSON_AddNumberToObject(dropped, ps->dropped[k].reason,
                            (double)ps->dropped[k].count);
  cJSON_AddNumberToObject(o, "journal_dropped_samples",
                          (double)rs.dropped_records);
  uint64_t lag =
      rs.lag_records -
      (ps->live_sent < rs.lag_records ? ps->live_sent : rs.lag_records);
  cJSON_AddNumberToObject(o, "lag_samples", (double)lag);
  /* The age of the oldest sample waiting, as the self-metric has it; 0
   * until a read has learnt its timestamp. */
  int64_t age_ms =
      rs.lag_records && rs.oldest_ts_ms ? now_ms - rs.oldest_ts_ms : 0;
  cJSON_AddNumberToObject(o, "lag_seconds",
                          age_ms > 0 ? (double)age_ms / 1e3 : 0);
  add_time(o, "oldest_undelivered", rs.lag_records ? rs.oldest_ts_ms : 0);
  add_time(o, "last_success", ps->last_success_ms);
  cJSON_AddNumberToObject(o, "backoff_seconds", (double)ps->backoff_ms / 1e3);
  if (ps->last_error)
    cJSON_AddStringToObject(o, "last_error", ps->last_error);
  else
    cJSON_AddNullToObject(o, "last_error");
  return o;
}

/* Collectors' and push exporters' counters belong to their instances,
 * which a good reload replaces: they count from the start, or from the
 * last good reload.  The journal's, the store's and the scrapes are kept
 * and count from the start. */
static void add_counters_since(cJSON *root, const struct vg_daemon *d) {
  cJSON *since = cJSON_AddObjectToObject(root, "counters_since");
  bool reloaded = d->last_good_reload_ms != 0;
  cJSON_AddStringToObject(since, "event", reloaded ? "reload" : "start");
  add_time(since, "time", reloaded ? d->last_good_reload_ms : d->started_ms);
}

/* The operator's guide to this page: as installed (the package's
 * /usr/share/doc/villagemetricsd), or else in the source tree the binary
 * was built from (a build run in place).  Both paths come from CMake. */
static const char *docs_path(void) {
  static const char installed[] = VG_INSTALLED_DOCS "/docs/operations.md";
  static const char source[] = VG_SOURCE_DOCS "/docs/operations.md";
  return access(installed, R_OK) == 0 ? installed : source;
}

static cJSON *status_json(const struct vg_daemon *d) {
  int64_t now_ms = vg_clock_now_ms();
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "version", VG_VERSION);
  /* The daemon's clock: ages are measured against it, not the reader's. */
  add_time(root, "now", now_ms);
  /* Which machine: a person may watch several. */
  char host[256];
  if (gethostname(host, sizeof host) == 0) {
    host[sizeof host - 1] = '\0';
    cJSON_AddStringToObject(root, "hostname", host);
  } else {
    cJSON_AddNullToObject(root, "hostname");
  }
  add_time(root, "started", d->started_ms);
  cJSON_AddBoolToObject(root, "ready", d->ready);
  add_counters_since(root, d);
  cJSON_AddStringToObject(root, "docs", docs_path());
  cJSON *cfg = cJSON_AddObjectToObject(root, "config");
  cJSON_AddStringToObject(cfg, "path", d->config_path);
  add_time(cfg, "last_reload", d->last_reload_ms);
  /* The refused reload is the last one tried. */
  add_time(cfg, "last_reload_refused",
           d->last_reload_error ? d->last_reload_ms : 0);
  if (d->last_reload_error)
    cJSON_AddStringToObject(cfg, "last_reload_error", d->last_reload_error);
  else
    cJSON_AddNullToObject(cfg, "last_reload_error");
  /* The registry in force: its configuration is the live one, or during a
   * reload the one being retired. */
  const struct vg_generation *reg_gen = d->live ? d->live : d->retiring;
  const struct vg_registry *reg = vg_resolve_registry(d->resolve);
  if (reg && reg_gen && reg_gen->config->registry_path) {
    cJSON *r = cJSON_AddObjectToObject(cfg, "registry");
    cJSON_AddStringToObject(r, "path", reg_gen->config->registry_path);
    cJSON_AddNumberToObject(r, "villages", (double)vg_registry_size(reg));
  } else {
    cJSON_AddNullToObject(cfg, "registry");
  }
  struct vg_store_stats st;
  vg_store_stats(d->store, &st);
  cJSON *store = cJSON_AddObjectToObject(root, "store");
  cJSON_AddNumberToObject(store, "series", (double)st.series);
  cJSON_AddNumberToObject(store, "metric_names", (double)st.families);
  cJSON_AddNumberToObject(store, "label_sets", (double)st.label_sets);
  cJSON_AddNumberToObject(store, "sources", (double)st.sources);
  cJSON_AddNumberToObject(store, "overlapping_series",
                          (double)st.overlapping_series);
  vg_store_overlaps(d->store, add_overlap,
                    cJSON_AddArrayToObject(store, "overlaps"));
  cJSON *cols = cJSON_AddArrayToObject(root, "collectors");
  const struct vg_generation *gen = d->live ? d->live : d->retiring;
  for (size_t i = 0; gen && i < gen->ncollectors; i++)
    cJSON_AddItemToArray(cols, collector_status(&gen->collectors[i]));
  cJSON *exps = cJSON_AddArrayToObject(root, "exporters");
  for (size_t i = 0; gen && i < gen->nexporters; i++)
    cJSON_AddItemToArray(exps, exporter_status(&gen->exporters[i], now_ms));
  if (d->journal) {
    struct vg_journal_stats js;
    vg_journal_stats(d->journal, &js);
    cJSON *j = cJSON_AddObjectToObject(root, "journal");
    cJSON_AddNumberToObject(j, "bytes", (double)js.bytes);
    cJSON_AddNumberToObject(j, "max_bytes", (double)js.max_bytes);
    cJSON_AddNumberToObject(j, "segments", (double)js.segments);
    cJSON_AddNumberToObject(j, "appended_samples", (double)js.appended_records);
    cJSON_AddNumberToObject(j, "failed_samples", (double)js.failed_records);
    cJSON_AddNumberToObject(j, "corrupt_samples", (double)js.corrupt_records);
    cJSON_AddNumberToObject(j, "fsyncs", (double)js.fsyncs);
    cJSON_AddNumberToObject(j, "written_bytes", (double)js.written_bytes);
    cJSON_AddNumberToObject(j, "fsync_seconds_total", js.fsync_seconds_total);
    cJSON_AddNumberToObject(j, "last_fsync_seconds", js.last_fsync_seconds);
  } else {
    /* Without push exporters nothing is journaled. */
    cJSON_AddNullToObject(root, "journal");
  }
  return root;
}

static void api_status(void *arg, struct vg_httpd_request *req) {
  cJSON *root = status_json(arg);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  vg_httpd_add_header(req, "Cache-Control", "no-store");
  /* cJSON allocates with malloc, so the server may free() the body. */
  vg_httpd_respond(req, 200, "application/json", text, strlen(text));
}

static void status_page(void *arg, struct vg_httpd_request *req) {
  cJSON *root = status_json(arg);
  struct vg_buf b;
  /* A page of every collector's 20 latest rejections is well below this;
   * the cap only bounds a bug. */
  vg_buf_init(&b, 16 << 20);
  int rc = vg_status_page_render(root, &b);
  cJSON_Delete(root);
  if (rc < 0) {
    vg_buf_free(&b);
    respond_text(req, 500,
                 "the status page is too large; see /api/v1/status\n");
    return;
  }
  size_t len;
  char *body = vg_buf_take(&b, &len);
  vg_httpd_add_header(req, "Cache-Control", "no-store");
  vg_httpd_respond(req, 200, "text/html; charset=utf-8", body, len);
}

int vg_status_routes(struct vg_daemon *d) {
  int rc = vg_httpd_route(d->http, "GET", "/healthz", 0, healthz, d, d);
  if (!rc)
    rc = vg_httpd_route(d->http, "GET", "/readyz", 0, readyz, d, d);
  if (!rc)
    rc = vg_httpd_route(d->http, "GET", "/api/v1/status", 0, api_status, d, d);
  if (!rc)
    rc = vg_httpd_route(d->http, "GET", "/", 0, status_page, d, d);
  /* Probes are answered even when the server is full of requests. */
  if (!rc)
    rc = vg_httpd_route_priority(d->http, "GET", "/healthz");
  if (!rc)
    rc = vg_httpd_route_priority(d->http, "GET", "/readyz");
  if (!rc)
    rc = vg_httpd_route_auth(d->http, "GET", "/api/v1/status", &d->read_auth);
  if (!rc)
    rc = vg_httpd_route_auth(d->http, "GET", "/", &d->read_auth);
  return rc;
}
