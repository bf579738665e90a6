/* tests/unit/collector_fixture.h - the ground a collector's unit tests
 * stand on: a loop, a store, a sink (on a journal, for the push types),
 * and the instance as the daemon runs it -- its type, its configured
 * context, what its collects answered -- with the store queries those
 * tests share (and, through tests/unit/testutil.h, files and the log).
 *
 * The loop is the test's (a net fixture's, tests/unit/net_fixture.h) or
 * the fixture's own.  With no type, the fixture is a sink the test feeds
 * by hand.  Every call fails the test (tests/vgtest.h) rather than return
 * an error; what a call makes, vg_test_collector_down() frees, and it
 * checks that the fixture's own loop closes with nothing left open.
 */
#ifndef VG_COLLECTOR_FIXTURE_H
#define VG_COLLECTOR_FIXTURE_H

#include "collectors/collector.h"
#include "daemon/pipeline/journal.h"
#include "daemon/pipeline/sink.h"
#include "daemon/pipeline/store.h"
#include "daemon/util/buf.h"
#include "tests/unit/testutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct vg_test_collector {
  uv_loop_t *loop;
  uv_loop_t own_loop; /* the loop, when the test brings none */
  char dir[64];       /* a temporary folder; "" when none */
  struct vg_journal *journal;
  struct vg_store *store;
  struct vg_sink *sink;
  char name[64]; /* the sink's collector, which names the instance */
  const struct vg_collector_type *type; /* NULL: a sink fed by hand */
  void *ctx;
  bool stopped;
  /* What the collects answered: how many, and the last one's answer. */
  unsigned dones;
  bool done;
  int status;
  char error[1024];
};

/* --- the ground ------------------------------------------------------ */

/* Makes the folder /tmp/vg-<name>-XXXXXX into dir (which must hold 64
 * bytes); vg_test_collector_down() removes it with all it holds. */
void vg_test_collector_dir(struct vg_test_collector *c, const char *name);

/* The loop (`loop`, or the fixture's own when NULL), a store, and a sink
 * with the options `so`.  With journal_commit_ms > 0 the sink appends to
 * a journal in the fixture's folder (made if there is none) that commits
 * every journal_commit_ms, and acknowledges (vg_sink_sync). */
void vg_test_collector_sink(struct vg_test_collector *c, uv_loop_t *loop,
                            struct vg_sink_options so,
                            unsigned journal_commit_ms);

/* Closes the journal and runs the loop until it is closed. */
void vg_test_collector_close_journal(struct vg_test_collector *c);

/* --- the instance ---------------------------------------------------- */

/* Configures `type` from cfg (positions in err->doc); fails the test with
 * the message if the configuration is refused. */
void vg_test_collector_configure(struct vg_test_collector *c,
                                 const struct vg_collector_type *type,
                                 const cJSON *cfg, struct vg_cfg_err *err);

/* The same from JSON text, named `file` in messages. */
void vg_test_collector_configure_text(struct vg_test_collector *c,
                                      const struct vg_collector_type *type,
                                      const char *file, const char *text);

/* Starts the configured instance on the fixture's loop and sink, named as
 * the sink's collector; `env` brings the rest (curl, http), if any. */
void vg_test_collector_start(struct vg_test_collector *c,
                             struct vg_collector_env env);

/* The collect callback: it records the answer in the fixture (`arg`), and
 * fails the test if the collect answers twice. */
void vg_test_collector_done(void *arg, int status, const char *error);
/* The stop callback: sets `stopped`. */
void vg_test_collector_stopped(void *arg);

/* Starts a collect (which must be accepted), runs the loop until it is
 * answered, or both. */
void vg_test_collector_start_collect(struct vg_test_collector *c);
void vg_test_collector_wait(struct vg_test_collector *c);
void vg_test_collector_collect(struct vg_test_collector *c);

/* Stops the instance, unless the test did, and runs the loop until it
 * has stopped; destroys it; closes the journal; frees the sink and the
 * store; closes the fixture's own loop (which must have nothing left
 * open) and removes the folder. */
void vg_test_collector_down(struct vg_test_collector *c);

/* --- what the tests look at ------------------------------------------ */

/* The value of one series, or -1 when the store has none. */
double vg_test_get(struct vg_store *st, const char *metric,
                   const struct vg_label *labels, size_t n);

/* How many series the store holds. */
size_t vg_test_series(const struct vg_store *st);

/* The store as /metrics shows it (OpenMetrics with `om`); the caller
 * frees it. */
char *vg_test_render(struct vg_store *st, bool om);

/* The sink's recent rejections, one "reason|where|detail" line each, and
 * in *n (if not NULL) how many vg_sink_recent() said there are; the
 * caller frees the text. */
char *vg_test_rejections(const struct vg_sink *sink, size_t *n);

/* Configures `type` from `text` (named `file`) and expects a refusal:
 * returns its message (valid until the next call), or "(accepted)" when
 * the configuration was taken.  A refusal other than -EINVAL fails the
 * test. */
const char *vg_test_config_error(const struct vg_collector_type *type,
                                 const char *file, const char *text);

/* Each configuration must be refused with its message. */
struct vg_test_config_case {
  const char *cfg, *msg;
};
void vg_test_config_errors(const struct vg_collector_type *type,
                           const char *file,
                           const struct vg_test_config_case *cases, size_t n);

#endif
