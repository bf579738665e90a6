/* daemon/net/httpd.c - the HTTP server: libmicrohttpd driven by the libuv loop.
 *
 * Owns the MHD daemon, one uv_poll on MHD's epoll fd, one uv_timer for
 * MHD's timeouts, one uv_timer for the header deadline, the route table,
 * and every request object from the moment MHD reports the request's
 * headers until it reports the request complete (or, for a request still
 * awaiting its handler's answer, until that answer).  The listening socket
 * is bound by httpd_listen.c, response bodies are built (and gzipped) by
 * httpd_response.c, and which connection to close first is decided by
 * httpd_conns.c; this file does the closing.
 *
 * A connection is closed by shutdown(2) on its socket, never close(2):
 * MHD still owns the descriptor, sees the end of the stream (over TLS as
 * well) in its next run and cleans up as for a client that left, and the
 * descriptor cannot be reused before MHD reports the connection closed.
 * Only connections without a request in progress are closed this way, so
 * MHD is always waiting to read from them (never suspended, never in the
 * middle of an answer).
 *
 * It must never block the loop and never start a thread: MHD runs without a
 * thread of its own, and MHD_run() is only called from the poll and timer
 * callbacks, never from inside an MHD callback.  It raises the process's
 * soft limit of file descriptors towards the hard one when the
 * connections need it, the only process-wide setting it touches.
 */
#include "daemon/net/httpd_auth.h"
#include "daemon/net/httpd_int.h"
#include "daemon/util/buf.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* The most of a body reserved from its Content-Length (on_headers). */
#define BODY_RESERVE ((size_t)4 << 20)
/* Body buffers kept for the next requests once theirs are freed: a body
 * of 1 MiB or more is a mapping of its own (main.c's malloc thresholds),
 * so a fresh one per request was faulted in, zeroed by the kernel and
 * unmapped again - a tenth of the daemon's time in bench/run-intake.sh.
 * Kept only from 64 KiB to twice BODY_RESERVE (what reserving it
 * rounds up to), at most two: up to 16 MiB held for a server that took
 * large pushes, nothing for one that never did. */
#define SPARE_BODIES 2
#define SPARE_MIN ((size_t)64 << 10)
#define SPARE_MAX (2 * BODY_RESERVE)

#define DEFAULT_MAX_CONNECTIONS 4096
/* A quarter of the connections: one address's flood leaves the rest to
 * everyone else, while a load balancer, a NAT in front of a county's
 * villages or a sender with a wide pool fits without its kept-alive
 * connections being closed under it (64, the old default, closed 83 of
 * 60,000 requests' connections from a 128-connection sender as it wrote
 * to them: bench/run-intake.sh --batch 1 --connections 128). */
#define DEFAULT_MAX_PER_ADDRESS 1024
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_S 30
/* MHD's own connection limit is max_connections plus this much headroom:
 * for priority routes (probes, scrapes) when max_connections requests are
 * in progress, for the 503 answers to the others, and for connections
 * already shut down that MHD has not yet cleaned up.  Without it a full
 * server leaves new clients hanging in the listen backlog. */
#define HEADROOM(max) ((max) / 16 > 16 ? (max) / 16 : 16)
/* File descriptors kept for everything else (journal, sources, sinks,
 * programs), up to a quarter of a small limit. */
#define FD_RESERVE 1024
/* Retry-After of a 503 for a server full of requests: they are short. */
#define BUSY_RETRY_AFTER_S "5"
/* MHD's own messages (a TLS handshake gone wrong, a client that left
 * mid-request) come once per connection: under a flood, at most this many
 * a minute are logged, and the rest counted in the next one. */
#define MHD_LOG_PER_MINUTE 10
/* Per connection: request line, headers and MHD's read/write buffers.  The
 * body is copied out of it as it arrives, so it only bounds the headers. */
#define CONNECTION_MEMORY_LIMIT (64 * 1024)
/* MHD (0.9.75) cannot queue an answer while a body is arriving, so the
 * part of a too large chunked body beyond its cap is read and dropped, in
 * constant memory, to give a proper 413 at its end - up to this much, far
 * past any body a sender means to send (a sender is told 413 however far
 * over it is); only an endless stream is cut off instead. */
#define DISCARD_LIMIT ((uint64_t)4 << 30)

struct route {
  char *method; /* owned */
  char *path;   /* owned */
  size_t max_body;
  vg_httpd_handler fn;
  void *ctx;
  const void *owner;
  const struct vg_httpd_auth *auth; /* borrowed; NULL: open */
  bool priority;                    /* served even when the server is full */
  struct vg_httpd_refusals refusals;
};

struct pair {
  char *name;  /* owned */
  char *value; /* owned */
};

struct pairs {
  struct pair *v; /* owned */
  size_t n, cap;
};

