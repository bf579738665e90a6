/* daemon/status/status_page.c - the status page for people.
 *
 * The page at `/` is rendered here, on the server, from the document that
 * /api/v1/status serves.  The fixed parts -- styles, the refresh script,
 * header and footer -- are daemon/status/status_page.html, compiled in by
 * cmake/embed.cmake; its markers <!--@title-->, <!--@status--> and
 * <!--@docs--> are replaced by what is rendered here.  The page's script only
 * fetches the page again and swaps in its <main>: with one renderer the page
 * reads the same with scripting off, and escaping happens in one place.
 *
 * Every string from the document goes through text(): collector names,
 * paths, cell values and servers' answers come from configurations, files
 * and the network, and may hold <, & or quotes.  Numbers are formatted
 * here; nothing else of the document reaches the page unescaped.
 *
 * Must never: keep state between requests, or read anything but the
 * document (what the page shows, the API shows).
 */
#include "daemon/status/status_page.h"
#include "daemon/util/mem.h"
#include "daemon/model/sample.h"

#include "status_page_html.h" /* generated: vg_status_page_html */

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct page {
  struct vg_buf *out;
  int64_t now_ms; /* the daemon's clock, from the document */
  int rc;         /* the first append that failed */
};

/* --- output ---------------------------------------------------------- */

static void raw(struct page *p, const char *s, size_t n) {
  if (!p->rc)
    p->rc = vg_buf_append(p->out, s, n);
}

static void out(struct page *p, const char *s) {
  raw(p, s, strlen(s));
}

