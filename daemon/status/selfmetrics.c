/* daemon/status/selfmetrics.c - the daemon's own health as metrics.
 *
 * Rendered fresh on each scrape from the instances' counters: there are a
 * few dozen lines, so caching would not pay.  Counters are written the
 * way each format wants them: text 0.0.4 names the family with its
 * _total suffix, OpenMetrics without it.
 */
#include "daemon/status/selfmetrics.h"
#include "collectors/listen.h"
#include "daemon/daemon.h"
#include "daemon/generation.h"
#include "daemon/model/expfmt.h"
#include "daemon/util/clock.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct page {
  struct vg_buf *out;
  bool om;
  int rc;
};

static void family(struct page *p, const char *name, const char *type,
                   const char *help) {
  size_t len = strlen(name);
  bool counter = strcmp(type, "counter") == 0;
  /* OpenMetrics names a counter family without its _total suffix. */
  int name_len = (int)(counter && p->om ? len - 6 : len);
  if (!p->rc)
    p->rc = vg_buf_printf(p->out, "# HELP %.*s %s\n# TYPE %.*s %s\n", name_len,
                          name, help, name_len, name, type);
}

static void value(struct page *p, const char *name, const char *labels,
                  double v) {
  char num[VG_EXPFMT_DOUBLE_BUFSIZE];
  vg_expfmt_format_double(v, num);
  if (!p->rc)
    p->rc = vg_buf_printf(p->out, "%s%s %s\n", name, labels, num);
}

/* `{collector="x"}` with the value escaped. */
static void label1(struct vg_buf *b, const char *name, const char *v) {
  vg_buf_reset(b);
  vg_buf_printf(b, "{%s=\"", name);
  vg_expfmt_escape_label_value(b, v, strlen(v));
  vg_buf_puts(b, "\"}");
}

typedef double (*collector_value)(const struct vg_collector_instance *c);

static void per_collector(struct page *p, const struct vg_generation *gen,
                          const char *name, const char *type, const char *help,
                          collector_value fn) {
  family(p, name, type, help);
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t i = 0; gen && i < gen->ncollectors; i++) {
    label1(&labels, "collector", gen->collectors[i].name);
    value(p, name, labels.data, fn(&gen->collectors[i]));
  }
  vg_buf_free(&labels);
}

static double c_runs(const struct vg_collector_instance *c) {
  return (double)c->runs;
}
static double c_errors(const struct vg_collector_instance *c) {
  return (double)c->errors;
}
static double c_skipped(const struct vg_collector_instance *c) {
  return (double)c->skipped_runs;
}
static double c_up(const struct vg_collector_instance *c) {
  if (!c->type->collect) /* a push type: up while it listens */
    return c->state == VG_COLLECTOR_RUNNING;
  return c->runs > 0 && !c->last_error;
}
static double c_last_success(const struct vg_collector_instance *c) {
  return (double)c->last_success_ms / 1000.0;
}
static double c_duration(const struct vg_collector_instance *c) {
  return c->last_duration_s;
}
static double c_interval(const struct vg_collector_instance *c) {
  return (double)c->next_delay_ms / 1000.0;
}
static double c_samples(const struct vg_collector_instance *c) {
  return c->sink ? (double)vg_sink_stats(c->sink)->samples_total : 0;
}
static double c_round_samples(const struct vg_collector_instance *c) {
  return c->sink ? (double)vg_sink_stats(c->sink)->round_samples : 0;
}

static double c_journal_refused(const struct vg_collector_instance *c) {
  return c->sink ? (double)vg_sink_stats(c->sink)->journal_refused : 0;
}

static double c_late(const struct vg_collector_instance *c) {
  return c->sink ? (double)vg_sink_stats(c->sink)->late : 0;
}

static void rejected(struct page *p, const struct vg_generation *gen) {
  const char *name = "villagemetrics_rejected_values_total";
  family(p, name, "counter",
         "Values rejected by reason (bad number, out of the catalog's range, "
         "bad label, ...); see /api/v1/status for the latest with their "
         "location.");
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t i = 0; gen && i < gen->ncollectors; i++) {
    const struct vg_collector_instance *c = &gen->collectors[i];
    for (int r = 0; r < VG_REJECT_REASON_COUNT; r++) {
      vg_buf_reset(&labels);
      vg_buf_puts(&labels, "{collector=\"");
      vg_expfmt_escape_label_value(&labels, c->name, strlen(c->name));
      vg_buf_printf(&labels, "\",reason=\"%s\"}", vg_reject_reason_name(r));
      value(p, name, labels.data,
            c->sink ? (double)vg_sink_stats(c->sink)->rejected[r] : 0);
    }
  }
  vg_buf_free(&labels);
}

