/* daemon/pipeline/store.c - series, label sets, interned strings and sources.
 *
 * Ownership: the store owns every object here.  A series holds one
 * reference to its label set, a label set one reference to each of its
 * strings; the last reference frees.  A family (metric name) lives as long
 * as the store, since the names in use are few and stable; so does the
 * metadata (HELP, TYPE) a source declared for a name.
 *
 * Must never: allocate or format per series on a scrape (vg_store_render
 * only copies cached text), or keep a pointer into a caller's strings.
 */
#include "daemon/pipeline/store.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64
/* The longest value text, "-1.2345678901234567e-308", and its NUL. */
#define VALUE_TEXT_SIZE 25

struct istr {
  uint64_t hash;
  uint32_t refs;
  uint32_t len;
  char text[];
};

struct labelset {
  uint64_t hash;
  uint32_t refs;
  uint32_t count;
  char *text; /* `{a="b",...}`, "" without labels; owned */
  size_t text_len;
  struct istr *pairs[]; /* name, value, name, value ... sorted by name */
};

struct series;

/* HELP and TYPE of a family a source declared (not in the catalog). */
struct meta {
  uint64_t hash;
  enum vg_metric_type type;
  char *help; /* owned; NULL: none */
  size_t name_len;
  char name[];
};

struct family {
  char *name; /* owned */
  size_t name_len;
  const struct vg_indicator *ind;
  /* Without `ind`: the metadata the family renders under, found when the
   * families are sorted (NULL: none), and the length of the prefix of
   * `name` that names its group: "x" for "x_bucket" of histogram "x",
   * the whole name otherwise.  Families sort by group, then name, so that
   * a histogram's parts stay together. */
  const struct meta *meta;
  size_t group_len;
  struct series **series; /* owned array; the series are the store's */
  size_t count, cap;
};

struct series {
  struct family *family;
  struct labelset *labels;
  struct vg_source *source;
  struct series *src_prev, *src_next;
  double value;
  int64_t ts_ms;
  int64_t seen_ms;
  uint32_t generation;
  uint32_t family_index;
  uint8_t value_len; /* 0: value_text not rendered since value changed */
  bool dead;         /* removed while a cursor was open; freed later */
  char value_text[VALUE_TEXT_SIZE];
};

struct vg_source {
  struct vg_store *store;
  char *collector; /* owned */
  char *key;       /* owned */
  uint64_t hash;
  int64_t stale_after_ms;
  uint32_t generation;
  uint64_t last_round; /* the store's round count when one last began */
  /* Its series, in the order of the last round's reports: each reported
   * series moves to the tail, so the ones not yet reported this round
   * stay at the front, in the order they came last time. */
  struct series *head, *tail;
  size_t count;
  size_t max_series; /* 0: no cap */
};

struct vg_store {
  struct vg_hashtab strings, labelsets, families, series, sources, metas;
  struct family **fams; /* every family, sorted by name when fams_sorted */
  size_t nfams, capfams;
  bool fams_sorted;
  uint64_t rounds;     /* begun by any source */
  unsigned cursors;    /* open; while any is, removed series wait in dead */
  struct series *dead; /* linked through src_next */
};

_Static_assert(sizeof("-1.2345678901234567e-308") <= VALUE_TEXT_SIZE,
               "room for %.17g of any double");

struct vg_store *vg_store_new(void) {
  struct vg_store *st = vg_calloc(1, sizeof *st);
  /* Filled by the million from pushes: these grow in steps (the loop
   * must not stop to rehash them); the others are walked, so grow whole. */
  vg_hashtab_init_incremental(&st->strings);
  vg_hashtab_init_incremental(&st->labelsets);
  vg_hashtab_init(&st->families);
  vg_hashtab_init_incremental(&st->series);
  vg_hashtab_init(&st->sources);
  vg_hashtab_init(&st->metas);
  st->fams_sorted = true;
  return st;
}

/* --- interned strings ------------------------------------------------ */

