/* exporters/influxdb.c - writes samples to InfluxDB in line protocol.
 *
 * Owns: the mapping of a journal record (metric, labels, value, ts) to a
 * line-protocol point, the write URL of the v1 (/write) and v2
 * (/api/v2/write) APIs, the splitting of one flush into requests that fit
 * max_body (and smaller ones when the server answers 413), and the reading
 * of the server's answers into a vg_flush_result.
 *
 * The mapping (also in the key descriptions, so in the docs):
 *  - measurement_from "prefix" (the default): the text before the first
 *    `_` of the metric is the measurement, the rest the field:
 *    village_income_per_capita_yuan is measurement `village`, field
 *    `income_per_capita_yuan`.  A name without `_` (or starting or ending
 *    with it) is the measurement, with the field `value`.
 *  - measurement_from "metric": the metric is the measurement, the field is
 *    `value` (Telegraf's prometheus style).
 *  - `measurement` set: every sample goes to that measurement, the field is
 *    the whole metric name.
 *  - tags are the record's labels sorted by name, empty values omitted;
 *    the timestamp is the record's, in milliseconds (precision=ms).
 *  - consecutive records with the same measurement, tags and timestamp
 *    become one line with several fields (a village row of 23 indicators
 *    is one point); a field key seen again starts a new line.  Only
 *    consecutive records are merged, so no per-batch table is needed.
 *  - values are always floats ("3895", never "3895i"): InfluxDB fixes a
 *    field's type on its first write, and an integer field would refuse a
 *    later value with a fraction.  NaN and infinities have no line-protocol
 *    form: they are refused here, counted as "not_representable".
 *  - stale markers (a series that left the store, for remote write) are
 *    skipped: InfluxDB has no such thing.  They count with the samples
 *    sent (done, as far as this sink can take them), never as dropped; a
 *    batch of markers alone sends no request, and a batch whose other
 *    samples were all refused is answered OK with those refused, not
 *    DROP, which would count the markers as dropped too.
 *
 * Accounting is in samples (records), as the daemon counts.  The server
 * counts refused points (lines); when the lines of a request carry
 * different numbers of samples, its "dropped=N" cannot say which were
 * refused, so the N largest lines are assumed: a loss is never
 * under-counted.
 *
 * Must never: retry a batch the server refused as bad forever (400/422 are
 * counted and advanced), call `done` after stop, or block the loop.  The
 * HTTP transport is daemon/net/http_client.c; the line format is
 * daemon/formats/lp.c.
 */
#include "daemon/util/buf.h"
#include "daemon/net/http_client.h"
#include "daemon/formats/lp.h"
#include "daemon/util/mem.h"
#include "exporters/exporter.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mapping { MAP_PREFIX, MAP_METRIC, MAP_FIXED };

/* A serialized line: where it ends in the body and how many samples
 * (fields) it carries. */
struct line {
  size_t end;
  size_t records;
};

/* A request to send: lines [first, last). */
struct piece {
  size_t first, last;
};

struct influxdb {
  /* Configuration, set by vg_cfg_apply (strings owned, freed by
   * vg_cfg_release) and vg_http_client_configure. */
  const cJSON *version_node; /* borrowed during configure only */
  char *database, *retention_policy, *org, *bucket, *token;
  char *measurement_from, *measurement;
  uint64_t max_body;
  struct vg_http_client_config http;
  int version;
  enum mapping mapping;
  char *query;       /* "/write?db=...&precision=ms"; owned */
  char *auth_header; /* v2: "Authorization: Token ..."; owned */

  struct vg_http_client *out; /* owned; from start */

  /* The flush in progress (busy), all owned and reused by the next. */
  bool busy;
  vg_flush_done done;
  void *done_arg;
  struct vg_buf body;
  struct line *lines;
  size_t nlines, lines_cap;
  struct piece *stack; /* pieces still to send; the next on top */
  size_t npieces, stack_cap;
  size_t accepted;        /* samples the server took */
  size_t server_rejected; /* samples the server refused */
  const char *server_reason;
  struct vg_buf server_message;
  size_t local_rejected; /* samples line protocol cannot carry */
  size_t skipped;        /* stale markers, which InfluxDB has no use for */
  struct vg_buf local_message;
  struct vg_buf message; /* the result's message */