static void push_requests(struct page *p, const struct vg_generation *gen) {
  static const char *const codes[VG_PUSH_CODES] = {[VG_PUSH_400] = "400",
                                                   [VG_PUSH_401] = "401",
                                                   [VG_PUSH_413] = "413",
                                                   [VG_PUSH_415] = "415",
                                                   [VG_PUSH_503] = "503"};
  const char *requests = "villagemetrics_push_requests_total";
  const char *bytes = "villagemetrics_push_received_bytes_total";
  bool any = false;
  for (size_t i = 0; gen && i < gen->ncollectors; i++)
    any |= gen->collectors[i].type->push_stats != NULL;
  if (!any)
    return;
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 0)
      family(p, requests, "counter",
             "Push requests answered, by endpoint and status code (2xx: all "
             "taken; 400: some refused, see rejected_values; 401: bad "
             "credentials; 413: over a cap; 503: the journal could not take "
             "them).");
    else
      family(p, bytes, "counter",
             "Bytes of push request bodies received, as sent.");
    for (size_t i = 0; i < gen->ncollectors; i++) {
      const struct vg_collector_instance *c = &gen->collectors[i];
      if (!c->type->push_stats || !c->ctx)
        continue;
      const struct vg_push_stats *st = c->type->push_stats(c->ctx);
      for (size_t e = 0; e < st->nendpoints; e++) {
        for (int k = 0; k < (pass ? 1 : VG_PUSH_CODES); k++) {
          vg_buf_reset(&labels);
          vg_buf_puts(&labels, "{collector=\"");
          vg_expfmt_escape_label_value(&labels, c->name, strlen(c->name));
          vg_buf_printf(&labels, "\",endpoint=\"%s\"", st->endpoint[e].path);
          if (!pass)
            vg_buf_printf(&labels, ",code=\"%s\"",
                          k == VG_PUSH_2XX ? st->endpoint[e].ok : codes[k]);
          vg_buf_putc(&labels, '}');
          value(p, pass ? bytes : requests, labels.data,
                pass ? (double)st->endpoint[e].bytes
                     : (double)st->endpoint[e].requests[k]);
        }
      }
    }
  }
  vg_buf_free(&labels);
}

/* What the push collectors' requests hold of their memory budgets. */
static void push_memory(struct page *p, const struct vg_generation *gen) {
  static const struct {
    const char *name, *help;
  } gauges[] = {
      {"villagemetrics_push_memory_bytes",
       "Memory the push requests in flight hold (bodies, decompressed "
       "copies, parse trees, samples waiting for the store), of the "
       "collector's max_memory."},
      {"villagemetrics_push_memory_peak_bytes",
       "The most memory the push requests in flight have held together "
       "since start."},
      {"villagemetrics_push_memory_limit_bytes",
       "The collector's max_memory: past it requests are answered 503 "
       "(413 when one alone needs more)."},
  };
  bool any = false;
  for (size_t i = 0; gen && i < gen->ncollectors; i++)
    any |= gen->collectors[i].type->push_stats != NULL;
  if (!any)
    return;
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t g = 0; g < sizeof gauges / sizeof *gauges; g++) {
    family(p, gauges[g].name, "gauge", gauges[g].help);
    for (size_t i = 0; i < gen->ncollectors; i++) {
      const struct vg_collector_instance *c = &gen->collectors[i];
      if (!c->type->push_stats || !c->ctx)
        continue;
      const struct vg_push_stats *st = c->type->push_stats(c->ctx);
      uint64_t v = g == 0   ? st->memory_bytes
                   : g == 1 ? st->memory_peak_bytes
                            : st->memory_limit_bytes;
      vg_buf_reset(&labels);
      vg_buf_puts(&labels, "{collector=\"");
      vg_expfmt_escape_label_value(&labels, c->name, strlen(c->name));
      vg_buf_puts(&labels, "\"}");
      value(p, gauges[g].name, labels.data, (double)v);
    }
  }
  vg_buf_free(&labels);
}

