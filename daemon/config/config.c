/* daemon/config/config.c - the top-level configuration of villagemetricsd.
 *
 * Owns: the tables of the top-level and "http" keys, their validation
 * (listen address syntax, log level, constant labels), and the check that
 * "collectors" and "exporters" are arrays of objects with a string "type".
 * It must not look inside a collector or exporter object beyond "type":
 * each plugin checks its own keys, so that the error names its key.
 */
#include "daemon/config/config.h"
#include "daemon/config/conflicts.h"
#include "daemon/config/targets.h"
#include "daemon/util/buf.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the tables fill; moved into struct vg_config afterwards, because
 * some of its fields (an unsigned, the labels array) are not table types. */
struct top {
  char *listen;
  const cJSON *http;
  const cJSON *journal;
  const cJSON *registry;
  char *log_level;
  char *state_dir;
  int64_t stale_after_ms;
  const cJSON *labels;
  const cJSON *targets;
  const cJSON *collectors;
  const cJSON *exporters;
};

struct http {
  int64_t max_connections;
  int64_t max_connections_per_address;
  int64_t header_timeout_ms;
  int64_t timeout_ms;
  char *tls_cert_file, *tls_key_file, *read_token;
};

struct registry {
  char *path;
};

struct journal {
  uint64_t max_bytes;
  uint64_t segment_bytes;
  int64_t commit_window_ms;
  char *fsync;
};

const struct vg_cfg_key vg_config_keys[] = {
    {"listen", VG_CFG_STRING, "127.0.0.1:9464", offsetof(struct top, listen),
     "Address of the HTTP server (/metrics, status, push endpoints): "
     "host:port, [v6]:port or :port for every address.",
     false},
    {"http", VG_CFG_JSON, NULL, offsetof(struct top, http),
     "HTTP server limits: an object with the keys below.", false},
    {"journal", VG_CFG_JSON, NULL, offsetof(struct top, journal),
     "The journal of samples for the push exporters: an object with the "
     "keys below.",
     false},
    {"registry", VG_CFG_JSON, NULL, offsetof(struct top, registry),
     "The village registry (gazetteer): the path of its CSV file, or an "
     "object with the keys below. Every sample naming a village (code, or "
     "village with town and county) then carries the registry's code, "
     "county, town and village, or is rejected (unknown_village, "
     "ambiguous_village). Re-read on SIGHUP and when the file changes.",
     false},
    {"log_level", VG_CFG_STRING, "info", offsetof(struct top, log_level),
     "Least important messages logged: error, warning, notice, info or "
     "debug (a line for each file scan, HTTP collector request, scrape "
     "and push; see operations.md, \"Debug logging\").",
     false},
    {"state_dir", VG_CFG_PATH, "/var/lib/villagemetrics",
     offsetof(struct top, state_dir),
     "Folder of the journal and the exporters' cursors.", false},
    {"stale_after", VG_CFG_DURATION, "15m",
     offsetof(struct top, stale_after_ms),
     "A series whose source stops reporting it leaves /metrics after this.",
     false},
    {"labels", VG_CFG_JSON, NULL, offsetof(struct top, labels),
     "Constant labels added to every series, such as {\"city\": "
     "\"Tongren\"}.",
     false},
    {"targets", VG_CFG_JSON, NULL, offsetof(struct top, targets),
     "The programme's target of each indicator, which the dashboards and "
     "alerts compare villages with, served as village_target{indicator} "
     "(and, given per county, village_target{indicator,county}): "
     "{\"village_water_safe_households_ratio\": 1, "
     "\"village_income_per_capita_yuan\": {\"default\": 4000, "
     "\"Songtao\": 3500}}. Each name must be in the catalog and each value "
     "in its range.",
     false},
    {"collectors", VG_CFG_JSON, NULL, offsetof(struct top, collectors),
     "Array of sources, each an object with a \"type\"; conf.d/ files add "
     "to it.",
     false},
    {"exporters", VG_CFG_JSON, NULL, offsetof(struct top, exporters),
     "Array of sinks, each an object with a \"type\"; conf.d/ files add "
     "to it.",
     false},
    VG_CFG_END,
};