  /* Scratch of the serializer, reused: the tags of the record being read
   * and of the line being built, the line's fields and measurement, and
   * the records the line holds (to write them alone if it fails). */
  struct vg_label *tags, *line_tags;
  size_t tags_cap, line_tags_cap, nline_tags;
  struct vg_lp_field *fields;
  size_t *field_recs;
  size_t fields_cap, field_recs_cap, nfields;
  char *line_measurement; /* NUL-terminated */
  size_t line_measurement_len, line_measurement_cap;
  int64_t line_ts;
  size_t *counts; /* for counting a partial write */
  size_t counts_cap;
};

/* A batch body is bounded by the daemon's batch_size and batch_bytes; this
 * only bounds a bug. */
#define MAX_BATCH_BODY ((size_t)1 << 30)
#define MAX_MESSAGE 2048

static const struct vg_cfg_key influxdb_keys[] = {
    {"version", VG_CFG_JSON, NULL, offsetof(struct influxdb, version_node),
     "The write API: 1 (InfluxDB 1.x: POST <url>/write with \"database\", "
     "credentials from \"username\"/\"password\" or \"bearer_token\") or 2 "
     "(InfluxDB 2.x, 3.x, VictoriaMetrics: POST <url>/api/v2/write with "
     "\"org\", \"bucket\" and \"token\").  Default: 2 when \"org\", "
     "\"bucket\" or \"token\" is set, else 1.",
     false},
    {"database", VG_CFG_STRING, NULL, offsetof(struct influxdb, database),
     "v1: the database (db=).  Required for v1.", false},
    {"retention_policy", VG_CFG_STRING, NULL,
     offsetof(struct influxdb, retention_policy),
     "v1: the retention policy (rp=); the database's default when not set.",
     false},
    {"org", VG_CFG_STRING, NULL, offsetof(struct influxdb, org),
     "v2: the organization, by name or ID.  Required for v2.", false},
    {"bucket", VG_CFG_STRING, NULL, offsetof(struct influxdb, bucket),
     "v2: the bucket.  Required for v2.", false},
    {"token", VG_CFG_STRING, NULL, offsetof(struct influxdb, token),
     "v2: the API token, sent as \"Authorization: Token <token>\".  Required "
     "for v2; write \"@file:/path\" to keep it out of the configuration.",
     false},
    {"measurement_from", VG_CFG_STRING, "prefix",
     offsetof(struct influxdb, measurement_from),
     "How a metric becomes a measurement and a field.  \"prefix\": the text "
     "before the first _ is the measurement and the rest the field "
     "(village_income_per_capita_yuan: measurement village, field "
     "income_per_capita_yuan; a name without _ is the measurement, field "
     "value).  \"metric\": the metric is the measurement, the field is "
     "value (as Telegraf's prometheus input).  Tags are the labels; "
     "consecutive samples of the same measurement, tags and time are one "
     "point; values are always floats (NaN and infinities cannot be written: "
     "counted as not_representable).",
     false},
    {"measurement", VG_CFG_STRING, NULL, offsetof(struct influxdb, measurement),
     "A fixed measurement for every sample, the field being the whole metric "
     "name; excludes \"measurement_from\".",
     false},
    {"max_body", VG_CFG_SIZE, "10MiB", offsetof(struct influxdb, max_body),
     "The largest request body (before gzip): a larger flush is sent in "
     "several requests, at line boundaries.",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key *const influxdb_tables[] = {
    influxdb_keys, vg_http_client_conf_keys, vg_http_client_keys, NULL};

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

/* Appends s percent-encoded as a query value (RFC 3986 unreserved bytes
 * kept). */
static void put_query_value(struct vg_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      vg_buf_putc(b, (char)c);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      vg_buf_append(b, esc, 3);
    }
  }
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const cJSON *member(const cJSON *cfg, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cfg, name);
}