static struct istr *intern(struct vg_store *st, const char *s, size_t len) {
  uint64_t h = vg_hash_mix(vg_hash_bytes(s, len, 0));
  size_t pos = (size_t)-1;
  struct istr *is;
  while ((is = vg_hashtab_next(&st->strings, h, &pos)))
    if (is->len == len && memcmp(is->text, s, len) == 0) {
      is->refs++;
      return is;
    }
  is = vg_malloc(sizeof *is + len + 1);
  is->hash = h;
  is->refs = 1;
  is->len = (uint32_t)len;
  memcpy(is->text, s, len);
  is->text[len] = '\0';
  vg_hashtab_insert(&st->strings, h, is);
  return is;
}

static void unintern(struct vg_store *st, struct istr *is) {
  if (--is->refs)
    return;
  vg_hashtab_remove(&st->strings, is->hash, is);
  free(is);
}

/* --- label sets ------------------------------------------------------ */

struct sorted_labels {
  const struct vg_label *v[MAX_LABELS];
  size_t len[MAX_LABELS * 2];
  size_t n;
  uint64_t hash;
};

/* Sorts the labels and measures them; the hash is left to hash_labels,
 * which a series found in its source's order does without. */
static void sort_labels(const struct vg_label *labels, size_t n,
                        struct sorted_labels *out) {
  if (n > MAX_LABELS)
    abort(); /* the sink enforces the limit */
  out->n = n;
  /* Insertion sort: a village has a handful of labels. */
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    while (j > 0 && strcmp(out->v[j - 1]->name, labels[i].name) > 0) {
      out->v[j] = out->v[j - 1];
      j--;
    }
    out->v[j] = &labels[i];
  }
  for (size_t i = 0; i < n; i++) {
    out->len[2 * i] = strlen(out->v[i]->name);
    out->len[2 * i + 1] = strlen(out->v[i]->value);
  }
}

static void hash_labels(struct sorted_labels *sl) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < sl->n; i++) {
    h = vg_hash_bytes(sl->v[i]->name, sl->len[2 * i] + 1, h);
    h = vg_hash_bytes(sl->v[i]->value, sl->len[2 * i + 1] + 1, h);
  }
  sl->hash = vg_hash_mix(h);
}

static bool labelset_equals(const struct labelset *ls,
                            const struct sorted_labels *sl) {
  if (ls->count != sl->n)
    return false;
  for (size_t i = 0; i < sl->n; i++) {
    const struct istr *name = ls->pairs[2 * i], *value = ls->pairs[2 * i + 1];
    if (name->len != sl->len[2 * i] || value->len != sl->len[2 * i + 1] ||
        memcmp(name->text, sl->v[i]->name, name->len) != 0 ||
        memcmp(value->text, sl->v[i]->value, value->len) != 0)
      return false;
  }
  return true;
}

static struct labelset *find_labelset(struct vg_store *st,
                                      const struct sorted_labels *sl) {
  size_t pos = (size_t)-1;
  struct labelset *ls;
  while ((ls = vg_hashtab_next(&st->labelsets, sl->hash, &pos)))
    if (labelset_equals(ls, sl))
      return ls;
  return NULL;
}

static struct labelset *make_labelset(struct vg_store *st,
                                      const struct sorted_labels *sl) {
  struct labelset *ls =
      vg_malloc(sizeof *ls + 2 * sl->n * sizeof(struct istr *));
  ls->hash = sl->hash;
  ls->refs = 0;
  ls->count = (uint32_t)sl->n;
  struct vg_buf text;
  vg_buf_init(&text, SIZE_MAX / 2);
  for (size_t i = 0; i < sl->n; i++) {
    ls->pairs[2 * i] = intern(st, sl->v[i]->name, sl->len[2 * i]);
    ls->pairs[2 * i + 1] = intern(st, sl->v[i]->value, sl->len[2 * i + 1]);
    vg_buf_putc(&text, i ? ',' : '{');
    vg_buf_append(&text, sl->v[i]->name, sl->len[2 * i]);
    vg_buf_append(&text, "=\"", 2);
    vg_expfmt_escape_label_value(&text, sl->v[i]->value, sl->len[2 * i + 1]);
    vg_buf_putc(&text, '"');
  }
  if (sl->n)
    vg_buf_putc(&text, '}');
  ls->text = vg_buf_take(&text, &ls->text_len);
  vg_hashtab_insert(&st->labelsets, ls->hash, ls);
  return ls;
}

