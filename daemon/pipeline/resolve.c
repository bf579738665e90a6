/* daemon/pipeline/resolve.c - village labels to the registry's, cached.
 *
 * Owns: the registry in force and the cache of answers by raw village
 * labels.  Must never: look anything up when there is no registry (the
 * push path pays one pointer test then), or let the cache grow without
 * bound (it is emptied when full: senders' label sets are not ours to
 * trust).
 */
#include "daemon/pipeline/resolve.h"
#include "daemon/util/clock.h"
#include "daemon/util/hashtab.h"
#include "daemon/util/mem.h"

#include <stdlib.h>
#include <string.h>

/* Distinct raw village label sets remembered; a registry of every
 * village of a province, each in two scripts, fits. */
#define CACHE_MAX 200000
/* Searches for the nearest names (a pass over the registry each) per
 * window: a sender of a million made-up village names must not hold the
 * loop for minutes.  Past it, rejections say why without them. */
#define NEAREST_PER_WINDOW 200
#define NEAREST_WINDOW_MS 10000

struct answer {
  char *key; /* the raw labels, joined; owned */
  size_t key_len;
  enum vg_registry_match match;
  size_t village;
  char *detail; /* owned; NULL when found */
};

const char *const vg_resolve_figures[4] = {
    "village_latitude_degrees", "village_longitude_degrees",
    "village_households", "village_population"};

struct vg_resolve {
  struct vg_registry *reg; /* owned; NULL: no registry */
  uint8_t *given;          /* per village: a bit per figure a source gave */
  void (*withdraw)(void *arg, size_t village, const char *metric);
  void *withdraw_arg;
  int64_t nearest_window_ms; /* start of the current window */
  unsigned nearest_searches; /* in it */
  struct vg_hashtab cache;   /* struct answer * by hash of key */
  struct answer **answers;   /* every cached answer, to free them */
  size_t nanswers, cap;
};

struct vg_resolve *vg_resolve_new(void) {
  struct vg_resolve *r = vg_calloc(1, sizeof *r); /* vg_resolve_free */
  vg_hashtab_init(&r->cache);
  return r;
}

static void clear_cache(struct vg_resolve *r) {
  for (size_t i = 0; i < r->nanswers; i++) {
    free(r->answers[i]->key);
    free(r->answers[i]->detail);
    free(r->answers[i]);
  }
  r->nanswers = 0;
  vg_hashtab_free(&r->cache);
  vg_hashtab_init(&r->cache);
}

void vg_resolve_free(struct vg_resolve *r) {
  if (!r)
    return;
  clear_cache(r);
  vg_hashtab_free(&r->cache);
  free(r->answers);
  free(r->given);
  vg_registry_free(r->reg);
  free(r);
}

/* What sources gave stays given across a new registry, village by code:
 * otherwise every reload would bring the registry's figures back until
 * the sources report again, and send them and their withdrawal to the
 * push exporters each time. */
void vg_resolve_set(struct vg_resolve *r, struct vg_registry *reg) {
  clear_cache(r);
  uint8_t *given = reg ? vg_calloc(vg_registry_size(reg) + 1, 1) : NULL;
  for (size_t i = 0; reg && r->reg && i < vg_registry_size(reg); i++) {
    struct vg_registry_query q = {.code = vg_registry_at(reg, i)->code,
                                  .no_nearest = true};
    size_t old;
    char detail[256];
    if (vg_registry_lookup(r->reg, &q, &old, detail, sizeof detail) ==
        VG_REGISTRY_FOUND)
      given[i] = r->given[old];
  }
  vg_registry_free(r->reg);
  free(r->given);
  r->reg = reg;
  r->given = given; /* freed by the next set or vg_resolve_free */
}

bool vg_resolve_given(const struct vg_resolve *r, size_t village,
                      unsigned figure) {
  return r->given && (r->given[village] & (1u << figure));
}

void vg_resolve_on_withdraw(struct vg_resolve *r,
                            void (*withdraw)(void *arg, size_t village,
                                             const char *metric),
                            void *arg) {
  r->withdraw = withdraw;
  r->withdraw_arg = arg;
}

void vg_resolve_stored(struct vg_resolve *r, size_t village,
                       const char *metric) {
  /* Village metrics only: a cheap test before the four compares. */
  if (!r->withdraw || strncmp(metric, "village_", 8) != 0)
    return;
  for (unsigned f = 0; f < 4; f++)
    if (strcmp(metric, vg_resolve_figures[f]) == 0) {
      if (r->given[village] & (1u << f))
        return;
      r->given[village] |= (uint8_t)(1u << f);
      r->withdraw(r->withdraw_arg, village, metric);
      return;
    }
}

