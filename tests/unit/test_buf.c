/* Unit tests: the capped buffer. */
#include "daemon/util/buf.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdint.h>

VG_TEST(appends_up_to_the_cap_exactly) {
  struct vg_buf b;
  vg_buf_init(&b, 10);
  ASSERT_INT_EQ(vg_buf_puts(&b, "village"), 0);
  ASSERT_INT_EQ(vg_buf_puts(&b, "-ab"), 0);
  ASSERT_INT_EQ(vg_buf_putc(&b, 'x'), -ENOSPC);
  ASSERT_INT_EQ(vg_buf_printf(&b, "%d", 1), -ENOSPC);
  ASSERT_STR_EQ(b.data, "village-ab"); /* unchanged by the refusals */
  ASSERT_INT_EQ(b.len, 10);
  size_t len;
  char *taken = vg_buf_take(&b, &len);
  ASSERT_STR_EQ(taken, "village-ab");
  ASSERT_INT_EQ(len, 10);
  ASSERT(b.data == NULL && b.len == 0 && b.max == 10);
  free(taken);
}

VG_TEST(no_cap_at_all) {
  /* SIZE_MAX as the cap once wrapped to a capacity of 0. */
  struct vg_buf b;
  vg_buf_init(&b, SIZE_MAX);
  for (int i = 0; i < 1000; i++)
    ASSERT_INT_EQ(vg_buf_printf(&b, "%04d,", i), 0);
  ASSERT_INT_EQ(b.len, 5000);
  ASSERT(strncmp(b.data + 4995, "0999,", 5) == 0);
  vg_buf_reset(&b);
  ASSERT_STR_EQ(b.data, "");
  vg_buf_free(&b);
}

VG_TEST_MAIN(VG_T(appends_up_to_the_cap_exactly), VG_T(no_cap_at_all))
