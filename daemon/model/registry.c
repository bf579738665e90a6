/* daemon/model/registry.c - the village registry: villages, their names
 * and the lookup of a row's village.
 *
 * Owns: the villages (every string copied), an index of codes and one of
 * name keys (village names in both scripts and aliases, each without its
 * suffix), both sorted arrays searched by bisection, and the nearest-name
 * search for messages.  Must never: read a file, or change after
 * vg_registry_seal (the loop and the thread pool read it at once).
 */
#include "daemon/model/registry.h"
#include "daemon/util/distance.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest name key compared; longer names are cut (no village name is
 * near it). */
#define KEY_MAX 256
/* Code points of a key the edit distance looks at. */
#define DIST_MAX 48
#define NEAREST 3

struct village {
  struct vg_registry_village v; /* strings owned */
  uint32_t line;
  char *county_key, *county_zh_key, *town_key, *town_zh_key; /* owned */
};

struct code_ref {
  const char *code; /* the village's */
  size_t village;
};

/* One name of one village in the name index. */
struct name_ref {
  char *key;   /* vg_registry_name_key of the name; owned */
  char *exact; /* the name normalised but keeping its suffix; owned */
  size_t village;
};

struct vg_registry {
  struct village *villages;
  size_t n, cap;
  struct code_ref *by_code; /* in code order (sealed) */
  struct name_ref *names;
  size_t nnames, names_cap;
  bool sealed;
};

/* Administrative suffixes, longest first so that 村委会 goes before 村.
 * Taken off both the registry's names and the rows', so "桃子园村",
 * "桃子园" and "Taoziyuan Cun" meet. */
static const char *const suffixes[] = {
    "村民委员会", "居民委员会", "街道办事处", "村委会",    "居委会", "街道办",
    "自治县",     "街道",       "社区",       "村",        "镇",     "乡",
    "县",         "区",         "市",         "cunweihui", "jiedao", "shequ",
    "xiang",      "zhen",       "xian",       "cun",       "shi",    "qu"};

/* Spaces, hyphens, apostrophes and middle dots separate syllables in
 * pinyin as people happen to write it; they carry no meaning. */
static size_t normalize(const char *s, char *out, size_t size) {
  size_t k = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    size_t len = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
    if (*p == ' ' || *p == '-' || *p == '_' || *p == '\'' || *p == '.' ||
        *p == '\t' || (p[0] == 0xC2 && p[1] == 0xB7) ||   /* · */
        (p[0] == 0xE3 && p[1] == 0x83 && p[2] == 0xBB) || /* ・ */
        (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)) { /* ideographic
                                                             space */
      p += len;
      continue;
    }
    /* A cut keeps whole characters. */
    if (k + len >= size)
      break;
    for (size_t i = 0; i < len && *p; i++)
      out[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p), p++;
  }
  out[k] = '\0';
  return k;
}

/* Autonomous counties and ethnic townships carry their peoples in the
 * name (松桃苗族自治县, 印江土家族苗族自治县): people write 松桃 alone. */
static const char *const peoples[] = {
    "土家族", "布依族", "仡佬族", "蒙古族", "维吾尔族", "哈尼族", "苗族",
    "侗族",   "彝族",   "回族",   "水族",   "壮族",     "瑶族",   "白族",
    "满族",   "藏族",   "傣族",   "黎族",   "畲族",     "羌族"};

static bool cut(char *key, size_t *len, const char *suffix, size_t keep) {
  size_t sl = strlen(suffix);
  if (*len < sl + keep || memcmp(key + *len - sl, suffix, sl) != 0)
    return false;
  *len -= sl;
  key[*len] = '\0';
  return true;
}

static void strip_suffix(char *key, size_t len) {
  bool stripped = false;
  /* What is left must still be a name: 乡 alone is not stripped. */
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes && !stripped; i++)
    stripped = cut(key, &len, suffixes[i], 2);
  for (size_t i = 0; stripped && i < sizeof peoples / sizeof *peoples; i++)
    if (cut(key, &len, peoples[i], 3))
      i = (size_t)-1; /* 土家族苗族: look again from the start */
}

void vg_registry_name_key(const char *name, char *out, size_t out_size) {
  size_t len = normalize(name, out, out_size);
  strip_suffix(out, len);
}

static char *key_dup(const char *name) {
  char key[KEY_MAX];
  vg_registry_name_key(name, key, sizeof key);
  return vg_strdup(key);
}

