/* tests/unit/test_pushjson.c - the JSON body of POST /api/v1/push: what
 * is refused rather than stored as something else. */
#include "daemon/formats/pushjson.h"
#include "daemon/util/buf.h"
#include "tests/vgtest.h"

#include <errno.h>

static void on_sample(void *arg, const char *metric,
                      const struct vg_label *labels, size_t n, double value,
                      int64_t ts_ms, const struct vg_location *where) {
  struct vg_buf *b = arg;
  vg_buf_printf(b, "%s{", metric);
  for (size_t i = 0; i < n; i++)
    vg_buf_printf(b, "%s%s=%s", i ? "," : "", labels[i].name, labels[i].value);
  vg_buf_printf(b, "} %g\n", value);
}

static void on_reject(void *arg, enum vg_reject_reason reason,
                      const struct vg_location *where, const char *detail) {
  struct vg_buf *b = arg;
  char at[256];
  vg_location_format(where, at, sizeof at);
  vg_buf_printf(b, "reject %s %s %s\n", vg_reject_reason_name(reason), at,
                detail);
}

/* The emitted lines, or "error: ..." when the body is refused whole. */
static const char *run(struct vg_buf *b, const char *body) {
  vg_buf_init(b, 1 << 16);
  vg_buf_putc(b, '\0');
  vg_buf_reset(b);
  struct vg_emitter em = {.sample = on_sample, .reject = on_reject, .arg = b};
  char error[256] = "";
  int rc =
      vg_pushjson_run("push", body, strlen(body), &em, error, sizeof error);
  if (rc) {
    ASSERT_INT_EQ(rc, -EINVAL);
    vg_buf_printf(b, "error: %s", error);
  }
  vg_buf_putc(b, '\0');
  return b->data;
}

VG_TEST(a_number_past_a_double_is_refused) {
  struct vg_buf b;
  const char *got = run(&b, "[{\"metric\": \"m\", \"value\": 1e400},"
                            " {\"metric\": \"m\", \"value\": -1e400},"
                            " {\"metric\": \"n\", \"value\": 1e308}]");
  ASSERT_STR_EQ(got,
                "reject not_a_number push /0/value the number is out of the "
                "range of a double\n"
                "reject not_a_number push /1/value the number is out of the "
                "range of a double\n"
                "n{} 1e+308\n");
  vg_buf_free(&b);
}

VG_TEST(a_nul_in_a_string_is_refused_with_its_place) {
  struct vg_buf b;
  const char *got = run(&b, "[{\"metric\": \"m\", \"value\": 1,\n"
                            "  \"labels\": {\"village\": \"A\\u0000x\"}}]");
  ASSERT_STR_EQ(got, "error: line 2, byte 27: a string holds \\u0000 (NUL), "
                     "which no name or label value may hold");
  vg_buf_free(&b);
  /* An escaped backslash before u0000 is text, not a NUL. */
  got = run(&b, "[{\"metric\": \"m\", \"value\": 1,"
                " \"labels\": {\"village\": \"A\\\\u0000\"}}]");
  ASSERT_STR_EQ(got, "m{village=A\\u0000} 1\n");
  vg_buf_free(&b);
}

VG_TEST_MAIN(VG_T(a_number_past_a_double_is_refused),
             VG_T(a_nul_in_a_string_is_refused_with_its_place))
