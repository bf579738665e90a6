/* collectors/listen.c - the push endpoints: senders write to us.
 *
 * A "listen" collector serves, on the daemon's HTTP server:
 *   POST /write           InfluxDB 1.x line protocol (db, rp, precision,
 *                         u/p or Basic auth); GET|HEAD /ping answers as
 *                         InfluxDB does, for clients that check first
 *   POST /api/v2/write    InfluxDB 2.x line protocol (org, bucket,
 *                         precision, Authorization: Token)
 *   POST /api/v1/push     JSON samples and village records
 *                         (daemon/formats/pushjson.h)
 *   POST /api/v1/write    Prometheus remote write 1.0
 * each of which may be turned off.
 *
 * A request goes: credentials -> the body decompressed and parsed in the
 * thread pool into a batch (so a large body never holds the loop) -> the
 * request's caps checked (nothing is accepted from a request over them)
 * -> the batch into the sink in one update round -> the journal's group
 * commit -> the answer.  The sender is answered only once what it sent is
 * durable: 204 (200 with counts for JSON) when all was taken, 400 naming
 * the first bad line or value when some was refused (the rest is kept, as
 * InfluxDB does), 503 with Retry-After when the journal could not take it.
 *
 * Owns its routes and every request in flight; stop() waits for the last
 * of them to be answered.  Must never answer before the journal has
 * answered, and never block the loop on a body.
 */
#include "collectors/collector.h"
#include "collectors/listen.h"
#include "daemon/pipeline/batch.h"
#include "daemon/util/buf.h"
#include "daemon/net/httpd.h"
#include "daemon/net/httpd_auth.h"
#include "daemon/net/inflate.h"
#include "daemon/formats/lp_samples.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "daemon/formats/pushjson.h"
#include "daemon/formats/prompb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How long a refused sender should wait before trying again. */
#define RETRY_AFTER_S "5"

struct listen_config {
  bool influxdb_v1, influxdb_v2, json, remote_write;
  char *token, *username, *password;
  uint64_t max_body, max_decompressed, max_line;
  int64_t max_labels, max_label_value, max_samples_per_request;
};

