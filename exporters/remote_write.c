/* exporters/remote_write.c - Prometheus remote write 1.0, pushed.
 *
 * Turns a batch of journal records into one WriteRequest (labels sorted
 * with __name__, records of one series grouped, its samples in timestamp
 * order; series in the order they first appear in the batch), sends it
 * with the spec's headers through daemon/http_out, and says what the
 * answer means: 2xx OK; 429 and 5xx RETRY (with Retry-After); network
 * errors RETRY; 401/403/404 and redirects RETRY as misconfigured (the
 * data waits for a fixed configuration); every other 4xx DROP, counted as
 * out_of_order when the server says the samples are duplicates, out of
 * order or too old (what a replay after a restart provokes), else as
 * bad_request.
 *
 * Owns: its configuration, its HTTP client, and scratch arrays reused
 * from one flush to the next, so that a steady state allocates nothing
 * per sample.  Must never: retry a 4xx other than 401/403/404/429 (a bad
 * batch would block the cursor forever), let the user's headers replace
 * the protocol's, or call done after stop.
 */
#include "daemon/util/hashtab.h"
#include "daemon/net/http_client.h"
#include "daemon/util/mem.h"
#include "daemon/formats/prompb.h"
#include "exporters/exporter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request larger than this is not sent: remote-write receivers refuse
 * far smaller ones (Prometheus reads at most 32 MiB uncompressed). */
#define MAX_REQUEST ((size_t)64 << 20)

/* One valid record of the batch, in journal order. */
struct rec {
  uint64_t hash; /* of the sorted label set, __name__ included */
  size_t labels; /* first of its labels in rw->labels */
  uint32_t nlabels;
  uint32_t index; /* in the batch */
  uint32_t group; /* its series */
};

/* One series of the request, in the order of its first record. */
struct group {
  uint32_t first_rec;  /* in rw->recs: the label set to send */
  size_t start, count; /* its samples in rw->ts / rw->values */
};

struct remote_write {
  struct vg_http_client_config http;
  struct vg_http_client *client; /* owned; from start to destroy */

  /* The flush in flight. */
  vg_flush_done done;
  void *done_arg;
  size_t invalid; /* records left out of the request: no valid series */
  /* Prometheus refuses a whole request for one out-of-order sample (a
   * replay after a crash mixes old and new), so such a batch is sent again
   * in halves until only the refused samples are left out.  The pieces
   * still to send, the batch (the pusher's, valid until done) and what
   * the pieces came to. */
  const struct vg_journal_record *records;
  struct piece {
    size_t lo, hi;
  } * left;
  size_t nleft, left_cap;
  size_t lo, hi; /* of the request in flight */
  size_t total, refused, left_out;
  const char *refused_reason;
  char refusal[4200]; /* the first refusing answer of the batch (as
                         message) */

  /* Scratch, owned, grown as needed and kept between flushes. */
  struct vg_label *labels; /* every record's sorted labels, end to end */
  size_t labels_cap;
  struct rec *recs;
  size_t recs_cap;
  struct group *groups;
  size_t groups_cap;
  uint32_t *slots; /* the groups by hash: group index + 1, 0 empty */
  size_t slots_cap;
  struct vg_prompb_series *series;
  size_t series_cap;
  int64_t *ts;
  double *values;
  size_t ts_cap, values_cap;
  struct vg_buf scratch, body;
  char message[4200]; /* the answer as logged: status and server's words */
};

static const char *const fixed_headers[] = {VG_PROMPB_HEADER_CONTENT_ENCODING,
                                            VG_PROMPB_HEADER_CONTENT_TYPE,
                                            VG_PROMPB_HEADER_VERSION, NULL};

/* The headers the protocol fixes; Content-Encoding is always reserved by
 * http_out. */
static const char *const reserved_headers[] = {
    "Content-Type", VG_PROMPB_VERSION_HEADER, "User-Agent", NULL};

static const struct vg_cfg_key *const remote_write_tables[] = {
    vg_http_client_conf_keys, vg_http_client_keys, NULL};

