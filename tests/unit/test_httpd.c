/* tests/unit/test_httpd.c - the HTTP server on a real loop.
 *
 * The server runs on the test's loop in the main thread; a uv_thread plays
 * the client with blocking sockets and raw HTTP/1.1, then wakes the loop
 * with a uv_async so that it closes the server.  Every test ends with the
 * loop closable, i.e. the server left no handle behind.
 */
#include "daemon/net/httpd.h"
#include "daemon/net/httpd_int.h" /* the connection accounting, tested bare */
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>
#include <zlib.h>

/* ---- the blocking client ---------------------------------------------- */

struct conn {
  int fd;
  char buf[65536];
  size_t len, pos;
};

struct reply {
  int status;
  char head[8192]; /* status line and headers, NUL-terminated */
  char *body;      /* malloc'd, NUL-terminated, de-chunked */
  size_t len;
};

static void conn_open(struct conn *c, uint16_t port) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT(c->fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ASSERT(connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  c->len = c->pos = 0;
}

static void conn_send(struct conn *c, const char *data, size_t n) {
  while (n > 0) {
    ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
    ASSERT(w > 0);
    data += w;
    n -= (size_t)w;
  }
}

static void conn_sends(struct conn *c, const char *s) {
  conn_send(c, s, strlen(s));
}

/* Next byte, or -1 at EOF. */
static int conn_getc(struct conn *c) {
  if (c->pos == c->len) {
    ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
    if (r <= 0)
      return -1;
    c->len = (size_t)r;
    c->pos = 0;
  }
  return (unsigned char)c->buf[c->pos++];
}

static size_t conn_line(struct conn *c, char *line, size_t size) {
  size_t n = 0;
  int ch;
  while ((ch = conn_getc(c)) >= 0) {
    ASSERT(n + 1 < size);
    line[n++] = (char)ch;
    if (ch == '\n')
      break;
  }
  line[n] = '\0';
  return n;
}

static const char *reply_header(const struct reply *r, const char *name) {
  static char value[1024];
  size_t nlen = strlen(name);
  for (const char *p = strchr(r->head, '\n'); p && p[1]; p = strchr(p, '\n')) {
    p++;
    if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
      const char *v = p + nlen + 1;
      while (*v == ' ')
        v++;
      size_t vlen = strcspn(v, "\r\n");
      ASSERT(vlen < sizeof value);
      memcpy(value, v, vlen);
      value[vlen] = '\0';
      return value;
    }
  }
  return NULL;
}

static void body_add(struct reply *r, struct conn *c, size_t n) {
  r->body = vg_realloc(r->body, r->len + n + 1);
  for (size_t i = 0; i < n; i++) {
    int ch = conn_getc(c);
    ASSERT(ch >= 0);
    r->body[r->len++] = (char)ch;
  }
  r->body[r->len] = '\0';
}

/* Reads one response; false at EOF before its first byte. */
static bool conn_reply(struct conn *c, struct reply *r, bool head_only) {
  memset(r, 0, sizeof *r);
  r->body = vg_strdup("");
  char line[4096];
  size_t used = 0;
  if (conn_line(c, line, sizeof line) == 0)
    return false;
  do {
    size_t n = strlen(line);
    ASSERT(used + n < sizeof r->head);
    memcpy(r->head + used, line, n + 1);
    used += n;
  } while (strcmp(line, "\r\n") != 0 && conn_line(c, line, sizeof line) > 0);
  ASSERT(sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1);
  if (head_only || r->status == 204 || r->status == 304)
    return true;
  const char *te = reply_header(r, "Transfer-Encoding");
  if (te && strcmp(te, "chunked") == 0) {
    for (;;) {
      ASSERT(conn_line(c, line, sizeof line) > 0);
      size_t n = strtoul(line, NULL, 16);
      if (n == 0)
        break;
      body_add(r, c, n);
      conn_line(c, line, sizeof line);
    }
    while (conn_line(c, line, sizeof line) > 0 && strcmp(line, "\r\n") != 0)
      ;
    return true;
  }
  const char *cl = reply_header(r, "Content-Length");
  if (cl) {
    body_add(r, c, strtoul(cl, NULL, 10));
    return true;
  }
  int ch;
  while ((ch = conn_getc(c)) >= 0) {
    r->body = vg_realloc(r->body, r->len + 2);
    r->body[r->len++] = (char)ch;
    r->body[r->len] = '\0';
  }
  return true;
}

/* One request on a fresh connection. */
static void fetch(uint16_t port, const char *request, struct reply *r) {
  struct conn c;
  conn_open(&c, port);
  conn_sends(&c, request);
  ASSERT(conn_reply(&c, r, strncmp(request, "HEAD ", 5) == 0));
  close(c.fd);
}

/* ---- the server side -------------------------------------------------- */

struct fixture {
  uv_loop_t loop;
  struct vg_httpd *http;
  uv_async_t done;
  uv_thread_t thread;
  uint16_t port;
  void (*client)(struct fixture *f);
  bool closed;
  int calls;                       /* handler calls */
  struct vg_httpd_request *parked; /* for async answers */
  uv_timer_t answer;
  int answer_delay_ms;
  bool answer_after_close;
  uv_async_t release;          /* the client has the parked request answered */
  struct vg_httpd_stats stats; /* the server's, just before it closed */
};

static void on_closed(void *arg) {
  struct fixture *f = arg;
  f->closed = true;
}

static void on_done(uv_async_t *a) {
  struct fixture *f = a->data;
  vg_httpd_stats(f->http, &f->stats);
  uv_close((uv_handle_t *)a, NULL);
  vg_httpd_close(f->http, on_closed, f);
}

static void client_main(void *arg) {
  struct fixture *f = arg;
  f->client(f);
  uv_async_send(&f->done);
}

static void fixture_start_with(struct fixture *f,
                               void (*client)(struct fixture *),
                               const struct vg_httpd_options *opts) {
  memset(f, 0, sizeof *f);
  ASSERT(uv_loop_init(&f->loop) == 0);
  char err[256] = "";
  ASSERT(vg_httpd_new(&f->loop, "127.0.0.1:0", opts, &f->http, err,
                      sizeof err) == 0);
  f->port = vg_httpd_port(f->http);
  ASSERT(f->port != 0);
  f->client = client;
  ASSERT(uv_async_init(&f->loop, &f->done, on_done) == 0);
  f->done.data = f;
}

