/* daemon/formats/json.c - whole-document parsing with located errors, and JSON
 * Pointers.
 *
 * Owns the pointers it compiles and each document's arena.  cJSON's
 * allocation hooks are ours: on a thread parsing a document they take
 * from its arena (and freeing is a no-op: the arena goes whole), on every
 * other thread and at every other time they are malloc and free.
 *
 * Must never: read past the `len` bytes it is given (inputs from the
 * network are not NUL-terminated), or let a document's node reach
 * cJSON_Delete.
 */
#include "daemon/formats/json.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_json_pointer_free(struct vg_json_pointer *p) {
  for (size_t i = 0; i < p->count; i++)
    free(p->tokens[i]);
  free(p->tokens);
  free(p->index);
  p->tokens = NULL;
  p->index = NULL;
  p->count = 0;
}

const char *vg_json_pointer_parse(struct vg_json_pointer *p, const char *text) {
  if (text[0] == '\0')
    return NULL;
  if (text[0] != '/')
    return "it must be \"\" or start with \"/\"";
  size_t n = 0;
  for (const char *s = text; *s; s++)
    if (*s == '/')
      n++;
  /* Owned by the pointer, freed by vg_json_pointer_free(). */
  p->tokens = vg_calloc(n, sizeof *p->tokens);
  p->index = vg_calloc(n, sizeof *p->index);
  const char *s = text + 1;
  for (;;) {
    size_t len = strcspn(s, "/");
    char *tok = vg_malloc(len + 1), *o = tok;
    p->tokens[p->count++] = tok;
    for (size_t i = 0; i < len; i++) {
      if (s[i] != '~') {
        *o++ = s[i];
        continue;
      }
      if (i + 1 < len && s[i + 1] == '0')
        *o++ = '~';
      else if (i + 1 < len && s[i + 1] == '1')
        *o++ = '/';
      else {
        *o = '\0';
        return "\"~\" must be followed by 0 or 1";
      }
      i++;
    }
    *o = '\0';
    /* RFC 6901: an array index is "0" or digits without a leading zero. */
    long idx = -1;
    size_t tl = strlen(tok);
    if (tl > 0 && tl < 10 && strspn(tok, "0123456789") == tl &&
        (tok[0] != '0' || tl == 1))
      idx = strtol(tok, NULL, 10);
    p->index[p->count - 1] = idx;
    if (s[len] == '\0')
      return NULL;
    s += len + 1;
  }
}

const cJSON *vg_json_pointer_get(const struct vg_json_pointer *p,
                                 const cJSON *node) {
  for (size_t i = 0; i < p->count && node; i++) {
    if (cJSON_IsObject(node))
      node = cJSON_GetObjectItemCaseSensitive(node, p->tokens[i]);
    else if (cJSON_IsArray(node) && p->index[i] >= 0)
      node = cJSON_GetArrayItem(node, (int)p->index[i]);
    else
      node = NULL;
  }
  return node;
}

/* ---- the arena ------------------------------------------------------ */

struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[]; /* cap bytes */
};

struct vg_json_doc {
  cJSON *root;
  struct chunk *chunks; /* the newest first */
  /* What the arena may take, what it took (chunks whole, headers
   * included) and from which hold; error: why it refused, if it did. */
  size_t max_bytes, bytes, first_chunk;
  struct vg_budget_hold *hold;
  int error;
};

/* The document being parsed on this thread; NULL outside a parse, when
 * the hooks are malloc and free. */
static _Thread_local struct vg_json_doc *parsing;

