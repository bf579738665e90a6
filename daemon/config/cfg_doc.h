/* daemon/config/cfg_doc.h - reading configuration files.
 *
 * The configuration is JSON with `//` and block comments, `${VAR}` and
 * `${VAR:-default}` substituted from the environment inside strings (the
 * default also replaces an empty VAR, as in the shell; `$${` writes a
 * literal `${`), and
 * strings of the form "@file:/path" replaced by the contents of that file
 * (trailing newline removed), for secrets.  The reader builds a cJSON tree
 * and remembers, in a vg_cfg_doc, the file, line and column of every key
 * and value, so that every later error -- a wrong type, an unknown key, a
 * value out of range -- can name where it is.
 *
 * vg_cfg_doc_load() reads the main file and then every *.json in the conf.d/
 * directory beside it, in name order.  Objects are merged key by key; the
 * arrays "collectors" and "exporters" are concatenated; any other value
 * set again by a later file replaces the earlier one, so a drop-in can
 * change one setting of the main file (as systemd's drop-ins do), and the
 * doc keeps a note of each replacement for the log.
 */
#ifndef VG_CFG_DOC_H
#define VG_CFG_DOC_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct vg_cfg_doc; /* positions of every node, and the files' names */

struct vg_cfg_err {
  const struct vg_cfg_doc *doc; /* set by the loader; may be NULL */
  char msg[1024];               /* "file:line:column: what was expected" */
};

struct vg_cfg_doc *vg_cfg_doc_new(void);
void vg_cfg_doc_free(struct vg_cfg_doc *doc); /* NULL-safe */

/* Parses one text; `path` names it in errors.  On success *out is a new
 * tree owned by the caller and every node of it has a position in doc. */
int vg_cfg_doc_parse(struct vg_cfg_doc *doc, const char *path, const char *text,
                     size_t len, cJSON **out, struct vg_cfg_err *err);

/* Reads `path` and its conf.d/.  On success *doc and *root are new and
 * owned by the caller; err->doc is set to *doc. */
int vg_cfg_doc_load(const char *path, struct vg_cfg_doc **doc, cJSON **root,
                    struct vg_cfg_err *err);

/* The files read, the main one first, then conf.d/ in name order. */
size_t vg_cfg_doc_nfiles(const struct vg_cfg_doc *doc);
const char *vg_cfg_doc_file(const struct vg_cfg_doc *doc, size_t i);
/* The values a later file replaced, for the log: "file:line:col: \"key\"
 * replaces the value at file:line:col".  Valid as long as the doc. */
size_t vg_cfg_doc_noverrides(const struct vg_cfg_doc *doc);
const char *vg_cfg_doc_override(const struct vg_cfg_doc *doc, size_t i);

/* Where a node came from; 0 when unknown.  `key` asks for the position of
 * the member's key rather than its value. */
int vg_cfg_doc_position(const struct vg_cfg_doc *doc, const cJSON *node,
                        int key, const char **file, unsigned *line,
                        unsigned *column);

/* The directory of the file that `node` came from, for resolving relative
 * paths; "." when unknown. */
const char *vg_cfg_doc_node_dir(const struct vg_cfg_doc *doc,
                                const cJSON *node);

/* Fills err->msg with "file:line:column: <message>" for the value of
 * `node` (or plain message if the node has no position) and returns
 * -EINVAL, so callers write `return vg_cfg_error(err, node, ...)`. */
int vg_cfg_error(struct vg_cfg_err *err, const cJSON *node, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));
/* The same, pointing at the member's key (for unknown keys). */
int vg_cfg_error_key(struct vg_cfg_err *err, const cJSON *node, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

#endif
