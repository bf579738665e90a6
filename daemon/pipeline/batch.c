/* daemon/pipeline/batch.c - an arena of recorded emitter calls.
 *
 * Owns its arena and arrays, and what it took from its hold.  Must never
 * grow past max_bytes or past what its hold grants, and never lose count
 * of a rejection: the ones past VG_BATCH_DETAILED are counted by reason.
 */
#include "daemon/pipeline/batch.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64
#define NONE UINT32_MAX
/* Pointers inside JSON records remembered by address, see store_pointer. */
#define POINTER_SLOTS 32
/* Metric names remembered by content, see store_metric. */
#define METRIC_SLOTS 16

/* Offsets into the arena rather than pointers: the arena moves as it
 * grows. */
struct entry {
  uint32_t metric_or_detail;
  uint32_t labels; /* index into label_offs of the first name; NONE: reject */
  uint16_t nlabels;
  uint8_t reason;
  bool derived; /* vg_location's: fits beside reason */
  double value;
  int64_t ts_ms;
  int64_t record_index;
  uint32_t input, line, column, column_name, pointer_prefix, pointer, sheet;
  uint32_t village; /* rejections only */
};

/* A family's metadata, replayed before the entry at index `before`: few
 * per batch, so kept apart rather than widening every entry. */
struct family_entry {
  size_t before;
  uint32_t name, type, help; /* help NONE: none */
};

struct vg_batch {
  char *arena; /* NUL-terminated strings */
  size_t arena_len, arena_cap;
  struct entry *entries;
  size_t count, cap;
  struct family_entry *families;
  size_t nfamilies, cap_families;
  uint32_t *label_offs; /* name, value, name, value ... */
  size_t nlabel_offs, cap_label_offs;
  size_t samples;
  /* Everything allocated above, with the room arrays grow into. */
  size_t bytes, max_bytes;
  struct vg_budget_hold *hold; /* NULL: none */
  int error;                   /* 0, -ENOSPC or the hold's refusal */
  /* Rejections past VG_BATCH_DETAILED (or past the room for them), by
   * reason. */
  uint64_t counted[VG_REJECT_REASON_COUNT];
  uint64_t kept_rejections, counted_rejections;
  /* What the previous entry stored, to share equal strings. */
  uint32_t last_labels;
  uint16_t last_nlabels;
  /* The producer's current label run (vg_emitter.label_run), and whether
   * last_labels already holds it: its samples then skip the comparison. */
  const struct vg_label *run;
  size_t run_n;
  bool run_stored;
  uint32_t last_input, last_column_name, last_pointer_prefix, last_sheet;
  /* The pointers inside records already stored, by the address the
   * parser passed them at: a JSON record's metrics alternate between a
   * few such strings, which comparing with the last alone would store
   * once per sample. */
  struct {
    const char *from;
    uint32_t off;
  } pointers[POINTER_SLOTS];
  /* Metric names stored lately, by a hash of their text: a line of line
   * protocol with five fields names five metrics, again on every line. */
  uint32_t metrics[METRIC_SLOTS];
  struct vg_emitter emitter;
};

/* Accounts for `more` bytes about to be allocated; false (and the batch
 * stops) when max_bytes or the hold says no. */
static bool account(struct vg_batch *b, size_t more) {
  if (b->error)
    return false;
  if (more > b->max_bytes - b->bytes) {
    b->error = -ENOSPC;
    return false;
  }
  int rc = b->hold ? vg_budget_take(b->hold, more) : 0;
  if (rc < 0) {
    b->error = rc;
    return false;
  }
  b->bytes += more;
  return true;
}

/* Grows an array of *cap elements of `size` bytes to hold `need`:
 * doubling, or to what max_bytes leaves when doubling would pass it (once:
 * the next growth fails). */
static bool grow(struct vg_batch *b, void **p, size_t *cap, size_t need,
                 size_t size) {
  if (need <= *cap)
    return true;
  size_t n = *cap ? *cap : 8;
  while (n < need)
    n *= 2;
  size_t room = (b->max_bytes - b->bytes) / size;
  if (n - *cap > room)
    n = *cap + room > need ? *cap + room : need;
  if ((n - *cap) > SIZE_MAX / size || !account(b, (n - *cap) * size))
    return false;
  *p = vg_realloc(*p, n * size);
  *cap = n;
  return true;
}