static void outf(struct page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void outf(struct page *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (!p->rc)
    p->rc = vg_buf_vprintf(p->out, fmt, ap);
  va_end(ap);
}

/* Text for an element or a quoted attribute value. */
static void text(struct page *p, const char *s) {
  while (s && *s) {
    size_t plain = strcspn(s, "<>&\"'");
    raw(p, s, plain);
    s += plain;
    switch (*s) {
    case '<':
      out(p, "&lt;");
      break;
    case '>':
      out(p, "&gt;");
      break;
    case '&':
      out(p, "&amp;");
      break;
    case '"':
      out(p, "&quot;");
      break;
    case '\'':
      out(p, "&#39;");
      break;
    default:
      return; /* the end */
    }
    s++;
  }
}

/* --- the document ---------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* NULL when absent, null or not a string. */
static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = get(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = get(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool is(const char *a, const char *b) {
  return a && strcmp(a, b) == 0;
}

/* The document's times are "2024-05-01T08:00:00Z"; 0 when absent. */
static int64_t time_ms(const char *iso) {
  struct tm tm = {0};
  const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
  if (!end || *end)
    return 0;
  return (int64_t)timegm(&tm) * 1000;
}

/* --- numbers for people ---------------------------------------------- */

/* 1234567 -> "1,234,567". */
static void count(struct page *p, double v) {
  char digits[32];
  snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v);
  size_t n = strlen(digits);
  for (size_t i = 0; i < n; i++) {
    raw(p, digits + i, 1);
    if (i + 1 < n && (n - i - 1) % 3 == 0)
      out(p, ",");
  }
}

/* Numbers keep their unit on the same line: "808&nbsp;ms". */
#define NBSP "&nbsp;"

/* 5632 -> "5.5 KiB", 1 << 30 -> "1 GiB". */
static void bytes(struct page *p, double v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
    v /= 1024;
    u++;
  }
  bool tenths = u > 0 && v < 10 && v != floor(v);
  outf(p, tenths ? "%.1f" NBSP "%s" : "%.0f" NBSP "%s", v, units[u]);
}

/* 0.0004 -> "under 0.1 %", 0.0123 -> "1.2 %", 0.996 -> "99 %": never
 * rounded up to full. */
static void percent(struct page *p, double fraction) {
  double pc = fraction * 100;
  if (pc <= 0)
    out(p, "0" NBSP "%");
  else if (pc < 0.1)
    out(p, "under 0.1" NBSP "%");
  else if (pc < 10)
    outf(p, "%.1f" NBSP "%%", floor(pc * 10) / 10);
  else
    outf(p, "%.0f" NBSP "%%", floor(pc));
}

/* 0.0017 -> "1.7 ms", 95 -> "1 min 35 s", 200000 -> "2 d 7 h". */
static void duration(struct page *p, double s) {
  if (s < 0.001)
    outf(p, "%.0f" NBSP "µs", s * 1e6);
  else if (s < 0.01)
    outf(p, "%.1f" NBSP "ms", s * 1e3);
  else if (s < 1)
    outf(p, "%.0f" NBSP "ms", s * 1e3);
  else if (s < 10)
    outf(p, "%.1f" NBSP "s", s);
  else if (s < 60)
    outf(p, "%.0f" NBSP "s", s);
  else {
    long t = lround(s);
    long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
    if (d && h)
      outf(p, "%ld" NBSP "d %ld" NBSP "h", d, h);
    else if (d)
      outf(p, "%ld" NBSP "d", d);
    else if (h && m)
      outf(p, "%ld" NBSP "h %ld" NBSP "min", h, m);
    else if (h)
      outf(p, "%ld" NBSP "h", h);
    else if (m < 10 && sec)
      outf(p, "%ld" NBSP "min %ld" NBSP "s", m, sec);
    else
      outf(p, "%ld" NBSP "min", m);
  }
}

/* An age: whole seconds, then as duration(). */
static void age(struct page *p, double s) {
  if (s < 60)
    outf(p, "%.0f" NBSP "s", floor(s));
  else
    duration(p, s);
}

/* "2024-05-01 08:00:00 UTC" */
static void moment(struct page *p, int64_t ms) {
  char when[64];
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  out(p, when);
}

/* "12 s ago" in a <time> whose title is the moment itself. */
static void ago(struct page *p, const char *iso) {
  int64_t ms = time_ms(iso);
  if (!ms) {
    out(p, "never");
    return;
  }
  out(p, "<time datetime=\"");
  text(p, iso);
  out(p, "\" title=\"");
  moment(p, ms);
  out(p, "\">");
  double s = (double)(p->now_ms - ms) / 1000.0;
  if (fabs(s) < 1) {
    out(p, "just now");
  } else if (s > 0) {
    age(p, s);
    out(p, " ago");
  } else {
    out(p, "in ");
    age(p, -s);
  }
  out(p, "</time>");
}

/* What the instances' counters count from (the document's
 * counters_since): "since start", or "since the reload 5 min ago" -- a
 * reload makes new collectors and exporters, whose counts start at 0. */
static void since(struct page *p, const cJSON *root) {
  const cJSON *from = get(root, "counters_since");
  if (is(str(from, "event"), "reload")) {
    out(p, "since the reload ");
    ago(p, str(from, "time"));
  } else {
    out(p, "since start");
  }
}

/* --- pieces ---------------------------------------------------------- */

enum tone { IDLE, OK, WARN, BAD };
static const char *const tone_class[] = {"idle", "ok", "warn", "bad"};

static void badge(struct page *p, enum tone tone, const char *label) {
  outf(p, "<span class=\"badge %s\">", tone_class[tone]);
  text(p, label ? label : "unknown");
  out(p, "</span>");
}

/* Opens a cell; on phones `label` is written before its content. */
static void cell(struct page *p, const char *label, const char *cls) {
  outf(p, "<td data-label=\"%s\"", label);
  if (cls)
    outf(p, " class=\"%s\"", cls);
  out(p, ">");
}

/* A cell with nothing to say: a dash on wide screens, gone on phones. */
static void empty_cell(struct page *p, const char *label) {
  cell(p, label, "none");
  out(p, "<span class=muted>&mdash;</span></td>");
}

static void head(struct page *p, const char *const *columns) {
  out(p, "<thead><tr>");
  for (; *columns; columns++)
    outf(p, "<th>%s</th>", *columns);
  out(p, "</tr></thead><tbody>");
}

static void tile(struct page *p, const char *anchor, enum tone tone,
                 const char *title) {
  outf(p, "<a class=\"tile %s\" href=\"#%s\"><span>%s</span><b>",
       tone_class[tone], anchor, title);
}

static double rejected_total(const cJSON *collector) {
  double n = 0;
  const cJSON *r;
  cJSON_ArrayForEach(r, get(collector, "rejected")) {
    n += cJSON_GetNumberValue(r);
  }
  return n;
}

static enum tone collector_tone(const cJSON *c) {
  const char *state = str(c, "state");
  return is(state, "ok") || is(state, "listening") ? OK
         : is(state, "failing")                    ? BAD
                                                   : IDLE;
}

static enum tone exporter_tone(const cJSON *e) {
  const char *state = str(e, "state");
  if (is(state, "up to date") || is(state, "serving"))
    return OK;
  if (is(state, "sending"))
    return WARN;
  return is(state, "backing off") || is(state, "not running") ||
                 is(state, "paused")
             ? BAD
             : IDLE;
}

static double journal_fill(const cJSON *j) {
  double max = num(j, "max_bytes");
  return max > 0 ? num(j, "bytes") / max : 0;
}

static enum tone journal_tone(const cJSON *j) {
  double fill = journal_fill(j);
  return fill > 0.95 ? BAD : fill > 0.8 ? WARN : OK;
}

/* --- the title ------------------------------------------------------- */

/* What needs someone: failing collectors, exporters that cannot deliver,
 * a journal at its cap, a refused reload. */
static int problems(const cJSON *root) {
  int n = 0;
  const cJSON *o;
  cJSON_ArrayForEach(o, get(root, "collectors")) {
    n += collector_tone(o) == BAD;
  }
  cJSON_ArrayForEach(o, get(root, "exporters")) {
    n += exporter_tone(o) == BAD;
  }
  const cJSON *journal = get(root, "journal");
  n += cJSON_IsObject(journal) && journal_tone(journal) == BAD;
  n += str(get(root, "config"), "last_reload_error") != NULL;
  return n;
}

static void render_title(struct page *p, const cJSON *root) {
  int n = problems(root);
  if (n)
    outf(p, "(%d) ", n);
  out(p, "villagemetricsd");
  if (str(root, "hostname")) {
    out(p, " on ");
    text(p, str(root, "hostname"));
  }
}

/* --- summary --------------------------------------------------------- */

/* Sources that provide the same series: each shows the newest sample of
 * either, and a series stays while one of them provides it. */
static void render_overlaps(struct page *p, const cJSON *store) {
  const cJSON *o;
  int shown = 0, more = 0;
  cJSON_ArrayForEach(o, get(store, "overlaps")) {
    if (shown == 5) {
      more++;
      continue;
    }
    shown++;
    out(p, "<p class=\"banner warn\">");
    count(p, num(o, "series"));
    out(p, " series come from two sources:");
    const cJSON *src;
    const char *sep = " ";
    cJSON_ArrayForEach(src, get(o, "sources")) {
      out(p, sep);
      out(p, "<b>");
      text(p, str(src, "collector"));
      out(p, "</b> (");
      text(p, str(src, "source"));
      out(p, ")");
      sep = " and ";
    }
    out(p, "; /metrics shows the newer sample.</p>");
  }
  if (more)
    outf(p,
         "<p class=\"banner warn\">%d more pairs of sources share "
         "series: see /api/v1/status.</p>",
         more);
}

static void render_summary(struct page *p, const cJSON *root) {
  out(p, "<p class=meta>");
  text(p, str(root, "version"));
  if (str(root, "hostname")) {
    out(p, " on <b>");
    text(p, str(root, "hostname"));
    out(p, "</b>");
  }
  out(p, " &middot; started ");
  ago(p, str(root, "started"));
  out(p, " &middot; ");
  count(p, num(get(root, "store"), "series"));
  out(p, " series &middot; as of ");
  moment(p, p->now_ms);
  out(p, "</p>");
  if (!cJSON_IsTrue(get(root, "ready")))
    out(p, "<p class=\"banner warn\">Not ready yet: the first collection "
           "round is still running (a large file, or one still being "
           "written).</p>");
  const char *reload_error = str(get(root, "config"), "last_reload_error");
  if (reload_error) {
    const char *when = str(get(root, "config"), "last_reload_refused");
    out(p, "<p class=\"banner bad\"><b>The last reload");
    if (when) {
      out(p, ", ");
      ago(p, when);
      out(p, ",");
    }
    out(p, " was refused</b>; the configuration from before it still runs: ");
    text(p, reload_error);
    out(p, "</p>");
  }
  render_overlaps(p, get(root, "store"));
}

static void render_tiles(struct page *p, const cJSON *root) {
  out(p, "<div class=tiles>");
  int ok = 0, failing = 0, total = 0;
  const cJSON *o;
  cJSON_ArrayForEach(o, get(root, "collectors")) {
    total++;
    ok += collector_tone(o) == OK;
    failing += collector_tone(o) == BAD;
  }
  tile(p, "collectors",
       failing                ? BAD
       : ok == total && total ? OK
                              : IDLE,
       "Collectors");
  if (failing)
    outf(p, "%d failing</b><small>of %d</small></a>", failing, total);
  else
    outf(p, "%d of %d ok</b><small>%s</small></a>", ok, total,
         !total        ? "none configured"
         : ok == total ? "all working"
                       : "starting");

  int bad = 0, behind = 0;
  total = 0;
  double lag = 0;
  cJSON_ArrayForEach(o, get(root, "exporters")) {
    total++;
    bad += exporter_tone(o) == BAD;
    behind += num(o, "lag_samples") > 0;
    lag += num(o, "lag_samples");
  }
  tile(p, "exporters",
       bad      ? BAD
       : behind ? WARN
       : total  ? OK
                : IDLE,
       "Exporters");
  if (bad)
    outf(p, "%d failing</b><small>of %d; ", bad, total);
  else if (behind)
    outf(p, "%d behind</b><small>of %d; ", behind, total);
  else
    outf(p, "%d of %d ok</b><small>", total, total);
  if (lag) {
    count(p, lag);
    out(p, " samples waiting");
  } else {
    out(p, total ? "nothing waiting" : "none configured");
  }
  out(p, "</small></a>");

  const cJSON *j = get(root, "journal");
  if (cJSON_IsObject(j)) {
    tile(p, "journal", journal_tone(j), "Journal");
    percent(p, journal_fill(j));
    out(p, " full</b><small>");
    bytes(p, num(j, "bytes"));
    out(p, " of ");
    bytes(p, num(j, "max_bytes"));
    out(p, "</small></a>");
  } else {
    tile(p, "journal", IDLE, "Journal");
    out(p, "not used</b><small>no push exporter</small></a>");
  }

  double rejected = 0;
  cJSON_ArrayForEach(o, get(root, "collectors")) {
    rejected += rejected_total(o);
  }
  tile(p, "rejected", rejected ? WARN : OK, "Rejected values");
  count(p, rejected);
  out(p, "</b><small>");
  since(p, root);
  out(p, "</small></a></div>");
}

/* --- collectors ------------------------------------------------------ */

/* The last rejection of a collector: its latest problem with the input. */
static const cJSON *last_rejection(const cJSON *c) {
  const cJSON *recent = get(c, "recent_rejections");
  int n = cJSON_GetArraySize(recent);
  return n ? cJSON_GetArrayItem(recent, n - 1) : NULL;
}

static void rejection_text(struct page *p, const cJSON *r) {
  out(p, "<code>");
  text(p, str(r, "where"));
  out(p, "</code> ");
  if (str(r, "village")) {
    out(p, "<b>");
    text(p, str(r, "village"));
    out(p, "</b>: ");
  }
  text(p, str(r, "detail"));
}

static void collector_row(struct page *p, const cJSON *c) {
  out(p, "<tr><td class=title data-label=Collector><b>");
  text(p, str(c, "name"));
  out(p, "</b> <small>");
  text(p, str(c, "type"));
  out(p, "</small></td>");

  cell(p, "State", NULL);
  badge(p, collector_tone(c), str(c, "state"));
  out(p, "</td>");

  cell(p, "Last run", NULL);
  ago(p, str(c, "last_run"));
  if (str(c, "last_run")) {
    out(p, "<br><small>took ");
    duration(p, num(c, "last_duration_seconds"));
    out(p, is(str(c, "state"), "failing") ? ", retry every " : ", every ");
    duration(p, num(c, "interval_seconds"));
    out(p, "</small>");
  }
  out(p, "</td>");

  cell(p, "Last success", NULL);
  ago(p, str(c, "last_success"));
  out(p, "</td>");

  cell(p, "Runs", "num");
  count(p, num(c, "runs"));
  if (num(c, "errors")) {
    out(p, "<br><small class=err>");
    count(p, num(c, "errors"));
    out(p, " failed</small>");
  }
  out(p, "</td>");

  cell(p, "Samples", "num");
  count(p, num(c, "samples_total"));
  out(p, "</td>");

  double rejected = rejected_total(c);
  cell(p, "Rejected", "num");
  if (rejected) {
    out(p, "<a href=\"#rejected\">");
    count(p, rejected);
    out(p, "</a>");
  } else {
    out(p, "0");
  }
  out(p, "</td>");

  const char *error = str(c, "last_error");
  const cJSON *r = last_rejection(c);
  if (error) {
    cell(p, "Last error", "what");
    out(p, "<span class=err>");
    text(p, error);
    out(p, "</span></td>");
  } else if (r) {
    cell(p, "Last error", "what");
    out(p, "<small>latest rejected value:</small><br>");
    rejection_text(p, r);
    out(p, "</td>");
  } else {
    empty_cell(p, "Last error");
  }
  out(p, "</tr>");
}

static void render_collectors(struct page *p, const cJSON *root) {
  out(p, "<section id=collectors><h2>Collectors</h2>");
  const cJSON *list = get(root, "collectors");
  if (!cJSON_GetArraySize(list)) {
    out(p, "<p class=empty>No collector is configured.</p></section>");
    return;
  }
  static const char *const columns[] = {
      "Collector", "State",      "Last run", "Last success", "Runs", "Samples",
      "Rejected",  "Last error", NULL};
  out(p, "<p class=meta>Runs, samples and rejected values count ");
  since(p, root);
  out(p, ".</p><table class=cards>");
  head(p, columns);
  const cJSON *c;
  cJSON_ArrayForEach(c, list) {
    collector_row(p, c);
  }
  out(p, "</tbody></table></section>");
}

/* --- files and their receipts ---------------------------------------- */

static void receipt_cells(struct page *p, const cJSON *r) {
  const cJSON *x;
  out(p, "<ul class=cells>");
  cJSON_ArrayForEach(x, get(r, "rejections")) {
    out(p, "<li><b>");
    text(p, str(x, "village") ? str(x, "village") : "(no village)");
    out(p, "</b>");
    if (str(x, "cell") && *str(x, "cell")) {
      out(p, " <code>");
      text(p, str(x, "cell"));
      out(p, "</code>");
    }
    out(p, ": ");
    text(p, str(x, "detail"));
    out(p, "</li>");
  }
  if (num(r, "more_rejections")) {
    out(p, "<li class=muted>and ");
    count(p, num(r, "more_rejections"));
    out(p, " more</li>");
  }
  out(p, "</ul>");
}

static void file_row(struct page *p, const cJSON *f) {
  const cJSON *r = get(f, "receipt");
  out(p, "<tr><td class=title data-label=File><code>");
  text(p, str(f, "path"));
  out(p, "</code></td>");
  cell(p, "Read", NULL);
  if (str(f, "error")) {
    badge(p, BAD, "unreadable");
    out(p, " <span class=err>");
    text(p, str(f, "error"));
    out(p, "</span>");
  } else if (cJSON_IsObject(r)) {
    ago(p, str(r, "read_at"));
  } else {
    out(p, "<span class=muted>waiting</span>");
  }
  out(p, "</td>");
  if (!cJSON_IsObject(r) || str(r, "error")) {
    cell(p, "Result", "what");
    /* An unreadable file's receipt holds the error the Read cell shows. */
    if (cJSON_IsObject(r) && str(f, "error") &&
        strcmp(str(f, "error"), str(r, "error")) == 0)
      out(p, "<span class=muted>not read</span>");
    else if (cJSON_IsObject(r))
      text(p, str(r, "error"));
    out(p, "</td></tr>");
    return;
  }
  cell(p, "Result", "what");
  out(p, "rows ");
  count(p, num(r, "rows_accepted"));
  out(p, " accepted, ");
  count(p, num(r, "rows_rejected"));
  out(p, " with rejected cells; values ");
  count(p, num(r, "values_accepted"));
  out(p, " accepted, ");
  count(p, num(r, "values_rejected"));
  out(p, " rejected; villages ");
  count(p, num(r, "villages_matched"));
  out(p, " matched, ");
  count(p, num(r, "villages_unmatched"));
  out(p, " unmatched");
  const cJSON *names = get(r, "unmatched_villages");
  if (cJSON_GetArraySize(names)) {
    out(p, " (");
    const cJSON *n;
    bool first = true;
    cJSON_ArrayForEach(n, names) {
      if (!first)
        out(p, ", ");
      first = false;
      text(p, cJSON_IsString(n) ? n->valuestring : "");
    }
    out(p, ")");
  }
  if (cJSON_GetArraySize(get(r, "rejections")))
    receipt_cells(p, r);
  out(p, "</td></tr>");
}

/* Every file of the file collectors, with what became of its last
 * reading: what a field worker who dropped it asks first. */
static void render_files(struct page *p, const cJSON *root) {
  const cJSON *c;
  bool any = false;
  cJSON_ArrayForEach(c, get(root, "collectors")) {
    const cJSON *files = get(c, "files");
    if (!cJSON_IsArray(files))
      continue;
    if (!any)
      out(p, "<section id=files><h2>Files and their receipts</h2>");
    any = true;
    out(p, "<h3>");
    text(p, str(c, "name"));
    out(p, "</h3>");
    if (!cJSON_GetArraySize(files)) {
      out(p, "<p class=empty>No file matches.</p>");
      continue;
    }
    static const char *const columns[] = {"File", "Read", "Result", NULL};
    out(p, "<table class=cards>");
    head(p, columns);
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
      file_row(p, f);
    }
    out(p, "</tbody></table>");
    if (num(c, "files_not_listed")) {
      out(p, "<p><small>and ");
      count(p, num(c, "files_not_listed"));
      out(p, " more files; see /api/v1/status</small></p>");
    }
  }
  if (any)
    out(p, "</section>");
}