static int parse_version(struct influxdb *x, const cJSON *cfg,
                         struct vg_cfg_err *err) {
  const cJSON *v = x->version_node;
  x->version_node = NULL;
  if (!v) {
    x->version = x->org || x->bucket || x->token ? 2 : 1;
    return 0;
  }
  if (cJSON_IsNumber(v) && (v->valuedouble == 1 || v->valuedouble == 2))
    x->version = (int)v->valuedouble;
  else if (cJSON_IsString(v) && (strcmp(v->valuestring, "1") == 0 ||
                                 strcmp(v->valuestring, "2") == 0))
    x->version = v->valuestring[0] - '0';
  else
    return vg_cfg_error(err, member(cfg, "version"),
                        "\"version\": expected 1 (InfluxDB 1.x /write) or 2 "
                        "(/api/v2/write)");
  return 0;
}

/* The checks that need more than one key. */
static int check(struct influxdb *x, const cJSON *cfg, struct vg_cfg_err *err) {
  if (x->measurement && member(cfg, "measurement_from"))
    return vg_cfg_error(err, member(cfg, "measurement"),
                        "\"measurement\" and \"measurement_from\" exclude "
                        "each other");
  if (x->measurement)
    x->mapping = MAP_FIXED;
  else if (strcmp(x->measurement_from, "prefix") == 0)
    x->mapping = MAP_PREFIX;
  else if (strcmp(x->measurement_from, "metric") == 0)
    x->mapping = MAP_METRIC;
  else
    return vg_cfg_error(err, member(cfg, "measurement_from"),
                        "\"measurement_from\": expected \"prefix\" or "
                        "\"metric\", got \"%s\"",
                        x->measurement_from);
  if (x->measurement && !x->measurement[0])
    return vg_cfg_error(err, member(cfg, "measurement"),
                        "\"measurement\" must not be empty");
  if (strchr(x->http.conn.url, '?') || strchr(x->http.conn.url, '#'))
    return vg_cfg_error(err, member(cfg, "url"),
                        "\"url\": give the server's base URL "
                        "(http://host:8086), without a query");
  /* The exporter adds the API's path; a url that already has it would
   * answer 404 on every write. */
  size_t n = strlen(x->http.conn.url);
  while (n > 0 && x->http.conn.url[n - 1] == '/')
    x->http.conn.url[--n] = '\0';
  if (ends_with(x->http.conn.url, "/write"))
    return vg_cfg_error(err, member(cfg, "url"),
                        "\"url\": give the server's base URL "
                        "(http://host:8086); the exporter adds %s",
                        x->version == 1 ? "/write" : "/api/v2/write");
  if (x->version == 1) {
    static const char *const v2_only[] = {"org", "bucket", "token"};
    for (size_t i = 0; i < 3; i++)
      if (member(cfg, v2_only[i]))
        return vg_cfg_error(err, member(cfg, v2_only[i]),
                            "\"%s\" is for InfluxDB v2 (\"version\": 2); v1 "
                            "writes to a \"database\"",
                            v2_only[i]);
    if (!x->database || !x->database[0])
      return vg_cfg_error(err, cfg,
                          "\"database\" is required for InfluxDB v1 (or set "
                          "\"org\", \"bucket\" and \"token\" for v2)");
    return 0;
  }
  static const char *const v1_only[] = {"database", "retention_policy",
                                        "username", "password", "bearer_token"};
  for (size_t i = 0; i < 5; i++)
    if (member(cfg, v1_only[i]))
      return vg_cfg_error(err, member(cfg, v1_only[i]),
                          "\"%s\" is for InfluxDB v1; v2 writes to \"org\" "
                          "and \"bucket\" with a \"token\"",
                          v1_only[i]);
  static const char *const required[] = {"org", "bucket", "token"};
  char *const values[] = {x->org, x->bucket, x->token};
  for (size_t i = 0; i < 3; i++)
    if (!values[i] || !values[i][0])
      return vg_cfg_error(
          err, member(cfg, required[i]) ? member(cfg, required[i]) : cfg,
          "\"%s\" is required for InfluxDB v2", required[i]);
  if (strpbrk(x->token, "\r\n"))
    return vg_cfg_error(err, member(cfg, "token"),
                        "\"token\" must be one line");
  return 0;
}

