/* collectors/exec.c - a program's standard output, in any payload format.
 *
 * Each collect runs the configured program (an argument list, no shell)
 * through uv_spawn in a session and process group of its own, with a
 * small environment, reading its standard output into a capped buffer and
 * its standard error line by line into the log.  The run is over when the
 * program has exited and both pipes are closed; the output is then parsed
 * in the thread pool into a batch (a page of exposition text or JSON may
 * be megabytes: parsing it on the loop would stall every other source and
 * every scrape, and one path for every size is one path to test), and the
 * batch replaces the collector's series in one round on the loop.
 *
 * A run that exits non-zero, is killed by a signal, outlasts `timeout` or
 * writes more than `max_output` fails: its output is discarded, the series
 * of the last good run stay (until stale_after), and collect reports the
 * error with the exit status or signal and the last line of stderr.  On
 * timeout (and on stop) the whole process group gets SIGTERM, then
 * SIGKILL after KILL_GRACE_MS; if something that left the group still
 * holds the pipes open after another KILL_GRACE_MS, they are closed.
 *
 * Environment: PATH (DEFAULT_PATH) and LANG=C.UTF-8, then the `env` key's
 * variables, which may override both.  Nothing else of the daemon's
 * environment is passed on: not its HOME, not a credential directory, not
 * a secret set for another source.
 *
 * Must never: run a shell, block the loop, run two instances of the
 * program at once, or leave a process behind when it stops.
 */
#include "collectors/collector.h"
#include "daemon/pipeline/batch.h"
#include "daemon/util/buf.h"
#include "daemon/util/log.h"
#include "daemon/formats/mapping.h"
#include "daemon/util/mem.h"
#include "daemon/formats/payload.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PATH                                                           \
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Between SIGTERM and SIGKILL, and between SIGKILL and closing the pipes
 * of what escaped the group. */
#define KILL_GRACE_MS 2000
/* Most stderr lines logged per collector and minute; the rest counted. */
#define STDERR_LINES_PER_MINUTE 20
/* Longest stderr line logged; the rest of it is cut. */
#define STDERR_LINE_MAX 512
/* Memory a run's samples may take: several times its output (entries,
 * strings and labels together, vg_batch_new). */
#define BATCH_FACTOR 8

struct exec_config {
  const cJSON *command; /* borrowed, checked in configure */
  const cJSON *env;
  char *dir;
  int64_t timeout_ms;
  char *format;
  uint64_t max_output;
};

