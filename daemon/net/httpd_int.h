/* daemon/net/httpd_int.h - what the HTTP server's own files share.
 *
 * The server is three files, one job each:
 *   httpd.c           MHD on the loop, routes, requests and their answers
 *   httpd_response.c  building a response: gzip, streamed bodies
 *   httpd_listen.c    the listening socket
 * Only they include this header; everyone else uses httpd.h.  Names here
 * are vg__httpd_*.
 */
#ifndef VG_HTTPD_INT_H
#define VG_HTTPD_INT_H

#include "daemon/net/httpd.h"

#include <stddef.h>
#include <stdint.h>

struct MHD_Response;

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

#endif
