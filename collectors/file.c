/* collectors/file.c - CSV, JSON, line-protocol and exposition files
 * matched by a glob.
 *
 * The folder is watched (uv_fs_event) and rescanned on every collect as a
 * fallback.  A scan runs in the thread pool: it lists the folder, stats
 * each matching file, and reads and parses every file that changed since
 * it was last read -- if it is complete.  A file is complete when it was
 * renamed into place (the usual write-then-rename), or when its size and
 * modification time have not changed for `settle`; a file still being
 * written is looked at again when it has settled.  Back on the loop, each
 * parsed file replaces its series in the store in one round, and the
 * series of a file that was removed are dropped.
 *
 * One scan at a time per collector: requests that arrive meanwhile are
 * folded into one more scan afterwards.  A file that cannot be parsed as a
 * whole keeps the series of its last good version, and the error is
 * reported as a rejected input (once per version of the file).
 *
 * Failures that show: a file that cannot be opened or read (permissions,
 * owner, I/O), a literal file name that names no file, and a missing
 * folder make the collect fail, with the path and the system's reason:
 * the collector is "failing", villagemetrics_collector_up is 0.  A glob
 * that matches nothing is a drop folder waiting for its first file: said
 * once in the log and on the status page, not a failure.  An unreadable file
 * keeps the series of its last reading for stale_after, then they go; a file
 * that is gone takes its series with it at once.
 *
 * Receipts: every reading of a file leaves a receipt (rows, values,
 * villages, rejections by village and cell; daemon/pipeline/receipt.h),
 * kept for the status page and, when configured, written as
 * "<file>.receipt.txt" beside the file or in a folder -- in the thread
 * pool, to a temporary file renamed into place.  Receipt files are never
 * read as input.
 *
 * Must never: read, parse or write files on the loop thread, or keep
 * series of a file that is gone.
 */
#include "collectors/collector.h"
#include "daemon/pipeline/batch.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "daemon/formats/mapping.h"
#include "daemon/formats/payload.h"
#include "daemon/pipeline/receipt.h"
#include "daemon/util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_config {
  char *path;   /* folder/pattern, absolute after configure */
  char *format; /* "auto", or a format vg_payload_format_parse() reads */
  int64_t settle_ms;
  uint64_t max_file_size;
  char *receipts;     /* "none" or "alongside" */
  char *receipts_dir; /* NULL: none */
};

static const struct vg_cfg_key file_keys[] = {
    {"path", VG_CFG_PATH, NULL, offsetof(struct file_config, path),
     "Files to read: a folder and a file-name pattern with * ? [...], e.g. "
     "\"/srv/reports/*.csv\"; relative to the configuration file's folder. "
     "Only the file name may hold wildcards.",
     true},
    {"format", VG_CFG_STRING, "auto", offsetof(struct file_config, format),
     "\"csv\", \"json\", \"influx\" (line protocol), \"prometheus\" "
     "(exposition text), \"xlsx\", \"xls\" (office workbooks), or "
     "\"auto\" (from the pattern's extension: .csv, .tsv, .txt, .json, "
     ".influx, .lp, .prom, .xlsx or .xls).",
     false},
    {"settle", VG_CFG_DURATION, "250ms",
     offsetof(struct file_config, settle_ms),
     "A file written in place is read once its size and modification time "
     "have not changed for this long; a file renamed into place is read at "
     "once.",
     false},
    {"max_file_size", VG_CFG_SIZE, "256MiB",
     offsetof(struct file_config, max_file_size),
     "Larger files are refused with an error rather than read.", false},
    {"receipts", VG_CFG_STRING, "none", offsetof(struct file_config, receipts),
     "\"alongside\" writes a receipt of every reading of a file beside it, "
     "as \"<file>.receipt.txt\" (rows and values accepted and rejected, "
     "villages matched and unmatched, each rejected cell with its "
     "village), for people who drop files on a share; \"none\" writes "
     "none.  The status page shows receipts either way.",
     false},
    {"receipts_dir", VG_CFG_PATH, NULL,
     offsetof(struct file_config, receipts_dir),
     "Writes the receipts into this folder instead of beside the files "
     "(for a share the daemon may only read).",
     false},
    VG_CFG_END,
};

/* What a receipt file's name ends with: never read as input. */
#define RECEIPT_SUFFIX ".receipt.txt"

/* Bounds the memory one file may take while parsed (about 4 times its
 * size). */
#define MAX_FILE_SIZE ((uint64_t)16 << 30)

/* Looks at files still being written before a collect reports anyway. */
#define MAX_COLLECT_SCANS 20

static const struct vg_cfg_key *const file_tables[] = {
    file_keys, vg_mapping_keys, vg_payload_keys, NULL};

/* What the loop knows of one file. */
struct tracked {
  char *name; /* in the folder; owned */
  bool read;  /* some version was parsed */
  uint64_t size, ino;
  int64_t mtime_ns;
  bool renamed; /* an event said it was renamed into place */
  /* A scan found it (an event alone may name a file already gone). */
  bool listed;
  bool holds;  /* series of a reading of it are in the store */
  char *error; /* of the current version, owned; NULL: none */
  /* The errno of a file that cannot be opened or read, and since when
   * (wall clock); 0 when it can. */
  int err;
  int64_t unreadable_since_ms;
  struct vg_receipt *receipt; /* of its last reading, owned; NULL: none */
};

enum outcome { UNCHANGED, PARSED, UNSETTLED, GONE, FAILED };

struct scan_result {
  char *name;
  enum outcome outcome;
  uint64_t size, ino;
  int64_t mtime_ns;
  struct vg_batch *batch; /* PARSED */
  char *error;            /* FAILED */
  int err;                /* FAILED: the file cannot be read (errno) */
  int64_t retry_ms;       /* UNSETTLED */
};

/* A scan handed to the thread pool: inputs copied, outputs filled there,
 * all read back on the loop in scan_after(). */