static const struct vg_cfg_key exec_keys[] = {
    {"command", VG_CFG_JSON, NULL, offsetof(struct exec_config, command),
     "The program and its arguments, as an array of strings: "
     "[\"/usr/local/bin/modem-stats\", \"--json\"]. No shell is involved "
     "(no globbing, pipes or variables). A program name without a / is "
     "searched in the PATH of the program's environment; a relative path "
     "counts from the configuration file's folder.",
     true},
    {"env", VG_CFG_JSON, NULL, offsetof(struct exec_config, env),
     "Environment variables for the program, as {\"NAME\": \"value\"}. The "
     "program gets only these, PATH=" DEFAULT_PATH " and LANG=C.UTF-8 "
     "(both of which these may override): nothing of the daemon's own "
     "environment.",
     false},
    {"dir", VG_CFG_PATH, NULL, offsetof(struct exec_config, dir),
     "The program's working directory. Default: the daemon's (/ under "
     "systemd).",
     false},
    {"timeout", VG_CFG_DURATION, "10s",
     offsetof(struct exec_config, timeout_ms),
     "A run still going after this long fails: its whole process group gets "
     "SIGTERM, then SIGKILL 2 s later.",
     false},
    {"format", VG_CFG_STRING, NULL, offsetof(struct exec_config, format),
     "What the program writes to its standard output: \"influx\" (line "
     "protocol), \"prometheus\" (exposition text, HELP and TYPE kept), "
     "\"json\" or \"csv\" (through the mapping keys below).",
     true},
    {"max_output", VG_CFG_SIZE, "16MiB",
     offsetof(struct exec_config, max_output),
     "A run that writes more than this to its standard output fails (and "
     "its process group is killed).",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const exec_tables[] = {
    exec_keys, vg_mapping_keys, vg_payload_keys, NULL};

/* Bounds what one run may hold in memory (output, then batch). */
#define MAX_OUTPUT ((uint64_t)1 << 30)

enum phase {
  RUNNING,    /* within its timeout */
  TERMINATED, /* SIGTERM sent to the group */
  KILLED,     /* SIGKILL sent; waiting for the pipes */
};

/* One run, from spawn to done(); owned by the collector through `run`,
 * freed once its handles are closed and its output parsed. */
struct exec_run {
  struct exec_collector *ec;
  struct vg_batch_spares spare; /* lent by the collector: at most one */
  uv_process_t process;
  uv_pipe_t out, err;
  uv_timer_t timer;
  unsigned open_handles;
  enum phase phase;
  bool exited, out_open, err_open;
  int64_t exit_status;
  int term_signal;
  char *failure; /* owned; set when the collector failed the run itself
                  * (timeout, too much output, no start): it outranks the
                  * exit status */
  int failure_status;
  struct vg_buf output; /* stdout, capped at max_output + 1 */
  char err_chunk[4096];
  char err_line[STDERR_LINE_MAX];
  size_t err_len;
  bool err_cut; /* the line being read is longer than STDERR_LINE_MAX */
  char last_err[STDERR_LINE_MAX];
  unsigned err_suppressed; /* lines of this run not logged */
  /* Parsing, in the thread pool. */
  uv_work_t work;
  struct vg_batch *batch;
  int parse_rc;
  char parse_error[512];
};

struct exec_collector {
  struct exec_config cfg;
  struct vg_payload *payload;
  char **argv, **envp; /* NULL-terminated, owned */

  uv_loop_t *loop;
  struct vg_sink *sink;
  const char *name;

  struct exec_run *run; /* in flight; NULL: none */
  /* The last run's batch, emptied, for the next run to parse into rather
   * than into pages faulted in afresh; lent to the run. */
  struct vg_batch_spares spares;
  vg_collect_done done;
  void *done_arg;

  /* stderr lines logged in the minute from err_window_ms; the rest of a
   * run's are summed up when it ends */
  int64_t err_window_ms;
  unsigned err_logged;

  /* Never started: stop() closes it, so that `stopped` runs from the loop
   * and never from inside stop() (collectors/collector.h), even when no
   * run is in flight. */
  uv_idle_t closer;
  bool closer_closed;
  bool stopping;
  void (*stopped)(void *arg);
  void *stopped_arg;
};

/* --- stderr ---------------------------------------------------------- */

static void log_stderr_line(struct exec_run *r) {
  struct exec_collector *ec = r->ec;
  size_t n = r->err_len;
  if (n && r->err_line[n - 1] == '\r')
    n--;
  r->err_len = 0;
  if (!n)
    return;
  /* Control characters would garble the log line. */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)r->err_line[i] < 0x20 && r->err_line[i] != '\t')
      r->err_line[i] = '?';
  memcpy(r->last_err, r->err_line, n);
  r->last_err[n] = '\0';
  int64_t now = (int64_t)uv_now(ec->loop);
  if (now - ec->err_window_ms >= 60000) {
    ec->err_window_ms = now;
    ec->err_logged = 0;
  }
  if (ec->err_logged >= STDERR_LINES_PER_MINUTE) {
    r->err_suppressed++;
    return;
  }
  ec->err_logged++;
  vg_log(VG_LOG_WARNING, "collector %s: stderr: %s%s", ec->name, r->last_err,
         r->err_cut ? " [cut]" : "");
}

static void take_stderr(struct exec_run *r, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      log_stderr_line(r);
      r->err_cut = false;
    } else if (r->err_len < STDERR_LINE_MAX - 1) {
      r->err_line[r->err_len++] = p[i];
    } else {
      r->err_cut = true;
    }
  }
}

/* --- the run --------------------------------------------------------- */

static void run_closed(uv_handle_t *h);
static void finish(struct exec_run *r);

static void close_handle(struct exec_run *r, uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, run_closed);
}

/* Signals the run's process group: the program (its leader) and whatever
 * it started that stayed in it.  Only while the program runs or its pipes
 * are open: the group exists then, so its id cannot be another's. */
static void signal_group(struct exec_run *r, int sig) {
  if (r->process.pid > 0)
    kill(-r->process.pid, sig);
}