/* ---- configuration and life cycle ---- */

static int remote_write_configure(void **ctx, const cJSON *cfg,
                                  struct vg_cfg_err *err) {
  /* Owned by the daemon through ctx; freed by remote_write_destroy. */
  struct remote_write *rw = vg_calloc(1, sizeof *rw);
  int rc = vg_http_client_configure(&rw->http, cfg, reserved_headers, err);
  if (!rc && rw->http.gzip) {
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "gzip"),
                      "\"gzip\": remote write bodies are compressed with "
                      "snappy; gzip cannot be used");
    vg_http_client_release(&rw->http);
  }
  if (rc) {
    free(rw);
    return rc;
  }
  /* The scratch holds the raw message and snappy's worst case for it
   * (len + len / 6 + 32), so raw messages up to ~66 MiB fit. */
  vg_buf_init(&rw->scratch, 2 * MAX_REQUEST + (MAX_REQUEST / 4));
  vg_buf_init(&rw->body, MAX_REQUEST);
  *ctx = rw;
  return 0;
}

static int remote_write_start(void *ctx, const struct vg_exporter_env *env) {
  struct remote_write *rw = ctx;
  if (!rw->client) /* started again after a refused reload: keep it */
    rw->client = vg_http_client_new(env->curl, &rw->http, fixed_headers);
  return 0;
}

static void remote_write_stop(void *ctx) {
  struct remote_write *rw = ctx;
  if (rw->client)
    vg_http_client_cancel(rw->client);
  rw->done = NULL;
}

static void remote_write_destroy(void *ctx) {
  struct remote_write *rw = ctx;
  vg_http_client_free(rw->client);
  vg_http_client_release(&rw->http);
  free(rw->labels);
  free(rw->recs);
  free(rw->left);
  free(rw->groups);
  free(rw->slots);
  free(rw->series);
  free(rw->ts);
  free(rw->values);
  vg_buf_free(&rw->scratch);
  vg_buf_free(&rw->body);
  free(rw);
}

/* ---- encoding ---- */

/* Writes the record's labels, sorted by name with __name__, at `out`
 * (room for nlabels + 1); empty values are left out, as Prometheus reads
 * an empty label as an absent one.  Returns how many, or 0 when the set
 * is not a valid series: no metric name, an empty label name, a label
 * named __name__, or a name given twice. */
static size_t sorted_labels(const struct vg_journal_record *r,
                            struct vg_label *out) {
  if (!r->metric || !*r->metric)
    return 0;
  size_t n = 0;
  out[n++] = (struct vg_label){"__name__", r->metric};
  for (size_t i = 0; i < r->nlabels; i++) {
    struct vg_label l = r->labels[i];
    if (!l.value[0])
      continue;
    /* Insertion sort: a series has a handful of labels. */
    size_t j = n;
    while (j > 0 && strcmp(out[j - 1].name, l.name) > 0) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = l;
    n++;
  }
  for (size_t i = 0; i < n; i++)
    if (!out[i].name[0] || (i > 0 && strcmp(out[i - 1].name, out[i].name) == 0))
      return 0;
  return n;
}

static uint64_t hash_labels(const struct vg_label *l, size_t n) {
  uint64_t h = 0;
  for (size_t i = 0; i < n; i++) {
    /* The NULs keep {"ab","c"} apart from {"a","bc"}. */
    h = vg_hash_bytes(l[i].name, strlen(l[i].name) + 1, h);
    h = vg_hash_bytes(l[i].value, strlen(l[i].value) + 1, h);
  }
  return h;
}

static bool same_series(const struct rec *a, const struct rec *b,
                        const struct vg_label *labels) {
  if (a->hash != b->hash || a->nlabels != b->nlabels)
    return false;
  for (size_t i = 0; i < a->nlabels; i++) {
    const struct vg_label *x = &labels[a->labels + i];
    const struct vg_label *y = &labels[b->labels + i];
    if (strcmp(x->name, y->name) || strcmp(x->value, y->value))
      return false;
  }
  return true;
}

