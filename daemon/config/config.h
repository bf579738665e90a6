/* daemon/config/config.h - the daemon's top-level configuration.
 *
 * vg_config_load() reads villagemetrics.json and its conf.d/, applies the
 * top-level keys (listen, http, log_level, state_dir, stale_after, labels,
 * registry, targets)
 * and checks the shape of the "collectors" and "exporters" arrays: each an
 * object with a string "type"; two collectors that would certainly
 * provide the same series are refused (conflicts.c).  What a collector or
 * exporter object holds beyond its type is for that plugin's configure() to
 * check, with the doc kept here so that its errors can name file, line and
 * column too.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include "daemon/config/cfg_keys.h"
#include "daemon/config/targets.h"
#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_config {
  struct vg_cfg_doc *doc;        /* owned */
  cJSON *root;                   /* owned; collectors/exporters point into it */
  char *path;                    /* the main file, owned */
  char *listen;                  /* "127.0.0.1:9464" */
  unsigned http_max_connections; /* default 4096 */
  unsigned http_max_connections_per_address; /* default 64 */
  int64_t http_header_timeout_ms;            /* default "10s" */
  int64_t http_timeout_ms;                   /* default "30s" */
  char *tls_cert_pem, *tls_key_pem;          /* PEM text read at load; owned */
  char *read_token;        /* for /metrics and status; owned */
  char *log_level;         /* "info" */
  char *state_dir;         /* "/var/lib/villagemetrics" (PATH) */
  int64_t stale_after_ms;  /* default "15m": series a push/pull source stops
                              reporting vanish after this */
  struct vg_label *labels; /* constant labels added to every series, from the
                              "labels" object; owned (names and values
                              owned) */
  size_t nlabels;
  struct vg_target *targets; /* from "targets"; owned */
  size_t ntargets;
  uint64_t journal_max_bytes;       /* default "1GiB" */
  uint64_t journal_segment_bytes;   /* default "16MiB" */
  int64_t journal_commit_window_ms; /* default "100ms" */
  bool journal_fsync_batch;         /* "batch" (default) or "off" */
  char *registry_path;     /* the village registry's file; NULL: none; owned */
  const cJSON *collectors; /* array, may be NULL */
  const cJSON *exporters;  /* array, may be NULL */
};

/* On success *out is new and owned by the caller (vg_config_free).  On
 * failure err->msg says what and where, and err->doc is NULL. */
int vg_config_load(const char *path, struct vg_config **out,
                   struct vg_cfg_err *err);
void vg_config_free(struct vg_config *cfg); /* NULL-safe */

/* For the configuration reference: the top-level keys and those of the
 * "http" object. */
extern const struct vg_cfg_key vg_config_keys[];
extern const struct vg_cfg_key vg_config_http_keys[];
extern const struct vg_cfg_key vg_config_journal_keys[];
extern const struct vg_cfg_key vg_config_registry_keys[];

#endif