/* --- exporters ------------------------------------------------------- */

/* Pull: Prometheus scrapes it; there is nothing to deliver, and when
 * Grafana shows "No data" the question is whether, when and by whom it is
 * scraped. */
static void pull_cells(struct page *p, const cJSON *e) {
  const cJSON *sc = get(e, "scrapes");
  empty_cell(p, "Behind");
  if (cJSON_IsObject(sc)) {
    cell(p, "Last scrape", NULL);
    ago(p, str(sc, "last"));
    if (str(sc, "client")) {
      out(p, "<br><small>by ");
      text(p, str(sc, "client"));
      if (str(sc, "user_agent") && *str(sc, "user_agent")) {
        out(p, " (");
        text(p, str(sc, "user_agent"));
        out(p, ")");
      }
      out(p, "</small>");
    }
    out(p, "</td>");
    cell(p, "Scrapes", "num");
    count(p, num(sc, "count"));
    out(p, num(sc, "count") == 1 ? " scrape" : " scrapes");
    out(p, "<br><small>since start</small></td>");
  } else {
    empty_cell(p, "Last success");
    empty_cell(p, "Delivered");
  }
  empty_cell(p, "Next try");
  empty_cell(p, "Last error");
  out(p, "</tr>");
}

static void exporter_row(struct page *p, const cJSON *e) {
  out(p, "<tr><td class=title data-label=Exporter><b>");
  text(p, str(e, "name"));
  out(p, "</b> <small>");
  text(p, str(e, "type"));
  out(p, "</small></td>");

  cell(p, "State", NULL);
  badge(p, exporter_tone(e), str(e, "state"));
  out(p, "</td>");

  if (!is(str(e, "kind"), "push") || !get(e, "lag_samples")) {
    pull_cells(p, e);
    return;
  }

  cell(p, "Behind", "num");
  count(p, num(e, "lag_samples"));
  out(p, NBSP "samples");
  if (num(e, "lag_seconds") > 0) {
    out(p, "<br><small>oldest ");
    age(p, num(e, "lag_seconds"));
    out(p, " old</small>");
  }
  out(p, "</td>");

  cell(p, "Last success", NULL);
  ago(p, str(e, "last_success"));
  out(p, "</td>");

  cell(p, "Delivered", "num");
  count(p, num(e, "sent_samples"));
  out(p, " sent");
  if (num(e, "tries")) {
    /* Requests, not samples: a batch tried six times is six tries. */
    out(p, "<br><small>");
    count(p, num(e, "tries"));
    out(p, num(e, "tries") == 1 ? " try" : " tries");
    if (num(e, "failed_tries")) {
      out(p, ", <span class=err>");
      count(p, num(e, "failed_tries"));
      out(p, " failed</span>");
    }
    out(p, "</small>");
  }
  if (num(e, "skipped_samples")) {
    /* Read again after a restart, and found delivered before. */
    out(p, "<br><small>");
    count(p, num(e, "skipped_samples"));
    out(p, " had already</small>");
  }
  const cJSON *d;
  cJSON_ArrayForEach(d, get(e, "dropped_samples")) {
    out(p, "<br><small class=err>");
    count(p, cJSON_GetNumberValue(d));
    out(p, " dropped: ");
    text(p, d->string);
    out(p, "</small>");
  }
  if (num(e, "journal_dropped_samples")) {
    out(p, "<br><small class=err>");
    count(p, num(e, "journal_dropped_samples"));
    out(p, " lost: journal full</small>");
  }
  out(p, "</td>");

  if (str(e, "paused")) {
    /* Nothing is tried until someone acts: say what to do. */
    cell(p, "Next try", NULL);
    out(p, "<span class=err>after a reload</span><br><small>paused: ");
    text(p, str(e, "paused"));
    out(p, "</small></td>");
  } else if (num(e, "backoff_seconds") > 0) {
    cell(p, "Next try", NULL);
    out(p, "within" NBSP);
    duration(p, num(e, "backoff_seconds"));
    out(p, "</td>");
  } else {
    empty_cell(p, "Next try");
  }

  const char *error = str(e, "last_error");
  if (error) {
    cell(p, "Last error", "what");
    out(p, "<span class=err>");
    text(p, error);
    out(p, "</span></td>");
  } else {
    empty_cell(p, "Last error");
  }
  out(p, "</tr>");
}

