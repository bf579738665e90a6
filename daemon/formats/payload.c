/* daemon/formats/payload.c - dispatch of an input to its format's parser.
 *
 * Owns the compiled format settings (the mapping, the precision).  Must
 * not parse anything itself: each format has its one parser elsewhere.
 */
#include "daemon/formats/payload.h"
#include "daemon/formats/lp_samples.h"
#include "daemon/formats/mapping.h"
#include "daemon/util/mem.h"
#include "daemon/formats/promtext.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct payload_config {
  char *precision;
};

const struct vg_cfg_key vg_payload_keys[] = {
    {"precision", VG_CFG_STRING, "ns",
     offsetof(struct payload_config, precision),
     "Format \"influx\": the unit of timestamps without one of their own: "
     "\"ns\", \"us\", \"ms\" or \"s\".",
     false},
    {0},
};

const char vg_payload_format_names[] =
    "\"csv\", \"json\", \"influx\" or \"prometheus\"";

struct vg_payload {
  enum vg_payload_format format;
  struct vg_mapping *mapping; /* csv, json */
  enum vg_lp_precision precision;
};

int vg_payload_format_parse(const char *name) {
  if (!name)
    return -1;
  if (strcmp(name, "csv") == 0)
    return VG_PAYLOAD_CSV;
  if (strcmp(name, "json") == 0)
    return VG_PAYLOAD_JSON;
  if (strcmp(name, "influx") == 0)
    return VG_PAYLOAD_INFLUX;
  if (strcmp(name, "prometheus") == 0)
    return VG_PAYLOAD_PROMETHEUS;
  return -1;
}

int vg_payload_new(struct vg_payload **out, enum vg_payload_format format,
                   const cJSON *cfg, struct vg_cfg_err *err) {
  struct vg_payload *p = vg_calloc(1, sizeof *p);
  p->format = format;
  int rc = 0;
  if (format == VG_PAYLOAD_CSV || format == VG_PAYLOAD_JSON) {
    rc = vg_mapping_new(
        &p->mapping, format == VG_PAYLOAD_CSV ? VG_FORMAT_CSV : VG_FORMAT_JSON,
        cfg, err);
  } else if (format == VG_PAYLOAD_INFLUX) {
    struct payload_config pc = {0};
    rc = vg_cfg_apply(vg_payload_keys, &pc, cfg, err);
    if (!rc) {
      int prec = vg_lp_precision_parse(pc.precision);
      /* Minutes and hours are the v1 /write API's, not a source's. */
      if (prec < 0 || prec == VG_LP_MIN || prec == VG_LP_H)
        rc = vg_cfg_error(err,
                          cJSON_GetObjectItemCaseSensitive(cfg, "precision"),
                          "\"precision\": expected \"ns\", \"us\", \"ms\" or "
                          "\"s\", got \"%s\"",
                          pc.precision);
      else
        p->precision = (enum vg_lp_precision)prec;
    }
    vg_cfg_release(vg_payload_keys, &pc);
  }
  if (rc) {
    vg_payload_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

void vg_payload_free(struct vg_payload *p) {
  if (!p)
    return;
  vg_mapping_free(p->mapping);
  free(p);
}

int vg_payload_run(const struct vg_payload *p, const char *input,
                   const char *data, size_t len, const struct vg_emitter *out,
                   char *error, size_t error_size) {
  /* Line protocol is read line by line: a bad line is a rejection, never
   * the whole input's failure. */
  if (p->format == VG_PAYLOAD_INFLUX)
    return vg_lp_samples(input, data, len, p->precision, NULL, out, NULL);
  if (p->format == VG_PAYLOAD_PROMETHEUS) {
    vg_promtext_parse(input, data, len, out, NULL);
    return 0;
  }
  return vg_mapping_run(p->mapping, input, data, len, out, error, error_size);
}

int vg_payload_run_json(const struct vg_payload *p, const char *input,
                        const cJSON *root, const struct vg_emitter *out,
                        char *error, size_t error_size) {
  if (p->format != VG_PAYLOAD_JSON) {
    snprintf(error, error_size, "not a JSON format");
    return -EINVAL;
  }
  return vg_mapping_run_json(p->mapping, input, root, out, error, error_size);
}