static const struct vg_cfg_key listen_keys[] = {
    {"influxdb_v1", VG_CFG_BOOL, "true",
     offsetof(struct listen_config, influxdb_v1),
     "Serve POST /write (InfluxDB 1.x line protocol) and GET /ping.", false},
    {"influxdb_v2", VG_CFG_BOOL, "true",
     offsetof(struct listen_config, influxdb_v2),
     "Serve POST /api/v2/write (InfluxDB 2.x line protocol).", false},
    {"json", VG_CFG_BOOL, "true", offsetof(struct listen_config, json),
     "Serve POST /api/v1/push (JSON samples and village records).", false},
    {"remote_write", VG_CFG_BOOL, "true",
     offsetof(struct listen_config, remote_write),
     "Serve POST /api/v1/write (Prometheus remote write 1.0).", false},
    {"token", VG_CFG_STRING, NULL, offsetof(struct listen_config, token),
     "When set, every write must carry it: \"Authorization: Bearer <token>\" "
     "or \"Token <token>\", as the password of Basic credentials, or as the "
     "p query parameter of /write. Use \"@file:/path\" to keep it out of the "
     "configuration.",
     false},
    {"username", VG_CFG_STRING, NULL, offsetof(struct listen_config, username),
     "With password: Basic credentials every write must carry (also taken "
     "as /write's u and p query parameters).",
     false},
    {"password", VG_CFG_STRING, NULL, offsetof(struct listen_config, password),
     "See username; \"@file:/path\" reads it from a file.", false},
    {"max_body", VG_CFG_SIZE, "32MiB", offsetof(struct listen_config, max_body),
     "Largest request body as sent; larger ones are answered 413 while "
     "being read.",
     false},
    {"max_decompressed", VG_CFG_SIZE, "128MiB",
     offsetof(struct listen_config, max_decompressed),
     "Largest body once gzip or snappy is undone; past it 413.", false},
    {"max_line", VG_CFG_SIZE, "64KiB", offsetof(struct listen_config, max_line),
     "Longest line of line protocol; a longer line is a bad line.", false},
    {"max_labels", VG_CFG_INT, "32", offsetof(struct listen_config, max_labels),
     "Most labels (tags) one pushed series may have.", false},
    {"max_label_value", VG_CFG_INT, "1024",
     offsetof(struct listen_config, max_label_value),
     "Longest label value in bytes.", false},
    {"max_samples_per_request", VG_CFG_INT, "1000000",
     offsetof(struct listen_config, max_samples_per_request),
     "Most samples one request may carry; a larger request is answered 413 "
     "and nothing of it is kept, so the sender can split it.",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const listen_tables[] = {listen_keys, NULL};

enum endpoint { EP_INFLUX_V1, EP_INFLUX_V2, EP_JSON, EP_REMOTE_WRITE };

static const char *const endpoint_paths[] = {
    [EP_INFLUX_V1] = "/write",
    [EP_INFLUX_V2] = "/api/v2/write",
    [EP_JSON] = "/api/v1/push",
    [EP_REMOTE_WRITE] = "/api/v1/write",
};

struct listen {
  struct listen_config cfg;
  struct vg_httpd_auth auth;
  uv_loop_t *loop;
  struct vg_sink *sink;
  struct vg_httpd *http;
  char *name;
  unsigned inflight;          /* requests not answered yet */
  struct vg_push_stats stats; /* what the handlers answered */
  struct vg_push_stats shown; /* with what the server answered itself */
  /* Never started: stop() closes it, so that `stopped` runs from the loop
   * and never from inside stop() (collectors/collector.h), even when no
   * request is in flight. */
  uv_idle_t closer;
  bool closer_closed;
  bool stopping;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

/* One request from its handler to its answer.  Owned by the listener's
 * inflight count; freed after the answer. */
struct job {
  uv_work_t work;
  struct listen *l;
  struct vg_httpd_request *req;
  enum endpoint ep;
  enum vg_lp_precision precision;
  const char *input; /* the path, for locations */
  const char *body;  /* the request's, valid until the answer */
  size_t body_len;
  const char *encoding; /* Content-Encoding, or NULL */
  /* Filled in the thread pool: */
  struct vg_batch *batch;
  struct vg_emitter intake; /* checks the caps, then into the batch */
  uint64_t samples;
  unsigned status; /* non-zero: answer this without accepting anything */
  enum vg_reject_reason why; /* of a whole request refused */
  char error[512];
};

/* --- answering ------------------------------------------------------- */

/* Stopped once the closer is closed and the last request is answered. */
static void maybe_stopped(struct listen *l) {
  if (l->inflight || !l->closer_closed || !l->stopped)
    return;
  void (*stopped)(void *) = l->stopped;
  l->stopped = NULL;
  stopped(l->stopped_arg);
}

static void job_free(struct job *job) {
  struct listen *l = job->l;
  vg_batch_free(job->batch);
  free(job);
  l->inflight--;
  maybe_stopped(l);
}

static void count(struct listen *l, enum endpoint ep, unsigned status) {
  enum vg_push_code c = status < 300    ? VG_PUSH_2XX
                        : status == 413 ? VG_PUSH_413
                        : status == 415 ? VG_PUSH_415
                        : status == 503 ? VG_PUSH_503
                                        : VG_PUSH_400;
  l->stats.endpoint[ep].requests[c]++;
}

/* The body of an answer: counts in JSON for /api/v1/push, InfluxDB's
 * {"error": ...} for line protocol, plain text for remote write
 * (Prometheus logs the body as it is); NULL when there is nothing to say. */
static char *answer_body(enum endpoint ep, uint64_t accepted, uint64_t rejected,
                         const char *error, const char **type) {
  if (ep == EP_REMOTE_WRITE) {
    *type = "text/plain; charset=utf-8";
    return error ? vg_asprintf("%s\n", error) : NULL;
  }
  if (ep != EP_JSON && !error)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  if (ep == EP_JSON) {
    cJSON_AddNumberToObject(o, "accepted", (double)accepted);
    cJSON_AddNumberToObject(o, "rejected", (double)rejected);
  }
  if (error)
    cJSON_AddStringToObject(o, "error", error);
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  char *body = vg_asprintf("%s\n", json);
  cJSON_free(json);
  *type = "application/json";
  return body;
}

/* Every answer of the endpoints goes out here: counted, and with
 * Retry-After when the sender should try again. */
static void reply(struct listen *l, enum endpoint ep,
                  struct vg_httpd_request *req, unsigned status,
                  uint64_t accepted, uint64_t rejected, const char *error) {
  if (ep == EP_JSON && status == 204)
    status = 200; /* with the counts */
  if (status == 503)
    vg_httpd_add_header(req, "Retry-After", RETRY_AFTER_S);
  count(l, ep, status);
  const char *type = NULL;
  char *body = answer_body(ep, accepted, rejected, error, &type);
  vg_httpd_respond(req, status, type, body, body ? strlen(body) : 0);
}

static void answer(struct job *job, unsigned status, uint64_t accepted,
                   uint64_t rejected, const char *error) {
  reply(job->l, job->ep, job->req, status, accepted, rejected, error);
  job_free(job);
}

struct accepted {
  struct job *job;
  uint64_t accepted, rejected;
  char error[512];
};

static void durable(void *arg, int status) {
  struct accepted *a = arg;
  struct job *job = a->job;
  if (status < 0) {
    char error[160];
    snprintf(error, sizeof error,
             "not stored: the journal could not take the samples (%s); "
             "send them again later",
             strerror(-status));
    answer(job, 503, 0, 0, error);
  } else {
    answer(job, a->rejected ? 400 : 204, a->accepted, a->rejected,
           a->rejected ? a->error : NULL);
  }
  free(a);
}

/* --- parsing, in the thread pool -------------------------------------- */

static bool over_caps(struct job *job, const struct vg_label *labels, size_t n,
                      const struct vg_location *where) {
  const struct listen_config *c = &job->l->cfg;
  char detail[160];
  if (n > (size_t)c->max_labels) {
    snprintf(detail, sizeof detail, "%zu labels, more than max_labels (%lld)",
             n, (long long)c->max_labels);
    goto refuse;
  }
  for (size_t i = 0; i < n; i++)
    if (strlen(labels[i].value) > (size_t)c->max_label_value) {
      snprintf(detail, sizeof detail,
               "label \"%.60s\" is longer than max_label_value (%lld bytes)",
               labels[i].name, (long long)c->max_label_value);
      goto refuse;
    }
  return false;
refuse:;
  const struct vg_emitter *b = vg_batch_emitter(job->batch);
  b->reject(b->arg, VG_REJECT_BAD_LABEL, where, detail);
  return true;
}

static void intake_sample(void *arg, const char *metric,
                          const struct vg_label *labels, size_t n, double value,
                          int64_t ts_ms, const struct vg_location *where) {
  struct job *job = arg;
  if (over_caps(job, labels, n, where))
    return;
  /* Past the cap nothing more is kept: the whole request is refused. */
  if (++job->samples > (uint64_t)job->l->cfg.max_samples_per_request)
    return;
  const struct vg_emitter *b = vg_batch_emitter(job->batch);
  b->sample(b->arg, metric, labels, n, value, ts_ms, where);
}

static void intake_reject(void *arg, enum vg_reject_reason reason,
                          const struct vg_location *where, const char *detail) {
  struct job *job = arg;
  const struct vg_emitter *b = vg_batch_emitter(job->batch);
  b->reject(b->arg, reason, where, detail);
}

struct rw_walk {
  struct job *job;
  size_t series;
};

static void rw_series(void *arg, const struct vg_label *labels, size_t n,
                      const int64_t *ts_ms, const double *values,
                      size_t nsamples) {
  struct rw_walk *w = arg;
  struct job *job = w->job;
  /* __name__ becomes the metric; the other labels stay labels. */
  const char *metric = NULL;
  struct vg_label rest[256];
  size_t nrest = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(labels[i].name, "__name__") == 0)
      metric = labels[i].value;
    else if (nrest < sizeof rest / sizeof *rest)
      rest[nrest++] = labels[i];
  }
  char pointer[48];
  snprintf(pointer, sizeof pointer, "timeseries[%zu]", w->series++);
  struct vg_location at = {.input = job->input, .pointer = pointer};
  if (nrest < n - 1) {
    intake_reject(job, VG_REJECT_BAD_LABEL, &at, "more than 256 labels");
    return;
  }
  for (size_t i = 0; i < nsamples; i++)
    intake_sample(job, metric, rest, nrest, values[i],
                  /* 0 would mean "no timestamp" to the sink. */
                  ts_ms[i] ? ts_ms[i] : 1, &at);
}

static void rw_reject(void *arg, size_t index, const char *reason) {
  struct rw_walk *w = arg;
  char pointer[48];
  snprintf(pointer, sizeof pointer, "timeseries[%zu]", index);
  w->series = index + 1;
  struct vg_location at = {.input = w->job->input, .pointer = pointer};
  /* A native histogram is not a bad label set: what is there cannot be
   * read as samples here. */
  intake_reject(w->job,
                strcmp(reason, VG_PROMPB_HISTOGRAMS_REFUSED) == 0
                    ? VG_REJECT_PARSE_ERROR
                    : VG_REJECT_BAD_LABEL,
                &at, reason);
}

static void parse_body(struct job *job, const char *data, size_t len) {
  const struct listen_config *c = &job->l->cfg;
  if (job->ep == EP_REMOTE_WRITE) {
    struct rw_walk w = {.job = job};
    struct vg_prompb_visitor v = {rw_series, rw_reject, &w};
    int rc = vg_prompb_decode(data, len, c->max_decompressed, &v, job->error,
                              sizeof job->error);
    if (rc)
      job->status = rc == -EMSGSIZE ? 413 : 400;
    return;
  }
  if (job->ep == EP_JSON) {
    if (vg_pushjson_run(job->input, data, len, &job->intake, job->error,
                        sizeof job->error))
      job->status = 400;
    return;
  }
  struct vg_lp_limits limits = {.max_line = c->max_line,
                                .max_tags = (size_t)c->max_labels};
  vg_lp_samples(job->input, data, len, job->precision, &limits, &job->intake,
                NULL);
}

static void parse_work(uv_work_t *work) {
  struct job *job = work->data;
  const struct listen_config *c = &job->l->cfg;
  /* A batch never holds more than a few times the decompressed cap. */
  job->batch = vg_batch_new(c->max_decompressed * 4 + (1 << 20));
  job->intake = (struct vg_emitter){
      .sample = intake_sample, .reject = intake_reject, .arg = job};
  const char *data = job->body;
  size_t len = job->body_len;
  struct vg_buf plain;
  vg_buf_init(&plain, c->max_decompressed + 1);
  if (job->encoding && strcasecmp(job->encoding, "gzip") == 0) {
    int rc = vg_gunzip(data, len, c->max_decompressed, &plain, job->error,
                       sizeof job->error);
    if (rc) {
      job->status = rc == -EMSGSIZE ? 413 : 400;
      vg_buf_free(&plain);
      return;
    }
    data = plain.data ? plain.data : "";
    len = plain.len;
  } else if (len > c->max_decompressed) {
    job->status = 413;
    snprintf(job->error, sizeof job->error,
             "the body is over max_decompressed (%llu bytes)",
             (unsigned long long)c->max_decompressed);
    vg_buf_free(&plain);
    return;
  }
  parse_body(job, data, len);
  vg_buf_free(&plain);
  if (!job->status && job->samples > (uint64_t)c->max_samples_per_request) {
    job->status = 413;
    job->why = VG_REJECT_SERIES_LIMIT;
    snprintf(job->error, sizeof job->error,
             "%llu samples, more than max_samples_per_request (%lld): "
             "nothing was kept; send it in smaller parts",
             (unsigned long long)job->samples,
             (long long)c->max_samples_per_request);
  } else if (!job->status && vg_batch_overflowed(job->batch)) {
    job->status = 413;
    snprintf(job->error, sizeof job->error,
             "too many samples in one request: nothing was kept; send it in "
             "smaller parts");
  }
}

/* --- back on the loop -------------------------------------------------- */

static void parse_done(uv_work_t *work, int status) {
  struct job *job = work->data;
  struct listen *l = job->l;
  if (status < 0 || l->stopping) {
    answer(job, 503, 0, 0, "the daemon is stopping; send it again later");
    return;
  }
  if (job->status) {
    /* One rejection for the whole request: counted, listed on the status
     * page and logged like any other. */
    const struct vg_emitter *e = vg_sink_emitter(l->sink);
    struct vg_location at = {.input = job->input};
    char detail[600];
    snprintf(detail, sizeof detail, "request refused (%u): %s", job->status,
             job->error);
    e->reject(e->arg, job->why, &at, detail);
    answer(job, job->status, 0, 0, job->error);
    return;
  }
  const struct vg_sink_stats *st = vg_sink_stats(l->sink);
  uint64_t before = st->samples_total;
  vg_sink_begin_update(l->sink, "push");
  vg_batch_replay(job->batch, vg_sink_emitter(l->sink));
  vg_sink_end(l->sink);
  struct accepted *a = vg_calloc(1, sizeof *a);
  a->job = job;
  a->accepted = st->samples_total - before;
  a->rejected = st->round_rejected;
  const struct vg_rejection *first = vg_sink_round_first_rejection(l->sink);
  if (first)
    snprintf(a->error, sizeof a->error,
             "partial write: %s: %s (%llu rejected, %llu accepted)",
             first->where, first->detail, (unsigned long long)a->rejected,
             (unsigned long long)a->accepted);
  vg_batch_free(job->batch);
  job->batch = NULL;
  vg_sink_sync(l->sink, durable, a);
}

/* --- handlers ---------------------------------------------------------- */

static void refuse(struct listen *l, enum endpoint ep,
                   struct vg_httpd_request *req, unsigned status,
                   const char *error) {
  reply(l, ep, req, status, 0, 0, error);
}

static void start_job(struct listen *l, struct vg_httpd_request *req,
                      enum endpoint ep, enum vg_lp_precision precision) {
  if (l->stopping) {
    refuse(l, ep, req, 503, "the daemon is stopping; send it again later");
    return;
  }
  const char *encoding = vg_httpd_header(req, "Content-Encoding");
  bool snappy = encoding && strcasecmp(encoding, "snappy") == 0;
  bool gzip = encoding && strcasecmp(encoding, "gzip") == 0;
  bool identity = !encoding || strcasecmp(encoding, "identity") == 0;
  if (ep == EP_REMOTE_WRITE ? !snappy : !(gzip || identity)) {
    refuse(l, ep, req, 415,
           ep == EP_REMOTE_WRITE
               ? "remote write bodies must be snappy-compressed protobuf "
                 "(Content-Encoding: snappy)"
               : "unsupported Content-Encoding: send identity or gzip");
    return;
  }
  struct job *job = vg_calloc(1, sizeof *job);
  job->l = l;
  job->req = req;
  job->ep = ep;
  job->precision = precision;
  job->input = vg_httpd_path(req);
  job->body = vg_httpd_body(req, &job->body_len);
  l->stats.endpoint[ep].bytes += job->body_len;
  job->encoding = gzip ? encoding : NULL;
  job->work.data = job;
  l->inflight++;
  int rc = uv_queue_work(l->loop, &job->work, parse_work, parse_done);
  if (rc < 0) {
    refuse(l, ep, req, 503, "cannot take the request now");
    job_free(job);
  }
}

/* The precision query parameter; -1 (after answering 400) when invalid. */
static int precision_of(struct listen *l, struct vg_httpd_request *req,
                        enum endpoint ep) {
  bool v1 = ep == EP_INFLUX_V1;
  const char *p = vg_httpd_query(req, "precision");
  if (!p || !*p)
    return VG_LP_NS;
  int prec = vg_lp_precision_parse(p);
  /* "n", "u", "m" and "h" are 1.x spellings; 2.x knows ns, us, ms, s. */
  bool v1_only = strcmp(p, "n") == 0 || strcmp(p, "u") == 0 ||
                 strcmp(p, "m") == 0 || strcmp(p, "h") == 0;
  if (prec < 0 || (!v1 && v1_only)) {
    refuse(l, ep, req, 400,
           v1 ? "invalid precision: use n, ns, u, us, ms, s, m or h"
              : "invalid precision: use ns, us, ms or s");
    return -1;
  }
  return prec;
}

static void on_influx_v1(void *ctx, struct vg_httpd_request *req) {
  int prec = precision_of(ctx, req, EP_INFLUX_V1);
  if (prec >= 0)
    start_job(ctx, req, EP_INFLUX_V1, (enum vg_lp_precision)prec);
}

static void on_influx_v2(void *ctx, struct vg_httpd_request *req) {
  int prec = precision_of(ctx, req, EP_INFLUX_V2);
  if (prec >= 0)
    start_job(ctx, req, EP_INFLUX_V2, (enum vg_lp_precision)prec);
}

static void on_json(void *ctx, struct vg_httpd_request *req) {
  start_job(ctx, req, EP_JSON, VG_LP_NS);
}

static void on_remote_write(void *ctx, struct vg_httpd_request *req) {
  start_job(ctx, req, EP_REMOTE_WRITE, VG_LP_NS);
}

/* The influx CLI and some agents ping before they write. */
static void on_ping(void *ctx, struct vg_httpd_request *req) {
  (void)ctx;
  vg_httpd_add_header(req, "X-Influxdb-Version", "1.8-villagemetrics");
  vg_httpd_add_header(req, "X-Influxdb-Build", "OSS");
  vg_httpd_respond(req, 204, NULL, NULL, 0);
}

/* --- the collector type ------------------------------------------------ */

static int listen_configure(void **ctx, const cJSON *cfg,
                            struct vg_cfg_err *err) {
  struct listen *l = vg_calloc(1, sizeof *l);
  int rc = vg_cfg_apply(listen_keys, &l->cfg, cfg, err);
  const struct listen_config *c = &l->cfg;
  if (!rc && !c->username != !c->password)
    rc = vg_cfg_error(err, cfg, "\"username\" and \"password\" go together");
  if (!rc && c->token && !c->token[0])
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "token"),
                      "\"token\" is empty: remove it to accept writes "
                      "without credentials");
  if (!rc && (c->max_labels < 1 || c->max_label_value < 1 ||
              c->max_samples_per_request < 1 || c->max_body < 1 ||
              c->max_decompressed < 1 || c->max_line < 1))
    rc = vg_cfg_error(err, cfg, "the max_ limits must be 1 or more");
  if (!rc && !(c->influxdb_v1 || c->influxdb_v2 || c->json || c->remote_write))
    rc = vg_cfg_error(err, cfg, "every endpoint is turned off");
  if (rc) {
    vg_cfg_release(listen_keys, &l->cfg);
    free(l);
    return rc;
  }
  l->stats.nendpoints = sizeof endpoint_paths / sizeof *endpoint_paths;
  for (size_t i = 0; i < l->stats.nendpoints; i++) {
    l->stats.endpoint[i].path = endpoint_paths[i];
    l->stats.endpoint[i].ok = i == EP_JSON ? "200" : "204";
  }
  l->auth = (struct vg_httpd_auth){.token = c->token,
                                   .username = c->username,
                                   .password = c->password,
                                   .query_credentials = true};
  *ctx = l;
  return 0;
}