const struct vg_cfg_key vg_config_http_keys[] = {
    {"max_connections", VG_CFG_INT, "4096",
     offsetof(struct http, max_connections),
     "Most connections open at once (1 to 65535). Past it, the oldest "
     "connection that has no request in progress (one still sending its "
     "headers, or kept alive between requests) is closed to make room; "
     "with this many requests in progress, further requests get 503 with "
     "Retry-After, except /healthz, /readyz and /metrics, which have "
     "headroom of their own. Lowered at start, with a notice, to what the "
     "limit of open files (LimitNOFILE) holds.",
     false},
    {"max_connections_per_address", VG_CFG_INT, "1024",
     offsetof(struct http, max_connections_per_address),
     "Most connections open at once from one client address (1 to 65535); "
     "past it, that address's oldest connection that has no request in "
     "progress is closed, and with this many of its requests in progress "
     "its further ones get 503. Closing a kept-alive connection can "
     "meet a request its client is writing to it: raise it past the "
     "number of senders behind one NAT or load balancer.",
     false},
    {"header_timeout", VG_CFG_DURATION, "10s",
     offsetof(struct http, header_timeout_ms),
     "A request's headers must be complete this long after the connection "
     "opened (TLS handshake included), however steadily they trickle in; "
     "on a kept-alive connection, this long after the idle timeout since "
     "the last answer. Past it the connection is closed.",
     false},
    {"timeout", VG_CFG_DURATION, "30s", offsetof(struct http, timeout_ms),
     "A connection that sends or takes nothing for this long is closed "
     "(a request's body, an answer, a kept-alive connection); 0 never "
     "closes it.",
     false},
    {"tls_cert_file", VG_CFG_PATH, NULL, offsetof(struct http, tls_cert_file),
     "With tls_key_file: serve HTTPS with this PEM certificate (chain). Read "
     "at start; a change takes a restart.",
     false},
    {"tls_key_file", VG_CFG_PATH, NULL, offsetof(struct http, tls_key_file),
     "The PEM private key of tls_cert_file.", false},
    {"read_token", VG_CFG_STRING, NULL, offsetof(struct http, read_token),
     "When set, /metrics, / and /api/v1/status require it (\"Authorization: "
     "Bearer <token>\", or as the password of Basic credentials); /healthz "
     "and /readyz stay open for probes. Push endpoints have their own "
     "(the listen collector's token). \"@file:/path\" reads it from a file.",
     false},
    VG_CFG_END,
};

const struct vg_cfg_key vg_config_registry_keys[] = {
    {"path", VG_CFG_PATH, NULL, offsetof(struct registry, path),
     "The registry's CSV file (UTF-8 or GBK; columns code, county, town, "
     "village and optionally county_zh, town_zh, village_zh, aliases, "
     "latitude, longitude, households, population). Relative to the "
     "configuration file's folder.",
     true},
    VG_CFG_END,
};

const struct vg_cfg_key vg_config_journal_keys[] = {
    {"max_bytes", VG_CFG_SIZE, "1GiB", offsetof(struct journal, max_bytes),
     "Most disk the journal may use. Past it the oldest segment is deleted "
     "and the samples an exporter had not delivered are counted in "
     "villagemetrics_journal_dropped_samples_total. Size it for the longest "
     "outage to ride out (docs/operations.md).",
     false},
    {"segment_bytes", VG_CFG_SIZE, "16MiB",
     offsetof(struct journal, segment_bytes),
     "Size of one segment file; space is freed a segment at a time.", false},
    {"commit_window", VG_CFG_DURATION, "100ms",
     offsetof(struct journal, commit_window_ms),
     "Samples are committed at once (one write and one fsync); what arrives "
     "while a commit runs goes into the next one. Cursor writes and segment "
     "deletions go with the next commit of samples, or when none comes, ten "
     "of these windows later (a second by default).",
     false},
    {"fsync", VG_CFG_STRING, "batch", offsetof(struct journal, fsync),
     "\"batch\": fsync every commit, so a crash or power loss loses "
     "nothing that was acknowledged; \"off\": leave flushing to the kernel, "
     "so a power loss can lose the last seconds (a crash of the daemon "
     "alone still loses nothing written).",
     false},
    VG_CFG_END,
};

static const struct vg_cfg_key type_key[] = {
    {"type", VG_CFG_STRING, NULL, 0, "plugin type", true},
    VG_CFG_END,
};

/* The value as written, for messages: 3, "x", an array. */
static const char *show(const cJSON *v, char *out, size_t size) {
  if (cJSON_IsObject(v) || cJSON_IsArray(v))
    return cJSON_IsObject(v) ? "an object" : "an array";
  char *text = cJSON_PrintUnformatted(v); /* freed below */
  snprintf(out, size, strlen(text) > 60 ? "%.56s..." : "%s", text);
  free(text);
  return out;
}