static void release_labelset(struct vg_store *st, struct labelset *ls) {
  if (--ls->refs)
    return;
  vg_hashtab_remove(&st->labelsets, ls->hash, ls);
  for (size_t i = 0; i < 2 * (size_t)ls->count; i++)
    unintern(st, ls->pairs[i]);
  free(ls->text);
  free(ls);
}

/* --- families -------------------------------------------------------- */

static struct family *find_family(struct vg_store *st, const char *name,
                                  uint64_t h) {
  size_t pos = (size_t)-1;
  struct family *f;
  while ((f = vg_hashtab_next(&st->families, h, &pos)))
    if (strcmp(f->name, name) == 0)
      return f;
  return NULL;
}

static struct family *get_family(struct vg_store *st, const char *name,
                                 const struct vg_indicator *ind) {
  size_t len = strlen(name);
  uint64_t h = vg_hash_mix(vg_hash_bytes(name, len, 0));
  struct family *f = find_family(st, name, h);
  if (f)
    return f;
  f = vg_calloc(1, sizeof *f);
  f->name = vg_strndup(name, len);
  f->name_len = len;
  f->group_len = len;
  f->ind = ind;
  vg_hashtab_insert(&st->families, h, f);
  st->fams = vg_grow(st->fams, &st->capfams, st->nfams + 1, sizeof *st->fams);
  st->fams[st->nfams++] = f;
  st->fams_sorted = false;
  return f;
}

/* --- metadata -------------------------------------------------------- */

static struct meta *find_meta(const struct vg_store *st, const char *name,
                              size_t len) {
  uint64_t h = vg_hash_mix(vg_hash_bytes(name, len, 0));
  size_t pos = (size_t)-1;
  struct meta *m;
  while ((m = vg_hashtab_next(&st->metas, h, &pos)))
    if (m->name_len == len && memcmp(m->name, name, len) == 0)
      return m;
  return NULL;
}

void vg_store_family_meta(struct vg_store *st, const char *name,
                          const char *type, const char *help) {
  if (vg_catalog_find(name))
    return;
  int t = type ? vg_metric_type_parse(type) : -1;
  enum vg_metric_type mt = t < 0 ? VG_TYPE_UNTYPED : (enum vg_metric_type)t;
  size_t len = strlen(name);
  struct meta *m = find_meta(st, name, len);
  if (!m) {
    m = vg_malloc(sizeof *m + len + 1);
    m->hash = vg_hash_mix(vg_hash_bytes(name, len, 0));
    m->help = NULL;
    m->name_len = len;
    memcpy(m->name, name, len + 1);
    vg_hashtab_insert(&st->metas, m->hash, m);
    m->type = mt;
    st->fams_sorted = false; /* families may group differently now */
  } else if (m->type != mt) {
    m->type = mt;
    st->fams_sorted = false;
  }
  /* An exporter declares the same help on every scrape: compare first. */
  if (help ? !m->help || strcmp(m->help, help) != 0 : m->help != NULL) {
    free(m->help);
    m->help = help ? vg_strdup(help) : NULL;
  }
}

/* The series names a family of each type spreads over, besides its own. */
static const struct {
  const char *suffix;
  size_t len;
  unsigned types; /* bit per enum vg_metric_type */
} family_suffixes[] = {
    {"_bucket", 7, 1u << VG_TYPE_HISTOGRAM},
    {"_count", 6, 1u << VG_TYPE_HISTOGRAM | 1u << VG_TYPE_SUMMARY},
    {"_sum", 4, 1u << VG_TYPE_HISTOGRAM | 1u << VG_TYPE_SUMMARY},
    {"_total", 6, 1u << VG_TYPE_COUNTER},
};