/* Grows an array to exactly `need` elements if the cap and the hold allow
 * it now; never stops the batch. */
static void reserve(struct vg_batch *b, void **p, size_t *cap, size_t need,
                    size_t size) {
  if (b->error || need <= *cap || need > SIZE_MAX / size)
    return;
  size_t more = (need - *cap) * size;
  /* vg_budget_reserve: a refusal here is not the request's. */
  if (more > b->max_bytes - b->bytes ||
      (b->hold && (vg_budget_reserve(b->hold, more) < 0 ||
                   vg_budget_take(b->hold, more) < 0)))
    return;
  b->bytes += more;
  *p = vg_realloc(*p, need * size);
  *cap = need;
}

void vg_batch_reserve(struct vg_batch *b, size_t samples, size_t arena_bytes) {
  reserve(b, (void **)&b->entries, &b->cap, samples, sizeof *b->entries);
  reserve(b, (void **)&b->arena, &b->arena_cap, arena_bytes, 1);
}

static uint32_t store_string(struct vg_batch *b, const char *s) {
  if (!s)
    return NONE;
  size_t n = strlen(s) + 1;
  if (b->arena_len + n > UINT32_MAX / 2) {
    b->error = b->error ? b->error : -ENOSPC;
    return NONE;
  }
  if (!grow(b, (void **)&b->arena, &b->arena_cap, b->arena_len + n, 1))
    return NONE;
  uint32_t off = (uint32_t)b->arena_len;
  memcpy(b->arena + off, s, n);
  b->arena_len += n;
  return off;
}

static void drop_memory(struct vg_batch *b) {
  free(b->arena);
  free(b->entries);
  free(b->label_offs);
  free(b->families);
  b->arena = NULL;
  b->entries = NULL;
  b->label_offs = NULL;
  b->families = NULL;
  b->arena_len = b->arena_cap = b->count = b->cap = 0;
  b->nlabel_offs = b->cap_label_offs = b->nfamilies = b->cap_families = 0;
  b->bytes = 0;
}

/* A batch past its cap or its hold is refused whole by whoever made it:
 * what it recorded goes at once, and its memory back to the hold, rather
 * than stay held while the parser runs to the end of its input.  Called
 * where no entry is being filled. */
static void drop_if_stopped(struct vg_batch *b) {
  if (!b->error || !b->bytes)
    return;
  if (b->hold)
    vg_budget_give(b->hold, b->bytes);
  drop_memory(b);
}

static const char *string_at(const struct vg_batch *b, uint32_t off) {
  return off == NONE ? NULL : b->arena + off;
}

/* Returns the arena offset of s, reusing `last` when it holds the same. */
static uint32_t store_shared(struct vg_batch *b, const char *s,
                             uint32_t *last) {
  if (!s)
    return NONE;
  if (*last != NONE && strcmp(string_at(b, *last), s) == 0)
    return *last;
  *last = store_string(b, s);
  return *last;
}

/* Returns the arena offset of a record's inner pointer, storing it only the
 * first time it is seen at that address.  An address may be reused for
 * other text (strings are valid only during the call), hence strcmp. */
static uint32_t store_pointer(struct vg_batch *b, const char *s) {
  if (!s)
    return NONE;
  size_t slot = ((uintptr_t)s >> 3) % POINTER_SLOTS;
  if (b->pointers[slot].from == s && b->pointers[slot].off != NONE &&
      strcmp(string_at(b, b->pointers[slot].off), s) == 0)
    return b->pointers[slot].off;
  b->pointers[slot].from = s;
  b->pointers[slot].off = store_string(b, s);
  return b->pointers[slot].off;
}

/* Returns the arena offset of a metric name, stored once while it is among
 * the few seen lately (by a hash of its text). */
static uint32_t store_metric(struct vg_batch *b, const char *s) {
  uint32_t h = 2166136261u;
  for (const char *c = s; *c; c++)
    h = (h ^ (unsigned char)*c) * 16777619u;
  uint32_t *slot = &b->metrics[h % METRIC_SLOTS];
  return store_shared(b, s, slot);
}