enum req_state {
  REQ_READING,   /* accumulating the body */
  REQ_TOO_LARGE, /* body over the cap: discarding it, 413 at its end */
  REQ_IN_HANDLER,
  REQ_SUSPENDED, /* the handler will answer later */
  REQ_ANSWERED,  /* answer built, waiting for MHD to ask for it */
  REQ_DONE,      /* response queued; MHD reports completion */
};

struct vg_httpd_request {
  /* Both NULL once the request is detached: its connection died (server
   * closing) while the handler still held it.  A detached request lives
   * until the handler answers, and the answer then only frees it. */
  struct vg_httpd *http;
  struct MHD_Connection *conn;
  struct vg__httpd_conn *acct; /* its connection's accounting; NULL detached */
  enum req_state state;
  char *method;                  /* owned */
  char *path;                    /* owned */
  struct pairs headers;          /* copied: the request outlives MHD's pool */
  struct pairs args;             /* decoded query arguments */
  struct vg_buf body;            /* capped at the route's max_body */
  uint64_t discarded;            /* body bytes dropped after passing the cap */
  struct pairs resp_hdrs;        /* from vg_httpd_add_header */
  struct MHD_Response *response; /* built answer, until queued */
  unsigned status;
  struct vg_httpd_request *prev, *next; /* in http->suspended */
  bool listed;
};

struct vg_httpd {
  uv_loop_t *loop;
  struct MHD_Daemon *mhd;
  uv_poll_t poll;
  uv_timer_t timer;
  uv_timer_t sweep; /* the header deadline */
  uint16_t port;
  unsigned mhd_limit; /* MHD's connection limit: ours plus headroom */
  struct vg__httpd_conns conns;
  uint64_t mhd_log_window_ms; /* MHD_LOG_PER_MINUTE: the current minute */
  unsigned mhd_log_lines;     /* logged in it */
  uint64_t mhd_log_dropped;   /* not logged in it */
  struct route *routes;       /* owned, with their strings */
  size_t nroutes, routes_cap;
  struct vg_httpd_request *suspended; /* resumed before MHD stops */
  struct vg_buf spares[SPARE_BODIES]; /* owned: freed bodies' memory */
  size_t nspares;
  bool in_run;        /* inside MHD_run(): MHD callbacks may be on stack */
  bool kick;          /* run MHD again at once (a connection was resumed) */
  bool close_pending; /* vg_httpd_close() came from inside MHD_run() */
  int open_handles;
  void (*closed)(void *arg);
  void *closed_arg;
};

/* ---- small helpers ---------------------------------------------------- */

static void pairs_add(struct pairs *p, const char *name, const char *value) {
  p->v = vg_grow(p->v, &p->cap, p->n + 1, sizeof *p->v);
  p->v[p->n].name = vg_strdup(name);
  p->v[p->n].value = vg_strdup(value ? value : "");
  p->n++;
}

static const char *pairs_get(const struct pairs *p, const char *name) {
  for (size_t i = 0; i < p->n; i++)
    if (strcasecmp(p->v[i].name, name) == 0)
      return p->v[i].value;
  return NULL;
}

static void pairs_free(struct pairs *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->v[i].name);
    free(p->v[i].value);
  }
  free(p->v);
  p->v = NULL;
  p->n = p->cap = 0;
}

/* ---- driving MHD from the loop ----------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Sets the timer from MHD's next deadline.  Only called outside MHD_run()
 * (or right after it), so MHD's state is consistent. */
static void arm_timer(struct vg_httpd *http) {
  MHD_UNSIGNED_LONG_LONG ms = 0;
  if (!http->kick && MHD_get_timeout(http->mhd, &ms) != MHD_YES) {
    uv_timer_stop(&http->timer);
    return;
  }
  uv_timer_start(&http->timer, on_timer, (uint64_t)ms, 0);
}

static void really_close(struct vg_httpd *http);