struct scan {
  uv_work_t work;
  struct file_collector *fc;
  /* inputs */
  struct tracked *known; /* copies of name/size/mtime/ino/renamed */
  size_t nknown;
  int64_t now_ms;
  char why[320]; /* log_level debug: why it runs ("" otherwise) */
  double started_s;
  /* Lent by the collector for the scan, given back after it. */
  struct vg_batch_spares spares;
  /* outputs */
  struct scan_result *results;
  size_t nresults, cap;
  char *folder_error;
  int folder_errno;
};

struct file_collector {
  struct file_config cfg;
  struct vg_payload *payload;
  char *dir, *pattern; /* split from cfg.path; owned */

  uv_loop_t *loop;
  struct vg_sink *sink;
  const char *name;
  int64_t stale_after_ms; /* for the series of an unreadable file */
  bool literal;           /* the pattern names one file */
  bool said_empty;        /* the log says the glob matches nothing */
  unsigned writing;       /* receipt files being written */
  struct vg_complaint receipt_complaint;
  uv_fs_event_t watcher;
  bool watching;
  uv_timer_t timer; /* next scan after an event or an unsettled file */

  struct tracked *files;
  size_t nfiles, capfiles;

  struct scan *scanning; /* in the thread pool; NULL: none */
  /* Batches kept for the next scans (VG_BATCH_KEEP_MAX): a file read every
   * round is parsed into the memory of the last round's, not into pages
   * faulted in afresh.  Lent to the scan while one runs. */
  struct vg_batch_spares spares;
  bool scan_again;
  vg_collect_done done; /* of the collect waiting for a scan */
  void *done_arg;
  bool done_after_next;          /* the collect came while another scan ran */
  bool unsettled;                /* the last scan left files to look at again */
  bool reread;                   /* a file went: read the others again */
  struct vg_complaint complaint; /* folder errors between collects */
  uv_fs_event_t parent;          /* while the folder is missing: its parent */
  bool parent_watching;
  unsigned collect_scans; /* scans the waiting collect has seen */
  /* log_level debug: why the next scan runs, the latest reason given
   * ("" when none was, or debug is off). */
  char why[320];

  bool stopping;
  unsigned open_handles;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

/* --- the thread-pool side -------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether a name in the folder is one of the collector's inputs: it
 * matches the pattern and is not one of the receipts written there. */
static bool is_input(const struct file_collector *fc, const char *name) {
  return fnmatch(fc->pattern, name, FNM_PERIOD) == 0 &&
         !ends_with(name, RECEIPT_SUFFIX);
}

static struct scan_result *add_result(struct scan *s, const char *name,
                                      enum outcome outcome) {
  s->results =
      vg_grow(s->results, &s->cap, s->nresults + 1, sizeof *s->results);
  struct scan_result *r = &s->results[s->nresults++];
  memset(r, 0, sizeof *r);
  r->name = vg_strdup(name);
  r->outcome = outcome;
  return r;
}

static const struct tracked *find_known(const struct scan *s,
                                        const char *name) {
  for (size_t i = 0; i < s->nknown; i++)
    if (strcmp(s->known[i].name, name) == 0)
      return &s->known[i];
  return NULL;
}

/* Reads a whole file; 0, or -errno with *error set. */
static int read_file(int fd, uint64_t size, uint64_t max, char **data,
                     size_t *len, char **error) {
  if (size > max) {
    *error = vg_asprintf("%llu bytes is more than max_file_size (%llu)",
                         (unsigned long long)size, (unsigned long long)max);
    return -EFBIG;
  }
  char *buf = vg_malloc(size + 1);
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      free(buf);
      *error = vg_asprintf("cannot read: %s",
                           n < 0 ? strerror(e) : "file shrank while read");
      return -e;
    }
    got += (size_t)n;
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return 0;
}

static void parse_file(struct scan *s, struct scan_result *r, int fd,
                       const char *path) {
  struct file_collector *fc = s->fc;
  char *data = NULL;
  size_t len = 0;
  int rc =
      read_file(fd, r->size, fc->cfg.max_file_size, &data, &len, &r->error);
  if (rc) {
    r->outcome = FAILED;
    /* Too large is the file's fault, not the system's. */
    if (rc != -EFBIG) {
      r->err = -rc;
      free(r->error);
      r->error = vg_asprintf("cannot read %s: %s", path, strerror(-rc));
    }
    return;
  }
  /* A file that changed while we read it is not complete yet. */
  struct stat after;
  if (fstat(fd, &after) == 0 &&
      ((uint64_t)after.st_size != r->size ||
       (int64_t)after.st_mtim.tv_sec * 1000000000 + after.st_mtim.tv_nsec !=
           r->mtime_ns)) {
    free(data);
    r->outcome = UNSETTLED;
    r->retry_ms = fc->cfg.settle_ms;
    return;
  }
  /* The batch may use several times the file's size for its samples
   * (entries, strings and labels together, vg_batch_new). */
  r->batch =
      vg_batch_take(&s->spares, (size_t)fc->cfg.max_file_size * 8 + (1 << 20));
  char error[512];
  rc = vg_payload_run(fc->payload, path, data, len, vg_batch_emitter(r->batch),
                      error, sizeof error);
  free(data);
  if (rc == 0 && vg_batch_overflowed(r->batch)) {
    rc = -EFBIG;
    snprintf(error, sizeof error, "too many samples in one file");
  }
  if (rc) {
    vg_batch_keep(&s->spares, r->batch, VG_BATCH_KEEP_MAX);
    r->batch = NULL;
    r->error = vg_strdup(error);
    r->outcome = FAILED;
    return;
  }
  r->outcome = PARSED;
}