static void fail(struct exec_run *r, int status, char *why) {
  if (r->failure) {
    free(why);
    return;
  }
  r->failure = why;
  r->failure_status = status;
}

static void on_timer(uv_timer_t *t) {
  struct exec_run *r = t->data;
  struct exec_collector *ec = r->ec;
  switch (r->phase) {
  case RUNNING:
    fail(r, -ETIMEDOUT,
         vg_asprintf("timed out after %.3gs; its process group was killed",
                     (double)ec->cfg.timeout_ms / 1000.0));
    r->phase = TERMINATED;
    signal_group(r, SIGTERM);
    uv_timer_start(&r->timer, on_timer, KILL_GRACE_MS, 0);
    break;
  case TERMINATED:
    r->phase = KILLED;
    signal_group(r, SIGKILL);
    uv_timer_start(&r->timer, on_timer, KILL_GRACE_MS, 0);
    break;
  case KILLED:
    /* The group is dead; whatever still holds the pipes left it. */
    if (r->out_open || r->err_open)
      vg_log(VG_LOG_WARNING,
             "collector %s: a process that left the group of \"%s\" still "
             "holds its output open; closing it",
             ec->name, ec->argv[0]);
    if (r->out_open) {
      r->out_open = false;
      close_handle(r, (uv_handle_t *)&r->out);
    }
    if (r->err_open) {
      r->err_open = false;
      close_handle(r, (uv_handle_t *)&r->err);
    }
    break;
  }
}

/* Ends the run early (stop(), output too large): SIGTERM to the group
 * now, SIGKILL after the grace. */
static void cut_short(struct exec_run *r) {
  if (r->phase != RUNNING)
    return;
  r->phase = TERMINATED;
  signal_group(r, SIGTERM);
  uv_timer_start(&r->timer, on_timer, KILL_GRACE_MS, 0);
}

/* The program has exited and both pipes are closed: the timer goes too,
 * and finish() runs when the last handle is closed. */
static void maybe_over(struct exec_run *r) {
  if (r->exited && !r->out_open && !r->err_open)
    close_handle(r, (uv_handle_t *)&r->timer);
}

static void on_process_exit(uv_process_t *p, int64_t exit_status,
                            int term_signal) {
  struct exec_run *r = p->data;
  r->exited = true;
  r->exit_status = exit_status;
  r->term_signal = term_signal;
  close_handle(r, (uv_handle_t *)&r->process);
  maybe_over(r);
}

static void alloc_out(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct exec_run *r = h->data;
  size_t room = r->output.max - r->output.len;
  size_t want = room < 65536 ? room : 65536;
  if (want == 0 || vg_buf_reserve(&r->output, want) != 0) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = r->output.data + r->output.len;
  buf->len = want;
}

static void on_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct exec_run *r = s->data;
  struct exec_collector *ec = r->ec;
  if (nread > 0) {
    r->output.len += (size_t)nread;
    r->output.data[r->output.len] = '\0';
    if (r->output.len > ec->cfg.max_output) {
      fail(r, -EFBIG,
           vg_asprintf("wrote more than max_output (%llu bytes) to its "
                       "standard output; its process group was killed",
                       (unsigned long long)ec->cfg.max_output));
      cut_short(r);
      nread = UV_EOF; /* read no more */
    }
  }
  if (nread < 0) {
    if (nread != UV_EOF)
      fail(r, (int)nread,
           vg_asprintf("reading its standard output: %s",
                       uv_strerror((int)nread)));
    r->out_open = false;
    close_handle(r, (uv_handle_t *)&r->out);
    maybe_over(r);
  }
}

static void alloc_err(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct exec_run *r = h->data;
  buf->base = r->err_chunk;
  buf->len = sizeof r->err_chunk;
}

static void on_err(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct exec_run *r = s->data;
  if (nread > 0)
    take_stderr(r, buf->base, (size_t)nread);
  if (nread < 0) {
    log_stderr_line(r); /* a last line without its newline */
    r->err_open = false;
    close_handle(r, (uv_handle_t *)&r->err);
    maybe_over(r);
  }
}

/* On the loop: the run's batch is kept for the next. */
static void free_run(struct exec_run *r) {
  free(r->failure);
  vg_buf_free(&r->output);
  vg_batch_keep(&r->ec->spares, r->batch, VG_BATCH_KEEP_MAX);
  vg_batch_spares_move(&r->ec->spares, &r->spare, VG_BATCH_KEEP_MAX);
  free(r);
}