static void fixture_start(struct fixture *f, void (*client)(struct fixture *)) {
  fixture_start_with(f, client, NULL);
}

static void fixture_run(struct fixture *f) {
  ASSERT(uv_thread_create(&f->thread, client_main, f) == 0);
  ASSERT(uv_run(&f->loop, UV_RUN_DEFAULT) == 0);
  ASSERT(uv_thread_join(&f->thread) == 0);
  ASSERT(f->closed);
  ASSERT(uv_loop_close(&f->loop) == 0);
}

static void h_hello(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  f->calls++;
  vg_httpd_add_header(req, "X-Test", "yes");
  vg_httpd_respond(req, 200, "text/plain; charset=utf-8", vg_strdup("hello\n"),
                   6);
}

/* Echoes what the handler saw, to check the request accessors. */
static void h_echo(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  f->calls++;
  size_t len;
  const char *body = vg_httpd_body(req, &len);
  const char *name = vg_httpd_query(req, "name");
  const char *hdr = vg_httpd_header(req, "x-hdr");
  char *out =
      vg_asprintf("%s %s name=%s hdr=%s len=%zu body=%.*s",
                  vg_httpd_method(req), vg_httpd_path(req), name ? name : "-",
                  hdr ? hdr : "-", len, (int)len, body);
  vg_httpd_respond(req, 201, "text/plain", out, strlen(out));
}

static char big_body[10240];

static void fill_big(void) {
  for (size_t i = 0; i < sizeof big_body; i++)
    big_body[i] = (char)('a' + (i * 7 + i / 13) % 26);
}

static void h_big(void *ctx, struct vg_httpd_request *req) {
  char *body = vg_malloc(sizeof big_body);
  memcpy(body, big_body, sizeof big_body);
  vg_httpd_respond(req, 200, "text/plain", body, sizeof big_body);
}

static void on_answer(uv_timer_t *t) {
  struct fixture *f = t->data;
  uv_close((uv_handle_t *)t, NULL);
  char *body = vg_strdup("later\n");
  vg_httpd_respond(f->parked, 200, "text/plain", body, strlen(body));
  f->parked = NULL;
}

/* Answers after answer_delay_ms from a timer, with the connection
 * suspended meanwhile. */
static void h_async(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  f->calls++;
  f->parked = req;
  if (f->answer_after_close)
    return;
  uv_timer_init(&f->loop, &f->answer);
  f->answer.data = f;
  uv_timer_start(&f->answer, on_answer, (uint64_t)f->answer_delay_ms, 0);
}

static void h_counted(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  f->calls++;
  vg_httpd_respond(req, 204, NULL, NULL, 0);
}

/* ---- tests -------------------------------------------------------------- */

static void client_get(struct fixture *f) {
  struct reply r;
  fetch(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "hello\n");
  ASSERT_STR_EQ(reply_header(&r, "Content-Type"), "text/plain; charset=utf-8");
  ASSERT_STR_EQ(reply_header(&r, "Content-Length"), "6");
  ASSERT_STR_EQ(reply_header(&r, "X-Test"), "yes");
  ASSERT(reply_header(&r, "Content-Encoding") == NULL);
  free(r.body);

  fetch(f->port, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(reply_header(&r, "Content-Length"), "6");
  free(r.body);

  fetch(f->port,
        "GET /echo?name=a%20b&flag HTTP/1.1\r\nHost: x\r\nX-Hdr: v1\r\n\r\n",
        &r);
  ASSERT_INT_EQ(r.status, 201);
  ASSERT_STR_EQ(r.body, "GET /echo name=a b hdr=v1 len=0 body=");
  free(r.body);
}

VG_TEST(get_ok) {
  struct fixture f;
  fixture_start(&f, client_get);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/echo", 0, h_echo, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) ==
         -EEXIST);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 3);
}

