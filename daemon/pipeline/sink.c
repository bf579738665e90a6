/* daemon/pipeline/sink.c - validation, constant labels and rejection accounting
 * between a collector and the store.
 *
 * Must never: store a value the catalog rejects, clamp a value, or let a
 * rejection go uncounted.  Runs on the loop thread only.
 */
#include "daemon/pipeline/sink.h"
#include "daemon/model/catalog.h"
#include "daemon/util/clock.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64
/* Longest metric or label name and label value.  Every series must fit
 * one journal record (VG_JOURNAL_MAX_RECORD, 1 MiB) whatever its shape --
 * 64 labels of the longest name and value are 64 * 9 KiB -- so that no
 * sample the store took is refused by the journal later, which would be
 * an error the sender could never fix by waiting.  Prometheus sets no
 * limit; VictoriaMetrics truncates values past 4 KiB by default. */
#define MAX_NAME 1024
#define MAX_VALUE 8192
/* Names remembered as checked (struct vg_sink's `known`), and the longest
 * remembered. */
#define KNOWN_NAMES 8
#define KNOWN_NAME_MAX 64
/* Rejections logged one by one in a round; the rest are summarised. */
#define LOGGED_PER_ROUND 5
/* Identical messages remembered for the once-a-minute rule. */
#define RECENT_MESSAGES 32

struct sent_message {
  uint64_t hash;
  int64_t time_ms;
};

/* What one source's last full round held: the sink's input_* figures are
 * the sum of these.  Owned by the sink, found by the source's key. */
struct input {
  char *key; /* owned */
  uint64_t hash;
  uint64_t samples;
  uint64_t rejected[VG_REJECT_REASON_COUNT];
};

/* The samples appended between two vg_sink_sync calls, waiting for the
 * journal.  Freed by the last of: its sync, its last durable callback. */
struct ack_group {
  size_t pending; /* appends the journal has not answered yet */
  int status;     /* the first failure, or 0 */
  bool synced;
  void (*done)(void *arg, int status); /* NULL once the sink is gone */
  void *arg;
};

struct vg_sink {
  struct vg_store *store;
  char *collector;
  struct vg_label *consts; /* names and values owned */
  size_t nconst;
  int64_t stale_after_ms;
  FILE *print;
  struct vg_journal *journal;
  bool acknowledge;
  size_t max_series;
  struct vg_resolve *resolve; /* not owned; NULL: none */
  bool fallback;
  struct ack_group *group; /* since the last sync; NULL when none */
  struct vg_emitter emitter;
  struct vg_complaint journal_complaint; /* refusals: once a minute */

  struct vg_source *source; /* of the current round; NULL between rounds */
  bool update_round;        /* removes nothing at its end */
  char *source_key;         /* owned, for messages */
  int64_t round_now_ms;
  uint64_t round_samples;
  uint64_t round_rejected[VG_REJECT_REASON_COUNT];
  unsigned round_logged;
  unsigned round_suppressed;
  enum vg_sink_log round_log; /* what the round logs, vg_sink_round_log */
  bool round_has_first;
  struct vg_rejection round_first;
  struct vg_receipt *receipt; /* of the round, not owned; NULL: none */
  /* The village of the sample being checked, for its rejections. */
  const char *sample_village;
  /* The producer's current label run (vg_emitter.label_run) and, once a
   * sample of it passed the label checks and the resolution, what they
   * gave: a point's fields check, resolve and look their labels up once.
   * A run that fails them is not kept: each of its samples is checked
   * and rejected on its own, as without runs.  Cleared at every round's
   * begin and end. */
  /* Metric names that passed the name checks lately, with their catalog
   * entry: a point's fields, and the points after it, use the same few
   * names, which are then checked and looked up once.  The checks depend
   * on the name alone, and the catalog never changes. */
  struct {
    char name[KNOWN_NAME_MAX];
    size_t len; /* 0: empty slot */
    const struct vg_indicator *ind;
  } known[KNOWN_NAMES];
  size_t known_next;
  struct {
    const struct vg_label *labels; /* the producer's; NULL: no run */
    size_t n;
    bool ready;
    const char *village;
    struct vg_label merged[MAX_LABELS];
    struct vg_label resolved[MAX_LABELS + VG_RESOLVE_EXTRA_LABELS];
    const struct vg_label *final; /* merged or resolved */
    size_t nfinal;
    size_t village_index; /* the registry's, SIZE_MAX: none */
    struct vg_store_labels prepared;
    uint64_t journal_key; /* vg_journal_record.labels_key of the run */
  } run;

