/* Unit tests: the status page rendered from status documents written by
 * hand (the daemon's own are checked in a browser by
 * tests/integration/test_status_page.py). */
#include "daemon/status/status_page.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <errno.h>

/* The page of a document; the caller frees it. */
static char *render(const char *json) {
  cJSON *doc = cJSON_Parse(json);
  ASSERT(doc);
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  ASSERT_INT_EQ(vg_status_page_render(doc, &b), 0);
  cJSON_Delete(doc);
  size_t len;
  return vg_buf_take(&b, &len);
}

static size_t occurrences(const char *haystack, const char *needle) {
  size_t n = 0;
  for (const char *p = haystack; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

/* A daemon with one working collector that rejected two values, one that
 * fails, a pull and a push exporter, and a journal. */
static const char *const DOC =
    "{\"version\": \"0.1.0\", \"hostname\": \"tongren-1\","
    " \"now\": \"2024-05-01T08:00:00Z\", \"started\": \"2024-05-01T06:00:00Z\","
    " \"ready\": true, \"docs\": \"/usr/share/doc/villagemetricsd/docs/"
    "operations.md\","
    " \"counters_since\": {\"event\": \"start\","
    "   \"time\": \"2024-05-01T06:00:00Z\"},"
    " \"config\": {\"path\": \"/etc/villagemetrics/villagemetrics.json\","
    "   \"last_reload\": null, \"last_reload_error\": null},"
    " \"store\": {\"series\": 1234567},"
    " \"collectors\": ["
    "  {\"name\": \"villages\", \"type\": \"file\", \"state\": \"ok\","
    "   \"runs\": 3, \"errors\": 0, \"last_run\": \"2024-05-01T07:59:48Z\","
    "   \"last_success\": \"2024-05-01T07:59:48Z\","
    "   \"last_duration_seconds\": 0.0017, \"interval_seconds\": 30,"
    "   \"last_error\": null, \"samples_total\": 540,"
    "   \"rejected\": {\"not_a_number\": 1, \"out_of_range\": 1},"
    "   \"recent_rejections\": ["
    "    {\"time\": \"2024-05-01T07:10:00Z\", \"reason\": \"not_a_number\","
    "     \"where\": \"/srv/a.csv:2:4 (population)\","
    "     \"detail\": \"\\\"3,8x5\\\" is not a number\"},"
    "    {\"time\": \"2024-05-01T07:50:00Z\", \"reason\": \"out_of_range\","
    "     \"where\": \"/srv/a.csv:3:5 (ratio)\", \"detail\": \"1.3 > 1\"}]},"
    "  {\"name\": \"sensors\", \"type\": \"file\", \"state\": \"failing\","
    "   \"runs\": 4, \"errors\": 4, \"last_run\": \"2024-05-01T07:58:25Z\","
    "   \"last_success\": null, \"last_duration_seconds\": 0.25,"
    "   \"interval_seconds\": 240, \"last_error\": \"cannot read folder\","
    "   \"samples_total\": 0, \"rejected\": {\"not_a_number\": 0},"
    "   \"recent_rejections\": ["
    "    {\"time\": \"2024-05-01T07:30:00Z\", \"reason\": \"bad_label\","
    "     \"where\": \"/srv/s.csv:9:1 (village)\", \"detail\": \"empty\"}]}],"
    " \"exporters\": ["
    "  {\"name\": \"prometheus\", \"type\": \"prometheus\", \"kind\": \"pull\","
    "   \"state\": \"serving\", \"scrapes\": {\"count\": 1234,"
    "   \"last\": \"2024-05-01T07:59:45Z\", \"client\": \"10.0.0.5\","
    "   \"user_agent\": \"Prometheus/2.45.0\"}},"
    "  {\"name\": \"city-vm\", \"type\": \"remote_write\", \"kind\": \"push\","
    "   \"state\": \"backing off\", \"sent_samples\": 0,"
    "   \"tries\": 6, \"failed_tries\": 6,"
    "   \"retried_samples\": 480, \"dropped_samples\": {\"too_old\": 3},"
    "   \"journal_dropped_samples\": 0, \"lag_samples\": 60,"
    "   \"lag_seconds\": 95, \"last_success\": null, \"backoff_seconds\": 0.8,"
    "   \"last_error\": \"Couldn't connect to server\"}],"
    " \"journal\": {\"bytes\": 5632, \"max_bytes\": 1073741824,"
    "   \"segments\": 1, \"appended_samples\": 60, \"failed_samples\": 0,"
    "   \"corrupt_samples\": 0, \"fsyncs\": 4, \"fsync_seconds_total\": 0.01,"
    "   \"last_fsync_seconds\": 0.0021}}";

VG_TEST(frame_and_title) {
  char *page = render(DOC);
  ASSERT(strncmp(page, "<!doctype html>", 15) == 0);
  ASSERT(strcmp(page + strlen(page) - 8, "</html>\n") == 0);
  ASSERT(!strstr(page, "<!--@"));
  /* A failing collector and an exporter backing off. */
  ASSERT_CONTAINS(page, "<title>(2) villagemetricsd on tongren-1</title>");
  ASSERT_CONTAINS(page, "<main id=\"status\"><p class=meta>0.1.0 on "
                        "<b>tongren-1</b> &middot; started <time "
                        "datetime=\"2024-05-01T06:00:00Z\" title=\"2024-05-01 "
                        "06:00:00 UTC\">2&nbsp;h ago</time> "
                        "&middot; 1,234,567 series &middot; as of 2024-05-01 "
                        "08:00:00 UTC</p>");
  ASSERT(!strstr(page, "Not ready yet"));
  free(page);
}

VG_TEST(collectors_with_their_last_problem) {
  char *page = render(DOC);
  ASSERT_CONTAINS(page, "<a class=\"tile bad\" href=\"#collectors\"><span>"
                        "Collectors</span><b>1 failing</b><small>of 2"
                        "</small></a>");
  ASSERT_CONTAINS(page, "<td data-label=\"Last run\"><time "
                        "datetime=\"2024-05-01T07:59:48Z\" title=\"2024-05-01 "
                        "07:59:48 UTC\">12&nbsp;s ago</time><br><small>took "
                        "1.7&nbsp;ms, every 30&nbsp;s</small></td>");
  /* A working collector shows its latest rejected value, with where. */
  ASSERT_CONTAINS(page, "<small>latest rejected value:</small><br><code>"
                        "/srv/a.csv:3:5 (ratio)</code> 1.3 &gt; 1</td>");
  ASSERT_CONTAINS(page, "<td data-label=\"Rejected\" class=\"num\"><a "
                        "href=\"#rejected\">2</a></td>");
  /* A failing one its error, and the interval it backs off to. */
  ASSERT_CONTAINS(page, "<span class=\"badge bad\">failing</span>");
  ASSERT_CONTAINS(page, "1&nbsp;min 35&nbsp;s ago</time><br><small>took "
                        "250&nbsp;ms, retry every 4&nbsp;min</small>");
  ASSERT_CONTAINS(page, "4<br><small class=err>4 failed</small>");
  ASSERT_CONTAINS(page, "<td data-label=\"Last error\" class=\"what\"><span "
                        "class=err>cannot read folder</span></td>");
  free(page);
}

VG_TEST(exporters_lag_and_errors) {
  char *page = render(DOC);
  ASSERT_CONTAINS(page, "<span class=\"badge ok\">serving</span></td><td "
                        "data-label=\"Behind\" class=\"none\">");
  ASSERT_CONTAINS(page, "<span class=\"badge bad\">backing off</span>");
  ASSERT_CONTAINS(page, "<td data-label=\"Behind\" class=\"num\">60&nbsp;"
                        "samples<br><small>oldest 1&nbsp;min 35&nbsp;s old"
                        "</small></td><td data-label=\"Last success\">never");
  /* Tries, not samples tried again. */
  ASSERT_CONTAINS(page, "0 sent<br><small>6 tries, <span class=err>6 failed"
                        "</span></small><br><small class=err>3 dropped: "
                        "too_old</small></td>");
  ASSERT(!strstr(page, "retries"));
  /* Who scraped the pull exporter last, and when. */
  ASSERT_CONTAINS(page, "<td data-label=\"Last scrape\"><time "
                        "datetime=\"2024-05-01T07:59:45Z\" title=\"2024-05-01 "
                        "07:59:45 UTC\">15&nbsp;s ago</time><br><small>by "
                        "10.0.0.5 (Prometheus/2.45.0)</small></td><td "
                        "data-label=\"Scrapes\" class=\"num\">1,234 scrapes"
                        "<br><small>since start</small></td>");
  ASSERT_CONTAINS(page,
                  "<td data-label=\"Next try\">within&nbsp;800&nbsp;ms</td>");
  ASSERT_CONTAINS(page, "class=err>Couldn&#39;t connect to server</span>");
  ASSERT_CONTAINS(page, "<b>1 failing</b><small>of 2; 60 samples waiting");
  free(page);
}

/* A paused exporter: bad, the next try is a reload, with why. */
VG_TEST(paused_exporter_says_what_to_do) {
  const char *doc_text = strstr(DOC, "\"state\": \"backing off\"");
  ASSERT(doc_text);
  char *doc = vg_strdup(DOC);
  char *at = doc + (doc_text - DOC);
  const char *from = "\"state\": \"backing off\", \"sent_samples\": 0,";
  const char *to = "\"state\": \"paused\",\"paused\":\"unauthorized\",";
  ASSERT(strncmp(at, from, strlen(from)) == 0 && strlen(to) <= strlen(from));
  memcpy(at, to, strlen(to));
  memset(at + strlen(to), ' ', strlen(from) - strlen(to));
  char *page = render(doc);
  ASSERT_CONTAINS(page, "<span class=\"badge bad\">paused</span>");
  ASSERT_CONTAINS(page, "<td data-label=\"Next try\"><span class=err>after a "
                        "reload</span><br><small>paused: unauthorized</small>"
                        "</td>");
  ASSERT_CONTAINS(page, "<title>(2) villagemetricsd on tongren-1</title>");
  free(page);
  free(doc);
}

VG_TEST(journal_fill_and_fsync) {
  char *page = render(DOC);
  ASSERT_CONTAINS(page, "<span>Journal</span><b>under 0.1&nbsp;% full</b>"
                        "<small>5.5&nbsp;KiB of 1&nbsp;GiB</small>");
  ASSERT_CONTAINS(page, "<dd>5.5&nbsp;KiB of 1&nbsp;GiB (under 0.1&nbsp;%)"
                        "<div class=\"bar ok\"><i style=\"width:0.0%\">");
  ASSERT_CONTAINS(page, "<dt>fsync</dt><dd>last took 2.1&nbsp;ms, "
                        "2.5&nbsp;ms on average over 4</dd>");
  free(page);

  /* Nearly full: the tile and the bar turn red; never rounded up to 100. */
  page = render("{\"now\": \"2024-05-01T08:00:00Z\", \"journal\": "
                "{\"bytes\": 1046478848, \"max_bytes\": 1048576000}}");
  ASSERT_CONTAINS(page, "<a class=\"tile bad\" href=\"#journal\"><span>"
                        "Journal</span><b>99&nbsp;% full</b><small>998&nbsp;"
                        "MiB of 1000&nbsp;MiB</small>");
  ASSERT_CONTAINS(page, "<div class=\"bar bad\"><i style=\"width:99.8%\">");
  ASSERT_CONTAINS(page, "<title>(1) villagemetricsd</title>");
  free(page);
}

VG_TEST(rejections_by_reason_and_newest_first) {
  char *page = render(DOC);
  ASSERT_CONTAINS(page, "<tr><td class=title data-label=Reason><code>"
                        "not_a_number</code></td><td data-label=\"Count\" "
                        "class=\"num\">1</td><td data-label=\"Collectors\">"
                        "villages <small>(1)</small></td><td "
                        "data-label=\"Meaning\">a cell that should hold a "
                        "number does not</td></tr>");
  /* Reasons nobody hit are left out. */
  ASSERT(!strstr(page, "<code>not_finite</code>"));
  /* Across collectors, by time. */
  const char *a = strstr(page, "<code>/srv/a.csv:3:5 (ratio)</code></td>");
  const char *s = strstr(page, "<code>/srv/s.csv:9:1 (village)</code></td>");
  const char *b = strstr(page, "<code>/srv/a.csv:2:4 (population)</code></td>");
  ASSERT(a && s && b && a < s && s < b);
  ASSERT_CONTAINS(page, "<td data-label=\"What\" class=\"what\">&quot;3,8x5"
                        "&quot; is not a number</td>");
  free(page);
}

/* Names, paths, cells and servers' answers come from outside. */
VG_TEST(every_string_is_escaped) {
#define EVIL "<x a=\\\"1\\\" b='2'>&amp;"
#define SAFE "&lt;x a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;amp;"
  char *page = render(
      "{\"version\": \"" EVIL "\", \"hostname\": \"" EVIL "\","
      " \"docs\": \"" EVIL "\","
      " \"now\": \"2024-05-01T08:00:00Z\", \"ready\": false,"
      " \"config\": {\"path\": \"" EVIL "\", \"last_reload\": null,"
      "  \"last_reload_error\": \"" EVIL "\"},"
      " \"collectors\": [{\"name\": \"" EVIL "\", \"type\": \"" EVIL "\","
      "  \"state\": \"" EVIL "\", \"last_run\": \"" EVIL "\","
      "  \"last_error\": \"" EVIL "\", \"rejected\": {\"bad_label\": 1},"
      "  \"recent_rejections\": [{\"time\": \"" EVIL "\","
      "   \"reason\": \"" EVIL "\", \"where\": \"" EVIL "\","
      "   \"detail\": \"" EVIL "\"}]}],"
      " \"exporters\": [{\"name\": \"" EVIL "\", \"type\": \"" EVIL "\","
      "  \"kind\": \"push\", \"state\": \"" EVIL "\", \"lag_samples\": 1,"
      "  \"dropped_samples\": {\"" EVIL "\": 1},"
      "  \"last_error\": \"" EVIL "\"}]}");
  ASSERT(!strstr(page, "<x"));
  /* hostname twice, version, path, reload error twice, collector name,
   * type, state, error, the rejection's reason, where, detail and the
   * collector's name in the two rejection tables, exporter name, type,
   * state, dropped reason, error, the guide's path. */
  ASSERT_INT_EQ(occurrences(page, SAFE), 21);
  ASSERT_CONTAINS(page, "Not ready yet");
  ASSERT_CONTAINS(page, "<p class=\"banner bad\"><b>The last reload was "
                        "refused</b>");
  ASSERT_CONTAINS(page, "<code>" SAFE "</code>, &ldquo;Reading the status");
#undef EVIL
#undef SAFE
  free(page);
}

/* Each file of a file collector with its receipt; every rejection with
 * its village, escaped like every other string. */
VG_TEST(files_with_their_receipts) {
  char *page = render(
      "{\"now\": \"2024-05-01T08:00:00Z\", \"collectors\": [{\"name\": "
      "\"share\","
      " \"type\": \"file\", \"state\": \"failing\","
      " \"rejected\": {\"not_a_number\": 1},"
      " \"recent_rejections\": [{\"time\": \"2024-05-01T07:00:00Z\","
      "  \"reason\": \"not_a_number\", \"where\": \"/s/b.csv:3:2 (p)\","
      "  \"village\": \"Nisao<b>\", \"detail\": \"x\"}],"
      " \"files\": ["
      "  {\"path\": \"/s/a.csv\", \"state\": \"unreadable\","
      "   \"error\": \"cannot open /s/a.csv: Permission denied\","
      "   \"receipt\": {\"read_at\": \"2024-05-01T07:00:00Z\","
      "    \"error\": \"cannot open /s/a.csv: Permission denied\"}},"
      "  {\"path\": \"/s/b.csv\", \"state\": \"read\", \"error\": null,"
      "   \"receipt\": {\"read_at\": \"2024-05-01T07:00:00Z\", \"error\": null,"
      "    \"rows\": 4, \"rows_accepted\": 1, \"rows_rejected\": 3,"
      "    \"values_accepted\": 3, \"values_rejected\": 4,"
      "    \"villages_matched\": 2, \"villages_unmatched\": 1,"
      "    \"unmatched_villages\": [\"Nisao<b>\"],"
      "    \"rejections\": [{\"village\": \"Nisao<b>\", \"cell\": \"3:2 (p)\","
      "      \"reason\": \"not_a_number\", \"detail\": \"x\"},"
      "     {\"village\": null, \"cell\": \"4:1 (village)\","
      "      \"reason\": \"bad_label\", \"detail\": \"empty\"}],"
      "    \"more_rejections\": 2}}],"
      " \"files_not_listed\": 0}]}");
  ASSERT_CONTAINS(page, "<section id=files><h2>Files and their receipts</h2>"
                        "<h3>share</h3>");
  ASSERT_CONTAINS(page, "<span class=\"badge bad\">unreadable</span> <span "
                        "class=err>cannot open /s/a.csv: Permission "
                        "denied</span></td><td data-label=\"Result\" "
                        "class=\"what\"><span class=muted>not read</span>");
  ASSERT_CONTAINS(page, "rows 1 accepted, 3 with rejected cells; values 3 "
                        "accepted, 4 rejected; villages 2 matched, 1 "
                        "unmatched (Nisao&lt;b&gt;)");
  ASSERT_CONTAINS(page, "<li><b>Nisao&lt;b&gt;</b> <code>3:2 (p)</code>: "
                        "x</li><li><b>(no village)</b> <code>4:1 "
                        "(village)</code>: empty</li><li class=muted>and 2 "
                        "more</li>");
  /* The latest rejections name the village too. */
  ASSERT_CONTAINS(page, "<td data-label=\"Village\">Nisao&lt;b&gt;</td>");
  ASSERT(!strstr(page, "Nisao<b>"));
  free(page);
}

VG_TEST(an_empty_document_renders) {
  char *page = render("{}");
  ASSERT_CONTAINS(page, "<title>villagemetricsd</title>");
  ASSERT_CONTAINS(page, "No collector is configured.");
  ASSERT_CONTAINS(page, "No exporter is configured.");
  ASSERT_CONTAINS(page, "<p class=empty>Not used: samples are journaled");
  ASSERT_CONTAINS(page, "No value has been rejected since start.");
  ASSERT_CONTAINS(page, "<dt>Last reload</dt><dd>none since start</dd>");
  free(page);
}

/* A refused reload says when; counters of the instances say since when
 * they count; the guide is where this machine has it. */
VG_TEST(reload_times_and_what_counts_since_when) {
  char *page =
      render("{\"now\": \"2024-05-01T08:00:00Z\","
             " \"docs\": \"/usr/share/doc/villagemetricsd/docs/operations.md\","
             " \"config\": {\"path\": \"/etc/v.json\","
             "  \"last_reload\": \"2024-05-01T07:58:00Z\","
             "  \"last_reload_error\": \"/etc/v.json:3:1: bad\","
             "  \"last_reload_refused\": \"2024-05-01T07:58:00Z\"},"
             " \"counters_since\": {\"event\": \"reload\","
             "  \"time\": \"2024-05-01T07:30:00Z\"},"
             " \"collectors\": [{\"name\": \"a\", \"state\": \"ok\","
             "  \"rejected\": {\"bad_label\": 1}}],"
             " \"exporters\": [{\"name\": \"p\", \"kind\": \"pull\","
             "  \"state\": \"serving\", \"scrapes\": {\"count\": 0,"
             "  \"last\": null, \"client\": null, \"user_agent\": null}}]}");
  ASSERT_CONTAINS(page, "<p class=\"banner bad\"><b>The last reload, <time "
                        "datetime=\"2024-05-01T07:58:00Z\" title=\"2024-05-01 "
                        "07:58:00 UTC\">2&nbsp;min ago</time>, was refused</b>;"
                        " the configuration from before it still runs: "
                        "/etc/v.json:3:1: bad</p>");
  ASSERT_CONTAINS(page, "<span class=err>refused (<time "
                        "datetime=\"2024-05-01T07:58:00Z\"");
  const char *since_reload = "since the reload <time "
                             "datetime=\"2024-05-01T07:30:00Z\" "
                             "title=\"2024-05-01 07:30:00 UTC\">30&nbsp;min "
                             "ago</time>";
  /* The tile, the collectors' and exporters' captions, the reasons. */
  ASSERT_INT_EQ(occurrences(page, since_reload), 4);
  ASSERT(!strstr(page, "since start."));
  /* Never scraped. */
  ASSERT_CONTAINS(page, "<td data-label=\"Last scrape\">never</td>");
  ASSERT_CONTAINS(page, "<code>/usr/share/doc/villagemetricsd/docs/"
                        "operations.md</code>");
  free(page);
}

VG_TEST(the_cap_is_kept) {
  cJSON *doc = cJSON_Parse(DOC);
  struct vg_buf b;
  vg_buf_init(&b, 4096);
  ASSERT_INT_EQ(vg_status_page_render(doc, &b), -ENOSPC);
  ASSERT(b.len <= 4096);
  vg_buf_free(&b);
  cJSON_Delete(doc);
}

VG_TEST_MAIN(VG_T(frame_and_title), VG_T(collectors_with_their_last_problem),
             VG_T(files_with_their_receipts), VG_T(exporters_lag_and_errors),
             VG_T(paused_exporter_says_what_to_do),
             VG_T(journal_fill_and_fsync),
             VG_T(rejections_by_reason_and_newest_first),
             VG_T(every_string_is_escaped), VG_T(an_empty_document_renders),
             VG_T(reload_times_and_what_counts_since_when),
             VG_T(the_cap_is_kept))