/* 0 when s is host:port, [v6]:port or :port; the syntax only, since name
 * resolution is the HTTP server's business at start. */
static int check_listen(const char *s, unsigned long *port) {
  const char *colon;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end == s + 1 || end[1] != ':' ||
        strcspn(s + 1, "[ \t") < (size_t)(end - s - 1))
      return -EINVAL;
    colon = end + 1;
  } else {
    colon = strchr(s, ':');
    if (!colon || strcspn(s, "[] \t/") < (size_t)(colon - s))
      return -EINVAL;
  }
  size_t digits = strspn(colon + 1, "0123456789");
  if (digits == 0 || digits > 5 || colon[1 + digits])
    return -EINVAL;
  *port = strtoul(colon + 1, NULL, 10);
  return *port > 65535 ? -ERANGE : 0;
}

static int check_labels(struct vg_config *cfg, const cJSON *labels,
                        struct vg_cfg_err *err) {
  char got[80];
  if (!labels)
    return 0;
  if (!cJSON_IsObject(labels))
    return vg_cfg_error(err, labels,
                        "\"labels\": expected an object of names and string "
                        "values, got %s",
                        show(labels, got, sizeof got));
  size_t n = (size_t)cJSON_GetArraySize(labels);
  cfg->labels = vg_calloc(n, sizeof *cfg->labels); /* vg_config_free */
  for (const cJSON *m = labels->child; m; m = m->next) {
    const char *name = m->string;
    size_t ok = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                             "VWXYZ_0123456789");
    if (!name[0] || name[ok] || (name[0] >= '0' && name[0] <= '9'))
      return vg_cfg_error_key(
          err, m,
          "label name \"%s\" is invalid: expected [a-zA-Z_][a-zA-Z0-9_]*",
          name);
    if (!strncmp(name, "__", 2))
      return vg_cfg_error_key(
          err, m,
          "label name \"%s\" is reserved: names starting with \"__\" "
          "are for internal use",
          name);
    if (!cJSON_IsString(m))
      return vg_cfg_error(err, m, "label \"%s\": expected a string, got %s",
                          name, show(m, got, sizeof got));
    /* Owned by cfg; freed by vg_config_free. */
    cfg->labels[cfg->nlabels].name = vg_strdup(name);
    cfg->labels[cfg->nlabels++].value = vg_strdup(m->valuestring);
  }
  return 0;
}

static int check_plugins(const char *what, const cJSON *arr,
                         struct vg_cfg_err *err) {
  char got[80];
  if (!arr)
    return 0;
  if (!cJSON_IsArray(arr))
    return vg_cfg_error(err, arr,
                        "\"%s\": expected an array of objects, got %s", what,
                        show(arr, got, sizeof got));
  int i = 0;
  for (const cJSON *el = arr->child; el; el = el->next, i++) {
    if (!cJSON_IsObject(el))
      return vg_cfg_error(err, el, "%s[%d]: expected an object, got %s", what,
                          i, show(el, got, sizeof got));
    char *type = NULL;
    int rc = vg_cfg_apply(type_key, &type, el, err);
    vg_cfg_release(type_key, &type);
    if (rc)
      return rc;
  }
  return 0;
}

/* Reads a PEM file whole into *out (owned by the config). */
static int read_pem(const char *path, char **out, const cJSON *obj,
                    const char *key, struct vg_cfg_err *err) {
  const cJSON *node = cJSON_GetObjectItemCaseSensitive(obj, key);
  FILE *f = fopen(path, "r");
  if (!f)
    return vg_cfg_error(err, node, "\"%s\": cannot read %s: %s", key, path,
                        strerror(errno));
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  int rc = 0;
  while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = vg_buf_append(&b, chunk, n);
  fclose(f);
  if (rc || !b.data || !strstr(b.data, "-----BEGIN ")) {
    vg_buf_free(&b);
    return vg_cfg_error(err, node, "\"%s\": %s is not a PEM file%s", key, path,
                        rc ? " (over 1 MiB)" : "");
  }
  *out = vg_buf_take(&b, NULL);
  return 0;
}