static void render_exporters(struct page *p, const cJSON *root) {
  out(p, "<section id=exporters><h2>Exporters</h2>");
  const cJSON *list = get(root, "exporters");
  if (!cJSON_GetArraySize(list)) {
    out(p, "<p class=empty>No exporter is configured.</p></section>");
    return;
  }
  static const char *const columns[] = {"Exporter",     "State",     "Behind",
                                        "Last success", "Delivered", "Next try",
                                        "Last error",   NULL};
  out(p, "<p class=meta>Samples sent and tries count ");
  since(p, root);
  out(p, ".</p><table class=cards>");
  head(p, columns);
  const cJSON *e;
  cJSON_ArrayForEach(e, list) {
    exporter_row(p, e);
  }
  out(p, "</tbody></table></section>");
}

/* --- journal --------------------------------------------------------- */

static void render_journal(struct page *p, const cJSON *root) {
  out(p, "<section id=journal><h2>Journal</h2>");
  const cJSON *j = get(root, "journal");
  if (!cJSON_IsObject(j)) {
    out(p, "<p class=empty>Not used: samples are journaled only for push "
           "exporters (remote_write, influxdb).</p></section>");
    return;
  }
  double fill = journal_fill(j);
  out(p, "<dl class=facts><dt>Disk used</dt><dd>");
  bytes(p, num(j, "bytes"));
  out(p, " of ");
  bytes(p, num(j, "max_bytes"));
  out(p, " (");
  percent(p, fill);
  out(p, ")");
  outf(p, "<div class=\"bar %s\"><i style=\"width:%.1f%%\"></i></div>",
       tone_class[journal_tone(j)], fill > 1 ? 100 : fill * 100);
  out(p, "<small>past the cap the oldest segment goes, and what an exporter "
         "had not sent is counted as lost</small></dd>");
  out(p, "<dt>Segments</dt><dd>");
  count(p, num(j, "segments"));
  out(p, "</dd><dt>Samples written</dt><dd>");
  count(p, num(j, "appended_samples"));
  if (num(j, "failed_samples") || num(j, "corrupt_samples")) {
    out(p, " <span class=err>(");
    count(p, num(j, "failed_samples"));
    out(p, " lost to failed writes, ");
    count(p, num(j, "corrupt_samples"));
    out(p, " to damage)</span>");
  }
  out(p, "</dd><dt>fsync</dt><dd>");
  if (num(j, "fsyncs")) {
    out(p, "last took ");
    duration(p, num(j, "last_fsync_seconds"));
    out(p, ", ");
    duration(p, num(j, "fsync_seconds_total") / num(j, "fsyncs"));
    out(p, " on average over ");
    count(p, num(j, "fsyncs"));
  } else {
    out(p, "none yet");
  }
  out(p, "</dd></dl></section>");
}