/* Puts one series' samples in timestamp order, keeping journal order for
 * equal timestamps (insertion sort: stable, and a series has one or a few
 * samples in a batch, nearly always in order already). */
static void sort_samples(int64_t *ts, double *values, size_t n) {
  for (size_t i = 1; i < n; i++) {
    int64_t t = ts[i];
    double v = values[i];
    size_t j = i;
    while (j > 0 && ts[j - 1] > t) {
      ts[j] = ts[j - 1];
      values[j] = values[j - 1];
      j--;
    }
    ts[j] = t;
    values[j] = v;
  }
}

/* Builds rw->series for the batch; returns how many series, and counts
 * the records left out in rw->invalid. */
static size_t group_series(struct remote_write *rw,
                           const struct vg_journal_record *records, size_t n) {
  size_t nlabels = 0;
  for (size_t i = 0; i < n; i++)
    nlabels += records[i].nlabels + 1;
  if (nlabels > rw->labels_cap)
    rw->labels =
        vg_grow(rw->labels, &rw->labels_cap, nlabels, sizeof *rw->labels);
  if (n > rw->recs_cap)
    rw->recs = vg_grow(rw->recs, &rw->recs_cap, n, sizeof *rw->recs);
  size_t nrecs = 0, at = 0;
  rw->invalid = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k = sorted_labels(&records[i], rw->labels + at);
    if (!k) {
      rw->invalid++;
      continue;
    }
    rw->recs[nrecs++] = (struct rec){.hash = hash_labels(rw->labels + at, k),
                                     .labels = at,
                                     .nlabels = (uint32_t)k,
                                     .index = (uint32_t)i};
    at += k;
  }
  /* Records of one series are found through a hash table of the groups
   * (open addressing, at most half full), not a sort: a batch is mostly
   * one sample per series, and this is linear. */
  size_t cap = 16;
  while (cap < 2 * nrecs)
    cap *= 2;
  if (cap > rw->slots_cap) {
    free(rw->slots);
    rw->slots = vg_malloc(cap * sizeof *rw->slots);
    rw->slots_cap = cap;
  }
  memset(rw->slots, 0, cap * sizeof *rw->slots);
  if (nrecs > rw->groups_cap)
    rw->groups =
        vg_grow(rw->groups, &rw->groups_cap, nrecs, sizeof *rw->groups);
  size_t ngroups = 0;
  for (size_t i = 0; i < nrecs; i++) {
    struct rec *r = &rw->recs[i];
    size_t j = r->hash & (cap - 1);
    uint32_t g = UINT32_MAX;
    for (; rw->slots[j]; j = (j + 1) & (cap - 1)) {
      uint32_t cand = rw->slots[j] - 1;
      if (same_series(&rw->recs[rw->groups[cand].first_rec], r, rw->labels)) {
        g = cand;
        break;
      }
    }
    if (g == UINT32_MAX) {
      g = (uint32_t)ngroups++;
      rw->groups[g] = (struct group){.first_rec = (uint32_t)i};
      rw->slots[j] = g + 1;
    }
    r->group = g;
    rw->groups[g].count++;
  }

  if (nrecs > rw->ts_cap)
    rw->ts = vg_grow(rw->ts, &rw->ts_cap, nrecs, sizeof *rw->ts);
  if (nrecs > rw->values_cap)
    rw->values =
        vg_grow(rw->values, &rw->values_cap, nrecs, sizeof *rw->values);
  if (ngroups > rw->series_cap)
    rw->series =
        vg_grow(rw->series, &rw->series_cap, ngroups, sizeof *rw->series);
  size_t start = 0;
  for (size_t k = 0; k < ngroups; k++) {
    rw->groups[k].start = start;
    start += rw->groups[k].count;
    rw->groups[k].count = 0; /* counts again as the samples are placed */
  }
  for (size_t i = 0; i < nrecs; i++) {
    struct group *g = &rw->groups[rw->recs[i].group];
    const struct vg_journal_record *r = &records[rw->recs[i].index];
    rw->ts[g->start + g->count] = r->ts_ms;
    rw->values[g->start + g->count++] = r->value;
  }
  for (size_t k = 0; k < ngroups; k++) {
    const struct group *g = &rw->groups[k];
    const struct rec *first = &rw->recs[g->first_rec];
    if (g->count > 1)
      sort_samples(rw->ts + g->start, rw->values + g->start, g->count);
    rw->series[k] = (struct vg_prompb_series){
        .labels = rw->labels + first->labels,
        .nlabels = first->nlabels,
        .ts_ms = rw->ts + g->start,
        .values = rw->values + g->start,
        .nsamples = g->count,
    };
  }
  return ngroups;
}

