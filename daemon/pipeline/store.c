/* daemon/pipeline/store.c - series, label sets, interned strings and sources.
 *
 * Ownership: the store owns every object here.  A series holds one
 * reference to its label set, a label set one reference to each of its
 * strings; the last reference frees.  A family (metric name) lives as long
 * as the store, since the names in use are few and stable; so does the
 * metadata (HELP, TYPE) a source declared for a name.
 *
 * Providers: a source's hold on a series is a `link` in the source's
 * list.  The series itself is the link of the source whose sample it
 * shows (the newest); every other source that provides the series holds
 * a `claim` with its own newest sample, found through a table by series.
 * Nearly every series has one source, so a claim costs nothing until a
 * second source reports the series; the series stays 104 bytes.
 *
 * Must never: allocate or format per series on a scrape (vg_store_render
 * only copies cached text), keep a pointer into a caller's strings, or
 * hold the stale marker as a value.
 */
#include "daemon/pipeline/store.h"
#include "daemon/model/expfmt.h"
#include "daemon/net/gzpiece.h"
#include "daemon/util/clock.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS VG_STORE_MAX_LABELS
/* The longest value text, "-1.2345678901234567e-308" (kept without a NUL:
 * its length is value_len). */
#define VALUE_TEXT_SIZE 24

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
  /* The deflated text of the block of series [k * PIECE_SERIES, ...),
   * held, or NULL when it has changed since (or was never kept). */
  struct vg_gzpiece **pieces;
  size_t npieces;
};

/* A source's hold on a series, in the source's list (reported order). */
struct link {
  struct vg_source *source; /* NULL: a series removed while a cursor was
                               open, waiting to be freed */
  struct link *prev, *next;
  int64_t seen_ms;
  uint32_t generation;
  bool is_claim; /* else the link is the series itself */
};

struct series {
  struct link own; /* first: the source whose sample it shows */
  struct family *family;
  struct labelset *labels;
  double value; /* the newest sample of any of its sources */
  int64_t ts_ms;
  uint32_t family_index;
  uint16_t nclaims;  /* other sources that provide it */
  uint8_t value_len; /* 0: value_text not rendered since value changed */
  char value_text[VALUE_TEXT_SIZE];
};

/* Another source that provides a series, with its own newest sample (not
 * newer than the series'): shown again if the series' source goes. */
struct claim {
  struct link link; /* first */
  struct series *series;
  double value;
  int64_t ts_ms;
};

/* Two sources providing some series together, for the status page. */
struct pair {
  uint64_t hash;
  const struct vg_source *a, *b; /* a < b */
  size_t series;
};

struct vg_source {
  struct vg_store *store;
  char *collector; /* owned */
  char *key;       /* owned */
  uint64_t hash;
  int64_t stale_after_ms;
  uint32_t generation;
  uint64_t last_round; /* the store's round count when one last began */
  /* Its links, in the order of the last round's reports: each reported
   * link moves to the tail, so the ones not yet reported this round stay
   * at the front, in the order they came last time. */
  struct link *head, *tail;
  /* The link after the one reported last, in that order: where a source
   * whose reports broke off goes on (two pushes whose slices take turns
   * each continue their own run).  NULL, or a link of this source. */
  struct link *hint;
  size_t count;
  size_t max_series; /* 0: no cap */
};

struct vg_store {
  struct vg_hashtab strings, labelsets, families, series, sources, metas;
  struct vg_hashtab claims; /* by series */
  struct vg_hashtab pairs;  /* by the two sources */
  struct family **fams;     /* every family, sorted by name when fams_sorted */
  size_t nfams, capfams;
  bool fams_sorted;
  uint64_t rounds;     /* begun by any source */
  unsigned cursors;    /* open; while any is, removed series wait in dead */
  struct series *dead; /* linked through own.next */
  size_t overlapping;  /* series with claims */
  /* Where the stale markers of series that leave go, while held. */
  struct vg_journal *journal;
  unsigned journal_holds;
  uint64_t stale_markers, stale_markers_refused;
  struct vg_complaint marker_complaint;
  /* Label sets freed so far: a struct vg_store_labels holding one checks
   * this before trusting its pointer. */
  uint64_t labelset_frees;
  struct vg_buf scratch; /* a new label set's text, before its copy */
};

/* A gzip scrape sends a family's series in blocks of this many, each
 * deflated once and kept (struct family's `pieces`) until one of its
 * series changes: a page whose values change a few at a time is
 * compressed a few blocks at a time.  About 50 KB of text for village
 * series, enough for deflate to find what repeats. */
#define PIECE_SERIES 512
/* Blocks with less text than this (small families, a family's last
 * block) and the headers are not kept: they are gathered and deflated
 * together on each scrape, up to PIECE_GATHER bytes a piece, rather than
 * kept as pieces too small to compress well. */
