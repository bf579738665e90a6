/* tests/unit/net_fixture.h - a loop with the daemon's HTTP server on a
 * free loopback port and the daemon's curl multi handle: the ground the
 * tests of everything that speaks HTTP out stand on. */
#ifndef VG_NET_FIXTURE_H
#define VG_NET_FIXTURE_H

#include "daemon/config/cfg_doc.h"
#include "daemon/net/curl.h"
#include "daemon/net/httpd.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

struct vg_test_net {
  uv_loop_t loop;
  struct vg_httpd *http; /* routes are the test's to add */
  struct vg_curl *curl;
  struct vg_cfg_doc *doc; /* positions of the configs parsed */
  unsigned closed;
};

static inline char *vg_test_dup(const char *s) {
  return s ? vg_strdup(s) : NULL;
}

static inline void vg_test_net_up(struct vg_test_net *n) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ASSERT(uv_loop_init(&n->loop) == 0);
  char error[256];
  ASSERT_INT_EQ(vg_httpd_new(&n->loop, "127.0.0.1:0", NULL, &n->http, error,
                             sizeof error),
                0);
  ASSERT_INT_EQ(vg_curl_new(&n->loop, &n->curl), 0);
  n->doc = vg_cfg_doc_new();
}

static inline void vg_test_net_closed(void *arg) {
  ((struct vg_test_net *)arg)->closed++;
}

/* Closes both, runs the loop dry and checks that nothing was left open. */
static inline void vg_test_net_down(struct vg_test_net *n) {
  vg_curl_close(n->curl, vg_test_net_closed, n);
  vg_httpd_close(n->http, vg_test_net_closed, n);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(n->closed, 2);
  ASSERT(uv_loop_close(&n->loop) == 0);
  vg_cfg_doc_free(n->doc);
  curl_global_cleanup();
}

/* A port on which nobody listens: bound once, then closed. */
static inline unsigned vg_test_closed_port(uv_loop_t *loop) {
  uv_tcp_t probe;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop, &probe);
  uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0);
  int len = sizeof addr;
  uv_tcp_getsockname(&probe, (struct sockaddr *)&addr, &len);
  uv_close((uv_handle_t *)&probe, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ntohs(addr.sin_port);
}

/* Parses JSON config text in which "PORT" stands for the server's port
 * into *cfg (replacing what was there), with positions for errors. */
static inline void vg_test_config(struct vg_test_net *n, const char *file,
                                  const char *json, cJSON **cfg,
                                  struct vg_cfg_err *err) {
  char text[1024];
  const char *port = strstr(json, "PORT");
  if (port)
    snprintf(text, sizeof text, "%.*s%u%s", (int)(port - json), json,
             n->http ? vg_httpd_port(n->http) : 1, port + 4);
  else
    snprintf(text, sizeof text, "%s", json);
  cJSON_Delete(*cfg);
  *cfg = NULL;
  err->doc = n->doc;
  ASSERT_INT_EQ(vg_cfg_doc_parse(n->doc, file, text, strlen(text), cfg, err),
                0);
}

#endif
