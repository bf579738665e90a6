/* daemon/util/hashtab.c - open addressing with linear probing.
 *
 * Growth: a table doubles at 3/4 load.  A small table (or one not made
 * incremental) moves every item into the new slots at once; a large
 * incremental one keeps its old slots beside the new ones and moves
 * MIGRATE_STEP of them on every insert and remove, so that no single call
 * takes time in proportion to the table (the store's series table of a
 * million series took ~90 ms to rehash in one go, on the loop).  The old
 * slots are done before the new ones can fill: 4 of them per insert are
 * enough, from 3/8 load to 3/4.  Must never lose an item while both exist.
 */
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Old slots moved per insert or remove while a table grows. */
#define MIGRATE_STEP 64
/* Below this many slots a table grows at once. */
#define INCREMENTAL_FROM 4096

/* An old slot whose item has moved (or was removed): still occupied for
 * the probes that run through it, never a match. */
static char moved_marker;
#define MOVED ((void *)&moved_marker)

void vg_hashtab_init(struct vg_hashtab *t) {
  memset(t, 0, sizeof *t);
}

void vg_hashtab_init_incremental(struct vg_hashtab *t) {
  vg_hashtab_init(t);
  t->incremental = true;
}

void vg_hashtab_free(struct vg_hashtab *t) {
  bool incremental = t->incremental;
  free(t->slots);
  free(t->old);
  vg_hashtab_init(t);
  t->incremental = incremental;
}

static void *next_in(const struct vg_hashtab_slot *slots, size_t mask,
                     uint64_t hash, size_t *i, bool first) {
  size_t k = first ? (hash & mask) : ((*i + 1) & mask);
  for (; slots[k].item; k = (k + 1) & mask) {
    if (slots[k].hash == hash && slots[k].item != MOVED) {
      *i = k;
      return slots[k].item;
    }
  }
  return NULL;
}

/* *pos: (size_t)-1 to start; then a slot of the new table, or the new
 * table's capacity plus a slot of the old one. */
void *vg_hashtab_next(const struct vg_hashtab *t, uint64_t hash, size_t *pos) {
  if (!t->slots)
    return NULL;
  size_t cap = t->mask + 1;
  if (*pos == (size_t)-1 || *pos < cap) {
    size_t i = *pos;
    void *item = next_in(t->slots, t->mask, hash, &i, *pos == (size_t)-1);
    if (item) {
      *pos = i;
      return item;
    }
    if (!t->old)
      return NULL;
    void *o = next_in(t->old, t->old_mask, hash, &i, true);
    if (o)
      *pos = cap + i;
    return o;
  }
  if (!t->old)
    return NULL;
  size_t i = *pos - cap;
  void *o = next_in(t->old, t->old_mask, hash, &i, false);
  if (o)
    *pos = cap + i;
  return o;
}

static void place(struct vg_hashtab_slot *slots, size_t mask, uint64_t hash,
                  void *item) {
  size_t i = hash & mask;
  while (slots[i].item)
    i = (i + 1) & mask;
  slots[i].hash = hash;
  slots[i].item = item;
}

/* Moves up to `n` old slots into the new table; frees the old slots once
 * all have moved. */
static void migrate(struct vg_hashtab *t, size_t n) {
  for (; t->old && n; n--) {
    if (t->moved > t->old_mask) {
      free(t->old);
      t->old = NULL;
      t->old_mask = t->moved = 0;
      return;
    }
    struct vg_hashtab_slot *s = &t->old[t->moved++];
    if (s->item && s->item != MOVED) {
      place(t->slots, t->mask, s->hash, s->item);
      s->item = MOVED;
    }
  }
}