static void client_errors(struct fixture *f) {
  struct reply r;
  fetch(f->port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 404);
  ASSERT_STR_EQ(r.body, "not found\n");
  free(r.body);

  fetch(f->port, "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 405);
  ASSERT_STR_EQ(reply_header(&r, "Allow"), "GET, POST, HEAD");
  free(r.body);

  /* The query string is not part of the path. */
  fetch(f->port, "GET /nope?x=/hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 404);
  free(r.body);
}

VG_TEST(not_found_and_method) {
  struct fixture f;
  fixture_start(&f, client_errors);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "POST", "/hello", 10, h_hello, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 0);
}

static void client_post(struct fixture *f) {
  char body[5000];
  for (size_t i = 0; i < sizeof body; i++)
    body[i] = (char)('0' + i % 10);
  char head[256];
  snprintf(head, sizeof head,
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
           sizeof body);
  struct conn c;
  conn_open(&c, f->port);
  conn_sends(&c, head);
  conn_send(&c, body, sizeof body);
  struct reply r;
  ASSERT(conn_reply(&c, &r, false));
  close(c.fd);
  ASSERT_INT_EQ(r.status, 201);
  char *want = vg_asprintf("POST /echo name=- hdr=- len=5000 body=%.*s",
                           (int)sizeof body, body);
  ASSERT_STR_EQ(r.body, want);
  free(want);
  free(r.body);

  /* Chunked upload, exactly at the cap. */
  fetch(f->port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        &r);
  ASSERT_INT_EQ(r.status, 201);
  ASSERT_STR_EQ(r.body, "POST /echo name=- hdr=- len=5 body=abcde");
  free(r.body);
}

VG_TEST(post_body) {
  struct fixture f;
  fixture_start(&f, client_post);
  ASSERT(vg_httpd_route(f.http, "POST", "/echo", 5000, h_echo, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 2);
}

static void client_too_large(struct fixture *f) {
  struct reply r;
  char req[512];
  char body[101];
  memset(body, 'x', 100);
  body[100] = '\0';
  snprintf(req, sizeof req,
           "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n%s",
           body);
  fetch(f->port, req, &r);
  ASSERT_INT_EQ(r.status, 413);
  ASSERT_STR_EQ(r.body, "request body too large (limit 10 bytes)\n");
  free(r.body);

  /* Chunked: the cap is found while reading. */
  fetch(f->port,
        "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
        &r);
  ASSERT_INT_EQ(r.status, 413);
  ASSERT_STR_EQ(r.body, "request body too large (limit 10 bytes)\n");
  free(r.body);

  fetch(f->port, "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
        &r);
  ASSERT_INT_EQ(r.status, 413);
  ASSERT_STR_EQ(r.body, "request body too large (limit 0 bytes)\n");
  free(r.body);

  /* A body far over the cap (8 MiB, where the cap is 10 bytes) is read
   * and dropped in constant memory, and answered 413 at its end, not by
   * hanging up. */
  struct conn c;
  conn_open(&c, f->port);
  conn_sends(&c, "POST /small HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
  static char chunk[8192 + 16];
  snprintf(chunk, sizeof chunk, "2000\r\n");
  size_t hl = strlen(chunk);
  memset(chunk + hl, 'y', 8192);
  memcpy(chunk + hl + 8192, "\r\n", 2);
  size_t sent = 0;
  while (sent < 8 * 1024 * 1024) {
    ASSERT(send(c.fd, chunk, hl + 8194, MSG_NOSIGNAL) == (ssize_t)(hl + 8194));
    sent += 8192;
  }
  conn_sends(&c, "0\r\n\r\n");
  ASSERT(conn_reply(&c, &r, false));
  ASSERT_INT_EQ(r.status, 413);
  ASSERT_STR_EQ(r.body, "request body too large (limit 10 bytes)\n");
  free(r.body);
  close(c.fd);

  /* Two Content-Length headers that differ: a proxy and we could frame
   * the body differently, so it is refused, before the body is read.  The
   * same value twice is one length (RFC 9112 6.3). */
  fetch(f->port,
        "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        "Content-Length: 5\r\n\r\nGET /",
        &r);
  ASSERT_INT_EQ(r.status, 400);
  ASSERT_STR_EQ(r.body, "conflicting Content-Length headers\n");
  free(r.body);
  fetch(f->port,
        "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        "Content-Length: 3\r\n\r\nabc",
        &r);
  ASSERT_INT_EQ(r.status, 204);
  free(r.body);

  /* An empty body is fine on a route that takes none. */
  fetch(f->port, "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        &r);
  ASSERT_INT_EQ(r.status, 204);
  free(r.body);
}

VG_TEST(post_too_large) {
  struct fixture f;
  fixture_start(&f, client_too_large);
  ASSERT(vg_httpd_route(f.http, "POST", "/small", 10, h_counted, &f, NULL) ==
         0);
  ASSERT(vg_httpd_route(f.http, "POST", "/none", 0, h_counted, &f, NULL) == 0);
  fixture_run(&f);
  /* The one length given twice, and the empty body. */
  ASSERT_INT_EQ(f.calls, 2);
}

static void gunzip(const struct reply *r, char **out, size_t *out_len) {
  z_stream zs = {0};
  ASSERT(inflateInit2(&zs, 15 + 16) == Z_OK);
  size_t cap = 1 << 20;
  *out = vg_malloc(cap);
  zs.next_in = (Bytef *)r->body;
  zs.avail_in = (uInt)r->len;
  zs.next_out = (Bytef *)*out;
  zs.avail_out = (uInt)cap;
  ASSERT_INT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  *out_len = zs.total_out;
  inflateEnd(&zs);
}

static void client_gzip(struct fixture *f) {
  struct reply r;
  fetch(
      f->port,
      "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: deflate, gzip\r\n\r\n",
      &r);
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(reply_header(&r, "Content-Encoding"), "gzip");
  ASSERT_STR_EQ(reply_header(&r, "Vary"), "Accept-Encoding");
  ASSERT_STR_EQ(reply_header(&r, "Content-Type"), "text/plain");
  ASSERT(r.len < sizeof big_body);
  char *plain;
  size_t plain_len;
  gunzip(&r, &plain, &plain_len);
  ASSERT_INT_EQ(plain_len, sizeof big_body);
  ASSERT(memcmp(plain, big_body, sizeof big_body) == 0);
  free(plain);
  free(r.body);

  static const char *const refused[] = {"gzip;q=0", "gzip; q=0.000, br",
                                        "identity", "*;q=0", "*, gzip;q=0"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    char req[256];
    snprintf(req, sizeof req,
             "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n",
             refused[i]);
    fetch(f->port, req, &r);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(reply_header(&r, "Content-Encoding") == NULL);
    ASSERT_INT_EQ(r.len, sizeof big_body);
    ASSERT(memcmp(r.body, big_body, sizeof big_body) == 0);
    free(r.body);
  }

  static const char *const accepted[] = {"GZIP;q=0.5", "*", "br, *;q=0.1"};
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
    char req[256];
    snprintf(req, sizeof req,
             "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n",
             accepted[i]);
    fetch(f->port, req, &r);
    ASSERT_STR_EQ(reply_header(&r, "Content-Encoding"), "gzip");
    free(r.body);
  }

  /* Small bodies are not worth it. */
  fetch(f->port,
        "GET /hello HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", &r);
  ASSERT(reply_header(&r, "Content-Encoding") == NULL);
  ASSERT_STR_EQ(r.body, "hello\n");
  free(r.body);
}

VG_TEST(gzip) {
  fill_big();
  struct fixture f;
  fixture_start(&f, client_gzip);
  ASSERT(vg_httpd_route(f.http, "GET", "/big", 0, h_big, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  fixture_run(&f);
}

static void client_async(struct fixture *f) {
  struct reply r;
  uint64_t t0 = uv_hrtime();
  fetch(f->port, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "later\n");
  ASSERT(ms >= 45);
  free(r.body);
}

VG_TEST(async_answer) {
  struct fixture f;
  fixture_start(&f, client_async);
  f.answer_delay_ms = 50;
  ASSERT(vg_httpd_route(f.http, "GET", "/async", 0, h_async, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 1);
}

static void client_keepalive(struct fixture *f) {
  struct conn c;
  struct reply r;
  conn_open(&c, f->port);
  conn_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(conn_reply(&c, &r, false));
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "hello\n");
  free(r.body);
  /* Same connection, the second one answered asynchronously. */
  conn_sends(&c, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(conn_reply(&c, &r, false));
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "later\n");
  free(r.body);
  /* Pipelined: both requests in one write. */
  conn_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 2; i++) {
    ASSERT(conn_reply(&c, &r, false));
    ASSERT_STR_EQ(r.body, "hello\n");
    free(r.body);
  }
  close(c.fd);
}

VG_TEST(keepalive) {
  struct fixture f;
  fixture_start(&f, client_keepalive);
  f.answer_delay_ms = 10;
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/async", 0, h_async, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 4);
}

static void client_disconnect(struct fixture *f) {
  struct conn c;
  conn_open(&c, f->port);
  conn_sends(&c, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  /* Gone before the answer (at 100 ms); then wait until it was given. */
  uv_sleep(20);
  close(c.fd);
  uv_sleep(200);
}

VG_TEST(disconnect_while_suspended) {
  struct fixture f;
  fixture_start(&f, client_disconnect);
  f.answer_delay_ms = 100;
  ASSERT(vg_httpd_route(f.http, "GET", "/async", 0, h_async, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 1);
  ASSERT(f.parked == NULL);
}

static void client_pending(struct fixture *f) {
  struct conn c;
  conn_open(&c, f->port);
  conn_sends(&c, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  uv_sleep(50);
  /* The server closes with the request unanswered. */
  uv_async_send(&f->done);
  struct reply r;
  ASSERT(!conn_reply(&c, &r, false));
  free(r.body);
  close(c.fd);
}

static void client_main_pending(void *arg) {
  client_pending(arg);
}

VG_TEST(close_with_pending_request) {
  struct fixture f;
  fixture_start(&f, NULL);
  f.answer_after_close = true;
  ASSERT(vg_httpd_route(f.http, "GET", "/async", 0, h_async, &f, NULL) == 0);
  ASSERT(uv_thread_create(&f.thread, client_main_pending, &f) == 0);
  ASSERT(uv_run(&f.loop, UV_RUN_DEFAULT) == 0);
  ASSERT(uv_thread_join(&f.thread) == 0);
  ASSERT(f.closed);
  ASSERT(f.parked != NULL);
  /* The request outlived the server; the late answer only frees it. */
  ASSERT_STR_EQ(vg_httpd_path(f.parked), "/async");
  vg_httpd_respond(f.parked, 200, "text/plain", vg_strdup("late"), 4);
  ASSERT(uv_loop_close(&f.loop) == 0);
}

static int owner_a, owner_b;

static void h_unroute(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  vg_httpd_unroute(f->http, &owner_a);
  /* Adding while serving moves the table; must not disturb anything. */
  for (int i = 0; i < 20; i++) {
    char path[32];
    snprintf(path, sizeof path, "/extra%d", i);
    ASSERT(vg_httpd_route(f->http, "GET", path, 0, h_counted, f, &owner_b) ==
           0);
  }
  vg_httpd_respond(req, 200, "text/plain", vg_strdup("ok\n"), 3);
}

static void client_unroute(struct fixture *f) {
  struct reply r;
  fetch(f->port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 204);
  free(r.body);
  fetch(f->port, "POST /a2 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 204);
  free(r.body);
  fetch(f->port, "GET /unroute HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
  fetch(f->port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 404);
  free(r.body);
  fetch(f->port, "POST /a2 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 404);
  free(r.body);
  fetch(f->port, "GET /extra7 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 204);
  free(r.body);
}

VG_TEST(unroute) {
  struct fixture f;
  fixture_start(&f, client_unroute);
  ASSERT(vg_httpd_route(f.http, "GET", "/a", 0, h_counted, &f, &owner_a) == 0);
  ASSERT(vg_httpd_route(f.http, "POST", "/a2", 0, h_counted, &f, &owner_a) ==
         0);
  ASSERT(vg_httpd_route(f.http, "GET", "/unroute", 0, h_unroute, &f,
                        &owner_b) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.calls, 3);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  ASSERT(d);
  int n = 0;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

VG_TEST(listen_errors) {
  uv_loop_t loop;
  ASSERT(uv_loop_init(&loop) == 0);
  int fds = count_fds();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  ASSERT(listen(fd, 1) == 0);
  socklen_t len = sizeof sa;
  ASSERT(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  char listen_at[64], want[128], err[256];
  snprintf(listen_at, sizeof listen_at, "127.0.0.1:%u", ntohs(sa.sin_port));
  snprintf(want, sizeof want, "cannot listen on %s: Address already in use",
           listen_at);
  struct vg_httpd *http = NULL;
  ASSERT_INT_EQ(vg_httpd_new(&loop, listen_at, NULL, &http, err, sizeof err),
                -EADDRINUSE);
  ASSERT_STR_EQ(err, want);
  ASSERT(http == NULL);
  close(fd);

  static const char *const bad[] = {
      "9464",      "127.0.0.1", "127.0.0.1:",    "127.0.0.1:65536", "::1:9464",
      "[::1]9464", "[::1:9464", "127.0.0.1:94x", "127.0.0.1:-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(vg_httpd_new(&loop, bad[i], NULL, &http, err, sizeof err),
                  -EINVAL);
    char expect[128];
    snprintf(expect, sizeof expect,
             "invalid listen address \"%s\": expected host:port, "
             "[v6]:port or :port",
             bad[i]);
    ASSERT_STR_EQ(err, expect);
  }
  ASSERT_INT_EQ(
      vg_httpd_new(&loop, "localhost:0", NULL, &http, err, sizeof err),
      -EINVAL);
  ASSERT_CONTAINS(err, "cannot listen on localhost:0: ");
  ASSERT_INT_EQ(count_fds(), fds);
  ASSERT(uv_loop_close(&loop) == 0);
}

static void client_idle(struct fixture *f) {
  struct conn c;
  struct reply r;
  conn_open(&c, f->port);
  conn_sends(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(conn_reply(&c, &r, false));
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
  /* Keep the connection open while the server closes. */
  uv_async_send(&f->done);
  ASSERT(!conn_reply(&c, &r, false)); /* the server hung up */
  free(r.body);
  close(c.fd);
}

static void client_main_idle(void *arg) {
  client_idle(arg);
}

static void noop_thread(void *arg) {}

VG_TEST(close_with_keepalive_connection) {
  /* libuv opens a few process-wide fds on first use; count after them. */
  uv_loop_t warm;
  uv_thread_t t;
  ASSERT(uv_loop_init(&warm) == 0);
  ASSERT(uv_thread_create(&t, noop_thread, NULL) == 0);
  ASSERT(uv_thread_join(&t) == 0);
  ASSERT(uv_loop_close(&warm) == 0);
  int fds = count_fds();
  struct fixture f;
  fixture_start(&f, NULL);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  ASSERT(uv_thread_create(&f.thread, client_main_idle, &f) == 0);
  ASSERT(uv_run(&f.loop, UV_RUN_DEFAULT) == 0);
  ASSERT(uv_thread_join(&f.thread) == 0);
  ASSERT(f.closed);
  ASSERT(uv_loop_close(&f.loop) == 0);
  /* Listening socket, epoll fd and connections are all gone. */
  ASSERT_INT_EQ(count_fds(), fds);
}

static void client_limits(struct fixture *f) {
  struct conn a, b;
  struct reply r;
  conn_open(&a, f->port);
  conn_sends(&a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(conn_reply(&a, &r, false));
  free(r.body);
  /* Over max_connections: a, kept alive with no request in progress,
   * makes room for b, which is served (not left in the backlog until a's
   * idle timeout, 30 s away). */
  conn_open(&b, f->port);
  conn_sends(&b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(conn_reply(&b, &r, false));
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
  ASSERT(!conn_reply(&a, &r, false));
  free(r.body);
  close(a.fd);
  close(b.fd);
}

VG_TEST(connection_limits) {
  struct fixture f;
  struct vg_httpd_options opts = {.max_connections = 1, .timeout_s = 30};
  fixture_start_with(&f, client_limits, &opts);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.stats.closed_connection_limit, 1);
  ASSERT_INT_EQ(f.stats.closed_address_limit, 0);
  ASSERT_INT_EQ(f.stats.closed_header_timeout, 0);
}

/* True once the server has closed c (EOF or reset), without waiting. */
static bool conn_closed_by_server(struct conn *c) {
  char ch;
  ssize_t r = recv(c->fd, &ch, 1, MSG_DONTWAIT | MSG_PEEK);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void client_trickle(struct fixture *f) {
  struct conn c;
  conn_open(&c, f->port);
  /* A byte every 20 ms resets the 30 s idle timeout each time; 500 bytes
   * would take 10 s, and the 300 ms header deadline cuts it off long
   * before: the connection must be closed while bytes still come. */
  conn_sends(&c, "GET /hello?");
  bool closed = false;
  for (int i = 0; i < 500 && !closed; i++) {
    uv_sleep(20);
    closed = conn_closed_by_server(&c) ||
             send(c.fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1;
  }
  ASSERT(closed);
  close(c.fd);
  /* A prompt client is served as ever. */
  struct reply r;
  fetch(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
}

VG_TEST(header_deadline_cuts_a_trickle) {
  struct fixture f;
  struct vg_httpd_options opts = {.header_timeout_ms = 300, .timeout_s = 30};
  fixture_start_with(&f, client_trickle, &opts);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  fixture_run(&f);
  ASSERT_INT_EQ(f.stats.closed_header_timeout, 1);
  ASSERT_INT_EQ(f.calls, 1);
}

static void on_release(uv_async_t *a) {
  struct fixture *f = a->data;
  uv_close((uv_handle_t *)a, NULL);
  vg_httpd_respond(f->parked, 200, "text/plain", vg_strdup("later\n"), 6);
  f->parked = NULL;
}

static void client_busy(struct fixture *f) {
  struct conn a;
  struct reply r;
  conn_open(&a, f->port);
  conn_sends(&a, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
  /* Wait until the handler holds it: one request in progress, the limit. */
  while (__atomic_load_n(&f->calls, __ATOMIC_SEQ_CST) < 1)
    uv_sleep(5);
  /* Full: an ordinary request is told to come back... */
  fetch(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 503);
  ASSERT_STR_EQ(reply_header(&r, "Retry-After"), "5");
  ASSERT_STR_EQ(reply_header(&r, "Connection"), "close");
  ASSERT_STR_EQ(r.body, "server busy: too many requests in progress; "
                        "retry later\n");
  free(r.body);
  /* ... a priority one is served from the headroom. */
  fetch(f->port, "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
  uv_async_send(&f->release);
  ASSERT(conn_reply(&a, &r, false));
  ASSERT_INT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "later\n");
  free(r.body);
  close(a.fd);
}

static void h_park(void *ctx, struct vg_httpd_request *req) {
  struct fixture *f = ctx;
  f->parked = req;
  __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
}

static void h_probe(void *ctx, struct vg_httpd_request *req) {
  vg_httpd_respond(req, 200, "text/plain", vg_strdup("ok\n"), 3);
}

VG_TEST(full_server_answers_503_but_probes) {
  struct fixture f;
  struct vg_httpd_options opts = {.max_connections = 1};
  fixture_start_with(&f, client_busy, &opts);
  ASSERT(uv_async_init(&f.loop, &f.release, on_release) == 0);
  f.release.data = &f;
  ASSERT(vg_httpd_route(f.http, "GET", "/park", 0, h_park, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  ASSERT(vg_httpd_route(f.http, "GET", "/probe", 0, h_probe, &f, NULL) == 0);
  ASSERT(vg_httpd_route_priority(f.http, "GET", "/probe") == 0);
  ASSERT(vg_httpd_route_priority(f.http, "GET", "/none") == -ENOENT);
  fixture_run(&f);
  ASSERT_INT_EQ(f.stats.busy, 1);
}

static void client_flood(struct fixture *f) {
  /* 40 connections that never send a byte, from one address with a limit
   * of 8: each new one past 8 closes the oldest; a real request still
   * gets through at once. */
  struct conn c[40];
  for (int i = 0; i < 40; i++)
    conn_open(&c[i], f->port);
  struct reply r;
  fetch(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
  ASSERT_INT_EQ(r.status, 200);
  free(r.body);
  /* The oldest are closed by the server; the last 7 are still open. */
  for (int i = 0; i < 32; i++) {
    struct reply none;
    ASSERT(!conn_reply(&c[i], &none, false));
    free(none.body);
  }
  for (int i = 33; i < 40; i++)
    ASSERT(!conn_closed_by_server(&c[i]));
  for (int i = 0; i < 40; i++)
    close(c[i].fd);
}

static char flood_log[8192];

static void capture_log(void *arg, int level, const char *line) {
  strncat(flood_log, line, sizeof flood_log - strlen(flood_log) - 2);
  strcat(flood_log, "\n");
}

VG_TEST(flood_from_one_address) {
  vg_log_set_output(capture_log, NULL);
  struct fixture f;
  struct vg_httpd_options opts = {.max_connections_per_address = 8};
  fixture_start_with(&f, client_flood, &opts);
  ASSERT(vg_httpd_route(f.http, "GET", "/hello", 0, h_hello, &f, NULL) == 0);
  fixture_run(&f);
  /* 41 connections, 8 allowed: the 33 oldest flood connections made room,
   * one after the other; the answered one was never taken. */
  ASSERT_INT_EQ(f.stats.closed_address_limit, 33);
  ASSERT_INT_EQ(f.calls, 1);
  /* Logged once, with the address. */
  ASSERT_STR_EQ(flood_log,
                "http: connection flood from 127.0.0.1: more than "
                "max_connections_per_address (8) connections; closing its "
                "oldest ones that have no request in progress\n");
}

static void on_listen_closed(void *arg);

VG_TEST(fd_limit_lowers_max_connections) {
  /* A hard limit of 300 open files cannot hold 4096 connections: after a
   * quarter for the rest of the daemon, 209 and their headroom (16) fit. */
  struct rlimit rl = {.rlim_cur = 300, .rlim_max = 300};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    /* valgrind keeps descriptors of its own above a limit it fixes, and
     * refuses to have the hard limit changed: this test runs in the plain
     * and sanitizer builds, not under it. */
    const char *preload = getenv("LD_PRELOAD");
    ASSERT(preload && strstr(preload, "vgpreload"));
    return;
  }
  vg_log_set_output(capture_log, NULL);
  flood_log[0] = '\0';
  uv_loop_t loop;
  ASSERT(uv_loop_init(&loop) == 0);
  struct vg_httpd *http;
  char err[256];
  ASSERT(vg_httpd_new(&loop, "127.0.0.1:0", NULL, &http, err, sizeof err) == 0);
  struct vg_httpd_stats st;
  vg_httpd_stats(http, &st);
  ASSERT_INT_EQ(st.max_connections, 209);
  ASSERT_STR_EQ(flood_log, "http: max_connections lowered from 4096 to 209 "
                           "to fit the limit of open files (raise "
                           "LimitNOFILE, or ulimit -n)\n");
  bool closed = false;
  vg_httpd_close(http, on_listen_closed, &closed);
  ASSERT(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  ASSERT(closed);
  /* A soft limit below the hard one is raised (as far as needed, here as
   * far as it goes), and 100 connections fit in 300 files. */
  ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = 100;
  ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  struct vg_httpd_options opts = {.max_connections = 100};
  ASSERT(vg_httpd_new(&loop, "127.0.0.1:0", &opts, &http, err, sizeof err) ==
         0);
  vg_httpd_stats(http, &st);
  ASSERT_INT_EQ(st.max_connections, 100);
  ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  ASSERT_INT_EQ(rl.rlim_cur, 300);
  closed = false;
  vg_httpd_close(http, on_listen_closed, &closed);
  ASSERT(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  ASSERT(uv_loop_close(&loop) == 0);
}

/* ---- the accounting alone ---------------------------------------------- */

static struct sockaddr_in v4(const char *ip) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  ASSERT(inet_pton(AF_INET, ip, &sa.sin_addr) == 1);
  return sa;
}

static struct vg__httpd_conn *open_from(struct vg__httpd_conns *cs,
                                        const char *ip, uint64_t now) {
  struct sockaddr_in sa = v4(ip);
  return vg__httpd_conns_open(cs, (struct sockaddr *)&sa, now);
}

static uint64_t fake_now;
static uint64_t fake_clock(void) {
  return fake_now;
}

VG_TEST(eviction_choice) {
  vg_log_set_output(capture_log, NULL);
  struct vg__httpd_conns cs;
  vg__httpd_conns_init(&cs, 5, 2, 1000, 0);
  enum vg__httpd_event why;
  struct vg__httpd_conn *a1 = open_from(&cs, "10.0.0.1", 0);
  ASSERT(vg__httpd_conns_evictee(&cs, a1, NULL, &why) == NULL);
  struct vg__httpd_conn *a2 = open_from(&cs, "10.0.0.1", 1);
  ASSERT(vg__httpd_conns_evictee(&cs, a2, NULL, &why) == NULL);
  /* A third from one address: its oldest without a request goes. */
  struct vg__httpd_conn *a3 = open_from(&cs, "10.0.0.1", 2);
  ASSERT(vg__httpd_conns_evictee(&cs, a3, NULL, &why) == a1);
  ASSERT_INT_EQ(why, VG__HTTPD_EVICT_ADDRESS);
  vg__httpd_conns_evict(&cs, a1, why, a3, 2);
  ASSERT_INT_EQ(a1->state, VG__CONN_CLOSING);
  /* One with a request in progress is never chosen... */
  ASSERT(!vg__httpd_conns_begin(&cs, a2));
  struct vg__httpd_conn *a4 = open_from(&cs, "10.0.0.1", 3);
  ASSERT(vg__httpd_conns_evictee(&cs, a4, NULL, &why) == a3);
  vg__httpd_conns_evict(&cs, a3, why, a4, 3);
  /* ... nor the newcomer itself: a2 busy, a4 alone waiting, a5 new. */
  ASSERT(vg__httpd_conns_begin(&cs, a4) == false);
  struct vg__httpd_conn *a5 = open_from(&cs, "10.0.0.1", 4);
  ASSERT(vg__httpd_conns_evictee(&cs, a5, NULL, &why) == NULL);
  /* ... and with 3 requests in progress from it, the third is over. */
  ASSERT(vg__httpd_conns_begin(&cs, a5) == true);
  vg__httpd_conns_end(&cs, a5, 5);
  vg__httpd_conns_end(&cs, a4, 6);
  /* Never-used connections go before kept-alive ones, even younger. */
  struct vg__httpd_conn *b1 = open_from(&cs, "10.0.0.2", 10);
  struct vg__httpd_conn *b2 = open_from(&cs, "10.0.0.3", 11);
  ASSERT_INT_EQ(cs.total, 5); /* a2 a4 a5 b1 b2 */
  struct vg__httpd_conn *b3 = open_from(&cs, "10.0.0.4", 12);
  ASSERT(vg__httpd_conns_evictee(&cs, b3, NULL, &why) == b1);
  ASSERT_INT_EQ(why, VG__HTTPD_EVICT_TOTAL);
  vg__httpd_conns_evict(&cs, b1, why, b3, 12);
  vg__httpd_conns_close(&cs, b1);
  ASSERT(vg__httpd_conns_begin(&cs, b2) == false);
  ASSERT(vg__httpd_conns_begin(&cs, b3) == false);
  /* Only kept-alive ones left waiting: the oldest of them (a5) goes. */
  struct vg__httpd_conn *b4 = open_from(&cs, "10.0.0.5", 13);
  ASSERT(vg__httpd_conns_evictee(&cs, b4, NULL, &why) == a5);
  ASSERT_INT_EQ(cs.events[VG__HTTPD_EVICT_ADDRESS], 2);
  ASSERT_INT_EQ(cs.events[VG__HTTPD_EVICT_TOTAL], 1);
  struct vg__httpd_conn *all[] = {a1, a2, a3, a4, a5, b2, b3, b4};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    vg__httpd_conns_close(&cs, all[i]);
  ASSERT_INT_EQ(cs.total, 0);
  ASSERT_INT_EQ(cs.busy, 0);
  ASSERT_INT_EQ(cs.addrs.count, 0);
  vg__httpd_conns_free(&cs);
}

static const struct vg__httpd_conn *has_bytes;

static bool unread_one(const struct vg__httpd_conn *c) {
  return c == has_bytes;
}

VG_TEST(eviction_passes_over_unread_headers) {
  struct vg__httpd_conns cs;
  vg__httpd_conns_init(&cs, 2, 100, 1000, 0);
  enum vg__httpd_event why;
  /* a's headers are in its socket, not yet read, when c is accepted in
   * the same run: b, which sent nothing, goes instead. */
  struct vg__httpd_conn *a = open_from(&cs, "10.0.0.1", 0);
  struct vg__httpd_conn *b = open_from(&cs, "10.0.0.2", 1);
  struct vg__httpd_conn *c = open_from(&cs, "10.0.0.3", 2);
  has_bytes = a;
  ASSERT(vg__httpd_conns_evictee(&cs, c, unread_one, &why) == b);
  vg__httpd_conns_evict(&cs, b, why, c, 2);
  /* With nothing else to close, d stays (over the limit) rather than
   * take the place of a client that is sending; once a's bytes are read
   * (and are no request yet), a goes. */
  vg__httpd_conns_begin(&cs, c);
  struct vg__httpd_conn *d = open_from(&cs, "10.0.0.4", 3);
  ASSERT(vg__httpd_conns_evictee(&cs, d, unread_one, &why) == NULL);
  has_bytes = NULL;
  struct vg__httpd_conn *e = open_from(&cs, "10.0.0.5", 4);
  ASSERT(vg__httpd_conns_evictee(&cs, e, unread_one, &why) == a);
  struct vg__httpd_conn *all[] = {a, b, c, d, e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    vg__httpd_conns_close(&cs, all[i]);
  ASSERT_INT_EQ(cs.addrs.count, 0);
  vg__httpd_conns_free(&cs);
}

VG_TEST(header_deadlines) {
  struct vg__httpd_conns cs;
  uint64_t at;
  vg__httpd_conns_init(&cs, 100, 100, 1000, 30000);
  ASSERT(!vg__httpd_conns_next_deadline(&cs, &at));
  struct vg__httpd_conn *a = open_from(&cs, "10.0.0.1", 100);
  struct vg__httpd_conn *b = open_from(&cs, "10.0.0.2", 200);
  ASSERT(vg__httpd_conns_next_deadline(&cs, &at));
  ASSERT_INT_EQ(at, 1100);
  ASSERT(vg__httpd_conns_overdue(&cs, 1099) == NULL);
  ASSERT(vg__httpd_conns_overdue(&cs, 1100) == a);
  /* a's headers came in time; its answer went at 500: kept alive, its
   * next headers are due after the idle timeout plus header_timeout. */
  vg__httpd_conns_begin(&cs, a);
  ASSERT(vg__httpd_conns_next_deadline(&cs, &at));
  ASSERT_INT_EQ(at, 1200);
  vg__httpd_conns_end(&cs, a, 500);
  ASSERT(vg__httpd_conns_overdue(&cs, 1200) == b);
  vg__httpd_conns_evict(&cs, b, VG__HTTPD_HEADER_TIMEOUT, NULL, 1200);
  /* Its address outlives the last of its connections to be reported
   * closed, not the last counted one. */
  struct vg__httpd_conn *b2 = open_from(&cs, "10.0.0.2", 1201);
  vg__httpd_conns_begin(&cs, b2);
  vg__httpd_conns_close(&cs, b2);
  ASSERT(vg__httpd_conns_next_deadline(&cs, &at));
  ASSERT_INT_EQ(at, 31500);
  ASSERT(vg__httpd_conns_overdue(&cs, 31499) == NULL);
  ASSERT(vg__httpd_conns_overdue(&cs, 31500) == a);
  vg__httpd_conns_close(&cs, a);
  vg__httpd_conns_close(&cs, b);
  vg__httpd_conns_free(&cs);
  /* No idle timeout: a kept-alive connection has no deadline. */
  vg__httpd_conns_init(&cs, 100, 100, 1000, 0);
  a = open_from(&cs, "10.0.0.1", 0);
  vg__httpd_conns_begin(&cs, a);
  vg__httpd_conns_end(&cs, a, 10);
  ASSERT(!vg__httpd_conns_next_deadline(&cs, &at));
  vg__httpd_conns_close(&cs, a);
  vg__httpd_conns_free(&cs);
}

static int count_lines(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

VG_TEST(flood_logged_once_a_minute_per_address) {
  vg_log_set_output(capture_log, NULL);
  vg_log_set_clock(fake_clock);
  fake_now = 1000;
  flood_log[0] = '\0';
  struct vg__httpd_conns cs;
  vg__httpd_conns_init(&cs, 1000, 1, 1000, 0);
  enum vg__httpd_event why;
  struct vg__httpd_conn *last = open_from(&cs, "192.0.2.7", 0);
  for (int i = 1; i <= 500; i++) {
    struct vg__httpd_conn *c = open_from(&cs, "192.0.2.7", (uint64_t)i);
    struct vg__httpd_conn *v = vg__httpd_conns_evictee(&cs, c, NULL, &why);
    ASSERT(v == last);
    vg__httpd_conns_evict(&cs, v, why, c, (uint64_t)i);
    vg__httpd_conns_close(&cs, v);
    last = c;
  }
  ASSERT_INT_EQ(cs.events[VG__HTTPD_EVICT_ADDRESS], 500);
  ASSERT_INT_EQ(count_lines(flood_log, "\n"), 1);
  ASSERT_INT_EQ(count_lines(flood_log, "flood from 192.0.2.7"), 1);
  /* A minute on: once more, with the count. */
  fake_now += 60000;
  struct vg__httpd_conn *c = open_from(&cs, "192.0.2.7", 60001);
  vg__httpd_conns_evict(&cs, vg__httpd_conns_evictee(&cs, c, NULL, &why), why,
                        c, 60001);
  ASSERT_INT_EQ(count_lines(flood_log, "\n"), 2);
  ASSERT_INT_EQ(count_lines(flood_log, "(repeated 499 times since last "
                                       "logged)"),
                1);
  vg__httpd_conns_close(&cs, last);
  vg__httpd_conns_close(&cs, c);
  /* Slow clients from many addresses (two minutes on, so that the
   * flood's slot is free again): a line for each of the first 16, then one
   * line for all the others. */
  flood_log[0] = '\0';
  for (int i = 0; i < 40; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "198.51.100.%d", i);
    c = open_from(&cs, ip, 130000);
    vg__httpd_conns_evict(&cs, c, VG__HTTPD_HEADER_TIMEOUT, NULL, 131000);
    vg__httpd_conns_close(&cs, c);
  }
  ASSERT_INT_EQ(count_lines(flood_log, "sent no complete request headers"),
                VG__HTTPD_LOG_SLOTS);
  ASSERT_INT_EQ(count_lines(flood_log, "more addresses than are logged"), 1);
  ASSERT_INT_EQ(count_lines(flood_log, "\n"), VG__HTTPD_LOG_SLOTS + 1);
  ASSERT_INT_EQ(cs.events[VG__HTTPD_HEADER_TIMEOUT], 40);
  ASSERT_INT_EQ(cs.addrs.count, 0);
  vg__httpd_conns_free(&cs);
  /* IPv6 and IPv4-mapped addresses are one address each. */
  vg__httpd_conns_init(&cs, 1000, 1, 1000, 0);
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  ASSERT(inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr) == 1);
  struct vg__httpd_conn *m = vg__httpd_conns_open(&cs, (void *)&s6, 0);
  struct vg__httpd_conn *n = open_from(&cs, "192.0.2.9", 1);
  ASSERT(vg__httpd_conns_evictee(&cs, n, NULL, &why) == m);
  char text[64];
  vg__httpd_conn_address(m, text, sizeof text);
  ASSERT_STR_EQ(text, "192.0.2.9");
  ASSERT(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr) == 1);
  struct vg__httpd_conn *o = vg__httpd_conns_open(&cs, (void *)&s6, 2);
  vg__httpd_conn_address(o, text, sizeof text);
  ASSERT_STR_EQ(text, "2001:db8::1");
  vg__httpd_conns_close(&cs, m);
  vg__httpd_conns_close(&cs, n);
  vg__httpd_conns_close(&cs, o);
  vg__httpd_conns_free(&cs);
  vg_log_set_clock(NULL);
}

static void on_listen_closed(void *arg) {
  *(bool *)arg = true;
}

VG_TEST(listen_forms) {
  uv_loop_t loop;
  ASSERT(uv_loop_init(&loop) == 0);
  static const char *const forms[] = {":0", "[::1]:0", "0.0.0.0:0"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    struct vg_httpd *http;
    char err[256];
    int rc = vg_httpd_new(&loop, forms[i], NULL, &http, err, sizeof err);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)
      continue; /* no IPv6 in this sandbox */
    ASSERT_INT_EQ(rc, 0);
    ASSERT(vg_httpd_port(http) != 0);
    if (i == 0) {
      /* Every address: IPv4 loopback reaches the dual-stack socket. */
      struct conn c;
      conn_open(&c, vg_httpd_port(http));
      close(c.fd);
    }
    bool closed = false;
    vg_httpd_close(http, on_listen_closed, &closed);
    ASSERT(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    ASSERT(closed);
  }
  ASSERT(uv_loop_close(&loop) == 0);
}

VG_TEST_MAIN(VG_T(get_ok), VG_T(not_found_and_method), VG_T(post_body),
             VG_T(post_too_large), VG_T(gzip), VG_T(async_answer),
             VG_T(keepalive), VG_T(disconnect_while_suspended),
             VG_T(close_with_pending_request), VG_T(unroute),
             VG_T(listen_errors), VG_T(close_with_keepalive_connection),
             VG_T(listen_forms), VG_T(connection_limits),
             VG_T(header_deadline_cuts_a_trickle),
             VG_T(full_server_answers_503_but_probes),
             VG_T(flood_from_one_address), VG_T(eviction_choice),
             VG_T(eviction_passes_over_unread_headers),
             VG_T(fd_limit_lowers_max_connections), VG_T(header_deadlines),
             VG_T(flood_logged_once_a_minute_per_address))
