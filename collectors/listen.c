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
 * A request goes: credentials -> its memory taken from the collector's
 * budget (max_memory) -> the body decompressed and parsed in the thread
 * pool into a batch (so a large body never holds the loop; a small one is
 * parsed on the loop, INLINE_BODY), at most one parse fewer than the pool
 * has threads at a time -> the request's caps
 * checked (nothing is accepted from a request over them) -> the batch
 * into the sink in slices of a few milliseconds, each an update round,
 * taking turns with the other requests' slices -> the journal's group
 * commit -> the answer.  The sender is answered only once what it sent is
 * durable: 204 (200 with counts for JSON) when all was taken, 400 naming
 * the first bad line or value when some was refused (the rest is kept, as
 * InfluxDB does), 413 when it is over a cap (or alone needs more than
 * max_memory), 503 with Retry-After when the journal could not take it or
 * other requests hold the memory it needs.
 *
 * Memory of a request, at most (docs/configuration.md, "Memory of the
 * push endpoints"): its body, its decompressed copy, what its parser
 * builds (a JSON tree up to 16 times the body, remote write's labels and
 * samples of its largest series) and its batch (128 bytes a sample plus 8
 * times the body); each part is taken from the budget before or as it is
 * allocated, and given back when it is freed.
 *
 * Owns its routes and every request in flight; stop() waits for the last
 * of them to be answered.  Must never answer before the journal has
 * answered, never block the loop on a body, and never hold the loop for
 * more than a slice of a request.
 */
#include "collectors/collector.h"
#include "collectors/listen.h"
#include "daemon/pipeline/batch.h"
#include "daemon/util/budget.h"
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

/* Memory a request's parse is expected to take, in times its body, taken
 * from the budget when the request arrives. */
#define PARSE_AHEAD 4
/* How long a refused sender should wait before trying again. */
#define RETRY_AFTER_S "5"
/* What a request takes beyond its body, decompressed copy, tree and
 * batch: the parsers' line buffers, locations, the job itself. */
#define REQUEST_OVERHEAD ((uint64_t)1 << 20)
/* A JSON body's tree may take this many times the body (and 1 MiB): a
 * push body takes 5 to 13 times, a list of zeros 41. */
#define JSON_TREE_FACTOR 16
/* A batch may take 128 bytes a sample (a 64-byte entry, twice while its
 * array doubles) plus this many times the body, for strings and labels. */
#define BATCH_SAMPLE_BYTES 128
#define BATCH_BODY_FACTOR 8
/* The loop gives a turn's replay this long before it serves others. */
#define SLICE_NS ((uint64_t)4 * 1000 * 1000)
/* Calls replayed between looks at the clock. */
#define SLICE_STEP 256
/* Rejections of a request logged one by one, as the sink does of a round;
 * the rest in one line. */
#define LOGGED_ONE_BY_ONE 5
/* A body that says it decodes to no more than this waits in the small
 * requests' queue. */
#define SMALL_BODY ((size_t)1 << 20)
/* A body of line protocol or remote write (not gzipped, and saying it
 * decodes to no more) of at most this is parsed on the loop, at once: a
 * trip through the thread pool and back wakes a thread and then the loop,
 * and for a hundred lines that costs more than their parse (measured in
 * bench/README.md, "Issue #15, fifth round").  Into its batch a body takes
 * 3 to 15 ms per MB (ordinary lines to lines of escapes, or remote write
 * of 30 labels a series, timed), so one of 64 KiB holds the loop about a
 * millisecond at most, a quarter of a turn of the replay (SLICE_NS). */
#define INLINE_BODY ((size_t)64 << 10)
/* Decompression buffers kept for the next requests (struct listen), and
 * the most memory a kept buffer or batch (VG_BATCH_SPARES) may hold. */
#define SPARE_BUFS 2
#define SPARE_MAX ((size_t)8 << 20)

struct listen_config {
  bool influxdb_v1, influxdb_v2, json, remote_write;
  char *token, *username, *password;
  uint64_t max_body, max_decompressed, max_line, max_memory;
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
     "and nothing of it is kept, so the sender can split it. Also the most "
     "series one remote-write request may carry.",
     false},
    {"max_memory", VG_CFG_SIZE, "512MiB",
     offsetof(struct listen_config, max_memory),
     "Memory the requests in flight may hold together: bodies, their "
     "decompressed copies, what parsing builds and the samples waiting for "
     "the store. A request that would pass it is answered 503 with "
     "Retry-After, or 413 when it alone needs more. See \"Memory of the "
     "push endpoints\".",
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

struct job;

/* A FIFO of jobs, linked through job->next. */
struct job_queue {
  struct job *head, *tail;
};

struct listen {
  struct listen_config cfg;
  struct vg_httpd_auth auth;
  uv_loop_t *loop;
  struct vg_sink *sink;
  struct vg_httpd *http;
  char *name;
  unsigned inflight; /* requests not answered yet */
  /* Batches of answered requests, emptied, for the next parses: a fresh
   * one per request was faulted in again in the thread pool (3% of the
   * daemon's CPU in bench/run-intake.sh --quick --profile).  Owned;
   * outside the budget while they wait, at most VG_BATCH_SPARES of
   * SPARE_MAX. */
  struct vg_batch_spares spares;
  /* The same for the buffers a body is decompressed into (gzip's copy,
   * snappy's): a fresh one per request was a sixth of the daemon's CPU
   * with vmagent sending it remote write.  Owned, at most SPARE_BUFS
   * of SPARE_MAX, outside the budget while they wait. */
  struct vg_buf spare_bufs[SPARE_BUFS];
  unsigned nspare_bufs;
  struct vg_push_stats stats; /* what the handlers answered */
  struct vg_push_stats shown; /* with what the server answered itself */
  struct vg_budget budget;    /* max_memory, shared by every request */
  /* Parses in the thread pool, at most max_parsing, and of large bodies
   * (by what they say they decode to) one fewer: the others wait, small
   * ones first, so that bombs and huge pushes never hold up a small one
   * for longer than a small one's parse. */
  unsigned parsing, parsing_large, max_parsing;
  struct job_queue waiting_small, waiting;
  /* Parsed requests whose batches go into the sink, a slice each per
   * turn of the loop, while `replayer` runs. */
  struct job_queue replaying;
  uv_idle_t replayer;
  bool replayer_closed;
  bool stopping;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

/* One request from its handler to its answer.  Owned by the listener's
 * inflight count; freed after the answer. */
struct job {
  uv_work_t work;
  struct job *next;           /* in a waiting queue or l->replaying */
  bool large;                 /* says it decodes to more than SMALL_BODY */
  struct vg_budget_hold hold; /* all the request's memory */
  struct listen *l;
  struct vg_httpd_request *req;
  enum endpoint ep;
  enum vg_lp_precision precision;
  const char *input; /* the path, for locations */
  const char *body;  /* the request's, valid until the answer */
  size_t body_len;
  const char *encoding;   /* Content-Encoding, or NULL */
  struct vg_batch *spare; /* a batch to recycle, taken on the loop */
  /* The body decompressed (gzip) or the snappy copy of a remote write:
   * owned, taken from the spares on the loop and given back there once
   * parsed; its memory counted by the parse while it is used. */
  struct vg_buf plain;
  uint64_t plain_held; /* of the budget, for the gzip copy */
  /* Filled in the thread pool: */
  struct vg_batch *batch;
  struct vg_emitter intake; /* checks the caps, then into the batch */
  /* The parser's current label run (vg_emitter.label_run), and whether
   * it passed the caps: a point's fields are checked once. */
  const struct vg_label *run;
  size_t run_n;
  bool run_ok;
  uint64_t samples;
  unsigned status; /* non-zero: answer this without accepting anything */
  enum vg_reject_reason why; /* of a whole request refused */
  char error[512];
  /* The replay, on the loop: where it is in the batch, what the sink took
   * and refused so far, and the slices' acknowledgements not yet in. */
  size_t pos;
  uint64_t accepted, rejected, counted_only;
  uint64_t rejected_by[VG_REJECT_REASON_COUNT];
  unsigned syncs_pending;
  int sync_status; /* the first failure of a slice's sync */
  bool replayed;
  bool has_first;
  char first[720]; /* the first rejection's where and detail, answered */
};

/* --- answering ------------------------------------------------------- */

/* Stopped once the replayer is closed and the last request is
 * answered. */
static void maybe_stopped(struct listen *l) {
  if (l->inflight || !l->replayer_closed || !l->stopped)
    return;
  void (*stopped)(void *) = l->stopped;
  l->stopped = NULL;
  stopped(l->stopped_arg);
}

/* Keeps a decompression buffer for a later request (SPARE_BUFS of
 * SPARE_MAX) or frees it; *b is left empty. */
static void keep_buf(struct listen *l, struct vg_buf *b) {
  if (b->data && l->nspare_bufs < SPARE_BUFS && b->cap <= SPARE_MAX)
    l->spare_bufs[l->nspare_bufs++] = *b;
  else
    free(b->data);
  vg_buf_init(b, 0);
}

static void job_free(struct job *job) {
  struct listen *l = job->l;
  vg_batch_keep(&l->spares, job->batch, SPARE_MAX);
  vg_batch_keep(&l->spares, job->spare, SPARE_MAX);
  keep_buf(l, &job->plain);
  vg_budget_release(&job->hold);
  free(job);
  l->inflight--;
  maybe_stopped(l);
}

/* The answer to a refusal of the memory budget: someone else's memory
 * (later), or this request alone is too large. */
static unsigned budget_status(int rc) {
  return rc == -EFBIG ? 413 : 503;
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

/* One debug line per push: who sent how much, and what came of it. */
static void log_push(const struct listen *l, enum endpoint ep,
                     const struct vg_httpd_request *req, unsigned status,
                     uint64_t accepted, uint64_t rejected, const char *error) {
  char client[64];
  vg_httpd_client(req, client, sizeof client);
  size_t bytes = 0;
  vg_httpd_body(req, &bytes);
  vg_log(VG_LOG_DEBUG,
         "collector %s: push from %s to %s: %zu bytes, %llu samples "
         "accepted, %llu rejected: %u%s%s",
         l->name, client, endpoint_paths[ep], bytes,
         (unsigned long long)accepted, (unsigned long long)rejected, status,
         error ? " " : "", error ? error : "");
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
  if (vg_log_enabled(VG_LOG_DEBUG))
    log_push(l, ep, req, status, accepted, rejected, error);
  const char *type = NULL;
  char *body = answer_body(ep, accepted, rejected, error, &type);
  vg_httpd_respond(req, status, type, body, body ? strlen(body) : 0);
}

static void answer(struct job *job, unsigned status, uint64_t accepted,
                   uint64_t rejected, const char *error) {
  reply(job->l, job->ep, job->req, status, accepted, rejected, error);
  job_free(job);
}

/* --- parsing, in the thread pool (or on the loop, INLINE_BODY) ------- */

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
  bool in_run = job->run && labels == job->run && n == job->run_n;
  if (!(in_run && job->run_ok)) {
    if (over_caps(job, labels, n, where))
      return;
    job->run_ok = in_run;
  }
  /* Past the cap nothing more is kept: the whole request is refused. */
  if (++job->samples > (uint64_t)job->l->cfg.max_samples_per_request)
    return;
  const struct vg_emitter *b = vg_batch_emitter(job->batch);
  b->sample(b->arg, metric, labels, n, value, ts_ms, where);
}

static void intake_label_run(void *arg, const struct vg_label *labels,
                             size_t n) {
  struct job *job = arg;
  job->run = labels;
  job->run_n = n;
  job->run_ok = false;
  const struct vg_emitter *b = vg_batch_emitter(job->batch);
  b->label_run(b->arg, labels, n);
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

/* The answer to a decoder's or a budget's refusal of the whole body. */
static unsigned refusal_status(int rc) {
  switch (rc) {
  case -EMSGSIZE:
  case -E2BIG:
  case -EFBIG:
    return 413;
  case -EAGAIN:
    return 503;
  default:
    return 400;
  }
}

static void parse_body(struct job *job, const char *data, size_t len) {
  const struct listen_config *c = &job->l->cfg;
  size_t max_samples = (size_t)c->max_samples_per_request;
  if (job->ep == EP_REMOTE_WRITE) {
    struct rw_walk w = {.job = job};
    struct vg_prompb_visitor v = {rw_series, rw_reject, &w};
    struct vg_prompb_limits lim = {
        .max_uncompressed = c->max_decompressed,
        .max_labels = (size_t)c->max_labels + 1, /* and __name__ */
        .max_series = max_samples,
        .max_samples = max_samples,
        .hold = &job->hold,
        /* Free: a remote write is snappy, never gzip (the handler). */
        .raw = &job->plain,
    };
    int rc = vg_prompb_decode_limited(data, len, &lim, &v, job->error,
                                      sizeof job->error);
    if (rc == -E2BIG) {
      size_t n = strlen(job->error);
      snprintf(job->error + n, sizeof job->error - n,
               " (max_samples_per_request): nothing was kept; send it in "
               "smaller parts");
    }
    if (rc)
      job->status = refusal_status(rc);
    return;
  }
  if (job->ep == EP_JSON) {
    struct vg_json_limits lim = {
        .max_bytes = JSON_TREE_FACTOR * len + (1 << 20), .hold = &job->hold};
    int rc = vg_pushjson_run_limited(job->input, data, len, &lim, &job->intake,
                                     job->error, sizeof job->error);
    if (rc == -EMSGSIZE) {
      size_t n = strlen(job->error);
      snprintf(job->error + n, sizeof job->error - n,
               " (%d times its size): nothing was kept; send it in smaller "
               "parts",
               JSON_TREE_FACTOR);
    }
    if (rc)
      job->status = refusal_status(rc);
    return;
  }
  struct vg_lp_limits limits = {.max_line = c->max_line,
                                .max_tags = (size_t)c->max_labels,
                                .max_line_key = "max_line",
                                .max_tags_key = "max_labels"};
  /* Room for two samples a line and strings of the body's size, made
   * once: doubling from nothing copied and faulted in the batch's arrays
   * a dozen times a request (a fifth of the daemon's time in the intake
   * benchmark).  A line's tags are kept with a NUL for each '=' and ',',
   * so its strings are never much more than the line; half the body,
   * enough for four tags, was copied twice more for twelve (a seventh of
   * the daemon's CPU, bench/run-intake.sh --extra-tags 8).  Past the
   * estimate the batch grows as before. */
  size_t lines = 1;
  for (const char *p = data, *end = data + len;
       (p = memchr(p, '\n', (size_t)(end - p))); p++)
    lines++;
  size_t cap = (size_t)c->max_samples_per_request + 1;
  vg_batch_reserve(job->batch, 2 * lines < cap ? 2 * lines : cap, len);
  vg_lp_samples(job->input, data, len, job->precision, &limits, &job->intake,
                NULL);
}

static void budget_error(struct job *job, int rc, const char *what) {
  job->status = budget_status(rc);
  if (rc == -EFBIG)
    snprintf(job->error, sizeof job->error,
             "the request needs more memory than max_memory (%llu bytes) "
             "allows, for %s: nothing was kept; send it in smaller parts",
             (unsigned long long)job->l->cfg.max_memory, what);
  else
    snprintf(job->error, sizeof job->error,
             "other requests hold the memory this one needs now "
             "(max_memory %llu bytes): nothing was kept; send it again later",
             (unsigned long long)job->l->cfg.max_memory);
}

/* The body as the parser reads it: itself, or its gzip decoded into
 * job->plain, made to its size or kept larger from an earlier request
 * (the size known first without keeping anything, so that a bomb costs
 * no memory) and taken from the budget at its whole size.  *data NULL
 * after setting the job's status. */
static void plain_body(struct job *job, const char **data, size_t *len) {
  struct vg_buf *plain = &job->plain;
  const struct listen_config *c = &job->l->cfg;
  *data = job->body;
  *len = job->body_len;
  if (!job->encoding) {
    if (*len > c->max_decompressed) {
      job->status = 413;
      snprintf(job->error, sizeof job->error,
               "the body is over max_decompressed (%llu bytes)",
               (unsigned long long)c->max_decompressed);
      *data = NULL;
    }
    return;
  }
  size_t size;
  int rc = vg_gunzip_size(*data, *len, c->max_decompressed, &size, job->error,
                          sizeof job->error);
  /* size + 1: the byte past the end is where vg_gunzip finds the end
   * of the stream. */
  if (!rc && (rc = vg_budget_take_buf(&job->hold, plain, size + 1,
                                      &job->plain_held)) != 0) {
    budget_error(job, rc, "its decompressed body");
    *data = NULL;
    return;
  }
  if (!rc)
    rc = vg_gunzip(*data, *len, size, plain, job->error, sizeof job->error);
  if (rc) {
    job->status = rc == -EMSGSIZE ? 413 : 400;
    *data = NULL;
    return;
  }
  *data = plain->data ? plain->data : "";
  *len = plain->len;
}

static void parse_work(uv_work_t *work) {
  struct job *job = work->data;
  const struct listen_config *c = &job->l->cfg;
  job->intake = (struct vg_emitter){.sample = intake_sample,
                                    .reject = intake_reject,
                                    .label_run = intake_label_run,
                                    .arg = job};
  const char *data;
  size_t len;
  plain_body(job, &data, &len);
  if (!data) {
    /* Refused before parsing: the batch stays empty. */
    vg_budget_give(&job->hold, job->plain_held);
    job->plain_held = 0;
    job->batch = vg_batch_new(0);
    return;
  }
  size_t decoded = len;
  if (job->ep == EP_REMOTE_WRITE)
    vg_prompb_uncompressed_length(data, len, &decoded);
  /* Everything the batch allocates counts, within a cap that no request
   * under max_samples_per_request passes: 128 bytes a sample, and its
   * strings and labels, at most 8 times the body. */
  size_t max = BATCH_SAMPLE_BYTES *
                   ((size_t)c->max_samples_per_request + VG_BATCH_DETAILED) +
               BATCH_BODY_FACTOR * decoded + (1 << 20);
  if (job->spare) {
    vg_batch_recycle(job->spare, max);
    job->batch = job->spare;
    job->spare = NULL;
  } else {
    job->batch = vg_batch_new(max);
  }
  vg_batch_set_hold(job->batch, &job->hold);
  parse_body(job, data, len);
  vg_budget_give(&job->hold, job->plain_held);
  job->plain_held = 0;
  int batch_rc = vg_batch_error(job->batch);
  if (!job->status && job->samples > (uint64_t)c->max_samples_per_request) {
    job->status = 413;
    job->why = VG_REJECT_SERIES_LIMIT;
    snprintf(job->error, sizeof job->error,
             "%llu samples, more than max_samples_per_request (%lld): "
             "nothing was kept; send it in smaller parts",
             (unsigned long long)job->samples,
             (long long)c->max_samples_per_request);
  } else if (!job->status && (batch_rc == -EAGAIN || batch_rc == -EFBIG)) {
    budget_error(job, batch_rc, "its samples");
  } else if (!job->status && batch_rc) {
    job->status = 413;
    snprintf(job->error, sizeof job->error,
             "too many samples in one request: nothing was kept; send it in "
             "smaller parts");
  }
  if (job->status) {
    /* Nothing of it is kept: its memory goes back now, not after the
     * answer. */
    vg_batch_free(job->batch);
    job->batch = vg_batch_new(0);
  }
}

/* --- back on the loop -------------------------------------------------- */

static void replayer_closed(uv_handle_t *h) {
  struct listen *l = h->data;
  l->replayer_closed = true;
  maybe_stopped(l);
}

static void queue_push(struct job_queue *q, struct job *job) {
  job->next = NULL;
  if (q->tail)
    q->tail->next = job;
  else
    q->head = job;
  q->tail = job;
}

static struct job *queue_pop(struct job_queue *q) {
  struct job *job = q->head;
  if (job && !(q->head = job->next))
    q->tail = NULL;
  return job;
}

static void parse_done(uv_work_t *work, int status);

/* A kept batch for the job's parse to recycle, if there is one, and a
 * kept buffer when its body is decompressed (an identity body is read
 * where it is, and would keep the buffer from a request that needs it). */
static void take_spare(struct job *job) {
  struct listen *l = job->l;
  if (l->spares.n && !job->spare)
    job->spare = l->spares.b[--l->spares.n];
  if ((job->encoding || job->ep == EP_REMOTE_WRITE) && l->nspare_bufs &&
      !job->plain.data)
    job->plain = l->spare_bufs[--l->nspare_bufs];
}

static int start_parse(struct job *job) {
  struct listen *l = job->l;
  take_spare(job);
  int rc = uv_queue_work(l->loop, &job->work, parse_work, parse_done);
  if (rc == 0) {
    l->parsing++;
    l->parsing_large += job->large;
  }
  return rc;
}

/* Whether a parse of this size may start now: one slot is kept for small
 * bodies when there are two or more. */
static bool may_parse(const struct listen *l, bool large) {
  unsigned max_large = l->max_parsing > 1 ? l->max_parsing - 1 : 1;
  return l->parsing < l->max_parsing &&
         (!large || l->parsing_large < max_large);
}

/* Takes the next waiting requests into the thread pool, while parses may
 * start. */
static void next_parse(struct listen *l) {
  for (;;) {
    struct job_queue *q = l->waiting_small.head && may_parse(l, false)
                              ? &l->waiting_small
                          : l->waiting.head && may_parse(l, true) ? &l->waiting
                                                                  : NULL;
    if (!q)
      return;
    struct job *job = queue_pop(q);
    if (start_parse(job) < 0)
      answer(job, 503, 0, 0, "cannot take the request now");
  }
}

/* Answers once the whole batch is in the sink and every slice's samples
 * are durable. */
static void maybe_answer(struct job *job) {
  if (!job->replayed || job->syncs_pending)
    return;
  if (job->sync_status < 0) {
    char error[160];
    snprintf(error, sizeof error,
             "not stored: the journal could not take the samples (%s); "
             "send them again later",
             strerror(-job->sync_status));
    answer(job, 503, 0, 0, error);
    return;
  }
  char error[1024] = ""; /* job->first and the counts */
  if (job->rejected) {
    char more[96] = "";
    if (job->counted_only)
      snprintf(more, sizeof more, ", details kept for the first %d",
               VG_BATCH_DETAILED);
    snprintf(error, sizeof error,
             "partial write: %s (%llu rejected%s; %llu accepted)", job->first,
             (unsigned long long)job->rejected, more,
             (unsigned long long)job->accepted);
  }
  answer(job, job->rejected ? 400 : 204, job->accepted, job->rejected,
         job->rejected ? error : NULL);
}

static void slice_durable(void *arg, int status) {
  struct job *job = arg;
  job->syncs_pending--;
  if (status < 0 && !job->sync_status)
    job->sync_status = status;
  maybe_answer(job);
}

/* The request's rejections past those logged one by one, in one line. */
static void log_rejections(const struct job *job) {
  if (job->rejected <= LOGGED_ONE_BY_ONE)
    return;
  char counts[256] = "";
  size_t len = 0;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
    if (job->rejected_by[r] && len < sizeof counts)
      len += (size_t)snprintf(counts + len, sizeof counts - len, "%s%s %llu",
                              len ? ", " : "", vg_reject_reason_name(r),
                              (unsigned long long)job->rejected_by[r]);
  vg_log(VG_LOG_WARNING,
         "collector %s: %s: %llu rejected values in one request (%s), the "
         "first few logged one by one; see /api/v1/status",
         job->l->name, job->input, (unsigned long long)job->rejected, counts);
}

/* One slice of a request's batch into the sink, as an update round of its
 * own (rounds of a push remove nothing, so a request in several rounds is
 * the same as in one), and its appends' sync.  True when the batch is
 * all in. */
static bool replay_slice(struct job *job, uint64_t deadline) {
  struct listen *l = job->l;
  const struct vg_sink_stats *st = vg_sink_stats(l->sink);
  uint64_t before = st->samples_total;
  uint64_t rejected_before[VG_REJECT_REASON_COUNT];
  memcpy(rejected_before, st->rejected, sizeof rejected_before);
  bool done = false;
  vg_sink_begin_update(l->sink, "push");
  /* The first few of the request's rejections are logged, and one line
   * for all of them at its end (log_rejections), not a few and a line for
   * every slice. */
  vg_sink_round_log(l->sink, job->rejected < LOGGED_ONE_BY_ONE
                                 ? VG_SINK_LOG_FEW
                                 : VG_SINK_LOG_NONE);
  do
    done = vg_batch_replay_some(job->batch, vg_sink_emitter(l->sink), &job->pos,
                                SLICE_STEP);
  while (!done && uv_hrtime() < deadline);
  const struct vg_rejection *first = vg_sink_round_first_rejection(l->sink);
  if (first && !job->has_first) {
    job->has_first = true;
    snprintf(job->first, sizeof job->first, "%s: %s", first->where,
             first->detail);
  }
  vg_sink_end(l->sink);
  job->accepted += st->samples_total - before;
  job->rejected += st->round_rejected;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
    job->rejected_by[r] += st->rejected[r] - rejected_before[r];
  /* The sync may answer at once (nothing appended, or no journal). */
  job->syncs_pending++;
  vg_sink_sync(l->sink, slice_durable, job);
  return done;
}

/* A turn of the loop: slices of the requests being replayed, each in
 * turn, until SLICE_NS have passed; then the loop serves the others
 * (/healthz, scrapes, other requests) before the next turn. */
static void on_replay_turn(uv_idle_t *idle) {
  struct listen *l = idle->data;
  uint64_t deadline = uv_hrtime() + SLICE_NS;
  while (l->replaying.head && uv_hrtime() < deadline) {
    struct job *job = queue_pop(&l->replaying);
    if (!replay_slice(job, deadline)) {
      queue_push(&l->replaying, job);
      continue;
    }
    job->counted_only = vg_batch_rejections_counted(job->batch);
    log_rejections(job);
    /* Its memory goes back to the budget now, the answer waits for the
     * journal; the batch itself is kept, emptied, for the next parse
     * (freeing it here left nothing to keep, and every parse
     * faulted in a fresh arena and entries: 6% of the daemon's CPU with
     * eight more tags a line, bench/run-intake.sh --extra-tags 8). */
    vg_batch_keep(&l->spares, job->batch, SPARE_MAX);
    job->batch = NULL;
    job->replayed = true;
    maybe_answer(job);
  }
  if (!l->replaying.head) {
    uv_idle_stop(&l->replayer);
    if (l->stopping && !uv_is_closing((uv_handle_t *)&l->replayer))
      uv_close((uv_handle_t *)&l->replayer, replayer_closed);
  }
}

/* A parsed request: refused whole, or into the sink a slice per turn. */
static void parsed(struct job *job, int status) {
  struct listen *l = job->l;
  keep_buf(l, &job->plain); /* nothing parsed points into it */
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
  /* Into the sink a slice per turn of the loop: a million samples would
   * otherwise hold it for seconds. */
  queue_push(&l->replaying, job);
  uv_idle_start(&l->replayer, on_replay_turn);
}

static void parse_done(uv_work_t *work, int status) {
  struct job *job = work->data;
  struct listen *l = job->l;
  l->parsing--;
  l->parsing_large -= job->large;
  next_parse(l);
  parsed(job, status);
}

/* --- handlers ---------------------------------------------------------- */

static void refuse(struct listen *l, enum endpoint ep,
                   struct vg_httpd_request *req, unsigned status,
                   const char *error) {
  reply(l, ep, req, status, 0, 0, error);
}

/* What a body says it decodes to, read without decoding it: its length,
 * snappy's header, or gzip's trailer (the last member's size, modulo
 * 4 GiB).  Only to order the waiting requests: a body that lies about it
 * is still decoded within max_decompressed. */
static size_t said_size(const struct job *job) {
  const unsigned char *b = (const unsigned char *)job->body;
  size_t n = job->body_len, out = n;
  if (job->ep == EP_REMOTE_WRITE)
    vg_prompb_uncompressed_length(job->body, n, &out);
  else if (job->encoding && n >= 18)
    out = (size_t)b[n - 4] | (size_t)b[n - 3] << 8 | (size_t)b[n - 2] << 16 |
          (size_t)b[n - 1] << 24;
  return out;
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
  /* The body is held until the answer (read into a buffer that doubled
   * as it grew), and a request's small change besides. */
  vg_budget_hold_init(&job->hold, &l->budget);
  uint64_t body = 256;
  while (body <= job->body_len)
    body *= 2;
  int rc = vg_budget_take(&job->hold, body + REQUEST_OVERHEAD);
  /* The parse's share is taken ahead too (PARSE_AHEAD times the body: the
   * parsed entries of a line-protocol body), so that of requests arriving
   * together one goes through and the others are told 503 at once, rather
   * than each holding its body and all failing halfway through their
   * parse.  A request that could never have that much alone still tries,
   * taking as it goes. */
  if (!rc) {
    int ahead = vg_budget_reserve(&job->hold, PARSE_AHEAD * body);
    /* Taken as it is counted and remembered, for the answer and the
     * refusal counts (it fails again unless memory came free). */
    if (ahead == -EAGAIN)
      rc = vg_budget_take(&job->hold, PARSE_AHEAD * body);
  }
  if (rc) {
    budget_error(job, rc, "its body");
    answer(job, job->status, 0, 0, job->error);
    return;
  }
  size_t said = said_size(job);
  job->large = said > SMALL_BODY;
  /* A gzip trailer's size may lie, and a JSON body's tree and records
   * cost several times a line's parse: those always go to the pool. */
  if (!job->encoding && job->ep != EP_JSON && said <= INLINE_BODY) {
    take_spare(job);
    parse_work(&job->work);
    parsed(job, 0);
  } else if (may_parse(l, job->large)) {
    if (start_parse(job) < 0)
      answer(job, 503, 0, 0, "cannot take the request now");
  } else {
    queue_push(job->large ? &l->waiting : &l->waiting_small, job);
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
  if (!rc && c->max_memory < 1)
    rc = vg_cfg_error(err, cfg, "\"max_memory\" must be 1 or more");
  if (rc) {
    vg_cfg_release(listen_keys, &l->cfg);
    free(l);
    return rc;
  }
  vg_budget_init(&l->budget, c->max_memory);
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

/* Parses that may run at once: one fewer than libuv's pool has threads
 * (UV_THREADPOOL_SIZE, 4 by default), so that file scans, HTTP answers
 * and journal reads always find one, whatever is pushed. */
static unsigned parse_slots(void) {
  const char *env = getenv("UV_THREADPOOL_SIZE");
  long n = env && *env ? strtol(env, NULL, 10) : 4;
  if (n < 1)
    n = 1;
  if (n > 1024)
    n = 1024;
  return n > 1 ? (unsigned)n - 1 : 1;
}

static int listen_start(void *ctx, const struct vg_collector_env *env) {
  struct listen *l = ctx;
  l->loop = env->loop;
  l->sink = env->sink;
  l->name = vg_strdup(env->name);
  l->http = env->http;
  l->max_parsing = parse_slots();
  /* --test: nothing is listening. */
  int rc = l->http ? add_routes(l) : 0;
  if (rc < 0)
    return rc;
  /* Started while there are batches to replay; closing it in stop() also
   * makes `stopped` run from the loop and never from inside stop()
   * (collectors/collector.h), even when no request is in flight. */
  uv_idle_init(l->loop, &l->replayer);
  l->replayer.data = l;
  return 0;
}

static void listen_stop(void *ctx, void (*stopped)(void *arg), void *arg) {
  struct listen *l = ctx;
  l->stopping = true;
  l->stopped = stopped;
  l->stopped_arg = arg;
  if (l->http)
    vg_httpd_unroute(l->http, l);
  /* Requests in flight are answered first: those waiting for a parse and
   * those in the thread pool with 503, those being replayed once they are
   * in and the journal has answered (the replayer closes then). */
  struct job *job;
  while ((job = queue_pop(&l->waiting_small)) != NULL ||
         (job = queue_pop(&l->waiting)) != NULL)
    answer(job, 503, 0, 0, "the daemon is stopping; send it again later");
  if (!l->replaying.head)
    uv_close((uv_handle_t *)&l->replayer, replayer_closed);
}

static void listen_destroy(void *ctx) {
  struct listen *l = ctx;
  if (!l)
    return;
  vg_cfg_release(listen_keys, &l->cfg);
  vg_batch_spares_free(&l->spares);
  while (l->nspare_bufs)
    vg_buf_free(&l->spare_bufs[--l->nspare_bufs]);
  free(l->name);
  free(l);
}

static const struct vg_push_stats *listen_push_stats(void *ctx) {
  struct listen *l = ctx;
  l->shown = l->stats;
  l->shown.memory_bytes = vg_budget_used(&l->budget);
  l->shown.memory_peak_bytes = atomic_load(&l->budget.peak);
  l->shown.memory_limit_bytes = l->budget.limit;
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