  struct vg_sink_stats stats;
  struct vg_rejection recent[VG_SINK_RECENT]; /* ring */
  size_t recent_next, recent_count;
  struct sent_message sent[RECENT_MESSAGES];
  size_t sent_next;
  struct vg_hashtab inputs; /* of struct input, by key */
};

static void log_rejection(struct vg_sink *sink, const char *where,
                          const char *detail) {
  char msg[1024]; /* a whole vg_rejection's where and detail */
  snprintf(msg, sizeof msg, "collector %s: %s: %s", sink->collector, where,
           detail);
  uint64_t h = vg_hash_bytes(msg, strlen(msg), 0);
  int64_t now = sink->round_now_ms;
  for (size_t i = 0; i < RECENT_MESSAGES; i++)
    if (sink->sent[i].hash == h &&
        now - sink->sent[i].time_ms < VG_COMPLAINT_INTERVAL_MS) {
      sink->round_suppressed++;
      return;
    }
  /* Within a round the first few are logged one by one; outside one (a
   * whole input refused) each is, once a minute at most. */
  if (sink->source && (sink->round_logged >= LOGGED_PER_ROUND ||
                       sink->round_log == VG_SINK_LOG_NONE)) {
    sink->round_suppressed++;
    return;
  }
  if (sink->source)
    sink->round_logged++;
  sink->sent[sink->sent_next].hash = h;
  sink->sent[sink->sent_next].time_ms = now;
  sink->sent_next = (sink->sent_next + 1) % RECENT_MESSAGES;
  vg_log(VG_LOG_WARNING, "%s", msg);
}

static void reject(void *arg, enum vg_reject_reason reason,
                   const struct vg_location *where, const char *detail) {
  struct vg_sink *sink = arg;
  if ((unsigned)reason >= VG_REJECT_REASON_COUNT)
    reason = VG_REJECT_PARSE_ERROR;
  sink->stats.rejected[reason]++;
  if (sink->source)
    sink->round_rejected[reason]++;

  struct vg_rejection *r = &sink->recent[sink->recent_next];
  sink->recent_next = (sink->recent_next + 1) % VG_SINK_RECENT;
  if (sink->recent_count < VG_SINK_RECENT)
    sink->recent_count++;
  r->time_ms = sink->round_now_ms ? sink->round_now_ms : vg_clock_now_ms();
  r->reason = reason;
  vg_location_format(where, r->where, sizeof r->where);
  const char *village = where->village ? where->village : sink->sample_village;
  snprintf(r->village, sizeof r->village, "%s", village ? village : "");
  snprintf(r->detail, sizeof r->detail, "%s", detail);
  if (sink->source && sink->receipt)
    vg_receipt_rejected(sink->receipt, reason, where, village, r->where,
                        detail);
  if (sink->source && !sink->round_has_first) {
    sink->round_has_first = true;
    sink->round_first = *r;
  }
  log_rejection(sink, r->where, r->detail);
}

/* Rejections handed on as a count (a batch's past the ones it keeps
 * whole): counted like any other, and in the round's summary line, but
 * neither listed nor logged one by one. */
static void reject_many(void *arg, enum vg_reject_reason reason, uint64_t n) {
  struct vg_sink *sink = arg;
  if ((unsigned)reason >= VG_REJECT_REASON_COUNT)
    reason = VG_REJECT_PARSE_ERROR;
  sink->stats.rejected[reason] += n;
  if (!sink->source)
    return;
  sink->round_rejected[reason] += n;
  if (sink->receipt)
    vg_receipt_rejected_many(sink->receipt, n);
  sink->round_suppressed = n > UINT_MAX - sink->round_suppressed
                               ? UINT_MAX
                               : sink->round_suppressed + (unsigned)n;
}

/* --- current inputs ------------------------------------------------- */

static struct input *find_input(const struct vg_sink *sink, const char *key,
                                uint64_t hash) {
  size_t pos = (size_t)-1;
  struct input *in;
  while ((in = vg_hashtab_next(&sink->inputs, hash, &pos)))
    if (strcmp(in->key, key) == 0)
      return in;
  return NULL;
}

/* Takes a source's last figures out of the sums. */
static void subtract_input(struct vg_sink *sink, const struct input *in) {
  sink->stats.input_samples -= in->samples;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
    sink->stats.input_rejected[r] -= in->rejected[r];
}