static void maybe_stopped(struct exec_collector *ec) {
  if (ec->run || !ec->closer_closed || !ec->stopped)
    return;
  void (*stopped)(void *) = ec->stopped;
  ec->stopped = NULL;
  stopped(ec->stopped_arg);
}

/* Answers the collect and lets the run go. */
static void complete(struct exec_run *r, int status, const char *error) {
  struct exec_collector *ec = r->ec;
  ec->run = NULL;
  free_run(r);
  vg_collect_done done = ec->done;
  ec->done = NULL;
  done(ec->done_arg, status, error);
  maybe_stopped(ec);
}

static void parse_work(uv_work_t *w) {
  struct exec_run *r = w->data;
  struct exec_collector *ec = r->ec;
  r->batch = vg_batch_take(
      &r->spare, (size_t)ec->cfg.max_output * BATCH_FACTOR + ((size_t)1 << 20));
  r->parse_rc = vg_payload_run(ec->payload, ec->argv[0],
                               r->output.data ? r->output.data : "",
                               r->output.len, vg_batch_emitter(r->batch),
                               r->parse_error, sizeof r->parse_error);
}

static void parse_after(uv_work_t *w, int status) {
  struct exec_run *r = w->data;
  struct exec_collector *ec = r->ec;
  if (status == UV_ECANCELED || ec->stopping) {
    complete(r, -ECANCELED, "stopped");
    return;
  }
  if (r->parse_rc) {
    char *why = vg_asprintf("its output cannot be read: %s", r->parse_error);
    complete(r, r->parse_rc, why);
    free(why);
    return;
  }
  if (vg_batch_overflowed(r->batch)) {
    complete(r, -EFBIG, "its output holds too many samples");
    return;
  }
  vg_sink_begin(ec->sink, ec->argv[0]);
  vg_batch_replay(r->batch, vg_sink_emitter(ec->sink));
  size_t removed = vg_sink_end(ec->sink);
  const struct vg_sink_stats *st = vg_sink_stats(ec->sink);
  vg_log(VG_LOG_DEBUG,
         "collector %s: %llu samples, %llu rejected, %zu series no longer "
         "reported removed",
         ec->name, (unsigned long long)st->round_samples,
         (unsigned long long)st->round_rejected, removed);
  complete(r, 0, NULL);
}

/* The last stderr line, as the end of an error message. */
static char *with_stderr(const struct exec_run *r, const char *what) {
  if (!r->last_err[0])
    return vg_strdup(what);
  return vg_asprintf("%s (stderr: %s)", what, r->last_err);
}

/* Every handle of the run is closed: judge it. */
static void finish(struct exec_run *r) {
  struct exec_collector *ec = r->ec;
  if (r->err_suppressed)
    vg_log(VG_LOG_WARNING,
           "collector %s: %u more lines on stderr not logged (at most %d a "
           "minute)",
           ec->name, r->err_suppressed, STDERR_LINES_PER_MINUTE);
  if (ec->stopping) {
    complete(r, -ECANCELED, "stopped");
    return;
  }
  char *what = NULL;
  int status = 0;
  if (r->failure) {
    what = vg_asprintf("\"%s\" %s", ec->argv[0], r->failure);
    status = r->failure_status;
  } else if (r->term_signal) {
    what = vg_asprintf("\"%s\" was killed by signal %d (%s)", ec->argv[0],
                       r->term_signal, strsignal(r->term_signal));
    status = -EIO;
  } else if (r->exit_status) {
    what = vg_asprintf("\"%s\" exited with status %lld", ec->argv[0],
                       (long long)r->exit_status);
    status = -EIO;
  }
  if (what) {
    /* Its output is discarded: the series of the last good run stay. */
    char *error = with_stderr(r, what);
    complete(r, status, error);
    free(error);
    free(what);
    return;
  }
  r->work.data = r;
  uv_queue_work(ec->loop, &r->work, parse_work, parse_after);
}

static void run_closed(uv_handle_t *h) {
  struct exec_run *r = h->data;
  if (--r->open_handles == 0)
    finish(r);
}

/* A run whose program could not even start: reported like any failed
 * run, once its handles are closed. */