static int add_routes(struct listen *l) {
  const struct {
    bool on;
    const char *method, *path;
    vg_httpd_handler fn;
    size_t max_body;
  } routes[] = {
      {l->cfg.influxdb_v1, "POST", "/write", on_influx_v1, l->cfg.max_body},
      {l->cfg.influxdb_v1, "GET", "/ping", on_ping, 0},
      {l->cfg.influxdb_v1, "HEAD", "/ping", on_ping, 0},
      {l->cfg.influxdb_v2, "POST", "/api/v2/write", on_influx_v2,
       l->cfg.max_body},
      {l->cfg.json, "POST", "/api/v1/push", on_json, l->cfg.max_body},
      {l->cfg.remote_write, "POST", "/api/v1/write", on_remote_write,
       l->cfg.max_body},
  };
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
    if (!routes[i].on)
      continue;
    int rc = vg_httpd_route(l->http, routes[i].method, routes[i].path,
                            routes[i].max_body, routes[i].fn, l, l);
    /* /ping stays open: clients check it before they authenticate. */
    if (rc == 0 && routes[i].max_body)
      rc = vg_httpd_route_auth(l->http, routes[i].method, routes[i].path,
                               &l->auth);
    if (rc < 0) {
      vg_log(VG_LOG_ERR,
             "collector %s: %s %s is served by another collector already",
             l->name, routes[i].method, routes[i].path);
      vg_httpd_unroute(l->http, l);
      return rc;
    }
  }
  return 0;
}

