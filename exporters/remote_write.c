/* exporters/remote_write.c - Prometheus remote write 1.0, pushed.
 *
 * Turns a batch of journal records into WriteRequests (labels sorted with
 * __name__, the records of one series grouped, its samples in timestamp
 * order), sends them with the specification's headers, and says what the
 * answers mean (daemon/net/http_client.h: 2xx delivered; 5xx, 429 and no
 * answer RETRY; 400-like refuse samples, dropped and counted; 413 halves;
 * every other 4xx and redirects refuse the sender: REFUSED).
 *
 * Out of order.  Prometheus refuses a whole request for one sample older
 * than the newest its series has (or at its timestamp with another
 * value).  So the exporter keeps the newest sample it delivered of every
 * series, with the highest journal sequence number delivered
 * (daemon/pipeline/newest.h, in state_dir/remote_write/<name>.newest), and
 * before sending:
 *   - leaves out a record it delivered before (seq and timestamp at or
 *     below the newest delivered: a restart read it again, or a cursor was
 *     set back), counted as skipped, neither sent nor dropped;
 *   - when the sink refuses out-of-order samples (out_of_order "refused",
 *     or "learn" once a refused request went through without them), leaves
 *     out a sample older than its series' newest, counted as out_of_order.
 * What is refused all the same is resolved in a bounded number of
 * requests: the samples in time order, the older half first (what a half
 * that goes through delivers cannot make the other refused), down to
 * single samples, for at most 2 log2(n) + 2 requests; past that the rest
 * is taken as refused from its oldest sample on, and the smallest number
 * of oldest samples to leave out is found by doubling (log2 n requests
 * more).  A batch costs O(log n) requests whatever is refused, and the
 * batch's warning quotes the first refusing answer.
 *
 * Metadata.  Every metadata_interval, before the next batch, one request
 * carries the HELP, TYPE and UNIT of the catalog's indicators and of the
 * families read from Prometheus text (Prometheus sends its metadata apart
 * from samples the same way).  One that did not reach the receiver goes
 * again before the next try.
 *
 * Owns: its configuration, its HTTP client, the newest samples, and
 * scratch arrays reused from one flush to the next.  Must never: send
 * again a request a 4xx other than 429 refused, let the user's headers
 * replace the protocol's, or call done after stop.
 */
#include "daemon/formats/prompb.h"
#include "daemon/model/catalog.h"
#include "daemon/net/http_client.h"
#include "daemon/pipeline/newest.h"
#include "daemon/util/clock.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "exporters/exporter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A request larger than this is not sent: remote-write receivers refuse
 * far smaller ones (Prometheus reads at most 32 MiB uncompressed). */
#define MAX_REQUEST ((size_t)64 << 20)
/* How many items ahead a loop over the batch asks for their slot in the
 * newest table's index (vg_newest_prefetch), and half as many for their
 * entry. */
#define PREFETCH_AHEAD 8

enum fate {
  SEND,     /* not yet delivered */
  SENT,     /* delivered */
  SKIPPED,  /* dealt with before: delivered, or given up on */
  LATE,     /* older than its series' newest: the sink must refuse it */
  REFUSED,  /* the sink refused it */
  TOO_LARGE /* alone in a request, still too large */
};

enum phase {
  WHOLE,  /* everything to send, in one request */
  PROBE,  /* the same without what is older than its series' newest */
  HALVE,  /* the older half first, down to single samples */
  GALLOP, /* without the oldest 1, 2, 4, ... */
};

enum order_mode { ORDER_LEARN, ORDER_REFUSED, ORDER_ACCEPTED };

/* One valid record of the batch. */
struct item {
  uint64_t hash;  /* series_hash: the label set's, then the metric name's */
  size_t encoded; /* its set's Label fields in rw->set_bytes */
  uint32_t pre_len, post_len;
  uint32_t set;   /* its set's number in the batch */
  uint32_t index; /* in the batch */
  uint32_t ref;   /* its entry in the newest table (vg_newest_ref) */
  uint8_t fate;
  bool suspect; /* older than its series' newest delivered */
};

/* One series of a request, in the order of its first sample. */
struct group {
  uint32_t first_item;
  size_t start, count; /* its samples in rw->ts / rw->values */
  uint32_t name;       /* its metric's in rw->names */
};

/* A metric name of the batch, and its __name__ Label field. */
struct name {
  const char *metric; /* the records' pointer */
  size_t at;          /* its field in rw->name_bytes */
  uint32_t len;
};

struct range {
  size_t lo, hi; /* in rw->active */
};

struct key {
  int64_t ts;
  uint32_t item; /* items are in journal order */
};

struct remote_write {
  struct vg_http_client_config http;
  char *out_of_order;
  enum order_mode order;
  int64_t metadata_interval_ms;
  struct vg_http_client *client; /* owned; from start to destroy */
  struct vg_store *store;        /* the daemon's, for family metadata */
  struct vg_newest *newest;      /* owned; from start to destroy */
  char *name;                    /* owned: the instance's, for the log */

  /* The flush in flight. */
  vg_flush_done done;
  void *done_arg;
  const struct vg_journal_record *records; /* the pusher's, until done */
  size_t total, invalid, nitems;
  enum phase phase;
  bool done_phase;  /* nothing more to send */
  uint32_t *active; /* items being resolved, in time order */
  size_t nactive, active_cap;
  struct range *stack; /* HALVE: pieces still to send, the next on top */
  size_t nstack, stack_cap;
  struct range flight; /* HALVE: the piece in flight */
  size_t gallop; /* GALLOP: the oldest left out of the request in flight */
  uint32_t *cur; /* the items of the request in flight */
  size_t ncur, cur_cap;
  unsigned requests, budget;
  /* Seqs delivered by a batch that has not finished (a 5xx came after
   * some of its requests went through): sent, if it comes again. */
  uint64_t *partial;
  size_t npartial, partial_cap;
  bool sending_metadata;
  int64_t metadata_due_ms; /* 0: at the next batch */
  /* The newest table's entry after the last one looked up, tried first
   * (vg_newest_ref_hint), and whether the last look-up found it there (a
   * series known before): in order, the index is not read and needs no
   * loading ahead. */
  uint32_t next_ref;
  bool in_order;
  struct vg_flush_result result;
  const char *refusal_reason; /* of the first refusal: what the words say */
  char refusal[4200];         /* the first refusing answer, as logged */

