/* daemon/net/httpd_auth.h - who may call an endpoint of the daemon's server.
 *
 * One check for every protected route: the write endpoints of push
 * collectors, and /metrics and the status pages when they have a token of
 * their own.  Credentials are compared in constant time (for a given
 * length), so that the time of a refusal does not tell how much of a
 * guess was right.
 */
#ifndef VG_HTTPD_AUTH_H
#define VG_HTTPD_AUTH_H

#include "daemon/net/httpd.h"

#include <stdbool.h>

struct vg_httpd_auth {
  const char *token;    /* "Authorization: Bearer <t>" or "Token <t>" */
  const char *username; /* Basic credentials, with password */
  const char *password;
  /* Also take InfluxDB 1.x's `u` and `p` query parameters as Basic
   * credentials, and `p` alone as the token (the influx CLI and Telegraf
   * send them so). */
  bool query_credentials;
};

/* Whether `req` may proceed: true when `auth` asks for nothing (NULL, or
 * no token and no username), or the request carries a matching token or
 * Basic credentials. */
bool vg_httpd_auth_check(const struct vg_httpd_request *req,
                         const struct vg_httpd_auth *auth);

/* Compares without an early exit: the time depends on the lengths only. */
bool vg_secret_equal(const char *given, size_t given_len, const char *want);

#endif
