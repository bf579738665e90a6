/* daemon/config/cfg_keys.h - configuration keys described once, in tables.
 *
 * After Fluent Bit's config maps: a module describes each of its keys as a
 * row {name, type, default, offset of the field, description}.  The same
 * table drives parsing, defaults, the unknown-key check and the generated
 * configuration reference (villagemetricsd --config-reference), so the
 * docs cannot drift from the code.
 */
#ifndef VG_CFG_KEYS_H
#define VG_CFG_KEYS_H

#include "daemon/config/cfg_doc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vg_cfg_type {
  VG_CFG_STRING,   /* char *, owned by the struct, freed by vg_cfg_release */
  VG_CFG_PATH,     /* char *, like STRING; relative to its file's folder */
  VG_CFG_BOOL,     /* bool */
  VG_CFG_INT,      /* int64_t */
  VG_CFG_DOUBLE,   /* double */
  VG_CFG_DURATION, /* int64_t milliseconds; "250ms", "90s", "5m", "1h30m" */
  VG_CFG_SIZE,     /* uint64_t bytes; 1024, "512KiB", "64MiB", "1GB" */
  VG_CFG_JSON,     /* const cJSON *, borrowed: valid while the tree lives;
                      the module checks its shape itself */
};

struct vg_cfg_key {
  const char *name;
  enum vg_cfg_type type;
  const char *def; /* default as the user would write it; NULL: none */
  size_t offset;   /* of the field in the module's struct */
  const char *desc;
  bool required;
};

/* A table ends with a row whose name is NULL. */
#define VG_CFG_END                                                             \
  { 0 }

/* Sets every field of `base` named in `keys` from `obj` or from its
 * default.  Keys of obj that are not in `keys` are not checked here: see
 * vg_cfg_check_unknown(). */
int vg_cfg_apply(const struct vg_cfg_key *keys, void *base, const cJSON *obj,
                 struct vg_cfg_err *err);
/* Frees the strings vg_cfg_apply set. */
void vg_cfg_release(const struct vg_cfg_key *keys, void *base);

/* The Levenshtein distance of two names, or 99 for names over 64 bytes:
 * what a "did you mean" hint is chosen by. */
size_t vg_cfg_distance(const char *a, const char *b);

/* Fails on the first member of obj named in none of the NULL-terminated
 * list of tables, with a message that suggests the closest known key. */
int vg_cfg_check_unknown(const struct vg_cfg_key *const *tables,
                         const cJSON *obj, struct vg_cfg_err *err);

/* Parsers shared with code that reads durations and sizes elsewhere;
 * 0 on success, -EINVAL with nothing written otherwise. */
int vg_cfg_parse_duration_ms(const char *s, int64_t *out);
int vg_cfg_parse_size(const char *s, uint64_t *out);

/* Writes a Markdown table of the keys, for docs/configuration.md. */
struct vg_buf;
void vg_cfg_describe(const struct vg_cfg_key *keys, struct vg_buf *out);

#endif