static void examine(struct scan *s, const char *name) {
  struct file_collector *fc = s->fc;
  char *path = vg_asprintf("%s/%s", fc->dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0 && errno != ENOENT) {
    struct scan_result *r = add_result(s, name, FAILED);
    r->err = errno;
    r->error = vg_asprintf("cannot open %s: %s", path, strerror(errno));
    free(path);
    return;
  }
  if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && fc->literal) {
    /* The one file configured is a folder or a device: say so. */
    struct scan_result *r = add_result(s, name, FAILED);
    r->err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    r->error = vg_asprintf("cannot read %s: %s", path,
                           S_ISDIR(st.st_mode) ? "it is a folder"
                                               : "not a regular file");
    close(fd);
    free(path);
    return;
  }
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    /* Vanished between the listing and now, or not a regular file. */
    if (fd >= 0)
      close(fd);
    free(path);
    return;
  }
  const struct tracked *k = find_known(s, name);
  struct scan_result *r = add_result(s, name, UNCHANGED);
  r->size = (uint64_t)st.st_size;
  r->ino = (uint64_t)st.st_ino;
  r->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  if (k && k->read && k->size == r->size && k->ino == r->ino &&
      k->mtime_ns == r->mtime_ns) {
    close(fd);
    free(path);
    return;
  }
  int64_t age_ms = s->now_ms - r->mtime_ns / 1000000;
  /* An event said "renamed", but Linux says that of a file just created
   * too.  A rename changes the inode's ctime and not its mtime; a file
   * being written has both at the time of the last write. */
  int64_t ctime_ns =
      (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  bool renamed_in = k && k->renamed && ctime_ns > r->mtime_ns &&
                    (!k->read || k->ino != r->ino);
  if (!renamed_in && age_ms < fc->cfg.settle_ms) {
    r->outcome = UNSETTLED;
    r->retry_ms = fc->cfg.settle_ms - (age_ms > 0 ? age_ms : 0);
  } else {
    parse_file(s, r, fd, path);
  }
  close(fd);
  free(path);
}

static void scan_work(uv_work_t *work) {
  struct scan *s = work->data;
  DIR *dir = opendir(s->fc->dir);
  if (!dir) {
    s->folder_errno = errno;
    s->folder_error =
        vg_asprintf("cannot read folder %s: %s", s->fc->dir, strerror(errno));
    return;
  }
  struct dirent *e;
  while ((e = readdir(dir)))
    if (is_input(s->fc, e->d_name))
      examine(s, e->d_name);
  closedir(dir);
  /* Files we knew that the listing no longer shows are gone. */
  for (size_t i = 0; i < s->nknown; i++) {
    bool seen = false;
    for (size_t k = 0; k < s->nresults && !seen; k++)
      seen = strcmp(s->results[k].name, s->known[i].name) == 0;
    if (!seen)
      add_result(s, s->known[i].name, GONE);
  }
}

/* --- the loop side --------------------------------------------------- */

static void start_scan(struct file_collector *fc);
static void maybe_stopped(struct file_collector *fc);

static struct tracked *find_tracked(struct file_collector *fc,
                                    const char *name) {
  for (size_t i = 0; i < fc->nfiles; i++)
    if (strcmp(fc->files[i].name, name) == 0)
      return &fc->files[i];
  return NULL;
}

static struct tracked *track(struct file_collector *fc, const char *name) {
  struct tracked *t = find_tracked(fc, name);
  if (t)
    return t;
  fc->files =
      vg_grow(fc->files, &fc->capfiles, fc->nfiles + 1, sizeof *fc->files);
  t = &fc->files[fc->nfiles++];
  memset(t, 0, sizeof *t);
  t->name = vg_strdup(name);
  return t;
}

static void untrack(struct file_collector *fc, struct tracked *t) {
  free(t->name);
  free(t->error);
  vg_receipt_free(t->receipt);
  *t = fc->files[--fc->nfiles];
}

static void free_scan(struct scan *s) {
  for (size_t i = 0; i < s->nknown; i++)
    free(s->known[i].name);
  free(s->known);
  for (size_t i = 0; i < s->nresults; i++) {
    free(s->results[i].name);
    free(s->results[i].error);
    vg_batch_free(s->results[i].batch);
  }
  free(s->results);
  free(s->folder_error);
  vg_batch_spares_free(&s->spares);
  free(s);
}

/* Notes why the next scan will run, for its debug line; formats nothing
 * unless debug lines are logged. */
static void scan_reason(struct file_collector *fc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void scan_reason(struct file_collector *fc, const char *fmt, ...) {
  if (!vg_log_enabled(VG_LOG_DEBUG))
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fc->why, sizeof fc->why, fmt, ap);
  va_end(ap);
}

/* Which files a scan read, and why it ran: one debug line per scan (the
 * files read are also logged at info, one line each). */
static void log_scan(const struct file_collector *fc, const struct scan *s) {
  static const char *const label[] = {[UNCHANGED] = "unchanged",
                                      [PARSED] = "read",
                                      [UNSETTLED] = "still being written",
                                      [GONE] = "gone",
                                      [FAILED] = "unreadable"};
  /* A log line holds 2 KiB: a long list is cut, with "...". */
  struct vg_buf b;
  vg_buf_init(&b, 1536);
  vg_buf_puts(&b, "");
  bool cut = false;
  for (int o = UNCHANGED; o <= FAILED && !cut; o++) {
    size_t n = 0;
    for (size_t i = 0; i < s->nresults; i++)
      n += s->results[i].outcome == (enum outcome)o;
    if (!n)
      continue;
    cut = vg_buf_printf(&b, "%s%zu %s (", b.len ? "; " : "", n, label[o]) < 0;
    const char *sep = "";
    for (size_t i = 0; i < s->nresults && !cut; i++)
      if (s->results[i].outcome == (enum outcome)o) {
        cut = vg_buf_printf(&b, "%s%s", sep, s->results[i].name) < 0;
        sep = ", ";
      }
    cut = cut || vg_buf_puts(&b, ")") < 0;
  }
  vg_log(VG_LOG_DEBUG, "collector %s: scanned %s/%s (%s) in %.1f ms: %s%s",
         fc->name, fc->dir, fc->pattern, s->why,
         (vg_clock_monotonic_s() - s->started_s) * 1e3,
         b.len ? b.data : "no file matches", cut ? "..." : "");
  vg_buf_free(&b);
}

