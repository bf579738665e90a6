/* daemon/util/budget.c - the memory budget's counters.
 *
 * Owns nothing but numbers: it never allocates or frees the memory it
 * counts.  Must never let `used` pass `limit`, whatever the threads do:
 * a take is one compare-and-swap on the total.
 */
#include "daemon/util/budget.h"
#include "daemon/util/buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

void vg_budget_init(struct vg_budget *b, uint64_t limit) {
  b->limit = limit;
  atomic_init(&b->used, 0);
  atomic_init(&b->peak, 0);
  atomic_init(&b->refused[0], 0);
  atomic_init(&b->refused[1], 0);
}

void vg_budget_hold_init(struct vg_budget_hold *h, struct vg_budget *b) {
  h->budget = b;
  h->held = h->spare = h->peak = 0;
  h->refused = 0;
}

static int refuse(struct vg_budget_hold *h, int rc) {
  if (!h->refused)
    h->refused = rc;
  atomic_fetch_add(&h->budget->refused[rc == -EFBIG], 1);
  return rc;
}

static int take_global(struct vg_budget_hold *h, uint64_t n, bool count);

int vg_budget_take(struct vg_budget_hold *h, uint64_t n) {
  /* What was taken ahead first; only the rest from the budget, and the
   * spare is used only if that succeeds (a refusal takes nothing). */
  uint64_t from_spare = n < h->spare ? n : h->spare;
  int rc = take_global(h, n - from_spare, true);
  if (!rc)
    h->spare -= from_spare;
  return rc;
}

int vg_budget_reserve(struct vg_budget_hold *h, uint64_t n) {
  /* Only a try ahead: a refusal here is neither counted nor remembered. */
  int rc = take_global(h, n, false);
  if (!rc)
    h->spare += n;
  return rc;
}

static int take_global(struct vg_budget_hold *h, uint64_t n, bool count) {
  struct vg_budget *b = h->budget;
  if (!n)
    return 0;
  if (!b) {
    h->held += n;
    if (h->held > h->peak)
      h->peak = h->held;
    return 0;
  }
  if (n > b->limit || h->held > b->limit - n)
    return count ? refuse(h, -EFBIG) : -EFBIG;
  uint64_t used = atomic_load(&b->used);
  do {
    if (used > b->limit - n)
      return count ? refuse(h, -EAGAIN) : -EAGAIN;
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
  if (h->spare > h->held)
    h->spare = h->held;
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

int vg_budget_take_buf(struct vg_budget_hold *h, struct vg_buf *b, size_t n,
                       uint64_t *taken) {
  *taken = 0;
  if (n > SIZE_MAX - 2) /* n + 1 and its NUL would wrap */
    return -EFBIG;
  int rc = h ? vg_budget_take(h, (uint64_t)n + 1) : 0;
  if (rc)
    return rc;
  uint64_t room = b->cap > n + 1 ? b->cap - (n + 1) : 0;
  /* Only a try: a refusal of the room is neither counted nor remembered,
   * the buffer is made again instead. */
  if (b->cap < n + 1 || (room && h && take_global(h, room, false) != 0)) {
    vg_buf_free(b);
    room = 0;
  }
  vg_buf_reset(b);
  b->max = n;
  /* Within max, and the size of the allocation now known: cannot fail. */
  (void)vg_buf_reserve(b, n);
  b->data[0] = '\0'; /* a buffer made again had none */
  *taken = h ? (uint64_t)n + 1 + room : 0;
  return 0;
}