static void spawn_failed(struct exec_run *r, int rc) {
  struct exec_collector *ec = r->ec;
  if (ec->cfg.dir)
    fail(r, rc,
         vg_asprintf("cannot be run in \"%s\": %s", ec->cfg.dir,
                     uv_strerror(rc)));
  else
    fail(r, rc, vg_asprintf("cannot be run: %s", uv_strerror(rc)));
  r->exited = true;
  r->out_open = r->err_open = false;
  close_handle(r, (uv_handle_t *)&r->process);
  close_handle(r, (uv_handle_t *)&r->out);
  close_handle(r, (uv_handle_t *)&r->err);
  close_handle(r, (uv_handle_t *)&r->timer);
}

static int exec_collect(void *ctx, vg_collect_done done, void *arg) {
  struct exec_collector *ec = ctx;
  if (ec->run || ec->stopping)
    return -EBUSY;
  struct exec_run *r = vg_calloc(1, sizeof *r);
  r->ec = ec;
  if (ec->spares.n)
    r->spare.b[r->spare.n++] = ec->spares.b[--ec->spares.n];
  vg_buf_init(&r->output, (size_t)ec->cfg.max_output + 1);
  uv_pipe_init(ec->loop, &r->out, 0);
  uv_pipe_init(ec->loop, &r->err, 0);
  uv_timer_init(ec->loop, &r->timer);
  r->process.data = r->out.data = r->err.data = r->timer.data = r;
  r->open_handles = 4;
  ec->run = r;
  ec->done = done;
  ec->done_arg = arg;

  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
       .data.stream = (uv_stream_t *)&r->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
       .data.stream = (uv_stream_t *)&r->err},
  };
  /* DETACHED: setsid() in the child, so that the program leads a process
   * group of its own that a timeout can kill whole. */
  uv_process_options_t o = {
      .exit_cb = on_process_exit,
      .file = ec->argv[0],
      .args = ec->argv,
      .env = ec->envp,
      .cwd = ec->cfg.dir,
      .flags = UV_PROCESS_DETACHED,
      .stdio_count = 3,
      .stdio = stdio,
  };
  int rc = uv_spawn(ec->loop, &r->process, &o);
  if (rc < 0) {
    spawn_failed(r, rc);
    return 0;
  }
  r->out_open = r->err_open = true;
  uv_read_start((uv_stream_t *)&r->out, alloc_out, on_out);
  uv_read_start((uv_stream_t *)&r->err, alloc_err, on_err);
  /* From now, not from the start of this loop iteration. */
  uv_update_time(ec->loop);
  uv_timer_start(&r->timer, on_timer, (uint64_t)ec->cfg.timeout_ms, 0);
  return 0;
}

static int exec_start(void *ctx, const struct vg_collector_env *env) {
  struct exec_collector *ec = ctx;
  ec->loop = env->loop;
  ec->sink = env->sink;
  ec->name = env->name;
  ec->err_window_ms = (int64_t)uv_now(ec->loop);
  uv_idle_init(ec->loop, &ec->closer);
  ec->closer.data = ec;
  return 0;
}

static void closer_closed(uv_handle_t *h) {
  struct exec_collector *ec = h->data;
  ec->closer_closed = true;
  maybe_stopped(ec);
}

static void exec_stop(void *ctx, void (*stopped)(void *arg), void *arg) {
  struct exec_collector *ec = ctx;
  ec->stopping = true;
  ec->stopped = stopped;
  ec->stopped_arg = arg;
  uv_close((uv_handle_t *)&ec->closer, closer_closed);
  struct exec_run *r = ec->run;
  if (!r)
    return;
  /* A run being parsed is cancelled if it has not started, or discarded
   * when it ends; a program still running is killed, and its end (exit
   * and pipes closed) answers the collect and then `stopped`. */
  if (r->open_handles == 0)
    uv_cancel((uv_req_t *)&r->work);
  else if (!r->exited || r->out_open || r->err_open)
    cut_short(r);
}