/* The figures of a push exporter: its pusher's, or those it left when it
 * stopped (a reload in progress); NULL for pull exporters. */
static const struct vg_pusher_stats *
push_stats(const struct vg_exporter_instance *e) {
  if (e->pusher)
    return vg_pusher_stats(e->pusher);
  return e->last_stats;
}

typedef double (*exporter_value)(const struct vg_exporter_instance *e,
                                 const struct vg_pusher_stats *ps,
                                 const struct vg_journal_reader_stats *rs);

static void per_exporter(struct page *p, const struct vg_daemon *d,
                         const struct vg_generation *gen, const char *name,
                         const char *type, const char *help,
                         exporter_value fn) {
  family(p, name, type, help);
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t i = 0; gen && i < gen->nexporters; i++) {
    const struct vg_exporter_instance *e = &gen->exporters[i];
    const struct vg_pusher_stats *ps = push_stats(e);
    if (!ps || !e->reader)
      continue;
    struct vg_journal_reader_stats rs;
    vg_journal_reader_stats(e->reader, &rs);
    label1(&labels, "exporter", e->name);
    value(p, name, labels.data, fn(e, ps, &rs));
  }
  vg_buf_free(&labels);
}

static double e_sent(const struct vg_exporter_instance *e,
                     const struct vg_pusher_stats *ps,
                     const struct vg_journal_reader_stats *rs) {
  return (double)ps->sent;
}
static double e_skipped(const struct vg_exporter_instance *e,
                        const struct vg_pusher_stats *ps,
                        const struct vg_journal_reader_stats *rs) {
  return (double)ps->skipped;
}
static double e_retried(const struct vg_exporter_instance *e,
                        const struct vg_pusher_stats *ps,
                        const struct vg_journal_reader_stats *rs) {
  return (double)ps->retried;
}
static double e_lag(const struct vg_exporter_instance *e,
                    const struct vg_pusher_stats *ps,
                    const struct vg_journal_reader_stats *rs) {
  /* fresh_first: the live cursor sent some of what lies past the main. */
  return (double)(rs->lag_records - (ps->live_sent < rs->lag_records
                                         ? ps->live_sent
                                         : rs->lag_records));
}
static double e_lag_seconds(const struct vg_exporter_instance *e,
                            const struct vg_pusher_stats *ps,
                            const struct vg_journal_reader_stats *rs) {
  if (!rs->lag_records || !rs->oldest_ts_ms)
    return 0;
  double lag = (double)(vg_clock_now_ms() - rs->oldest_ts_ms) / 1000.0;
  return lag > 0 ? lag : 0;
}
static double e_last_success(const struct vg_exporter_instance *e,
                             const struct vg_pusher_stats *ps,
                             const struct vg_journal_reader_stats *rs) {
  return (double)ps->last_success_ms / 1000.0;
}
static double e_backoff(const struct vg_exporter_instance *e,
                        const struct vg_pusher_stats *ps,
                        const struct vg_journal_reader_stats *rs) {
  return (double)ps->backoff_ms / 1000.0;
}
static double e_journal_dropped(const struct vg_exporter_instance *e,
                                const struct vg_pusher_stats *ps,
                                const struct vg_journal_reader_stats *rs) {
  return (double)rs->dropped_records;
}

static void exporter_dropped(struct page *p, const struct vg_generation *gen) {
  const char *name = "villagemetrics_exporter_dropped_samples_total";
  family(p, name, "counter",
         "Samples an exporter gave up on, by reason: bad_request and "
         "out_of_order (the sink refused them), too_old (max_age), "
         "not_representable (NaN for InfluxDB), ...");
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t i = 0; gen && i < gen->nexporters; i++) {
    const struct vg_exporter_instance *e = &gen->exporters[i];
    const struct vg_pusher_stats *ps = push_stats(e);
    for (size_t k = 0; ps && k < ps->ndropped; k++) {
      vg_buf_reset(&labels);
      vg_buf_puts(&labels, "{exporter=\"");
      vg_expfmt_escape_label_value(&labels, e->name, strlen(e->name));
      vg_buf_printf(&labels, "\",reason=\"%s\"}", ps->dropped[k].reason);
      value(p, name, labels.data, (double)ps->dropped[k].count);
    }
  }
  vg_buf_free(&labels);
}

