/* daemon/util/log.h - one line per event on stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a <N> syslog
 * priority prefix that journald understands and no timestamp, since the
 * journal adds its own; elsewhere each line starts with an ISO 8601
 * timestamp and the priority name.  Messages name their subject first
 * ("collector villages: ..."), as collectd's do.
 *
 * A complaint (after collectd's c_complain) is an error that may repeat on
 * every run: it is logged the first time, then at most once a minute while
 * it keeps repeating, with the count of repeats; vg_complaint_release()
 * logs the recovery once.  Repeats are told apart by their words, so a
 * complaint's message must not carry what changes from one repeat to the
 * next (a count, a size): vg_complain_n() adds such a count up between
 * the lines it logs ("..., 3120 records not journaled since the last
 * message").
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum vg_log_level {
  VG_LOG_ERR = 3,
  VG_LOG_WARNING = 4,
  VG_LOG_NOTICE = 5,
  VG_LOG_INFO = 6,
  VG_LOG_DEBUG = 7,
};

/* Decides the line format from the environment; call once at start. */
void vg_log_init(void);
void vg_log_set_level(int level);
int vg_log_level_parse(const char *name); /* -1 when unknown */
/* Whether a message of this level would be logged. */
bool vg_log_enabled(int level);
/* Tests capture lines instead of writing them to stderr. */
void vg_log_set_output(void (*fn)(void *arg, int level, const char *line),
                       void *arg);
/* Tests move time forward; NULL restores CLOCK_MONOTONIC. */
void vg_log_set_clock(uint64_t (*now_ms)(void));
/* The clock complaints are timed by (monotonic milliseconds), for
 * rate-limited messages of other shapes. */
uint64_t vg_log_now_ms(void);

void vg_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct vg_complaint {
  uint64_t message_hash; /* of the last message logged */
  uint64_t last_logged_ms;
  uint64_t repeats; /* since last_logged_ms, not yet reported */
  uint64_t items;   /* vg_complain_n: counted since the last line */
  bool active;
};

#define VG_COMPLAINT_INTERVAL_MS 60000

void vg_complain(struct vg_complaint *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A complaint about `n` things at once (records that could not be
 * written, say), named `what`: the line logged says how many since the
 * last one. */
void vg_complain_n(struct vg_complaint *c, int level, uint64_t n,
                   const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void vg_complaint_release(struct vg_complaint *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