static void *arena_alloc(size_t n) {
  struct vg_json_doc *d = parsing;
  /* Aligned as malloc aligns (16 bytes here), not to max_align_t's size
   * (32): a string of a few bytes takes 16. */
  const size_t align = _Alignof(max_align_t);
  n = (n + align - 1) & ~(align - 1);
  struct chunk *c = d->chunks;
  if (!c || c->cap - c->used < n) {
    /* The first chunk as estimated for the whole tree; past the estimate
     * a quarter of what is taken so far: a few chunks for any document,
     * little of them unused.  Never past max_bytes. */
    size_t cap = c ? (d->bytes / 4 > 64 * 1024 ? d->bytes / 4 : 64 * 1024)
                   : d->first_chunk;
    if (cap < n)
      cap = n;
    size_t room = d->max_bytes - d->bytes;
    if (room < sizeof *c + n) {
      d->error = -EMSGSIZE;
      return NULL; /* cJSON gives up the parse */
    }
    if (cap > room - sizeof *c)
      cap = room - sizeof *c;
    if (d->hold) {
      int rc = vg_budget_take(d->hold, sizeof *c + cap);
      if (rc) {
        d->error = rc;
        return NULL;
      }
    }
    d->bytes += sizeof *c + cap;
    /* Owned by the document; freed by vg_json_doc_free. */
    struct chunk *nc = vg_malloc(sizeof *nc + cap);
    nc->next = c;
    nc->used = 0;
    nc->cap = cap;
    d->chunks = c = nc;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static void *hook_malloc(size_t n) {
  return parsing ? arena_alloc(n) : malloc(n);
}

/* Inside a parse, memory goes back with the whole arena. */
static void hook_free(void *p) {
  if (!parsing)
    free(p);
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void install_hooks(void) {
  cJSON_Hooks hooks = {.malloc_fn = hook_malloc, .free_fn = hook_free};
  cJSON_InitHooks(&hooks);
}

void vg_json_init(void) {
  pthread_once(&hooks_once, install_hooks);
}

void vg_json_doc_free(struct vg_json_doc *doc) {
  if (!doc)
    return;
  if (doc->hold)
    vg_budget_give(doc->hold, doc->bytes);
  while (doc->chunks) {
    struct chunk *c = doc->chunks;
    doc->chunks = c->next;
    free(c);
  }
  free(doc);
}

const cJSON *vg_json_doc_root(const struct vg_json_doc *doc) {
  return doc->root;
}

size_t vg_json_doc_bytes(const struct vg_json_doc *doc) {
  return doc->bytes;
}

/* ---- parsing -------------------------------------------------------- */

static int syntax_error(const char *data, size_t offset, char *error,
                        size_t size) {
  unsigned line = 1;
  for (size_t i = 0; i < offset; i++)
    line += data[i] == '\n';
  if (size)
    snprintf(error, size, "JSON syntax error at line %u, byte %zu", line,
             offset);
  return -EINVAL;
}

static int blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* cJSON's parse of exactly `len` bytes; NULL and *error_at on a syntax
 * error or trailing text.  cJSON's require_null_terminated check reads
 * past a buffer that is exactly `len` long, so trailing text is checked
 * here instead. */
static cJSON *parse(const char *data, size_t len, size_t *error_at) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  if (!root) {
    *error_at = end ? (size_t)(end - data) : 0;
    return NULL;
  }
  size_t off = (size_t)(end - data);
  while (off < len && blank(data[off]))
    off++;
  if (off < len) {
    /* Inside vg_json_doc_parse this frees nothing: the arena goes whole. */
    cJSON_Delete(root);
    *error_at = off;
    return NULL;
  }
  return root;
}

int vg_json_parse_whole(const char *data, size_t len, cJSON **out, char *error,
                        size_t error_size) {
  size_t at;
  cJSON *root = parse(data, len, &at);
  if (!root)
    return syntax_error(data, at, error, error_size);
  *out = root;
  return 0;
}

void vg_json_count(const char *data, size_t len, struct vg_json_counts *c) {
  *c = (struct vg_json_counts){0};
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char ch = data[i];
    if (in_string) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_string = false;
      continue;
    }
    switch (ch) {
    case '"':
      in_string = true;
      c->strings++;
      break;
    case ',':
      c->commas++;
      break;
    case '[':
    case '{':
      c->opens++;
      break;
    default:
      break;
    }
  }
}

size_t vg_json_tree_min(const struct vg_json_counts *c) {
  return VG_JSON_NODE_BYTES * (1 + c->commas);
}

size_t vg_json_tree_estimate(const struct vg_json_counts *c, size_t len) {
  /* A node per value (at most one per comma, per opening bracket and the
   * root); each string copied (its text, a NUL, rounding to 16); each
   * number spelled again while it is read (cJSON copies it: 16 bytes for
   * any short number, and the text's length covers a long one). */
  size_t values = 1 + c->commas + c->opens;
  return (VG_JSON_NODE_BYTES + 16) * values + 16 * c->strings + len +
         sizeof(struct chunk);
}

int vg_json_doc_parse_limited(const char *data, size_t len,
                              const struct vg_json_limits *lim,
                              struct vg_json_doc **out, char *error,
                              size_t error_size) {
  vg_json_init();
  struct vg_json_counts counts;
  vg_json_count(data, len, &counts);
  size_t least = vg_json_tree_min(&counts);
  if (least > lim->max_bytes) {
    snprintf(error, error_size,
             "the JSON body holds at least %zu values, which take more than "
             "the %zu bytes it may take once parsed",
             1 + counts.commas, lim->max_bytes);
    return -EMSGSIZE;
  }
  /* Owned by the caller on success; freed here otherwise. */
  struct vg_json_doc *doc = vg_calloc(1, sizeof *doc);
  doc->max_bytes = lim->max_bytes;
  doc->hold = lim->hold;
  size_t first = vg_json_tree_estimate(&counts, len);
  doc->first_chunk = first < 64 * 1024 ? 64 * 1024 : first;
  size_t at;
  parsing = doc;
  doc->root = parse(data, len, &at);
  parsing = NULL;
  if (doc->error) {
    int rc = doc->error;
    if (rc == -EMSGSIZE)
      snprintf(error, error_size,
               "the JSON body takes more than the %zu bytes it may take once "
               "parsed",
               lim->max_bytes);
    else
      snprintf(error, error_size,
               "no memory for the JSON body now (%zu bytes taken when it was "
               "refused)",
               doc->bytes);
    vg_json_doc_free(doc);
    return rc;
  }
  if (!doc->root) {
    vg_json_doc_free(doc);
    return syntax_error(data, at, error, error_size);
  }
  *out = doc;
  return 0;
}

int vg_json_doc_parse(const char *data, size_t len, struct vg_json_doc **out,
                      char *error, size_t error_size) {
  const struct vg_json_limits none = {.max_bytes = SIZE_MAX};
  return vg_json_doc_parse_limited(data, len, &none, out, error, error_size);
}