static unsigned connection_count(struct vg_httpd *http) {
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(http->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
  return info ? info->num_connections : 0;
}

static void arm_sweep(struct vg_httpd *http);

static void run_mhd(struct vg_httpd *http) {
  bool at_limit = connection_count(http) >= http->mhd_limit;
  http->in_run = true;
  http->kick = false;
  MHD_run(http->mhd);
  http->in_run = false;
  /* At the limit MHD takes the listening socket out of its epoll set and
   * puts it back only at the start of a later MHD_run(), which its timeout
   * does not ask for: without this, clients queued meanwhile would wait
   * for unrelated traffic. */
  if (at_limit && !http->close_pending &&
      connection_count(http) < http->mhd_limit)
    http->kick = true;
  if (http->close_pending) {
    really_close(http);
  } else {
    arm_timer(http);
    arm_sweep(http);
  }
}

static void on_timer(uv_timer_t *t) {
  run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  /* An error on an epoll fd cannot be handled better than by letting MHD
   * look at its sockets, which it does anyway. */
  run_mhd(p->data);
}

/* A resumed connection is only picked up by the next MHD_run(). */
static void kick(struct vg_httpd *http) {
  http->kick = true;
  if (!http->in_run)
    arm_timer(http);
}

/* Whether a message of MHD's is about one client (it left mid-request,
 * its TLS handshake failed, the server closed it): those come once per
 * connection, say nothing the counters do not, and go to the debug level.
 * Anything about the server itself (a resource limit, accept, epoll,
 * memory, a failure to set up) stays a warning. */
static bool about_one_client(const char *line) {
  static const char *const serious[] = {"limit", "ccept", "emory", "epoll",
                                        "ailed to"};
  for (size_t i = 0; i < sizeof serious / sizeof serious[0]; i++)
    if (strstr(line, serious[i]))
      return false;
  return true;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  struct vg_httpd *http = cls;
  uint64_t now = uv_now(http->loop);
  if (!http->mhd_log_window_ms ||
      now - http->mhd_log_window_ms >= VG_COMPLAINT_INTERVAL_MS) {
    if (http->mhd_log_dropped)
      vg_log(VG_LOG_WARNING,
             "http: %llu more messages of the HTTP library were not logged",
             (unsigned long long)http->mhd_log_dropped);
    http->mhd_log_window_ms = now ? now : 1;
    http->mhd_log_lines = 0;
    http->mhd_log_dropped = 0;
  }
  if (http->mhd_log_lines >= MHD_LOG_PER_MINUTE) {
    http->mhd_log_dropped++;
    return;
  }
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  /* Not counted against the budget when it would not be shown. */
  bool minor = about_one_client(line);
  if (minor && !vg_log_enabled(VG_LOG_DEBUG))
    return;
  http->mhd_log_lines++;
  vg_log(minor ? VG_LOG_DEBUG : VG_LOG_WARNING, "http: %s%s", line,
         http->mhd_log_lines == MHD_LOG_PER_MINUTE
             ? " (further messages of the HTTP library this minute are "
               "only counted)"
             : "");
}

/* ---- connections ------------------------------------------------------- */

/* MHD sees the end of the stream at its next run and cleans up; until it
 * reports the connection closed, the descriptor is still this socket. */
static void shut(struct vg__httpd_conn *c) {
  if (c->fd >= 0)
    shutdown(c->fd, SHUT_RDWR);
}

/* The header deadline: closes the connections past it, then waits for the
 * next one to come due. */
static void on_sweep(uv_timer_t *t) {
  struct vg_httpd *http = t->data;
  uint64_t now = uv_now(http->loop);
  struct vg__httpd_conn *c;
  while ((c = vg__httpd_conns_overdue(&http->conns, now))) {
    vg__httpd_conns_evict(&http->conns, c, VG__HTTPD_HEADER_TIMEOUT, NULL, now);
    shut(c);
  }
  arm_sweep(http);
}

static void arm_sweep(struct vg_httpd *http) {
  uint64_t at;
  if (!vg__httpd_conns_next_deadline(&http->conns, &at)) {
    uv_timer_stop(&http->sweep);
    return;
  }
  uint64_t now = uv_now(http->loop);
  uv_timer_start(&http->sweep, on_sweep, at > now ? at - now : 0, 0);
}

/* Whether bytes wait in c's socket that MHD has not read: headers that
 * came in the same run as a new connection, not parsed yet. */
static bool unread(const struct vg__httpd_conn *c) {
  int n = 0;
  return c->fd >= 0 && ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/* A connection starts: it is counted, and if it is one too many for its
 * address or for the server, the oldest connection that has no request
 * in progress makes room for it. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct vg_httpd *http = cls;
  uint64_t now = uv_now(http->loop);
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    if (*socket_context)
      vg__httpd_conns_close(&http->conns, *socket_context);
    *socket_context = NULL;
    return;
  }
  const union MHD_ConnectionInfo *addr =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const union MHD_ConnectionInfo *fd =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct vg__httpd_conn *c =
      vg__httpd_conns_open(&http->conns, addr ? addr->client_addr : NULL, now);
  c->fd = fd ? fd->connect_fd : -1;
  *socket_context = c;
  enum vg__httpd_event why;
  struct vg__httpd_conn *victim =
      vg__httpd_conns_evictee(&http->conns, c, unread, &why);
  if (victim) {
    vg__httpd_conns_evict(&http->conns, victim, why, c, now);
    shut(victim);
  }
}

static struct vg__httpd_conn *conn_acct(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? info->socket_context : NULL;
}

/* ---- routes ------------------------------------------------------------ */

int vg_httpd_route(struct vg_httpd *http, const char *method, const char *path,
                   size_t max_body, vg_httpd_handler fn, void *ctx,
                   const void *owner) {
  for (size_t i = 0; i < http->nroutes; i++)
    if (strcmp(http->routes[i].method, method) == 0 &&
        strcmp(http->routes[i].path, path) == 0)
      return -EEXIST;
  http->routes = vg_grow(http->routes, &http->routes_cap, http->nroutes + 1,
                         sizeof *http->routes);
  http->routes[http->nroutes++] = (struct route){
      .method = vg_strdup(method),
      .path = vg_strdup(path),
      .max_body = max_body,
      .fn = fn,
      .ctx = ctx,
      .owner = owner,
  };
  return 0;
}

int vg_httpd_route_auth(struct vg_httpd *http, const char *method,
                        const char *path, const struct vg_httpd_auth *auth) {
  for (size_t i = 0; i < http->nroutes; i++)
    if (strcmp(http->routes[i].method, method) == 0 &&
        strcmp(http->routes[i].path, path) == 0) {
      http->routes[i].auth = auth;
      return 0;
    }
  return -ENOENT;
}

int vg_httpd_route_priority(struct vg_httpd *http, const char *method,
                            const char *path) {
  for (size_t i = 0; i < http->nroutes; i++)
    if (strcmp(http->routes[i].method, method) == 0 &&
        strcmp(http->routes[i].path, path) == 0) {
      http->routes[i].priority = true;
      return 0;
    }
  return -ENOENT;
}

void vg_httpd_stats(const struct vg_httpd *http, struct vg_httpd_stats *out) {
  const struct vg__httpd_conns *cs = &http->conns;
  *out = (struct vg_httpd_stats){
      .connections = cs->total,
      .requests = cs->busy,
      .max_connections = cs->max_total,
      .closed_header_timeout = cs->events[VG__HTTPD_HEADER_TIMEOUT],
      .closed_address_limit = cs->events[VG__HTTPD_EVICT_ADDRESS],
      .closed_connection_limit = cs->events[VG__HTTPD_EVICT_TOTAL],
      .busy = cs->events[VG__HTTPD_BUSY],
  };
}

int vg_httpd_route_refusals(const struct vg_httpd *http, const char *method,
                            const char *path, struct vg_httpd_refusals *out) {
  for (size_t i = 0; i < http->nroutes; i++)
    if (strcmp(http->routes[i].method, method) == 0 &&
        strcmp(http->routes[i].path, path) == 0) {
      *out = http->routes[i].refusals;
      return 0;
    }
  return -ENOENT;
}

void vg_httpd_unroute(struct vg_httpd *http, const void *owner) {
  size_t kept = 0;
  for (size_t i = 0; i < http->nroutes; i++) {
    struct route *r = &http->routes[i];
    if (r->owner == owner) {
      free(r->method);
      free(r->path);
    } else {
      http->routes[kept++] = *r;
    }
  }
  http->nroutes = kept;
}

/* The route for (method, path); HEAD falls back to GET.  NULL when there is
 * none, with *path_known telling 405 from 404. */
static struct route *find_route(struct vg_httpd *http, const char *method,
                                const char *path, bool *path_known) {
  struct route *get = NULL;
  *path_known = false;
  for (size_t i = 0; i < http->nroutes; i++) {
    struct route *r = &http->routes[i];
    if (strcmp(r->path, path) != 0)
      continue;
    *path_known = true;
    if (strcmp(r->method, method) == 0)
      return r;
    if (strcmp(r->method, "GET") == 0)
      get = r;
  }
  return strcmp(method, "HEAD") == 0 ? get : NULL;
}

/* ---- requests ---------------------------------------------------------- */

static enum MHD_Result collect_pair(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value) {
  pairs_add(cls, key, value);
  return MHD_YES;
}

static struct vg_httpd_request *request_new(struct vg_httpd *http,
                                            struct MHD_Connection *conn,
                                            const char *method,
                                            const char *url) {
  /* Owned by MHD's connection (its con_cls) until on_completed, or by the
   * handler while it is suspended or detached. */
  struct vg_httpd_request *req = vg_calloc(1, sizeof *req);
  req->http = http;
  req->conn = conn;
  req->acct = conn_acct(conn);
  req->state = REQ_READING;
  req->method = vg_strdup(method);
  req->path = vg_strdup(url);
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_pair, &req->headers);
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_pair,
                            &req->args);
  vg_buf_init(&req->body, 0);
  return req;
}

