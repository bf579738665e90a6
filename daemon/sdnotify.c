/* daemon/sdnotify.c - systemd's notify protocol, one datagram per call.
 *
 * Owns nothing between calls: each message opens a socket, sends and
 * closes it, as sd_notify() does.  It must not block (a datagram to a
 * local socket does not wait) and must stay a no-op when $NOTIFY_SOCKET is
 * unset, so the daemon behaves the same outside systemd.
 */
#include "daemon/sdnotify.h"
#include "daemon/util/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Bigger than any STATUS= line we send; the kernel caps datagrams anyway. */
#define NOTIFY_MAX_BYTES 4096

int vg_sd_notify(const char *state) {
  const char *name = getenv("NOTIFY_SOCKET");
  if (!name || !name[0])
    return 0;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  if (name[0] != '/' && name[0] != '@')
    return -EAFNOSUPPORT;
  if (len >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, name, len);
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (name[0] == '@')
    sa.sun_path[0] = '\0'; /* abstract: the length says where it ends */
  else
    salen++; /* a path: count its NUL */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int rc = 0;
  if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
             salen) < 0)
    rc = -errno;
  close(fd);
  return rc;
}

int vg_sd_notifyf(const char *fmt, ...) {
  const char *name = getenv("NOTIFY_SOCKET");
  if (!name || !name[0])
    return 0;
  struct vg_buf b;
  vg_buf_init(&b, NOTIFY_MAX_BYTES);
  va_list ap;
  va_start(ap, fmt);
  int rc = vg_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  if (rc == 0)
    rc = vg_sd_notify(b.data ? b.data : "");
  else if (rc == -ENOSPC)
    rc = -EMSGSIZE;
  vg_buf_free(&b);
  return rc;
}

/* A decimal without sign, spaces or trailing text; 0 when invalid. */
static unsigned long long parse_decimal(const char *s) {
  if (!s || !s[0] || strspn(s, "0123456789") != strlen(s))
    return 0;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  return errno ? 0 : v;
}

uint64_t vg_sd_watchdog_usec(void) {
  uint64_t usec = parse_decimal(getenv("WATCHDOG_USEC"));
  if (usec == 0)
    return 0;
  const char *pid = getenv("WATCHDOG_PID");
  if (pid && parse_decimal(pid) != (unsigned long long)getpid())
    return 0;
  return usec;
}