static void make_query(struct influxdb *x) {
  struct vg_buf q;
  vg_buf_init(&q, SIZE_MAX);
  if (x->version == 1) {
    vg_buf_puts(&q, "/write?db=");
    put_query_value(&q, x->database);
    if (x->retention_policy && x->retention_policy[0]) {
      vg_buf_puts(&q, "&rp=");
      put_query_value(&q, x->retention_policy);
    }
  } else {
    vg_buf_puts(&q, "/api/v2/write?org=");
    put_query_value(&q, x->org);
    vg_buf_puts(&q, "&bucket=");
    put_query_value(&q, x->bucket);
    x->auth_header = vg_asprintf("Authorization: Token %s", x->token);
  }
  vg_buf_puts(&q, "&precision=ms");
  x->query = vg_buf_take(&q, NULL);
}

static void influxdb_destroy(void *ctx);

static int influxdb_configure(void **ctx, const cJSON *cfg,
                              struct vg_cfg_err *err) {
  struct influxdb *x = vg_calloc(1, sizeof *x);
  static const char *const reserved[] = {"Content-Type", NULL};
  int rc = vg_cfg_apply(influxdb_keys, x, cfg, err);
  if (!rc)
    rc = vg_http_client_configure(&x->http, cfg, reserved, err);
  if (!rc)
    rc = parse_version(x, cfg, err);
  if (!rc)
    rc = check(x, cfg, err);
  if (!rc && x->max_body == 0)
    rc = vg_cfg_error(err, member(cfg, "max_body"),
                      "\"max_body\" must be at least 1 byte");
  if (rc) {
    influxdb_destroy(x);
    return rc;
  }
  make_query(x);
  vg_buf_init(&x->body, MAX_BATCH_BODY);
  vg_buf_init(&x->server_message, MAX_MESSAGE);
  vg_buf_init(&x->local_message, MAX_MESSAGE);
  vg_buf_init(&x->message, 2 * MAX_MESSAGE + 8);
  *ctx = x;
  return 0;
}

static int influxdb_start(void *ctx, const struct vg_exporter_env *env) {
  struct influxdb *x = ctx;
  const char *fixed[] = {"Content-Type: text/plain; charset=utf-8",
                         x->auth_header, NULL};
  if (!x->out) /* started again after a refused reload: keep it */
    x->out = vg_http_client_new(env->curl, &x->http, fixed);
  return 0;
}

static void influxdb_stop(void *ctx) {
  struct influxdb *x = ctx;
  /* The flush in flight is abandoned: its done never runs, and the daemon
   * sends the batch again from the cursor. */
  if (x->out)
    vg_http_client_cancel(x->out);
  x->busy = false;
}

static void influxdb_destroy(void *ctx) {
  struct influxdb *x = ctx;
  if (!x)
    return;
  vg_http_client_free(x->out);
  vg_http_client_release(&x->http);
  vg_cfg_release(influxdb_keys, x);
  free(x->query);
  free(x->auth_header);
  vg_buf_free(&x->body);
  vg_buf_free(&x->server_message);
  vg_buf_free(&x->local_message);
  vg_buf_free(&x->message);
  free(x->line_measurement);
  free(x->lines);
  free(x->stack);
  free(x->tags);
  free(x->line_tags);
  free(x->fields);
  free(x->field_recs);
  free(x->counts);
  free(x);
}

/* ------------------------------------------------------------------------ */
/* Serialization                                                            */

static void reject_local(struct influxdb *x, const struct vg_journal_record *r,
                         const char *why) {
  if (x->local_rejected++ == 0)
    vg_buf_printf(&x->local_message, "%.200s: %s", r->metric, why);
}