static void on_timer(uv_timer_t *timer) {
  start_scan(timer->data);
}

/* --- receipt files (written in the thread pool) ------------------------ */

struct receipt_write {
  uv_work_t work;
  struct file_collector *fc;
  char *target, *temp; /* owned */
  char *text;          /* owned */
  char *error;         /* owned; NULL: written */
};

static void receipt_work(uv_work_t *work) {
  struct receipt_write *w = work->data;
  int fd = open(w->temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    w->error = vg_asprintf("cannot write %s: %s", w->temp, strerror(errno));
    return;
  }
  size_t len = strlen(w->text), done = 0;
  while (done < len) {
    ssize_t n = write(fd, w->text + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      w->error = vg_asprintf("cannot write %s: %s", w->temp, strerror(errno));
      break;
    }
    done += (size_t)n;
  }
  if (close(fd) < 0 && !w->error)
    w->error = vg_asprintf("cannot write %s: %s", w->temp, strerror(errno));
  /* Renamed into place: a reader sees the old receipt or the new one. */
  if (!w->error && rename(w->temp, w->target) < 0)
    w->error = vg_asprintf("cannot rename %s to %s: %s", w->temp, w->target,
                           strerror(errno));
  if (w->error)
    unlink(w->temp);
}

static void receipt_written(uv_work_t *work, int status) {
  struct receipt_write *w = work->data;
  struct file_collector *fc = w->fc;
  fc->writing--;
  if (status == 0 && w->error)
    vg_complain(&fc->receipt_complaint, VG_LOG_WARNING,
                "collector %s: receipt: %s", fc->name, w->error);
  free(w->target);
  free(w->temp);
  free(w->text);
  free(w->error);
  free(w);
  if (fc->stopping)
    maybe_stopped(fc);
}

/* Writes the file's receipt where the configuration says, if it does. */
static void write_receipt(struct file_collector *fc, const struct tracked *t) {
  bool alongside = strcmp(fc->cfg.receipts, "alongside") == 0;
  if (!t->receipt || (!alongside && !fc->cfg.receipts_dir))
    return;
  const char *dir = fc->cfg.receipts_dir ? fc->cfg.receipts_dir : fc->dir;
  struct receipt_write *w = vg_calloc(1, sizeof *w);
  w->fc = fc;
  w->work.data = w;
  w->target = vg_asprintf("%s/%s" RECEIPT_SUFFIX, dir, t->name);
  /* Hidden and not ending in the suffix: no pattern of ours matches it. */
  w->temp = vg_asprintf("%s/.%s" RECEIPT_SUFFIX ".tmp", dir, t->name);
  w->text = vg_receipt_text(t->receipt);
  fc->writing++;
  /* uv_queue_work cannot fail for a valid loop and callbacks. */
  uv_queue_work(fc->loop, &w->work, receipt_work, receipt_written);
}

/* --- applying a scan (on the loop) ------------------------------------ */

static void new_receipt(struct file_collector *fc, struct tracked *t,
                        struct vg_receipt *r) {
  vg_receipt_free(t->receipt);
  t->receipt = r;
  write_receipt(fc, t);
}

/* The file can be read again: its series are those of what was read. */
static void readable(struct file_collector *fc, struct tracked *t,
                     const char *path) {
  if (!t->err)
    return;
  vg_log(VG_LOG_INFO, "collector %s: %s can be read again", fc->name, path);
  t->err = 0;
  t->unreadable_since_ms = 0;
  free(t->error);
  t->error = NULL;
}

/* Applies one file's result. */
static void apply(struct file_collector *fc, struct scan_result *r,
                  int64_t *retry_ms) {
  char *path = vg_asprintf("%s/%s", fc->dir, r->name);
  struct tracked *t = track(fc, r->name);
  t->listed = true;
  switch (r->outcome) {
  case UNCHANGED:
    if (t->err) {
      /* Readable again and unchanged: read it once more all the same, for
       * a receipt that says so rather than "NOT READ". */
      readable(fc, t, path);
      t->read = false;
      fc->scan_again = true;
    }
    break;
  case PARSED: {
    struct vg_receipt *receipt = vg_receipt_new(path, vg_clock_now_ms());
    vg_sink_begin(fc->sink, path);
    vg_sink_receipt(fc->sink, receipt);
    vg_batch_replay(r->batch, vg_sink_emitter(fc->sink));
    size_t removed = vg_sink_end(fc->sink);
    const struct vg_sink_stats *st = vg_sink_stats(fc->sink);
    vg_log(VG_LOG_INFO,
           "collector %s: read %s: %llu samples, %llu rejected, %zu series "
           "no longer in it removed",
           fc->name, path, (unsigned long long)st->round_samples,
           (unsigned long long)st->round_rejected, removed);
    readable(fc, t, path);
    t->read = true;
    t->holds = true;
    t->size = r->size;
    t->ino = r->ino;
    t->mtime_ns = r->mtime_ns;
    t->renamed = false;
    free(t->error);
    t->error = NULL;
    new_receipt(fc, t, receipt);
    break;
  }
  case UNSETTLED:
    if (*retry_ms < 0 || r->retry_ms < *retry_ms)
      *retry_ms = r->retry_ms;
    break;
  case GONE:
    if (t->read) {
      vg_sink_forget(fc->sink, path);
      vg_log(VG_LOG_INFO, "collector %s: %s is gone; its series were removed",
             fc->name, path);
      /* Another file may hold some of the same series (the last one read
       * owned them): read every file again. */
      fc->reread = true;
    }
    untrack(fc, t);
    t = NULL;
    break;
  case FAILED:
    if (r->err) {
      /* Cannot be opened or read: a failure of the collector (the collect
       * says so), logged when it starts; the series of the last reading
       * stay for stale_after (expire_unreadable). */
      if (!t->err) {
        t->unreadable_since_ms = vg_clock_now_ms();
        vg_log(VG_LOG_ERR,
               "collector %s: %s; the series of its last reading are kept "
               "for stale_after (%llds)",
               fc->name, r->error, (long long)(fc->stale_after_ms / 1000));
      }
      t->err = r->err;
      if (!t->error || strcmp(t->error, r->error) != 0) {
        struct vg_receipt *receipt = vg_receipt_new(path, vg_clock_now_ms());
        vg_receipt_failed(receipt, r->error);
        free(t->error);
        t->error = vg_strdup(r->error);
        new_receipt(fc, t, receipt);
      }
      break;
    }
    /* Reported once per version of the file, as a rejected input: counted,
     * listed on the status page, logged.  The collector itself is fine,
     * and the series of the file's last good version stay. */
    readable(fc, t, path);
    if (!t->error || strcmp(t->error, r->error) != 0 ||
        t->mtime_ns != r->mtime_ns) {
      struct vg_location at = {.input = path};
      vg_sink_refuse_input(fc->sink, path, VG_REJECT_PARSE_ERROR, &at,
                           r->error);
      struct vg_receipt *receipt = vg_receipt_new(path, vg_clock_now_ms());
      vg_receipt_failed(receipt, r->error);
      free(t->error);
      t->error = vg_strdup(r->error);
      new_receipt(fc, t, receipt);
    }
    t->read = true;
    t->size = r->size;
    t->ino = r->ino;
    t->mtime_ns = r->mtime_ns;
    t->renamed = false;
    break;
  }
  free(path);
}