/* Finds the metadata a family renders under: its own name's, or that of
 * the histogram, summary or counter it is a part of. */
static void resolve_meta(const struct vg_store *st, struct family *f) {
  f->meta = NULL;
  f->group_len = f->name_len;
  if (f->ind)
    return;
  f->meta = find_meta(st, f->name, f->name_len);
  if (f->meta)
    return;
  for (size_t i = 0; i < sizeof family_suffixes / sizeof *family_suffixes;
       i++) {
    size_t n = family_suffixes[i].len;
    if (f->name_len <= n ||
        memcmp(f->name + f->name_len - n, family_suffixes[i].suffix, n) != 0)
      continue;
    const struct meta *m = find_meta(st, f->name, f->name_len - n);
    if (m && (family_suffixes[i].types & 1u << m->type)) {
      f->meta = m;
      /* A counter renders under its sample's name (text 0.0.4 wants it
       * so); histogram and summary parts under their family's. */
      if (m->type != VG_TYPE_COUNTER)
        f->group_len = m->name_len;
      return;
    }
  }
}

/* --- series ---------------------------------------------------------- */

static uint64_t series_hash(const struct family *f, const struct labelset *ls) {
  return vg_hash_mix((uint64_t)(uintptr_t)f * 0x9e3779b97f4a7c15ull ^
                     (uint64_t)(uintptr_t)ls);
}

static struct series *find_series(struct vg_store *st, struct family *f,
                                  struct labelset *ls) {
  size_t pos = (size_t)-1;
  struct series *s;
  uint64_t h = series_hash(f, ls);
  while ((s = vg_hashtab_next(&st->series, h, &pos)))
    if (s->family == f && s->labels == ls)
      return s;
  return NULL;
}

/* Appends s to its source's list. */
static void link_to_source(struct series *s, struct vg_source *src) {
  s->source = src;
  s->src_next = NULL;
  s->src_prev = src->tail;
  if (src->tail)
    src->tail->src_next = s;
  else
    src->head = s;
  src->tail = s;
  src->count++;
}

static void unlink_from_source(struct series *s) {
  struct vg_source *src = s->source;
  if (s->src_prev)
    s->src_prev->src_next = s->src_next;
  else
    src->head = s->src_next;
  if (s->src_next)
    s->src_next->src_prev = s->src_prev;
  else
    src->tail = s->src_prev;
  src->count--;
}

static void free_series(struct vg_store *st, struct series *s) {
  struct family *f = s->family;
  struct series *last = f->series[--f->count];
  f->series[s->family_index] = last;
  last->family_index = s->family_index;
  release_labelset(st, s->labels);
  free(s);
}

/* Takes a series out of every index at once; its memory (and its place in
 * the family, which open cursors walk by position) waits until no cursor
 * is open. */
static void remove_series(struct vg_store *st, struct series *s) {
  vg_hashtab_remove(&st->series, series_hash(s->family, s->labels), s);
  unlink_from_source(s);
  if (!st->cursors) {
    free_series(st, s);
    return;
  }
  s->dead = true;
  s->source = NULL;
  s->src_next = st->dead;
  st->dead = s;
}

/* --- sources --------------------------------------------------------- */

static uint64_t source_hash(const char *collector, const char *key) {
  uint64_t h = vg_hash_bytes(collector, strlen(collector) + 1, 0);
  return vg_hash_mix(vg_hash_bytes(key, strlen(key), h));
}

struct vg_source *vg_store_source(struct vg_store *st, const char *collector,
                                  const char *key, int64_t stale_after_ms) {
  uint64_t h = source_hash(collector, key);
  size_t pos = (size_t)-1;
  struct vg_source *src;
  while ((src = vg_hashtab_next(&st->sources, h, &pos)))
    if (strcmp(src->collector, collector) == 0 && strcmp(src->key, key) == 0) {
      src->stale_after_ms = stale_after_ms;
      return src;
    }
  src = vg_calloc(1, sizeof *src);
  src->store = st;
  src->collector = vg_strdup(collector);
  src->key = vg_strdup(key);
  src->hash = h;
  src->stale_after_ms = stale_after_ms;
  vg_hashtab_insert(&st->sources, h, src);
  return src;
}

