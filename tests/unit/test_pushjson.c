/* tests/unit/test_pushjson.c - the JSON body of POST /api/v1/push: what
 * is refused rather than stored as something else. */
#include "daemon/formats/pushjson.h"
#include "daemon/util/buf.h"
#include "tests/unit/record_emitter.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdlib.h>

/* The emitted lines, or "error: ..." when the body is refused whole; the
 * caller frees. */
static char *run(const char *body) {
  struct vg_test_record r;
  vg_test_record_init(&r, false);
  char error[256] = "";
  int rc =
      vg_pushjson_run("push", body, strlen(body), &r.em, error, sizeof error);
  if (rc) {
    ASSERT_INT_EQ(rc, -EINVAL);
    vg_buf_printf(&r.out, "error: %s", error);
  }
  return vg_test_record_take(&r);
}

VG_TEST(a_number_past_a_double_is_refused) {
  char *got = run("[{\"metric\": \"m\", \"value\": 1e400},"
                  " {\"metric\": \"m\", \"value\": -1e400},"
                  " {\"metric\": \"n\", \"value\": 1e308}]");
  ASSERT_STR_EQ(got,
                "reject not_a_number push /0/value the number is out of the "
                "range of a double\n"
                "reject not_a_number push /1/value the number is out of the "
                "range of a double\n"
                "n{} 1e+308 0 @0\n");
  free(got);
}

VG_TEST(a_nul_in_a_string_is_refused_with_its_place) {
  char *got = run("[{\"metric\": \"m\", \"value\": 1,\n"
                  "  \"labels\": {\"village\": \"A\\u0000x\"}}]");
  ASSERT_STR_EQ(got, "error: line 2, byte 27: a string holds \\u0000 (NUL), "
                     "which no name or label value may hold");
  free(got);
  /* An escaped backslash before u0000 is text, not a NUL. */
  got = run("[{\"metric\": \"m\", \"value\": 1,"
            " \"labels\": {\"village\": \"A\\\\u0000\"}}]");
  ASSERT_STR_EQ(got, "m{village=A\\\\u0000} 1 0 @0\n");
  free(got);
}

VG_TEST_MAIN(VG_T(a_number_past_a_double_is_refused),
             VG_T(a_nul_in_a_string_is_refused_with_its_place))
