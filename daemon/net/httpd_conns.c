/* daemon/net/httpd_conns.c - who is connected, and whom to close first.
 *
 * Owns the accounting of the HTTP server's connections: one record per
 * connection (its client address, whether it has a request in progress,
 * since when it has been waiting), counts per address, the choice of the
 * connection to close when a new one does not fit, the header deadline,
 * and the once-a-minute log lines about floods and slow clients.
 *
 * A connection is FRESH from its accept until its first request's headers
 * are complete, BUSY from then until its answer is sent, IDLE (kept alive)
 * between requests, and CLOSING once this file chose to close it.  Only
 * FRESH and IDLE connections are ever chosen: a client that sent its
 * headers is being served and keeps its connection.  Legitimate clients
 * send their headers at once, so the connections left waiting without a
 * request are those of careless or hostile clients, and the oldest of them
 * goes first.  FRESH goes before IDLE: a kept-alive connection has at least
 * shown one real request.
 *
 * This file knows nothing of MHD or sockets (httpd.c closes what it is
 * told to), so its choices are tested without a network.  Time is given
 * by the caller, in milliseconds of a monotonic clock.
 */
#include "daemon/net/httpd_int.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* How long a flood-log slot stays with its address after its last event
 * (the complaint interval, so that a flood is logged once a minute). */
#define LOG_SLOT_MS VG_COMPLAINT_INTERVAL_MS

/* One client address. */
struct vg__httpd_addr {
  uint8_t key[16]; /* IPv6, or IPv4 mapped into it */
  uint64_t hash;
  unsigned refs;  /* connections, CLOSING ones included: frees it at 0 */
  unsigned count; /* connections, CLOSING ones excepted */
  unsigned busy;  /* of which with a request in progress */
  struct vg__httpd_list waiting[2];
};

/* ---- lists ------------------------------------------------------------- */

/* Each connection is in two lists at once: all waiting connections
 * (link 0) and its own address's (link 1); FRESH and IDLE have a list
 * each, oldest first. */
static void list_append(struct vg__httpd_list *l, struct vg__httpd_conn *c,
                        int link) {
  c->prev[link] = l->tail;
  c->next[link] = NULL;
  if (l->tail)
    l->tail->next[link] = c;
  else
    l->head = c;
  l->tail = c;
}

static void list_remove(struct vg__httpd_list *l, struct vg__httpd_conn *c,
                        int link) {
  if (c->prev[link])
    c->prev[link]->next[link] = c->next[link];
  else
    l->head = c->next[link];
  if (c->next[link])
    c->next[link]->prev[link] = c->prev[link];
  else
    l->tail = c->prev[link];
  c->prev[link] = c->next[link] = NULL;
}

static void wait_begin(struct vg__httpd_conns *cs, struct vg__httpd_conn *c,
                       enum vg__httpd_conn_state state, uint64_t now) {
  c->state = state;
  c->since_ms = now;
  list_append(&cs->waiting[state], c, 0);
  list_append(&c->addr->waiting[state], c, 1);
}

static void wait_end(struct vg__httpd_conns *cs, struct vg__httpd_conn *c) {
  list_remove(&cs->waiting[c->state], c, 0);
  list_remove(&c->addr->waiting[c->state], c, 1);
}

/* The oldest waiting connection of the lists (FRESH first), other than
 * `except` (a newcomer) and those with bytes the server has not read yet:
 * their headers may be complete, and a connection accepted in the same
 * run as them must not take their place.  Only the first few of each list
 * are looked at, so that a choice costs a few calls at most. */
#define LOOK_AT 16

static struct vg__httpd_conn *
oldest(const struct vg__httpd_list *lists, int link,
       const struct vg__httpd_conn *except,
       bool (*unread)(const struct vg__httpd_conn *c)) {
  for (int s = VG__CONN_FRESH; s <= VG__CONN_IDLE; s++) {
    int looked = 0;
    for (struct vg__httpd_conn *c = lists[s].head; c && looked < LOOK_AT;
         c = c->next[link]) {
      if (c == except)
        continue;
      looked++;
      if (!unread || !unread(c))
        return c;
    }
  }
  return NULL;
}

/* ---- addresses --------------------------------------------------------- */

static void address_key(const struct sockaddr *sa, uint8_t key[16]) {
  memset(key, 0, 16);
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &in->sin_addr, 4);
  } else if (sa && sa->sa_family == AF_INET6) {
    memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  }
}

static bool key_is_v4(const uint8_t key[16]) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(key, prefix, sizeof prefix) == 0;
}

static void key_text(const uint8_t key[16], char *out, size_t size) {
  if (!key_is_v4(key) || !inet_ntop(AF_INET, key + 12, out, (socklen_t)size))
    if (!inet_ntop(AF_INET6, key, out, (socklen_t)size))
      snprintf(out, size, "?");
}

void vg__httpd_conn_address(const struct vg__httpd_conn *c, char *out,
                            size_t size) {
  key_text(c->addr->key, out, size);
}