/* The source's figures become `samples` and `rejected`; a source seen for
 * the first time is added. */
static void set_input(struct vg_sink *sink, const char *key, uint64_t samples,
                      const uint64_t rejected[VG_REJECT_REASON_COUNT]) {
  uint64_t hash = vg_hash_bytes(key, strlen(key), 0);
  struct input *in = find_input(sink, key, hash);
  if (in) {
    subtract_input(sink, in);
  } else {
    in = vg_calloc(1, sizeof *in); /* owned by sink->inputs */
    in->key = vg_strdup(key);
    in->hash = hash;
    vg_hashtab_insert(&sink->inputs, hash, in);
  }
  in->samples = samples;
  memcpy(in->rejected, rejected, sizeof in->rejected);
  sink->stats.input_samples += samples;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
    sink->stats.input_rejected[r] += rejected[r];
}

static void drop_input(struct vg_sink *sink, const char *key) {
  uint64_t hash = vg_hash_bytes(key, strlen(key), 0);
  struct input *in = find_input(sink, key, hash);
  if (!in)
    return;
  subtract_input(sink, in);
  vg_hashtab_remove(&sink->inputs, hash, in);
  free(in->key);
  free(in);
}

static void reject_label(struct vg_sink *sink, const struct vg_location *where,
                         const char *fmt, const char *name) {
  char detail[256];
  snprintf(detail, sizeof detail, fmt, name);
  reject(sink, VG_REJECT_BAD_LABEL, where, detail);
}

/* Whether a label passes every check of label_refused, found in one walk
 * of each string rather than a measure and then a walk of it: a name of
 * the classic rule within MAX_NAME, and a value not empty, of well-formed
 * UTF-8 within MAX_VALUE.  Every label of every point pushed comes here,
 * and nearly all pass. */
static bool plain_label(const char *name, const char *value) {
  size_t value_len = vg_expfmt_utf8_len(value, MAX_VALUE);
  return vg_expfmt_label_name_len(name, MAX_NAME) && value_len &&
         value_len != SIZE_MAX;
}

/* 1 after rejecting a label that plain_label did not pass, naming what is
 * wrong with it; 0 if nothing is (these checks decide, plain_label only
 * finds the same answer sooner). */
static int label_refused(struct vg_sink *sink, const struct vg_location *where,
                         const char *name, const char *value) {
  size_t name_len = strnlen(name, MAX_NAME + 1);
  if (name_len > MAX_NAME) {
    char detail[256];
    snprintf(detail, sizeof detail,
             "a label name of %zu bytes (\"%.40s...\") is over the %d allowed",
             strlen(name), name, MAX_NAME);
    reject(sink, VG_REJECT_BAD_LABEL, where, detail);
    return 1;
  }
  size_t value_len = strnlen(value, MAX_VALUE + 1);
  if (value_len > MAX_VALUE) {
    char detail[256];
    snprintf(detail, sizeof detail,
             "label \"%.100s\" has a value of %zu bytes, over the %d allowed",
             name, strlen(value), MAX_VALUE);
    reject(sink, VG_REJECT_BAD_LABEL, where, detail);
    return 1;
  }
  if (!vg_expfmt_valid_label_name(name)) {
    reject_label(sink, where, "\"%s\" is not a valid label name", name);
    return 1;
  }
  if (!value[0]) {
    reject_label(sink, where, "label \"%s\" is empty", name);
    return 1;
  }
  if (!vg_expfmt_valid_utf8(value, value_len)) {
    reject_label(sink, where,
                 "label \"%s\" is not valid UTF-8 (if the file was saved "
                 "in GBK, save it as UTF-8)",
                 name);
    return 1;
  }
  return 0;
}

/* Merges record labels and constants into `out`; 0, or 1 after a
 * rejection. */
