/* daemon/net/httpd.h - the daemon's HTTP server, on the daemon's libuv loop.
 *
 * libmicrohttpd in external-epoll mode: MHD's epoll fd is watched with a
 * uv_poll and its timeouts with a uv_timer, so no thread of MHD's own runs
 * and handlers run on the loop thread like everything else.  MHD gives
 * keep-alive, chunking, connection limits and timeouts.
 *
 * A handler gets a request and answers it with vg_httpd_respond(), either
 * before it returns or later from the loop (the connection is suspended
 * meanwhile, so a slow answer never blocks other connections).  Request
 * bodies are read up to the route's cap; a larger one is answered 413
 * before the handler sees it (at once when Content-Length says so; a
 * chunked body is read on to its end, and more than 1 MiB past the cap
 * closes the connection instead).  Responses larger than 1 KiB are gzipped
 * when the client's Accept-Encoding allows it; the compression is streamed
 * block by block as the socket drains (chunked, no Content-Length), so a
 * large /metrics never holds the loop for its whole compression.
 *
 * Every request handed to a handler must be answered exactly once.  If the
 * server is closed while a handler still holds a request, the request
 * stays valid (its accessors keep working) until that answer, which then
 * only frees it: nothing is sent and the server is not touched.
 */
#ifndef VG_HTTPD_H
#define VG_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct vg_httpd;
struct vg_httpd_request;

typedef void (*vg_httpd_handler)(void *ctx, struct vg_httpd_request *req);

/* Connections.  A client that has sent a request's headers is served:
 * its connection is never taken from it.  Connections without a request
 * in progress (still sending headers, or kept alive between requests) are
 * closed, oldest first, when a new connection would pass a limit, and
 * one whose headers take longer than header_timeout_ms is closed however
 * steadily it trickles.  When max_connections requests are in progress
 * (or max_connections_per_address from one address), further requests
 * are answered 503 with Retry-After, except on priority routes
 * (vg_httpd_route_priority), which have headroom of their own.  The limit
 * is lowered, with a notice, to what the file-descriptor limit can hold;
 * the soft limit is raised towards the hard one first. */
struct vg_httpd_options {
  unsigned max_connections;             /* 0: 4096 */
  unsigned max_connections_per_address; /* 0: 64 */
  unsigned header_timeout_ms;           /* 0: 10 s */
  unsigned timeout_s;                   /* idle connection timeout; 0: 30 */
  bool no_idle_timeout;                 /* never close an idle connection */
  /* HTTPS when both are set: PEM text (not file names), read by the
   * caller; borrowed, must live as long as the server. */
  const char *tls_cert_pem, *tls_key_pem;
};

/* Binds `listen` ("127.0.0.1:9464", "[::1]:9464", ":9464" for every
 * address; port 0 picks a free one) and starts serving on `loop`. */
int vg_httpd_new(uv_loop_t *loop, const char *listen,
                 const struct vg_httpd_options *opts, struct vg_httpd **out,
                 char *error, size_t error_size);
/* Stops accepting, closes every connection and the loop handles; `closed`
 * runs when the last handle is closed and the server's memory is freed.
 * May be called from a handler (it then takes effect when MHD returns). */
void vg_httpd_close(struct vg_httpd *http, void (*closed)(void *arg),
                    void *arg);
/* The bound port (useful when listen asked for port 0). */
uint16_t vg_httpd_port(const struct vg_httpd *http);

/* Routes match the path exactly (query string excluded).  `max_body` caps
 * the request body (0: no body accepted).  `owner` groups routes so that a
 * plugin's routes can be removed together on reload.  -EEXIST when the
 * (method, path) pair is taken. */
int vg_httpd_route(struct vg_httpd *http, const char *method, const char *path,
                   size_t max_body, vg_httpd_handler fn, void *ctx,
                   const void *owner);
void vg_httpd_unroute(struct vg_httpd *http, const void *owner);

/* Requests the server answered itself, before the route's handler saw
 * them; counted from when the route was added. */
