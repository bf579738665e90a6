/* daemon/pipeline/resolve.h - the resolution stage: a sample's village
 * labels to the registry's.
 *
 * Between the constant labels and the store, every sink hands a sample's
 * labels here.  Labels that name a village (`code`, or `village` with or
 * without `town` and `county`) are replaced by the registry's canonical
 * `code`, `county`, `town` and `village`, so that a pinyin API row and a
 * Chinese spreadsheet row of one village are one series; other labels
 * pass as they are.  A sample naming no registry village, or several, is
 * refused (unknown_village, ambiguous_village) with the nearest names.
 *
 * One resolver for the daemon, outliving configuration generations like
 * the store; the registry in it changes on reload.  Answers are cached by
 * the raw village labels, so a push of a million samples of a thousand
 * villages looks up a thousand times.  Without a registry nothing is
 * looked up or cached.  Loop thread only.
 */
#ifndef VG_RESOLVE_H
#define VG_RESOLVE_H

#include "daemon/model/registry.h"
#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>

/* How many labels resolution may add beyond those it is given. */
#define VG_RESOLVE_EXTRA_LABELS 4

struct vg_resolve;

struct vg_resolve *vg_resolve_new(void);
void vg_resolve_free(struct vg_resolve *r); /* NULL-safe */

/* Puts `reg` (sealed; owned by the resolver from now on; NULL: no
 * registry) in place of the one before, which is freed, with the cache. */
void vg_resolve_set(struct vg_resolve *r, struct vg_registry *reg);
/* The registry in force; NULL when none.  Valid until vg_resolve_set. */
const struct vg_registry *vg_resolve_registry(const struct vg_resolve *r);

enum vg_resolve_result {
  VG_RESOLVE_AS_IS,    /* no registry, or no village label: use the input */
  VG_RESOLVE_FOUND,    /* `out` holds the labels to use */
  VG_RESOLVE_REJECTED, /* *reason and *detail say why */
};

/* `out` has room for n + VG_RESOLVE_EXTRA_LABELS; its strings are the
 * input's or the registry's (valid until vg_resolve_set); *village is the
 * registry's index of the village found.  *detail is valid until the next
 * call. */
enum vg_resolve_result
vg_resolve_labels(struct vg_resolve *r, const struct vg_label *in, size_t n,
                  struct vg_label *out, size_t *nout, size_t *village,
                  enum vg_reject_reason *reason, const char **detail);

/* The registry's own figures of a village (coordinates, households,
 * population) stand only until a source gives its own: a sink tells the
 * resolver of every sample it stored for a registry village, and the
 * first of each of these metrics for a village calls `withdraw` (set by
 * the owner of the registry's series), once while the daemon runs: a new
 * registry keeps what sources gave, by code. */
void vg_resolve_on_withdraw(struct vg_resolve *r,
                            void (*withdraw)(void *arg, size_t village,
                                             const char *metric),
                            void *arg);
void vg_resolve_stored(struct vg_resolve *r, size_t village,
                       const char *metric);
/* Whether a source gave figure `figure` (an index of vg_resolve_figures)
 * of village `village` since the daemon started: what a new registry's
 * series leave out. */
bool vg_resolve_given(const struct vg_resolve *r, size_t village,
                      unsigned figure);

/* The metrics of the registry's figures, in the order of
 * struct vg_registry_village's latitude, longitude, households,
 * population. */
extern const char *const vg_resolve_figures[4];

#endif