static void add_line(struct influxdb *x, size_t records) {
  x->lines = vg_grow(x->lines, &x->lines_cap, x->nlines + 1, sizeof *x->lines);
  x->lines[x->nlines++] = (struct line){x->body.len, records};
}

static int write_line(struct influxdb *x, const struct vg_lp_field *fields,
                      size_t n) {
  return vg_lp_write(&x->body, x->line_measurement, x->line_tags, x->nline_tags,
                     fields, n, true, x->line_ts);
}

/* Writes the line being built.  If line protocol cannot carry it (a tag
 * or field name it cannot spell), each sample is tried alone so that only
 * the bad ones are refused. */
static int end_line(struct influxdb *x, const struct vg_journal_record *recs) {
  size_t n = x->nfields;
  x->nfields = 0;
  if (n == 0)
    return 0;
  int rc = write_line(x, x->fields, n);
  if (rc == 0)
    add_line(x, n);
  if (rc == -EINVAL) {
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
      rc = write_line(x, &x->fields[i], 1);
      if (rc == 0)
        add_line(x, 1);
      if (rc == -EINVAL) {
        reject_local(x, &recs[x->field_recs[i]],
                     "a name line protocol cannot carry (empty, invalid "
                     "UTF-8, a control character, or a backslash InfluxDB "
                     "would read otherwise)");
        rc = 0;
      }
    }
  }
  return rc == -ENOSPC ? -EMSGSIZE : rc;
}

static int label_cmp(const void *a, const void *b) {
  return strcmp(((const struct vg_label *)a)->name,
                ((const struct vg_label *)b)->name);
}

/* Sorts r's labels with a value into x->tags; false when a name comes
 * twice (InfluxDB refuses duplicate tags). */
static bool sorted_tags(struct influxdb *x, const struct vg_journal_record *r,
                        size_t *ntags) {
  x->tags = vg_grow(x->tags, &x->tags_cap, r->nlabels + 1, sizeof *x->tags);
  size_t n = 0;
  for (size_t i = 0; i < r->nlabels; i++)
    if (r->labels[i].value && r->labels[i].value[0])
      x->tags[n++] = r->labels[i];
  qsort(x->tags, n, sizeof *x->tags, label_cmp);
  *ntags = n;
  for (size_t i = 1; i < n; i++)
    if (strcmp(x->tags[i - 1].name, x->tags[i].name) == 0)
      return false;
  return true;
}

/* The measurement and field key of a record, by the configured mapping. */
static void map_name(const struct influxdb *x, const char *metric,
                     const char **m, size_t *m_len, const char **f,
                     size_t *f_len) {
  const char *us = x->mapping == MAP_PREFIX ? strchr(metric, '_') : NULL;
  if (x->mapping == MAP_FIXED) {
    *m = x->measurement;
    *m_len = strlen(x->measurement);
    *f = metric;
    *f_len = strlen(metric);
  } else if (us && us != metric && us[1]) {
    *m = metric;
    *m_len = (size_t)(us - metric);
    *f = us + 1;
    *f_len = strlen(us + 1);
  } else {
    *m = metric;
    *m_len = strlen(metric);
    *f = "value";
    *f_len = 5;
  }
}

/* Whether the record continues the line being built: same measurement,
 * tags and time, and a field key the line does not have yet. */
static bool continues_line(const struct influxdb *x, const char *m,
                           size_t m_len, size_t ntags, int64_t ts,
                           const char *f, size_t f_len) {
  if (x->nfields == 0 || ts != x->line_ts || ntags != x->nline_tags ||
      m_len != x->line_measurement_len ||
      memcmp(m, x->line_measurement, m_len) != 0)
    return false;
  for (size_t i = 0; i < ntags; i++)
    if (strcmp(x->tags[i].name, x->line_tags[i].name) != 0 ||
        strcmp(x->tags[i].value, x->line_tags[i].value) != 0)
      return false;
  for (size_t i = 0; i < x->nfields; i++)
    if (x->fields[i].key_len == f_len &&
        memcmp(x->fields[i].key, f, f_len) == 0)
      return false;
  return true;
}

