/* Fuzz target: .xlsx workbooks read into a sheet and mapped, as the file
 * collector reads them.  The first byte picks what the rest is: odd, a
 * whole workbook (a zip); even, the XML of a sheet, put in a workbook
 * made here with shared strings and date and percent styles, so that the
 * fuzzer reaches the XML and not only the zip around it. */
#include "daemon/config/cfg_doc.h"
#include "daemon/formats/mapping.h"
#include "daemon/formats/sheet.h"
#include "tests/fuzz/sheet_checks.h"
#include "daemon/formats/xlsx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_mapping *mapping;

static const char *const template_parts[] = {
    "xl/workbook.xml",
    "<workbook xmlns:r=\"r\"><sheets><sheet name=\"S\" r:id=\"rId1\"/>"
    "</sheets></workbook>",
    "xl/_rels/workbook.xml.rels",
    "<Relationships><Relationship Id=\"rId1\" Type=\"x/worksheet\" "
    "Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" "
    "Type=\"x/sharedStrings\" Target=\"sharedStrings.xml\"/><Relationship "
    "Id=\"rId3\" Type=\"x/styles\" Target=\"styles.xml\"/></Relationships>",
    "xl/sharedStrings.xml",
    "<sst><si><t>县</t></si><si><t>人口(万人)</t></si><si><r><t>a</t></r>"
    "<rPh><t>b</t></rPh></si></sst>",
    "xl/styles.xml",
    "<styleSheet><numFmts><numFmt numFmtId=\"164\" formatCode=\"yyyy-mm-dd\"/>"
    "</numFmts><cellXfs><xf numFmtId=\"0\"/><xf numFmtId=\"164\"/><xf "
    "numFmtId=\"10\"/></cellXfs></styleSheet>",
};

/* The template with `sheet` as its sheet, as a zip in memory (stored, not
 * deflated: the fuzzer's time goes to the XML). */
static char *make_workbook(const uint8_t *sheet, size_t n, size_t *len) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  zip_source_keep(src);
  zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  if (!z)
    abort();
  for (size_t i = 0; i < sizeof template_parts / sizeof template_parts[0];
       i += 2) {
    zip_source_t *s = zip_source_buffer(z, template_parts[i + 1],
                                        strlen(template_parts[i + 1]), 0);
    zip_int64_t idx = zip_file_add(z, template_parts[i], s, 0);
    zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
  }
  zip_source_t *s = zip_source_buffer(z, sheet, n, 0);
  zip_int64_t idx = zip_file_add(z, "xl/worksheets/sheet1.xml", s, 0);
  zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
  if (zip_close(z) != 0)
    abort();
  zip_source_open(src);
  zip_source_seek(src, 0, SEEK_END);
  *len = (size_t)zip_source_tell(src);
  zip_source_seek(src, 0, SEEK_SET);
  char *out = malloc(*len ? *len : 1);
  if (zip_source_read(src, out, *len) != (zip_int64_t)*len)
    abort();
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&ze);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!mapping) {
    struct vg_cfg_doc *doc = vg_cfg_doc_new();
    struct vg_cfg_err err = {0};
    cJSON *cfg = NULL;
    const char *text =
        "{\"labels\": {\"county\": \"县\"}, \"metrics\": {\"population\": "
        "\"人口\", \"b\": \"#2\"}, \"timestamp\": \"#3\"}";
    if (vg_cfg_doc_parse(doc, "fuzz", text, strlen(text), &cfg, &err) ||
        vg_mapping_new(&mapping, VG_FORMAT_SHEET, cfg, &err))
      abort();
    cJSON_Delete(cfg);
    vg_cfg_doc_free(doc);
  }
  if (size == 0)
    return 0;
  size_t len = size - 1;
  char *book = NULL;
  const char *bytes = (const char *)data + 1;
  if (!(data[0] & 1)) {
    book = make_workbook(data + 1, size - 1, &len);
    bytes = book;
  }
  struct vg_sheet *sheet = NULL;
  char error[256];
  struct vg_sheet_choice first = {0};
  if (vg_xlsx_read(bytes, len, &first, 100000, &sheet, error, sizeof error) ==
      0) {
    struct vg_emitter out = {.sample = sample, .reject = reject};
    vg_mapping_run_sheet(mapping, "fuzz.xlsx", sheet, &out, error,
                         sizeof error);
    vg_sheet_free(sheet);
  } else if (!error[0] || sheet) {
    abort(); /* every refusal says why and leaves nothing */
  }
  free(book);
  return 0;
}
