/* daemon/registry_watch.c - the registry file: read, watched, swapped in,
 * and its villages as series.
 *
 * Owns: the path in force, the watch of its folder (a file replaced by a
 * rename is a new inode: watching the file itself would lose it), and the
 * sink of the registry's own series.  Must never: swap a registry in
 * outside a configuration going live (a bad new version is refused with
 * its configuration, and the old one stays).
 */
#include "daemon/registry_watch.h"
#include "daemon/formats/registry_csv.h"
#include "daemon/pipeline/sink.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETTLE_MS 300

int vg_registry_watch_read(const char *path, struct vg_registry **out,
                           char *error, size_t error_size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    int e = errno;
    snprintf(error, error_size, "%s: cannot read: %s", path, strerror(e));
    if (fd >= 0)
      close(fd);
    return -e;
  }
  if (!S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size > VG_REGISTRY_WATCH_MAX_BYTES) {
    snprintf(error, error_size, "%s: %s", path,
             S_ISREG(st.st_mode) ? "larger than 256 MiB" : "not a file");
    close(fd);
    return -EINVAL;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *data = vg_malloc(size + 1); /* freed below */
  while (got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  char ignored[256];
  int rc = vg_registry_csv_parse(data, got, path, out, ignored, sizeof ignored,
                                 error, error_size);
  free(data);
  if (!rc && ignored[0])
    vg_log(VG_LOG_NOTICE, "registry %s: columns not read: %s", path, ignored);
  return rc;
}

struct vg_registry_watch {
  uv_loop_t *loop;
  struct vg_store *store;
  struct vg_resolve *resolve;
  void (*changed)(void *arg);
  void *arg;

  char *path;              /* in force; NULL: no registry; owned */
  struct vg_label *labels; /* names and values owned */
  size_t nlabels;
  struct vg_journal *journal;
  /* village_info, which goes to the push exporters too; NULL: none */
  struct vg_sink *info;
  /* The figures: /metrics only, since a push exporter's history would
   * keep them beside a source's own, which /metrics shows instead. */
  struct vg_sink *figures;
  char *figures_key; /* their source: the path and " (figures)"; owned */

  uv_fs_event_t event;
  bool watching;
  uv_timer_t settle;
  struct stat seen; /* the file in force, to tell a change from a touch */
  unsigned open_handles;
};

static void emit_one(const struct vg_emitter *e, const char *metric,
                     const struct vg_label *labels, size_t n, double value) {
  if (isnan(value))
    return;
  struct vg_location where = {.input = "registry"};
  e->sample(e->arg, metric, labels, n, value, 0, &where);
}

/* The villages as series: one round of each source, so that a village
 * gone from the file leaves /metrics with it. */
static void emit(struct vg_registry_watch *w, const struct vg_registry *reg) {
  vg_sink_free(w->info);
  vg_sink_free(w->figures);
  struct vg_sink_options so = {
      .collector = "registry",
      .const_labels = w->labels,
      .nconst = w->nlabels,
      .journal = w->journal,
  };
  w->info = vg_sink_new(w->store, &so);
  so.journal = NULL;
  so.fallback = true;
  w->figures = vg_sink_new(w->store, &so);
  const struct vg_emitter *info = vg_sink_emitter(w->info),
                          *figs = vg_sink_emitter(w->figures);
  vg_sink_begin(w->info, w->path);
  vg_sink_begin(w->figures, w->figures_key);
  info->family(info->arg, "village_info", "gauge",
               "A village of the registry, always 1: its code and names in "
               "both scripts, to join other series on by code.");
  for (size_t i = 0; i < vg_registry_size(reg); i++) {
    const struct vg_registry_village *v = vg_registry_at(reg, i);
    struct vg_label l[7] = {{"code", v->code},
                            {"county", v->county},
                            {"town", v->town},
                            {"village", v->village},
                            {"county_zh", v->county_zh},
                            {"town_zh", v->town_zh},
                            {"village_zh", v->village_zh}};
    emit_one(info, "village_info", l, 7, 1);
    const double figures[4] = {v->latitude, v->longitude, v->households,
                               v->population};
    for (unsigned f = 0; f < 4; f++)
      if (!vg_resolve_given(w->resolve, i, f))
        emit_one(figs, vg_resolve_figures[f], l, 4, figures[f]);
  }
  vg_sink_end(w->info);
  vg_sink_end(w->figures);
}

/* A source gave its own figure for a registry village: the registry's
 * leaves /metrics. */
static void withdraw(void *arg, size_t village, const char *metric) {
  struct vg_registry_watch *w = arg;
  const struct vg_registry *reg = vg_resolve_registry(w->resolve);
  const struct vg_registry_village *v = vg_registry_at(reg, village);
  const double figures[4] = {v->latitude, v->longitude, v->households,
                             v->population};
  unsigned f = 0;
  while (f < 4 && strcmp(metric, vg_resolve_figures[f]) != 0)
    f++;
  if (!w->figures || f == 4 || isnan(figures[f]))
    return;
  struct vg_label l[4] = {{"code", v->code},
                          {"county", v->county},
                          {"town", v->town},
                          {"village", v->village}};
  struct vg_location where = {.input = "registry"};
  const struct vg_emitter *e = vg_sink_emitter(w->figures);
  vg_sink_begin_update(w->figures, w->figures_key);
  e->sample(e->arg, metric, l, 4, vg_stale_nan(), 0, &where);
  vg_sink_end(w->figures);
}

static void free_sinks(struct vg_registry_watch *w) {
  vg_sink_free(w->info);
  vg_sink_free(w->figures);
  w->info = w->figures = NULL;
}

static void finish_close(struct vg_registry_watch *w) {
  free_sinks(w);
  free(w->figures_key);
  for (size_t i = 0; i < w->nlabels; i++) {
    free((char *)w->labels[i].name);
    free((char *)w->labels[i].value);
  }
  free(w->labels);
  free(w->path);
  free(w);
}

static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
         a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A change that has settled: the daemon reloads, reading the file again
 * as a SIGHUP does (and so every source again, whose rows may name
 * villages the registry did not know before).  A file touched but not
 * changed, or a folder event of another file, reloads nothing. */
static void on_settled(uv_timer_t *t) {
  struct vg_registry_watch *w = t->data;
  struct stat st;
  if (!w->path || (stat(w->path, &st) == 0 && same_file(&st, &w->seen)))
    return;
  vg_log(VG_LOG_INFO, "registry %s changed: reloading", w->path);
  w->changed(w->arg);
}

static void on_change(uv_fs_event_t *h, const char *filename, int events,
                      int status) {
  (void)events;
  struct vg_registry_watch *w = h->data;
  if (!w->path)
    return;
  const char *base = strrchr(w->path, '/');
  base = base ? base + 1 : w->path;
  /* An event without a name may be ours: on_settled looks. */
  if (status == 0 && filename && strcmp(filename, base) != 0)
    return;
  /* A file being written sends several events: look once they stop. */
  uv_timer_start(&w->settle, on_settled, SETTLE_MS, 0);
}

static void watch(struct vg_registry_watch *w) {
  if (w->watching) {
    uv_fs_event_stop(&w->event);
    w->watching = false;
  }
  if (!w->path)
    return;
  char *dir = vg_strdup(w->path); /* freed below */
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  int rc = uv_fs_event_start(&w->event, on_change, slash ? dir : ".", 0);
  if (rc < 0)
    vg_log(VG_LOG_WARNING,
           "registry %s: cannot watch its folder (%s): changes are read "
           "on SIGHUP only",
           w->path, uv_strerror(rc));
  w->watching = rc == 0;
  free(dir);
}

struct vg_registry_watch *vg_registry_watch_new(uv_loop_t *loop,
                                                struct vg_store *store,
                                                struct vg_resolve *resolve,
                                                void (*changed)(void *arg),
                                                void *arg) {
  /* Freed by vg_registry_watch_close, once its handles are closed. */
  struct vg_registry_watch *w = vg_calloc(1, sizeof *w);
  w->loop = loop;
  w->store = store;
  w->resolve = resolve;
  w->changed = changed;
  w->arg = arg;
  uv_fs_event_init(loop, &w->event);
  w->event.data = w;
  uv_timer_init(loop, &w->settle);
  w->settle.data = w;
  w->open_handles = 2;
  vg_resolve_on_withdraw(resolve, withdraw, w);
  return w;
}

void vg_registry_watch_install(struct vg_registry_watch *w, const char *path,
                               struct vg_registry *reg,
                               const struct vg_registry_watch_options *o) {
  if (w->info && w->path && (!path || strcmp(path, w->path) != 0)) {
    vg_sink_forget(w->info, w->path);
    vg_sink_forget(w->figures, w->figures_key);
  }
  free(w->path);
  free(w->figures_key);
  w->path = path ? vg_strdup(path) : NULL;
  w->figures_key = path ? vg_asprintf("%s (figures)", path) : NULL;
  for (size_t i = 0; i < w->nlabels; i++) {
    free((char *)w->labels[i].name);
    free((char *)w->labels[i].value);
  }
  free(w->labels);
  w->nlabels = o->nlabels;
  w->labels = vg_calloc(o->nlabels ? o->nlabels : 1, sizeof *w->labels);
  for (size_t i = 0; i < o->nlabels; i++) {
    w->labels[i].name = vg_strdup(o->labels[i].name);
    w->labels[i].value = vg_strdup(o->labels[i].value);
  }
  w->journal = o->journal;
  vg_resolve_set(w->resolve, reg);
  if (!path || stat(path, &w->seen) < 0)
    memset(&w->seen, 0, sizeof w->seen);
  if (reg) {
    emit(w, reg);
    vg_log(VG_LOG_INFO, "registry %s: %zu villages", path,
           vg_registry_size(reg));
  } else {
    free_sinks(w);
  }
  watch(w);
}

static void handle_closed(uv_handle_t *h) {
  struct vg_registry_watch *w = h->data;
  if (--w->open_handles == 0)
    finish_close(w);
}

void vg_registry_watch_close(struct vg_registry_watch *w) {
  vg_resolve_on_withdraw(w->resolve, NULL, NULL);
  /* Now, while the journal they may hold is still open. */
  free_sinks(w);
  uv_close((uv_handle_t *)&w->event, handle_closed);
  uv_close((uv_handle_t *)&w->settle, handle_closed);
}