static void free_strings(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

static void exec_destroy(void *ctx) {
  struct exec_collector *ec = ctx;
  free_strings(ec->argv);
  free_strings(ec->envp);
  vg_batch_spares_free(&ec->spares);
  vg_payload_free(ec->payload);
  vg_cfg_release(exec_keys, &ec->cfg);
  free(ec);
}

static int read_command(struct exec_collector *ec, struct vg_cfg_err *err) {
  const cJSON *cmd = ec->cfg.command;
  int n = cJSON_GetArraySize(cmd);
  if (!cJSON_IsArray(cmd) || n == 0)
    return vg_cfg_error(err, cmd,
                        "\"command\": expected an array of strings, the "
                        "program first: [\"/usr/local/bin/stats\", \"--all\"]");
  ec->argv = vg_calloc((size_t)n + 1, sizeof *ec->argv);
  int i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, cmd) {
    if (!cJSON_IsString(item))
      return vg_cfg_error(err, item, "\"command\": expected a string");
    const char *s = item->valuestring;
    if (i == 0 && !s[0])
      return vg_cfg_error(err, item, "\"command\": the program is empty");
    /* The program's relative path counts from the configuration file's
     * folder, as every path in it does; a bare name is searched in PATH. */
    if (i == 0 && s[0] != '/' && strchr(s, '/')) {
      while (s[0] == '.' && s[1] == '/')
        s += 2; /* "dir/./x" would read badly in every message */
      ec->argv[i++] =
          vg_asprintf("%s/%s", vg_cfg_doc_node_dir(err->doc, item), s);
    } else
      ec->argv[i++] = vg_strdup(s);
  }
  return 0;
}

static bool env_name_ok(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s == '=')
      return false;
  return true;
}

static int read_env(struct exec_collector *ec, struct vg_cfg_err *err) {
  const cJSON *env = ec->cfg.env;
  if (env && !cJSON_IsObject(env))
    return vg_cfg_error(err, env,
                        "\"env\": expected an object of variable names to "
                        "string values");
  size_t n = 2 + (size_t)cJSON_GetArraySize(env);
  ec->envp = vg_calloc(n + 1, sizeof *ec->envp);
  size_t k = 0;
  bool path = false, lang = false;
  const cJSON *item;
  cJSON_ArrayForEach(item, env) {
    if (!env_name_ok(item->string))
      return vg_cfg_error_key(
          err, item, "\"env\": \"%s\" is not a variable name", item->string);
    if (!cJSON_IsString(item))
      return vg_cfg_error(err, item, "\"env\": \"%s\": expected a string",
                          item->string);
    path = path || strcmp(item->string, "PATH") == 0;
    lang = lang || strcmp(item->string, "LANG") == 0;
    ec->envp[k++] = vg_asprintf("%s=%s", item->string, item->valuestring);
  }
  if (!path)
    ec->envp[k++] = vg_strdup("PATH=" DEFAULT_PATH);
  if (!lang)
    ec->envp[k++] = vg_strdup("LANG=C.UTF-8");
  return 0;
}

static int exec_configure(void **ctx, const cJSON *cfg,
                          struct vg_cfg_err *err) {
  struct exec_collector *ec = vg_calloc(1, sizeof *ec);
  int rc = vg_cfg_apply(exec_keys, &ec->cfg, cfg, err);
  if (!rc)
    rc = read_command(ec, err);
  if (!rc)
    rc = read_env(ec, err);
  if (!rc && ec->cfg.timeout_ms <= 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "timeout"),
                      "\"timeout\" must be longer than 0");
  if (!rc && (ec->cfg.max_output == 0 || ec->cfg.max_output > MAX_OUTPUT))
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "max_output"),
                      "\"max_output\": from 1 byte to 1GiB");
  int format = rc ? -1 : vg_payload_format_parse(ec->cfg.format);
  if (!rc && format < 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "format"),
                      "\"format\": expected %s, got \"%s\"",
                      vg_payload_format_names, ec->cfg.format);
  if (!rc)
    rc = vg_payload_new(&ec->payload, (enum vg_payload_format)format, cfg, err);
  if (rc) {
    exec_destroy(ec);
    return rc;
  }
  *ctx = ec;
  return 0;
}

const struct vg_collector_type vg_collector_exec = {
    .name = "exec",
    .description = "Runs a program on every interval and reads its standard "
                   "output as line protocol, exposition text, JSON or CSV.",
    .config_tables = exec_tables,
    .configure = exec_configure,
    .start = exec_start,
    .collect = exec_collect,
    .stop = exec_stop,
    .destroy = exec_destroy,
};
