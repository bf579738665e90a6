/* daemon/net/http_client_conf.c - the HTTP client keys: table, checks and
 * messages, and their curl options.
 *
 * Owns the extra header lines it builds from "headers" (freed by
 * vg_http_client_conf_release).  Must never: send anything, or let a configured
 * header replace one the client computes (credentials, lengths,
 * encodings).
 */
#include "daemon/net/http_client_conf.h"
#include "daemon/util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const struct vg_cfg_key vg_http_client_conf_keys[] = {
    {"url", VG_CFG_STRING, NULL, offsetof(struct vg_http_client_conf, url),
     "An http:// or https:// URL: where an exporter sends, or what a "
     "collector fetches.",
     true},
    {"timeout", VG_CFG_DURATION, "10s",
     offsetof(struct vg_http_client_conf, timeout_ms),
     "The longest one request may take, connection included.", false},
    {"username", VG_CFG_STRING, NULL,
     offsetof(struct vg_http_client_conf, username),
     "Basic authentication user (with password).", false},
    {"password", VG_CFG_STRING, NULL,
     offsetof(struct vg_http_client_conf, password),
     "Basic authentication password; \"@file:/path\" reads it from a file.",
     false},
    {"bearer_token", VG_CFG_STRING, NULL,
     offsetof(struct vg_http_client_conf, bearer_token),
     "Sent as \"Authorization: Bearer <token>\"; \"@file:/path\" reads it "
     "from a file.  Excludes username.",
     false},
    {"tls_ca_file", VG_CFG_PATH, NULL,
     offsetof(struct vg_http_client_conf, tls_ca_file),
     "PEM file of the certificate authorities to trust (default: the "
     "system's).",
     false},
    {"tls_skip_verify", VG_CFG_BOOL, "false",
     offsetof(struct vg_http_client_conf, tls_skip_verify),
     "Accept any server certificate and host name (testing only).", false},
    {"headers", VG_CFG_JSON, NULL,
     offsetof(struct vg_http_client_conf, headers),
     "Extra request headers, {\"Name\": \"value\"}; they cannot replace the "
     "headers the daemon sets itself.",
     false},
    VG_CFG_END,
};

/* Headers that the client itself sets or that curl computes. */
static const char *const always_reserved[] = {
    "Authorization", "Content-Encoding", "Content-Length", NULL};

/* RFC 9110 token characters. */
static bool valid_header_name(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
      return false;
  return true;
}

static bool in_list(const char *const *names, const char *name) {
  for (size_t i = 0; names && names[i]; i++)
    if (strcasecmp(names[i], name) == 0)
      return true;
  return false;
}

static int check_headers(struct vg_http_client_conf *c,
                         const char *const *reserved, struct vg_cfg_err *err) {
  const cJSON *h = c->headers;
  if (!h)
    return 0;
  if (!cJSON_IsObject(h))
    return vg_cfg_error(err, h,
                        "\"headers\": expected an object of \"Name\": "
                        "\"value\" strings");
  size_t n = 0;
  for (const cJSON *m = h->child; m; m = m->next) {
    if (!valid_header_name(m->string))
      return vg_cfg_error_key(
          err, m, "\"headers\": \"%s\" is not a valid header name", m->string);
    if (in_list(always_reserved, m->string) || in_list(reserved, m->string))
      return vg_cfg_error_key(
          err, m,
          "\"headers\": \"%s\" is set by the daemon and cannot be "
          "overridden",
          m->string);
    if (!cJSON_IsString(m))
      return vg_cfg_error(err, m, "\"headers\": \"%s\": expected a string",
                          m->string);
    if (strpbrk(m->valuestring, "\r\n"))
      return vg_cfg_error(err, m,
                          "\"headers\": \"%s\": a value cannot hold a line "
                          "break",
                          m->string);
    n++;
  }
  /* Owned by c; freed by vg_http_client_conf_release. */
  c->extra_headers = vg_calloc(n + 1, sizeof *c->extra_headers);
  n = 0;
  for (const cJSON *m = h->child; m; m = m->next)
    c->extra_headers[n++] = vg_asprintf("%s: %s", m->string, m->valuestring);
  return 0;
}