static bool same_labels(const struct vg_batch *b, const struct vg_label *l,
                        size_t n) {
  if (b->last_labels == NONE || b->last_nlabels != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(string_at(b, b->label_offs[b->last_labels + 2 * i]),
               l[i].name) != 0 ||
        strcmp(string_at(b, b->label_offs[b->last_labels + 2 * i + 1]),
               l[i].value) != 0)
      return false;
  return true;
}

static struct entry *new_entry(struct vg_batch *b,
                               const struct vg_location *w) {
  if (b->error ||
      !grow(b, (void **)&b->entries, &b->cap, b->count + 1, sizeof *b->entries))
    return NULL;
  struct entry *e = &b->entries[b->count];
  memset(e, 0, sizeof *e);
  e->input = store_shared(b, w->input, &b->last_input);
  e->line = w->line;
  e->column = w->column;
  e->column_name = store_shared(b, w->column_name, &b->last_column_name);
  e->pointer_prefix =
      store_shared(b, w->pointer_prefix, &b->last_pointer_prefix);
  e->record_index = w->record_index;
  e->pointer = store_pointer(b, w->pointer);
  e->sheet = store_shared(b, w->sheet, &b->last_sheet);
  e->derived = w->derived;
  e->village = NONE;
  return e;
}

static void record_sample(void *arg, const char *metric,
                          const struct vg_label *labels, size_t nlabels,
                          double value, int64_t ts_ms,
                          const struct vg_location *where) {
  struct vg_batch *b = arg;
  if (nlabels > MAX_LABELS) {
    b->error = b->error ? b->error : -ENOSPC;
    drop_if_stopped(b);
    return;
  }
  struct entry *e = new_entry(b, where);
  if (!e) {
    drop_if_stopped(b);
    return;
  }
  e->metric_or_detail = store_metric(b, metric);
  bool in_run = labels == b->run && nlabels == b->run_n;
  if (!(in_run && b->run_stored) && !same_labels(b, labels, nlabels)) {
    if (!grow(b, (void **)&b->label_offs, &b->cap_label_offs,
              b->nlabel_offs + 2 * nlabels, sizeof(uint32_t))) {
      drop_if_stopped(b);
      return;
    }
    b->last_labels = (uint32_t)b->nlabel_offs;
    b->last_nlabels = (uint16_t)nlabels;
    for (size_t i = 0; i < nlabels; i++) {
      b->label_offs[b->nlabel_offs++] = store_string(b, labels[i].name);
      b->label_offs[b->nlabel_offs++] = store_string(b, labels[i].value);
    }
  }
  if (b->error) {
    drop_if_stopped(b);
    return;
  }
  b->run_stored = in_run;
  e->labels = b->last_labels;
  e->nlabels = (uint16_t)nlabels;
  e->value = value;
  e->ts_ms = ts_ms;
  b->count++;
  b->samples++;
}

static void record_label_run(void *arg, const struct vg_label *labels,
                             size_t nlabels) {
  struct vg_batch *b = arg;
  b->run = labels;
  b->run_n = nlabels;
  b->run_stored = false;
}

static void record_reject(void *arg, enum vg_reject_reason reason,
                          const struct vg_location *where, const char *detail) {
  struct vg_batch *b = arg;
  if ((unsigned)reason >= VG_REJECT_REASON_COUNT)
    reason = VG_REJECT_PARSE_ERROR;
  if (b->kept_rejections < VG_BATCH_DETAILED) {
    struct entry *e = new_entry(b, where);
    if (e) {
      e->metric_or_detail = store_string(b, detail);
      if (where->village)
        e->village = store_string(b, where->village);
      e->labels = NONE;
      e->reason = (uint8_t)reason;
      if (!b->error) {
        b->count++;
        b->kept_rejections++;
        return;
      }
    }
  }
  /* Past the detailed ones, or with no room for it: counted all the same. */
  b->counted[reason]++;
  b->counted_rejections++;
  drop_if_stopped(b);
}

