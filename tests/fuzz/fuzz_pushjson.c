/* Fuzz target: the JSON push decoder (POST /api/v1/push) on arbitrary
 * bytes.  Whatever the body, every sample it hands on has a name, labels
 * with names and values, and a location; every rejection has a reason and
 * a location; and a body refused whole says why. */
#include "daemon/formats/pushjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_location(const struct vg_location *where) {
  if (!where || !where->input || !where->pointer ||
      (where->pointer[0] && where->pointer[0] != '/'))
    abort();
}

static void on_sample(void *arg, const char *metric,
                      const struct vg_label *labels, size_t n, double value,
                      int64_t ts_ms, const struct vg_location *where) {
  (void)arg, (void)value;
  if (!metric || ts_ms < 0)
    abort();
  for (size_t i = 0; i < n; i++)
    if (!labels[i].name || !labels[i].value)
      abort();
  check_location(where);
}

static void on_reject(void *arg, enum vg_reject_reason reason,
                      const struct vg_location *where, const char *detail) {
  (void)arg;
  if ((unsigned)reason >= VG_REJECT_REASON_COUNT || !detail || !detail[0])
    abort();
  check_location(where);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_emitter em = {.sample = on_sample, .reject = on_reject};
  char error[256] = "";
  int rc = vg_pushjson_run("fuzz", (const char *)data, size, &em, error,
                           sizeof error);
  if (rc != 0 && !error[0])
    abort();
  return 0;
}
