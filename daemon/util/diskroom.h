/* daemon/util/diskroom.h - whether a write leaves its disk a reserve.
 *
 * The journal's records and the newest tables' files stop short of a full
 * disk: they are refused, as if it were full, while it would have less
 * than VG_DISK_RESERVE free after them.  The reserve is for the journal's
 * cursors, small files written beside the old ones and renamed over them:
 * a segment is deleted only once the cursors that passed it are on disk,
 * so a journal that filled its disk to the last block could no longer
 * delete even what it had delivered, and its disk stayed full for good.
 */
#ifndef VG_DISKROOM_H
#define VG_DISKROOM_H

#include <stdint.h>

/* A cursor takes a block, and there is one per exporter: a megabyte holds
 * hundreds, whatever the block size. */
#define VG_DISK_RESERVE ((uint64_t)1 << 20)

/* 0 when the filesystem holding `dir` (an existing path) has `bytes`, the
 * reserve, and what other writes let through are still writing free for
 * this user; -ENOSPC when it has not.  0 too when statvfs(2) cannot tell:
 * the write itself will.  After a 0 the caller writes, then gives the
 * bytes back with vg_disk_room_done, whatever the write's outcome.
 * Thread-safe: the journal's thread and the thread pool ask at once. */
int vg_disk_room(const char *dir, uint64_t bytes);
void vg_disk_room_done(uint64_t bytes);

#endif
