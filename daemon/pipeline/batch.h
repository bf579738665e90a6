/* daemon/pipeline/batch.h - samples recorded on a worker thread, replayed on
 * the loop.
 *
 * Parsing a large file is CPU work that must not stall the loop, so the
 * file collector parses inside uv_queue_work into a batch (through the
 * batch's emitter) and replays the batch into its sink from the after-work
 * callback.  A batch is touched by one thread at a time.  Strings are
 * copied into one arena; consecutive samples with equal labels share one
 * copy, so a record's labels are stored once however many metrics it has.
 * Family metadata is recorded too and replayed in its place among the
 * samples.
 *
 * Memory: everything a batch allocates (its arena and its arrays, with the
 * room they grow into) counts against its max_bytes, and, when it has a
 * hold, is taken from a memory budget as it grows (daemon/util/budget.h).
 * Past either, the batch is stopped: what it recorded is freed at once
 * (its memory back to the hold), it records nothing more but counts
 * rejections, and vg_batch_error() says why -- a stopped batch is an
 * input refused whole, never replayed.
 * Each sample costs one 64-byte entry (128 bytes at worst while its array
 * doubles) plus its strings; see vg_batch_new.
 *
 * Rejections: the first VG_BATCH_DETAILED are kept whole (place and
 * detail) and replayed in their place; every later one is only counted,
 * by reason, and handed on at the end of the replay as one reject_many
 * call per reason.  A body of millions of bad lines thus costs a counter,
 * not a million entries, and its count stays exact.
 */
#ifndef VG_BATCH_H
#define VG_BATCH_H

#include "daemon/model/sample.h"
#include "daemon/util/budget.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rejections a batch keeps with their place and detail. */
#define VG_BATCH_DETAILED 1000

struct vg_batch;

/* max_bytes caps everything the batch allocates; past it the batch stops
 * (above) and vg_batch_overflowed() says so. */
struct vg_batch *vg_batch_new(size_t max_bytes);
/* From now on the batch takes what it grows by from `hold` (the caller's,
 * which must outlive the batch); a refusal stops the batch as max_bytes
 * does, and vg_batch_error() gives the hold's reason.  Freeing the batch
 * gives its bytes back to the hold. */
void vg_batch_set_hold(struct vg_batch *b, struct vg_budget_hold *hold);
/* Makes room, at once, for `samples` samples and `arena_bytes` of their
 * strings (what the caller expects from its input), counted like any
 * growth; best effort: what max_bytes or the hold would refuse is simply
 * not reserved, and the batch grows later as it would have. */
void vg_batch_reserve(struct vg_batch *b, size_t samples, size_t arena_bytes);
void vg_batch_free(struct vg_batch *b); /* NULL-safe */
/* Empties b for another input, as vg_batch_new(max_bytes) would make it,
 * but with its memory kept (freed if it is over max_bytes): what it held
 * goes back to its hold, and vg_batch_set_hold takes it from the next. */
void vg_batch_recycle(struct vg_batch *b, size_t max_bytes);

/* Emptied batches an owner keeps, memory and all, for its next inputs: a
 * batch made afresh faults its pages in again (a third of the daemon's
 * CPU when a file collector read 100,000 rows every 5 s).  Zeroed is
 * empty; touched by one thread at a time. */
#define VG_BATCH_SPARES 2
/* The most memory a batch of a file, HTTP or exec source may hold to be
 * kept (a file of 100,000 rows of one value takes about 21 MiB). */
#define VG_BATCH_KEEP_MAX ((size_t)64 << 20)
struct vg_batch_spares {
  struct vg_batch *b[VG_BATCH_SPARES];
  unsigned n;
};
/* Keeps b, emptied (vg_batch_recycle), when there is room for it and it
 * holds at most max_bytes; frees it otherwise.  NULL-safe. */
void vg_batch_keep(struct vg_batch_spares *s, struct vg_batch *b,
                   size_t max_bytes);
/* A kept batch, emptied as vg_batch_recycle(max_bytes) makes it, or a new
 * one (vg_batch_new).  Owned by the caller. */
struct vg_batch *vg_batch_take(struct vg_batch_spares *s, size_t max_bytes);
/* Moves what `from` keeps into `to` (vg_batch_keep, within max_bytes). */
void vg_batch_spares_move(struct vg_batch_spares *to,
                          struct vg_batch_spares *from, size_t max_bytes);
void vg_batch_spares_free(struct vg_batch_spares *s);
const struct vg_emitter *vg_batch_emitter(struct vg_batch *b);
void vg_batch_replay(const struct vg_batch *b, const struct vg_emitter *to);
/* Replays at most `max` (>= 1) recorded calls from *pos (0 to start) and
 * moves *pos on; true once everything is replayed, the counted-only
 * rejections last.  Lets a caller on the loop replay a large batch in
 * slices, giving the loop back between them. */
bool vg_batch_replay_some(const struct vg_batch *b, const struct vg_emitter *to,
                          size_t *pos, size_t max);
size_t vg_batch_samples(const struct vg_batch *b);
/* Every rejection recorded, kept whole or only counted, and of those the
 * ones only counted. */
uint64_t vg_batch_rejections(const struct vg_batch *b);
uint64_t vg_batch_rejections_counted(const struct vg_batch *b);
/* What the batch holds now, in bytes. */
size_t vg_batch_bytes(const struct vg_batch *b);
bool vg_batch_overflowed(const struct vg_batch *b);
/* 0; -ENOSPC when the batch passed max_bytes; -EAGAIN or -EFBIG when its
 * hold was refused (vg_budget_take). */
int vg_batch_error(const struct vg_batch *b);

#endif