/* The series of a file unreadable for stale_after go: what it held can no
 * longer be vouched for.  It is read again, whole, once it can be. */
static void expire_unreadable(struct file_collector *fc, int64_t now_ms) {
  if (fc->stale_after_ms <= 0)
    return; /* 0: never, as for the store's sources */
  for (size_t i = 0; i < fc->nfiles; i++) {
    struct tracked *t = &fc->files[i];
    if (!t->err || !t->holds ||
        now_ms - t->unreadable_since_ms < fc->stale_after_ms)
      continue;
    char *path = vg_asprintf("%s/%s", fc->dir, t->name);
    vg_sink_forget(fc->sink, path);
    vg_log(VG_LOG_WARNING,
           "collector %s: %s has been unreadable for stale_after (%llds); its "
           "series were removed",
           fc->name, path, (long long)(fc->stale_after_ms / 1000));
    free(path);
    t->holds = false;
    t->read = false; /* read whole once it can be */
  }
}

/* What fails the collect once a scan is applied, or NULL (owned by the
 * caller): files that cannot be read, or none to read at all. */
static char *trouble(const struct file_collector *fc) {
  const struct tracked *first = NULL;
  size_t unreadable = 0, listed = 0;
  for (size_t i = 0; i < fc->nfiles; i++) {
    listed += fc->files[i].listed;
    if (fc->files[i].err && !unreadable++)
      first = &fc->files[i];
  }
  if (unreadable == 1)
    return vg_strdup(first->error);
  if (unreadable > 1)
    return vg_asprintf("%s (and %zu more files that cannot be read)",
                       first->error, unreadable - 1);
  if (listed || !fc->literal)
    return NULL;
  return vg_asprintf("cannot open %s/%s: %s", fc->dir, fc->pattern,
                     strerror(ENOENT));
}

/* Says once, when it becomes so, that a glob matches no file. */
static void note_empty(struct file_collector *fc) {
  bool empty = !fc->literal;
  for (size_t i = 0; i < fc->nfiles && empty; i++)
    empty = !fc->files[i].listed;
  if (empty && !fc->said_empty)
    vg_log(VG_LOG_WARNING,
           "collector %s: no file in %s matches \"%s\" (yet); its files are "
           "read as they arrive",
           fc->name, fc->dir, fc->pattern);
  fc->said_empty = empty;
}

/* The folder is gone: so are its files. */
static void forget_all(struct file_collector *fc) {
  while (fc->nfiles) {
    struct tracked *t = &fc->files[fc->nfiles - 1];
    if (t->read) {
      char *path = vg_asprintf("%s/%s", fc->dir, t->name);
      vg_sink_forget(fc->sink, path);
      free(path);
    }
    untrack(fc, t);
  }
}

static void watch_parent(struct file_collector *fc);

static void scan_after(uv_work_t *work, int status) {
  struct scan *s = work->data;
  struct file_collector *fc = s->fc;
  fc->scanning = NULL;
  char *error = NULL;
  if (status == UV_ECANCELED || fc->stopping) {
    /* Stopping: nothing to report. */
  } else if (s->folder_error) {
    error = vg_strdup(s->folder_error);
    if (s->folder_errno == ENOENT) {
      forget_all(fc);
      /* The watch died with the folder; watch for it to come back. */
      uv_fs_event_stop(&fc->watcher);
      fc->watching = false;
      watch_parent(fc);
    }
    if (!fc->done)
      vg_complain(&fc->complaint, VG_LOG_ERR, "collector %s: %s", fc->name,
                  error);
  } else {
    if (s->why[0])
      log_scan(fc, s);
    int64_t retry_ms = -1;
    for (size_t i = 0; i < s->nresults; i++)
      apply(fc, &s->results[i], &retry_ms);
    expire_unreadable(fc, vg_clock_now_ms());
    note_empty(fc);
    if (fc->reread) {
      scan_reason(fc, "a file went: every file is read again");
      fc->reread = false;
      for (size_t i = 0; i < fc->nfiles; i++)
        fc->files[i].read = false;
      fc->scan_again = true;
    }
    fc->unsettled = retry_ms >= 0;
    if (fc->unsettled)
      uv_timer_start(&fc->timer, on_timer, (uint64_t)retry_ms, 0);
  }
  for (size_t i = 0; i < s->nresults; i++) {
    vg_batch_keep(&fc->spares, s->results[i].batch, VG_BATCH_KEEP_MAX);
    s->results[i].batch = NULL;
  }
  vg_batch_spares_move(&fc->spares, &s->spares, VG_BATCH_KEEP_MAX);
  free_scan(s);

  /* A collect is done when every file it found has been read, so that the
   * first round (and READY=1) means the data is in; a file that never
   * stops changing gives up after MAX_COLLECT_SCANS looks. */
  bool waiting = fc->unsettled && !error && !fc->stopping &&
                 ++fc->collect_scans < MAX_COLLECT_SCANS;
  if (fc->done && !fc->done_after_next && !waiting) {
    vg_collect_done done = fc->done;
    fc->done = NULL;
    if (!error && !fc->stopping)
      error = trouble(fc);
    done(fc->done_arg, error ? -EIO : 0, error);
  }
  free(error);
  if (fc->stopping) {
    maybe_stopped(fc);
    return;
  }
  fc->done_after_next = false;
  /* An unsettled file already has the timer set for its next look. */
  if (fc->scan_again || (fc->done && !fc->unsettled)) {
    fc->scan_again = false;
    start_scan(fc);
  }
}

