/* daemon/util/hashtab.h - an open-addressing index of pointers by 64-bit hash.
 *
 * The table stores (hash, item) pairs and never owns the items; the caller
 * compares candidates with the same hash itself.  Linear probing with
 * backward-shift deletion keeps lookups short without tombstones; the
 * table doubles at 3/4 load, at once or (incremental tables) a few slots
 * per insert.  16 bytes a slot.
 */
#ifndef VG_HASHTAB_H
#define VG_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_hashtab_slot {
  uint64_t hash;
  void *item; /* NULL: empty */
};

struct vg_hashtab {
  struct vg_hashtab_slot *slots; /* owned */
  size_t mask;                   /* capacity - 1; capacity a power of 2 */
  size_t count;                  /* items, in both slot arrays */
  /* Growing in steps (vg_hashtab_init_incremental): the slots before the
   * last doubling, whose items move a few at a time, from `moved` on. */
  bool incremental;
  struct vg_hashtab_slot *old; /* owned; NULL when not growing */
  size_t old_mask, moved;
};

void vg_hashtab_init(struct vg_hashtab *t);
/* A table that grows in steps once it is large: no insert or remove takes
 * time in proportion to the table, for tables the loop fills by the
 * million.  Its items may then sit in two slot arrays, so only the calls
 * below may look at them (not a walk over `slots`). */
void vg_hashtab_init_incremental(struct vg_hashtab *t);
void vg_hashtab_free(struct vg_hashtab *t);

/* Iteration over candidates: start with *pos = (size_t)-1; each call
 * returns the next item stored with `hash`, or NULL when there is none. */
void *vg_hashtab_next(const struct vg_hashtab *t, uint64_t hash, size_t *pos);
void vg_hashtab_insert(struct vg_hashtab *t, uint64_t hash, void *item);
/* Removes that exact item; returns 0, or -ENOENT. */
int vg_hashtab_remove(struct vg_hashtab *t, uint64_t hash, const void *item);

/* 64-bit hash of bytes, chained with a seed (FNV-1a, then mixed). */
uint64_t vg_hash_bytes(const void *p, size_t len, uint64_t seed);
uint64_t vg_hash_mix(uint64_t h);

#endif
