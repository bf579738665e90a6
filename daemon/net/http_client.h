/* daemon/net/http_client.h - the HTTP requests of push exporters.
 *
 * What every exporter that POSTs somewhere needs, written once: the HTTP
 * client keys (daemon/net/http_client_conf.h) plus "gzip", and a reusable
 * client that POSTs a body on the daemon's curl multi handle and hands back the
 * status, the first bytes of the answer (for the log) and the server's
 * Retry-After.  Deciding what an answer means (OK, retry, drop) is the
 * exporter's.
 */
#ifndef VG_HTTP_CLIENT_H
#define VG_HTTP_CLIENT_H

#include "daemon/config/cfg_keys.h"
#include "daemon/net/curl.h"
#include "daemon/net/http_client_conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_http_client_config {
  struct vg_http_client_conf conn; /* url, credentials, TLS, headers */
  bool gzip;                       /* compress request bodies */
};

/* "gzip"; an exporter lists vg_http_client_conf_keys beside it. */
extern const struct vg_cfg_key vg_http_client_keys[];

/* Applies vg_http_client_conf_keys (see vg_http_client_conf_apply for
 * `reserved`) and vg_http_client_keys to c. */
int vg_http_client_configure(struct vg_http_client_config *c, const cJSON *cfg,
                             const char *const *reserved,
                             struct vg_cfg_err *err);
void vg_http_client_release(struct vg_http_client_config *c);

struct vg_http_client;

struct vg_http_client_response {
  CURLcode result;   /* CURLE_OK when an answer came */
  const char *error; /* curl's message when result is not CURLE_OK */
  long status;       /* HTTP status; 0 without an answer */
  const char *body;  /* the answer's first bytes (at most 4 KiB), NUL-
                        terminated; valid during the callback */
  size_t body_len;
  int64_t retry_after_ms; /* from Retry-After (seconds or a date); 0 */
};

typedef void (*vg_http_client_done)(void *arg,
                                    const struct vg_http_client_response *r);

/* A client for one configured sink.  `fixed` are headers the exporter
 * always sends ("Content-Type: application/x-protobuf", ...),
 * NULL-terminated, copied.  The config must outlive the client. */
struct vg_http_client *vg_http_client_new(struct vg_curl *curl,
                                          const struct vg_http_client_config *c,
                                          const char *const *fixed);
/* Cancels a request in flight (its done never runs) and frees. */
void vg_http_client_free(struct vg_http_client *h); /* NULL-safe */

/* POSTs body to the configured url followed by `query` (may be NULL, e.g.
 * "?db=villages&precision=ms").  The body is copied (and gzipped when
 * configured), so the caller's memory is free on return.  One request at
 * a time per client: -EBUSY otherwise.  0, or -errno and done never runs. */
int vg_http_client_post(struct vg_http_client *h, const char *query,
                        const char *body, size_t len, vg_http_client_done done,
                        void *arg);
void vg_http_client_cancel(struct vg_http_client *h);

/* What an answer's status means to a sender that must not lose data and
 * must not send again what a server refused for good.  One table for every
 * push exporter, after the remote-write 1.0 specification ("senders MUST
 * retry write requests on HTTP 5xx responses and MUST use a backoff
 * algorithm [...]. They MUST NOT retry write requests on HTTP 2xx and 4xx
 * responses other than 429"), which InfluxDB's write API matches:
 *   2xx                      delivered
 *   5xx, 429, no answer      the server cannot now: try again, backing off
 *                            (Retry-After honoured)
 *   400, 409, 422            the data is refused (bad points, out of
 *                            order): about that data, dropped and counted
 *   413                      too large: smaller requests may pass
 *   3xx (never followed), 401, 403, 404, every other 4xx
 *                            the endpoint refuses this sender (credentials,
 *                            url, method): about the configuration, not
 *                            the data, which must not be sent again until
 *                            someone fixes it */
enum vg_http_answer {
  VG_HTTP_DELIVERED,
  VG_HTTP_TRY_AGAIN,
  VG_HTTP_DATA_REFUSED,
  VG_HTTP_TOO_LARGE,
  VG_HTTP_SENDER_REFUSED,
};
/* For VG_HTTP_SENDER_REFUSED, *reason is the `reason` label of the
 * counts ("unauthorized", "forbidden", "not_found", "method_not_allowed",
 * "redirect", "client_error") and *what a few words for people
 * ("credentials refused"); both static.  Either may be NULL. */
enum vg_http_answer vg_http_client_answer(long status, const char **reason,
                                          const char **what);

#endif
