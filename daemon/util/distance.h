/* daemon/util/distance.h - how far apart two names are, for "did you
 * mean" hints: the configuration's keys, the catalog's indicators, the
 * registry's villages.
 *
 * The Levenshtein distance (insertions, deletions, substitutions) over
 * code units the caller chooses: bytes for ASCII keys, code points for
 * Chinese names, so that one wrong character counts 1, not 3.
 */
#ifndef VG_DISTANCE_H
#define VG_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

/* The longest name measured; a longer one is never "near". */
#define VG_DISTANCE_MAX 64

/* The distance of a[0..na) and b[0..nb), or SIZE_MAX when either is
 * longer than VG_DISTANCE_MAX. */
size_t vg_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

#endif