void vg_store_drop_source(struct vg_store *st, struct vg_source *src) {
  while (src->head)
    remove_series(st, src->head);
  vg_hashtab_remove(&st->sources, src->hash, src);
  free(src->collector);
  free(src->key);
  free(src);
}

void vg_store_drop_collector(struct vg_store *st, const char *collector) {
  vg_store_drop_unreported(st, collector, UINT64_MAX);
}

void vg_source_begin(struct vg_source *src) {
  src->generation++;
  src->last_round = ++src->store->rounds;
}

uint64_t vg_store_round_mark(const struct vg_store *st) {
  return st->rounds;
}

size_t vg_store_drop_unreported(struct vg_store *st, const char *collector,
                                uint64_t mark) {
  size_t dropped = 0;
  /* Removing shifts slots, so restart the scan after each removal. */
  for (bool again = true; again;) {
    again = false;
    for (size_t i = 0; st->sources.slots && i <= st->sources.mask; i++) {
      struct vg_source *src = st->sources.slots[i].item;
      if (src && src->last_round <= mark &&
          strcmp(src->collector, collector) == 0) {
        vg_store_drop_source(st, src);
        dropped++;
        again = true;
        break;
      }
    }
  }
  return dropped;
}

/* The series a source reported next in its last round, if it is the one
 * reported now: sources (a page, a file, a script's output) report their
 * series in the same order round after round, so this spares the hashing
 * of the labels and two lookups in tables too large for the cache. */
static struct series *expected(const struct vg_source *src, const char *metric,
                               const struct sorted_labels *sl) {
  struct series *s = src->head;
  if (s && s->generation != src->generation &&
      strcmp(s->family->name, metric) == 0 && labelset_equals(s->labels, sl))
    return s;
  return NULL;
}

/* The series of (metric, labels), made (in no source yet) if new; NULL
 * when it would be new to a source at its max_series. */
static struct series *find_or_make(struct vg_source *src,
                                   const struct vg_indicator *ind,
                                   const char *metric,
                                   struct sorted_labels *sl) {
  struct vg_store *st = src->store;
  hash_labels(sl);
  struct labelset *ls = find_labelset(st, sl);
  if (src->max_series && src->count >= src->max_series) {
    /* At the cap, look before creating anything: a sender minting new
     * names or label values must not grow the store by a byte. */
    size_t len = strlen(metric);
    struct family *f =
        find_family(st, metric, vg_hash_mix(vg_hash_bytes(metric, len, 0)));
    struct series *s = f && ls ? find_series(st, f, ls) : NULL;
    return s && s->source == src ? s : NULL;
  }
  struct family *f = get_family(st, metric, ind);
  struct series *s = ls ? find_series(st, f, ls) : NULL;
  if (s)
    return s;
  if (!ls)
    ls = make_labelset(st, sl);
  ls->refs++;
  s = vg_calloc(1, sizeof *s);
  s->family = f;
  s->labels = ls;
  f->series = vg_grow(f->series, &f->cap, f->count + 1, sizeof *f->series);
  s->family_index = (uint32_t)f->count;
  f->series[f->count++] = s;
  vg_hashtab_insert(&st->series, series_hash(f, ls), s);
  return s;
}

int vg_source_put(struct vg_source *src, const struct vg_indicator *ind,
                  const char *metric, const struct vg_label *labels,
                  size_t nlabels, double value, int64_t ts_ms, int64_t now_ms) {
  struct sorted_labels sl;
  sort_labels(labels, nlabels, &sl);
  struct series *s = expected(src, metric, &sl);
  if (!s && !(s = find_or_make(src, ind, metric, &sl)))
    return -ENOSPC;
  /* To the tail of its source, taken from another source if need be. */
  if (s->source)
    unlink_from_source(s);
  link_to_source(s, src);
  /* Compare bits, not values: NaN != NaN would re-render forever.  The
   * text is rendered by the next scrape that shows the series, not here:
   * a push may set a value many times between two scrapes. */
  if (memcmp(&s->value, &value, sizeof value) != 0) {
    s->value = value;
    s->value_len = 0;
  }
  s->ts_ms = ts_ms;
  s->seen_ms = now_ms;
  s->generation = src->generation;
  return 0;
}