static void grow(struct vg_hashtab *t) {
  size_t cap = t->slots ? t->mask + 1 : 0;
  size_t ncap = cap ? cap * 2 : 16;
  /* calloc: a large table's pages are zeroed by the kernel as they are
   * first touched, not all here. */
  struct vg_hashtab_slot *ns = vg_calloc(ncap, sizeof *ns);
  if (t->incremental && cap >= INCREMENTAL_FROM) {
    t->old = t->slots;
    t->old_mask = t->mask;
    t->moved = 0;
  } else {
    for (size_t i = 0; i < cap; i++)
      if (t->slots[i].item)
        place(ns, ncap - 1, t->slots[i].hash, t->slots[i].item);
    free(t->slots);
  }
  t->slots = ns;
  t->mask = ncap - 1;
}

void vg_hashtab_insert(struct vg_hashtab *t, uint64_t hash, void *item) {
  migrate(t, MIGRATE_STEP);
  size_t cap = t->slots ? t->mask + 1 : 0;
  if ((t->count + 1) * 4 > cap * 3) {
    /* Cannot happen while old slots remain (they are done long before),
     * but a table is never grown twice at once. */
    migrate(t, SIZE_MAX);
    grow(t);
    migrate(t, MIGRATE_STEP);
  }
  place(t->slots, t->mask, hash, item);
  t->count++;
}

int vg_hashtab_remove(struct vg_hashtab *t, uint64_t hash, const void *item) {
  if (!t->slots)
    return -ENOENT;
  migrate(t, MIGRATE_STEP);
  size_t i = hash & t->mask;
  while (t->slots[i].item && t->slots[i].item != item)
    i = (i + 1) & t->mask;
  if (!t->slots[i].item) {
    /* Not moved yet: its old slot becomes a marker, which the probes go
     * on through and the migration skips. */
    for (size_t k = t->old ? hash & t->old_mask : 0; t->old && t->old[k].item;
         k = (k + 1) & t->old_mask)
      if (t->old[k].item == item) {
        t->old[k].item = MOVED;
        t->count--;
        return 0;
      }
    return -ENOENT;
  }
  /* Backward-shift: move later members of the probe run into the hole if
   * their home slot is at or before it, so no lookup is cut short. */
  size_t hole = i;
  for (size_t j = (i + 1) & t->mask; t->slots[j].item; j = (j + 1) & t->mask) {
    size_t home = t->slots[j].hash & t->mask;
    if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
      t->slots[hole] = t->slots[j];
      hole = j;
    }
  }
  t->slots[hole].item = NULL;
  t->slots[hole].hash = 0;
  t->count--;
  return 0;
}

uint64_t vg_hash_mix(uint64_t h) {
  /* The finaliser of MurmurHash3: spreads the weak low bits of a hash, which
   * the table's mask would otherwise use directly. */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* The last 0..7 bytes as a word, as memcpy into a zeroed one gives them
 * (the newest table's file holds hashes made so), read without calling
 * memcpy for a length not known here: nearly every string hashed ends in
 * such a tail, and remote write alone made 25 such calls a sample for a
 * set of twelve labels. */
static uint64_t tail_word(const unsigned char *s, size_t len) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, s, 4);
    memcpy(&hi, s + len - 4, 4);
    /* hi's bytes past lo's, moved up to where they go. */
    return lo | (uint64_t)hi >> (8 * (8 - len)) << 32;
  }
  if (len)
    return s[0] | (uint64_t)s[len / 2] << (8 * (len / 2)) |
           (uint64_t)s[len - 1] << (8 * (len - 1));
  return 0;
#else
  uint64_t w = 0;
  memcpy(&w, s, len);
  return w;
#endif
}

/* Eight bytes a step (FNV-1a a byte a step was the hottest function of a
 * push): each word is multiplied in and folded with its own high half, so
 * every input bit reaches the low bits the table masks with. */
uint64_t vg_hash_bytes(const void *p, size_t len, uint64_t seed) {
  const unsigned char *s = p;
  uint64_t h = (seed ^ 1469598103934665603ull) + len * 0x9e3779b97f4a7c15ull;
  for (; len >= 8; s += 8, len -= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  h = (h ^ tail_word(s, len)) * 0x94d049bb133111ebull;
  return h ^ (h >> 29);
}