static int apply_http(struct vg_config *cfg, const cJSON *obj,
                      struct vg_cfg_err *err) {
  static const struct vg_cfg_key *const tables[] = {vg_config_http_keys, NULL};
  struct http h = {0};
  char got[80];
  int rc;
  if (obj && !cJSON_IsObject(obj))
    return vg_cfg_error(err, obj, "\"http\": expected an object, got %s",
                        show(obj, got, sizeof got));
  if ((rc = vg_cfg_check_unknown(tables, obj, err)) ||
      (rc = vg_cfg_apply(vg_config_http_keys, &h, obj, err)))
    return rc;
  if (h.max_connections < 1 || h.max_connections > 65535)
    rc = vg_cfg_error(err,
                      cJSON_GetObjectItemCaseSensitive(obj, "max_connections"),
                      "\"max_connections\": expected 1 to 65535, got %lld",
                      (long long)h.max_connections);
  if (!rc && (h.max_connections_per_address < 1 ||
              h.max_connections_per_address > 65535))
    rc = vg_cfg_error(
        err,
        cJSON_GetObjectItemCaseSensitive(obj, "max_connections_per_address"),
        "\"max_connections_per_address\": expected 1 to 65535, got %lld",
        (long long)h.max_connections_per_address);
  if (!rc && (h.header_timeout_ms < 1 || h.header_timeout_ms > 3600000))
    rc = vg_cfg_error(err,
                      cJSON_GetObjectItemCaseSensitive(obj, "header_timeout"),
                      "\"header_timeout\": expected more than 0 and at most "
                      "1h: a connection must send its headers some time");
  cfg->http_max_connections = (unsigned)h.max_connections;
  cfg->http_max_connections_per_address =
      (unsigned)h.max_connections_per_address;
  cfg->http_header_timeout_ms = h.header_timeout_ms;
  cfg->http_timeout_ms = h.timeout_ms;
  if (!rc && !h.tls_cert_file != !h.tls_key_file)
    rc = vg_cfg_error(err, obj,
                      "\"tls_cert_file\" and \"tls_key_file\" go together");
  if (!rc && h.tls_cert_file)
    rc = read_pem(h.tls_cert_file, &cfg->tls_cert_pem, obj, "tls_cert_file",
                  err);
  if (!rc && h.tls_key_file)
    rc = read_pem(h.tls_key_file, &cfg->tls_key_pem, obj, "tls_key_file", err);
  if (!rc && h.read_token && !h.read_token[0])
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "read_token"),
                      "\"read_token\" is empty: remove it to serve /metrics "
                      "without credentials");
  if (!rc && h.read_token)
    cfg->read_token = vg_strdup(h.read_token);
  vg_cfg_release(vg_config_http_keys, &h);
  return rc;
}

static int apply_journal(struct vg_config *cfg, const cJSON *obj,
                         struct vg_cfg_err *err) {
  static const struct vg_cfg_key *const tables[] = {vg_config_journal_keys,
                                                    NULL};
  struct journal jn = {0};
  char got[80];
  int rc;
  if (obj && !cJSON_IsObject(obj))
    return vg_cfg_error(err, obj, "\"journal\": expected an object, got %s",
                        show(obj, got, sizeof got));
  if ((rc = vg_cfg_check_unknown(tables, obj, err)) ||
      (rc = vg_cfg_apply(vg_config_journal_keys, &jn, obj, err)))
    return rc;
  cfg->journal_max_bytes = jn.max_bytes;
  cfg->journal_segment_bytes = jn.segment_bytes;
  cfg->journal_commit_window_ms = jn.commit_window_ms;
  bool batch = strcmp(jn.fsync, "batch") == 0;
  if (!batch && strcmp(jn.fsync, "off") != 0)
    rc = vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(obj, "fsync"),
                      "\"fsync\": expected \"batch\" or \"off\", got \"%s\"",
                      jn.fsync);
  cfg->journal_fsync_batch = batch;
  if (!rc && jn.segment_bytes > jn.max_bytes / 2)
    rc = vg_cfg_error(
        err, obj,
        "\"journal\": segment_bytes must be at most half of max_bytes, so "
        "that dropping a segment frees room");
  if (!rc && jn.commit_window_ms <= 0)
    rc = vg_cfg_error(err,
                      cJSON_GetObjectItemCaseSensitive(obj, "commit_window"),
                      "\"commit_window\" must be longer than 0");
  vg_cfg_release(vg_config_journal_keys, &jn);
  return rc;
}

/* "registry": "villages.csv" is short for {"path": "villages.csv"}.  Only
 * the path is checked here: the file is read where the configuration goes
 * live (it changes on its own, and its parser is not this layer's). */
