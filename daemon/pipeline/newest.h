/* daemon/pipeline/newest.h - what a sink already has of each series.
 *
 * For sinks that refuse a sample older than the newest one they have of
 * its series (Prometheus): the newest sample delivered of each series (its
 * timestamp and the bits of its value) and the highest journal sequence
 * number of the series dealt with (delivered, or given up on), kept in
 * memory and in a file, so that a sender can leave out what the sink must
 * refuse, and tell a record it dealt with before (read again after a
 * restart, or a cursor set back) from one it never saw.  Series are known
 * by a 64-bit hash of their label set.
 *
 * The file is an append log of entries, rewritten whole when it has grown
 * to twice what it holds; it is read once, synchronously, when opened (at
 * start or reload, as cursor files are), and written in the thread pool.
 * Must never: block the loop on a write, or forget an entry whose sync
 * reported done (a crash after that finds it in the file).
 */
#ifndef VG_NEWEST_H
#define VG_NEWEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct vg_newest;

#define VG_NEWEST_NONE INT64_MIN /* ts_ms: nothing delivered yet */

struct vg_newest_entry {
  int64_t ts_ms; /* of the newest sample delivered; VG_NEWEST_NONE */
  uint64_t bits; /* its value's, exactly (a stale marker stays one) */
  uint64_t seq;  /* the highest sequence number dealt with */
};

/* Reads `path` (NULL: memory only; a missing file is an empty one; a
 * damaged end is ignored).  The folder must exist.  0, or -errno with a
 * message in `error`. */
int vg_newest_open(uv_loop_t *loop, const char *path, struct vg_newest **out,
                   char *error, size_t error_size);
/* Frees at once; a write in flight finishes in the thread pool and is then
 * freed (its done is never called).  NULL-safe. */
void vg_newest_close(struct vg_newest *n);

/* Starts loading where `hash` would be looked up: a caller about to look
 * up many series asks a few ahead, so that a table of millions of series
 * (far past the caches) does not wait on memory for each. */
void vg_newest_prefetch(const struct vg_newest *n, uint64_t hash);
/* The second step, a few look-ups after the first: the series' entry,
 * where the index (loaded by then) says it is. */
void vg_newest_prefetch_entry(const struct vg_newest *n, uint64_t hash);

/* NULL when the series is not in the table. */
const struct vg_newest_entry *vg_newest_get(const struct vg_newest *n,
                                            uint64_t hash);
/* The number of the series' entry, added when missing (nothing delivered,
 * seq 0, which no record has).  A number stays the series' until the
 * table is closed: a batch looks its series up once, and puts by number
 * when it is over. */
uint32_t vg_newest_ref(struct vg_newest *n, uint64_t hash);
/* vg_newest_ref, trying entry `hint` first (any number: one past the
 * table's, or another series', is looked up as vg_newest_ref does).  A
 * sender reports its series in the same order round after round, and the
 * entries are numbered in the order they first came: a caller passing the
 * number after the last one it got mostly reads the entries one after the
 * other, not the index at random. */
uint32_t vg_newest_ref_hint(struct vg_newest *n, uint64_t hash, uint32_t hint);
const struct vg_newest_entry *vg_newest_at(const struct vg_newest *n,
                                           uint32_t ref);
void vg_newest_prefetch_at(const struct vg_newest *n, uint32_t ref);
/* A record of the series was dealt with: the highest seq is kept; when it
 * was delivered, its sample becomes the newest unless that is newer (on
 * equal timestamps the later wins). */
void vg_newest_put(struct vg_newest *n, uint32_t ref, uint64_t seq,
                   bool delivered, int64_t ts_ms, uint64_t bits);
/* A flag kept with the entries: the sink refuses out-of-order samples. */
bool vg_newest_refuses(const struct vg_newest *n);
void vg_newest_set_refuses(struct vg_newest *n, bool refuses);
size_t vg_newest_count(const struct vg_newest *n);

/* Writes what changed since the last sync, in the thread pool, and calls
 * done(arg) on the loop when it is in the file: 0.  1 when there is
 * nothing to write (no change, or no file) or within a second of a failed
 * write (the next is the whole table): done is not called.  -EBUSY while
 * a sync is in flight.  A write that fails is logged once a minute and
 * reported as done: the entries stay in memory, and what the file lacks
 * costs, after a restart, a refusal to resolve again, never data. */
int vg_newest_sync(struct vg_newest *n, void (*done)(void *arg), void *arg);

#endif
