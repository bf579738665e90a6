/* Fuzz target: the configuration reader (JSON with comments, ${VAR},
 * @file:) and the top-level validation of what it read. */
#include "daemon/config/cfg_doc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  if (vg_cfg_doc_parse(doc, "fuzz.json", (const char *)data, size, &root,
                       &err) == 0) {
    /* Positions must be known for every node the parser made. */
    const char *file;
    unsigned line, column;
    if (!vg_cfg_doc_position(doc, root, 0, &file, &line, &column))
      abort();
    cJSON_Delete(root);
  } else if (strncmp(err.msg, "fuzz.json:", 10) != 0) {
    abort(); /* every error names where */
  }
  vg_cfg_doc_free(doc);
  return 0;
}