/* Keeps a freed body's memory for a later request (SPARE_BODIES). */
static void keep_body(struct vg_httpd *http, struct vg_buf *body) {
  if (http && http->nspares < SPARE_BODIES && body->cap >= SPARE_MIN &&
      body->cap <= SPARE_MAX) {
    http->spares[http->nspares++] = *body;
    vg_buf_init(body, 0);
    return;
  }
  vg_buf_free(body);
}

/* Gives body a kept buffer with room for `want` bytes, if there is one. */
static void reuse_body(struct vg_httpd *http, struct vg_buf *body,
                       size_t want) {
  for (size_t i = 0; i < http->nspares; i++)
    if (http->spares[i].cap > want) {
      size_t max = body->max;
      *body = http->spares[i];
      body->max = max;
      vg_buf_reset(body);
      http->spares[i] = http->spares[--http->nspares];
      return;
    }
}

static void request_free(struct vg_httpd_request *req) {
  free(req->method);
  free(req->path);
  pairs_free(&req->headers);
  pairs_free(&req->args);
  pairs_free(&req->resp_hdrs);
  keep_body(req->http, &req->body);
  if (req->response)
    MHD_destroy_response(req->response);
  free(req);
}

static void unlist(struct vg_httpd_request *req) {
  if (!req->listed)
    return;
  if (req->prev)
    req->prev->next = req->next;
  else
    req->http->suspended = req->next;
  if (req->next)
    req->next->prev = req->prev;
  req->prev = req->next = NULL;
  req->listed = false;
}

