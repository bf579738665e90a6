/* Fuzz target: CSV and JSON records through a mapping, as the file
 * collector runs them.  The first byte picks the format. */
#include "daemon/config/cfg_doc.h"
#include "daemon/formats/mapping.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_mapping *csv_mapping, *json_mapping;

static struct vg_mapping *compile(enum vg_record_format format,
                                  const char *text) {
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  cJSON *cfg = NULL;
  struct vg_mapping *m = NULL;
  if (vg_cfg_doc_parse(doc, "fuzz", text, strlen(text), &cfg, &err) ||
      vg_mapping_new(&m, format, cfg, &err))
    abort();
  cJSON_Delete(cfg);
  vg_cfg_doc_free(doc);
  return m;
}

static void sample(void *arg, const char *metric, const struct vg_label *l,
                   size_t n, double v, int64_t ts,
                   const struct vg_location *w) {
  (void)arg, (void)v, (void)ts, (void)w;
  if (!metric[0])
    abort();
  for (size_t i = 0; i < n; i++)
    if (!l[i].value[0])
      abort(); /* empty labels are rejected, never emitted */
}

static void reject(void *arg, enum vg_reject_reason r,
                   const struct vg_location *w, const char *detail) {
  (void)arg, (void)r, (void)w;
  if (!detail[0])
    abort(); /* every rejection says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!csv_mapping) {
    csv_mapping =
        compile(VG_FORMAT_CSV,
                "{\"labels\": {\"county\": \"县\", \"village\": \"village\"},"
                " \"metrics\": {\"village_population\": \"population\","
                " \"village_water_safe_households_ratio\": \"#5\"},"
                " \"timestamp\": \"as_of\", \"report_date\": \"#6\","
                " \"report_cadence\": \"quarterly\", \"report_due_day\": 92,"
                " \"report_date_is\": \"period\"}");
    json_mapping =
        compile(VG_FORMAT_JSON,
                "{\"records\": \"/data/items\", \"labels\": {\"county\": "
                "\"/region/county\", \"village\": \"/name/en\"}, \"metrics\": "
                "{\"village_income_per_capita_yuan\": "
                "\"/indicators/income/perCapitaYuan\", \"x\": \"/a~1b/0\"},"
                " \"timestamp\": \"/updatedAt\", \"report_date\": \"/d\","
                " \"report_cadence\": \"weekly\"}");
  }
  if (size == 0)
    return 0;
  struct vg_emitter out = {.sample = sample, .reject = reject};
  char error[256];
  const struct vg_mapping *m = data[0] & 1 ? json_mapping : csv_mapping;
  vg_mapping_run(m, "fuzz", (const char *)data + 1, size - 1, &out, error,
                 sizeof error);
  return 0;
}