static int merge_labels(struct vg_sink *sink, const struct vg_label *labels,
                        size_t n, const struct vg_location *where,
                        struct vg_label *out, size_t *nout) {
  if (n + sink->nconst > MAX_LABELS) {
    reject_label(sink, where, "more than 64 labels%s", "");
    return 1;
  }
  size_t k = 0;
  bool in_order = true;
  for (size_t i = 0; i < n; i++) {
    const char *name = labels[i].name, *value = labels[i].value;
    if (!plain_label(name, value) && label_refused(sink, where, name, value))
      return 1;
    /* Names in order (line protocol's tags, most producers' labels) are
     * each above the one before, so appear once: one comparison each,
     * mostly of their first bytes.  Past a name out of order, each is
     * compared with all before it. */
    if (k) {
      unsigned char a = (unsigned char)out[k - 1].name[0],
                    b = (unsigned char)name[0];
      int cmp = a != b ? a - b : strcmp(out[k - 1].name, name);
      if (cmp > 0)
        in_order = false;
      bool twice = cmp == 0;
      for (size_t j = 0; !in_order && !twice && j + 1 < k; j++)
        twice = out[j].name[0] == name[0] && strcmp(out[j].name, name) == 0;
      if (twice) {
        reject_label(sink, where, "label \"%s\" appears twice", name);
        return 1;
      }
    }
    out[k++] = labels[i];
  }
  for (size_t c = 0; c < sink->nconst; c++) {
    bool present = false;
    for (size_t i = 0; i < n && !present; i++)
      present = strcmp(labels[i].name, sink->consts[c].name) == 0;
    if (!present)
      out[k++] = sink->consts[c];
  }
  *nout = k;
  return 0;
}

static void ack_finish(struct ack_group *g) {
  if (g->done)
    g->done(g->arg, g->status);
  free(g);
}

static void ack_durable(void *arg, int status) {
  struct ack_group *g = arg;
  g->pending--;
  if (status < 0 && !g->status)
    g->status = status;
  if (g->synced && !g->pending)
    ack_finish(g);
}

static void append(struct vg_sink *sink, const char *metric,
                   const struct vg_label *labels, size_t n, double value,
                   int64_t ts_ms, uint64_t labels_key) {
  struct vg_journal_record rec = {.metric = metric,
                                  .labels = labels,
                                  .nlabels = n,
                                  .value = value,
                                  .ts_ms = ts_ms,
                                  .labels_key = labels_key};
  struct ack_group *g = NULL;
  if (sink->acknowledge) {
    if (!sink->group)
      sink->group = vg_calloc(1, sizeof *sink->group);
    g = sink->group;
  }
  int rc = vg_journal_append(sink->journal, &rec, 1, g ? ack_durable : NULL, g);
  if (rc < 0) {
    sink->stats.journal_refused++;
    if (g && !g->status)
      g->status = rc;
    vg_complain_n(&sink->journal_complaint, VG_LOG_ERR, 1, "samples refused",
                  "collector %s: the journal refused samples: %s",
                  sink->collector, strerror(-rc));
  } else {
    vg_complaint_release(&sink->journal_complaint,
                         "collector %s: the journal takes samples again",
                         sink->collector);
    if (g && rc == 0) /* 1: ack_durable runs once for this and the last */
      g->pending++;
  }
}

void vg_sink_sync(struct vg_sink *sink, void (*done)(void *arg, int status),
                  void *arg) {
  struct ack_group *g = sink->group;
  sink->group = NULL;
  if (!g) {
    done(arg, 0);
    return;
  }
  g->synced = true;
  g->done = done;
  g->arg = arg;
  if (!g->pending)
    ack_finish(g);
}

/* --test prints series as /metrics shows them: labels sorted by name. */
static void print_sample(struct vg_sink *sink, const char *metric,
                         const struct vg_label *unsorted, size_t n,
                         double value, int64_t ts_ms) {
  struct vg_label labels[MAX_LABELS + VG_RESOLVE_EXTRA_LABELS];
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    while (j > 0 && strcmp(labels[j - 1].name, unsorted[i].name) > 0) {
      labels[j] = labels[j - 1];
      j--;
    }
    labels[j] = unsorted[i];
  }
  struct vg_buf line;
  vg_buf_init(&line, 1 << 20);
  vg_buf_puts(&line, metric);
  for (size_t i = 0; i < n; i++) {
    vg_buf_printf(&line, "%c%s=\"", i ? ',' : '{', labels[i].name);
    vg_expfmt_escape_label_value(&line, labels[i].value,
                                 strlen(labels[i].value));
    vg_buf_putc(&line, '"');
  }
  char v[VG_EXPFMT_DOUBLE_BUFSIZE];
  vg_expfmt_format_double(value, v);
  vg_buf_printf(&line, "%s %s %lld\n", n ? "}" : "", v, (long long)ts_ms);
  fputs(line.data, sink->print);
  vg_buf_free(&line);
}