static void detach(struct vg_httpd_request *req) {
  unlist(req);
  req->http = NULL;
  req->conn = NULL;
  req->acct = NULL;
}

const char *vg_httpd_method(const struct vg_httpd_request *req) {
  return req->method;
}

const char *vg_httpd_path(const struct vg_httpd_request *req) {
  return req->path;
}

const char *vg_httpd_header(const struct vg_httpd_request *req,
                            const char *name) {
  return pairs_get(&req->headers, name);
}

void vg_httpd_client(const struct vg_httpd_request *req, char *out,
                     size_t size) {
  if (req->acct)
    vg__httpd_conn_address(req->acct, out, size);
  else
    snprintf(out, size, "unknown");
}

const char *vg_httpd_query(const struct vg_httpd_request *req,
                           const char *name) {
  for (size_t i = 0; i < req->args.n; i++)
    if (strcmp(req->args.v[i].name, name) == 0)
      return req->args.v[i].value;
  return NULL;
}

const char *vg_httpd_body(const struct vg_httpd_request *req, size_t *len) {
  *len = req->body.len;
  return req->body.data ? req->body.data : "";
}

void vg_httpd_add_header(struct vg_httpd_request *req, const char *name,
                         const char *value) {
  pairs_add(&req->resp_hdrs, name, value);
}

/* ---- responses --------------------------------------------------------- */

/* Builds the response for req; takes ownership of the source. */
static struct MHD_Response *build_response(struct vg_httpd_request *req,
                                           const char *content_type,
                                           const struct vg__httpd_body *src) {
  const char *ae = vg_httpd_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING);
  struct MHD_Response *resp = vg__httpd_response_new(src, ae);
  if (content_type)
    vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  for (size_t i = 0; i < req->resp_hdrs.n; i++)
    vg__httpd_response_header(resp, req->resp_hdrs.v[i].name,
                              req->resp_hdrs.v[i].value);
  return resp;
}

static enum MHD_Result queue(struct vg_httpd_request *req, unsigned status,
                             struct MHD_Response *resp) {
  enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
  MHD_destroy_response(resp);
  req->state = REQ_DONE;
  return rc;
}