/* ---- the answer ---- */

/* What the server says when samples it already has come again (a replay
 * after a restart) or come too late: Prometheus's storage errors and
 * VictoriaMetrics' words for the same. */
static bool says_out_of_order(const char *body) {
  static const char *const phrases[] = {"out of order sample",
                                        "out-of-order sample",
                                        "duplicate sample",
                                        "out of bounds",
                                        "too old sample",
                                        "too small timestamp",
                                        NULL};
  for (size_t i = 0; phrases[i]; i++)
    if (strcasestr(body, phrases[i]))
      return true;
  return false;
}

static void describe(struct remote_write *rw,
                     const struct vg_http_client_response *r) {
  size_t len = r->body_len;
  while (len && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r' ||
                 r->body[len - 1] == ' '))
    len--;
  if (len)
    snprintf(rw->message, sizeof rw->message, "HTTP %ld: %.*s", r->status,
             (int)len, r->body);
  else
    snprintf(rw->message, sizeof rw->message, "HTTP %ld", r->status);
}

static void finish(struct remote_write *rw, struct vg_flush_result *f) {
  vg_flush_done done = rw->done;
  rw->done = NULL;
  rw->nleft = 0;
  done(rw->done_arg, f);
}

static void send_next(struct remote_write *rw);

/* Every piece answered: what arrived, and what was refused or left out. */
static void finish_pieces(struct remote_write *rw) {
  struct vg_flush_result f = {.status = VG_FLUSH_OK};
  f.rejected = rw->refused + rw->left_out;
  if (rw->refused) {
    f.reason = rw->refused_reason;
    f.message = rw->refusal;
    /* Nothing arrived: the batch as a whole was refused. */
    if (f.rejected == rw->total) {
      f.status = VG_FLUSH_DROP;
      f.rejected = 0;
    }
  } else if (rw->left_out) {
    f.reason = "invalid_series";
    f.message = "records without a valid label set were left out";
  }
  finish(rw, &f);
}

/* Halves the piece in flight: both halves are sent, the older first. */
static void halve(struct remote_write *rw) {
  size_t mid = rw->lo + (rw->hi - rw->lo) / 2;
  rw->left = vg_grow(rw->left, &rw->left_cap, rw->nleft + 2, sizeof *rw->left);
  rw->left[rw->nleft++] = (struct piece){mid, rw->hi};
  rw->left[rw->nleft++] = (struct piece){rw->lo, mid};
}

/* The first refusal of a batch is the one logged: the pieces sent after it
 * say nothing of what was refused. */
static void refused(struct remote_write *rw, size_t n, const char *reason) {
  rw->refused += n;
  if (!rw->refused_reason) {
    rw->refused_reason = reason;
    memcpy(rw->refusal, rw->message, sizeof rw->refusal);
  }
}