static void record_family(void *arg, const char *name, const char *type,
                          const char *help) {
  struct vg_batch *b = arg;
  if (b->error || !grow(b, (void **)&b->families, &b->cap_families,
                        b->nfamilies + 1, sizeof *b->families)) {
    drop_if_stopped(b);
    return;
  }
  struct family_entry *f = &b->families[b->nfamilies];
  f->before = b->count;
  f->name = store_string(b, name);
  f->type = store_string(b, type);
  f->help = store_string(b, help);
  if (!b->error)
    b->nfamilies++;
  drop_if_stopped(b);
}

/* Everything but the memory and what it is accounted as: as new. */
static void clear(struct vg_batch *b, size_t max_bytes) {
  b->max_bytes = max_bytes;
  b->arena_len = b->count = b->nfamilies = b->nlabel_offs = 0;
  b->samples = 0;
  b->hold = NULL;
  b->error = 0;
  memset(b->counted, 0, sizeof b->counted);
  b->kept_rejections = b->counted_rejections = 0;
  b->run = NULL;
  b->run_n = 0;
  b->run_stored = false;
  b->last_labels = NONE;
  b->last_input = b->last_column_name = NONE;
  b->last_pointer_prefix = b->last_sheet = NONE;
  for (size_t i = 0; i < POINTER_SLOTS; i++)
    b->pointers[i].off = NONE;
  for (size_t i = 0; i < METRIC_SLOTS; i++)
    b->metrics[i] = NONE;
}

struct vg_batch *vg_batch_new(size_t max_bytes) {
  struct vg_batch *b = vg_calloc(1, sizeof *b);
  clear(b, max_bytes);
  b->emitter.sample = record_sample;
  b->emitter.reject = record_reject;
  b->emitter.family = record_family;
  b->emitter.label_run = record_label_run;
  b->emitter.arg = b;
  return b;
}

void vg_batch_set_hold(struct vg_batch *b, struct vg_budget_hold *hold) {
  int rc = hold ? vg_budget_take(hold, b->bytes) : 0;
  if (rc < 0) {
    b->error = b->error ? b->error : rc;
    drop_if_stopped(b);
    return;
  }
  b->hold = hold;
}

void vg_batch_recycle(struct vg_batch *b, size_t max_bytes) {
  if (b->hold)
    vg_budget_give(b->hold, b->bytes);
  if (b->bytes > max_bytes) {
    /* Its memory would pass the new cap: started afresh instead. */
    drop_memory(b);
  }
  clear(b, max_bytes);
}

void vg_batch_keep(struct vg_batch_spares *s, struct vg_batch *b,
                   size_t max_bytes) {
  if (b && s->n < VG_BATCH_SPARES && b->bytes <= max_bytes) {
    vg_batch_recycle(b, SIZE_MAX);
    s->b[s->n++] = b;
    return;
  }
  vg_batch_free(b);
}

struct vg_batch *vg_batch_take(struct vg_batch_spares *s, size_t max_bytes) {
  if (!s->n)
    return vg_batch_new(max_bytes);
  struct vg_batch *b = s->b[--s->n];
  vg_batch_recycle(b, max_bytes);
  return b;
}

void vg_batch_spares_move(struct vg_batch_spares *to,
                          struct vg_batch_spares *from, size_t max_bytes) {
  while (from->n)
    vg_batch_keep(to, from->b[--from->n], max_bytes);
}

void vg_batch_spares_free(struct vg_batch_spares *s) {
  while (s->n)
    vg_batch_free(s->b[--s->n]);
}

void vg_batch_free(struct vg_batch *b) {
  if (!b)
    return;
  if (b->hold)
    vg_budget_give(b->hold, b->bytes);
  free(b->arena);
  free(b->entries);
  free(b->label_offs);
  free(b->families);
  free(b);
}

const struct vg_emitter *vg_batch_emitter(struct vg_batch *b) {
  return &b->emitter;
}

/* The first family not replayed yet when the replay is at entry `pos`:
 * those recorded before an earlier entry went out with it. */
