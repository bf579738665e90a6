/* tests/unit/test_budget.c - the memory budget: whose refusal it is, and
 * that threads taking at once never pass the limit. */
#include "daemon/util/budget.h"
#include "daemon/util/buf.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <pthread.h>

VG_TEST(takes_up_to_the_limit_and_says_whose_fault_a_refusal_is) {
  struct vg_budget b;
  vg_budget_init(&b, 1000);
  struct vg_budget_hold x, y;
  vg_budget_hold_init(&x, &b);
  vg_budget_hold_init(&y, &b);
  ASSERT_INT_EQ(vg_budget_take(&x, 600), 0);
  /* y alone would fit: it is x that is in the way, so "later". */
  ASSERT_INT_EQ(vg_budget_take(&y, 500), -EAGAIN);
  ASSERT_INT_EQ(y.refused, -EAGAIN);
  ASSERT_INT_EQ(y.held, 0);
  ASSERT_INT_EQ(vg_budget_take(&y, 400), 0);
  ASSERT_INT_EQ(vg_budget_used(&b), 1000);
  /* x alone would pass the limit: it can never fit. */
  ASSERT_INT_EQ(vg_budget_take(&x, 401), -EFBIG);
  ASSERT_INT_EQ(x.refused, -EFBIG);
  ASSERT_INT_EQ(vg_budget_take(&x, 1001), -EFBIG);
  /* The first refusal is the one remembered. */
  ASSERT_INT_EQ(vg_budget_take(&y, 1), -EAGAIN);
  ASSERT_INT_EQ(y.refused, -EAGAIN);
  vg_budget_give(&x, 100);
  ASSERT_INT_EQ(x.held, 500);
  ASSERT_INT_EQ(vg_budget_used(&b), 900);
  vg_budget_release(&x);
  vg_budget_release(&y);
  ASSERT_INT_EQ(vg_budget_used(&b), 0);
  ASSERT_INT_EQ(x.refused, 0);
  ASSERT_INT_EQ(b.peak, 1000);
  ASSERT_INT_EQ(b.refused[0], 2);
  ASSERT_INT_EQ(b.refused[1], 2);
  /* Giving back more than held gives back what is held. */
  ASSERT_INT_EQ(vg_budget_take(&x, 10), 0);
  vg_budget_give(&x, 50);
  ASSERT_INT_EQ(vg_budget_used(&b), 0);
}

VG_TEST(a_hold_without_a_budget_takes_anything) {
  struct vg_budget_hold h;
  vg_budget_hold_init(&h, NULL);
  ASSERT_INT_EQ(vg_budget_take(&h, UINT64_MAX / 2), 0);
  ASSERT_INT_EQ(vg_budget_take(&h, UINT64_MAX / 4), 0);
  vg_budget_release(&h);
  ASSERT_INT_EQ(h.held, 0);
}

struct racer {
  struct vg_budget *b;
  uint64_t over; /* times `used` was seen past the limit */
};

static void *race(void *arg) {
  struct racer *r = arg;
  struct vg_budget_hold h;
  vg_budget_hold_init(&h, r->b);
  for (int i = 0; i < 200000; i++) {
    uint64_t n = 1 + (uint64_t)(i % 97);
    if (vg_budget_take(&h, n) == 0 && vg_budget_used(r->b) > r->b->limit)
      r->over++;
    if (i % 3 == 0)
      vg_budget_release(&h);
  }
  vg_budget_release(&h);
  return NULL;
}

VG_TEST(threads_never_pass_the_limit_together) {
  struct vg_budget b;
  vg_budget_init(&b, 5000);
  pthread_t t[4];
  struct racer r[4];
  for (int i = 0; i < 4; i++) {
    r[i] = (struct racer){.b = &b};
    ASSERT_INT_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ASSERT_INT_EQ(r[i].over, 0);
  }
  ASSERT_INT_EQ(vg_budget_used(&b), 0);
  ASSERT(b.peak <= 5000);
}

/* A kept buffer is counted at what it holds: its room too, or it is made
 * again to the byte when the budget cannot spare the room. */
VG_TEST(a_kept_buffer_is_counted_with_its_room) {
  struct vg_budget b;
  vg_budget_init(&b, 150);
  struct vg_budget_hold h;
  vg_budget_hold_init(&h, &b);
  struct vg_buf buf;
  vg_buf_init(&buf, 0);
  uint64_t taken;
  /* Empty: made to the byte, n and its NUL. */
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 100, &taken), 0);
  ASSERT_INT_EQ(taken, 101);
  ASSERT_INT_EQ(buf.cap, 101);
  ASSERT_INT_EQ(buf.max, 100);
  ASSERT_STR_EQ(buf.data, "");
  ASSERT_INT_EQ(vg_budget_used(&b), 101);
  vg_budget_give(&h, taken);
  /* Kept larger: reused, its room counted. */
  const char *kept = buf.data;
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 10, &taken), 0);
  ASSERT(buf.data == kept);
  ASSERT_INT_EQ(taken, 101);
  ASSERT_INT_EQ(buf.max, 10);
  ASSERT_INT_EQ(vg_budget_used(&b), 101);
  vg_budget_give(&h, taken);
  /* Another hold leaves room for 11 bytes but not 101: made again, and
   * the room's refusal neither counted nor remembered. */
  struct vg_budget_hold other;
  vg_budget_hold_init(&other, &b);
  ASSERT_INT_EQ(vg_budget_take(&other, 100), 0);
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 10, &taken), 0);
  ASSERT_INT_EQ(taken, 11);
  ASSERT_INT_EQ(buf.cap, 11);
  ASSERT_INT_EQ(h.refused, 0);
  ASSERT_INT_EQ(b.refused[0] + b.refused[1], 0);
  vg_budget_give(&h, taken);
  /* n itself refused: nothing taken, the buffer as it was. */
  kept = buf.data;
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 60, &taken), -EAGAIN);
  ASSERT_INT_EQ(taken, 0);
  ASSERT(buf.data == kept && buf.cap == 11);
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 200, &taken), -EFBIG);
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, SIZE_MAX, &taken), -EFBIG);
  vg_budget_release(&other);
  /* Kept smaller: made again to the byte, not grown. */
  ASSERT_INT_EQ(vg_budget_take_buf(&h, &buf, 40, &taken), 0);
  ASSERT_INT_EQ(taken, 41);
  ASSERT_INT_EQ(buf.cap, 41);
  vg_budget_give(&h, taken);
  ASSERT_INT_EQ(vg_budget_used(&b), 0);
  /* Without a hold nothing is counted. */
  ASSERT_INT_EQ(vg_budget_take_buf(NULL, &buf, 5, &taken), 0);
  ASSERT_INT_EQ(taken, 0);
  vg_buf_free(&buf);
}

VG_TEST_MAIN(VG_T(a_kept_buffer_is_counted_with_its_room),
             VG_T(takes_up_to_the_limit_and_says_whose_fault_a_refusal_is),
             VG_T(a_hold_without_a_budget_takes_anything),
             VG_T(threads_never_pass_the_limit_together))
