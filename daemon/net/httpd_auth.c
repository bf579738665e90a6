/* daemon/net/httpd_auth.c - credential checks for the daemon's endpoints.
 *
 * Owns nothing: it reads the request's headers and query.  Must never log
 * or echo a credential.
 */
#include "daemon/net/httpd_auth.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool vg_secret_equal(const char *given, size_t given_len, const char *want) {
  size_t want_len = strlen(want);
  unsigned char diff = given_len != want_len;
  /* Walk the expected secret whatever was given, so that the time does not
   * depend on where the first difference is. */
  for (size_t i = 0; i < want_len; i++)
    diff |= (unsigned char)(want[i] ^ (i < given_len ? given[i] : 0));
  return diff == 0;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Decodes standard base64 into out (NUL-terminated); -1 when malformed or
 * too long for out. */
static int b64_decode(const char *in, char *out, size_t size) {
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *in && *in != '='; in++) {
    int v = b64_value(*in);
    if (v < 0)
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= size)
        return -1;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[n] = '\0';
  return (int)n;
}

static bool basic_matches(const struct vg_httpd_auth *a, const char *user,
                          size_t user_len, const char *pass, size_t pass_len) {
  /* Both compared whatever the first gave, for the same reason. */
  bool u = vg_secret_equal(user, user_len, a->username);
  bool p = vg_secret_equal(pass, pass_len, a->password ? a->password : "");
  return u & p;
}

bool vg_httpd_auth_check(const struct vg_httpd_request *req,
                         const struct vg_httpd_auth *a) {
  if (!a || (!a->token && !a->username))
    return true;
  const char *h = vg_httpd_header(req, "Authorization");
  if (h) {
    const char *sp = strchr(h, ' ');
    size_t scheme = sp ? (size_t)(sp - h) : 0;
    const char *cred = sp ? sp + 1 : "";
    while (*cred == ' ')
      cred++;
    if (a->token && ((scheme == 6 && strncasecmp(h, "Bearer", 6) == 0) ||
                     (scheme == 5 && strncasecmp(h, "Token", 5) == 0)))
      return vg_secret_equal(cred, strlen(cred), a->token);
    if (scheme == 5 && strncasecmp(h, "Basic", 5) == 0) {
      char plain[1024];
      int n = b64_decode(cred, plain, sizeof plain);
      const char *colon = n > 0 ? memchr(plain, ':', (size_t)n) : NULL;
      if (!colon)
        return false;
      size_t ulen = (size_t)(colon - plain);
      size_t plen = (size_t)n - ulen - 1;
      if (a->username)
        return basic_matches(a, plain, ulen, colon + 1, plen);
      /* Token-only: senders that speak only Basic put it as the password
       * (Prometheus' basic_auth, the influx CLI). */
      return vg_secret_equal(colon + 1, plen, a->token);
    }
    return false;
  }
  if (!a->query_credentials)
    return false;
  const char *u = vg_httpd_query(req, "u"), *p = vg_httpd_query(req, "p");
  if (!p)
    return false;
  if (a->username)
    return u && basic_matches(a, u, strlen(u), p, strlen(p));
  return vg_secret_equal(p, strlen(p), a->token);
}
