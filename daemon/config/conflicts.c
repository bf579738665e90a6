/* daemon/config/conflicts.c - collectors that would certainly provide the
 * same series.
 *
 * Two collectors that read the same input with the same mapping provide
 * every series twice: at run time the newest sample wins and the overlap
 * is counted (villagemetrics_overlapping_series), but a configuration
 * that makes it certain is a mistake worth refusing with its place.
 * "Certain" is kept narrow and cheap, so that no working configuration is
 * refused: two collectors of the same type whose objects are equal key by
 * key, apart from their name and the keys that only say when and how long
 * to read (what they read and how they map it is then the same).  For the
 * file type, "the same files" is also one literal path that the other's
 * pattern matches in the same folder (a file named in one and globbed in
 * the other).  Push endpoints (listen) are left out: two of them serve
 * whatever senders send, which no configuration can tell.
 *
 * Unlike config.c, this looks inside collector objects; it reads them as
 * JSON only, before any plugin's configure, and never checks a key's
 * type: what it cannot read alike is no certain conflict, and the plugin
 * reports the bad key itself.
 */
#include "daemon/config/conflicts.h"
#include "daemon/util/mem.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Keys that do not change which series a collector provides. */
static const char *const schedule_keys[] = {
    "name",       "interval", "spread",        "max_backoff", "stale_after",
    "max_series", "settle",   "max_file_size", "timeout",     NULL,
};

static bool is_schedule_key(const char *key) {
  for (size_t i = 0; schedule_keys[i]; i++)
    if (strcmp(schedule_keys[i], key) == 0)
      return true;
  return false;
}

static const char *type_of(const cJSON *c) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
  return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* The file collector's path as the plugin resolves it; NULL when it is no
 * string (the plugin says so). Owned by the caller. */
static char *file_path(const struct vg_config *cfg, const cJSON *c) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "path");
  if (!cJSON_IsString(p) || !p->valuestring[0])
    return NULL;
  if (p->valuestring[0] == '/')
    return vg_strdup(p->valuestring);
  return vg_asprintf("%s/%s", vg_cfg_doc_node_dir(cfg->doc, p), p->valuestring);
}

static bool has_wildcard(const char *s) {
  return strpbrk(s, "*?[") != NULL;
}

/* Whether two file paths (folder/pattern) certainly read the same files:
 * equal, or one a file the other's pattern matches in the same folder. */
static bool same_files(const char *a, const char *b) {
  if (strcmp(a, b) == 0)
    return true;
  const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
  if (!sa || !sb || sa - a != sb - b || memcmp(a, b, (size_t)(sa - a)) != 0)
    return false;
  const char *na = sa + 1, *nb = sb + 1;
  if (!has_wildcard(na) && fnmatch(nb, na, FNM_PERIOD) == 0)
    return true;
  return !has_wildcard(nb) && fnmatch(na, nb, FNM_PERIOD) == 0;
}

/* Every key of `x` but the schedule keys (and `skip`) is in `y` with an
 * equal value. */
static bool keys_in(const cJSON *x, const cJSON *y, const char *skip) {
  const cJSON *k;
  cJSON_ArrayForEach(k, x) {
    if (is_schedule_key(k->string) || (skip && strcmp(k->string, skip) == 0))
      continue;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(y, k->string);
    if (!v || !cJSON_Compare(k, v, true))
      return false;
  }
  return true;
}

int vg_config_check_conflicts(const struct vg_config *cfg,
                              struct vg_cfg_err *err) {
  const cJSON *cols = cfg->collectors;
  int n = cJSON_GetArraySize(cols);
  for (int j = 1; j < n; j++) {
    const cJSON *b = cJSON_GetArrayItem(cols, j);
    const char *type = type_of(b);
    if (!type || strcmp(type, "listen") == 0)
      continue;
    bool file = strcmp(type, "file") == 0;
    char *path_b = file ? file_path(cfg, b) : NULL;
    for (int i = 0; i < j; i++) {
      const cJSON *a = cJSON_GetArrayItem(cols, i);
      const char *type_a = type_of(a);
      if (!type_a || strcmp(type_a, type) != 0)
        continue;
      const char *skip = file ? "path" : NULL;
      if (!keys_in(a, b, skip) || !keys_in(b, a, skip))
        continue;
      char *path_a = file ? file_path(cfg, a) : NULL;
      bool same = !file || (path_a && path_b && same_files(path_a, path_b));
      free(path_a);
      if (!same)
        continue;
      const cJSON *name_a = cJSON_GetObjectItemCaseSensitive(a, "name");
      const cJSON *name_b = cJSON_GetObjectItemCaseSensitive(b, "name");
      const cJSON *at = file ? cJSON_GetObjectItemCaseSensitive(b, "path") : b;
      int rc = vg_cfg_error(
          err, at,
          "collector \"%s\" reads the same %s as collector \"%s\" and maps "
          "them alike: every series would come from both; remove one, or "
          "make them differ (e.g. const_labels)",
          cJSON_IsString(name_b) ? name_b->valuestring : type,
          file ? "files" : "input",
          cJSON_IsString(name_a) ? name_a->valuestring : type_a);
      free(path_b);
      return rc;
    }
    free(path_b);
  }
  return 0;
}