static int serialize(struct influxdb *x, const struct vg_journal_record *recs,
                     size_t n) {
  int rc = 0;
  x->nfields = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const struct vg_journal_record *r = &recs[i];
    size_t ntags;
    /* InfluxDB has no staleness: a series' last point is its last value
     * until a query's time range ends.  A stale marker is skipped, not
     * refused: nothing was lost. */
    if (vg_is_stale_nan(r->value)) {
      x->skipped++;
      continue;
    }
    if (!isfinite(r->value)) {
      reject_local(x, r, "NaN or infinite value");
      continue;
    }
    if (!sorted_tags(x, r, &ntags)) {
      reject_local(x, r, "a label given twice");
      continue;
    }
    const char *m, *f;
    size_t m_len, f_len;
    map_name(x, r->metric, &m, &m_len, &f, &f_len);
    if (!continues_line(x, m, m_len, ntags, r->ts_ms, f, f_len)) {
      rc = end_line(x, recs);
      if (rc)
        break;
      /* The record's tags become the line's: swap the two arrays. */
      struct vg_label *t = x->line_tags;
      size_t cap = x->line_tags_cap;
      x->line_tags = x->tags;
      x->line_tags_cap = x->tags_cap;
      x->tags = t;
      x->tags_cap = cap;
      x->nline_tags = ntags;
      x->line_ts = r->ts_ms;
      /* Bounded by the journal's largest record. */
      x->line_measurement =
          vg_grow(x->line_measurement, &x->line_measurement_cap, m_len + 1, 1);
      memcpy(x->line_measurement, m, m_len);
      x->line_measurement[m_len] = '\0';
      x->line_measurement_len = m_len;
    }
    x->fields =
        vg_grow(x->fields, &x->fields_cap, x->nfields + 1, sizeof *x->fields);
    x->field_recs = vg_grow(x->field_recs, &x->field_recs_cap, x->nfields + 1,
                            sizeof *x->field_recs);
    x->fields[x->nfields] = (struct vg_lp_field){
        .key = f, .key_len = f_len, .type = VG_LP_FLOAT, .v.f = r->value};
    x->field_recs[x->nfields++] = i;
  }
  if (!rc)
    rc = end_line(x, recs);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Sending, and reading the answers                                         */

static size_t line_start(const struct influxdb *x, size_t i) {
  return i ? x->lines[i - 1].end : 0;
}

static size_t piece_records(const struct influxdb *x, struct piece p) {
  size_t n = 0;
  for (size_t i = p.first; i < p.last; i++)
    n += x->lines[i].records;
  return n;
}

static void push_piece(struct influxdb *x, size_t first, size_t last) {
  x->stack = vg_grow(x->stack, &x->stack_cap, x->npieces + 1, sizeof *x->stack);
  x->stack[x->npieces++] = (struct piece){first, last};
}

/* Cuts the body into requests of at most max_body bytes at line
 * boundaries (a longer line goes alone), stacked so that the first is on
 * top. */
static void plan(struct influxdb *x) {
  x->npieces = 0;
  for (size_t first = 0; first < x->nlines;) {
    size_t last = first + 1, from = line_start(x, first);
    while (last < x->nlines && x->lines[last].end - from <= x->max_body)
      last++;
    push_piece(x, first, last);
    first = last;
  }
  for (size_t i = 0; i < x->npieces / 2; i++) {
    struct piece t = x->stack[i];
    x->stack[i] = x->stack[x->npieces - 1 - i];
    x->stack[x->npieces - 1 - i] = t;
  }
}

/* A 413: the piece in two halves, cut at the last line boundary at or
 * before the middle byte (each half keeps at least one line); the first
 * half is sent first. */
static void split(struct influxdb *x, struct piece p) {
  size_t from = line_start(x, p.first);
  size_t mid = from + (x->lines[p.last - 1].end - from) / 2;
  size_t cut = p.first + 1; /* the first line of the second half */
  while (cut < p.last - 1 && x->lines[cut].end <= mid)
    cut++;
  push_piece(x, cut, p.last);
  push_piece(x, p.first, cut);
}