/* 1 with the reason while the sink refuses the sender and delivery waits
 * for a reload; 0 without a reason while it delivers. */
static void exporter_paused(struct page *p, const struct vg_generation *gen) {
  const char *name = "villagemetrics_exporter_paused";
  family(p, name, "gauge",
         "1 while delivery is paused because the sink refuses the sender "
         "(reason: unauthorized, forbidden, not_found, ...): fix the "
         "configuration and reload.");
  struct vg_buf labels;
  vg_buf_init(&labels, 4096);
  for (size_t i = 0; gen && i < gen->nexporters; i++) {
    const struct vg_exporter_instance *e = &gen->exporters[i];
    const struct vg_pusher_stats *ps = push_stats(e);
    if (!ps || !e->reader)
      continue;
    vg_buf_reset(&labels);
    vg_buf_puts(&labels, "{exporter=\"");
    vg_expfmt_escape_label_value(&labels, e->name, strlen(e->name));
    if (ps->paused)
      vg_buf_printf(&labels, "\",reason=\"%s\"}", ps->paused);
    else
      vg_buf_puts(&labels, "\"}");
    value(p, name, labels.data, ps->paused ? 1 : 0);
  }
  vg_buf_free(&labels);
}

static void push_metrics(struct page *p, const struct vg_daemon *d,
                         const struct vg_generation *gen) {
  if (!d->journal)
    return;
  per_exporter(p, d, gen, "villagemetrics_exporter_sent_samples_total",
               "counter", "Samples the sink accepted.", e_sent);
  per_exporter(
      p, d, gen, "villagemetrics_exporter_retried_samples_total", "counter",
      "Samples sent again after a failure (each try counts).", e_retried);
  per_exporter(p, d, gen, "villagemetrics_exporter_skipped_samples_total",
               "counter",
               "Samples read again that the sink had already (a restart "
               "before their cursor was saved, a cursor set back): not sent "
               "again.",
               e_skipped);
  exporter_dropped(p, gen);
  per_exporter(p, d, gen, "villagemetrics_exporter_lag_samples", "gauge",
               "Samples in the journal not yet delivered.", e_lag);
  per_exporter(p, d, gen, "villagemetrics_exporter_lag_seconds", "gauge",
               "Age of the oldest sample not yet delivered.", e_lag_seconds);
  per_exporter(p, d, gen,
               "villagemetrics_exporter_last_success_timestamp_seconds",
               "gauge", "When the sink last accepted a batch; 0: never.",
               e_last_success);
  per_exporter(p, d, gen, "villagemetrics_exporter_backoff_seconds", "gauge",
               "The wait before the next try; 0 while delivering.", e_backoff);
  exporter_paused(p, gen);
  per_exporter(p, d, gen, "villagemetrics_journal_dropped_samples_total",
               "counter",
               "Samples that left the journal (max_bytes reached) before "
               "this exporter delivered them.",
               e_journal_dropped);
  struct vg_journal_stats js;
  vg_journal_stats(d->journal, &js);
  family(p, "villagemetrics_journal_bytes", "gauge",
         "Disk used by the journal's segments.");
  value(p, "villagemetrics_journal_bytes", "", (double)js.bytes);
  family(p, "villagemetrics_journal_max_bytes", "gauge",
         "The journal's cap (journal.max_bytes): past it the oldest segment "
         "is dropped.");
  value(p, "villagemetrics_journal_max_bytes", "", (double)js.max_bytes);
  family(p, "villagemetrics_journal_segments", "gauge",
         "Segment files of the journal.");
  value(p, "villagemetrics_journal_segments", "", (double)js.segments);
  family(p, "villagemetrics_journal_appended_samples_total", "counter",
         "Samples written to the journal.");
  value(p, "villagemetrics_journal_appended_samples_total", "",
        (double)js.appended_records);
  family(p, "villagemetrics_journal_failed_samples_total", "counter",
         "Samples lost because the journal could not write them (disk "
         "full): they never reach the push exporters.");
  value(p, "villagemetrics_journal_failed_samples_total", "",
        (double)js.failed_records);
  family(p, "villagemetrics_journal_corrupt_samples_total", "counter",
         "Samples lost to damaged journal records (a torn write, flipped "
         "bytes).");
  value(p, "villagemetrics_journal_corrupt_samples_total", "",
        (double)js.corrupt_records);
  family(p, "villagemetrics_journal_fsyncs_total", "counter",
         "Group commits made durable with fsync.");
  value(p, "villagemetrics_journal_fsyncs_total", "", (double)js.fsyncs);
  family(p, "villagemetrics_journal_fsync_seconds_total", "counter",
         "Time spent in fsync.");
  value(p, "villagemetrics_journal_fsync_seconds_total", "",
        js.fsync_seconds_total);
  family(p, "villagemetrics_journal_last_fsync_seconds", "gauge",
         "How long the last fsync took.");
  value(p, "villagemetrics_journal_last_fsync_seconds", "",
        js.last_fsync_seconds);
}