/* A stale marker the source sent: the source no longer provides the
 * series.  The marker goes on to the push exporters when the series left
 * the store with it, or was not in it (the sinks may still have it), or
 * came late (history); not while another source still provides the
 * series, whose sinks must not see a gap. */
static void pass_marker(struct vg_sink *sink, const char *metric,
                        const struct vg_label *labels, size_t n,
                        int64_t ts_ms) {
  int64_t at;
  switch (vg_source_unput(sink->source, metric, labels, n, ts_ms,
                          sink->round_now_ms, &at)) {
  case VG_UNPUT_OTHERS:
  case VG_UNPUT_KEPT:
    return;
  case VG_UNPUT_LATE:
    sink->stats.late++;
    break;
  case VG_UNPUT_ABSENT:
  case VG_UNPUT_GONE:
    break;
  }
  if (sink->journal)
    append(sink, metric, labels, n, vg_stale_nan(), at, 0);
}

/* The sample's "village" label, from the record or the constants. */
static const char *village_of(const struct vg_sink *sink,
                              const struct vg_label *labels, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (labels[i].name[0] == 'v' && strcmp(labels[i].name, "village") == 0)
      return labels[i].value;
  for (size_t i = 0; i < sink->nconst; i++)
    if (strcmp(sink->consts[i].name, "village") == 0)
      return sink->consts[i].value;
  return NULL;
}

static void check_sample(struct vg_sink *sink, const char *metric,
                         const struct vg_label *labels, size_t nlabels,
                         double value, int64_t ts_ms,
                         const struct vg_location *where, bool in_run);

static void check_labelled(struct vg_sink *sink, const char *metric,
                           const struct vg_indicator *ind, bool marker,
                           const struct vg_label *final, size_t n,
                           size_t village, struct vg_store_labels *prepared,
                           double value, int64_t ts_ms,
                           const struct vg_location *where);
static void check_named(struct vg_sink *sink, const char *metric,
                        const struct vg_indicator *ind,
                        const struct vg_label *labels, size_t nlabels,
                        double value, int64_t ts_ms,
                        const struct vg_location *where, bool in_run);

static void label_run(void *arg, const struct vg_label *labels,
                      size_t nlabels) {
  struct vg_sink *sink = arg;
  sink->run.labels = labels;
  sink->run.n = nlabels;
  sink->run.ready = false;
}

static void sample(void *arg, const char *metric, const struct vg_label *labels,
                   size_t nlabels, double value, int64_t ts_ms,
                   const struct vg_location *where) {
  struct vg_sink *sink = arg;
  if (!sink->source)
    abort(); /* a collector emitted outside vg_sink_begin/end */
  bool in_run =
      sink->run.labels && labels == sink->run.labels && nlabels == sink->run.n;
  sink->sample_village = in_run && sink->run.ready
                             ? sink->run.village
                             : village_of(sink, labels, nlabels);
  check_sample(sink, metric, labels, nlabels, value, ts_ms, where, in_run);
  sink->sample_village = NULL;
}

/* The sample's labels merged with the constants and resolved: 0 and
 * *final, *n, *village (the registry's index, SIZE_MAX: none), or 1
 * after a rejection.  `merged` and `resolved` hold what *final points
 * at. */
static int final_labels(struct vg_sink *sink, const struct vg_label *labels,
                        size_t nlabels, const struct vg_location *where,
                        struct vg_label *merged, struct vg_label *resolved,
                        const struct vg_label **final, size_t *n,
                        size_t *village) {
  if (merge_labels(sink, labels, nlabels, where, merged, n))
    return 1;
  enum vg_reject_reason reason;
  const char *why;
  *village = SIZE_MAX;
  switch (vg_resolve_labels(sink->resolve, merged, *n, resolved, n, village,
                            &reason, &why)) {
  case VG_RESOLVE_AS_IS:
    *final = merged;
    return 0;
  case VG_RESOLVE_FOUND:
    *final = resolved;
    return 0;
  case VG_RESOLVE_REJECTED:
    break;
  }
  /* A derived sample's source was rejected for the same labels. */
  if (!where->derived)
    reject(sink, reason, where, why);
  return 1;
}