void vg_source_set_max_series(struct vg_source *src, size_t max_series) {
  src->max_series = max_series;
}

size_t vg_source_end(struct vg_source *src) {
  size_t removed = 0;
  struct series *s = src->head;
  while (s) {
    struct series *next = s->src_next;
    if (s->generation != src->generation) {
      remove_series(src->store, s);
      removed++;
    }
    s = next;
  }
  return removed;
}

size_t vg_source_series(const struct vg_source *src) {
  return src->count;
}

size_t vg_source_touch(struct vg_source *src, int64_t now_ms) {
  for (struct series *s = src->head; s; s = s->src_next)
    s->seen_ms = now_ms;
  return src->count;
}

size_t vg_store_expire(struct vg_store *st, int64_t now_ms) {
  size_t removed = 0;
  for (size_t i = 0; st->sources.slots && i <= st->sources.mask; i++) {
    struct vg_source *src = st->sources.slots[i].item;
    if (!src || src->stale_after_ms <= 0)
      continue;
    int64_t cutoff = now_ms - src->stale_after_ms;
    for (struct series *s = src->head, *next; s; s = next) {
      next = s->src_next;
      if (s->seen_ms < cutoff) {
        remove_series(st, s);
        removed++;
      }
    }
  }
  return removed;
}

void vg_store_stats(const struct vg_store *st, struct vg_store_stats *out) {
  out->series = st->series.count;
  out->families = st->families.count;
  out->family_metas = st->metas.count;
  out->label_sets = st->labelsets.count;
  out->strings = st->strings.count;
  out->sources = st->sources.count;
}

int vg_store_get(struct vg_store *st, const char *metric,
                 const struct vg_label *labels, size_t nlabels, double *value) {
  size_t len = strlen(metric);
  struct family *f =
      find_family(st, metric, vg_hash_mix(vg_hash_bytes(metric, len, 0)));
  if (!f || nlabels > MAX_LABELS)
    return -1;
  struct sorted_labels sl;
  sort_labels(labels, nlabels, &sl);
  hash_labels(&sl);
  struct labelset *ls = find_labelset(st, &sl);
  struct series *s = ls ? find_series(st, f, ls) : NULL;
  if (!s)
    return -1;
  *value = s->value;
  return 0;
}

/* --- rendering ------------------------------------------------------- */

/* By group, then by name: "x" < "x_a" < "x_bucket" by name alone would
 * split histogram x, which sorts as "x" whole before "x_a". */
static int compare_family(const void *a, const void *b) {
  const struct family *fa = *(struct family *const *)a;
  const struct family *fb = *(struct family *const *)b;
  size_t n = fa->group_len < fb->group_len ? fa->group_len : fb->group_len;
  int c = memcmp(fa->name, fb->name, n);
  if (c)
    return c;
  if (fa->group_len != fb->group_len)
    return fa->group_len < fb->group_len ? -1 : 1;
  return strcmp(fa->name, fb->name);
}

static bool is_grouped(const struct meta *m) {
  return m && (m->type == VG_TYPE_HISTOGRAM || m->type == VG_TYPE_SUMMARY);
}

/* HELP and TYPE of a family whose source declared them.  A histogram or
 * summary is headed once, by its family name, before its first part; a
 * counter by its sample name in text 0.0.4 and without "_total" in
 * OpenMetrics, which calls one without that suffix "unknown". */