const struct vg_registry *vg_resolve_registry(const struct vg_resolve *r) {
  return r->reg;
}

enum { L_CODE, L_COUNTY, L_TOWN, L_VILLAGE, L_COUNT };
static const char *const identity[L_COUNT] = {"code", "county", "town",
                                              "village"};

static int identity_of(const char *name) {
  for (int i = 0; i < L_COUNT; i++)
    if (strcmp(name, identity[i]) == 0)
      return i;
  return -1;
}

static struct answer *lookup(struct vg_resolve *r, const char *const *v) {
  /* The key keeps "absent" apart from every value: 0x01 is no UTF-8
   * text a label may hold in a place that matters, and 0x1f separates. */
  char stack[512];
  size_t len = 0;
  for (int i = 0; i < L_COUNT; i++)
    len += (v[i] ? strlen(v[i]) : 1) + 1;
  char *key = len <= sizeof stack ? stack : vg_malloc(len); /* freed below */
  size_t k = 0;
  for (int i = 0; i < L_COUNT; i++) {
    size_t l = v[i] ? strlen(v[i]) : 1;
    memcpy(key + k, v[i] ? v[i] : "\x01", l);
    k += l;
    key[k++] = '\x1f';
  }
  uint64_t h = vg_hash_bytes(key, len, 0);
  size_t pos = (size_t)-1;
  struct answer *a;
  while ((a = vg_hashtab_next(&r->cache, h, &pos)))
    if (a->key_len == len && memcmp(a->key, key, len) == 0)
      break;
  if (!a) {
    if (r->nanswers >= CACHE_MAX)
      clear_cache(r);
    char detail[1024];
    size_t village = 0;
    int64_t now = vg_clock_now_ms();
    if (now - r->nearest_window_ms >= NEAREST_WINDOW_MS) {
      r->nearest_window_ms = now;
      r->nearest_searches = 0;
    }
    struct vg_registry_query q = {
        v[L_CODE], v[L_COUNTY], v[L_TOWN], v[L_VILLAGE],
        .no_nearest = r->nearest_searches >= NEAREST_PER_WINDOW};
    a = vg_calloc(1, sizeof *a); /* r->answers */
    a->match = vg_registry_lookup(r->reg, &q, &village, detail, sizeof detail);
    if (a->match == VG_REGISTRY_UNKNOWN)
      r->nearest_searches++;
    a->village = village;
    a->detail = a->match == VG_REGISTRY_FOUND ? NULL : vg_strdup(detail);
    a->key = vg_malloc(len);
    memcpy(a->key, key, len);
    a->key_len = len;
    r->answers =
        vg_grow(r->answers, &r->cap, r->nanswers + 1, sizeof *r->answers);
    r->answers[r->nanswers++] = a;
    vg_hashtab_insert(&r->cache, h, a);
  }
  if (key != stack)
    free(key);
  return a;
}

enum vg_resolve_result
vg_resolve_labels(struct vg_resolve *r, const struct vg_label *in, size_t n,
                  struct vg_label *out, size_t *nout, size_t *village,
                  enum vg_reject_reason *reason, const char **detail) {
  if (!r || !r->reg)
    return VG_RESOLVE_AS_IS;
  const char *v[L_COUNT] = {0};
  for (size_t i = 0; i < n; i++) {
    int id = identity_of(in[i].name);
    if (id >= 0)
      v[id] = in[i].value;
  }
  /* A county's or a town's own figures name no village. */
  if (!(v[L_CODE] && v[L_CODE][0]) && !(v[L_VILLAGE] && v[L_VILLAGE][0]))
    return VG_RESOLVE_AS_IS;
  const struct answer *a = lookup(r, v);
  if (a->match != VG_REGISTRY_FOUND) {
    *reason = a->match == VG_REGISTRY_AMBIGUOUS ? VG_REJECT_AMBIGUOUS_VILLAGE
                                                : VG_REJECT_UNKNOWN_VILLAGE;
    *detail = a->detail;
    return VG_RESOLVE_REJECTED;
  }
  const struct vg_registry_village *rv = vg_registry_at(r->reg, a->village);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (identity_of(in[i].name) < 0)
      out[k++] = in[i];
  out[k++] = (struct vg_label){"code", rv->code};
  out[k++] = (struct vg_label){"county", rv->county};
  out[k++] = (struct vg_label){"town", rv->town};
  out[k++] = (struct vg_label){"village", rv->village};
  *nout = k;
  *village = a->village;
  return VG_RESOLVE_FOUND;
}