#define PIECE_MIN_TEXT 4096
#define PIECE_GATHER 65536

_Static_assert(sizeof("-1.2345678901234567e-308") <= VALUE_TEXT_SIZE + 1,
               "room for %.17g of any double");
/* 104 bytes are 112 with malloc's header: the benchmark's budget of 200
 * bytes a series holds its label sets, tables and families besides. */
_Static_assert(sizeof(struct series) <= 104, "a series stays small");

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
  vg_hashtab_init(&st->claims);
  vg_hashtab_init(&st->pairs);
  st->fams_sorted = true;
  vg_buf_init(&st->scratch, SIZE_MAX / 2);
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

/* Sorts the labels and measures them; the hash is left to hash_labels,
 * which a series found in its source's order does without. */
static void sort_labels(const struct vg_label *labels, size_t n,
                        struct vg_store_labels *out) {
  if (n > MAX_LABELS)
    abort(); /* the sink enforces the limit */
  out->n = n;
  out->hashed = false;
  out->interned = NULL;
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

static void hash_labels(struct vg_store_labels *sl) {
  if (sl->hashed)
    return;
  sl->hashed = true;
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < sl->n; i++) {
    h = vg_hash_bytes(sl->v[i]->name, sl->len[2 * i] + 1, h);
    h = vg_hash_bytes(sl->v[i]->value, sl->len[2 * i + 1] + 1, h);
  }
  sl->hash = vg_hash_mix(h);
}

static bool labelset_equals(const struct labelset *ls,
                            const struct vg_store_labels *sl) {
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
                                      const struct vg_store_labels *sl) {
  size_t pos = (size_t)-1;
  struct labelset *ls;
  while ((ls = vg_hashtab_next(&st->labelsets, sl->hash, &pos)))
    if (labelset_equals(ls, sl))
      return ls;
  return NULL;
}

static struct labelset *make_labelset(struct vg_store *st,
                                      const struct vg_store_labels *sl) {
  struct labelset *ls =
      vg_malloc(sizeof *ls + 2 * sl->n * sizeof(struct istr *));
  ls->hash = sl->hash;
  ls->refs = 0;
  ls->count = (uint32_t)sl->n;
  /* Rendered in the store's scratch, then copied to its exact size: a
   * buffer of its own was a malloc, a realloc and 256 bytes a set. */
  struct vg_buf *text = &st->scratch;
  vg_buf_reset(text);
  for (size_t i = 0; i < sl->n; i++) {
    ls->pairs[2 * i] = intern(st, sl->v[i]->name, sl->len[2 * i]);
    ls->pairs[2 * i + 1] = intern(st, sl->v[i]->value, sl->len[2 * i + 1]);
    vg_buf_putc(text, i ? ',' : '{');
    vg_buf_append(text, sl->v[i]->name, sl->len[2 * i]);
    vg_buf_append(text, "=\"", 2);
    vg_expfmt_escape_label_value(text, sl->v[i]->value, sl->len[2 * i + 1]);
    vg_buf_putc(text, '"');
  }
  if (sl->n)
    vg_buf_putc(text, '}');
  ls->text_len = text->len;
  ls->text = vg_malloc(text->len + 1);
  memcpy(ls->text, text->data ? text->data : "", text->len + 1);
  vg_hashtab_insert(&st->labelsets, ls->hash, ls);
  return ls;
}

static void release_labelset(struct vg_store *st, struct labelset *ls) {
  if (--ls->refs)
    return;
  vg_hashtab_remove(&st->labelsets, ls->hash, ls);
  st->labelset_frees++;
  for (size_t i = 0; i < 2 * (size_t)ls->count; i++)
    unintern(st, ls->pairs[i]);
  free(ls->text);
  free(ls);
}

/* --- families -------------------------------------------------------- */

/* The series at `index` of f changed what it shows (value, presence):
 * its block's deflated text is no longer the page's. */
static void block_changed(struct family *f, size_t index) {
  size_t k = index / PIECE_SERIES;
  if (k < f->npieces && f->pieces[k]) {
    vg_gzpiece_unref(f->pieces[k]);
    f->pieces[k] = NULL;
  }
}

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