static void render_meta_header(const struct family *f, struct vg_buf *out,
                               bool openmetrics) {
  const struct meta *m = f->meta;
  const char *name = f->name;
  size_t len = f->name_len;
  const char *type_name = vg_metric_type_name(m->type);
  if (is_grouped(m)) {
    name = m->name;
    len = m->name_len;
  } else if (m->type == VG_TYPE_COUNTER && openmetrics) {
    if (len > 6 && memcmp(name + len - 6, "_total", 6) == 0)
      len -= 6;
    else
      type_name = "unknown";
  } else if (m->type == VG_TYPE_UNTYPED && openmetrics) {
    type_name = "unknown";
  }
  if (m->help) {
    vg_buf_printf(out, "# HELP %.*s ", (int)len, name);
    vg_expfmt_escape_help(out, m->help);
    vg_buf_putc(out, '\n');
  }
  vg_buf_printf(out, "# TYPE %.*s %s\n", (int)len, name, type_name);
}

static void render_header(const struct family *f, struct vg_buf *out,
                          bool openmetrics) {
  if (f->meta) {
    render_meta_header(f, out, openmetrics);
    return;
  }
  const struct vg_indicator *ind = f->ind;
  enum vg_metric_type type = ind ? ind->type : VG_TYPE_UNTYPED;
  const char *type_name = vg_metric_type_name(type);
  if (openmetrics && type == VG_TYPE_UNTYPED)
    type_name = "unknown";
  if (ind) {
    vg_buf_printf(out, "# HELP %s ", f->name);
    vg_expfmt_escape_help(out, ind->help);
    vg_buf_putc(out, '\n');
  }
  vg_buf_printf(out, "# TYPE %s %s\n", f->name, type_name);
  if (openmetrics && ind && ind->unit[0])
    vg_buf_printf(out, "# UNIT %s %s\n", f->name, ind->unit);
}

struct vg_store_cursor {
  struct vg_store *st;
  bool openmetrics;
  struct family **fams; /* owned copy: families added later are not shown */
  size_t nfams;
  size_t fam;       /* the family being written */
  size_t pos;       /* its next series */
  bool header_done; /* its HELP and TYPE lines are out */
  /* The metadata of the last family headed: the next part of the same
   * histogram or summary gets no header of its own. */
  const struct meta *headed;
  struct vg_buf held; /* text that did not fit in the last read */
  size_t held_off;
};

struct vg_store_cursor *vg_store_cursor_new(struct vg_store *st,
                                            bool openmetrics) {
  if (!st->fams_sorted) {
    for (size_t i = 0; i < st->nfams; i++)
      resolve_meta(st, st->fams[i]);
    qsort(st->fams, st->nfams, sizeof *st->fams, compare_family);
    st->fams_sorted = true;
  }
  struct vg_store_cursor *c = vg_calloc(1, sizeof *c);
  c->st = st;
  c->openmetrics = openmetrics;
  c->nfams = st->nfams;
  c->fams = vg_malloc(st->nfams * sizeof *c->fams);
  if (st->nfams)
    memcpy(c->fams, st->fams, st->nfams * sizeof *c->fams);
  vg_buf_init(&c->held, SIZE_MAX / 2);
  st->cursors++;
  return c;
}

/* Copies what an earlier read could not place. */
static size_t drain_held(struct vg_store_cursor *c, char *out, size_t max) {
  size_t n = c->held.len - c->held_off;
  if (n > max)
    n = max;
  memcpy(out, c->held.data + c->held_off, n);
  c->held_off += n;
  if (c->held_off == c->held.len) {
    vg_buf_reset(&c->held);
    c->held_off = 0;
  }
  return n;
}

static bool has_live_series(const struct family *f) {
  for (size_t k = 0; k < f->count; k++)
    if (!f->series[k]->dead)
      return true;
  return false;
}

