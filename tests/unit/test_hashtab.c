/* tests/unit/test_hashtab.c - the open-addressing index, grown at once and
 * in steps: every item found, however inserts and removes interleave with
 * a growth in progress. */
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdlib.h>

/* Items are ints; their hash is deliberately weak (many collisions) so
 * that probe runs are long and cross the old table's markers. */
static uint64_t weak_hash(int v) {
  return (uint64_t)(v % 5003) * 7919;
}

static bool has(const struct vg_hashtab *t, int *item) {
  size_t pos = (size_t)-1;
  void *got;
  while ((got = vg_hashtab_next(t, weak_hash(*item), &pos)))
    if (got == item)
      return true;
  return false;
}

static void churn(bool incremental) {
  enum { N = 60000 };
  int *items = vg_calloc(N, sizeof *items);
  bool *in = vg_calloc(N, sizeof *in);
  struct vg_hashtab t;
  if (incremental)
    vg_hashtab_init_incremental(&t);
  else
    vg_hashtab_init(&t);
  size_t count = 0, seen_growing = 0;
  unsigned seed = 7;
  for (int round = 0; round < 4 * N; round++) {
    int k = (int)(rand_r(&seed) % N);
    items[k] = k;
    if (!in[k]) {
      vg_hashtab_insert(&t, weak_hash(k), &items[k]);
      in[k] = true;
      count++;
    } else if (rand_r(&seed) % 3 == 0) {
      ASSERT_INT_EQ(vg_hashtab_remove(&t, weak_hash(k), &items[k]), 0);
      ASSERT_INT_EQ(vg_hashtab_remove(&t, weak_hash(k), &items[k]), -ENOENT);
      in[k] = false;
      count--;
    }
    ASSERT_INT_EQ(t.count, count);
    if (t.old) {
      seen_growing++;
      /* While old slots remain, every item is found, old or new. */
      if (round % 97 == 0)
        for (int i = 0; i < N; i++)
          if (in[i])
            ASSERT(has(&t, &items[i]));
    }
  }
  for (int i = 0; i < N; i++)
    ASSERT(has(&t, &items[i]) == in[i]);
  if (incremental)
    ASSERT(seen_growing > 0);
  else
    ASSERT_INT_EQ(seen_growing, 0);
  vg_hashtab_free(&t);
  free(items);
  free(in);
}

VG_TEST(grown_at_once) {
  churn(false);
}

VG_TEST(grown_in_steps) {
  churn(true);
}

/* The newest table's file holds hashes of series, so the hash must give
 * what it gave when first written (its tail read with memcpy), for every
 * length and place: these values are the first code's.  A mismatch in the
 * digest means one length or alignment reads its bytes differently. */
VG_TEST(hash_unchanged_for_every_length) {
  unsigned char bytes[64];
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < sizeof bytes; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    bytes[i] = (unsigned char)x;
  }
  uint64_t digest = 0;
  for (size_t at = 0; at < 8; at++)
    for (size_t len = 0; at + len <= sizeof bytes; len++)
      digest = digest * 1000003 + vg_hash_bytes(bytes + at, len, at);
  ASSERT(digest == 0x1b42d6a4866970ccull);
  ASSERT(vg_hash_bytes("village", 7, 0) == 0x21cb85add2ba8e46ull);
  ASSERT(vg_hash_bytes("Chuanyan_county", 15, 42) == 0x597733d5acc18124ull);
}

VG_TEST_MAIN(VG_T(grown_at_once), VG_T(grown_in_steps),
             VG_T(hash_unchanged_for_every_length))
