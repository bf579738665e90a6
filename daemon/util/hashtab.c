/* daemon/util/hashtab.c - open addressing with linear probing. */
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vg_hashtab_init(struct vg_hashtab *t) {
  t->slots = NULL;
  t->mask = 0;
  t->count = 0;
}

void vg_hashtab_free(struct vg_hashtab *t) {
  free(t->slots);
  vg_hashtab_init(t);
}

void *vg_hashtab_next(const struct vg_hashtab *t, uint64_t hash, size_t *pos) {
  if (!t->slots)
    return NULL;
  size_t i = *pos == (size_t)-1 ? (hash & t->mask) : ((*pos + 1) & t->mask);
  for (; t->slots[i].item; i = (i + 1) & t->mask) {
    if (t->slots[i].hash == hash) {
      *pos = i;
      return t->slots[i].item;
    }
  }
  return NULL;
}

static void place(struct vg_hashtab_slot *slots, size_t mask, uint64_t hash,
                  void *item) {
  size_t i = hash & mask;
  while (slots[i].item)
    i = (i + 1) & mask;
  slots[i].hash = hash;
  slots[i].item = item;
}

void vg_hashtab_insert(struct vg_hashtab *t, uint64_t hash, void *item) {
  size_t cap = t->slots ? t->mask + 1 : 0;
  if ((t->count + 1) * 4 > cap * 3) {
    size_t ncap = cap ? cap * 2 : 16;
    struct vg_hashtab_slot *ns = vg_calloc(ncap, sizeof *ns);
    for (size_t i = 0; i < cap; i++)
      if (t->slots[i].item)
        place(ns, ncap - 1, t->slots[i].hash, t->slots[i].item);
    free(t->slots);
    t->slots = ns;
    t->mask = ncap - 1;
  }
  place(t->slots, t->mask, hash, item);
  t->count++;
}

int vg_hashtab_remove(struct vg_hashtab *t, uint64_t hash, const void *item) {
  if (!t->slots)
    return -ENOENT;
  size_t i = hash & t->mask;
  while (t->slots[i].item && t->slots[i].item != item)
    i = (i + 1) & t->mask;
  if (!t->slots[i].item)
    return -ENOENT;
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
  uint64_t w = 0;
  memcpy(&w, s, len);
  h = (h ^ w) * 0x94d049bb133111ebull;
  return h ^ (h >> 29);
}