static struct vg__httpd_addr *address_get(struct vg__httpd_conns *cs,
                                          const uint8_t key[16]) {
  uint64_t h = vg_hash_bytes(key, 16, cs->seed);
  size_t pos = (size_t)-1;
  struct vg__httpd_addr *a;
  while ((a = vg_hashtab_next(&cs->addrs, h, &pos)))
    if (memcmp(a->key, key, 16) == 0)
      return a;
  /* Owned by the table; freed when its last connection is gone. */
  a = vg_calloc(1, sizeof *a);
  memcpy(a->key, key, 16);
  a->hash = h;
  vg_hashtab_insert(&cs->addrs, h, a);
  return a;
}

static void address_put(struct vg__httpd_conns *cs, struct vg__httpd_addr *a) {
  if (--a->refs > 0)
    return;
  vg_hashtab_remove(&cs->addrs, a->hash, a);
  free(a);
}

/* ---- the log ------------------------------------------------------------ */

/* The complaint of (address, kind): a few slots, each held by an address
 * for a minute after its last event, so that a flood from one address is
 * one line a minute with its count.  A flood from more addresses than
 * there are slots is summed up in one line of its own, rather than a line
 * per address. */
static struct vg_complaint *complaint_for(struct vg__httpd_conns *cs,
                                          const struct vg__httpd_addr *a,
                                          enum vg__httpd_event kind,
                                          uint64_t now) {
  struct vg__httpd_log_slot *free_slot = NULL;
  for (size_t i = 0; i < VG__HTTPD_LOG_SLOTS; i++) {
    struct vg__httpd_log_slot *s = &cs->log[i];
    bool used = s->last_ms && now - s->last_ms < LOG_SLOT_MS;
    if (used && s->kind == kind && memcmp(s->key, a->key, 16) == 0) {
      s->last_ms = now;
      return &s->complaint;
    }
    if (!used && !free_slot)
      free_slot = s;
  }
  if (!free_slot)
    return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  memcpy(free_slot->key, a->key, 16);
  free_slot->kind = kind;
  free_slot->last_ms = now ? now : 1;
  return &free_slot->complaint;
}

static void complain(struct vg__httpd_conns *cs, const struct vg__httpd_addr *a,
                     enum vg__httpd_event kind, uint64_t now) {
  char who[INET6_ADDRSTRLEN];
  key_text(a->key, who, sizeof who);
  struct vg_complaint *c = complaint_for(cs, a, kind, now);
  if (!c) {
    vg_complain(&cs->log_overflow, VG_LOG_WARNING,
                "http: connection floods or slow clients from more "
                "addresses than are logged one by one; see "
                "villagemetrics_http_closed_connections_total");
    return;
  }
  switch (kind) {
  case VG__HTTPD_EVICT_ADDRESS:
    vg_complain(c, VG_LOG_WARNING,
                "http: connection flood from %s: more than "
                "max_connections_per_address (%u) connections; closing its "
                "oldest ones that have no request in progress",
                who, cs->max_per_address);
    break;
  case VG__HTTPD_EVICT_TOTAL:
    vg_complain(c, VG_LOG_WARNING,
                "http: max_connections (%u) reached while %s connects; "
                "closing the oldest connections that have no request in "
                "progress",
                cs->max_total, who);
    break;
  case VG__HTTPD_HEADER_TIMEOUT:
    vg_complain(c, VG_LOG_WARNING,
                "http: %s sent no complete request headers within "
                "header_timeout (%.3g s); connection closed",
                who, (double)cs->header_ms / 1000.0);
    break;
  case VG__HTTPD_BUSY:
    vg_complain(c, VG_LOG_WARNING,
                "http: more requests in progress than max_connections (%u) "
                "or, from %s, max_connections_per_address (%u): answering "
                "503 with Retry-After",
                cs->max_total, who, cs->max_per_address);
    break;
  case VG__HTTPD_EVENTS:
    break;
  }
}

/* ---- connections -------------------------------------------------------- */

void vg__httpd_conns_init(struct vg__httpd_conns *cs, unsigned max_total,
                          unsigned max_per_address, uint64_t header_ms,
                          uint64_t idle_ms) {
  memset(cs, 0, sizeof *cs);
  cs->max_total = max_total;
  cs->max_per_address = max_per_address;
  cs->header_ms = header_ms;
  cs->idle_ms = idle_ms;
  vg_hashtab_init(&cs->addrs);
  /* Addresses are the client's choice (an IPv6 sender picks from 2^64):
   * a seed nobody knows keeps them from being chosen to collide. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  cs->seed = vg_hash_mix((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
                         (uint64_t)(uintptr_t)cs);
}

void vg__httpd_conns_free(struct vg__httpd_conns *cs) {
  /* Every connection has been closed by now (MHD reports each); what is
   * left are addresses only a bug would keep. */
  for (size_t i = 0; cs->addrs.slots && i <= cs->addrs.mask; i++)
    free(cs->addrs.slots[i].item);
  vg_hashtab_free(&cs->addrs);
}

