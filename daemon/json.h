/* daemon/json.h - JSON documents: a whole-input parse that says where it
 * failed, and JSON Pointers (RFC 6901) compiled once.
 *
 * Shared by the record mapping (daemon/mapping.h) and the HTTP collector,
 * which reads its pagination fields (page count, next link, cursor) from
 * the same parsed answer the mapping reads records from.
 */
#ifndef VG_JSON_H
#define VG_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A pointer split into its unescaped tokens: following it costs no
 * parsing.  "" (no tokens) is the whole document. */
struct vg_json_pointer {
  char **tokens; /* owned, and each token */
  long *index;   /* owned: the array index a token names, or -1 */
  size_t count;
};

/* Compiles `text` into *p (zeroed by the caller); NULL, or why it is not
 * a pointer.  Either way vg_json_pointer_free releases what was made. */
const char *vg_json_pointer_parse(struct vg_json_pointer *p, const char *text);
void vg_json_pointer_free(struct vg_json_pointer *p);
/* The node the pointer leads to from `node`, or NULL. */
const cJSON *vg_json_pointer_get(const struct vg_json_pointer *p,
                                 const cJSON *node);

/* Parses one whole document of `len` bytes (text after it but blanks is
 * an error).  0 and *root (the caller's, cJSON_Delete), or -EINVAL with
 * *error saying "JSON syntax error at line L, byte B". */
int vg_json_parse(const char *data, size_t len, cJSON **root, char *error,
                  size_t error_size);

#endif