static void on_answer(void *arg, const struct vg_http_client_response *r) {
  struct remote_write *rw = arg;
  struct vg_flush_result f = {.status = VG_FLUSH_RETRY};
  size_t size = rw->hi - rw->lo;
  if (r->result != CURLE_OK) {
    f.message = r->error;
    finish(rw, &f);
    return;
  }
  describe(rw, r);
  f.message = rw->message;
  const char *reason, *what;
  switch (vg_http_client_answer(r->status, &reason, &what)) {
  case VG_HTTP_DELIVERED:
    rw->left_out += rw->invalid;
    break;
  case VG_HTTP_TRY_AGAIN:
    /* The whole batch again later (pieces already written come back as
     * duplicates, which the halving below sorts out). */
    f.retry_after_ms = r->retry_after_ms;
    finish(rw, &f);
    return;
  case VG_HTTP_SENDER_REFUSED: {
    /* Not about this data: whatever is sent next is refused the same. */
    char text[sizeof rw->message];
    memcpy(text, rw->message, sizeof text);
    snprintf(rw->message, sizeof rw->message, "%s (%.4000s)", what, text);
    f.status = VG_FLUSH_REFUSED;
    f.reason = reason;
    finish(rw, &f);
    return;
  }
  case VG_HTTP_TOO_LARGE:
    if (size > 1)
      halve(rw);
    else
      refused(rw, size, "too_large");
    break;
  case VG_HTTP_DATA_REFUSED: {
    /* The words only name the count (the specification has senders log
     * the message as it is, not act on it). */
    bool oor = says_out_of_order(r->body);
    if (size > 1)
      halve(rw);
    else
      refused(rw, size, oor ? "out_of_order" : "bad_request");
    break;
  }
  }
  send_next(rw);
}

/* Sends the next piece of the batch, or reports when none is left. */
static void send_next(struct remote_write *rw) {
  while (rw->nleft) {
    struct piece pc = rw->left[--rw->nleft];
    rw->lo = pc.lo;
    rw->hi = pc.hi;
    size_t nseries = group_series(rw, rw->records + pc.lo, pc.hi - pc.lo);
    if (!nseries) {
      rw->left_out += rw->invalid; /* nothing valid in this piece */
      continue;
    }
    int rc =
        vg_prompb_encode_scratch(rw->series, nseries, &rw->scratch, &rw->body);
    if (rc) {
      /* Only -ENOSPC can come here (the series are valid by
       * construction); a batch that size will never be accepted, and must
       * not block the cursor. */
      struct vg_flush_result f = {.status = VG_FLUSH_DROP,
                                  .reason = "too_large"};
      snprintf(rw->message, sizeof rw->message,
               "the batch of %zu samples encodes to more than %zu MiB: lower "
               "batch_size",
               pc.hi - pc.lo, MAX_REQUEST >> 20);
      f.message = rw->message;
      finish(rw, &f);
      return;
    }
    rc = vg_http_client_post(rw->client, NULL, rw->body.data, rw->body.len,
                             on_answer, rw);
    if (rc == 0)
      return;
    struct vg_flush_result f = {.status = VG_FLUSH_RETRY,
                                .message = strerror(-rc)};
    finish(rw, &f);
    return;
  }
  finish_pieces(rw);
}

static int remote_write_flush(void *ctx,
                              const struct vg_journal_record *records, size_t n,
                              vg_flush_done done, void *arg) {
  struct remote_write *rw = ctx;
  if (!rw->client)
    return -EINVAL;
  if (rw->done)
    return -EBUSY;
  if (n > UINT32_MAX)
    return -EMSGSIZE;
  rw->done = done;
  rw->done_arg = arg;
  rw->records = records;
  rw->total = n;
  rw->refused = rw->left_out = 0;
  rw->refused_reason = NULL;
  rw->left = vg_grow(rw->left, &rw->left_cap, 1, sizeof *rw->left);
  rw->left[0] = (struct piece){0, n};
  rw->nleft = 1;
  send_next(rw);
  return 0;
}

const struct vg_exporter_type vg_exporter_remote_write = {
    .name = "remote_write",
    .description = "Pushes every sample from the journal to a Prometheus "
                   "remote-write 1.0 receiver (Prometheus, VictoriaMetrics).",
    .config_tables = remote_write_tables,
    .configure = remote_write_configure,
    .start = remote_write_start,
    .flush = remote_write_flush,
    .stop = remote_write_stop,
    .destroy = remote_write_destroy,
};