static enum MHD_Result queue_static(struct vg_httpd_request *req,
                                    unsigned status, const char *text) {
  struct MHD_Response *resp =
      vg__httpd_response_check(MHD_create_response_from_buffer(
          strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  return queue(req, status, resp);
}

static enum MHD_Result queue_unauthorized(struct vg_httpd_request *req) {
  static const char text[] = "authorization failed: a valid token or "
                             "username and password is required\n";
  struct MHD_Response *resp =
      vg__httpd_response_check(MHD_create_response_from_buffer(
          strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Basic realm=\"villagemetrics\"");
  return queue(req, MHD_HTTP_UNAUTHORIZED, resp);
}

static enum MHD_Result queue_owned(struct vg_httpd_request *req,
                                   unsigned status, char *text) {
  struct MHD_Response *resp = vg__httpd_response_check(
      MHD_create_response_from_buffer_with_free_callback(strlen(text), text,
                                                         free));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  return queue(req, status, resp);
}

/* The server is full of requests in progress: the client should come
 * back, on a new connection, so that this one is freed at once. */
static enum MHD_Result queue_busy(struct vg_httpd_request *req) {
  static const char text[] = "server busy: too many requests in progress; "
                             "retry later\n";
  struct MHD_Response *resp =
      vg__httpd_response_check(MHD_create_response_from_buffer(
          strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                            BUSY_RETRY_AFTER_S);
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  return queue(req, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
}

/* A request whose framing two readers could take differently (RFC 9112
 * 6.3: differing Content-Length values make the message invalid, and a
 * server must answer 400 and close), as a proxy in front might: refused,
 * so that no body is ever read as a request of its own. */
static enum MHD_Result queue_bad_framing(struct vg_httpd_request *req) {
  static const char text[] = "conflicting Content-Length headers\n";
  struct MHD_Response *resp =
      vg__httpd_response_check(MHD_create_response_from_buffer(
          strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  return queue(req, MHD_HTTP_BAD_REQUEST, resp);
}

struct lengths {
  const char *first;
  bool differ;
};

static enum MHD_Result each_length(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value) {
  struct lengths *l = cls;
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
    return MHD_YES;
  if (!l->first)
    l->first = value;
  else if (strcmp(l->first, value) != 0)
    l->differ = true;
  return MHD_YES;
}

static enum MHD_Result queue_too_large(struct vg_httpd_request *req) {
  return queue_owned(
      req, MHD_HTTP_CONTENT_TOO_LARGE,
      vg_asprintf("request body too large (limit %zu bytes)\n", req->body.max));
}

/* 404, or 405 with the methods the path does have. */
static enum MHD_Result queue_no_route(struct vg_httpd_request *req,
                                      bool path_known) {
  if (!path_known)
    return queue_static(req, MHD_HTTP_NOT_FOUND, "not found\n");
  const struct vg_httpd *http = req->http;
  struct vg_buf allow;
  vg_buf_init(&allow, SIZE_MAX / 2);
  bool get = false, head = false;
  for (size_t i = 0; i < http->nroutes; i++) {
    const struct route *r = &http->routes[i];
    if (strcmp(r->path, req->path) != 0)
      continue;
    get |= strcmp(r->method, "GET") == 0;
    head |= strcmp(r->method, "HEAD") == 0;
    vg_buf_printf(&allow, "%s%s", allow.len ? ", " : "", r->method);
  }
  if (get && !head)
    vg_buf_puts(&allow, ", HEAD");
  struct MHD_Response *resp =
      vg__httpd_response_check(MHD_create_response_from_buffer(
          strlen("method not allowed\n"), (void *)"method not allowed\n",
          MHD_RESPMEM_PERSISTENT));
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
  vg__httpd_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow.data);
  vg_buf_free(&allow);
  return queue(req, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

/* Headers are in: pick the route and refuse early what cannot succeed. */
static enum MHD_Result on_headers(struct vg_httpd_request *req) {
  struct vg_httpd *http = req->http;
  bool over = req->acct && vg__httpd_conns_begin(&http->conns, req->acct);
  struct lengths lengths = {0};
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, each_length, &lengths);
  if (lengths.differ)
    return queue_bad_framing(req);
  bool path_known;
  struct route *r = find_route(http, req->method, req->path, &path_known);
  if (!r)
    return queue_no_route(req, path_known);
  /* Before the body: a stranger's upload is never read. */
  if (!vg_httpd_auth_check(req, r->auth)) {
    r->refusals.unauthorized++;
    return queue_unauthorized(req);
  }
  if (over && !r->priority) {
    vg__httpd_conns_refused(&http->conns, req->acct, uv_now(http->loop));
    return queue_busy(req);
  }
  vg_buf_init(&req->body, r->max_body);
  const char *cl = vg_httpd_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (end != cl && errno == 0 && n > r->max_body) {
      r->refusals.too_large++;
      req->state = REQ_TOO_LARGE;
      return queue_too_large(req);
    }
    /* The body's room at once: growing it piece by piece as the upload
     * comes copied and faulted it in again each time (a twentieth of the
     * daemon's time in the intake benchmark).  Only up to BODY_RESERVE:
     * a Content-Length is a claim, and thousands of connections each
     * claiming max_body must not reserve that much address space before
     * sending a byte; a larger body grows from there as it arrives. */
    if (end != cl && errno == 0 && n > 0) {
      size_t want = (size_t)n < BODY_RESERVE ? (size_t)n : BODY_RESERVE;
      if (want >= SPARE_MIN)
        reuse_body(http, &req->body, want);
      (void)vg_buf_reserve(&req->body, want);
    }
  }
  return MHD_YES;
}

/* A chunked body found over its cap while reading: its route may have
 * moved in the table (or gone, with a reload) since its headers came. */
static void count_too_large(struct vg_httpd_request *req) {
  bool path_known;
  struct route *r = find_route(req->http, req->method, req->path, &path_known);
  if (r)
    r->refusals.too_large++;
}

/* The whole request is in: call the handler. */
static enum MHD_Result dispatch(struct vg_httpd_request *req) {
  struct vg_httpd *http = req->http;
  bool path_known;
  /* Looked up again: a reload may have removed the route meanwhile. */
  struct route *r = find_route(http, req->method, req->path, &path_known);
  if (!r)
    return queue_no_route(req, path_known);
  /* Copied: the handler may add routes, which moves the table. */
  vg_httpd_handler fn = r->fn;
  void *ctx = r->ctx;
  req->state = REQ_IN_HANDLER;
  fn(ctx, req);
  if (req->state == REQ_ANSWERED) {
    struct MHD_Response *resp = req->response;
    req->response = NULL;
    return queue(req, req->status, resp);
  }
  req->state = REQ_SUSPENDED;
  req->next = http->suspended;
  if (req->next)
    req->next->prev = req;
  http->suspended = req;
  req->listed = true;
  MHD_suspend_connection(req->conn);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  struct vg_httpd_request *req = *con_cls;
  if (!req) {
    req = request_new(cls, conn, method, url);
    *con_cls = req;
    return on_headers(req);
  }
  size_t n = *upload_size;
  *upload_size = 0;
  switch (req->state) {
  case REQ_READING:
    if (n == 0)
      return dispatch(req);
    if (vg_buf_append(&req->body, upload, n) == 0)
      return MHD_YES;
    /* Over the cap: drop what we have and the rest as it comes. */
    vg_buf_free(&req->body);
    req->state = REQ_TOO_LARGE;
    count_too_large(req);
    /* fall through */
  case REQ_TOO_LARGE:
    if (n == 0)
      return queue_too_large(req);
    req->discarded += n;
    return req->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
  case REQ_ANSWERED: {
    struct MHD_Response *resp = req->response;
    req->response = NULL;
    return queue(req, req->status, resp);
  }
  case REQ_DONE:
    return MHD_YES;
  case REQ_IN_HANDLER:
  case REQ_SUSPENDED:
    break;
  }
  /* Only reached for a request detached at shutdown: drop the connection. */
  return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct vg_httpd *http = cls;
  struct vg_httpd_request *req = *con_cls;
  if (!req)
    return;
  *con_cls = NULL;
  if (req->acct)
    vg__httpd_conns_end(&http->conns, req->acct, uv_now(http->loop));
  req->acct = NULL;
  if (req->state == REQ_IN_HANDLER || req->state == REQ_SUSPENDED)
    detach(req); /* the handler still holds it; its answer frees it */
  else
    request_free(req);
}

static void respond(struct vg_httpd_request *req, unsigned status,
                    const char *content_type,
                    const struct vg__httpd_body *src) {
  if (!req->http) {
    /* Detached: nobody is listening any more. */
    struct vg__httpd_body unused = *src;
    vg__httpd_body_release(&unused);
    request_free(req);
    return;
  }
  req->response = build_response(req, content_type, src);
  req->status = status;
  if (req->state == REQ_IN_HANDLER) {
    req->state = REQ_ANSWERED; /* dispatch() queues it */
    return;
  }
  /* Suspended: MHD queues it when it calls on_request again after the
   * resume, the only place MHD_queue_response() is allowed from. */
  struct vg_httpd *http = req->http;
  req->state = REQ_ANSWERED;
  unlist(req);
  MHD_resume_connection(req->conn);
  kick(http);
}

void vg_httpd_respond(struct vg_httpd_request *req, unsigned status,
                      const char *content_type, char *body, size_t len) {
  struct vg__httpd_body src = {.buf = body, .len = len};
  respond(req, status, content_type, &src);
}

void vg_httpd_respond_stream(struct vg_httpd_request *req, unsigned status,
                             const char *content_type,
                             const struct vg_httpd_stream *body) {
  struct vg__httpd_body src = {.stream = *body};
  respond(req, status, content_type, &src);
}

/* ---- lifecycle --------------------------------------------------------- */

/* Fits max_connections (and its headroom) to the file-descriptor limit,
 * raising the soft limit as far as needed and the hard one allows (under
 * the systemd unit, LimitNOFILE already gives enough, and setrlimit is
 * filtered out).  Only as far as needed: programs the exec collector runs
 * inherit the limit.  Returns the limit to use; *lowered_from is set when
 * it had to be lowered. */
static unsigned fit_fd_limit(unsigned max_conn, unsigned *lowered_from) {
  *lowered_from = 0;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return max_conn;
  rlim_t need = (rlim_t)max_conn + HEADROOM(max_conn) + FD_RESERVE;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    struct rlimit want = rl;
    want.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
      rl = want;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
    return max_conn;
  /* What is left after the reserve (a quarter of a small limit), shared
   * between the connections and their headroom. */
  rlim_t reserve = rl.rlim_cur / 4 < FD_RESERVE ? rl.rlim_cur / 4 : FD_RESERVE;
  rlim_t avail = rl.rlim_cur - reserve;
  if ((rlim_t)max_conn + HEADROOM(max_conn) <= avail)
    return max_conn;
  unsigned fit = (unsigned)(avail * 16 / 17);
  while (fit > 1 && fit + HEADROOM(fit) > avail)
    fit--;
  *lowered_from = max_conn;
  return fit ? fit : 1;
}

int vg_httpd_new(uv_loop_t *loop, const char *listen,
                 const struct vg_httpd_options *opts, struct vg_httpd **out,
                 char *error, size_t error_size) {
  int fd = -1;
  int rc = vg__httpd_listen(listen, &fd, error, error_size);
  if (rc != 0)
    return rc;
  unsigned max_conn = opts && opts->max_connections ? opts->max_connections
                                                    : DEFAULT_MAX_CONNECTIONS;
  unsigned per_address = opts && opts->max_connections_per_address
                             ? opts->max_connections_per_address
                             : DEFAULT_MAX_PER_ADDRESS;
  unsigned header_ms = opts && opts->header_timeout_ms
                           ? opts->header_timeout_ms
                           : DEFAULT_HEADER_TIMEOUT_MS;
  unsigned timeout = opts && opts->no_idle_timeout ? 0 /* MHD: never */
                     : opts && opts->timeout_s     ? opts->timeout_s
                                                   : DEFAULT_TIMEOUT_S;
  unsigned asked;
  max_conn = fit_fd_limit(max_conn, &asked);
  if (asked)
    vg_log(VG_LOG_NOTICE,
           "http: max_connections lowered from %u to %u to fit the limit "
           "of open files (raise LimitNOFILE, or ulimit -n)",
           asked, max_conn);
  /* Owned by the caller through vg_httpd_close, freed in its last close
   * callback. */
  struct vg_httpd *http = vg_calloc(1, sizeof *http);
  http->loop = loop;
  http->port = vg__httpd_listen_port(fd);
  http->mhd_limit = max_conn + HEADROOM(max_conn);
  vg__httpd_conns_init(&http->conns, max_conn, per_address, header_ms,
                       (uint64_t)timeout * 1000);
  /* Once started, MHD owns fd: MHD_stop_daemon() closes it. */
  bool tls = opts && opts->tls_cert_pem && opts->tls_key_pem;
  /* TLS options only when asked for, so they go in an array. */
  struct MHD_OptionItem tls_opts[] = {
      {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
       tls ? (void *)opts->tls_cert_pem : NULL},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? (void *)opts->tls_key_pem : NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  http->mhd = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
          (tls ? MHD_USE_TLS : 0),
      0, NULL, NULL, on_request, http,
      /* First, so that MHD's own start-up messages go to our log too. */
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, http, MHD_OPTION_LISTEN_SOCKET,
      (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, http->mhd_limit,
      MHD_OPTION_CONNECTION_TIMEOUT, timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, http, MHD_OPTION_ARRAY,
      tls_opts, MHD_OPTION_END);
  if (!http->mhd) {
    /* MHD 0.9.75 leaves a given socket open when it fails to start. */
    close(fd);
    vg__httpd_conns_free(&http->conns);
    free(http);
    snprintf(error, error_size, "cannot listen on %s: cannot start server%s",
             listen,
             tls ? " (check that the TLS certificate and key are PEM and "
                   "belong together)"
                 : "");
    return -EIO;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(http->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  rc = info ? uv_poll_init(loop, &http->poll, info->epoll_fd) : UV_EINVAL;
  if (rc != 0) {
    MHD_stop_daemon(http->mhd);
    vg__httpd_conns_free(&http->conns);
    free(http);
    snprintf(error, error_size, "cannot listen on %s: %s", listen,
             uv_strerror(rc));
    return rc;
  }
  uv_timer_init(loop, &http->timer);
  uv_timer_init(loop, &http->sweep);
  http->poll.data = http;
  http->timer.data = http;
  http->sweep.data = http;
  http->open_handles = 3;
  uv_poll_start(&http->poll, UV_READABLE, on_poll);
  arm_timer(http);
  *out = http;
  return 0;
}

uint16_t vg_httpd_port(const struct vg_httpd *http) {
  return http->port;
}

static void on_handle_closed(uv_handle_t *h) {
  struct vg_httpd *http = h->data;
  if (--http->open_handles > 0)
    return;
  for (size_t i = 0; i < http->nroutes; i++) {
    free(http->routes[i].method);
    free(http->routes[i].path);
  }
  free(http->routes);
  for (size_t i = 0; i < http->nspares; i++)
    vg_buf_free(&http->spares[i]);
  vg__httpd_conns_free(&http->conns);
  void (*closed)(void *arg) = http->closed;
  void *arg = http->closed_arg;
  free(http);
  if (closed)
    closed(arg);
}

/* MHD forbids stopping with suspended connections, so they are resumed
 * first; their requests are detached and wait for their handlers. */
static void really_close(struct vg_httpd *http) {
  while (http->suspended) {
    struct vg_httpd_request *req = http->suspended;
    MHD_resume_connection(req->conn);
    detach(req);
  }
  /* The poll goes first: libuv must stop watching the epoll fd before MHD
   * closes it. */
  uv_close((uv_handle_t *)&http->poll, on_handle_closed);
  uv_close((uv_handle_t *)&http->timer, on_handle_closed);
  uv_close((uv_handle_t *)&http->sweep, on_handle_closed);
  /* Reports every connection closed, which empties the accounting. */
  MHD_stop_daemon(http->mhd);
  http->mhd = NULL;
}

void vg_httpd_close(struct vg_httpd *http, void (*closed)(void *arg),
                    void *arg) {
  http->closed = closed;
  http->closed_arg = arg;
  if (http->in_run)
    http->close_pending = true; /* run_mhd() closes once MHD returns */
  else
    really_close(http);
}
