/* daemon/util/diskroom.c - whether a write leaves its disk a reserve. */
#include "daemon/util/diskroom.h"

#include <errno.h>
#include <sys/statvfs.h>

int vg_disk_room(const char *dir, uint64_t bytes) {
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0)
    return 0;
  /* f_bavail: what an unprivileged user may take, which the daemon is. */
  uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
  return avail >= bytes && avail - bytes >= VG_DISK_RESERVE ? 0 : -ENOSPC;
}
