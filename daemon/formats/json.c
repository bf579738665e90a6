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
};

/* The document being parsed on this thread; NULL outside a parse, when
 * the hooks are malloc and free. */
static _Thread_local struct vg_json_doc *parsing;

static void *arena_alloc(size_t n) {
  struct vg_json_doc *d = parsing;
  n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  struct chunk *c = d->chunks;
  if (!c || c->cap - c->used < n) {
    /* Each chunk twice the last: a few chunks for any document. */
    size_t cap = c ? c->cap * 2 : 64 * 1024;
    if (cap < n)
      cap = n;
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

int vg_json_doc_parse(const char *data, size_t len, struct vg_json_doc **out,
                      char *error, size_t error_size) {
  vg_json_init();
  /* Owned by the caller on success; freed here otherwise. */
  struct vg_json_doc *doc = vg_calloc(1, sizeof *doc);
  size_t at;
  parsing = doc;
  doc->root = parse(data, len, &at);
  parsing = NULL;
  if (!doc->root) {
    vg_json_doc_free(doc);
    return syntax_error(data, at, error, error_size);
  }
  *out = doc;
  return 0;
}