  /* Scratch, owned, grown as needed and kept between flushes. */
  /* The last label set sorted (by its records' shared pointer, which a
   * journal batch gives every sample of a series in a block): a point's
   * fields are one record each, and all but the first reuse its order. */
  struct sorted_set {
    const struct vg_label *key;
    size_t nkey;
    struct vg_label *sorted; /* owned: the non-empty labels, by name */
    uint32_t *lens;          /* owned: their names' and values' lengths */
    size_t n, cap, lens_cap;
    size_t name_at; /* where __name__ goes among them */
    bool valid;
    uint64_t hash;  /* of the sorted labels, __name__ left out */
    size_t encoded; /* its Label fields in rw->set_bytes, before __name__ */
    uint32_t pre_len, post_len; /* and after it */
    uint32_t number;            /* in the batch, from 0 */
  } last_set;
  uint32_t nsets; /* sorted in the batch */
  /* Each label set of the batch written once as protobuf Label fields,
   * those before __name__ and those after; and each metric name once as
   * its __name__ field, found by the records' pointer (a journal block
   * names each once).  A request's series are these pieces, and the
   * encoder writes a piece it wrote before as a copy of it. */
  struct vg_buf set_bytes, name_bytes;
  struct name *names;
  size_t nnames, names_cap;
  uint32_t *name_slots; /* the names by pointer: index + 1, 0 empty */
  size_t name_mask;
  struct item *items;
  size_t items_cap;
  struct group *groups;
  size_t groups_cap;
  uint32_t *slots; /* the groups by hash: group index + 1, 0 empty */
  size_t slots_cap;
  uint32_t *group_of; /* per item of a request: its series */
  size_t group_of_cap;
  struct key *keys, *merged; /* for the time order */
  size_t keys_cap, merged_cap;
  struct vg_prompb_series *series;
  size_t series_cap;
  int64_t *ts;
  double *values;
  size_t ts_cap, values_cap;
  struct vg_prompb_metadata *meta;
  size_t nmeta, meta_cap;
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

static const struct vg_cfg_key remote_write_keys[] = {
    {"out_of_order", VG_CFG_STRING, "learn",
     offsetof(struct remote_write, out_of_order),
     "Whether the receiver refuses a sample older than the newest of its "
     "series (Prometheus does; VictoriaMetrics, Mimir with an out-of-order "
     "window do not).  \"refused\": such samples are not sent, and count as "
     "dropped with reason out_of_order.  \"accepted\": they are sent.  "
     "\"learn\": sent until a request the receiver refused goes through "
     "without them, then as \"refused\" (remembered across restarts).",
     false},
    {"metadata_interval", VG_CFG_DURATION, "1m",
     offsetof(struct remote_write, metadata_interval_ms),
     "How often the HELP, TYPE and UNIT of the catalog's indicators and of "
     "the families read from Prometheus text are sent (one request of "
     "metadata, before the next batch); 0: never.",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const remote_write_tables[] = {
    remote_write_keys, vg_http_client_conf_keys, vg_http_client_keys, NULL};

/* ---- configuration and life cycle ---- */

static void remote_write_destroy(void *ctx);

static int remote_write_configure(void **ctx, const cJSON *cfg,
                                  struct vg_cfg_err *err) {
  /* Owned by the daemon through ctx; freed by remote_write_destroy. */
  struct remote_write *rw = vg_calloc(1, sizeof *rw);
  int rc = vg_cfg_apply(remote_write_keys, rw, cfg, err);
  if (!rc) {
    if (strcmp(rw->out_of_order, "learn") == 0)
      rw->order = ORDER_LEARN;
    else if (strcmp(rw->out_of_order, "refused") == 0)
      rw->order = ORDER_REFUSED;
    else if (strcmp(rw->out_of_order, "accepted") == 0)
      rw->order = ORDER_ACCEPTED;
    else
      rc = vg_cfg_error(err,
                        cJSON_GetObjectItemCaseSensitive(cfg, "out_of_order"),
                        "\"out_of_order\": expected \"learn\", \"refused\" or "
                        "\"accepted\", got \"%s\"",
                        rw->out_of_order);
  }
  if (!rc && rw->metadata_interval_ms < 0)
    rc = vg_cfg_error(
        err, cJSON_GetObjectItemCaseSensitive(cfg, "metadata_interval"),
        "\"metadata_interval\" must not be negative");
  if (!rc)
    rc = vg_http_client_configure(&rw->http, cfg, reserved_headers, err);
  if (!rc && rw->http.gzip) {
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "gzip"),
                      "\"gzip\": remote write bodies are compressed with "
                      "snappy; gzip cannot be used");
    vg_http_client_release(&rw->http);
  }
  if (rc) {
    vg_cfg_release(remote_write_keys, rw);
    free(rw);
    return rc;
  }
  /* The scratch holds the raw message and snappy's worst case for it
   * (len + len / 6 + 32), so raw messages up to ~66 MiB fit. */
  vg_buf_init(&rw->scratch, 2 * MAX_REQUEST + (MAX_REQUEST / 4));
  vg_buf_init(&rw->set_bytes, SIZE_MAX / 2);
  vg_buf_init(&rw->name_bytes, SIZE_MAX / 2);
  vg_buf_init(&rw->body, MAX_REQUEST);
  *ctx = rw;
  return 0;
}

/* The newest samples delivered, from state_dir/remote_write/<name>.newest;
 * in memory only without a state_dir, or when the file cannot be read. */
static struct vg_newest *open_newest(const struct vg_exporter_env *env) {
  char *path = NULL;
  if (env->state_dir) {
    char *dir = vg_asprintf("%s/remote_write", env->state_dir);
    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
      path = vg_asprintf("%s/%s.newest", dir, env->name);
    else
      vg_log(VG_LOG_WARNING,
             "exporter %s: cannot create %s (%s): what was delivered before "
             "a restart will be sent again",
             env->name, dir, strerror(errno));
    free(dir);
  }
  struct vg_newest *n = NULL;
  char error[512] = "";
  if (vg_newest_open(env->loop, path, &n, error, sizeof error) < 0) {
    vg_log(VG_LOG_WARNING, "exporter %s: %s: starting without it", env->name,
           error);
    vg_newest_open(env->loop, NULL, &n, error, sizeof error);
  }
  free(path);
  return n;
}

static int remote_write_start(void *ctx, const struct vg_exporter_env *env) {
  struct remote_write *rw = ctx;
  /* Started again after a refused reload: keep what it has. */
  if (!rw->client)
    rw->client = vg_http_client_new(env->curl, &rw->http, fixed_headers);
  if (!rw->newest)
    rw->newest = open_newest(env);
  if (!rw->name)
    rw->name = vg_strdup(env->name);
  rw->store = env->store;
  return 0;
}

static void remote_write_stop(void *ctx) {
  struct remote_write *rw = ctx;
  if (rw->client)
    vg_http_client_cancel(rw->client);
  rw->done = NULL;
  /* Metadata cancelled in flight gets no answer: started again (after a
   * refused reload), the first batch's must not be taken for its, and it
   * goes again first. */
  if (rw->sending_metadata)
    rw->metadata_due_ms = 0;
  rw->sending_metadata = false;
}

static void remote_write_destroy(void *ctx) {
  struct remote_write *rw = ctx;
  vg_http_client_free(rw->client);
  vg_http_client_release(&rw->http);
  vg_cfg_release(remote_write_keys, rw);
  vg_newest_close(rw->newest);
  free(rw->name);
  free(rw->items);
  free(rw->partial);
  free(rw->active);
  free(rw->stack);
  free(rw->cur);
  free(rw->groups);
  free(rw->group_of);
  free(rw->keys);
  free(rw->merged);
  free(rw->slots);
  free(rw->series);
  free(rw->ts);
  free(rw->values);
  free(rw->meta);
  free(rw->last_set.sorted);
  free(rw->last_set.lens);
  vg_buf_free(&rw->scratch);
  vg_buf_free(&rw->set_bytes);
  vg_buf_free(&rw->name_bytes);
  free(rw->names);
  free(rw->name_slots);
  vg_buf_free(&rw->body);
  free(rw);
}

/* ---- encoding ---- */

static uint64_t hash_labels(const struct vg_label *l, const uint32_t *lens,
                            size_t n) {
  uint64_t h = 0;
  for (size_t i = 0; i < n; i++) {
    /* The NULs keep {"ab","c"} apart from {"a","bc"}. */
    h = vg_hash_bytes(l[i].name, (size_t)lens[2 * i] + 1, h);
    h = vg_hash_bytes(l[i].value, (size_t)lens[2 * i + 1] + 1, h);
  }
  return h;
}

/* A series' key in the newest table (and the grouping's): its labels
 * but __name__, then the name, so that a label set shared by a point's
 * fields, or by a village's indicators, is hashed once.  The newest
 * file's version 2 holds these keys (version 1 hashed __name__ in place
 * among the labels). */
static uint64_t series_hash(uint64_t set_hash, const char *metric) {
  return vg_hash_bytes(metric, strlen(metric) + 1, set_hash);
}

/* Sorts the record's labels by name into rw->last_set, unless they are
 * the set sorted last, and writes them as Label fields around __name__;
 * empty values are left out, as Prometheus reads an empty label as an
 * absent one.  Returns false when the set is not a valid series: no
 * metric name, an empty label name, a label named __name__, or a name
 * given twice; else *hash gets its series_hash. */
static bool sorted_labels(struct remote_write *rw,
                          const struct vg_journal_record *r, uint64_t *hash) {
  if (!r->metric || !*r->metric)
    return false;
  struct sorted_set *c = &rw->last_set;
  if (r->labels != c->key || r->nlabels != c->nkey || !c->sorted) {
    c->key = r->labels;
    c->nkey = r->nlabels;
    c->sorted = vg_grow(c->sorted, &c->cap, r->nlabels + 1, sizeof *c->sorted);
    c->lens =
        vg_grow(c->lens, &c->lens_cap, 2 * r->nlabels + 2, sizeof *c->lens);
    size_t n = 0;
    c->name_at = 0;
    c->valid = true;
    for (size_t i = 0; i < r->nlabels; i++) {
      struct vg_label l = r->labels[i];
      if (!l.value[0])
        continue;
      /* Insertion sort: a series has a handful of labels, mostly sorted
       * already (the line-protocol parser sorts its tags), so mostly one
       * comparison each; it stops at an equal name, given twice. */
      size_t j = n;
      int cmp = 1;
      while (j > 0 && (cmp = strcmp(c->sorted[j - 1].name, l.name)) > 0) {
        c->sorted[j] = c->sorted[j - 1];
        memcpy(&c->lens[2 * j], &c->lens[2 * j - 2], 2 * sizeof *c->lens);
        j--;
      }
      c->sorted[j] = l;
      /* A journal batch gives the lengths: measured only when not. */
      c->lens[2 * j] =
          r->label_lens ? r->label_lens[2 * i] : (uint32_t)strlen(l.name);
      c->lens[2 * j + 1] =
          r->label_lens ? r->label_lens[2 * i + 1] : (uint32_t)strlen(l.value);
      n++;
      /* Where __name__ goes: after the names below it, which start with
       * '_' or a byte below it.  A label named __name__ is one name given
       * twice. */
      int to_name =
          (unsigned char)l.name[0] > '_' ? 1 : strcmp(l.name, "__name__");
      if (to_name < 0)
        c->name_at++;
      if (cmp == 0 || to_name == 0 || !l.name[0])
        c->valid = false;
    }
    c->n = n;
    c->hash = hash_labels(c->sorted, c->lens, n);
    /* Within the buffer's cap (half the address space): cannot fail. */
    c->encoded = rw->set_bytes.len;
    (void)vg_prompb_put_labels_measured(c->sorted, c->lens, c->name_at,
                                        &rw->set_bytes);
    c->pre_len = (uint32_t)(rw->set_bytes.len - c->encoded);
    (void)vg_prompb_put_labels_measured(c->sorted + c->name_at,
                                        c->lens + 2 * c->name_at,
                                        n - c->name_at, &rw->set_bytes);
    c->post_len = (uint32_t)(rw->set_bytes.len - c->encoded - c->pre_len);
    c->number = rw->nsets++;
  }
  if (!c->valid)
    return false;
  *hash = series_hash(c->hash, r->metric);
  return true;
}

/* Two items of one series: the same name, and the same set, by its number
 * or by its Label fields (a set's one encoding, as it is sorted). */
static bool same_series(const struct remote_write *rw, const struct item *a,
                        const struct item *b) {
  if (a->hash != b->hash)
    return false;
  const char *x = rw->records[a->index].metric;
  const char *y = rw->records[b->index].metric;
  if (x != y && strcmp(x, y))
    return false;
  return a->set == b->set ||
         (a->pre_len == b->pre_len && a->post_len == b->post_len &&
          memcmp(rw->set_bytes.data + a->encoded,
                 rw->set_bytes.data + b->encoded,
                 (size_t)a->pre_len + a->post_len) == 0);
}

static double value_of(const struct remote_write *rw, const struct item *it) {
  return rw->records[it->index].value;
}

static uint64_t bits_of(const struct remote_write *rw, const struct item *it) {
  uint64_t b;
  double v = value_of(rw, it);
  memcpy(&b, &v, sizeof b);
  return b;
}

static int64_t ts_of(const struct remote_write *rw, const struct item *it) {
  return rw->records[it->index].ts_ms;
}

/* Builds rw->items for the batch (the records with a valid label set, in
 * journal order) and counts the others in rw->invalid. */
static size_t build_items(struct remote_write *rw) {
  const struct vg_journal_record *records = rw->records;
  size_t n = rw->total;
  if (n > rw->items_cap)
    rw->items = vg_grow(rw->items, &rw->items_cap, n, sizeof *rw->items);
  size_t nitems = 0;
  rw->invalid = 0;
  rw->nsets = 0;
  vg_buf_reset(&rw->set_bytes);
  for (size_t i = 0; i < n; i++) {
    uint64_t hash;
    if (!sorted_labels(rw, &records[i], &hash)) {
      rw->invalid++;
      continue;
    }
    rw->items[nitems++] = (struct item){.hash = hash,
                                        .encoded = rw->last_set.encoded,
                                        .pre_len = rw->last_set.pre_len,
                                        .post_len = rw->last_set.post_len,
                                        .set = rw->last_set.number,
                                        .index = (uint32_t)i};
  }
  return nitems;
}

/* The name table doubled, its names placed again. */
static void grow_names(struct remote_write *rw) {
  rw->name_mask = rw->name_mask ? 2 * rw->name_mask + 1 : 63;
  free(rw->name_slots);
  rw->name_slots = vg_calloc(rw->name_mask + 1, sizeof *rw->name_slots);
  for (size_t i = 0; i < rw->nnames; i++) {
    size_t j = vg_hash_mix((uintptr_t)rw->names[i].metric) & rw->name_mask;
    while (rw->name_slots[j])
      j = (j + 1) & rw->name_mask;
    rw->name_slots[j] = (uint32_t)i + 1;
  }
}

/* The number of the batch's name at `metric`, its field written when it
 * is new. */
static uint32_t name_of(struct remote_write *rw, const char *metric) {
  if (2 * (rw->nnames + 1) > rw->name_mask + 1)
    grow_names(rw);
  size_t j = vg_hash_mix((uintptr_t)metric) & rw->name_mask;
  for (; rw->name_slots[j]; j = (j + 1) & rw->name_mask)
    if (rw->names[rw->name_slots[j] - 1].metric == metric)
      return rw->name_slots[j] - 1;
  rw->names =
      vg_grow(rw->names, &rw->names_cap, rw->nnames + 1, sizeof *rw->names);
  struct name *n = &rw->names[rw->nnames];
  n->metric = metric;
  n->at = rw->name_bytes.len;
  /* Within the buffer's cap (half the address space): cannot fail. */
  (void)vg_prompb_put_labels(&(struct vg_label){"__name__", metric}, 1,
                             &rw->name_bytes);
  n->len = (uint32_t)(rw->name_bytes.len - n->at);
  rw->name_slots[j] = (uint32_t)++rw->nnames;
  return rw->name_slots[j] - 1;
}

/* The batch's names forgotten: its records' pointers may be the next
 * batch's too, pointing elsewhere. */
static void forget_names(struct remote_write *rw) {
  if (rw->nnames)
    memset(rw->name_slots, 0, (rw->name_mask + 1) * sizeof *rw->name_slots);
  rw->nnames = 0;
  vg_buf_reset(&rw->name_bytes);
}

/* Builds rw->series from the items listed (in time order, so that each
 * series' samples come out in time order too) and returns how many
 * series.  Records of one series are found through a hash table of the
 * groups (open addressing, at most half full), not a sort: a batch is
 * mostly one sample per series, and this is linear. */
static size_t group_series(struct remote_write *rw, const uint32_t *list,
                           size_t n) {
  size_t cap = 16;
  while (cap < 2 * n)
    cap *= 2;
  if (cap > rw->slots_cap) {
    free(rw->slots);
    rw->slots = vg_malloc(cap * sizeof *rw->slots);
    rw->slots_cap = cap;
  }
  memset(rw->slots, 0, cap * sizeof *rw->slots);
  if (n > rw->groups_cap)
    rw->groups = vg_grow(rw->groups, &rw->groups_cap, n, sizeof *rw->groups);
  if (n > rw->group_of_cap)
    rw->group_of =
        vg_grow(rw->group_of, &rw->group_of_cap, n, sizeof *rw->group_of);
  if (n > rw->ts_cap)
    rw->ts = vg_grow(rw->ts, &rw->ts_cap, n, sizeof *rw->ts);
  if (n > rw->values_cap)
    rw->values = vg_grow(rw->values, &rw->values_cap, n, sizeof *rw->values);
  size_t ngroups = 0;
  for (size_t i = 0; i < n; i++) {
    const struct item *it = &rw->items[list[i]];
    size_t j = it->hash & (cap - 1);
    uint32_t g = UINT32_MAX;
    for (; rw->slots[j]; j = (j + 1) & (cap - 1)) {
      uint32_t cand = rw->slots[j] - 1;
      if (same_series(rw, &rw->items[rw->groups[cand].first_item], it)) {
        g = cand;
        break;
      }
    }
    if (g == UINT32_MAX) {
      g = (uint32_t)ngroups++;
      rw->groups[g] = (struct group){.first_item = list[i]};
      rw->slots[j] = g + 1;
    }
    rw->groups[g].count++;
    rw->group_of[i] = g;
  }
  if (ngroups > rw->series_cap)
    rw->series =
        vg_grow(rw->series, &rw->series_cap, ngroups, sizeof *rw->series);
  size_t start = 0;
  for (size_t k = 0; k < ngroups; k++) {
    rw->groups[k].start = start;
    start += rw->groups[k].count;
    rw->groups[k].count = 0; /* counts again as the samples are placed */
  }
  for (size_t i = 0; i < n; i++) {
    struct group *g = &rw->groups[rw->group_of[i]];
    const struct item *it = &rw->items[list[i]];
    rw->ts[g->start + g->count] = ts_of(rw, it);
    rw->values[g->start + g->count++] = value_of(rw, it);
  }
  for (size_t k = 0; k < ngroups; k++)
    rw->groups[k].name = name_of(
        rw, rw->records[rw->items[rw->groups[k].first_item].index].metric);
  /* Each series' Label fields: its set's, with its name put between; the
   * pieces' ids tell the sets and names apart. */
  for (size_t k = 0; k < ngroups; k++) {
    const struct group *g = &rw->groups[k];
    const struct item *first = &rw->items[g->first_item];
    const unsigned char *set =
        (const unsigned char *)rw->set_bytes.data + first->encoded;
    const struct name *name = &rw->names[g->name];
    rw->series[k] = (struct vg_prompb_series){
        .ts_ms = rw->ts + g->start,
        .values = rw->values + g->start,
        .nsamples = g->count,
        .pieces = {{set, first->pre_len, 3 * first->set + 1},
                   {(const unsigned char *)rw->name_bytes.data + name->at,
                    name->len, 3 * g->name + 3},
                   {set + first->pre_len, first->post_len, 3 * first->set + 2}},
        .npieces = VG_PROMPB_PIECES,
    };
  }
  return ngroups;
}

static bool before(const struct key *x, const struct key *y) {
  return x->ts < y->ts || (x->ts == y->ts && x->item < y->item);
}

/* Sorts k[0..n) by time, then journal order (no two keys are equal),
 * with tmp room for n; returns where the order is (k or tmp).  Merges the
 * runs already in order two by two until one is left: a batch that is not
 * in order is mostly a few rounds from a few senders, a few runs, and
 * takes a few passes of copying, where qsort called its comparison
 * n log n times (1.3% of the intake's instructions, in a run whose
 * batches were out of order). */
static struct key *sort_by_time(struct key *k, struct key *tmp, size_t n) {
  for (;;) {
    size_t out = 0, runs = 0;
    for (size_t a = 0; a < n; runs++) {
      size_t b = a + 1;
      while (b < n && before(&k[b - 1], &k[b]))
        b++;
      size_t c = b;
      if (c < n)
        for (c++; c < n && before(&k[c - 1], &k[c]); c++)
          ;
      size_t i = a, j = b;
      while (i < b && j < c)
        tmp[out++] = before(&k[j], &k[i]) ? k[j++] : k[i++];
      while (i < b)
        tmp[out++] = k[i++];
      while (j < c)
        tmp[out++] = k[j++];
      a = c;
    }
    struct key *t = k;
    k = tmp;
    tmp = t;
    if (runs <= 1)
      return k;
  }
}

/* ---- metadata ---- */

static enum vg_prompb_type prompb_type(enum vg_metric_type t) {
  switch (t) {
  case VG_TYPE_GAUGE:
    return VG_PROMPB_GAUGE;
  case VG_TYPE_COUNTER:
    return VG_PROMPB_COUNTER;
  case VG_TYPE_HISTOGRAM:
    return VG_PROMPB_HISTOGRAM;
  case VG_TYPE_SUMMARY:
    return VG_PROMPB_SUMMARY;
  case VG_TYPE_UNTYPED:
    break;
  }
  return VG_PROMPB_UNKNOWN;
}

static void add_meta(struct remote_write *rw, enum vg_metric_type type,
                     const char *family, const char *help, const char *unit) {
  rw->meta = vg_grow(rw->meta, &rw->meta_cap, rw->nmeta + 1, sizeof *rw->meta);
  rw->meta[rw->nmeta++] = (struct vg_prompb_metadata){
      .type = prompb_type(type), .family = family, .help = help, .unit = unit};
}

static void add_family_meta(void *arg, const char *name,
                            enum vg_metric_type type, const char *help) {
  add_meta(arg, type, name, help, NULL);
}

/* The metadata request: the catalog's indicators and the families the
 * store has metadata for (strings of the catalog and the store, used
 * before the loop turns). */
static int encode_metadata(struct remote_write *rw) {
  rw->nmeta = 0;
  for (size_t i = 0; i < vg_catalog_size; i++)
    add_meta(rw, vg_catalog[i].type, vg_catalog[i].name, vg_catalog[i].help,
             vg_catalog[i].unit);
  if (rw->store)
    vg_store_each_family_meta(rw->store, add_family_meta, rw);
  return vg_prompb_encode_metadata(rw->meta, rw->nmeta, &rw->scratch,
                                   &rw->body);
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

static void on_answer(void *arg, const struct vg_http_client_response *r);
static void send_next(struct remote_write *rw);

/* The loop that looks the items' series up, at item i, asks for what it
 * will look up next, unless the series come in the entries' order. */
static void prefetch_lookup(const struct remote_write *rw, size_t i) {
  if (rw->in_order)
    return;
  if (i + PREFETCH_AHEAD < rw->nitems)
    vg_newest_prefetch(rw->newest, rw->items[i + PREFETCH_AHEAD].hash);
  if (i + PREFETCH_AHEAD / 2 < rw->nitems)
    vg_newest_prefetch_entry(rw->newest,
                             rw->items[i + PREFETCH_AHEAD / 2].hash);
}

static void on_synced(void *arg) {
  struct remote_write *rw = arg;
  vg_flush_done done = rw->done;
  rw->done = NULL;
  if (done) /* NULL: stopped meanwhile */
    done(rw->done_arg, &rw->result);
}

/* The batch is over.  The newest samples delivered go to their file
 * first, so that a crash after the pusher moves the cursor knows them. */
static void finish(struct remote_write *rw) {
  if (vg_newest_sync(rw->newest, on_synced, rw) != 0)
    on_synced(rw);
}

static void keep_partial(struct remote_write *rw);

static void finish_status(struct remote_write *rw, enum vg_flush_status st,
                          const char *reason, int64_t retry_after_ms) {
  keep_partial(rw);
  rw->result = (struct vg_flush_result){.status = st,
                                        .reason = reason,
                                        .message = rw->message,
                                        .retry_after_ms = retry_after_ms};
  finish(rw);
}

/* Every item has its fate: what arrived, what was skipped, and what was
 * refused or left out, by reason. */
static void finish_batch(struct remote_write *rw) {
  size_t ooo = 0, bad = 0, big = 0, skipped = 0;
  bool late = false, refused = false;
  for (size_t i = 0; i < rw->nitems; i++) {
    const struct item *it = &rw->items[i];
    if (i + PREFETCH_AHEAD < rw->nitems)
      vg_newest_prefetch_at(rw->newest, rw->items[i + PREFETCH_AHEAD].ref);
    /* Dealt with, all of them: a restart that reads them again skips
     * them. */
    vg_newest_put(rw->newest, it->ref, rw->records[it->index].seq,
                  it->fate == SENT, ts_of(rw, it), bits_of(rw, it));
    switch (it->fate) {
    case SKIPPED:
      skipped++;
      break;
    case LATE:
      ooo++;
      late = true;
      break;
    case REFUSED:
      /* What we know of the series, or what the sink's words say (they
       * name the count only: the specification has senders log them as
       * they are, not act on them). */
      refused = true;
      if (it->suspect || strcmp(rw->refusal_reason, "out_of_order") == 0)
        ooo++;
      else
        bad++;
      break;
    case TOO_LARGE:
      big++;
      break;
    default:
      break;
    }
  }
  struct vg_flush_result *f = &rw->result;
  *f = (struct vg_flush_result){.status = VG_FLUSH_OK, .skipped = skipped};
  struct {
    const char *reason;
    size_t count;
  } all[] = {{"out_of_order", ooo},
             {"bad_request", bad},
             {"too_large", big},
             {"invalid_series", rw->invalid}};
  size_t k = 0;
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    if (!all[i].count)
      continue;
    if (!f->rejected) {
      f->rejected = all[i].count;
      f->reason = all[i].reason;
    } else if (k < VG_FLUSH_MORE_REASONS) {
      f->more[k].reason = all[i].reason;
      f->more[k++].count = all[i].count;
    }
  }
  rw->npartial = 0;
  if (refused || big)
    f->message = rw->refusal;
  else if (late)
    f->message = "samples older than the newest of their series at the "
                 "receiver were not sent";
  else if (rw->invalid)
    f->message = "records without a valid label set were left out";
  finish(rw);
}

/* Posts the items listed.  0: sent; -ENOSPC: too large to encode (as for
 * a 413); 1: the batch is finished (the client failed). */
static int post(struct remote_write *rw, const uint32_t *list, size_t n) {
  if (n > rw->cur_cap)
    rw->cur = vg_grow(rw->cur, &rw->cur_cap, n, sizeof *rw->cur);
  memmove(rw->cur, list, n * sizeof *list);
  rw->ncur = n;
  size_t nseries = group_series(rw, rw->cur, n);
  /* Only -ENOSPC can fail here: the series are valid by construction. */
  if (vg_prompb_encode_scratch(rw->series, nseries, &rw->scratch, &rw->body))
    return -ENOSPC;
  rw->requests++;
  int rc = vg_http_client_post(rw->client, NULL, rw->body.data, rw->body.len,
                               on_answer, rw);
  if (rc) {
    snprintf(rw->message, sizeof rw->message, "cannot send: %s", strerror(-rc));
    finish_status(rw, VG_FLUSH_RETRY, NULL, 0);
    return 1;
  }
  return 0;
}

static void set_fate(struct remote_write *rw, const uint32_t *list, size_t n,
                     enum fate fate) {
  for (size_t i = 0; i < n; i++)
    rw->items[list[i]].fate = (uint8_t)fate;
}

static void push_range(struct remote_write *rw, size_t lo, size_t hi) {
  rw->stack =
      vg_grow(rw->stack, &rw->stack_cap, rw->nstack + 1, sizeof *rw->stack);
  rw->stack[rw->nstack++] = (struct range){lo, hi};
}

/* A piece refused, or too large: its halves, the older sent first. */
static void split(struct remote_write *rw, struct range r) {
  size_t mid = r.lo + (r.hi - r.lo) / 2;
  push_range(rw, mid, r.hi);
  push_range(rw, r.lo, mid);
}

static void start_halving(struct remote_write *rw) {
  rw->phase = HALVE;
  rw->nstack = 0;
  split(rw, (struct range){0, rw->nactive});
}

/* The halving's budget is spent: what it has not resolved is taken as
 * refused from its oldest sample on, and the fewest oldest to leave out
 * are found by doubling. */
static void start_gallop(struct remote_write *rw) {
  size_t n = 0;
  for (size_t i = 0; i < rw->nactive; i++)
    if (rw->items[rw->active[i]].fate == SEND)
      rw->active[n++] = rw->active[i];
  rw->nactive = n;
  rw->nstack = 0;
  rw->phase = GALLOP;
  rw->gallop = 1;
}

/* GALLOP: leave out twice as many; all of them when that is everything. */
static void gallop_more(struct remote_write *rw, enum fate fate) {
  rw->gallop *= 2;
  if (rw->gallop >= rw->nactive) {
    set_fate(rw, rw->active, rw->nactive, fate);
    rw->done_phase = true;
  }
}

static void delivered(struct remote_write *rw) {
  set_fate(rw, rw->cur, rw->ncur, SENT);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The batch stops before its end (RETRY, REFUSED): what it delivered is
 * remembered, so that sending it again does not count it twice. */
static void keep_partial(struct remote_write *rw) {
  rw->npartial = 0;
  for (size_t i = 0; i < rw->nitems; i++)
    if (rw->items[i].fate == SENT) {
      rw->partial = vg_grow(rw->partial, &rw->partial_cap, rw->npartial + 1,
                            sizeof *rw->partial);
      rw->partial[rw->npartial++] = rw->records[rw->items[i].index].seq;
    }
  if (rw->npartial)
    qsort(rw->partial, rw->npartial, sizeof *rw->partial, cmp_u64);
}

/* The first refusal of a batch is the one quoted: the requests sent after
 * it say nothing of what was refused. */
static void note_refusal(struct remote_write *rw,
                         const struct vg_http_client_response *r) {
  if (rw->refusal_reason)
    return;
  rw->refusal_reason =
      says_out_of_order(r->body) ? "out_of_order" : "bad_request";
  memcpy(rw->refusal, rw->message, sizeof rw->refusal);
}

static void on_answer(void *arg, const struct vg_http_client_response *r) {
  struct remote_write *rw = arg;
  /* This answer's, and no later one's: a metadata request that failed on
   * its way (refused, timed out) left it set, and the next batch's first
   * answer was taken for the metadata's and the batch posted again. */
  bool metadata = rw->sending_metadata;
  rw->sending_metadata = false;
  if (r->result != CURLE_OK) {
    /* The receiver was not reached: its metadata goes with the next try
     * (an answer, even a refusal, waits out the interval). */
    if (metadata)
      rw->metadata_due_ms = 0;
    snprintf(rw->message, sizeof rw->message, "%s", r->error);
    finish_status(rw, VG_FLUSH_RETRY, NULL, 0);
    return;
  }
  describe(rw, r);
  if (metadata) {
    /* Best effort: whatever the answer, the samples go next (a sender
     * refused shows in their answer just the same). */
    if (r->status < 200 || r->status >= 300)
      vg_log(VG_LOG_WARNING, "exporter %s: metadata not taken: %s", rw->name,
             rw->message);
    send_next(rw);
    return;
  }
  const char *reason, *what;
  enum vg_http_answer a = vg_http_client_answer(r->status, &reason, &what);
  if (a == VG_HTTP_TRY_AGAIN) {
    /* The whole batch again later: what went through is skipped then. */
    finish_status(rw, VG_FLUSH_RETRY, NULL, r->retry_after_ms);
    return;
  }
  if (a == VG_HTTP_SENDER_REFUSED) {
    /* Not about this data: whatever is sent next is refused the same. */
    char text[sizeof rw->message];
    memcpy(text, rw->message, sizeof text);
    snprintf(rw->message, sizeof rw->message, "%s (%.4000s)", what, text);
    finish_status(rw, VG_FLUSH_REFUSED, reason, 0);
    return;
  }
  if (a == VG_HTTP_DELIVERED) {
    delivered(rw);
    if (rw->phase == PROBE) {
      /* It went through without them: the receiver refuses them. */
      vg_newest_set_refuses(rw->newest, true);
      vg_log(VG_LOG_NOTICE,
             "exporter %s: the receiver refuses samples older than the "
             "newest of their series; from now on they are not sent",
             rw->name);
      for (size_t i = 0; i < rw->nactive; i++)
        if (rw->items[rw->active[i]].fate == SEND)
          rw->items[rw->active[i]].fate = LATE;
      rw->done_phase = true;
    } else if (rw->phase == GALLOP) {
      set_fate(rw, rw->active, rw->gallop, REFUSED);
      rw->done_phase = true;
    } else if (rw->phase == WHOLE) {
      rw->done_phase = true;
    }
    send_next(rw);
    return;
  }
  /* Refused, or too large. */
  bool big = a == VG_HTTP_TOO_LARGE;
  note_refusal(rw, r);
  switch (rw->phase) {
  case WHOLE: {
    bool suspects = false;
    for (size_t i = 0; i < rw->nactive && !suspects; i++)
      suspects = rw->items[rw->active[i]].suspect;
    if (!big && suspects && rw->order == ORDER_LEARN)
      rw->phase = PROBE;
    else
      start_halving(rw);
    break;
  }
  case PROBE:
    /* Refused without them too: it is not that. */
    start_halving(rw);
    break;
  case HALVE: {
    struct range p = rw->flight;
    if (p.hi - p.lo == 1)
      set_fate(rw, rw->active + p.lo, 1, big ? TOO_LARGE : REFUSED);
    else if (big || rw->requests < rw->budget)
      split(rw, p);
    else
      start_gallop(rw);
    break;
  }
  case GALLOP:
    gallop_more(rw, big ? TOO_LARGE : REFUSED);
    break;
  }
  send_next(rw);
}

/* Sends the next request of the batch, or finishes the batch. */
static void send_next(struct remote_write *rw) {
  if (rw->metadata_interval_ms > 0 && rw->requests == 0 && !rw->done_phase &&
      vg_clock_now_ms() >= rw->metadata_due_ms) {
    rw->metadata_due_ms = vg_clock_now_ms() + rw->metadata_interval_ms;
    if (encode_metadata(rw) == 0 && rw->nmeta &&
        vg_http_client_post(rw->client, NULL, rw->body.data, rw->body.len,
                            on_answer, rw) == 0) {
      rw->sending_metadata = true;
      return;
    }
  }
  while (!rw->done_phase) {
    int rc;
    switch (rw->phase) {
    case WHOLE:
      if (!rw->nactive) {
        rw->done_phase = true;
        continue;
      }
      rc = post(rw, rw->active, rw->nactive);
      if (rc != -ENOSPC)
        return;
      start_halving(rw);
      break;
    case PROBE: {
      /* Without what is older than the newest of its series. */
      uint32_t *list = vg_malloc((rw->nactive + 1) * sizeof *list);
      size_t n = 0;
      for (size_t i = 0; i < rw->nactive; i++)
        if (!rw->items[rw->active[i]].suspect)
          list[n++] = rw->active[i];
      rc = n ? post(rw, list, n) : -ENOSPC;
      free(list);
      if (rc != -ENOSPC)
        return;
      start_halving(rw);
      break;
    }
    case HALVE: {
      if (!rw->nstack) {
        rw->done_phase = true;
        continue;
      }
      struct range p = rw->stack[--rw->nstack];
      rw->flight = p;
      rc = post(rw, rw->active + p.lo, p.hi - p.lo);
      if (rc != -ENOSPC)
        return;
      if (p.hi - p.lo == 1)
        set_fate(rw, rw->active + p.lo, 1, TOO_LARGE);
      else
        split(rw, p);
      break;
    }
    case GALLOP:
      rc = post(rw, rw->active + rw->gallop, rw->nactive - rw->gallop);
      if (rc != -ENOSPC)
        return;
      gallop_more(rw, TOO_LARGE);
      break;
    }
  }
  finish_batch(rw);
}

static unsigned log2_ceil(size_t n) {
  unsigned b = 0;
  while (((size_t)1 << b) < n)
    b++;
  return b;
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
  /* The last batch's pointers may be this one's too, pointing elsewhere. */
  rw->last_set.key = NULL;
  forget_names(rw);
  rw->requests = 0;
  rw->phase = WHOLE;
  rw->done_phase = false;
  rw->nstack = 0;
  rw->refusal_reason = NULL;
  rw->refusal[0] = '\0';
  rw->nitems = build_items(rw);
  /* What the receiver has already, or must refuse. */
  bool refuses = rw->order == ORDER_REFUSED ||
                 (rw->order == ORDER_LEARN && vg_newest_refuses(rw->newest));
  if (rw->nitems > rw->keys_cap)
    rw->keys = vg_grow(rw->keys, &rw->keys_cap, rw->nitems, sizeof *rw->keys);
  size_t nkeys = 0;
  for (size_t i = 0; i < rw->nitems; i++) {
    struct item *it = &rw->items[i];
    prefetch_lookup(rw, i);
    int64_t ts = ts_of(rw, it);
    uint64_t seq = rw->records[it->index].seq;
    /* A series new to the table has seq 0 and nothing delivered. */
    size_t known = vg_newest_count(rw->newest);
    it->ref = vg_newest_ref_hint(rw->newest, it->hash, rw->next_ref);
    /* Found where guessed; a series added there (a drain of new series)
     * was looked for in the index, which the next ones need loaded. */
    rw->in_order = it->ref == rw->next_ref && it->ref < known;
    rw->next_ref = it->ref + 1;
    const struct vg_newest_entry *e = vg_newest_at(rw->newest, it->ref);
    it->fate = SEND;
    it->suspect = false;
    if (seq <= e->seq) {
      it->fate = SKIPPED;
      continue;
    }
    if (rw->npartial && bsearch(&seq, rw->partial, rw->npartial,
                                sizeof *rw->partial, cmp_u64)) {
      it->fate = SENT;
      continue;
    }
    it->suspect =
        e->ts_ms != VG_NEWEST_NONE &&
        (ts < e->ts_ms || (ts == e->ts_ms && bits_of(rw, it) != e->bits));
    if (it->suspect && refuses) {
      it->fate = LATE;
      continue;
    }
    rw->keys[nkeys++] = (struct key){ts, (uint32_t)i};
  }
  /* Time order: a request of the older part delivered never makes the
   * newer part refused, and each series' samples are in order.  Most
   * batches (a push's rounds, a file's rows) come in that order already:
   * one look, not a sort. */
  const struct key *sorted = rw->keys;
  size_t k = 1;
  while (k < nkeys && before(&rw->keys[k - 1], &rw->keys[k]))
    k++;
  if (k < nkeys) {
    if (nkeys > rw->merged_cap)
      rw->merged =
          vg_grow(rw->merged, &rw->merged_cap, nkeys, sizeof *rw->merged);
    sorted = sort_by_time(rw->keys, rw->merged, nkeys);
  }
  if (nkeys > rw->active_cap)
    rw->active =
        vg_grow(rw->active, &rw->active_cap, nkeys, sizeof *rw->active);
  for (size_t i = 0; i < nkeys; i++)
    rw->active[i] = sorted[i].item;
  rw->nactive = nkeys;
  rw->budget = 2 * log2_ceil(nkeys + 1) + 2;
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