void vg_store_each_family_meta(const struct vg_store *st,
                               void (*fn)(void *arg, const char *name,
                                          enum vg_metric_type type,
                                          const char *help),
                               void *arg) {
  for (size_t i = 0; st->metas.slots && i <= st->metas.mask; i++) {
    const struct meta *m = st->metas.slots[i].item;
    if (m)
      fn(arg, m->name, m->type, m->help);
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

static uint64_t ptr_hash(const void *p) {
  return vg_hash_mix((uint64_t)(uintptr_t)p);
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

static struct series *series_of(struct link *l) {
  return l->is_claim ? ((struct claim *)l)->series : (struct series *)l;
}

/* The claim of `src` on s; NULL when src does not provide s or is its
 * own source. */
static struct claim *find_claim(const struct vg_store *st,
                                const struct series *s,
                                const struct vg_source *src) {
  if (!s->nclaims)
    return NULL;
  size_t pos = (size_t)-1;
  struct claim *c;
  while ((c = vg_hashtab_next(&st->claims, ptr_hash(s), &pos)))
    if (c->series == s && c->link.source == src)
      return c;
  return NULL;
}

static struct link *find_link(const struct vg_store *st, struct series *s,
                              const struct vg_source *src) {
  if (s->own.source == src)
    return &s->own;
  struct claim *c = find_claim(st, s, src);
  return c ? &c->link : NULL;
}

/* Appends l to src's list. */
static void link_to_source(struct link *l, struct vg_source *src) {
  l->source = src;
  l->next = NULL;
  l->prev = src->tail;
  if (src->tail)
    src->tail->next = l;
  else
    src->head = l;
  src->tail = l;
  src->count++;
}

static void unlink_from_source(struct link *l) {
  struct vg_source *src = l->source;
  if (src->hint == l)
    src->hint = l->next;
  if (l->prev)
    l->prev->next = l->next;
  else
    src->head = l->next;
  if (l->next)
    l->next->prev = l->prev;
  else
    src->tail = l->prev;
  src->count--;
}

/* Puts l where `at` says (a copy of another link): its source, its place
 * in that source's list, its round and when it was seen. */
static void take_place(struct link *l, const struct link *at) {
  if (at->source->hint == at)
    at->source->hint = l;
  l->source = at->source;
  l->prev = at->prev;
  l->next = at->next;
  l->seen_ms = at->seen_ms;
  l->generation = at->generation;
  if (l->prev)
    l->prev->next = l;
  else
    l->source->head = l;
  if (l->next)
    l->next->prev = l;
  else
    l->source->tail = l;
}

static void set_value(struct series *s, double value, int64_t ts_ms) {
  /* Compare bits, not values: NaN != NaN would re-render forever.  The
   * text is rendered by the next scrape that shows the series, not here:
   * a push may set a value many times between two scrapes. */
  if (memcmp(&s->value, &value, sizeof value) != 0) {
    s->value = value;
    s->value_len = 0;
    block_changed(s->family, s->family_index);
  }
  s->ts_ms = ts_ms;
}

/* A timestamp ahead of the clock counts as now: a sender's clock running
 * ahead, or ours stepped back, must not freeze a series until the clock
 * catches up.  Among such samples the later arrival wins. */
static int64_t effective(int64_t ts_ms, int64_t now_ms) {
  return ts_ms > now_ms ? now_ms : ts_ms;
}

/* The claim's source becomes the series' own and the series' source a
 * claim, samples and places in the lists exchanged: the claim's sample is
 * the newest now. */
static void promote(struct series *s, struct claim *c) {
  struct link own = s->own, claimed = c->link;
  take_place(&s->own, &claimed);
  take_place(&c->link, &own);
  double v = c->value;
  int64_t ts = c->ts_ms;
  c->value = s->value;
  c->ts_ms = s->ts_ms;
  set_value(s, v, ts);
}

/* --- sources providing a series together ----------------------------- */

static uint64_t pair_hash(const struct vg_source *a,
                          const struct vg_source *b) {
  return vg_hash_mix(ptr_hash(a) ^ (uint64_t)(uintptr_t)b);
}

static void count_pair(struct vg_store *st, const struct vg_source *x,
                       const struct vg_source *y, int delta) {
  const struct vg_source *a = x < y ? x : y, *b = x < y ? y : x;
  uint64_t h = pair_hash(a, b);
  size_t pos = (size_t)-1;
  struct pair *p;
  while ((p = vg_hashtab_next(&st->pairs, h, &pos)))
    if (p->a == a && p->b == b)
      break;
  if (!p) {
    p = vg_calloc(1, sizeof *p);
    p->hash = h;
    p->a = a;
    p->b = b;
    vg_hashtab_insert(&st->pairs, h, p);
  }
  p->series += (size_t)delta; /* wraps back for -1 */
  if (!p->series) {
    vg_hashtab_remove(&st->pairs, h, p);
    free(p);
  }
}

/* `src` joins (+1) or leaves (-1) the sources of s: it pairs with every
 * other one.  Called while src's link is not (or no longer) counted in s,
 * so that it is not paired with itself. */
static void count_pairs(struct vg_store *st, const struct series *s,
                        const struct vg_source *src, int delta) {
  if (s->own.source != src)
    count_pair(st, src, s->own.source, delta);
  size_t pos = (size_t)-1;
  struct claim *c;
  while (s->nclaims && (c = vg_hashtab_next(&st->claims, ptr_hash(s), &pos)))
    if (c->series == s && c->link.source != src)
      count_pair(st, src, c->link.source, delta);
}

static struct claim *add_claim(struct vg_store *st, struct series *s,
                               struct vg_source *src, double value,
                               int64_t ts_ms) {
  count_pairs(st, s, src, +1);
  if (!s->nclaims++)
    st->overlapping++;
  struct claim *c = vg_calloc(1, sizeof *c);
  c->link.is_claim = true;
  c->series = s;
  c->value = value;
  c->ts_ms = ts_ms;
  vg_hashtab_insert(&st->claims, ptr_hash(s), c);
  link_to_source(&c->link, src);
  return c;
}

/* Frees a claim already out of its source's list. */
static void free_claim(struct vg_store *st, struct claim *c) {
  struct series *s = c->series;
  vg_hashtab_remove(&st->claims, ptr_hash(s), c);
  if (!--s->nclaims)
    st->overlapping--;
  free(c);
}

/* --- stale markers ---------------------------------------------------- */

/* The time a marker for s goes out at: when it went, but after its last
 * sample, or the receiver would see the marker before the sample. */
static int64_t marker_time(const struct series *s, int64_t when_ms) {
  return when_ms > s->ts_ms ? when_ms : s->ts_ms + 1;
}

/* Tells the push exporters, through the journal, that s is gone. */
static void write_marker(struct vg_store *st, const struct series *s,
                         int64_t when_ms) {
  if (!st->journal)
    return;
  struct vg_label labels[MAX_LABELS];
  const struct labelset *ls = s->labels;
  for (size_t i = 0; i < ls->count; i++) {
    labels[i].name = ls->pairs[2 * i]->text;
    labels[i].value = ls->pairs[2 * i + 1]->text;
  }
  struct vg_journal_record rec = {.metric = s->family->name,
                                  .labels = labels,
                                  .nlabels = ls->count,
                                  .value = vg_stale_nan(),
                                  .ts_ms = marker_time(s, when_ms)};
  int rc = vg_journal_append(st->journal, &rec, 1, NULL, NULL);
  if (rc < 0) {
    st->stale_markers_refused++;
    vg_complain(&st->marker_complaint, VG_LOG_ERR,
                "the journal refused the stale marker of a series that went "
                "(%s): the push exporters keep its last value",
                strerror(-rc));
    return;
  }
  st->stale_markers++;
}

void vg_store_hold_journal(struct vg_store *st, struct vg_journal *j) {
  if (st->journal_holds && st->journal != j)
    abort(); /* one journal per daemon */
  st->journal = j;
  st->journal_holds++;
}

void vg_store_release_journal(struct vg_store *st) {
  if (--st->journal_holds == 0)
    st->journal = NULL;
}

/* --- removal ------------------------------------------------------------ */

static void free_series(struct vg_store *st, struct series *s) {
  struct family *f = s->family;
  struct series *last = f->series[--f->count];
  block_changed(f, s->family_index);
  block_changed(f, f->count);
  f->series[s->family_index] = last;
  last->family_index = s->family_index;
  release_labelset(st, s->labels);
  free(s);
}

/* Takes a series with no other source out of every index at once; its
 * memory (and its place in the family, which open cursors walk by
 * position) waits until no cursor is open.  `when_ms` < 0: no marker. */
static void remove_series(struct vg_store *st, struct series *s,
                          int64_t when_ms) {
  if (when_ms >= 0)
    write_marker(st, s, when_ms);
  vg_hashtab_remove(&st->series, series_hash(s->family, s->labels), s);
  unlink_from_source(&s->own);
  s->own.source = NULL;
  block_changed(s->family, s->family_index);
  if (!st->cursors) {
    free_series(st, s);
    return;
  }
  s->own.next = (struct link *)st->dead;
  st->dead = s;
}

/* The newest sample of the claims on s, by the clock at now_ms. */
static struct claim *newest_claim(const struct vg_store *st,
                                  const struct series *s, int64_t now_ms) {
  struct claim *best = NULL, *c;
  size_t pos = (size_t)-1;
  while ((c = vg_hashtab_next(&st->claims, ptr_hash(s), &pos)))
    if (c->series == s &&
        (!best || effective(c->ts_ms, now_ms) > effective(best->ts_ms, now_ms)))
      best = c;
  return best;
}

/* The link's source no longer provides its series.  The series stays
 * while another source provides it, showing the newest sample left;
 * otherwise it leaves the store, with a stale marker at when_ms unless
 * when_ms < 0.  Returns whether it left. */
static bool remove_link(struct vg_store *st, struct link *l, int64_t when_ms) {
  struct series *s = series_of(l);
  if (!s->nclaims) {
    remove_series(st, s, when_ms);
    return true;
  }
  count_pairs(st, s, l->source, -1);
  unlink_from_source(l);
  if (l->is_claim) {
    free_claim(st, (struct claim *)l);
    return false;
  }
  struct claim *c = newest_claim(st, s, when_ms < 0 ? INT64_MAX : when_ms);
  take_place(&s->own, &c->link);
  set_value(s, c->value, c->ts_ms);
  free_claim(st, c);
  return false;
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

static void drop_source(struct vg_store *st, struct vg_source *src,
                        int64_t when_ms) {
  while (src->head)
    remove_link(st, src->head, when_ms);
  vg_hashtab_remove(&st->sources, src->hash, src);
  free(src->collector);
  free(src->key);
  free(src);
}

void vg_store_drop_source(struct vg_store *st, struct vg_source *src) {
  drop_source(st, src, vg_clock_now_ms());
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
  int64_t now = vg_clock_now_ms();
  /* Removing shifts slots, so restart the scan after each removal. */
  for (bool again = true; again;) {
    again = false;
    for (size_t i = 0; st->sources.slots && i <= st->sources.mask; i++) {
      struct vg_source *src = st->sources.slots[i].item;
      if (src && src->last_round <= mark &&
          strcmp(src->collector, collector) == 0) {
        drop_source(st, src, now);
        dropped++;
        again = true;
        break;
      }
    }
  }
  return dropped;
}

/* The interned set a prepared label set found last time, while the store
 * has freed no set since (it may have been this one). */
static struct labelset *cached_labelset(const struct vg_store *st,
                                        const struct vg_store_labels *sl) {
  if (sl->interned && sl->store == st && sl->frees == st->labelset_frees)
    return (struct labelset *)sl->interned;
  return NULL;
}

static void remember_labelset(const struct vg_store *st,
                              struct vg_store_labels *sl,
                              const struct labelset *ls) {
  sl->interned = ls;
  sl->store = st;
  sl->frees = st->labelset_frees;
}

/* Whether l, not reported yet this round, is the series reported now.  A
 * label set found equal is remembered in *sl, so that the group's next
 * metrics (a point's other fields) compare it by its address. */
static bool is_expected(const struct vg_source *src, struct link *l,
                        const char *metric, struct vg_store_labels *sl) {
  if (!l || l->generation == src->generation)
    return false;
  const struct series *s = series_of(l);
  const struct labelset *ls = cached_labelset(src->store, sl);
  if (ls ? s->labels != ls : !labelset_equals(s->labels, sl))
    return false;
  if (!ls)
    remember_labelset(src->store, sl, s->labels);
  return strcmp(s->family->name, metric) == 0;
}

/* The link a source reported next in its last round, if it is the one
 * reported now: sources (a page, a file, a script's output) report their
 * series in the same order round after round, so this spares the hashing
 * of the labels and two lookups in tables too large for the cache.  Next
 * in that order is the head, or the hint once the reports broke off. */
static struct link *expected(const struct vg_source *src, const char *metric,
                             struct vg_store_labels *sl) {
  if (is_expected(src, src->head, metric, sl))
    return src->head;
  if (src->hint != src->head && is_expected(src, src->hint, metric, sl))
    return src->hint;
  return NULL;
}

/* The series of (metric, labels), made (in no source yet) if new; NULL
 * when it would be new to a source at its max_series. */
static struct series *find_or_make(struct vg_source *src,
                                   const struct vg_indicator *ind,
                                   const char *metric,
                                   struct vg_store_labels *sl) {
  struct vg_store *st = src->store;
  struct labelset *ls = cached_labelset(st, sl);
  if (!ls) {
    hash_labels(sl);
    ls = find_labelset(st, sl);
  }
  if (src->max_series && src->count >= src->max_series) {
    /* At the cap, look before creating anything: a sender minting new
     * names or label values must not grow the store by a byte. */
    size_t len = strlen(metric);
    struct family *f =
        find_family(st, metric, vg_hash_mix(vg_hash_bytes(metric, len, 0)));
    struct series *s = f && ls ? find_series(st, f, ls) : NULL;
    return s && find_link(st, s, src) ? s : NULL;
  }
  struct family *f = get_family(st, metric, ind);
  struct series *s = ls ? find_series(st, f, ls) : NULL;
  if (s) {
    remember_labelset(st, sl, ls);
    return s;
  }
  if (!ls)
    ls = make_labelset(st, sl);
  ls->refs++;
  remember_labelset(st, sl, ls);
  s = vg_calloc(1, sizeof *s);
  s->family = f;
  s->labels = ls;
  f->series = vg_grow(f->series, &f->cap, f->count + 1, sizeof *f->series);
  s->family_index = (uint32_t)f->count;
  f->series[f->count++] = s;
  block_changed(f, s->family_index);
  vg_hashtab_insert(&st->series, series_hash(f, ls), s);
  return s;
}

/* Stores the sample in the link of its source (made if new); returns
 * VG_PUT_NEWEST, VG_PUT_LATE, or -ENOSPC (nothing changed), and leaves in
 * *lp the source's link. */
static int put_sample(struct vg_store *st, struct series *s, struct link *l,
                      struct vg_source *src, double value, int64_t ts_ms,
                      int64_t now_ms, struct link **lp) {
  int64_t t = effective(ts_ms, now_ms);
  if (!l && !s->own.source) { /* a new series */
    link_to_source(&s->own, src);
    set_value(s, value, ts_ms);
    *lp = &s->own;
    return VG_PUT_NEWEST;
  }
  struct claim *c;
  if (!l) {
    if (s->nclaims == UINT16_MAX)
      return -ENOSPC;
    c = add_claim(st, s, src, value, ts_ms);
  } else if (!l->is_claim) {
    *lp = l;
    if (t < effective(s->ts_ms, now_ms))
      return VG_PUT_LATE;
    set_value(s, value, ts_ms);
    return VG_PUT_NEWEST;
  } else {
    c = (struct claim *)l;
    if (t >= effective(c->ts_ms, now_ms)) {
      c->value = value;
      c->ts_ms = ts_ms;
    }
  }
  if (t < effective(s->ts_ms, now_ms)) {
    *lp = &c->link;
    return VG_PUT_LATE;
  }
  promote(s, c);
  *lp = &s->own;
  return VG_PUT_NEWEST;
}

void vg_store_labels_set(struct vg_store_labels *out,
                         const struct vg_label *labels, size_t n) {
  /* Hashed only if the series is not the one its source expects. */
  sort_labels(labels, n, out);
}

int vg_source_put(struct vg_source *src, const struct vg_indicator *ind,
                  const char *metric, const struct vg_label *labels,
                  size_t nlabels, double value, int64_t ts_ms, int64_t now_ms) {
  struct vg_store_labels sl;
  sort_labels(labels, nlabels, &sl);
  return vg_source_put_labels(src, ind, metric, &sl, value, ts_ms, now_ms);
}

int vg_source_put_labels(struct vg_source *src, const struct vg_indicator *ind,
                         const char *metric, struct vg_store_labels *sl,
                         double value, int64_t ts_ms, int64_t now_ms) {
  if (vg_is_stale_nan(value))
    abort(); /* a marker is not a value: vg_source_unput */
  struct vg_store *st = src->store;
  struct link *l = expected(src, metric, sl);
  struct series *s;
  if (l) {
    s = series_of(l);
  } else {
    if (!(s = find_or_make(src, ind, metric, sl)))
      return -ENOSPC;
    l = find_link(st, s, src);
  }
  int rc = put_sample(st, s, l, src, value, ts_ms, now_ms, &l);
  if (rc < 0)
    return rc;
  /* To the tail of its source: reported in this round. */
  src->hint = l->next;
  if (l != src->tail) {
    unlink_from_source(l);
    link_to_source(l, src);
  }
  l->seen_ms = now_ms;
  l->generation = src->generation;
  return rc;
}

enum vg_unput vg_source_unput(struct vg_source *src, const char *metric,
                              const struct vg_label *labels, size_t nlabels,
                              int64_t ts_ms, int64_t now_ms,
                              int64_t *marker_ts_ms) {
  struct vg_store *st = src->store;
  size_t len = strlen(metric);
  struct family *f =
      find_family(st, metric, vg_hash_mix(vg_hash_bytes(metric, len, 0)));
  struct vg_store_labels sl;
  sort_labels(labels, nlabels, &sl);
  hash_labels(&sl);
  struct labelset *ls = f ? find_labelset(st, &sl) : NULL;
  struct series *s = ls ? find_series(st, f, ls) : NULL;
  *marker_ts_ms = ts_ms;
  if (!s)
    return VG_UNPUT_ABSENT;
  struct link *l = find_link(st, s, src);
  if (!l)
    return VG_UNPUT_OTHERS;
  int64_t newest = l->is_claim ? ((struct claim *)l)->ts_ms : s->ts_ms;
  if (effective(ts_ms, now_ms) < effective(newest, now_ms))
    return VG_UNPUT_LATE;
  *marker_ts_ms = marker_time(s, ts_ms);
  return remove_link(st, l, -1) ? VG_UNPUT_GONE : VG_UNPUT_KEPT;
}

void vg_source_set_max_series(struct vg_source *src, size_t max_series) {
  src->max_series = max_series;
}

size_t vg_source_end(struct vg_source *src) {
  size_t removed = 0;
  int64_t now = vg_clock_now_ms();
  struct link *l = src->head;
  while (l) {
    /* Removing l may move a link of another source, never of this one. */
    struct link *next = l->next;
    if (l->generation != src->generation) {
      remove_link(src->store, l, now);
      removed++;
    }
    l = next;
  }
  return removed;
}

size_t vg_source_series(const struct vg_source *src) {
  return src->count;
}

size_t vg_source_touch(struct vg_source *src, int64_t now_ms) {
  for (struct link *l = src->head; l; l = l->next)
    l->seen_ms = now_ms;
  return src->count;
}

size_t vg_store_expire(struct vg_store *st, int64_t now_ms) {
  size_t removed = 0;
  for (size_t i = 0; st->sources.slots && i <= st->sources.mask; i++) {
    struct vg_source *src = st->sources.slots[i].item;
    if (!src || src->stale_after_ms <= 0)
      continue;
    int64_t cutoff = now_ms - src->stale_after_ms;
    for (struct link *l = src->head, *next; l; l = next) {
      next = l->next;
      if (l->seen_ms < cutoff) {
        removed += remove_link(st, l, now_ms);
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
  out->overlapping_series = st->overlapping;
  out->stale_markers = st->stale_markers;
  out->stale_markers_refused = st->stale_markers_refused;
}

/* Pairs as the status page lists them: sources in name order. */
struct named_pair {
  const struct vg_source *a, *b;
  size_t series;
};

static int by_name(const struct vg_source *a, const struct vg_source *b) {
  int c = strcmp(a->collector, b->collector);
  return c ? c : strcmp(a->key, b->key);
}

static int by_series_desc(const void *x_, const void *y_) {
  const struct named_pair *x = x_, *y = y_;
  if (x->series != y->series)
    return x->series < y->series ? 1 : -1;
  int c = by_name(x->a, y->a);
  return c ? c : by_name(x->b, y->b);
}

size_t vg_store_overlaps(const struct vg_store *st,
                         void (*fn)(void *arg,
                                    const struct vg_store_overlap *o),
                         void *arg) {
  size_t n = st->pairs.count;
  if (!n)
    return 0;
  struct named_pair *v = vg_malloc(n * sizeof *v); /* freed below */
  size_t k = 0;
  for (size_t i = 0; i <= st->pairs.mask; i++) {
    const struct pair *p = st->pairs.slots[i].item;
    if (!p)
      continue;
    bool swap = by_name(p->a, p->b) > 0;
    v[k++] =
        (struct named_pair){swap ? p->b : p->a, swap ? p->a : p->b, p->series};
  }
  qsort(v, n, sizeof *v, by_series_desc);
  for (size_t i = 0; i < n; i++) {
    struct vg_store_overlap o = {
        .collector = {v[i].a->collector, v[i].b->collector},
        .source = {v[i].a->key, v[i].b->key},
        .series = v[i].series,
    };
    fn(arg, &o);
  }
  free(v);
  return n;
}

int vg_store_get(struct vg_store *st, const char *metric,
                 const struct vg_label *labels, size_t nlabels, double *value) {
  size_t len = strlen(metric);
  struct family *f =
      find_family(st, metric, vg_hash_mix(vg_hash_bytes(metric, len, 0)));
  if (!f || nlabels > MAX_LABELS)
    return -1;
  struct vg_store_labels sl;
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
  /* Pieces (vg_store_cursor_piece): the text gathered for the next piece
   * made on the spot, a block's text, and a piece to hand out once the
   * gathered text before it is out (held). */
  struct vg_buf gather, block;
  struct vg_gzpiece *ready;
};

struct vg_store_cursor *vg_store_cursor_new(struct vg_store *st,
                                            bool openmetrics) {
  if (!st->fams_sorted) {
    for (size_t i = 0; i < st->nfams; i++)
      resolve_meta(st, st->fams[i]);
    /* An empty store has no array at all: qsort wants one. */
    if (st->nfams > 1)
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
  vg_buf_init(&c->gather, SIZE_MAX / 2);
  vg_buf_init(&c->block, SIZE_MAX / 2);
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
    if (f->series[k]->own.source)
      return true;
  return false;
}

/* The text of s's value, rendered when it changed since the last time. */
static void render_value(struct series *s) {
  if (!s->value_len) {
    char text[VG_EXPFMT_DOUBLE_BUFSIZE];
    size_t n = vg_expfmt_format_double(s->value, text);
    memcpy(s->value_text, text, n);
    s->value_len = (uint8_t)n;
  }
}

/* The hot loop of a scrape: whole lines copied from cached text. */
static size_t copy_lines(struct vg_store_cursor *c, const struct family *f,
                         char *out, size_t max, bool read_is_empty) {
  size_t used = 0;
  for (; c->pos < f->count; c->pos++) {
    struct series *s = f->series[c->pos];
    if (!s->own.source)
      continue; /* removed while the cursor was open */
    render_value(s);
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

/* The lines of the block of f's series from `first`, those still
 * provided, as copy_lines writes them. */
static void render_block(const struct family *f, size_t first,
                         struct vg_buf *out) {
  size_t end =
      first + PIECE_SERIES < f->count ? first + PIECE_SERIES : f->count;
  for (size_t k = first; k < end; k++) {
    struct series *s = f->series[k];
    if (!s->own.source)
      continue;
    render_value(s);
    vg_buf_append(out, f->name, f->name_len);
    vg_buf_append(out, s->labels->text, s->labels->text_len);
    vg_buf_putc(out, ' ');
    vg_buf_append(out, s->value_text, s->value_len);
    vg_buf_putc(out, '\n');
  }
}

static struct vg_gzpiece *gathered(struct vg_store_cursor *c,
                                   struct vg_gzpiece_stream *gs) {
  struct vg_gzpiece *p = vg_gzpiece_deflate(gs, c->gather.data, c->gather.len);
  vg_buf_reset(&c->gather);
  return p;
}

/* Keeps p as the deflated text of block k of f (the family holds a
 * reference until the block changes). */
static void keep_piece(struct family *f, size_t k, struct vg_gzpiece *p) {
  if (k >= f->npieces) {
    size_t n = f->npieces;
    f->pieces = vg_grow(f->pieces, &f->npieces, k + 1, sizeof *f->pieces);
    memset(f->pieces + n, 0, (f->npieces - n) * sizeof *f->pieces);
  }
  f->pieces[k] = vg_gzpiece_ref(p);
}

struct vg_gzpiece *vg_store_cursor_piece(struct vg_store_cursor *c,
                                         struct vg_gzpiece_stream *gs) {
  for (;;) {
    if (c->ready) {
      if (c->gather.len)
        return gathered(c, gs);
      struct vg_gzpiece *p = c->ready;
      c->ready = NULL;
      return p;
    }
    if (c->gather.len >= PIECE_GATHER || (c->fam == c->nfams && c->gather.len))
      return gathered(c, gs);
    if (c->fam == c->nfams)
      return NULL;
    struct family *f = c->fams[c->fam];
    if (!c->header_done) {
      if (!has_live_series(f)) {
        c->fam++;
        continue;
      }
      if (!is_grouped(f->meta) || f->meta != c->headed)
        render_header(f, &c->gather, c->openmetrics);
      c->headed = f->meta;
      c->header_done = true;
      continue;
    }
    if (c->pos >= f->count) {
      c->fam++;
      c->pos = 0;
      c->header_done = false;
      continue;
    }
    size_t k = c->pos / PIECE_SERIES;
    c->pos = (k + 1) * PIECE_SERIES;
    if (k < f->npieces && f->pieces[k]) {
      c->ready = vg_gzpiece_ref(f->pieces[k]);
      continue;
    }
    vg_buf_reset(&c->block);
    render_block(f, k * PIECE_SERIES, &c->block);
    if (c->block.len < PIECE_MIN_TEXT) {
      vg_buf_append(&c->gather, c->block.data, c->block.len);
      continue;
    }
    c->ready = vg_gzpiece_deflate(gs, c->block.data, c->block.len);
    keep_piece(f, k, c->ready);
  }
}

void vg_store_cursor_free(struct vg_store_cursor *c) {
  if (!c)
    return;
  struct vg_store *st = c->st;
  if (--st->cursors == 0) {
    while (st->dead) {
      struct series *s = st->dead;
      st->dead = (struct series *)s->own.next;
      free_series(st, s);
    }
  }
  vg_buf_free(&c->held);
  vg_buf_free(&c->gather);
  vg_buf_free(&c->block);
  vg_gzpiece_unref(c->ready);
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
  /* The daemon stops: its series come back when it starts again, so they
   * go without stale markers (see docs/architecture.md, "Staleness"). */
  while (st->sources.count) {
    for (size_t i = 0; i <= st->sources.mask; i++)
      if (st->sources.slots[i].item) {
        drop_source(st, st->sources.slots[i].item, -1);
        break;
      }
  }
  for (size_t i = 0; i < st->nfams; i++) {
    for (size_t k = 0; k < st->fams[i]->npieces; k++)
      vg_gzpiece_unref(st->fams[i]->pieces[k]);
    free(st->fams[i]->pieces);
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
  vg_buf_free(&st->scratch);
  vg_hashtab_free(&st->families);
  vg_hashtab_free(&st->series);
  vg_hashtab_free(&st->sources);
  vg_hashtab_free(&st->claims);
  vg_hashtab_free(&st->pairs);
  free(st);
}
