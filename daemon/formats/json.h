/* daemon/formats/json.h - JSON documents: a whole-input parse that says where
 * it failed (into an arena), and JSON Pointers (RFC 6901) compiled once.
 *
 * Shared by the record mapping (daemon/formats/mapping.h) and the HTTP
 * collector, which reads its pagination fields (page count, next link, cursor)
 * from the same parsed answer the mapping reads records from.
 */
#ifndef VG_JSON_H
#define VG_JSON_H

#include "daemon/util/budget.h"

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
/* What one document may cost: its tree's arena (every chunk counted
 * whole) is capped at max_bytes (-EMSGSIZE past it), and, with a hold,
 * taken from a memory budget as it grows (its refusal, -EAGAIN or
 * -EFBIG, is returned); vg_json_doc_free gives it back.  Before parsing,
 * the commas are counted: a document whose values alone (64 bytes each
 * in cJSON's tree, VG_JSON_NODE_BYTES) would pass max_bytes is refused
 * without a byte of tree, so `[0,0,0,...]` cannot make 64 bytes of every
 * 2 of the body.  The first chunk is made to the tree's estimate, so that
 * a document's tree is one allocation, given back whole. */
struct vg_json_limits {
  size_t max_bytes;
  struct vg_budget_hold *hold; /* optional */
};
int vg_json_doc_parse_limited(const char *data, size_t len,
                              const struct vg_json_limits *lim,
                              struct vg_json_doc **doc, char *error,
                              size_t error_size);
const cJSON *vg_json_doc_root(const struct vg_json_doc *doc);
/* What its arena took, in bytes (chunks whole). */
size_t vg_json_doc_bytes(const struct vg_json_doc *doc);

/* What a document's tree will take, from its text alone (strings skipped,
 * escapes honoured): commas, opening brackets and strings outside
 * strings. */
#define VG_JSON_NODE_BYTES 64 /* sizeof(cJSON) */
struct vg_json_counts {
  size_t commas, opens, strings;
};
void vg_json_count(const char *data, size_t len, struct vg_json_counts *c);
/* At least this many bytes: a node per value, and a valid document has a
 * value more than it has commas. */
size_t vg_json_tree_min(const struct vg_json_counts *c);
/* At most about this many: what the first chunk is made to. */
size_t vg_json_tree_estimate(const struct vg_json_counts *c, size_t len);
void vg_json_doc_free(struct vg_json_doc *doc); /* NULL-safe */

/* Routes cJSON's allocations through the arena hooks: call once before
 * threads start (main does); vg_json_doc_parse calls it too, for
 * programs that do not.  Other cJSON use is unchanged: outside a parse of
 * a document, the hooks are malloc and free. */
void vg_json_init(void);

#endif
