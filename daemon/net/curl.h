/* daemon/net/curl.h - libcurl's multi interface on the daemon's loop.
 *
 * One multi handle for the whole daemon, shared by every collector and
 * exporter that speaks HTTP out: curl tells us which sockets to watch
 * (uv_poll) and when to wake it (uv_timer), after curl's
 * docs/examples/multi-uv.c.  Transfers never block the loop and run side
 * by side on one thread.
 *
 * The caller owns its easy handle: it sets the URL, headers and write
 * callbacks, starts the transfer here, and gets it back in `done`, after
 * which it may reuse or clean it up.  A function that returns an error
 * never calls `done`.
 */
#ifndef VG_CURL_H
#define VG_CURL_H

#include <curl/curl.h>
#include <uv.h>

struct vg_curl;

typedef void (*vg_curl_done)(void *arg, CURL *easy, CURLcode result);

/* Cheap: libcurl itself is initialised by the first transfer. */
int vg_curl_new(uv_loop_t *loop, struct vg_curl **out);
/* Aborts every transfer still running (their `done` runs with
 * CURLE_ABORTED_BY_CALLBACK), closes the handles and frees; `closed` runs
 * from the loop when the last handle is closed. */
void vg_curl_close(struct vg_curl *c, void (*closed)(void *arg), void *arg);

/* 0, or -EINVAL when curl refuses the handle, -ENOMEM when libcurl cannot
 * be initialised (then `done` never runs). */
int vg_curl_start(struct vg_curl *c, CURL *easy, vg_curl_done done, void *arg);
/* Stops a running transfer without calling its `done`. */
void vg_curl_cancel(struct vg_curl *c, CURL *easy);

#endif