static void start_scan(struct file_collector *fc) {
  if (fc->stopping)
    return;
  if (fc->scanning) {
    fc->scan_again = true;
    return;
  }
  uv_timer_stop(&fc->timer);
  struct scan *s = vg_calloc(1, sizeof *s);
  s->fc = fc;
  s->work.data = s;
  s->spares = fc->spares;
  fc->spares = (struct vg_batch_spares){0};
  s->now_ms = vg_clock_now_ms();
  if (vg_log_enabled(VG_LOG_DEBUG)) {
    snprintf(s->why, sizeof s->why, "%s",
             fc->why[0] ? fc->why : "looking again at a file being written");
    s->started_s = vg_clock_monotonic_s();
  }
  fc->why[0] = '\0';
  s->known = vg_calloc(fc->nfiles, sizeof *s->known);
  s->nknown = fc->nfiles;
  for (size_t i = 0; i < fc->nfiles; i++) {
    s->known[i] = fc->files[i];
    s->known[i].name = vg_strdup(fc->files[i].name);
    s->known[i].error = NULL;
  }
  fc->scanning = s;
  /* uv_queue_work cannot fail for a valid loop and callbacks. */
  uv_queue_work(fc->loop, &s->work, scan_work, scan_after);
}

static void on_change(uv_fs_event_t *h, const char *filename, int events,
                      int status) {
  struct file_collector *fc = h->data;
  if (status < 0) {
    vg_log(VG_LOG_WARNING,
           "collector %s: watching %s: %s; watching again at the next "
           "collect",
           fc->name, fc->dir, uv_strerror(status));
    uv_fs_event_stop(&fc->watcher);
    fc->watching = false;
    return;
  }
  if (!filename || !is_input(fc, filename))
    return;
  if (events & UV_RENAME) {
    /* Appeared by rename (or was created, or removed): look now. */
    track(fc, filename)->renamed = true;
    scan_reason(fc, "inotify: %s renamed, created or removed", filename);
    start_scan(fc);
    return;
  }
  /* Written in place: look when the writer has had time to finish; every
   * further write pushes the look back. */
  scan_reason(fc, "inotify: %s written, settled for %lld ms", filename,
              (long long)fc->cfg.settle_ms);
  if (!fc->scanning)
    uv_timer_start(&fc->timer, on_timer, (uint64_t)fc->cfg.settle_ms, 0);
  else
    fc->scan_again = true;
}

static void watch(struct file_collector *fc) {
  if (fc->watching)
    return;
  int rc = uv_fs_event_start(&fc->watcher, on_change, fc->dir, 0);
  if (rc == 0)
    fc->watching = true;
}

/* The folder appeared (or something else changed in its parent): look. */
static void on_parent_change(uv_fs_event_t *h, const char *filename, int events,
                             int status) {
  struct file_collector *fc = h->data;
  const char *base = strrchr(fc->dir, '/');
  base = base ? base + 1 : fc->dir;
  if (status == 0 && filename && strcmp(filename, base) != 0)
    return;
  uv_fs_event_stop(&fc->parent);
  fc->parent_watching = false;
  watch(fc);
  scan_reason(fc, "inotify: the folder appeared");
  start_scan(fc);
}

/* While the folder is missing, its parent is watched so that the folder is
 * read as soon as it is created, not at the next (backed-off) collect. */
static void watch_parent(struct file_collector *fc) {
  if (fc->parent_watching)
    return;
  char *parent = vg_strdup(fc->dir);
  char *slash = strrchr(parent, '/');
  if (slash)
    *(slash == parent ? slash + 1 : slash) = '\0';
  if (uv_fs_event_start(&fc->parent, on_parent_change, slash ? parent : ".",
                        0) == 0)
    fc->parent_watching = true;
  free(parent);
}

/* --- the collector type ---------------------------------------------- */

static int by_name(const void *a, const void *b) {
  const struct tracked *x = *(const struct tracked *const *)a;
  const struct tracked *y = *(const struct tracked *const *)b;
  return strcmp(x->name, y->name);
}

static size_t
file_files(void *ctx, void (*fn)(void *arg, const struct vg_collector_file *f),
           void *arg) {
  struct file_collector *fc = ctx;
  /* Pointers into fc->files, in name order; owned here. */
  const struct tracked **order = vg_calloc(fc->nfiles, sizeof *order);
  size_t n = 0;
  for (size_t i = 0; i < fc->nfiles; i++)
    if (fc->files[i].listed)
      order[n++] = &fc->files[i];
  if (n)
    qsort(order, n, sizeof *order, by_name);
  for (size_t i = 0; i < n; i++) {
    const struct tracked *t = order[i];
    char *path = vg_asprintf("%s/%s", fc->dir, t->name);
    struct vg_collector_file f = {
        .path = path,
        .error = t->err ? t->error : NULL,
        .unreadable_since_ms = t->err ? t->unreadable_since_ms : 0,
        .receipt = t->receipt,
    };
    fn(arg, &f);
    free(path);
  }
  free(order);
  return n;
}