static size_t first_family(const struct vg_batch *b, size_t pos) {
  size_t lo = 0, hi = b->nfamilies;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->families[mid].before < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Replays the families recorded before entry `before`, from *next on. */
static void replay_families(const struct vg_batch *b,
                            const struct vg_emitter *to, size_t before,
                            size_t *next) {
  for (; *next < b->nfamilies && b->families[*next].before <= before;
       (*next)++) {
    const struct family_entry *f = &b->families[*next];
    if (to->family)
      to->family(to->arg, string_at(b, f->name), string_at(b, f->type),
                 string_at(b, f->help));
  }
}

static void replay_counted(const struct vg_batch *b,
                           const struct vg_emitter *to) {
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++) {
    if (!b->counted[r])
      continue;
    if (to->reject_many) {
      to->reject_many(to->arg, (enum vg_reject_reason)r, b->counted[r]);
      continue;
    }
    char detail[96];
    snprintf(detail, sizeof detail,
             "%llu more rejected, counted but not kept one by one",
             (unsigned long long)b->counted[r]);
    const char *input = string_at(b, b->last_input);
    struct vg_location nowhere = {.input = input ? input : ""};
    to->reject(to->arg, (enum vg_reject_reason)r, &nowhere, detail);
  }
}

bool vg_batch_replay_some(const struct vg_batch *b, const struct vg_emitter *to,
                          size_t *pos, size_t max) {
  struct vg_label labels[MAX_LABELS];
  size_t i = *pos;
  if (i > b->count)
    return true;
  size_t end = i + (max < b->count - i ? max : b->count - i);
  size_t next_family = first_family(b, i);
  /* The labels array is rebuilt, and announced as a run, only when an
   * entry's labels are not the previous sample's (recorded once for a
   * record's metrics); each call starts afresh. */
  uint32_t built = NONE;
  uint16_t built_n = 0;
  for (; i < end; i++) {
    replay_families(b, to, i, &next_family);
    const struct entry *e = &b->entries[i];
    struct vg_location w = {
        .input = string_at(b, e->input),
        .line = e->line,
        .column = e->column,
        .column_name = string_at(b, e->column_name),
        .pointer_prefix = string_at(b, e->pointer_prefix),
        .record_index = e->record_index,
        .pointer = string_at(b, e->pointer),
        .sheet = string_at(b, e->sheet),
        .village = e->labels == NONE ? string_at(b, e->village) : NULL,
        .derived = e->derived,
    };
    if (e->labels == NONE) {
      to->reject(to->arg, (enum vg_reject_reason)e->reason, &w,
                 string_at(b, e->metric_or_detail));
      continue;
    }
    if (e->labels != built || e->nlabels != built_n) {
      for (size_t k = 0; k < e->nlabels; k++) {
        labels[k].name = string_at(b, b->label_offs[e->labels + 2 * k]);
        labels[k].value = string_at(b, b->label_offs[e->labels + 2 * k + 1]);
      }
      built = e->labels;
      built_n = e->nlabels;
      if (to->label_run)
        to->label_run(to->arg, labels, e->nlabels);
    }
    to->sample(to->arg, string_at(b, e->metric_or_detail), labels, e->nlabels,
               e->value, e->ts_ms, &w);
  }
  *pos = i;
  if (i < b->count)
    return false;
  replay_families(b, to, b->count, &next_family);
  replay_counted(b, to);
  *pos = b->count + 1;
  return true;
}

void vg_batch_replay(const struct vg_batch *b, const struct vg_emitter *to) {
  size_t pos = 0;
  vg_batch_replay_some(b, to, &pos, SIZE_MAX);
}

size_t vg_batch_samples(const struct vg_batch *b) {
  return b->samples;
}

uint64_t vg_batch_rejections(const struct vg_batch *b) {
  return b->kept_rejections + b->counted_rejections;
}

uint64_t vg_batch_rejections_counted(const struct vg_batch *b) {
  return b->counted_rejections;
}

size_t vg_batch_bytes(const struct vg_batch *b) {
  return b->bytes;
}

bool vg_batch_overflowed(const struct vg_batch *b) {
  return b->error != 0;
}

int vg_batch_error(const struct vg_batch *b) {
  return b->error;
}