static int listen_start(void *ctx, const struct vg_collector_env *env) {
  struct listen *l = ctx;
  l->loop = env->loop;
  l->sink = env->sink;
  l->name = vg_strdup(env->name);
  l->http = env->http;
  /* --test: nothing is listening. */
  int rc = l->http ? add_routes(l) : 0;
  if (rc < 0)
    return rc;
  uv_idle_init(l->loop, &l->closer);
  l->closer.data = l;
  return 0;
}

static void closer_closed(uv_handle_t *h) {
  struct listen *l = h->data;
  l->closer_closed = true;
  maybe_stopped(l);
}

static void listen_stop(void *ctx, void (*stopped)(void *arg), void *arg) {
  struct listen *l = ctx;
  l->stopping = true;
  l->stopped = stopped;
  l->stopped_arg = arg;
  if (l->http)
    vg_httpd_unroute(l->http, l);
  /* Requests in flight are answered first: those in the thread pool with
   * 503, those waiting for the journal once it has answered. */
  uv_close((uv_handle_t *)&l->closer, closer_closed);
}

static void listen_destroy(void *ctx) {
  struct listen *l = ctx;
  if (!l)
    return;
  vg_cfg_release(listen_keys, &l->cfg);
  free(l->name);
  free(l);
}

static const struct vg_push_stats *listen_push_stats(void *ctx) {
  struct listen *l = ctx;
  l->shown = l->stats;
  for (size_t i = 0; l->http && i < l->shown.nendpoints; i++) {
    struct vg_httpd_refusals r;
    if (vg_httpd_route_refusals(l->http, "POST", endpoint_paths[i], &r) == 0) {
      l->shown.endpoint[i].requests[VG_PUSH_401] += r.unauthorized;
      l->shown.endpoint[i].requests[VG_PUSH_413] += r.too_large;
    }
  }
  return &l->shown;
}

const struct vg_collector_type vg_collector_listen = {
    .name = "listen",
    .description =
        "Takes pushed samples on the daemon's HTTP server: InfluxDB line "
        "protocol (/write, /api/v2/write), JSON (/api/v1/push) and "
        "Prometheus remote write (/api/v1/write), each answered once its "
        "samples are durable in the journal.",
    .config_tables = listen_tables,
    .configure = listen_configure,
    .start = listen_start,
    .stop = listen_stop,
    .destroy = listen_destroy,
    .push_stats = listen_push_stats,
};
