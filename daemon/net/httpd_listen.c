/* daemon/net/httpd_listen.c - the HTTP server's listening socket.
 *
 * Owns turning a configured listen address into a bound, listening
 * socket, here rather than in MHD so that every failure reads well ("cannot
 * listen on :80: Permission denied").  The socket is handed to the caller
 * (then to MHD, which closes it).  Must not block: addresses are numeric,
 * never looked up by name.
 */
#include "daemon/net/httpd_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections the kernel completes before we accept them (capped by
 * net.core.somaxconn).  Generous: under a flood of connections the loop
 * accepts them quickly and closes the extra ones itself, and a client
 * whose SYN finds the queue full waits a second or more to try again. */
#define LISTEN_BACKLOG 1024

/* Splits "host:port", "[v6]:port" or ":port"; host is "" for every
 * address. */
static int split_listen(const char *listen, char *host, size_t host_size,
                        char *port, size_t port_size) {
  const char *colon, *h = listen;
  size_t hlen;
  if (listen[0] == '[') {
    const char *close = strchr(listen, ']');
    if (!close || close[1] != ':')
      return -EINVAL;
    h = listen + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
      return -EINVAL;
    hlen = (size_t)(colon - listen);
  }
  const char *p = colon + 1;
  size_t plen = strlen(p);
  if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen ||
      strtoul(p, NULL, 10) > 65535 || hlen >= host_size || plen >= port_size)
    return -EINVAL;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  memcpy(port, p, plen + 1);
  return 0;
}

static int bind_one(const struct addrinfo *ai, int *out) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  ai->ai_protocol);
  if (fd < 0)
    return -errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* ":port" binds the IPv6 wildcard; let it take IPv4 as well. */
  if (ai->ai_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      listen(fd, LISTEN_BACKLOG) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

int vg__httpd_listen(const char *listen, int *out, char *error,
                     size_t error_size) {
  char host[256], port[8];
  if (split_listen(listen, host, sizeof host, port, sizeof port) != 0) {
    snprintf(error, error_size,
             "invalid listen address \"%s\": expected host:port, "
             "[v6]:port or :port",
             listen);
    return -EINVAL;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC,
      .ai_socktype = SOCK_STREAM,
      .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
  };
  struct addrinfo *res;
  int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (rc != 0) {
    snprintf(error, error_size, "cannot listen on %s: %s", listen,
             gai_strerror(rc));
    return -EINVAL;
  }
  /* For the wildcard, the IPv6 address (dual-stack) first, IPv4 if the
   * host has no IPv6. */
  int err = -EADDRNOTAVAIL;
  for (int pass = 0; pass < 2; pass++)
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      if ((pass == 0) != (ai->ai_family == AF_INET6))
        continue;
      err = bind_one(ai, out);
      if (err == 0) {
        freeaddrinfo(res);
        return 0;
      }
    }
  freeaddrinfo(res);
  snprintf(error, error_size, "cannot listen on %s: %s", listen,
           strerror(-err));
  return err;
}

uint16_t vg__httpd_listen_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