struct vg_httpd_refusals {
  uint64_t unauthorized; /* 401: credentials missing or wrong */
  uint64_t too_large;    /* 413: the body is over max_body */
};
int vg_httpd_route_refusals(const struct vg_httpd *http, const char *method,
                            const char *path, struct vg_httpd_refusals *out);
/* Requests to this route are served even when the server is full of
 * requests in progress (health probes, scrapes): they use headroom kept
 * for them instead of getting 503.  -ENOENT when there is no such route. */
int vg_httpd_route_priority(struct vg_httpd *http, const char *method,
                            const char *path);

/* What the server did about its connections, since it started. */
struct vg_httpd_stats {
  unsigned connections;             /* open now */
  unsigned requests;                /* in progress now */
  unsigned max_connections;         /* in effect (after the fd limit) */
  uint64_t closed_header_timeout;   /* headers not in by header_timeout */
  uint64_t closed_address_limit;    /* its address had too many */
  uint64_t closed_connection_limit; /* the server had max_connections */
  uint64_t busy;                    /* requests answered 503 */
};
void vg_httpd_stats(const struct vg_httpd *http, struct vg_httpd_stats *out);

/* Requires credentials (daemon/net/httpd_auth.h) on a route, checked when its
 * headers arrive, before its body is read: 401 without them.  `auth` is
 * borrowed and must live as long as the route; NULL opens it again.
 * -ENOENT when there is no such route. */
struct vg_httpd_auth;
int vg_httpd_route_auth(struct vg_httpd *http, const char *method,
                        const char *path, const struct vg_httpd_auth *auth);

const char *vg_httpd_method(const struct vg_httpd_request *req);
const char *vg_httpd_path(const struct vg_httpd_request *req);
const char *vg_httpd_header(const struct vg_httpd_request *req,
                            const char *name); /* NULL when absent */
const char *vg_httpd_query(const struct vg_httpd_request *req,
                           const char *name); /* NULL when absent */
const char *vg_httpd_body(const struct vg_httpd_request *req, size_t *len);
/* The client's address ("127.0.0.1", "::1"), for logs and the status
 * page; "unknown" when the connection is gone. */
void vg_httpd_client(const struct vg_httpd_request *req, char *out,
                     size_t size);
/* Whether the answer's body will be gzipped if it is large (a stream
 * always is): the client's Accept-Encoding allows it. */
bool vg_httpd_gzip_accepted(const struct vg_httpd_request *req);

/* Adds a response header; call before vg_httpd_respond. */
void vg_httpd_add_header(struct vg_httpd_request *req, const char *name,
                         const char *value);
/* Answers and ends the request; takes ownership of `body` (malloc'd, may
 * be NULL when len is 0).  `req` must not be used afterwards. */
void vg_httpd_respond(struct vg_httpd_request *req, unsigned status,
                      const char *content_type, char *body, size_t len);

/* A body made as the socket drains, for pages too large to build whole
 * (/metrics of a million series): the server asks for the next piece
 * when it can send it, and gzips the pieces when the client allows. */
struct vg_httpd_stream {
  /* Fills up to `max` bytes; returns how many, 0 at the end of the body. */
  size_t (*read)(void *ctx, char *out, size_t max);
  /* Optional: the same body already gzipped (one gzip member), for a
   * body that keeps its compressed parts from one response to the next.
   * When set, the server calls it instead of `read` (never both on one
   * body) for a client that accepts gzip, and compresses nothing. */
  size_t (*read_gzip)(void *ctx, char *out, size_t max);
  /* Runs once when the body is no longer needed: all sent, or the client
   * went away.  Frees ctx. */
  void (*done)(void *ctx);
  void *ctx;
};

/* Like vg_httpd_respond, with the body read from `body` (copied; its ctx
 * is owned by the server until done() runs). */
void vg_httpd_respond_stream(struct vg_httpd_request *req, unsigned status,
                             const char *content_type,
                             const struct vg_httpd_stream *body);

#endif
