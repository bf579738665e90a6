/* daemon/pipeline/batch.c - an arena of recorded emitter calls. */
#include "daemon/pipeline/batch.h"
#include "daemon/util/buf.h"
#include "daemon/util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64
#define NONE UINT32_MAX
/* Pointers inside JSON records remembered by address, see store_pointer. */
#define POINTER_SLOTS 32

/* Offsets into the arena rather than pointers: the arena moves as it
 * grows. */
struct entry {
  uint32_t metric_or_detail;
  uint32_t labels; /* index into label_offs of the first name; NONE: reject */
  uint16_t nlabels;
  uint8_t reason;
  double value;
  int64_t ts_ms;
  int64_t record_index;
  uint32_t input, line, column, column_name, pointer_prefix, pointer, sheet;
};

/* A family's metadata, replayed before the entry at index `before`: few
 * per batch, so kept apart rather than widening every entry. */
struct family_entry {
  size_t before;
  uint32_t name, type, help; /* help NONE: none */
};

struct vg_batch {
  struct vg_buf arena;
  struct entry *entries;
  size_t count, cap;
  struct family_entry *families;
  size_t nfamilies, cap_families;
  uint32_t *label_offs; /* name, value, name, value ... */
  size_t nlabel_offs, cap_label_offs;
  size_t samples;
  bool overflowed;
  /* What the previous entry stored, to share equal strings. */
  uint32_t last_labels;
  uint16_t last_nlabels;
  uint32_t last_metric, last_input, last_column_name, last_pointer_prefix,
      last_sheet;
  /* The pointers inside records already stored, by the address the
   * parser passed them at: a JSON record's metrics alternate between a
   * few such strings, which comparing with the last alone would store
   * once per sample. */
  struct {
    const char *from;
    uint32_t off;
  } pointers[POINTER_SLOTS];
  struct vg_emitter emitter;
};

static uint32_t store_string(struct vg_batch *b, const char *s) {
  if (!s)
    return NONE;
  uint32_t off = (uint32_t)b->arena.len;
  if (b->arena.len > UINT32_MAX / 2 ||
      vg_buf_append(&b->arena, s, strlen(s) + 1)) {
    b->overflowed = true;
    return NONE;
  }
  return off;
}

static const char *string_at(const struct vg_batch *b, uint32_t off) {
  return off == NONE ? NULL : b->arena.data + off;
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
  if (b->overflowed || b->count * sizeof(struct entry) > b->arena.max)
    return NULL;
  b->entries = vg_grow(b->entries, &b->cap, b->count + 1, sizeof *b->entries);
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
  return e;
}

static void record_sample(void *arg, const char *metric,
                          const struct vg_label *labels, size_t nlabels,
                          double value, int64_t ts_ms,
                          const struct vg_location *where) {
  struct vg_batch *b = arg;
  struct entry *e = new_entry(b, where);
  if (!e || nlabels > MAX_LABELS) {
    b->overflowed = true;
    return;
  }
  e->metric_or_detail = store_shared(b, metric, &b->last_metric);
  if (!same_labels(b, labels, nlabels)) {
    b->label_offs = vg_grow(b->label_offs, &b->cap_label_offs,
                            b->nlabel_offs + 2 * nlabels, sizeof(uint32_t));
    b->last_labels = (uint32_t)b->nlabel_offs;
    b->last_nlabels = (uint16_t)nlabels;
    for (size_t i = 0; i < nlabels; i++) {
      b->label_offs[b->nlabel_offs++] = store_string(b, labels[i].name);
      b->label_offs[b->nlabel_offs++] = store_string(b, labels[i].value);
    }
  }
  if (b->overflowed)
    return;
  e->labels = b->last_labels;
  e->nlabels = (uint16_t)nlabels;
  e->value = value;
  e->ts_ms = ts_ms;
  b->count++;
  b->samples++;
}

static void record_reject(void *arg, enum vg_reject_reason reason,
                          const struct vg_location *where, const char *detail) {
  struct vg_batch *b = arg;
  struct entry *e = new_entry(b, where);
  if (!e)
    return;
  e->metric_or_detail = store_string(b, detail);
  e->labels = NONE;
  e->reason = (uint8_t)reason;
  if (!b->overflowed)
    b->count++;
}

static void record_family(void *arg, const char *name, const char *type,
                          const char *help) {
  struct vg_batch *b = arg;
  if (b->overflowed)
    return;
  b->families = vg_grow(b->families, &b->cap_families, b->nfamilies + 1,
                        sizeof *b->families);
  struct family_entry *f = &b->families[b->nfamilies];
  f->before = b->count;
  f->name = store_string(b, name);
  f->type = store_string(b, type);
  f->help = store_string(b, help);
  if (!b->overflowed)
    b->nfamilies++;
}

struct vg_batch *vg_batch_new(size_t max_bytes) {
  struct vg_batch *b = vg_calloc(1, sizeof *b);
  vg_buf_init(&b->arena, max_bytes);
  b->last_labels = NONE;
  b->last_metric = b->last_input = b->last_column_name = NONE;
  b->last_pointer_prefix = b->last_sheet = NONE;
  for (size_t i = 0; i < POINTER_SLOTS; i++)
    b->pointers[i].off = NONE;
  b->emitter.sample = record_sample;
  b->emitter.reject = record_reject;
  b->emitter.family = record_family;
  b->emitter.arg = b;
  return b;
}

void vg_batch_free(struct vg_batch *b) {
  if (!b)
    return;
  vg_buf_free(&b->arena);
  free(b->entries);
  free(b->label_offs);
  free(b->families);
  free(b);
}

const struct vg_emitter *vg_batch_emitter(struct vg_batch *b) {
  return &b->emitter;
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

void vg_batch_replay(const struct vg_batch *b, const struct vg_emitter *to) {
  struct vg_label labels[MAX_LABELS];
  size_t next_family = 0;
  for (size_t i = 0; i < b->count; i++) {
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
    };
    if (e->labels == NONE) {
      to->reject(to->arg, (enum vg_reject_reason)e->reason, &w,
                 string_at(b, e->metric_or_detail));
      continue;
    }
    for (size_t k = 0; k < e->nlabels; k++) {
      labels[k].name = string_at(b, b->label_offs[e->labels + 2 * k]);
      labels[k].value = string_at(b, b->label_offs[e->labels + 2 * k + 1]);
    }
    to->sample(to->arg, string_at(b, e->metric_or_detail), labels, e->nlabels,
               e->value, e->ts_ms, &w);
  }
  replay_families(b, to, b->count, &next_family);
}

size_t vg_batch_samples(const struct vg_batch *b) {
  return b->samples;
}

bool vg_batch_overflowed(const struct vg_batch *b) {
  return b->overflowed;
}
