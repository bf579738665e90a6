/* daemon/util/budget.c - the memory budget's counters.
 *
 * Owns nothing but numbers: it never allocates or frees the memory it
 * counts.  Must never let `used` pass `limit`, whatever the threads do:
 * a take is one compare-and-swap on the total.
 */
#include "daemon/util/budget.h"

#include <errno.h>

void vg_budget_init(struct vg_budget *b, uint64_t limit) {
  b->limit = limit;
  atomic_init(&b->used, 0);
  atomic_init(&b->peak, 0);
  atomic_init(&b->refused[0], 0);
  atomic_init(&b->refused[1], 0);
}

void vg_budget_hold_init(struct vg_budget_hold *h, struct vg_budget *b) {
  h->budget = b;
  h->held = h->peak = 0;
  h->refused = 0;
}

static int refuse(struct vg_budget_hold *h, int rc) {
  if (!h->refused)
    h->refused = rc;
  atomic_fetch_add(&h->budget->refused[rc == -EFBIG], 1);
  return rc;
}

int vg_budget_take(struct vg_budget_hold *h, uint64_t n) {
  struct vg_budget *b = h->budget;
  if (!b) {
    h->held += n;
    if (h->held > h->peak)
      h->peak = h->held;
    return 0;
  }
  if (n > b->limit || h->held > b->limit - n)
    return refuse(h, -EFBIG);
  uint64_t used = atomic_load(&b->used);
  do {
    if (used > b->limit - n)
      return refuse(h, -EAGAIN);
  } while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
  h->held += n;
  if (h->held > h->peak)
    h->peak = h->held;
  uint64_t now = used + n, peak = atomic_load(&b->peak);
  while (now > peak && !atomic_compare_exchange_weak(&b->peak, &peak, now))
    ;
  return 0;
}

void vg_budget_give(struct vg_budget_hold *h, uint64_t n) {
  if (n > h->held)
    n = h->held;
  h->held -= n;
  if (h->budget)
    atomic_fetch_sub(&h->budget->used, n);
}

void vg_budget_release(struct vg_budget_hold *h) {
  vg_budget_give(h, h->held);
  h->refused = 0;
}

uint64_t vg_budget_used(const struct vg_budget *b) {
  return atomic_load(&b->used);
}
