/* daemon/util/log.c - line logging and rate-limited complaints. */
#include "daemon/util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int max_level = VG_LOG_INFO;
static bool journal_format;
static void (*output_fn)(void *arg, int level, const char *line);
static void *output_arg;
static uint64_t (*clock_fn)(void);

static const char *const level_names[] = {
    [VG_LOG_ERR] = "error",     [VG_LOG_WARNING] = "warning",
    [VG_LOG_NOTICE] = "notice", [VG_LOG_INFO] = "info",
    [VG_LOG_DEBUG] = "debug",
};

void vg_log_init(void) {
  journal_format = getenv("JOURNAL_STREAM") != NULL;
}

void vg_log_set_level(int level) {
  max_level = level;
}

bool vg_log_enabled(int level) {
  return level <= max_level;
}

int vg_log_level_parse(const char *name) {
  for (int i = VG_LOG_ERR; i <= VG_LOG_DEBUG; i++)
    if (strcasecmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

void vg_log_set_output(void (*fn)(void *arg, int level, const char *line),
                       void *arg) {
  output_fn = fn;
  output_arg = arg;
}

void vg_log_set_clock(uint64_t (*now_ms)(void)) {
  clock_fn = now_ms;
}

uint64_t vg_log_now_ms(void) {
  if (clock_fn)
    return clock_fn();
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(int level, const char *msg) {
  if (output_fn) {
    output_fn(output_arg, level, msg);
    return;
  }
  /* One fprintf per line so that concurrent writers (there are none in the
   * daemon, but tests fork) never interleave within a line. */
  if (journal_format) {
    fprintf(stderr, "<%d>%s\n", level, msg);
  } else {
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, ts.tv_nsec / 1000000,
            level_names[level], msg);
  }
}

static void vlog(int level, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* A message is one line: embedded newlines from remote answers or file
   * contents would forge log lines. */
  for (char *p = msg; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  emit(level, msg);
}

void vg_log(int level, const char *fmt, ...) {
  if (level > max_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

static uint64_t hash_text(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void complain(struct vg_complaint *c, int level, uint64_t n,
                     const char *what, const char *msg) {
  uint64_t h = hash_text(msg);
  uint64_t now = vg_log_now_ms();
  bool same = c->active && h == c->message_hash;
  c->items = (same ? c->items : 0) + n;
  if (same && now - c->last_logged_ms < VG_COMPLAINT_INTERVAL_MS) {
    c->repeats++;
    return;
  }
  char count[96] = "";
  if (what)
    snprintf(count, sizeof count, "; %llu %s%s", (unsigned long long)c->items,
             what, c->repeats ? " since the last message" : "");
  if (c->repeats == 0)
    vg_log(level, "%s%s", msg, count);
  else if (same)
    vg_log(level, "%s%s (repeated %llu times since last logged)", msg, count,
           (unsigned long long)c->repeats);
  else
    vg_log(level, "%s%s (the previous error repeated %llu times)", msg, count,
           (unsigned long long)c->repeats);
  c->active = true;
  c->message_hash = h;
  c->last_logged_ms = now;
  c->repeats = 0;
  c->items = 0;
}

void vg_complain(struct vg_complaint *c, int level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  complain(c, level, 0, NULL, msg);
}

void vg_complain_n(struct vg_complaint *c, int level, uint64_t n,
                   const char *what, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  complain(c, level, n, what, msg);
}

void vg_complaint_release(struct vg_complaint *c, const char *fmt, ...) {
  if (!c->active)
    return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->repeats > 0 && c->items)
    vg_log(VG_LOG_NOTICE,
           "%s (the error repeated %llu more times, for %llu more)", msg,
           (unsigned long long)c->repeats, (unsigned long long)c->items);
  else if (c->repeats > 0)
    vg_log(VG_LOG_NOTICE, "%s (the error repeated %llu more times)", msg,
           (unsigned long long)c->repeats);
  else
    vg_log(VG_LOG_NOTICE, "%s", msg);
  c->active = false;
  c->repeats = 0;
  c->items = 0;
}
