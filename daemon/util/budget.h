/* daemon/util/budget.h - a memory budget that requests reserve from.
 *
 * The push endpoints hold, per request, its body, its decompressed copy,
 * what the parser builds and the batch of samples; a budget bounds what
 * every request in flight holds together, so that a burst of large or
 * hostile requests is answered "later" (503) instead of growing the
 * process until the kernel or the supervisor kills it.  A request takes
 * memory from the budget before (or as) it allocates, through a hold of
 * its own, and gives it all back when it is done.
 *
 * A refusal says whose fault it is: -EAGAIN when other holds leave too
 * little now (the request may fit later), -EFBIG when this hold alone
 * would pass the limit (it can never fit: the sender must split it).  A
 * hold remembers its first refusal, so that code far from the taker (a
 * parser's arena) need only return "no" and the caller learns why.
 *
 * Thread-safe: holds of one budget are taken and given on any thread (a
 * request's on the loop and then in the thread pool).  One hold is used by
 * one thread at a time.  Owns nothing but its counters.
 */
#ifndef VG_BUDGET_H
#define VG_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_budget {
  uint64_t limit;              /* set once, before any hold takes */
  _Atomic uint64_t used;       /* by every hold together */
  _Atomic uint64_t peak;       /* the most `used` has been */
  _Atomic uint64_t refused[2]; /* takes refused: [0] -EAGAIN, [1] -EFBIG */
};

/* One request's share.  Zero it, then vg_budget_hold_init. */
struct vg_budget_hold {
  struct vg_budget *budget; /* NULL: no budget, every take succeeds */
  uint64_t held;            /* spare included */
  uint64_t spare;           /* taken ahead (vg_budget_reserve), not used yet */
  uint64_t peak;            /* the most it has held */
  int refused;              /* 0, or the first refusal: -EAGAIN or -EFBIG */
};

void vg_budget_init(struct vg_budget *b, uint64_t limit);
/* `b` may be NULL: a hold that takes without limit (tests, tools). */
void vg_budget_hold_init(struct vg_budget_hold *h, struct vg_budget *b);
/* Takes n more bytes for the hold: 0, or -EAGAIN / -EFBIG as above (and
 * the refusal is remembered in h->refused; nothing is taken). */
int vg_budget_take(struct vg_budget_hold *h, uint64_t n);
/* Takes n bytes ahead, for takes to come: they use them first.  So that
 * of requests arriving together some go through whole, rather than each
 * taking a first share and all of them failing halfway. */
int vg_budget_reserve(struct vg_budget_hold *h, uint64_t n);
/* Gives back n of the hold's bytes (at most what it holds). */
void vg_budget_give(struct vg_budget_hold *h, uint64_t n);
/* Gives back everything the hold has; the hold may take again. */
void vg_budget_release(struct vg_budget_hold *h);
uint64_t vg_budget_used(const struct vg_budget *b);

/* Makes `b` (a buffer kept from an earlier request, or empty) ready to
 * take n bytes, its max set to n, and takes from the hold what it then
 * holds: n + 1 (its NUL), and its room beyond that when it was kept
 * larger, unless the budget cannot spare the room: it is then made again
 * to the byte.  A buffer smaller than that is not grown but made again
 * (its old bytes are of no use).  0 and *taken, to give back once `b` is
 * done with; or vg_budget_take's refusal of n + 1 (-EFBIG for an n
 * whose n + 1 and NUL do not fit a size_t), nothing taken, `b` left as
 * it was.  `h` may be NULL: nothing is counted. */
struct vg_buf;
int vg_budget_take_buf(struct vg_budget_hold *h, struct vg_buf *b, size_t n,
                       uint64_t *taken);

#endif