/* Checks one sample and stores it, or rejects it. */
static void check_sample(struct vg_sink *sink, const char *metric,
                         const struct vg_label *labels, size_t nlabels,
                         double value, int64_t ts_ms,
                         const struct vg_location *where, bool in_run) {
  size_t len = strnlen(metric, MAX_NAME + 1);
  for (size_t k = 0; k < KNOWN_NAMES; k++)
    if (len && sink->known[k].len == len &&
        memcmp(sink->known[k].name, metric, len) == 0) {
      check_named(sink, metric, sink->known[k].ind, labels, nlabels, value,
                  ts_ms, where, in_run);
      return;
    }
  char detail[256];
  if (len > MAX_NAME) {
    snprintf(detail, sizeof detail,
             "a metric name of %zu bytes (\"%.40s...\") is over the %d allowed",
             strlen(metric), metric, MAX_NAME);
    reject(sink, VG_REJECT_BAD_NAME, where, detail);
    return;
  }
  if (!vg_expfmt_valid_metric_name(metric)) {
    snprintf(detail, sizeof detail, "\"%s\" is not a valid metric name",
             metric);
    reject(sink, VG_REJECT_BAD_NAME, where, detail);
    return;
  }
  /* /metrics shows the daemon's own families under this prefix: a pushed
   * family of the same name would make the page invalid. */
  if (strncmp(metric, "villagemetrics_", 15) == 0) {
    snprintf(detail, sizeof detail,
             "\"%.100s\": names starting with villagemetrics_ are the "
             "daemon's own",
             metric);
    reject(sink, VG_REJECT_BAD_NAME, where, detail);
    return;
  }
  const struct vg_indicator *ind = vg_catalog_find(metric);
  if (len < KNOWN_NAME_MAX) {
    size_t k = sink->known_next;
    sink->known_next = (k + 1) % KNOWN_NAMES;
    memcpy(sink->known[k].name, metric, len);
    sink->known[k].len = len;
    sink->known[k].ind = ind;
  }
  check_named(sink, metric, ind, labels, nlabels, value, ts_ms, where, in_run);
}

/* Checks a sample whose name passed (`ind` its catalog entry or NULL) and
 * stores it, or rejects it. */
static void check_named(struct vg_sink *sink, const char *metric,
                        const struct vg_indicator *ind,
                        const struct vg_label *labels, size_t nlabels,
                        double value, int64_t ts_ms,
                        const struct vg_location *where, bool in_run) {
  char detail[256];
  /* A stale marker (a remote-write sender saying the series is gone) is
   * no value: no range applies to it. */
  bool marker = vg_is_stale_nan(value);
  enum vg_reject_reason reason;
  if (!marker && vg_catalog_check(ind, value, &reason, detail, sizeof detail)) {
    reject(sink, reason, where, detail);
    return;
  }
  const struct vg_label *final;
  size_t n, village;
  struct vg_store_labels *prepared = NULL;
  if (in_run && sink->run.ready) {
    final = sink->run.final;
    n = sink->run.nfinal;
    village = sink->run.village_index;
    prepared = &sink->run.prepared;
  } else if (in_run) {
    if (final_labels(sink, labels, nlabels, where, sink->run.merged,
                     sink->run.resolved, &final, &n, &village))
      return;
    sink->run.ready = true;
    sink->run.village = sink->sample_village;
    sink->run.final = final;
    sink->run.nfinal = n;
    sink->run.village_index = village;
    prepared = &sink->run.prepared;
    vg_store_labels_set(prepared, final, n);
    sink->run.journal_key =
        sink->journal ? vg_journal_label_key(sink->journal) : 0;
  } else {
    struct vg_label merged[MAX_LABELS],
        resolved[MAX_LABELS + VG_RESOLVE_EXTRA_LABELS];
    if (final_labels(sink, labels, nlabels, where, merged, resolved, &final, &n,
                     &village))
      return;
    check_labelled(sink, metric, ind, marker, final, n, village, NULL, value,
                   ts_ms, where);
    return;
  }
  check_labelled(sink, metric, ind, marker, final, n, village, prepared, value,
                 ts_ms, where);
}

/* Stores (or passes on, a marker) a sample whose name and labels passed,
 * or rejects it. */