/* The HTTP server's connections: what it closed or refused to keep the
 * others served (daemon/net/httpd_conns.c). */
static void http_metrics(struct page *p, const struct vg_daemon *d) {
  struct vg_httpd_stats hs;
  vg_httpd_stats(d->http, &hs);
  family(p, "villagemetrics_http_connections", "gauge",
         "Connections open to the HTTP server.");
  value(p, "villagemetrics_http_connections", "", hs.connections);
  family(p, "villagemetrics_http_requests_in_progress", "gauge",
         "Requests whose headers are in and whose answer is not yet sent.");
  value(p, "villagemetrics_http_requests_in_progress", "", hs.requests);
  family(p, "villagemetrics_http_max_connections", "gauge",
         "http.max_connections in effect (lowered to fit the open files "
         "limit).");
  value(p, "villagemetrics_http_max_connections", "", hs.max_connections);
  family(p, "villagemetrics_http_closed_connections_total", "counter",
         "Connections without a request in progress closed by the server: "
         "headers not in by header_timeout, or to make room past a limit.");
  value(p, "villagemetrics_http_closed_connections_total",
        "{reason=\"header_timeout\"}", (double)hs.closed_header_timeout);
  value(p, "villagemetrics_http_closed_connections_total",
        "{reason=\"address_limit\"}", (double)hs.closed_address_limit);
  value(p, "villagemetrics_http_closed_connections_total",
        "{reason=\"connection_limit\"}", (double)hs.closed_connection_limit);
  family(p, "villagemetrics_http_busy_responses_total", "counter",
         "Requests answered 503 because max_connections (or "
         "max_connections_per_address) requests were in progress.");
  value(p, "villagemetrics_http_busy_responses_total", "", (double)hs.busy);
}

