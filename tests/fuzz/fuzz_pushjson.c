/* Fuzz target: the JSON push decoder (POST /api/v1/push) on arbitrary
 * bytes.  Whatever the body, every sample it hands on has a name, labels
 * with names and values, and a location; every rejection has a reason and
 * a location; and a body refused whole says why.  Within a tree cap of 16
 * times the body and a small memory budget, the same body is refused only
 * for its size or the budget, never emits more than without them, and
 * leaves the budget whole. */
#include "daemon/formats/pushjson.h"

#include <errno.h>
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

static void count_sample(void *arg, const char *metric,
                         const struct vg_label *labels, size_t n, double value,
                         int64_t ts_ms, const struct vg_location *where) {
  on_sample(NULL, metric, labels, n, value, ts_ms, where);
  ++*(size_t *)arg;
}

static void count_reject(void *arg, enum vg_reject_reason reason,
                         const struct vg_location *where, const char *detail) {
  on_reject(NULL, reason, where, detail);
  ++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t calls = 0, limited_calls = 0;
  struct vg_emitter em = {
      .sample = count_sample, .reject = count_reject, .arg = &calls};
  char error[256] = "";
  int rc = vg_pushjson_run("fuzz", (const char *)data, size, &em, error,
                           sizeof error);
  if (rc != 0 && !error[0])
    abort();

  struct vg_budget budget;
  vg_budget_init(&budget, 1 << 20);
  struct vg_budget_hold hold;
  vg_budget_hold_init(&hold, &budget);
  struct vg_json_limits lim = {.max_bytes = 16 * size + 4096, .hold = &hold};
  em.arg = &limited_calls;
  error[0] = '\0';
  int lrc = vg_pushjson_run_limited("fuzz", (const char *)data, size, &lim, &em,
                                    error, sizeof error);
  if (lrc != 0 && (!error[0] || limited_calls))
    abort();
  if (lrc == 0 && (rc != 0 || limited_calls != calls))
    abort();
  if (lrc != 0 && lrc != rc && lrc != -EMSGSIZE && lrc != -EAGAIN &&
      lrc != -EFBIG)
    abort();
  if (hold.held || vg_budget_used(&budget) || budget.peak > budget.limit)
    abort();
  return 0;
}
