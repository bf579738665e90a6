/* tests/unit/collector_fixture.c - the collector tests' common ground
 * (collector_fixture.h).  Test code: it fails the test on any error
 * rather than return one. */
#include "tests/unit/collector_fixture.h"

#include "daemon/config/cfg_doc.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>

void vg_test_collector_dir(struct vg_test_collector *c, const char *name) {
  snprintf(c->dir, sizeof c->dir, "/tmp/vg-%s-XXXXXX", name);
  ASSERT(mkdtemp(c->dir));
}

void vg_test_collector_sink(struct vg_test_collector *c, uv_loop_t *loop,
                            struct vg_sink_options so,
                            unsigned journal_commit_ms) {
  if (!loop) {
    ASSERT(uv_loop_init(&c->own_loop) == 0);
    loop = &c->own_loop;
  }
  c->loop = loop;
  if (journal_commit_ms) {
    if (!c->dir[0])
      vg_test_collector_dir(c, "journal");
    struct vg_journal_options jo = {.dir = c->dir,
                                    .commit_window_ms = journal_commit_ms};
    char error[256];
    if (vg_journal_open(loop, &jo, &c->journal, error, sizeof error) != 0)
      VG_FAIL("journal: %s", error);
    so.journal = c->journal;
    so.acknowledge = true;
  }
  snprintf(c->name, sizeof c->name, "%s", so.collector ? so.collector : "");
  c->store = vg_store_new();
  c->sink = vg_sink_new(c->store, &so);
}

static void journal_closed(void *arg) {
  *(bool *)arg = true;
}

void vg_test_collector_close_journal(struct vg_test_collector *c) {
  if (!c->journal)
    return;
  bool closed = false;
  vg_journal_close(c->journal, journal_closed, &closed);
  while (!closed)
    uv_run(c->loop, UV_RUN_ONCE);
  c->journal = NULL;
}

void vg_test_collector_configure(struct vg_test_collector *c,
                                 const struct vg_collector_type *type,
                                 const cJSON *cfg, struct vg_cfg_err *err) {
  c->type = type;
  if (type->configure(&c->ctx, cfg, err) != 0)
    VG_FAIL("configure: %s", err->msg);
}

void vg_test_collector_configure_text(struct vg_test_collector *c,
                                      const struct vg_collector_type *type,
                                      const char *file, const char *text) {
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  cJSON *cfg;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, file, text, strlen(text), &cfg, &err), 0);
  vg_test_collector_configure(c, type, cfg, &err);
  cJSON_Delete(cfg);
  vg_cfg_doc_free(doc);
}

void vg_test_collector_start(struct vg_test_collector *c,
                             struct vg_collector_env env) {
  ASSERT(c->type && c->sink);
  env.loop = c->loop;
  env.sink = c->sink;
  env.name = c->name;
  ASSERT_INT_EQ(c->type->start(c->ctx, &env), 0);
}

void vg_test_collector_done(void *arg, int status, const char *error) {
  struct vg_test_collector *c = arg;
  ASSERT(!c->done);
  c->done = true;
  c->dones++;
  c->status = status;
  snprintf(c->error, sizeof c->error, "%s", error ? error : "");
}

void vg_test_collector_stopped(void *arg) {
  ((struct vg_test_collector *)arg)->stopped = true;
}

void vg_test_collector_start_collect(struct vg_test_collector *c) {
  c->done = false;
  ASSERT_INT_EQ(c->type->collect(c->ctx, vg_test_collector_done, c), 0);
}

void vg_test_collector_wait(struct vg_test_collector *c) {
  while (!c->done)
    uv_run(c->loop, UV_RUN_ONCE);
}

void vg_test_collector_collect(struct vg_test_collector *c) {
  vg_test_collector_start_collect(c);
  vg_test_collector_wait(c);
}

void vg_test_collector_down(struct vg_test_collector *c) {
  if (c->type) {
    if (!c->stopped) {
      c->type->stop(c->ctx, vg_test_collector_stopped, c);
      while (!c->stopped)
        uv_run(c->loop, UV_RUN_ONCE);
    }
    c->type->destroy(c->ctx);
    c->type = NULL;
    c->ctx = NULL;
  }
  vg_test_collector_close_journal(c);
  vg_sink_free(c->sink);
  vg_store_free(c->store);
  c->sink = NULL;
  c->store = NULL;
  if (c->loop == &c->own_loop)
    ASSERT(uv_loop_close(&c->own_loop) == 0);
  c->loop = NULL;
  if (c->dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
    ASSERT(system(cmd) == 0);
    c->dir[0] = '\0';
  }
}

double vg_test_get(struct vg_store *st, const char *metric,
                   const struct vg_label *labels, size_t n) {
  double v = -1;
  if (vg_store_get(st, metric, labels, n, &v) < 0)
    return -1;
  return v;
}

size_t vg_test_series(const struct vg_store *st) {
  struct vg_store_stats ss;
  vg_store_stats(st, &ss);
  return ss.series;
}

char *vg_test_render(struct vg_store *st, bool om) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  ASSERT_INT_EQ(vg_store_render(st, &b, om), 0);
  return vg_buf_take(&b, NULL);
}

static void add_rejection(void *arg, const struct vg_rejection *r) {
  vg_buf_printf(arg, "%s|%s|%s\n", vg_reject_reason_name(r->reason), r->where,
                r->detail);
}

char *vg_test_rejections(const struct vg_sink *sink, size_t *n) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  vg_buf_puts(&b, "");
  size_t count = vg_sink_recent(sink, add_rejection, &b);
  if (n)
    *n = count;
  return vg_buf_take(&b, NULL);
}

const char *vg_test_config_error(const struct vg_collector_type *type,
                                 const char *file, const char *text) {
  static struct vg_cfg_err err;
  memset(&err, 0, sizeof err);
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  cJSON *cfg;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, file, text, strlen(text), &cfg, &err), 0);
  void *ctx = NULL;
  int rc = type->configure(&ctx, cfg, &err);
  if (rc == 0) {
    type->destroy(ctx);
    snprintf(err.msg, sizeof err.msg, "(accepted)");
  } else {
    ASSERT_INT_EQ(rc, -EINVAL);
  }
  cJSON_Delete(cfg);
  vg_cfg_doc_free(doc);
  return err.msg;
}

void vg_test_config_errors(const struct vg_collector_type *type,
                           const char *file,
                           const struct vg_test_config_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++)
    ASSERT_STR_EQ(vg_test_config_error(type, file, cases[i].cfg), cases[i].msg);
}
