/* daemon/net/curl.c - curl multi driven by uv_poll and uv_timer.
 *
 * Ownership: the vg_curl owns the multi handle (made by the first
 * transfer), its timer and one
 * `struct watch` (a uv_poll) per socket curl asked us to watch; a watch
 * is freed in its close callback.  Transfers (easy handles) are the
 * callers'; the `struct transfer` that carries their callback is ours,
 * attached with CURLOPT_PRIVATE and freed when the transfer ends.
 *
 * Must never: call curl_multi_* from inside a curl callback (curl forbids
 * it), or free a watch whose poll is still open.
 */
#include "daemon/net/curl.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

struct vg_curl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  unsigned open_handles; /* timer + watches not yet closed */
  bool closing;
  struct transfer *transfers; /* running */
  struct watch *watches;      /* polls not yet being closed */
  void (*closed)(void *arg);
  void *closed_arg;
};

struct watch {
  uv_poll_t poll;
  curl_socket_t fd;
  struct vg_curl *c;
  struct watch *prev, *next; /* in vg_curl.watches, until closed */
};

struct transfer {
  CURL *easy;
  vg_curl_done done;
  void *arg;
  struct transfer *prev, *next; /* in vg_curl.transfers */
};

static void unlink_transfer(struct vg_curl *c, struct transfer *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    c->transfers = t->next;
  if (t->next)
    t->next->prev = t->prev;
}

/* Takes the transfer out of the multi handle and frees our part of it. */
static void end_transfer(struct vg_curl *c, struct transfer *t) {
  curl_multi_remove_handle(c->multi, t->easy);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
  unlink_transfer(c, t);
  free(t);
}

static void maybe_closed(struct vg_curl *c) {
  if (!c->closing || c->open_handles)
    return;
  void (*closed)(void *) = c->closed;
  void *arg = c->closed_arg;
  free(c);
  if (closed)
    closed(arg);
}

static void timer_closed(uv_handle_t *h) {
  struct vg_curl *c = h->data;
  c->open_handles--;
  maybe_closed(c);
}

static void watch_closed(uv_handle_t *h) {
  struct watch *w = h->data;
  struct vg_curl *c = w->c;
  free(w);
  c->open_handles--;
  maybe_closed(c);
}

static void close_watch(struct vg_curl *c, struct watch *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    c->watches = w->next;
  if (w->next)
    w->next->prev = w->prev;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, watch_closed);
}

/* Hands finished transfers back to their owners. */
static void finish_transfers(struct vg_curl *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    struct transfer *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    vg_curl_done done = t->done;
    void *arg = t->arg;
    end_transfer(c, t);
    done(arg, easy, result);
  }
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  struct watch *w = poll->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  struct vg_curl *c = w->c;
  curl_multi_socket_action(c->multi, w->fd, flags, &running);
  finish_transfers(c);
}

static void on_timer(uv_timer_t *timer) {
  struct vg_curl *c = timer->data;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  finish_transfers(c);
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be woken after timeout_ms. */
static int set_timer(CURLM *multi, long timeout_ms, void *userp) {
  struct vg_curl *c = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else
    /* 0 means "as soon as possible": a timer of 0 runs in the next loop
     * iteration, outside curl's callback, as curl requires. */
    uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int set_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                      void *socketp) {
  struct vg_curl *c = userp;
  struct watch *w = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      curl_multi_assign(c->multi, fd, NULL);
      close_watch(c, w);
    }
    return 0;
  }
  if (!w) {
    /* Owned by the vg_curl; freed in handle_closed. */
    w = vg_calloc(1, sizeof *w);
    w->fd = fd;
    w->c = c;
    if (uv_poll_init_socket(c->loop, &w->poll, fd) < 0) {
      free(w);
      return -1;
    }
    w->poll.data = w;
    c->open_handles++;
    w->next = c->watches;
    if (w->next)
      w->next->prev = w;
    c->watches = w;
    curl_multi_assign(c->multi, fd, w);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, on_poll);
  return 0;
}

int vg_curl_new(uv_loop_t *loop, struct vg_curl **out) {
  struct vg_curl *c = vg_calloc(1, sizeof *c);
  c->loop = loop;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 1;
  *out = c;
  return 0;
}

/* The multi handle is made by the first transfer: making it initialises
 * libcurl and its TLS library (some 2.5 MB resident with OpenSSL), which
 * a daemon without HTTP sources or push exporters never needs. */
static int make_multi(struct vg_curl *c) {
  c->multi = curl_multi_init();
  if (!c->multi)
    return -ENOMEM;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, set_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, set_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  return 0;
}

int vg_curl_start(struct vg_curl *c, CURL *easy, vg_curl_done done, void *arg) {
  if (c->closing)
    return -ESHUTDOWN;
  if (!c->multi && make_multi(c) < 0)
    return -ENOMEM;
  /* Owned by us until the transfer ends (finish_transfers, cancel). */
  struct transfer *t = vg_calloc(1, sizeof *t);
  t->easy = easy;
  t->done = done;
  t->arg = arg;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(t);
    return -EINVAL;
  }
  t->next = c->transfers;
  if (t->next)
    t->next->prev = t;
  c->transfers = t;
  return 0;
}

void vg_curl_cancel(struct vg_curl *c, CURL *easy) {
  struct transfer *t = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
  if (t)
    end_transfer(c, t);
}

void vg_curl_close(struct vg_curl *c, void (*closed)(void *arg), void *arg) {
  c->closing = true;
  c->closed = closed;
  c->closed_arg = arg;
  /* Every transfer still running ends now, and its owner hears of it. */
  while (c->transfers) {
    struct transfer *t = c->transfers;
    CURL *easy = t->easy;
    vg_curl_done done = t->done;
    void *done_arg = t->arg;
    end_transfer(c, t);
    done(done_arg, easy, CURLE_ABORTED_BY_CALLBACK);
  }
  /* Polls stop before curl closes the sockets of its connection cache,
   * so that no poll outlives its descriptor; curl must not call back into
   * us while it cleans up. */
  for (struct watch *w = c->watches; w; w = w->next)
    uv_poll_stop(&w->poll);
  if (c->multi) {
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
  }
  while (c->watches)
    close_watch(c, c->watches);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}