struct vg_registry *vg_registry_new(void) {
  return vg_calloc(1, sizeof(struct vg_registry)); /* vg_registry_free */
}

void vg_registry_free(struct vg_registry *reg) {
  if (!reg)
    return;
  for (size_t i = 0; i < reg->n; i++) {
    struct village *w = &reg->villages[i];
    free((char *)w->v.code);
    free((char *)w->v.county);
    free((char *)w->v.town);
    free((char *)w->v.village);
    free((char *)w->v.county_zh);
    free((char *)w->v.town_zh);
    free((char *)w->v.village_zh);
    for (size_t a = 0; a < w->v.naliases; a++)
      free((char *)w->v.aliases[a]);
    free((void *)w->v.aliases);
    free(w->county_key);
    free(w->county_zh_key);
    free(w->town_key);
    free(w->town_zh_key);
  }
  for (size_t i = 0; i < reg->nnames; i++) {
    free(reg->names[i].key);
    free(reg->names[i].exact);
  }
  free(reg->names);
  free(reg->by_code);
  free(reg->villages);
  free(reg);
}

static bool blank(const char *s) {
  return !s || !s[0];
}

static bool valid_code(const char *code) {
  size_t i = 0;
  for (; code[i]; i++)
    if (code[i] < '0' || code[i] > '9')
      return false;
  return i == VG_REGISTRY_CODE_LEN;
}

static void add_name(struct vg_registry *reg, const char *name,
                     size_t village) {
  char exact[KEY_MAX];
  normalize(name, exact, sizeof exact);
  char *key = key_dup(name);
  if (!key[0]) { /* a name of separators only: nothing to find it by */
    free(key);
    return;
  }
  reg->names =
      vg_grow(reg->names, &reg->names_cap, reg->nnames + 1, sizeof *reg->names);
  reg->names[reg->nnames++] = (struct name_ref){
      .key = key, .exact = vg_strdup(exact), .village = village};
}

int vg_registry_add(struct vg_registry *reg,
                    const struct vg_registry_village *v, uint32_t line,
                    char *error, size_t error_size) {
  if (reg->sealed)
    abort(); /* the indexes are built: readers may be looking */
  if (blank(v->code) || !valid_code(v->code)) {
    snprintf(error, error_size, "code \"%s\" is not 12 digits",
             v->code ? v->code : "");
    return -EINVAL;
  }
  const char *missing = blank(v->county)    ? "county"
                        : blank(v->town)    ? "town"
                        : blank(v->village) ? "village"
                                            : NULL;
  if (missing) {
    snprintf(error, error_size, "village %s has no %s name", v->code, missing);
    return -EINVAL;
  }
  char key[KEY_MAX];
  vg_registry_name_key(v->village, key, sizeof key);
  if (!key[0]) {
    snprintf(error, error_size,
             "village %s: \"%s\" is no name (only separators)", v->code,
             v->village);
    return -EINVAL;
  }
  /* Codes are checked for duplicates here, before sealing, so that the
   * message can name both lines; a registry has thousands of villages,
   * not millions, and this runs once per load. */
  for (size_t i = 0; i < reg->n; i++)
    if (strcmp(reg->villages[i].v.code, v->code) == 0) {
      snprintf(error, error_size, "code %s is given twice (also on line %u)",
               v->code, reg->villages[i].line);
      return -EEXIST;
    }
  reg->villages =
      vg_grow(reg->villages, &reg->cap, reg->n + 1, sizeof *reg->villages);
  struct village *w = &reg->villages[reg->n];
  memset(w, 0, sizeof *w);
  w->line = line;
  w->v.code = vg_strdup(v->code);
  w->v.county = vg_strdup(v->county);
  w->v.town = vg_strdup(v->town);
  w->v.village = vg_strdup(v->village);
  w->v.county_zh = vg_strdup(blank(v->county_zh) ? v->county : v->county_zh);
  w->v.town_zh = vg_strdup(blank(v->town_zh) ? v->town : v->town_zh);
  w->v.village_zh =
      vg_strdup(blank(v->village_zh) ? v->village : v->village_zh);
  w->v.latitude = v->latitude;
  w->v.longitude = v->longitude;
  w->v.households = v->households;
  w->v.population = v->population;
  const char **aliases = vg_calloc(v->naliases ? v->naliases : 1,
                                   sizeof *aliases); /* w->v.aliases */
  size_t na = 0;
  for (size_t a = 0; a < v->naliases; a++)
    if (!blank(v->aliases[a]))
      aliases[na++] = vg_strdup(v->aliases[a]);
  w->v.aliases = aliases;
  w->v.naliases = na;
  w->county_key = key_dup(w->v.county);
  w->county_zh_key = key_dup(w->v.county_zh);
  w->town_key = key_dup(w->v.town);
  w->town_zh_key = key_dup(w->v.town_zh);
  size_t idx = reg->n++;
  add_name(reg, w->v.village, idx);
  add_name(reg, w->v.village_zh, idx);
  for (size_t a = 0; a < na; a++)
    add_name(reg, aliases[a], idx);
  return 0;
}