/* --- rejected values ------------------------------------------------- */

struct recent {
  const cJSON *collector, *rejection;
  int64_t ms;
  int order; /* position in the document: later is newer at equal ms */
};

static int newest_first(const void *a, const void *b) {
  const struct recent *x = a, *y = b;
  if (x->ms != y->ms)
    return x->ms < y->ms ? 1 : -1;
  return y->order - x->order;
}

static void render_by_reason(struct page *p, const cJSON *root,
                             const cJSON *collectors) {
  static const char *const columns[] = {"Reason", "Count", "Collectors",
                                        "Meaning", NULL};
  out(p, "<h3>By reason, ");
  since(p, root);
  out(p, "</h3><table class=cards>");
  head(p, columns);
  for (int r = 0; r < VG_REJECT_REASON_COUNT; r++) {
    const char *name = vg_reject_reason_name(r);
    double total = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, collectors) {
      total += num(get(c, "rejected"), name);
    }
    if (!total)
      continue;
    outf(p, "<tr><td class=title data-label=Reason><code>%s</code></td>", name);
    cell(p, "Count", "num");
    count(p, total);
    out(p, "</td>");
    cell(p, "Collectors", NULL);
    const char *sep = "";
    cJSON_ArrayForEach(c, collectors) {
      double n = num(get(c, "rejected"), name);
      if (!n)
        continue;
      out(p, sep);
      text(p, str(c, "name"));
      out(p, " <small>(");
      count(p, n);
      out(p, ")</small>");
      sep = ", ";
    }
    out(p, "</td>");
    cell(p, "Meaning", NULL);
    text(p, vg_reject_reason_help(r));
    out(p, "</td></tr>");
  }
  out(p, "</tbody></table>");
}