struct vg__httpd_conn *vg__httpd_conns_open(struct vg__httpd_conns *cs,
                                            const struct sockaddr *sa,
                                            uint64_t now) {
  uint8_t key[16];
  address_key(sa, key);
  /* Owned by the accounting until vg__httpd_conns_close(). */
  struct vg__httpd_conn *c = vg_calloc(1, sizeof *c);
  c->fd = -1;
  c->addr = address_get(cs, key);
  c->addr->refs++;
  c->addr->count++;
  cs->total++;
  wait_begin(cs, c, VG__CONN_FRESH, now);
  return c;
}

struct vg__httpd_conn *vg__httpd_conns_evictee(
    const struct vg__httpd_conns *cs, const struct vg__httpd_conn *c,
    bool (*unread)(const struct vg__httpd_conn *c), enum vg__httpd_event *why) {
  struct vg__httpd_conn *v;
  if (c->addr->count > cs->max_per_address &&
      (v = oldest(c->addr->waiting, 1, c, unread))) {
    *why = VG__HTTPD_EVICT_ADDRESS;
    return v;
  }
  if (cs->total > cs->max_total && (v = oldest(cs->waiting, 0, c, unread))) {
    *why = VG__HTTPD_EVICT_TOTAL;
    return v;
  }
  return NULL;
}

void vg__httpd_conns_evict(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *victim,
                           enum vg__httpd_event why,
                           const struct vg__httpd_conn *blame, uint64_t now) {
  wait_end(cs, victim);
  victim->state = VG__CONN_CLOSING;
  victim->addr->count--;
  cs->total--;
  cs->events[why]++;
  complain(cs, (blame ? blame : victim)->addr, why, now);
}

bool vg__httpd_conns_begin(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *c) {
  if (c->state == VG__CONN_BUSY || c->state == VG__CONN_CLOSING)
    return false; /* a second request while closing is not ours to judge */
  wait_end(cs, c);
  c->state = VG__CONN_BUSY;
  c->addr->busy++;
  cs->busy++;
  return cs->busy > cs->max_total || c->addr->busy > cs->max_per_address;
}

void vg__httpd_conns_refused(struct vg__httpd_conns *cs,
                             const struct vg__httpd_conn *c, uint64_t now) {
  cs->events[VG__HTTPD_BUSY]++;
  complain(cs, c->addr, VG__HTTPD_BUSY, now);
}

void vg__httpd_conns_end(struct vg__httpd_conns *cs, struct vg__httpd_conn *c,
                         uint64_t now) {
  if (c->state != VG__CONN_BUSY)
    return;
  c->addr->busy--;
  cs->busy--;
  wait_begin(cs, c, VG__CONN_IDLE, now);
}

void vg__httpd_conns_close(struct vg__httpd_conns *cs,
                           struct vg__httpd_conn *c) {
  struct vg__httpd_addr *a = c->addr;
  switch (c->state) {
  case VG__CONN_FRESH:
  case VG__CONN_IDLE:
    wait_end(cs, c);
    a->count--;
    cs->total--;
    break;
  case VG__CONN_BUSY:
    a->busy--;
    cs->busy--;
    a->count--;
    cs->total--;
    break;
  case VG__CONN_CLOSING:
    break;
  }
  free(c);
  address_put(cs, a);
}

/* When a waiting connection must have sent its (next) request's headers:
 * header_timeout after its accept; for a kept-alive one, the idle timeout
 * plus header_timeout after its last answer. */
static bool deadline(const struct vg__httpd_conns *cs,
                     const struct vg__httpd_conn *c, uint64_t *at) {
  if (c->state == VG__CONN_FRESH) {
    *at = c->since_ms + cs->header_ms;
    return true;
  }
  if (!cs->idle_ms)
    return false;
  *at = c->since_ms + cs->idle_ms + cs->header_ms;
  return true;
}

bool vg__httpd_conns_next_deadline(const struct vg__httpd_conns *cs,
                                   uint64_t *at) {
  bool any = false;
  for (int s = VG__CONN_FRESH; s <= VG__CONN_IDLE; s++) {
    uint64_t t;
    /* Each list is in the order of since_ms, so its head is due first. */
    if (cs->waiting[s].head && deadline(cs, cs->waiting[s].head, &t) &&
        (!any || t < *at)) {
      *at = t;
      any = true;
    }
  }
  return any;
}

struct vg__httpd_conn *vg__httpd_conns_overdue(const struct vg__httpd_conns *cs,
                                               uint64_t now) {
  for (int s = VG__CONN_FRESH; s <= VG__CONN_IDLE; s++) {
    uint64_t t;
    struct vg__httpd_conn *c = cs->waiting[s].head;
    if (c && deadline(cs, c, &t) && t <= now)
      return c;
  }
  return NULL;
}
