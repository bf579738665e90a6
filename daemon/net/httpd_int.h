/* daemon/net/httpd_int.h - what the HTTP server's own files share.
 *
 * The server is four files, one job each:
 *   httpd.c           MHD on the loop, routes, requests and their answers
 *   httpd_response.c  building a response: gzip, streamed bodies
 *   httpd_listen.c    the listening socket
 *   httpd_conns.c     connection accounting: per-address counts, whom to
 *                     close first, the header deadline, flood log lines
 * Only they include this header; everyone else uses httpd.h.  Names here
 * are vg__httpd_*.
 */
#ifndef VG_HTTPD_INT_H
#define VG_HTTPD_INT_H

#include "daemon/net/httpd.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Response;
struct sockaddr;

/* --- httpd_response.c ------------------------------------------------- */

/* The body of a response: a buffer (owned) or a stream. */
struct vg__httpd_body {
  char *buf;
  size_t len;
  struct vg_httpd_stream stream; /* read is NULL for a buffer */
};

/* Frees the buffer, or ends the stream (its done() runs). */
void vg__httpd_body_release(struct vg__httpd_body *body);
/* A response for body (taken), gzipped when `accept_encoding` (the
 * request's header, or NULL) allows and the body is large enough; it then
 * says so in Content-Encoding and Vary. */
struct MHD_Response *vg__httpd_response_new(const struct vg__httpd_body *body,
                                            const char *accept_encoding);
/* MHD's constructors return NULL only when malloc fails: this aborts
 * then, as the daemon does for every allocation (mem.h). */
struct MHD_Response *vg__httpd_response_check(struct MHD_Response *r);
/* Adds a header; a failure (out of memory in MHD) is logged. */
void vg__httpd_response_header(struct MHD_Response *resp, const char *name,
                               const char *value);

/* --- httpd_listen.c --------------------------------------------------- */

/* Binds and listens on `listen` ("host:port", "[v6]:port", ":port"):
 * 0 with the socket (non-blocking, close-on-exec) in *fd, or -errno with
 * a message for people in error. */
int vg__httpd_listen(const char *listen, int *fd, char *error,
                     size_t error_size);
/* The port fd is bound to; 0 when it cannot be told. */
uint16_t vg__httpd_listen_port(int fd);

/* --- httpd_conns.c ---------------------------------------------------- */

enum vg__httpd_conn_state {
  VG__CONN_FRESH,   /* accepted; its first request's headers not all in */
  VG__CONN_IDLE,    /* kept alive between requests */
  VG__CONN_BUSY,    /* a request in progress: never chosen to close */
  VG__CONN_CLOSING, /* chosen and shut down; MHD has yet to report it */
};

/* What the server did to protect the others; also the index of its
 * counter in vg__httpd_conns.events. */
enum vg__httpd_event {
  VG__HTTPD_EVICT_ADDRESS,  /* closed: its address had too many */
  VG__HTTPD_EVICT_TOTAL,    /* closed: the server had max_connections */
  VG__HTTPD_HEADER_TIMEOUT, /* closed: headers not in by the deadline */
  VG__HTTPD_BUSY,           /* a request answered 503 */
  VG__HTTPD_EVENTS,
};

struct vg__httpd_addr;

struct vg__httpd_conn {
  struct vg__httpd_addr *addr; /* owned by the accounting */
  enum vg__httpd_conn_state state;
  uint64_t since_ms; /* FRESH: accepted; IDLE: last answer sent */
  struct vg__httpd_conn *prev[2], *next[2];
  int fd; /* set by httpd.c: the socket to shut down */
};

struct vg__httpd_list {
  struct vg__httpd_conn *head, *tail;
};

#define VG__HTTPD_LOG_SLOTS 16

struct vg__httpd_log_slot {
  uint8_t key[16];
  enum vg__httpd_event kind;
  uint64_t last_ms; /* 0: free */
  struct vg_complaint complaint;
};

struct vg__httpd_conns {
  unsigned max_total, max_per_address;
  uint64_t header_ms; /* the header deadline */
  uint64_t idle_ms;   /* the idle timeout; 0: none */
  uint64_t seed;
  struct vg_hashtab addrs;           /* of struct vg__httpd_addr */
  struct vg__httpd_list waiting[2];  /* FRESH, IDLE: oldest first */
  unsigned total;                    /* open, CLOSING ones excepted */
  unsigned busy;                     /* with a request in progress */
  uint64_t events[VG__HTTPD_EVENTS]; /* counters */
  struct vg__httpd_log_slot log[VG__HTTPD_LOG_SLOTS];
  struct vg_complaint log_overflow;
};

void vg__httpd_conns_init(struct vg__httpd_conns *cs, unsigned max_total,
                          unsigned max_per_address, uint64_t header_ms,
                          uint64_t idle_ms);
void vg__httpd_conns_free(struct vg__httpd_conns *cs);
/* A new connection from `sa` (FRESH). */
struct vg__httpd_conn *vg__httpd_conns_open(struct vg__httpd_conns *cs,
                                            const struct sockaddr *sa,
                                            uint64_t now);
/* The connection to close so that the new connection `c` fits, or NULL:
 * the oldest waiting one of c's address when the address has more than
 * max_per_address, else the oldest waiting one of all when there are more
 * than max_total; never c itself, nor one with a request in progress, nor
 * one for which `unread` (may be NULL) says bytes are waiting. */
struct vg__httpd_conn *vg__httpd_conns_evictee(
    const struct vg__httpd_conns *cs, const struct vg__httpd_conn *c,
    bool (*unread)(const struct vg__httpd_conn *c), enum vg__httpd_event *why);
/* Marks `victim` CLOSING (the caller shuts its socket), counts `why` and
 * logs it once a minute per address: blame's, or the victim's if NULL. */
void vg__httpd_conns_evict(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *victim,
                           enum vg__httpd_event why,
                           const struct vg__httpd_conn *blame, uint64_t now);
/* A request's headers are in: c is BUSY.  True when this is more requests
 * in progress than max_total, or from c's address than max_per_address. */
bool vg__httpd_conns_begin(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *c);
/* Counts and logs (once a minute) a request refused as busy. */
void vg__httpd_conns_refused(struct vg__httpd_conns *cs,
                             const struct vg__httpd_conn *c, uint64_t now);
/* The request's answer is sent: c waits (IDLE) for the next one. */
void vg__httpd_conns_end(struct vg__httpd_conns *cs, struct vg__httpd_conn *c,
                         uint64_t now);
/* The connection is gone: frees c. */
void vg__httpd_conns_close(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *c);
/* The earliest header deadline of the waiting connections; false if none. */
bool vg__httpd_conns_next_deadline(const struct vg__httpd_conns *cs,
                                   uint64_t *at);
/* A waiting connection past its header deadline at `now`, or NULL. */
struct vg__httpd_conn *vg__httpd_conns_overdue(const struct vg__httpd_conns *cs,
                                               uint64_t now);
/* The connection's client address as text. */
void vg__httpd_conn_address(const struct vg__httpd_conn *c, char *out,
                            size_t size);

#endif
