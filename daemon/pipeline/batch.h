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
 */
#ifndef VG_BATCH_H
#define VG_BATCH_H

#include "daemon/model/sample.h"

#include <stdbool.h>
#include <stddef.h>

struct vg_batch;

/* max_bytes caps the batch's memory; past it further samples are dropped
 * and vg_batch_overflowed() says so. */
struct vg_batch *vg_batch_new(size_t max_bytes);
void vg_batch_free(struct vg_batch *b); /* NULL-safe */
const struct vg_emitter *vg_batch_emitter(struct vg_batch *b);
void vg_batch_replay(const struct vg_batch *b, const struct vg_emitter *to);
size_t vg_batch_samples(const struct vg_batch *b);
bool vg_batch_overflowed(const struct vg_batch *b);

#endif
