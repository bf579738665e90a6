/* Fuzz target: .xls workbooks through libfreexl into a sheet, mapped.
 * Each input goes to freexl as the daemon hands it one, to the daemon's
 * program run as the .xls reader, so what is fuzzed is the whole path:
 * the reader (whose crashes and hangs, which Debian's freexl 1.0.6 has,
 * must cost that input alone: a reader's sanitizer report on stderr is
 * expected), the pipes, the claimed-size check, and the sheet and mapping
 * after it. */
#include "daemon/config/cfg_doc.h"
#include "daemon/formats/mapping.h"
#include "daemon/formats/sheet.h"
#include "tests/fuzz/sheet_checks.h"
#include "daemon/formats/xls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_mapping *mapping;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!mapping) {
    vg__xls_timeout_s = 2; /* below libFuzzer's -timeout */
    setenv("VG_XLS_READER", VG_XLS_READER_PATH, 1);
    struct vg_cfg_doc *doc = vg_cfg_doc_new();
    struct vg_cfg_err err = {0};
    cJSON *cfg = NULL;
    const char *text =
        "{\"labels\": {\"county\": \"县\", \"village\": \"村\"}, \"metrics\": "
        "{\"population\": \"户籍人口\", \"income\": \"村集体收入\"}, "
        "\"timestamp\": \"日期\"}";
    if (vg_cfg_doc_parse(doc, "fuzz", text, strlen(text), &cfg, &err) ||
        vg_mapping_new(&mapping, VG_FORMAT_SHEET, cfg, &err))
      abort();
    cJSON_Delete(cfg);
    vg_cfg_doc_free(doc);
  }
  struct vg_sheet *sheet = NULL;
  char error[256];
  struct vg_sheet_choice first = {0};
  if (vg_xls_read((const char *)data, size, &first, 100000, &sheet, error,
                  sizeof error) == 0) {
    struct vg_emitter out = {.sample = sample, .reject = reject};
    vg_mapping_run_sheet(mapping, "fuzz.xls", sheet, &out, error, sizeof error);
    vg_sheet_free(sheet);
  } else if (!error[0] || sheet) {
    abort();
  }
  return 0;
}
