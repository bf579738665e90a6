/* tests/unit/office_fixture.h - what the workbook readers' tests share: a
 * fixture read whole, a payload compiled from JSON, and a capture that
 * writes every sample and rejection as one line, so a test compares the
 * exact values and places with a list. */
#ifndef VG_OFFICE_FIXTURE_H
#define VG_OFFICE_FIXTURE_H

#include "daemon/formats/payload.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <inttypes.h>

struct office_capture {
  char (*lines)[256];
  size_t n, cap;
};

static inline void office_line(struct office_capture *c, const char *line) {
  c->lines = vg_grow(c->lines, &c->cap, c->n + 1, sizeof *c->lines);
  snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", line);
}

static inline void office_sample(void *arg, const char *metric,
                                 const struct vg_label *labels, size_t nlabels,
                                 double value, int64_t ts_ms,
                                 const struct vg_location *where) {
  char line[256], at[128];
  size_t n = (size_t)snprintf(line, sizeof line, "%s{", metric);
  for (size_t i = 0; i < nlabels && n < sizeof line; i++)
    n += (size_t)snprintf(line + n, sizeof line - n, "%s%s=%s", i ? "," : "",
                          labels[i].name, labels[i].value);
  vg_location_format(where, at, sizeof at);
  if (n < sizeof line)
    snprintf(line + n, sizeof line - n, "} %.17g %" PRId64 " @%s", value, ts_ms,
             at);
  office_line(arg, line);
}

static inline void office_reject(void *arg, enum vg_reject_reason reason,
                                 const struct vg_location *where,
                                 const char *detail) {
  char line[256], at[128];
  vg_location_format(where, at, sizeof at);
  snprintf(line, sizeof line, "%s @%s: %s", vg_reject_reason_name(reason), at,
           detail);
  office_line(arg, line);
}

static inline char *office_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    VG_FAIL("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = vg_malloc((size_t)n + 1);
  ASSERT(fread(p, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return p;
}

static inline struct vg_payload *office_payload(const char *format,
                                                const char *json) {
  cJSON *cfg = cJSON_Parse(json);
  ASSERT(cfg);
  struct vg_cfg_err err = {0};
  struct vg_payload *p = NULL;
  int f = vg_payload_format_parse(format);
  ASSERT(f >= 0);
  if (vg_payload_new(&p, (enum vg_payload_format)f, cfg, &err))
    VG_FAIL("vg_payload_new: %s", err.msg);
  cJSON_Delete(cfg);
  return p;
}

/* Runs `format` with the mapping `json` over the file `path`; returns the
 * run's result, lines in *c and the error in error. */
static inline int office_run(const char *format, const char *json,
                             const char *path, struct office_capture *c,
                             char *error, size_t esize) {
  struct vg_payload *p = office_payload(format, json);
  size_t len;
  char *data = office_slurp(path, &len);
  struct vg_emitter out = {
      .sample = office_sample, .reject = office_reject, .arg = c};
  c->n = 0;
  int rc = vg_payload_run(p, path, data, len, &out, error, esize);
  free(data);
  vg_payload_free(p);
  return rc;
}

/* Fails unless the capture holds exactly `want`, in order. */
static inline void office_expect(const struct office_capture *c,
                                 const char *const *want, size_t n) {
  for (size_t i = 0; i < n && i < c->n; i++)
    if (strcmp(c->lines[i], want[i]) != 0)
      VG_FAIL("line %zu:\n  got:      %s\n  expected: %s", i, c->lines[i],
              want[i]);
  if (c->n != n) {
    for (size_t i = 0; i < c->n; i++)
      fprintf(stderr, "  %s\n", c->lines[i]);
    VG_FAIL("%zu lines, expected %zu", c->n, n);
  }
}

/* The mapping of the villages fixtures: the same for CSV and workbooks. */
#define OFFICE_VILLAGES_MAPPING                                                \
  "{\"labels\": {\"county\": \"县\", \"village\": \"村\"},"                  \
  " \"timestamp\": \"日期\", \"metrics\": {"                                 \
  "\"village_population\": \"户籍人口\","                                  \
  " \"village_collective_income_yuan\": \"村集体收入\","                  \
  " \"village_water_safe_households_ratio\": \"安全饮水率\","             \
  " \"village_income_per_capita_yuan\": \"人均收入(元)\"}"

/* What every form of src/villages.csv gives, but for the location's
 * prefix ("@villages.csv:3:4" or "@villages.xlsx [villages] D3"). */
#define OFFICE_TS " 1577750400000 @"
static const char *const office_villages_values[] = {
    "village_population{county=石阡县,village=桃子园村} 3987",
    "village_collective_income_yuan{county=石阡县,village=桃子园村} 160473.31",
    "village_water_safe_households_ratio{county=石阡县,village=桃子园村} "
    "0.76649999999999996",
    "village_income_per_capita_yuan{county=石阡县,village=桃子园村} 3895",
    "village_population{county=松桃县,village=坝木村} 3318",
    "village_collective_income_yuan{county=松桃县,village=坝木村} "
    "79790.110000000001",
    "village_water_safe_households_ratio{county=松桃县,village=坝木村} "
    "0.72270000000000001",
    "village_income_per_capita_yuan{county=松桃县,village=坝木村} 7807",
    "village_population{county=思南县,village=罗家坝村} 2948",
    "village_water_safe_households_ratio{county=思南县,village=罗家坝村} "
    "0.72240000000000004",
    "village_population{county=江口县,village=净河村} 3720",
    "village_collective_income_yuan{county=江口县,village=净河村} "
    "123581.02",
    "village_income_per_capita_yuan{county=江口县,village=净河村} 6219",
    "village_population{county=碧江区,village=泥烧村} 2615",
    "village_water_safe_households_ratio{county=碧江区,village=泥烧村} "
    "0.63700000000000001",
};
#define OFFICE_VILLAGES_COUNT                                                  \
  (sizeof office_villages_values / sizeof office_villages_values[0])

/* Checks the capture of a villages fixture against the values above:
 * each line is value, timestamp, then a place starting with `at`. */
static inline void office_expect_villages(const struct office_capture *c,
                                          const char *at) {
  if (c->n != OFFICE_VILLAGES_COUNT) {
    for (size_t i = 0; i < c->n; i++)
      fprintf(stderr, "  %s\n", c->lines[i]);
    VG_FAIL("%zu lines, expected %zu", c->n, OFFICE_VILLAGES_COUNT);
  }
  for (size_t i = 0; i < c->n; i++) {
    char want[256];
    snprintf(want, sizeof want, "%s%s%s", office_villages_values[i], OFFICE_TS,
             at);
    if (strncmp(c->lines[i], want, strlen(want)) != 0)
      VG_FAIL("line %zu:\n  got:      %s\n  expected: %s...", i, c->lines[i],
              want);
  }
}

#endif