static int file_collect(void *ctx, vg_collect_done done, void *arg) {
  struct file_collector *fc = ctx;
  if (fc->done)
    return -EBUSY;
  watch(fc); /* the folder may have appeared since the last try */
  fc->done = done;
  fc->done_arg = arg;
  fc->collect_scans = 0;
  /* A scan already under way may have listed the folder before this
   * collect was asked for; answer after a fresh one. */
  fc->done_after_next = fc->scanning != NULL;
  scan_reason(fc, "a run: at start, then every interval");
  start_scan(fc);
  return 0;
}

static void handle_closed(uv_handle_t *h) {
  struct file_collector *fc = h->data;
  fc->open_handles--;
  maybe_stopped(fc);
}

/* Once every handle is closed and no scan is in flight: a collect still
 * waiting (for an unsettled file, or for a scan that stop discarded) is
 * answered, then `stopped` runs; both from the loop, never from inside
 * stop() (collectors/collector.h). */
static void maybe_stopped(struct file_collector *fc) {
  if (fc->open_handles || fc->scanning || fc->writing || !fc->stopped)
    return;
  if (fc->done) {
    vg_collect_done done = fc->done;
    fc->done = NULL;
    done(fc->done_arg, 0, NULL);
  }
  void (*stopped)(void *) = fc->stopped;
  fc->stopped = NULL;
  stopped(fc->stopped_arg);
}

static void file_stop(void *ctx, void (*stopped)(void *arg), void *arg) {
  struct file_collector *fc = ctx;
  fc->stopping = true;
  fc->stopped = stopped;
  fc->stopped_arg = arg;
  /* A scan not yet picked up by a thread is cancelled; one running finishes
   * and scan_after() discards it and answers a waiting collect.  A collect
   * waiting for an unsettled file is answered when the handles are closed
   * (maybe_stopped). */
  if (fc->scanning)
    uv_cancel((uv_req_t *)&fc->scanning->work);
  uv_close((uv_handle_t *)&fc->watcher, handle_closed);
  uv_close((uv_handle_t *)&fc->timer, handle_closed);
  uv_close((uv_handle_t *)&fc->parent, handle_closed);
}

static int file_start(void *ctx, const struct vg_collector_env *env) {
  struct file_collector *fc = ctx;
  fc->loop = env->loop;
  fc->sink = env->sink;
  fc->name = env->name;
  fc->stale_after_ms = env->stale_after_ms;
  uv_fs_event_init(fc->loop, &fc->watcher);
  uv_fs_event_init(fc->loop, &fc->parent);
  uv_timer_init(fc->loop, &fc->timer);
  fc->watcher.data = fc->timer.data = fc->parent.data = fc;
  fc->open_handles = 3;
  watch(fc);
  return 0;
}

