/* daemon/formats/json.h - JSON documents: a whole-input parse that says where
 * it failed (into an arena), and JSON Pointers (RFC 6901) compiled once.
 *
 * Shared by the record mapping (daemon/formats/mapping.h) and the HTTP
 * collector, which reads its pagination fields (page count, next link, cursor)
 * from the same parsed answer the mapping reads records from.
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
 * an error) into a tree of its own: 0 and *out (the caller's,
 * cJSON_Delete), or -EINVAL with *error saying "JSON syntax error at line
 * L, byte B".  For a tree that is changed or kept; vg_json_doc_parse is
 * cheaper for one that is only read. */
int vg_json_parse_whole(const char *data, size_t len, cJSON **out, char *error,
                        size_t error_size);

/* A parsed input document: its tree lives in an arena of its own, made
 * while parsing and freed whole, which halves the cost of a parse (cJSON
 * otherwise allocates and frees every node and string one by one).  Its
 * nodes must not be freed or changed one by one (no cJSON_Delete). */
struct vg_json_doc;

/* Parses one whole document of `len` bytes (text after it but blanks is
 * an error).  0 and *doc (the caller's, vg_json_doc_free), or -EINVAL with
 * *error saying "JSON syntax error at line L, byte B". */
int vg_json_doc_parse(const char *data, size_t len, struct vg_json_doc **doc,
                      char *error, size_t error_size);
const cJSON *vg_json_doc_root(const struct vg_json_doc *doc);
void vg_json_doc_free(struct vg_json_doc *doc); /* NULL-safe */

/* Routes cJSON's allocations through the arena hooks: call once before
 * threads start (main does); vg_json_doc_parse calls it too, for
 * programs that do not.  Other cJSON use is unchanged: outside a parse of
 * a document, the hooks are malloc and free. */
void vg_json_init(void);

#endif