static void render_recent(struct page *p, const cJSON *collectors) {
  size_t n = 0;
  const cJSON *c, *r;
  cJSON_ArrayForEach(c, collectors) {
    n += (size_t)cJSON_GetArraySize(get(c, "recent_rejections"));
  }
  if (!n)
    return;
  struct recent *list = vg_calloc(n, sizeof *list); /* freed below */
  n = 0;
  cJSON_ArrayForEach(c, collectors) {
    cJSON_ArrayForEach(r, get(c, "recent_rejections")) {
      list[n] = (struct recent){c, r, time_ms(str(r, "time")), (int)n};
      n++;
    }
  }
  qsort(list, n, sizeof *list, newest_first);
  static const char *const columns[] = {"Value at",  "Village", "What", "When",
                                        "Collector", "Reason",  NULL};
  out(p, "<h3>Latest, newest first</h3><table class=cards>");
  head(p, columns);
  for (size_t i = 0; i < n; i++) {
    out(p, "<tr><td class=title data-label=\"Value at\"><code>");
    text(p, str(list[i].rejection, "where"));
    out(p, "</code></td>");
    const char *village = str(list[i].rejection, "village");
    if (village) {
      cell(p, "Village", NULL);
      text(p, village);
      out(p, "</td>");
    } else {
      empty_cell(p, "Village");
    }
    cell(p, "What", "what");
    text(p, str(list[i].rejection, "detail"));
    out(p, "</td>");
    cell(p, "When", NULL);
    ago(p, str(list[i].rejection, "time"));
    out(p, "</td>");
    cell(p, "Collector", NULL);
    text(p, str(list[i].collector, "name"));
    out(p, "</td>");
    cell(p, "Reason", NULL);
    out(p, "<code>");
    text(p, str(list[i].rejection, "reason"));
    out(p, "</code></td></tr>");
  }
  out(p, "</tbody></table><p><small>The last 20 of each collector; the log "
         "has every one.</small></p>");
  free(list);
}

