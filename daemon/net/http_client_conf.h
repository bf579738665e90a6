/* daemon/net/http_client_conf.h - the settings every HTTP client of the daemon
 * has.
 *
 * Push exporters POST to a sink and HTTP collectors fetch from a source;
 * both name a URL and need the same things to reach it: a timeout,
 * credentials (Basic or bearer, "@file:" secrets), TLS trust and extra
 * headers.  These keys are described once here, in one table, checked
 * once, and applied to a curl easy handle once.  What is sent and what an
 * answer means is the caller's.
 */
#ifndef VG_HTTP_CLIENT_CONF_H
#define VG_HTTP_CLIENT_CONF_H

#include "daemon/config/cfg_keys.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct vg_http_client_conf {
  char *url;
  int64_t timeout_ms;
  char *username; /* Basic auth, with password */
  char *password; /* "@file:/path" keeps it out of the configuration */
  char *bearer_token;
  char *tls_ca_file;
  bool tls_skip_verify;
  const cJSON *headers; /* {"Name": "value"}; borrowed during configure */
  char **extra_headers; /* "Name: value", NULL-terminated; owned */
};

/* url, timeout, username, password, bearer_token, tls_ca_file,
 * tls_skip_verify, headers. */
extern const struct vg_cfg_key vg_http_client_conf_keys[];

/* Applies vg_http_client_conf_keys to c and checks them: the url is http(s),
 * username and bearer_token exclude each other, and no extra header may
 * set one of `reserved` (NULL-terminated names, compared without case) or
 * Authorization, Content-Encoding or Content-Length.  On error nothing is
 * left to release. */
int vg_http_client_conf_apply(struct vg_http_client_conf *c, const cJSON *cfg,
                              const char *const *reserved,
                              struct vg_cfg_err *err);
void vg_http_client_conf_release(struct vg_http_client_conf *c);

/* Sets the timeout, credentials, TLS options and User-Agent on `easy`,
 * and appends the extra headers and the bearer token to *headers (which
 * the caller owns and hands to CURLOPT_HTTPHEADER).  The strings are
 * copied by curl, so c need not outlive the handle. */
void vg_http_client_conf_setopt(const struct vg_http_client_conf *c, CURL *easy,
                                struct curl_slist **headers);

#endif
