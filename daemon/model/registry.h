/* daemon/model/registry.h - the village registry (gazetteer): which villages
 * exist, under which names, and where a row's names lead.
 *
 * A registry holds villages keyed by their 12-digit administrative code,
 * each with its county, town and village name in the registry's primary
 * script (what the series carry), the Chinese names, aliases, and the
 * figures that describe it (coordinates, households, population).  A
 * source's row names its village by code, or by name within its county
 * and town, in either script, with or without the suffixes of
 * administrative names (村, 镇, 乡, 街道..., "cun", "zhen", "xiang"...):
 * vg_registry_lookup() says which village that is, or that none or
 * several are, with the nearest names for the person who fixes the row.
 *
 * Built once (vg_registry_add, then vg_registry_seal) and read-only
 * after: a sealed registry may be read from any thread.  It does no I/O:
 * daemon/formats/registry_csv.c reads the file.
 */
#ifndef VG_REGISTRY_H
#define VG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_REGISTRY_CODE_LEN 12

struct vg_registry_village {
  const char *code;                             /* 12 digits */
  const char *county, *town, *village;          /* primary names */
  const char *county_zh, *town_zh, *village_zh; /* the primary name when the
                                                   registry has none */
  const char *const *aliases;                   /* other names of the village */
  size_t naliases;
  /* NAN where the registry leaves them blank. */
  double latitude, longitude, households, population;
};

struct vg_registry;

struct vg_registry *vg_registry_new(void);
void vg_registry_free(struct vg_registry *reg); /* NULL-safe */

/* Copies the village in.  -EEXIST when its code is taken already (`error`
 * names the line of the first), -EINVAL when a required field is empty
 * or the code is not 12 digits; `line` is where it came from, for
 * messages. */
int vg_registry_add(struct vg_registry *reg,
                    const struct vg_registry_village *v, uint32_t line,
                    char *error, size_t error_size);
/* Builds the indexes; no add after it. */
void vg_registry_seal(struct vg_registry *reg);

size_t vg_registry_size(const struct vg_registry *reg);
const struct vg_registry_village *vg_registry_at(const struct vg_registry *reg,
                                                 size_t i);

/* What a row says of its village; NULL or "" where it says nothing. */
struct vg_registry_query {
  const char *code, *county, *town, *village;
  /* Say why without the nearest names, whose search is a pass over the
   * whole registry: for a caller that has done many lately. */
  bool no_nearest;
};

enum vg_registry_match {
  VG_REGISTRY_FOUND,
  VG_REGISTRY_UNKNOWN,   /* no village fits */
  VG_REGISTRY_AMBIGUOUS, /* several do, and nothing tells them apart */
};

/* A code decides alone; else the village's name, an alias or either of
 * them without its suffix, among the villages of the county and town the
 * query names (each matched in either script, suffixes aside).  Among
 * several that fit, one whose name is written exactly as the query's
 * wins.  FOUND sets *index; otherwise `detail` says why for a person and
 * lists the nearest registry names (same town first, then by edit
 * distance). */
enum vg_registry_match vg_registry_lookup(const struct vg_registry *reg,
                                          const struct vg_registry_query *q,
                                          size_t *index, char *detail,
                                          size_t detail_size);

/* A name as the registry compares it: ASCII lower-cased, spaces,
 * hyphens, apostrophes and middle dots dropped, one administrative suffix
 * taken off.  Writes at most out_size - 1 bytes and a NUL. */
void vg_registry_name_key(const char *name, char *out, size_t out_size);

#endif
