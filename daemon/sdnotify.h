/* daemon/sdnotify.h - the systemd notify protocol without libsystemd.
 *
 * A datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
 * abstract name starting with '@').  Without the variable every call is a
 * no-op, so the daemon runs the same under any supervisor.
 */
#ifndef VG_SDNOTIFY_H
#define VG_SDNOTIFY_H

#include <stdint.h>

/* Sends `state` ("READY=1", "STATUS=...", ...); 0 or -errno. */
int vg_sd_notify(const char *state);
int vg_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* $WATCHDOG_USEC when it is set for this process ($WATCHDOG_PID absent or
 * ours), else 0. */
uint64_t vg_sd_watchdog_usec(void);

#endif