static int cmp_code(const void *a, const void *b) {
  return strcmp(((const struct code_ref *)a)->code,
                ((const struct code_ref *)b)->code);
}

static int cmp_name(const void *a, const void *b) {
  const struct name_ref *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->village > y->village) - (x->village < y->village);
}

void vg_registry_seal(struct vg_registry *reg) {
  reg->by_code = vg_calloc(reg->n ? reg->n : 1, sizeof *reg->by_code);
  for (size_t i = 0; i < reg->n; i++)
    reg->by_code[i] = (struct code_ref){reg->villages[i].v.code, i};
  qsort(reg->by_code, reg->n, sizeof *reg->by_code, cmp_code);
  qsort(reg->names, reg->nnames, sizeof *reg->names, cmp_name);
  reg->sealed = true;
}

size_t vg_registry_size(const struct vg_registry *reg) {
  return reg->n;
}

const struct vg_registry_village *vg_registry_at(const struct vg_registry *reg,
                                                 size_t i) {
  return &reg->villages[i].v;
}

static bool find_code(const struct vg_registry *reg, const char *code,
                      size_t *index) {
  size_t lo = 0, hi = reg->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(reg->by_code[mid].code, code);
    if (c == 0) {
      *index = reg->by_code[mid].village;
      return true;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* The first name reference whose key is not less than `key`. */
static size_t names_from(const struct vg_registry *reg, const char *key) {
  size_t lo = 0, hi = reg->nnames;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(reg->names[mid].key, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* --- messages: the nearest names ------------------------------------- */

static size_t decode(const char *s, uint32_t *out) {
  size_t n = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p && n < DIST_MAX) {
    uint32_t c = *p++;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    for (; more > 0 && (*p & 0xC0) == 0x80; more--)
      c = (c << 6) | (*p++ & 0x3F);
    out[n++] = c;
  }
  return n;
}

static bool ascii(const char *s) {
  while (*s && !((unsigned char)*s & 0x80))
    s++;
  return !*s;
}

/* Levenshtein distance over code points, so that one wrong character of
 * a Chinese name counts 1, not 3.  A pinyin name is no nearer to one
 * Chinese name than to another: across scripts the distance is beyond
 * any within one. */
static unsigned distance(const uint32_t *a, size_t na, const char *b_text) {
  bool a_ascii = true;
  for (size_t i = 0; i < na; i++)
    a_ascii = a_ascii && a[i] < 0x80;
  if (a_ascii != ascii(b_text))
    return 999;
  uint32_t b[DIST_MAX];
  size_t nb = decode(b_text, b);
  return (unsigned)vg_distance(a, na, b, nb);
}

static bool county_fits(const struct village *w, const char *key) {
  return !key[0] || strcmp(w->county_key, key) == 0 ||
         strcmp(w->county_zh_key, key) == 0;
}

static bool town_fits(const struct village *w, const char *key) {
  return !key[0] || strcmp(w->town_key, key) == 0 ||
         strcmp(w->town_zh_key, key) == 0;
}

static void describe(const struct village *w, char *out, size_t size) {
  const struct vg_registry_village *v = &w->v;
  if (strcmp(v->village, v->village_zh) != 0)
    snprintf(out, size, "%s (%s, %s, %s, %s)", v->village, v->village_zh,
             v->town, v->county, v->code);
  else
    snprintf(out, size, "%s (%s, %s, %s)", v->village, v->town, v->county,
             v->code);
}

struct near {
  size_t village;
  unsigned rank; /* scope first (same town 0, county 1, other 2), then
                    distance */
};

/* Up to NEAREST villages whose names are nearest to `key`, those of the
 * row's town and county first; returns how many. */
static size_t nearest(const struct vg_registry *reg, const char *key,
                      const char *county, const char *town, struct near *best) {
  uint32_t q[DIST_MAX];
  size_t nq = decode(key, q);
  size_t nbest = 0;
  for (size_t i = 0; i < reg->n; i++) {
    const struct village *w = &reg->villages[i];
    unsigned d = UINT32_MAX;
    char k[KEY_MAX];
    const char *names[2] = {w->v.village, w->v.village_zh};
    for (size_t j = 0; j < 2 + w->v.naliases; j++) {
      vg_registry_name_key(j < 2 ? names[j] : w->v.aliases[j - 2], k, sizeof k);
      unsigned dj = distance(q, nq, k);
      if (dj < d)
        d = dj;
    }
    unsigned scope = county_fits(w, county) ? (town_fits(w, town) ? 0 : 1) : 2;
    unsigned rank = scope * 1000 + (d > 999 ? 999 : d);
    size_t at = nbest < NEAREST ? nbest++ : NEAREST;
    while (at > 0 && best[at - 1].rank > rank) {
      if (at < NEAREST)
        best[at] = best[at - 1];
      at--;
    }
    if (at < NEAREST)
      best[at] = (struct near){.village = i, .rank = rank};
  }
  return nbest;
}

static void append_nearest(const struct vg_registry *reg, const char *key,
                           const char *county, const char *town, char *detail,
                           size_t size) {
  struct near best[NEAREST];
  size_t n = nearest(reg, key, county, town, best);
  size_t len = strlen(detail);
  for (size_t i = 0; i < n && len + 1 < size; i++) {
    char d[256];
    describe(&reg->villages[best[i].village], d, sizeof d);
    len += (size_t)snprintf(detail + len, size - len, "%s%s",
                            i ? "; " : "; nearest: ", d);
  }
}

/* Whether any village has this county (and town) at all: the message
 * then says which level of the row's names the registry lacks. */
static bool place_exists(const struct vg_registry *reg, const char *county,
                         const char *town) {
  for (size_t i = 0; i < reg->n; i++)
    if (county_fits(&reg->villages[i], county) &&
        town_fits(&reg->villages[i], town))
      return true;
  return false;
}

/* The NEAREST counties (town false) or towns of the county `county`
 * (town true) to `key`, each once, as "Wude (五德镇, Shiqian)": what a
 * row whose county or town the registry lacks most likely meant. */
static void append_nearest_places(const struct vg_registry *reg,
                                  const char *key, const char *county,
                                  bool town, char *detail, size_t size) {
  uint32_t q[DIST_MAX];
  size_t nq = decode(key, q);
  struct near best[NEAREST];
  size_t nbest = 0;
  for (size_t i = 0; i < reg->n; i++) {
    const struct village *w = &reg->villages[i];
    if (town && !county_fits(w, county))
      continue;
    const char *name = town ? w->v.town : w->v.county;
    bool seen = false; /* the same place, through another village */
    for (size_t j = 0; j < nbest && !seen; j++) {
      const struct village *b = &reg->villages[best[j].village];
      seen = strcmp(town ? b->v.town : b->v.county, name) == 0 &&
             (!town || strcmp(b->v.county, w->v.county) == 0);
    }
    if (seen)
      continue;
    unsigned d1 = distance(q, nq, town ? w->town_key : w->county_key);
    unsigned d2 = distance(q, nq, town ? w->town_zh_key : w->county_zh_key);
    unsigned rank = d1 < d2 ? d1 : d2;
    size_t at = nbest < NEAREST ? nbest++ : NEAREST;
    while (at > 0 && best[at - 1].rank > rank) {
      if (at < NEAREST)
        best[at] = best[at - 1];
      at--;
    }
    if (at < NEAREST)
      best[at] = (struct near){.village = i, .rank = rank};
  }
  size_t len = strlen(detail);
  for (size_t i = 0; i < nbest && len + 1 < size; i++) {
    const struct vg_registry_village *v = &reg->villages[best[i].village].v;
    const char *zh = town ? v->town_zh : v->county_zh;
    const char *name = town ? v->town : v->county;
    len += (size_t)snprintf(
        detail + len, size - len, "%s%s (%s%s%s)",
        i ? "; " : "; nearest: ", name, strcmp(zh, name) ? zh : "",
        strcmp(zh, name) && town ? ", " : "", town ? v->county : "");
  }
}

static void where_text(const struct vg_registry_query *q, char *out,
                       size_t size) {
  bool t = !blank(q->town), c = !blank(q->county);
  snprintf(out, size, "%s%s%s%s%s%s", t ? " in town \"" : "", t ? q->town : "",
           t ? "\"" : "", c ? " of county \"" : "", c ? q->county : "",
           c ? "\"" : "");
}

#define MAX_CANDIDATES 16

enum vg_registry_match vg_registry_lookup(const struct vg_registry *reg,
                                          const struct vg_registry_query *q,
                                          size_t *index, char *detail,
                                          size_t detail_size) {
  detail[0] = '\0';
  if (!blank(q->code)) {
    if (find_code(reg, q->code, index))
      return VG_REGISTRY_FOUND;
    snprintf(detail, detail_size, "code \"%s\" is not in the registry",
             q->code);
    if (blank(q->village))
      return VG_REGISTRY_UNKNOWN;
  }
  if (blank(q->village)) {
    snprintf(detail, detail_size, "no village name and no code");
    return VG_REGISTRY_UNKNOWN;
  }
  char key[KEY_MAX], exact[KEY_MAX], county[KEY_MAX] = "", town[KEY_MAX] = "";
  vg_registry_name_key(q->village, key, sizeof key);
  normalize(q->village, exact, sizeof exact);
  if (!blank(q->county))
    vg_registry_name_key(q->county, county, sizeof county);
  if (!blank(q->town))
    vg_registry_name_key(q->town, town, sizeof town);

  size_t cand[MAX_CANDIDATES], ncand = 0, nexact = 0, exact_one = 0;
  bool cand_exact[MAX_CANDIDATES];
  for (size_t i = names_from(reg, key);
       i < reg->nnames && strcmp(reg->names[i].key, key) == 0; i++) {
    const struct name_ref *r = &reg->names[i];
    const struct village *w = &reg->villages[r->village];
    if (!county_fits(w, county) || !town_fits(w, town))
      continue;
    size_t j = 0;
    while (j < ncand && cand[j] != r->village)
      j++;
    if (j == ncand) {
      if (ncand == MAX_CANDIDATES)
        continue;
      cand[ncand] = r->village;
      cand_exact[ncand++] = false;
    }
    /* A village whose pinyin and Chinese names both match is one. */
    if (!cand_exact[j] && strcmp(r->exact, exact) == 0) {
      cand_exact[j] = true;
      nexact++;
      exact_one = r->village;
    }
  }
  if (ncand == 1 || nexact == 1) {
    *index = ncand == 1 ? cand[0] : exact_one;
    return VG_REGISTRY_FOUND;
  }
  size_t len = strlen(detail);
  char where[512];
  where_text(q, where, sizeof where);
  if (ncand == 0) {
    if (county[0] && !place_exists(reg, county, "")) {
      snprintf(detail + len, detail_size - len,
               "%scounty \"%s\" is not in the registry", len ? "; " : "",
               q->county);
      if (!q->no_nearest)
        append_nearest_places(reg, county, "", false, detail, detail_size);
    } else if (town[0] && !place_exists(reg, county, town)) {
      snprintf(detail + len, detail_size - len,
               "%stown \"%s\" is not in the registry%s%s%s", len ? "; " : "",
               q->town, county[0] ? "'s county \"" : "",
               county[0] ? q->county : "", county[0] ? "\"" : "");
      if (!q->no_nearest)
        append_nearest_places(reg, town, county, true, detail, detail_size);
    } else {
      snprintf(detail + len, detail_size - len,
               "%sno village \"%s\"%s in the registry", len ? "; " : "",
               q->village, where);
      if (!q->no_nearest)
        append_nearest(reg, key, county, town, detail, detail_size);
    }
    return VG_REGISTRY_UNKNOWN;
  }
  len += (size_t)snprintf(detail + len, detail_size - len,
                          "%s\"%s\"%s is %zu%s registry villages",
                          len ? "; " : "", q->village, where, ncand,
                          ncand == MAX_CANDIDATES ? " or more" : "");
  for (size_t i = 0; i < ncand && i < 4 && len + 1 < detail_size; i++) {
    char d[256];
    describe(&reg->villages[cand[i]], d, sizeof d);
    len += (size_t)snprintf(detail + len, detail_size - len, "%s%s",
                            i ? "; " : ": ", d);
  }
  if (len + 1 < detail_size)
    snprintf(detail + len, detail_size - len, "; give its town or code");
  return VG_REGISTRY_AMBIGUOUS;
}