static void render_rejected(struct page *p, const cJSON *root) {
  out(p, "<section id=rejected><h2>Rejected values</h2>");
  const cJSON *collectors = get(root, "collectors");
  double total = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, collectors) {
    total += rejected_total(c);
  }
  if (!total) {
    out(p, "<p class=empty>No value has been rejected ");
    since(p, root);
    out(p, ".</p></section>");
    return;
  }
  render_by_reason(p, root, collectors);
  render_recent(p, collectors);
  out(p, "</section>");
}

/* --- configuration --------------------------------------------------- */

static void render_config(struct page *p, const cJSON *root) {
  const cJSON *cfg = get(root, "config");
  out(p, "<section id=config><h2>Configuration</h2><dl class=facts>"
         "<dt>File</dt><dd><code>");
  text(p, str(cfg, "path"));
  out(p, "</code></dd><dt>Last reload</dt><dd>");
  if (str(cfg, "last_reload"))
    ago(p, str(cfg, "last_reload"));
  else
    out(p, "none since start");
  if (str(cfg, "last_reload_error")) {
    out(p, "<br><span class=err>refused");
    if (str(cfg, "last_reload_refused")) {
      out(p, " (");
      ago(p, str(cfg, "last_reload_refused"));
      out(p, ")");
    }
    out(p, ": ");
    text(p, str(cfg, "last_reload_error"));
    out(p, "</span>");
  }
  out(p, "</dd></dl></section>");
}