static void on_answer(void *arg, const struct vg_http_client_response *r);

static int send_top(struct influxdb *x) {
  struct piece p = x->stack[x->npieces - 1];
  size_t from = line_start(x, p.first);
  return vg_http_client_post(x->out, x->query, x->body.data + from,
                             x->lines[p.last - 1].end - from, on_answer, x);
}

static void finish(struct influxdb *x, const struct vg_flush_result *r) {
  x->busy = false;
  x->done(x->done_arg, r);
}

static void retry(struct influxdb *x, enum vg_flush_status status,
                  const char *reason, int64_t after_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Keeps the whole batch (RETRY, or REFUSED: the sender itself was
 * refused).  Requests that had already been accepted are sent again with
 * it: a point written twice is the same point in InfluxDB. */
static void retry(struct influxdb *x, enum vg_flush_status status,
                  const char *reason, int64_t after_ms, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vg_buf_reset(&x->message);
  vg_buf_vprintf(&x->message, fmt, ap);
  va_end(ap);
  struct vg_flush_result r = {.status = status,
                              .reason = reason,
                              .message = x->message.data,
                              .retry_after_ms = after_ms};
  finish(x, &r);
}

/* Every request answered: OK with what was refused, or DROP when nothing
 * at all arrived. */
static void complete(struct influxdb *x) {
  size_t rejected = x->server_rejected + x->local_rejected;
  struct vg_flush_result r = {.status = VG_FLUSH_OK, .rejected = rejected};
  if (rejected) {
    /* One reason per result: the server's, when it refused anything, is
     * the one to look into. */
    r.reason = x->server_rejected ? x->server_reason : "not_representable";
    vg_buf_reset(&x->message);
    if (x->server_rejected)
      vg_buf_puts(&x->message, x->server_message.data);
    if (x->local_rejected)
      vg_buf_printf(&x->message,
                    "%s%zu samples not representable in line protocol "
                    "(first: %s)",
                    x->server_rejected ? "; " : "", x->local_rejected,
                    x->local_message.data);
    r.message = x->message.data;
  }
  /* Skipped markers are done, so the batch is not all lost. */
  if (rejected && x->accepted == 0 && x->skipped == 0) {
    r.status = VG_FLUSH_DROP;
    r.rejected = 0;
  }
  finish(x, &r);
}

static void next(struct influxdb *x) {
  if (x->npieces == 0) {
    complete(x);
    return;
  }
  int rc = send_top(x);
  if (rc)
    retry(x, VG_FLUSH_RETRY, NULL, 0, "cannot send: %s", strerror(-rc));
}

/* What the server said, for people: the "error" (v1) or "message" (v2)
 * member of its JSON answer, else the answer's text. */
static void server_text(const struct vg_http_client_response *r, char *out,
                        size_t size) {
  cJSON *j = cJSON_ParseWithLength(r->body, r->body_len); /* freed below */
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (!cJSON_IsString(m))
    m = cJSON_GetObjectItemCaseSensitive(j, "message");
  const char *s = cJSON_IsString(m) ? m->valuestring : r->body;
  size_t len = strlen(s);
  while (len && strchr(" \t\r\n", s[len - 1]))
    len--;
  if (len)
    snprintf(out, size, "%.*s", (int)len, s);
  else
    snprintf(out, size, "HTTP %ld without a message", r->status);
  cJSON_Delete(j);
}

/* The points a partial write refused: "dropped=N" in InfluxDB's message;
 * 0 when it gives no count. */
static uint64_t dropped_points(const char *text) {
  const char *d = strstr(text, "dropped=");
  return d ? strtoull(d + 8, NULL, 10) : 0;
}

static int by_size_desc(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Samples in `points` refused lines of p: exact when its lines carry as
 * many samples each; otherwise the largest lines are counted, so that a
 * loss is never under-counted. */
static size_t refused_records(struct influxdb *x, struct piece p,
                              uint64_t points) {
  size_t nlines = p.last - p.first;
  if (points >= nlines)
    return piece_records(x, p);
  x->counts = vg_grow(x->counts, &x->counts_cap, nlines, sizeof *x->counts);
  for (size_t i = 0; i < nlines; i++)
    x->counts[i] = x->lines[p.first + i].records;
  qsort(x->counts, nlines, sizeof *x->counts, by_size_desc);
  size_t n = 0;
  for (size_t i = 0; i < points; i++)
    n += x->counts[i];
  return n;
}

static void refuse(struct influxdb *x, size_t records, const char *reason,
                   const char *text) {
  x->server_rejected += records;
  x->server_reason = reason;
  vg_buf_reset(&x->server_message);
  vg_buf_puts(&x->server_message, text);
}

static void on_answer(void *arg, const struct vg_http_client_response *r) {
  struct influxdb *x = arg;
  struct piece p = x->stack[--x->npieces];
  size_t records = piece_records(x, p);
  long st = r->status;
  char text[MAX_MESSAGE - 64];
  if (r->result != CURLE_OK) {
    retry(x, VG_FLUSH_RETRY, NULL, 0, "%s", r->error);
    return;
  }
  server_text(r, text, sizeof text);
  const char *reason, *what;
  switch (vg_http_client_answer(st, &reason, &what)) {
  case VG_HTTP_DELIVERED:
    x->accepted += records;
    break;
  case VG_HTTP_DATA_REFUSED: {
    /* Never sent again: the same bad points would be refused forever. */
    uint64_t points = dropped_points(text);
    size_t refused = points ? refused_records(x, p, points) : records;
    x->accepted += records - refused;
    refuse(x, refused, "bad_request", text);
    break;
  }
  case VG_HTTP_TOO_LARGE:
    if (p.last - p.first > 1)
      split(x, p);
    else
      refuse(x, records, "too_large", text);
    break;
  case VG_HTTP_TRY_AGAIN:
    retry(x, VG_FLUSH_RETRY, NULL, r->retry_after_ms, "HTTP %ld: %s", st, text);
    return;
  case VG_HTTP_SENDER_REFUSED:
    /* 401, 403, 404 (no such database, bucket or org; a wrong url) and
     * the rest: the data waits for the configuration to be fixed. */
    retry(x, VG_FLUSH_REFUSED, reason, 0, "%s (HTTP %ld: %s)", what, st, text);
    return;
  }
  next(x);
}

static int influxdb_flush(void *ctx, const struct vg_journal_record *records,
                          size_t n, vg_flush_done done, void *arg) {
  struct influxdb *x = ctx;
  if (x->busy)
    return -EBUSY;
  vg_buf_reset(&x->body);
  vg_buf_reset(&x->server_message);
  vg_buf_reset(&x->local_message);
  x->nlines = 0;
  x->accepted = x->server_rejected = x->local_rejected = x->skipped = 0;
  x->server_reason = NULL;
  int rc = serialize(x, records, n);
  if (rc)
    return rc;
  x->done = done;
  x->done_arg = arg;
  plan(x);
  x->busy = true;
  /* Nothing line protocol can carry: answered at once, which the
   * interface allows for what is refused before sending. */
  if (x->npieces == 0) {
    complete(x);
    return 0;
  }
  rc = send_top(x);
  if (rc)
    x->busy = false;
  return rc;
}

const struct vg_exporter_type vg_exporter_influxdb = {
    .name = "influxdb",
    .accepts_out_of_order = true,
    .description = "Writes every sample to InfluxDB in line protocol: v1 "
                   "/write (database, retention policy, Basic auth) or v2 "
                   "/api/v2/write (org, bucket, token).",
    .config_tables = influxdb_tables,
    .configure = influxdb_configure,
    .start = influxdb_start,
    .flush = influxdb_flush,
    .stop = influxdb_stop,
    .destroy = influxdb_destroy,
};