static int check(struct vg_http_client_conf *c, const cJSON *cfg,
                 const char *const *reserved, struct vg_cfg_err *err) {
  const cJSON *url = cJSON_GetObjectItemCaseSensitive(cfg, "url");
  size_t scheme = strncasecmp(c->url, "https://", 8) == 0  ? 8
                  : strncasecmp(c->url, "http://", 7) == 0 ? 7
                                                           : 0;
  if (!scheme)
    return vg_cfg_error(err, url,
                        "\"url\": expected an http:// or https:// URL, got "
                        "\"%s\"",
                        c->url);
  if (c->url[scheme] == '\0' || c->url[scheme] == '/' ||
      strpbrk(c->url, " \t\r\n"))
    return vg_cfg_error(err, url, "\"url\": \"%s\" is not a valid URL", c->url);
  if (c->timeout_ms <= 0)
    return vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "timeout"),
                        "\"timeout\": must be more than 0");
  if (c->username && c->bearer_token)
    return vg_cfg_error(
        err, cJSON_GetObjectItemCaseSensitive(cfg, "bearer_token"),
        "\"bearer_token\": cannot be used together with \"username\"");
  if (c->password && !c->username)
    return vg_cfg_error(err, cJSON_GetObjectItemCaseSensitive(cfg, "password"),
                        "\"password\": needs \"username\"");
  if (c->bearer_token &&
      (!*c->bearer_token || strpbrk(c->bearer_token, "\r\n")))
    return vg_cfg_error(err,
                        cJSON_GetObjectItemCaseSensitive(cfg, "bearer_token"),
                        "\"bearer_token\": must be one line and not empty");
  if (c->tls_ca_file && access(c->tls_ca_file, R_OK) != 0)
    return vg_cfg_error(
        err, cJSON_GetObjectItemCaseSensitive(cfg, "tls_ca_file"),
        "\"tls_ca_file\": cannot read %s: %s", c->tls_ca_file, strerror(errno));
  return check_headers(c, reserved, err);
}

int vg_http_client_conf_apply(struct vg_http_client_conf *c, const cJSON *cfg,
                              const char *const *reserved,
                              struct vg_cfg_err *err) {
  c->extra_headers = NULL;
  int rc = vg_cfg_apply(vg_http_client_conf_keys, c, cfg, err);
  if (rc)
    return rc;
  rc = check(c, cfg, reserved, err);
  if (rc)
    vg_http_client_conf_release(c);
  return rc;
}

void vg_http_client_conf_release(struct vg_http_client_conf *c) {
  vg_cfg_release(vg_http_client_conf_keys, c);
  for (size_t i = 0; c->extra_headers && c->extra_headers[i]; i++)
    free(c->extra_headers[i]);
  free(c->extra_headers);
  c->extra_headers = NULL;
  c->headers = NULL;
}

static void append(struct curl_slist **list, const char *line) {
  struct curl_slist *l = curl_slist_append(*list, line);
  if (!l) {
    fputs("villagemetricsd: out of memory\n", stderr);
    abort();
  }
  *list = l;
}

void vg_http_client_conf_setopt(const struct vg_http_client_conf *c, CURL *e,
                                struct curl_slist **headers) {
  for (size_t i = 0; c->extra_headers && c->extra_headers[i]; i++)
    append(headers, c->extra_headers[i]);
  if (c->bearer_token) {
    char *auth = vg_asprintf("Authorization: Bearer %s", c->bearer_token);
    append(headers, auth);
    free(auth);
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, "villagemetricsd/" VG_VERSION);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (c->username) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
    curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "");
  }
  if (c->tls_ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, c->tls_ca_file);
  if (c->tls_skip_verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}