static void process_metrics(struct page *p, const struct vg_daemon *d) {
  long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  unsigned long utime = 0, stime = 0;
  long rss = 0;
  FILE *f = fopen("/proc/self/stat", "r");
  if (f) {
    /* Fields 14 and 15 (utime, stime) follow the parenthesised command,
     * which may hold spaces: skip past its closing parenthesis. */
    char line[1024];
    if (fgets(line, sizeof line, f)) {
      char *rp = strrchr(line, ')');
      if (rp)
        sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime);
    }
    fclose(f);
  }
  f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%*s %ld", &rss) != 1)
      rss = 0;
    fclose(f);
  }
  int fds = 0;
  DIR *dir = opendir("/proc/self/fd");
  if (dir) {
    while (readdir(dir))
      fds++;
    closedir(dir);
    fds -= 3; /* ".", ".." and the directory's own descriptor */
  }
  family(p, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.");
  value(p, "process_cpu_seconds_total", "",
        (double)(utime + stime) / (double)ticks);
  family(p, "process_resident_memory_bytes", "gauge",
         "Resident memory size in bytes.");
  value(p, "process_resident_memory_bytes", "", (double)rss * (double)page);
  family(p, "process_open_fds", "gauge", "Number of open file descriptors.");
  value(p, "process_open_fds", "", fds);
  family(p, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.");
  value(p, "process_start_time_seconds", "", (double)d->started_ms / 1000.0);
}

int vg_selfmetrics_render(const struct vg_daemon *d, struct vg_buf *out,
                          bool openmetrics) {
  struct page p = {.out = out, .om = openmetrics};
  /* During a reload the old generation still runs until the new starts. */
  const struct vg_generation *gen = d->live ? d->live : d->retiring;

  family(&p, "villagemetrics_build_info", "gauge",
         "Always 1; the version label says which villagemetricsd runs.");
  value(&p, "villagemetrics_build_info", "{version=\"" VG_VERSION "\"}", 1);
  family(&p, "villagemetrics_ready", "gauge",
         "1 once the first collection round has finished.");
  value(&p, "villagemetrics_ready", "", d->ready);
  family(&p, "villagemetrics_config_last_reload_successful", "gauge",
         "Whether the last reload (SIGHUP) was accepted; 1 before any.");
  value(&p, "villagemetrics_config_last_reload_successful", "",
        d->last_reload_error == NULL);
  family(&p, "villagemetrics_config_reloads_total", "counter",
         "Reloads by result; a failed reload keeps the old configuration.");
  value(&p, "villagemetrics_config_reloads_total", "{result=\"success\"}",
        (double)d->reloads_ok);
  value(&p, "villagemetrics_config_reloads_total", "{result=\"failure\"}",
        (double)d->reloads_failed);

  per_collector(&p, gen, "villagemetrics_collector_up", "gauge",
                "1 if the collector's last run succeeded.", c_up);
  per_collector(&p, gen, "villagemetrics_collector_runs_total", "counter",
                "Runs of the collector.", c_runs);
  per_collector(&p, gen, "villagemetrics_collector_errors_total", "counter",
                "Runs that failed.", c_errors);
  per_collector(&p, gen, "villagemetrics_collector_skipped_runs_total",
                "counter",
                "Runs that came due while the previous run was still going: "
                "skipped, not queued.",
                c_skipped);
  per_collector(&p, gen,
                "villagemetrics_collector_last_success_timestamp_seconds",
                "gauge", "When the collector last ran successfully; 0: never.",
                c_last_success);
  per_collector(&p, gen, "villagemetrics_collector_last_duration_seconds",
                "gauge", "How long the collector's last run took.", c_duration);
  per_collector(&p, gen, "villagemetrics_collector_interval_seconds", "gauge",
                "The interval until the next run: the configured one, or "
                "longer while backing off after failures.",
                c_interval);
  per_collector(&p, gen, "villagemetrics_collector_samples_total", "counter",
                "Samples accepted from the collector.", c_samples);
  per_collector(&p, gen, "villagemetrics_collector_last_round_samples", "gauge",
                "Samples accepted in the collector's last round.",
                c_round_samples);
  per_collector(&p, gen, "villagemetrics_late_samples_total", "counter",
                "Samples older than the one /metrics shows for their series, "
                "which stays; the push exporters still get them.",
                c_late);
  rejected(&p, gen);
  push_requests(&p, gen);
  push_memory(&p, gen);
  if (d->journal)
    per_collector(&p, gen,
                  "villagemetrics_collector_journal_refused_samples_total",
                  "counter",
                  "Samples accepted but refused by the journal (shutting "
                  "down, or more waiting for the disk than it holds): they "
                  "never reach the push exporters.",
                  c_journal_refused);
  push_metrics(&p, d, gen);

  struct vg_store_stats st;
  vg_store_stats(d->store, &st);
  family(&p, "villagemetrics_series", "gauge",
         "Series held in memory for /metrics.");
  value(&p, "villagemetrics_series", "", (double)st.series);
  family(&p, "villagemetrics_label_sets", "gauge",
         "Distinct label sets held (shared between series).");
  value(&p, "villagemetrics_label_sets", "", (double)st.label_sets);
  family(&p, "villagemetrics_overlapping_series", "gauge",
         "Series provided by more than one source (the newest sample wins); "
         "/api/v1/status names the sources.");
  value(&p, "villagemetrics_overlapping_series", "",
        (double)st.overlapping_series);
  if (d->journal) {
    family(&p, "villagemetrics_stale_markers_total", "counter",
           "Stale markers journaled for series that left the store, for "
           "the push exporters.");
    value(&p, "villagemetrics_stale_markers_total", "",
          (double)st.stale_markers);
    family(&p, "villagemetrics_stale_markers_refused_total", "counter",
           "Stale markers the journal refused (shutting down, or too much "
           "waiting for the disk): the sinks keep those series' last value.");
    value(&p, "villagemetrics_stale_markers_refused_total", "",
          (double)st.stale_markers_refused);
  }
  if (d->http)
    http_metrics(&p, d);
  process_metrics(&p, d);
  return p.rc;
}
