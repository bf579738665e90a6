/* daemon/util/diskroom.c - whether a write leaves its disk a reserve. */
#include "daemon/util/diskroom.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/statvfs.h>

/* The bytes of writes let through and not yet done, on any disk: counted
 * as gone, so that two writes checked at once cannot both take the room
 * that only one of them had.  Counted over every disk, which can only
 * refuse early, and only while the state folder spans several. */
static _Atomic uint64_t writing;

int vg_disk_room(const char *dir, uint64_t bytes) {
  uint64_t others = atomic_fetch_add(&writing, bytes);
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0)
    return 0;
  /* f_bavail: what an unprivileged user may take, which the daemon is. */
  uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
  uint64_t need = others + bytes + VG_DISK_RESERVE;
  if (avail >= need)
    return 0;
  atomic_fetch_sub(&writing, bytes);
  return -ENOSPC;
}

void vg_disk_room_done(uint64_t bytes) {
  atomic_fetch_sub(&writing, bytes);
}