static void check_labelled(struct vg_sink *sink, const char *metric,
                           const struct vg_indicator *ind, bool marker,
                           const struct vg_label *final, size_t n,
                           size_t village, struct vg_store_labels *prepared,
                           double value, int64_t ts_ms,
                           const struct vg_location *where) {
  char detail[256];
  if (!ts_ms)
    ts_ms = sink->round_now_ms;
  if (marker) {
    pass_marker(sink, metric, final, n, ts_ms);
  } else {
    /* 1 ms after the epoch: older than any sample a source gives. */
    int64_t store_ts = sink->fallback ? 1 : ts_ms;
    int rc = prepared
                 ? vg_source_put_labels(sink->source, ind, metric, prepared,
                                        value, store_ts, sink->round_now_ms)
                 : vg_source_put(sink->source, ind, metric, final, n, value,
                                 store_ts, sink->round_now_ms);
    if (rc < 0) {
      snprintf(detail, sizeof detail,
               "new series %s refused: the collector holds its max_series "
               "(%zu)",
               metric, sink->max_series);
      reject(sink, VG_REJECT_SERIES_LIMIT, where, detail);
      return;
    }
    /* Older than what /metrics shows, which stays; the push exporters
     * still get it, for the history they keep. */
    if (rc == VG_PUT_LATE)
      sink->stats.late++;
    if (village != SIZE_MAX)
      vg_resolve_stored(sink->resolve, village, metric);
    if (sink->journal)
      append(sink, metric, final, n, value, ts_ms,
             prepared ? sink->run.journal_key : 0);
    if (sink->print)
      print_sample(sink, metric, final, n, value, ts_ms);
  }
  sink->round_samples++;
  sink->stats.samples_total++;
  if (sink->receipt)
    vg_receipt_accepted(sink->receipt, where, sink->sample_village);
}

/* Metadata goes to the store as it is: it is not a sample, so neither the
 * catalog nor the round applies.  The parser checked the name and the
 * help's UTF-8. */
static void family(void *arg, const char *name, const char *type,
                   const char *help) {
  struct vg_sink *sink = arg;
  if (vg_expfmt_valid_metric_name(name))
    vg_store_family_meta(sink->store, name, type, help);
}

struct vg_sink *vg_sink_new(struct vg_store *store,
                            const struct vg_sink_options *opts) {
  struct vg_sink *sink = vg_calloc(1, sizeof *sink);
  sink->store = store;
  sink->collector = vg_strdup(opts->collector);
  sink->nconst = opts->nconst;
  sink->consts = vg_calloc(opts->nconst, sizeof *sink->consts);
  for (size_t i = 0; i < opts->nconst; i++) {
    sink->consts[i].name = vg_strdup(opts->const_labels[i].name);
    sink->consts[i].value = vg_strdup(opts->const_labels[i].value);
  }
  sink->stale_after_ms = opts->stale_after_ms;
  sink->print = opts->print;
  sink->journal = opts->journal;
  sink->acknowledge = opts->acknowledge;
  sink->max_series = opts->max_series;
  sink->resolve = opts->resolve;
  sink->fallback = opts->fallback;
  if (sink->journal)
    vg_store_hold_journal(store, sink->journal);
  sink->emitter.sample = sample;
  sink->emitter.reject = reject;
  sink->emitter.family = family;
  sink->emitter.reject_many = reject_many;
  sink->emitter.label_run = label_run;
  sink->emitter.arg = sink;
  vg_hashtab_init(&sink->inputs);
  return sink;
}

void vg_sink_free(struct vg_sink *sink) {
  if (!sink)
    return;
  /* Appends nobody synced: let the journal's answers free the group. */
  if (sink->group) {
    sink->group->synced = true;
    if (!sink->group->pending)
      ack_finish(sink->group);
  }
  if (sink->journal)
    vg_store_release_journal(sink->store);
  for (size_t i = 0; i < sink->nconst; i++) {
    free((char *)sink->consts[i].name);
    free((char *)sink->consts[i].value);
  }
  free(sink->consts);
  for (size_t i = 0; sink->inputs.slots && i <= sink->inputs.mask; i++) {
    struct input *in = sink->inputs.slots[i].item;
    if (in) {
      free(in->key);
      free(in);
    }
  }
  vg_hashtab_free(&sink->inputs);
  free(sink->source_key);
  free(sink->collector);
  free(sink);
}

void vg_sink_begin_update(struct vg_sink *sink, const char *source_key) {
  vg_sink_begin(sink, source_key);
  sink->update_round = true;
}