static int apply_registry(struct vg_config *cfg, const cJSON *v,
                          struct vg_cfg_err *err) {
  static const struct vg_cfg_key *const tables[] = {vg_config_registry_keys,
                                                    NULL};
  if (!v)
    return 0;
  char got[80];
  if (cJSON_IsString(v)) {
    if (!v->valuestring[0])
      return vg_cfg_error(err, v,
                          "\"registry\" is empty: remove it to run without "
                          "a registry");
    cfg->registry_path =
        v->valuestring[0] == '/'
            ? vg_strdup(v->valuestring)
            : vg_asprintf("%s/%s", vg_cfg_doc_node_dir(cfg->doc, v),
                          v->valuestring); /* freed by vg_config_free */
    return 0;
  }
  if (!cJSON_IsObject(v))
    return vg_cfg_error(err, v,
                        "\"registry\": expected a path or an object, got %s",
                        show(v, got, sizeof got));
  struct registry rg = {0};
  int rc;
  if ((rc = vg_cfg_check_unknown(tables, v, err)) ||
      (rc = vg_cfg_apply(vg_config_registry_keys, &rg, v, err)))
    return rc;
  cfg->registry_path = rg.path;
  rg.path = NULL;
  vg_cfg_release(vg_config_registry_keys, &rg);
  return 0;
}

static int apply(struct vg_config *cfg, struct vg_cfg_err *err) {
  static const struct vg_cfg_key *const tables[] = {vg_config_keys, NULL};
  struct top t = {0};
  int rc;
  if ((rc = vg_cfg_check_unknown(tables, cfg->root, err)) ||
      (rc = vg_cfg_apply(vg_config_keys, &t, cfg->root, err)))
    return rc;
  /* The strings are cfg's from here on. */
  cfg->listen = t.listen;
  cfg->log_level = t.log_level;
  cfg->state_dir = t.state_dir;
  cfg->stale_after_ms = t.stale_after_ms;
  cfg->collectors = t.collectors;
  cfg->exporters = t.exporters;
  if ((rc = apply_http(cfg, t.http, err)) ||
      (rc = apply_journal(cfg, t.journal, err)) ||
      (rc = apply_registry(cfg, t.registry, err)))
    return rc;

  const cJSON *at = cJSON_GetObjectItemCaseSensitive(cfg->root, "listen");
  unsigned long port;
  rc = check_listen(cfg->listen, &port);
  if (rc == -ERANGE)
    return vg_cfg_error(err, at,
                        "\"listen\": port %lu is out of range 0..65535", port);
  if (rc)
    return vg_cfg_error(err, at,
                        "\"listen\": expected host:port, [v6]:port or :port, "
                        "got \"%s\"",
                        cfg->listen);
  if (vg_log_level_parse(cfg->log_level) < 0)
    return vg_cfg_error(
        err, cJSON_GetObjectItemCaseSensitive(cfg->root, "log_level"),
        "\"log_level\": expected one of error, warning, notice, info, debug, "
        "got \"%s\"",
        cfg->log_level);
  if ((rc = check_labels(cfg, t.labels, err)) ||
      (rc = vg_targets_parse(t.targets, &cfg->targets, &cfg->ntargets, err)) ||
      (rc = check_plugins("collectors", cfg->collectors, err)) ||
      (rc = check_plugins("exporters", cfg->exporters, err)))
    return rc;
  return vg_config_check_conflicts(cfg, err);
}

int vg_config_load(const char *path, struct vg_config **out,
                   struct vg_cfg_err *err) {
  struct vg_config *cfg = vg_calloc(1, sizeof *cfg); /* *out on success */
  int rc = vg_cfg_doc_load(path, &cfg->doc, &cfg->root, err);
  if (!rc) {
    cfg->path = vg_strdup(path);
    rc = apply(cfg, err);
  }
  if (rc) {
    vg_config_free(cfg);
    err->doc = NULL; /* it was cfg's; the message is already written */
    return rc;
  }
  *out = cfg;
  return 0;
}

void vg_config_free(struct vg_config *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < cfg->nlabels; i++) {
    free((char *)cfg->labels[i].name);
    free((char *)cfg->labels[i].value);
  }
  free(cfg->labels);
  vg_targets_free(cfg->targets, cfg->ntargets);
  free(cfg->tls_cert_pem);
  free(cfg->tls_key_pem);
  free(cfg->read_token);
  free(cfg->listen);
  free(cfg->log_level);
  free(cfg->state_dir);
  free(cfg->registry_path);
  free(cfg->path);
  cJSON_Delete(cfg->root);
  vg_cfg_doc_free(cfg->doc);
  free(cfg);
}
