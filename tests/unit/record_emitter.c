/* tests/unit/record_emitter.c - every emitter call as a line of text
 * (record_emitter.h). */
#include "tests/unit/record_emitter.h"

#include "daemon/model/expfmt.h"

#include <string.h>

static void on_sample(void *arg, const char *metric,
                      const struct vg_label *labels, size_t n, double value,
                      int64_t ts_ms, const struct vg_location *where) {
  struct vg_buf *out = arg;
  vg_buf_printf(out, "%s{", metric);
  for (size_t i = 0; i < n; i++) {
    vg_buf_printf(out, "%s%s=", i ? "," : "", labels[i].name);
    vg_expfmt_escape_label_value(out, labels[i].value, strlen(labels[i].value));
  }
  char v[VG_EXPFMT_DOUBLE_BUFSIZE];
  vg_expfmt_format_double(value, v);
  vg_buf_printf(out, "} %s %lld @%u\n", v, (long long)ts_ms, where->line);
}

static void on_reject(void *arg, enum vg_reject_reason reason,
                      const struct vg_location *where, const char *detail) {
  if (where->pointer || where->pointer_prefix) {
    /* A JSON input: its place is a pointer, as the daemon prints it. */
    char at[512];
    vg_location_format(where, at, sizeof at);
    vg_buf_printf(arg, "reject %s %s %s\n", vg_reject_reason_name(reason), at,
                  detail);
    return;
  }
  vg_buf_printf(arg, "reject %s %s:%u:%u %s\n", vg_reject_reason_name(reason),
                where->input, where->line, where->column, detail);
}

static void on_family(void *arg, const char *name, const char *type,
                      const char *help) {
  struct vg_buf *out = arg;
  vg_buf_printf(out, "family %s %s ", name, type);
  if (help)
    vg_expfmt_escape_help(out, help);
  else
    vg_buf_putc(out, '-');
  vg_buf_putc(out, '\n');
}

void vg_test_record_init(struct vg_test_record *r, bool families) {
  vg_buf_init(&r->out, 1 << 24);
  vg_buf_puts(&r->out, "");
  r->em = (struct vg_emitter){.sample = on_sample,
                              .reject = on_reject,
                              .family = families ? on_family : NULL,
                              .arg = &r->out};
}

char *vg_test_record_take(struct vg_test_record *r) {
  return vg_buf_take(&r->out, NULL);
}

void vg_test_record_free(struct vg_test_record *r) {
  vg_buf_free(&r->out);
}
