/* daemon/status/status.h - health, readiness and status for people and
 * tools.
 *
 * The routes /healthz, /readyz, /api/v1/status and the status page at /,
 * answered from the daemon's instances as they are at each request.  The
 * status layer sits above the process: daemon/main.c hands this to the
 * daemon as its add_routes hook (daemon/daemon.h).
 */
#ifndef VG_STATUS_H
#define VG_STATUS_H

struct vg_daemon;

/* Adds the routes to d->http; 0, or the first route's error. */
int vg_status_routes(struct vg_daemon *d);

#endif