/* The hot loop of a scrape: whole lines copied from cached text. */
static size_t copy_lines(struct vg_store_cursor *c, const struct family *f,
                         char *out, size_t max, bool read_is_empty) {
  size_t used = 0;
  for (; c->pos < f->count; c->pos++) {
    struct series *s = f->series[c->pos];
    if (s->dead)
      continue;
    if (!s->value_len) {
      char text[VG_EXPFMT_DOUBLE_BUFSIZE];
      size_t n = vg_expfmt_format_double(s->value, text);
      memcpy(s->value_text, text, n + 1);
      s->value_len = (uint8_t)n;
    }
    size_t need = f->name_len + s->labels->text_len + s->value_len + 2;
    if (need > max - used) {
      if (used || !read_is_empty)
        return used; /* the next read starts with this line */
      /* Longer than a whole read: hold it and hand out what fits. */
      vg_buf_append(&c->held, f->name, f->name_len);
      vg_buf_append(&c->held, s->labels->text, s->labels->text_len);
      vg_buf_putc(&c->held, ' ');
      vg_buf_append(&c->held, s->value_text, s->value_len);
      vg_buf_putc(&c->held, '\n');
      c->pos++;
      return drain_held(c, out, max);
    }
    char *p = out + used;
    memcpy(p, f->name, f->name_len);
    p += f->name_len;
    memcpy(p, s->labels->text, s->labels->text_len);
    p += s->labels->text_len;
    *p++ = ' ';
    memcpy(p, s->value_text, s->value_len);
    p += s->value_len;
    *p = '\n';
    used += need;
  }
  return used;
}

size_t vg_store_cursor_read(struct vg_store_cursor *c, char *out, size_t max) {
  size_t used = c->held.len ? drain_held(c, out, max) : 0;
  while (used < max && !c->held.len && c->fam < c->nfams) {
    const struct family *f = c->fams[c->fam];
    if (!c->header_done) {
      if (!has_live_series(f)) {
        c->fam++;
        continue;
      }
      /* Headers are short and once a family: format them into held. */
      if (!is_grouped(f->meta) || f->meta != c->headed)
        render_header(f, &c->held, c->openmetrics);
      c->headed = f->meta;
      c->header_done = true;
      used += drain_held(c, out + used, max - used);
      continue;
    }
    size_t n = copy_lines(c, f, out + used, max - used, used == 0);
    used += n;
    if (c->pos >= f->count) {
      c->fam++;
      c->pos = 0;
      c->header_done = false;
    } else if (n == 0) {
      break; /* the next line waits for the next read */
    }
  }
  return used;
}

void vg_store_cursor_free(struct vg_store_cursor *c) {
  if (!c)
    return;
  struct vg_store *st = c->st;
  if (--st->cursors == 0) {
    while (st->dead) {
      struct series *s = st->dead;
      st->dead = s->src_next;
      free_series(st, s);
    }
  }
  vg_buf_free(&c->held);
  free(c->fams);
  free(c);
}

int vg_store_render(struct vg_store *st, struct vg_buf *out, bool openmetrics) {
  struct vg_store_cursor *c = vg_store_cursor_new(st, openmetrics);
  int rc = 0;
  for (;;) {
    rc = vg_buf_reserve(out, 65536);
    if (rc)
      break;
    size_t n = vg_store_cursor_read(c, out->data + out->len, 65536);
    if (n == 0)
      break;
    out->len += n;
  }
  if (out->data)
    out->data[out->len] = '\0';
  vg_store_cursor_free(c);
  return rc;
}

void vg_store_free(struct vg_store *st) {
  if (!st)
    return;
  while (st->sources.count) {
    for (size_t i = 0; i <= st->sources.mask; i++)
      if (st->sources.slots[i].item) {
        vg_store_drop_source(st, st->sources.slots[i].item);
        break;
      }
  }
  for (size_t i = 0; i < st->nfams; i++) {
    free(st->fams[i]->series);
    free(st->fams[i]->name);
    free(st->fams[i]);
  }
  free(st->fams);
  for (size_t i = 0; st->metas.slots && i <= st->metas.mask; i++) {
    struct meta *m = st->metas.slots[i].item;
    if (m) {
      free(m->help);
      free(m);
    }
  }
  vg_hashtab_free(&st->metas);
  vg_hashtab_free(&st->strings);
  vg_hashtab_free(&st->labelsets);
  vg_hashtab_free(&st->families);
  vg_hashtab_free(&st->series);
  vg_hashtab_free(&st->sources);
  free(st);
}