void vg_sink_begin(struct vg_sink *sink, const char *source_key) {
  sink->source = vg_store_source(sink->store, sink->collector, source_key,
                                 sink->stale_after_ms);
  vg_source_set_max_series(sink->source, sink->max_series);
  sink->update_round = false;
  free(sink->source_key);
  sink->source_key = vg_strdup(source_key);
  vg_source_begin(sink->source);
  sink->round_now_ms = vg_clock_now_ms();
  sink->run.labels = NULL;
  sink->round_samples = 0;
  memset(sink->round_rejected, 0, sizeof sink->round_rejected);
  sink->round_logged = 0;
  sink->round_suppressed = 0;
  sink->round_log = VG_SINK_LOG_ROUND;
  sink->round_has_first = false;
  sink->receipt = NULL;
}

size_t vg_sink_end(struct vg_sink *sink) {
  size_t removed = sink->update_round ? 0 : vg_source_end(sink->source);
  uint64_t rejected = 0;
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
    rejected += sink->round_rejected[r];
  if (sink->round_suppressed && sink->round_log == VG_SINK_LOG_ROUND) {
    char counts[256] = "";
    size_t len = 0;
    for (int r = 0; r < VG_REJECT_REASON_COUNT; r++)
      if (sink->round_rejected[r] && len < sizeof counts)
        len += (size_t)snprintf(counts + len, sizeof counts - len, "%s%s %llu",
                                len ? ", " : "", vg_reject_reason_name(r),
                                (unsigned long long)sink->round_rejected[r]);
    vg_log(VG_LOG_WARNING,
           "collector %s: %s: %u more rejected values not logged one by one "
           "(this round: %s); see /api/v1/status",
           sink->collector, sink->source_key, sink->round_suppressed, counts);
  }
  if (!sink->update_round)
    set_input(sink, sink->source_key, sink->round_samples,
              sink->round_rejected);
  else if (!sink->inputs.count)
    sink->stats.input_samples = sink->round_samples;
  sink->stats.round_samples = sink->round_samples;
  sink->stats.round_rejected = rejected;
  if (sink->receipt)
    vg_receipt_finish(sink->receipt);
  sink->receipt = NULL;
  sink->source = NULL;
  sink->round_now_ms = 0;
  sink->run.labels = NULL;
  return removed;
}

size_t vg_sink_touch(struct vg_sink *sink, const char *source_key) {
  struct vg_source *src = vg_store_source(sink->store, sink->collector,
                                          source_key, sink->stale_after_ms);
  return vg_source_touch(src, vg_clock_now_ms());
}

void vg_sink_forget(struct vg_sink *sink, const char *source_key) {
  struct vg_source *src =
      vg_store_source(sink->store, sink->collector, source_key, 0);
  vg_store_drop_source(sink->store, src);
  drop_input(sink, source_key);
}

void vg_sink_refuse_input(struct vg_sink *sink, const char *source_key,
                          enum vg_reject_reason reason,
                          const struct vg_location *where, const char *detail) {
  reject(sink, reason, where, detail);
  /* The series of its last good version stay, and so does their count:
   * only the rejections change. */
  uint64_t samples = 0;
  uint64_t hash = vg_hash_bytes(source_key, strlen(source_key), 0);
  const struct input *in = find_input(sink, source_key, hash);
  if (in)
    samples = in->samples;
  uint64_t rejected[VG_REJECT_REASON_COUNT] = {0};
  rejected[(unsigned)reason < VG_REJECT_REASON_COUNT ? reason
                                                     : VG_REJECT_PARSE_ERROR] =
      1;
  set_input(sink, source_key, samples, rejected);
}

void vg_sink_receipt(struct vg_sink *sink, struct vg_receipt *r) {
  sink->receipt = r;
}

void vg_sink_round_log(struct vg_sink *sink, enum vg_sink_log how) {
  sink->round_log = how;
}

const struct vg_emitter *vg_sink_emitter(struct vg_sink *sink) {
  return &sink->emitter;
}

const struct vg_sink_stats *vg_sink_stats(const struct vg_sink *sink) {
  return &sink->stats;
}

const struct vg_rejection *
vg_sink_round_first_rejection(const struct vg_sink *sink) {
  return sink->round_has_first ? &sink->round_first : NULL;
}

size_t vg_sink_recent(const struct vg_sink *sink,
                      void (*fn)(void *arg, const struct vg_rejection *r),
                      void *arg) {
  size_t first = (sink->recent_next + VG_SINK_RECENT - sink->recent_count) %
                 VG_SINK_RECENT;
  for (size_t i = 0; i < sink->recent_count; i++)
    fn(arg, &sink->recent[(first + i) % VG_SINK_RECENT]);
  return sink->recent_count;
}