/* The footer's pointer to the operator's guide, where it is on this
 * machine (the document's "docs"). */
static void render_docs(struct page *p, const cJSON *root) {
  out(p, "What each part means and what to do: <code>");
  text(p, str(root, "docs") ? str(root, "docs") : "docs/operations.md");
  out(p, "</code>, &ldquo;Reading the status page&rdquo; and "
         "&ldquo;Symptoms&rdquo;.");
}

static void render_status(struct page *p, const cJSON *root) {
  render_summary(p, root);
  render_tiles(p, root);
  render_collectors(p, root);
  render_files(p, root);
  render_exporters(p, root);
  render_journal(p, root);
  render_rejected(p, root);
  render_config(p, root);
}

int vg_status_page_render(const cJSON *status, struct vg_buf *out) {
  struct page p = {.out = out, .now_ms = time_ms(str(status, "now"))};
  static const char mark[] = "<!--@";
  const char *t = vg_status_page_html;
  for (;;) {
    const char *m = strstr(t, mark);
    if (!m) {
      raw(&p, t, strlen(t));
      break;
    }
    raw(&p, t, (size_t)(m - t));
    const char *name = m + sizeof mark - 1;
    if (strncmp(name, "title-->", 8) == 0)
      render_title(&p, status);
    else if (strncmp(name, "status-->", 9) == 0)
      render_status(&p, status);
    else if (strncmp(name, "docs-->", 7) == 0)
      render_docs(&p, status);
    const char *end = strstr(name, "-->");
    if (!end)
      break; /* not in our template */
    t = end + 3;
  }
  return p.rc;
}