static void file_preflight(void *ctx,
                           void (*problem)(void *arg, bool fatal,
                                           const char *msg),
                           void *arg) {
  struct file_collector *fc = ctx;
  char *msg = NULL;
  DIR *dir = opendir(fc->dir);
  if (!dir) {
    int e = errno;
    msg = vg_asprintf("cannot read folder %s: %s%s", fc->dir, strerror(e),
                      e == ENOENT ? " (the collector fails until it exists)"
                                  : "");
    problem(arg, e != ENOENT, msg);
    free(msg);
    return;
  }
  size_t matched = 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (!is_input(fc, e->d_name))
      continue;
    matched++;
    char *path = vg_asprintf("%s/%s", fc->dir, e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
      msg = vg_asprintf("cannot open %s: %s", path, strerror(errno));
    else if (fc->literal && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
      msg = vg_asprintf("cannot read %s: %s", path,
                        S_ISDIR(st.st_mode) ? "it is a folder"
                                            : "not a regular file");
    if (fd >= 0)
      close(fd);
    if (msg)
      problem(arg, true, msg);
    free(msg);
    msg = NULL;
    free(path);
  }
  closedir(dir);
  if (!matched && fc->literal) {
    msg = vg_asprintf("cannot open %s/%s: %s", fc->dir, fc->pattern,
                      strerror(ENOENT));
    problem(arg, true, msg);
    free(msg);
  }
  bool alongside = strcmp(fc->cfg.receipts, "alongside") == 0;
  const char *receipts = fc->cfg.receipts_dir ? fc->cfg.receipts_dir
                         : alongside          ? fc->dir
                                              : NULL;
  if (receipts && access(receipts, W_OK | X_OK) < 0) {
    msg = vg_asprintf("cannot write receipts in %s: %s", receipts,
                      strerror(errno));
    problem(arg, true, msg);
    free(msg);
  }
}

static void file_destroy(void *ctx) {
  struct file_collector *fc = ctx;
  for (size_t i = 0; i < fc->nfiles; i++) {
    free(fc->files[i].name);
    free(fc->files[i].error);
    vg_receipt_free(fc->files[i].receipt);
  }
  free(fc->files);
  vg_batch_spares_free(&fc->spares);
  vg_payload_free(fc->payload);
  vg_cfg_release(file_keys, &fc->cfg);
  free(fc->dir);
  free(fc->pattern);
  free(fc);
}

static bool has_wildcard(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?' || s[i] == '[')
      return true;
  return false;
}

/* Why a file-name pattern is not one fnmatch() reads as meant, or NULL:
 * glibc takes an unclosed "[" for a literal "[" and knows no braces, so
 * either would silently match nothing. */
static const char *pattern_trouble(const char *p, size_t *at) {
  for (size_t i = 0; p[i]; i++) {
    *at = i + 1;
    if (p[i] == '\\') {
      if (!p[i + 1])
        return "ends in a lone \"\\\"";
      i++;
    } else if (p[i] == '[') {
      size_t j = i + 1;
      if (p[j] == '!' || p[j] == '^')
        j++;
      if (p[j] == ']')
        j++; /* a "]" first is one of the set */
      while (p[j] && p[j] != ']')
        j++;
      if (!p[j])
        return "has a \"[\" that is never closed by \"]\"";
      i = j;
    } else if (p[i] == '{' && strchr(p + i, ',') && strchr(p + i, '}')) {
      return "has a brace list {a,b}, which patterns do not support: use "
             "one collector per pattern, or a wider pattern such as *.csv";
    }
  }
  return NULL;
}

/* The folder of the pattern cannot come to exist when a part of its path
 * is a file: say so now rather than fail every collect.  A folder that is
 * merely missing may yet be made (the collector waits for it). */
static char *impossible_folder(const char *dir) {
  char *p = vg_strdup(dir);
  char *result = NULL;
  for (;;) {
    struct stat st;
    if (stat(p, &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        result = vg_asprintf("%s is not a folder, so %s cannot exist", p, dir);
      break;
    }
    /* Missing, or under a file (ENOTDIR): look at the part above. */
    if (errno != ENOENT && errno != ENOTDIR)
      break; /* not ours to judge here: --check-config says more */
    char *slash = strrchr(p, '/');
    if (!slash || slash == p)
      break;
    *slash = '\0';
  }
  free(p);
  return result;
}

static int file_configure(void **ctx, const cJSON *cfg,
                          struct vg_cfg_err *err) {
  struct file_collector *fc = vg_calloc(1, sizeof *fc);
  const cJSON *path_node = cJSON_GetObjectItemCaseSensitive(cfg, "path");
  const cJSON *format_node = cJSON_GetObjectItemCaseSensitive(cfg, "format");
  int rc = vg_cfg_apply(file_keys, &fc->cfg, cfg, err);
  if (rc)
    goto fail;
  const char *slash = strrchr(fc->cfg.path, '/');
  fc->dir = slash == fc->cfg.path
                ? vg_strdup("/")
                : vg_strndup(fc->cfg.path, (size_t)(slash - fc->cfg.path));
  fc->pattern = vg_strdup(slash + 1);
  if (has_wildcard(fc->dir, strlen(fc->dir))) {
    rc = vg_cfg_error(err, path_node,
                      "\"path\": only the file name may hold wildcards, not "
                      "the folder (%s)",
                      fc->dir);
    goto fail;
  }
  fc->literal = !has_wildcard(fc->pattern, strlen(fc->pattern));
  size_t at;
  const char *trouble = pattern_trouble(fc->pattern, &at);
  if (trouble) {
    rc = vg_cfg_error(err, path_node,
                      "\"path\": the pattern \"%s\" %s (at character %zu of "
                      "the pattern)",
                      fc->pattern, trouble, at);
    goto fail;
  }
  char *impossible = impossible_folder(fc->dir);
  if (impossible) {
    rc = vg_cfg_error(err, path_node, "\"path\": %s", impossible);
    free(impossible);
    goto fail;
  }
  if (!fc->pattern[0]) {
    rc = vg_cfg_error(err, path_node,
                      "\"path\" names a folder; add a file pattern such as "
                      "\"*.csv\"");
    goto fail;
  }
  const char *f = fc->cfg.format;
  if (strcmp(f, "auto") == 0) {
    f = vg_payload_format_for_name(fc->pattern);
    if (!f) {
      rc = vg_cfg_error(err, path_node,
                        "cannot tell the format from \"%s\"; set \"format\" "
                        "to %s",
                        fc->pattern, vg_payload_format_names);
      goto fail;
    }
  }
  int format = vg_payload_format_parse(f);
  if (format < 0) {
    rc = vg_cfg_error(err, format_node,
                      "\"format\": expected %s or \"auto\", got \"%s\"",
                      vg_payload_format_names, f);
    goto fail;
  }
  if (fc->cfg.max_file_size > MAX_FILE_SIZE) {
    rc = vg_cfg_error(err,
                      cJSON_GetObjectItemCaseSensitive(cfg, "max_file_size"),
                      "\"max_file_size\": at most 16GiB");
    goto fail;
  }
  /* A .tsv read with commas would find no header at all: say so now. */
  if (format == VG_PAYLOAD_CSV && ends_with(fc->pattern, ".tsv") &&
      !cJSON_GetObjectItemCaseSensitive(cfg, "delimiter")) {
    rc = vg_cfg_error(err, path_node,
                      "\"%s\" names tab-separated files: set \"delimiter\": "
                      "\"\\t\"",
                      fc->pattern);
    goto fail;
  }
  const cJSON *receipts_node =
      cJSON_GetObjectItemCaseSensitive(cfg, "receipts");
  if (strcmp(fc->cfg.receipts, "none") != 0 &&
      strcmp(fc->cfg.receipts, "alongside") != 0) {
    rc = vg_cfg_error(err, receipts_node,
                      "\"receipts\": expected \"none\" or \"alongside\", got "
                      "\"%s\" (for a folder, set \"receipts_dir\")",
                      fc->cfg.receipts);
    goto fail;
  }
  if (fc->cfg.receipts_dir && strcmp(fc->cfg.receipts, "alongside") == 0) {
    rc = vg_cfg_error(err, receipts_node,
                      "\"receipts\": \"alongside\" and \"receipts_dir\" "
                      "say two places; keep one");
    goto fail;
  }
  rc = vg_payload_new(&fc->payload, (enum vg_payload_format)format, cfg, err);
  if (rc)
    goto fail;
  *ctx = fc;
  return 0;
fail:
  file_destroy(fc);
  return rc;
}

const struct vg_collector_type vg_collector_file = {
    .name = "file",
    .description = "Reads CSV, JSON, line-protocol and exposition files "
                   "matched by a pattern when they change.",
    .keeps_series = true,
    .runs_at_start = true,
    .config_tables = file_tables,
    .configure = file_configure,
    .start = file_start,
    .collect = file_collect,
    .stop = file_stop,
    .destroy = file_destroy,
    .files = file_files,
    .preflight = file_preflight,
};
