/* tests/unit/test_cfg_doc.c - the configuration reader: syntax, positions,
 * substitution, secrets, duplicate keys and the conf.d/ merge.  Every error
 * message is asserted exactly, since people act on them. */
#include "daemon/util/buf.h"
#include "daemon/config/cfg_doc.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* Parses text named "t.json"; the caller frees *doc and the result. */
static cJSON *parse_ok(struct vg_cfg_doc **doc, const char *text) {
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  *doc = vg_cfg_doc_new();
  int rc = vg_cfg_doc_parse(*doc, "t.json", text, strlen(text), &root, &err);
  if (rc)
    VG_FAIL("unexpected error: %s", err.msg);
  return root;
}

/* The message of a parse that must fail. */
static const char *parse_err(const char *text, size_t len) {
  static struct vg_cfg_err err;
  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  cJSON *root = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "t.json", text, len, &root, &err),
                -EINVAL);
  ASSERT(root == NULL);
  vg_cfg_doc_free(doc);
  return err.msg;
}

#define PARSE_ERR(text) parse_err(text, sizeof(text) - 1)

static void assert_pos(const struct vg_cfg_doc *doc, const cJSON *node, int key,
                       const char *file, unsigned line, unsigned col) {
  const char *f = NULL;
  unsigned l = 0, c = 0;
  ASSERT(vg_cfg_doc_position(doc, node, key, &f, &l, &c));
  ASSERT_STR_EQ(f, file);
  ASSERT_INT_EQ(l, line);
  ASSERT_INT_EQ(c, col);
}

static void write_file(const char *path, const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT(fd >= 0);
  ASSERT(write(fd, text, len) == (ssize_t)len);
  close(fd);
}

VG_TEST(comments_and_values) {
  struct vg_cfg_doc *doc;
  cJSON *root = parse_ok(&doc, "// leading comment\n"
                               "{ /* block\n comment */ \"a\" /*x*/ : 1.5e2,"
                               " // trailing\n"
                               "  \"b\": [true, false, null, -0.25, \"s\"],\n"
                               "  \"c\": {}, \"d\": []\n"
                               "}/* end */\n");
  ASSERT_DBL_EQ(cJSON_GetObjectItem(root, "a")->valuedouble, 150);
  const cJSON *b = cJSON_GetObjectItem(root, "b");
  ASSERT_INT_EQ(cJSON_GetArraySize(b), 5);
  ASSERT(cJSON_IsTrue(cJSON_GetArrayItem(b, 0)));
  ASSERT(cJSON_IsFalse(cJSON_GetArrayItem(b, 1)));
  ASSERT(cJSON_IsNull(cJSON_GetArrayItem(b, 2)));
  ASSERT_DBL_EQ(cJSON_GetArrayItem(b, 3)->valuedouble, -0.25);
  ASSERT_STR_EQ(cJSON_GetArrayItem(b, 4)->valuestring, "s");
  ASSERT(cJSON_IsObject(cJSON_GetObjectItem(root, "c")));
  ASSERT(cJSON_IsArray(cJSON_GetObjectItem(root, "d")));
  assert_pos(doc, root, 0, "t.json", 2, 1);
  assert_pos(doc, cJSON_GetObjectItem(root, "a"), 1, "t.json", 3, 13);
  assert_pos(doc, cJSON_GetObjectItem(root, "a"), 0, "t.json", 3, 25);
  assert_pos(doc, cJSON_GetArrayItem(b, 3), 0, "t.json", 4, 28);
  const char *f;
  unsigned l, c;
  /* An array element has no key position. */
  ASSERT(!vg_cfg_doc_position(doc, cJSON_GetArrayItem(b, 3), 1, &f, &l, &c));
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(doc, root), ".");
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
}

/* A generated configuration on one long line: every node's column is
 * right (counted on from the last), and reading it is not quadratic in
 * the line's length. */
VG_TEST(one_long_line) {
  size_t n = 20000;
  struct vg_buf text;
  vg_buf_init(&text, 1 << 24);
  vg_buf_puts(&text, "{\"村\": [");
  for (size_t i = 0; i < n; i++)
    vg_buf_printf(&text, "%s{\"k\": \"村%05zu\"}", i ? ", " : "", i);
  vg_buf_puts(&text, "],\n \"end\": 1}");
  struct vg_cfg_doc *doc;
  cJSON *root = parse_ok(&doc, text.data);
  const cJSON *list = cJSON_GetObjectItem(root, "村");
  /* {"村": [ is 7 characters; each element {"k": "村00000"} 15, and ", ". */
  for (size_t i = 0; i < n; i += 4999) {
    const cJSON *e = cJSON_GetArrayItem(list, (int)i);
    assert_pos(doc, e, 0, "t.json", 1, (unsigned)(8 + 17 * i));
    assert_pos(doc, cJSON_GetObjectItem(e, "k"), 1, "t.json", 1,
               (unsigned)(9 + 17 * i));
    assert_pos(doc, cJSON_GetObjectItem(e, "k"), 0, "t.json", 1,
               (unsigned)(14 + 17 * i));
  }
  assert_pos(doc, cJSON_GetObjectItem(root, "end"), 1, "t.json", 2, 2);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  vg_buf_free(&text);
}

VG_TEST(escapes_and_unicode) {
  struct vg_cfg_doc *doc;
  cJSON *root = parse_ok(
      &doc, "{\"s\": \"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t|\\u00e9\\u6751\\ud83d"
            "\\ude00\",\n"
            " \"名\": \"村\", \"x\": 1}");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "s")->valuestring,
                "q\"b\\s/\b\f\n\r\t|\xC3\xA9\xE6\x9D\x91\xF0\x9F\x98\x80");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "名")->valuestring, "村");
  /* Columns count characters: 名 and 村 are one column each. */
  assert_pos(doc, cJSON_GetObjectItem(root, "x"), 1, "t.json", 2, 12);
  assert_pos(doc, cJSON_GetObjectItem(root, "x"), 0, "t.json", 2, 17);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
}

VG_TEST(syntax_errors) {
  static const struct {
    const char *text, *msg;
  } cases[] = {
      {"{\"a\": 1 \"b\": 2}", "t.json:1:9: expected ',' or '}' after member"},
      {"{\"a\": 1,}", "t.json:1:8: trailing ',' before '}'"},
      {"{\"a\": [1,\n  2,\n]}", "t.json:2:4: trailing ',' before ']'"},
      {"[1 2]", "t.json:1:4: expected ',' or ']' after element"},
      {"{\"a\": \"abc", "t.json:1:7: unterminated string"},
      {"{\"a\": \"abc\n\"}",
       "t.json:1:11: unterminated string (a string cannot span lines; write "
       "\\n)"},
      {"{\"a\": 1}\n  /* x", "t.json:2:3: unterminated comment"},
      {"{\"a\": \"\\x\"}",
       "t.json:1:8: invalid escape; expected one of \\\" \\\\ \\/ \\b \\f \\n "
       "\\r \\t \\uXXXX"},
      {"{\"a\": \"\\u12G4\"}",
       "t.json:1:8: invalid \\u escape: expected 4 hex digits"},
      {"{\"a\": \"x\\ud800y\"}",
       "t.json:1:9: unpaired surrogate in \\u escape"},
      {"{\"a\": \"\\udc00\"}", "t.json:1:8: unpaired surrogate in \\u escape"},
      {"{\"a\": \"\\u0000\"}",
       "t.json:1:8: \\u0000 is not allowed in a string"},
      {"{\"a\": \"村\xff\"}", "t.json:1:9: invalid UTF-8 in string"},
      {"{\"a\": \"\xc0\xaf\"}", "t.json:1:8: invalid UTF-8 in string"},
      {"{\"a\": \"\xed\xa0\x80\"}", "t.json:1:8: invalid UTF-8 in string"},
      {"{\"a\": \"x\ty\"}",
       "t.json:1:9: control character in string; escape it"},
      {"{\"a\": 01}", "t.json:1:8: expected ',' or '}' after member"},
      {"{\"a\": 1.}", "t.json:1:7: invalid number: expected a digit after '.'"},
      {"{\"a\": 1e+}",
       "t.json:1:7: invalid number: expected a digit in exponent"},
      {"{\"a\": -x}", "t.json:1:7: invalid number"},
      {"{\"a\": 1e999}", "t.json:1:7: number out of range"},
      {"{\"a\": yes}", "t.json:1:7: expected a value"},
      {"{\"a\": tru}", "t.json:1:7: expected a value"},
      {"{a: 1}", "t.json:1:2: expected a string key"},
      {"{\"a\" 1}", "t.json:1:6: expected ':' after key"},
      {"{\"a\": 1}}",
       "t.json:1:9: unexpected text after the end of the document"},
      {"", "t.json:1:1: unexpected end of input, expected a value"},
      {"// only a comment\n",
       "t.json:2:1: unexpected end of input, expected a value"},
      {"{\"a\": ", "t.json:1:7: unexpected end of input, expected a value"},
      {"{\n  \"a\": 1,\n  \"a\": 2\n}",
       "t.json:3:3: \"a\" is already set at t.json:2:3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    ASSERT_STR_EQ(parse_err(cases[i].text, strlen(cases[i].text)),
                  cases[i].msg);
  /* A NUL byte is text like any other, and not allowed. */
  ASSERT_STR_EQ(PARSE_ERR("{\"a\": \"x\0\"}"),
                "t.json:1:9: control character in string; escape it");
  ASSERT_STR_EQ(PARSE_ERR("{\"a\": 1}\0"),
                "t.json:1:9: unexpected text after the end of the document");
}

VG_TEST(depth_limit) {
  char text[200];
  /* 64 levels are fine, the 65th is refused. */
  memset(text, '[', 64);
  memset(text + 64, ']', 64);
  struct vg_cfg_doc *doc;
  text[128] = '\0';
  cJSON_Delete(parse_ok(&doc, text));
  vg_cfg_doc_free(doc);
  memset(text, '[', 65);
  memset(text + 65, ']', 65);
  ASSERT_STR_EQ(parse_err(text, 130),
                "t.json:1:65: nesting deeper than 64 levels");
}

VG_TEST(byte_order_mark) {
  struct vg_cfg_doc *doc;
  cJSON *root = parse_ok(&doc, "\xEF\xBB\xBF{\"a\": 1}");
  assert_pos(doc, cJSON_GetObjectItem(root, "a"), 1, "t.json", 1, 2);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
}

VG_TEST(environment) {
  setenv("VG_T_HOST", "influx.local", 1);
  setenv("VG_T_EMPTY", "", 1);
  unsetenv("VG_T_UNSET");
  struct vg_cfg_doc *doc;
  cJSON *root = parse_ok(
      &doc, "{\"url\": \"http://${VG_T_HOST}:${VG_T_PORT:-8086}/x\",\n"
            " \"e\": \"[${VG_T_EMPTY}][${VG_T_EMPTY:-d}][${VG_T_UNSET:-}]\",\n"
            " \"lit\": \"$${VG_T_HOST} $5 $$ $\",\n"
            " \"k${VG_T_HOST}\": \"keys are never substituted\"}");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "url")->valuestring,
                "http://influx.local:8086/x");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "e")->valuestring, "[][d][]");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "lit")->valuestring,
                "${VG_T_HOST} $5 $$ $");
  ASSERT(cJSON_GetObjectItem(root, "k${VG_T_HOST}"));
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);

  ASSERT_STR_EQ(PARSE_ERR("{\n  \"a\": \"x${VG_T_UNSET}\"}"),
                "t.json:2:8: environment variable \"VG_T_UNSET\" is not set");
  ASSERT_STR_EQ(PARSE_ERR("{\"a\": \"${VG_T_HOST\"}"),
                "t.json:1:7: unterminated ${ in string (write $${ for a "
                "literal)");
  ASSERT_STR_EQ(PARSE_ERR("{\"a\": \"${1X}\"}"),
                "t.json:1:7: invalid ${...}: expected ${NAME} or "
                "${NAME:-default}");
  ASSERT_STR_EQ(PARSE_ERR("{\"a\": \"${A-b}\"}"),
                "t.json:1:7: invalid ${...}: expected ${NAME} or "
                "${NAME:-default}");
}

VG_TEST(file_secrets) {
  char dir[] = "/tmp/vg-conf-XXXXXX";
  ASSERT(mkdtemp(dir));
  char main[64], token[64], big[64], text[256];
  snprintf(main, sizeof main, "%s/main.json", dir);
  snprintf(token, sizeof token, "%s/token", dir);
  snprintf(big, sizeof big, "%s/big", dir);
  write_file(token, "s3cret\r\n", 8);
  char *blob = malloc(65537);
  memset(blob, 'x', 65537);
  write_file(big, blob, 65537);
  setenv("VG_T_DIR", dir, 1);

  struct vg_cfg_doc *doc = vg_cfg_doc_new();
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  const char *ok =
      "{\"rel\": \"@file:token\", \"abs\": \"@file:${VG_T_DIR}/token\","
      " \"at\": \"@files are only read with @file:\"}";
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, main, ok, strlen(ok), &root, &err), 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "rel")->valuestring, "s3cret");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "abs")->valuestring, "s3cret");
  ASSERT_STR_EQ(cJSON_GetObjectItem(root, "at")->valuestring,
                "@files are only read with @file:");
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(doc, root), dir);
  cJSON_Delete(root);

  /* Exactly 64 KiB is allowed; one byte more is not. */
  write_file(big, blob, 65536);
  const char *fits = "{\"a\": \"@file:big\"}";
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, main, fits, strlen(fits), &root, &err),
                0);
  ASSERT_INT_EQ(strlen(cJSON_GetObjectItem(root, "a")->valuestring), 65536);
  cJSON_Delete(root);
  write_file(big, blob, 65537);
  free(blob);

  static const struct {
    const char *text, *msg;
  } cases[] = {
      {"{\"a\": \"@file:missing\"}",
       "%s/main.json:1:7: @file: cannot read %s/missing: No such file or "
       "directory"},
      {"{\n \"a\": \"@file:big\"}",
       "%s/main.json:2:7: @file: %s/big is larger than 64 KiB"},
  };
  for (size_t i = 0; i < 2; i++) {
    ASSERT_INT_EQ(vg_cfg_doc_parse(doc, main, cases[i].text,
                                   strlen(cases[i].text), &root, &err),
                  -EINVAL);
    snprintf(text, sizeof text, cases[i].msg, dir, dir);
    ASSERT_STR_EQ(err.msg, text);
  }
  vg_cfg_doc_free(doc);
  unlink(token);
  unlink(big);
  rmdir(dir);
}

VG_TEST(load_merges_conf_d) {
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  int rc =
      vg_cfg_doc_load("config/merge/villagemetrics.json", &doc, &root, &err);
  if (rc)
    VG_FAIL("%s", err.msg);
  ASSERT(err.doc == doc);
  /* Arrays concatenated in file name order; README and .draft.json
   * ignored. */
  const cJSON *c = cJSON_GetObjectItem(root, "collectors");
  ASSERT_INT_EQ(cJSON_GetArraySize(c), 3);
  static const char *const names[] = {"villages", "province-api", "sensors"};
  for (int i = 0; i < 3; i++)
    ASSERT_STR_EQ(
        cJSON_GetObjectItem(cJSON_GetArrayItem(c, i), "name")->valuestring,
        names[i]);
  ASSERT_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "exporters")), 1);
  /* Objects merged key by key. */
  const cJSON *labels = cJSON_GetObjectItem(root, "labels");
  ASSERT_STR_EQ(cJSON_GetObjectItem(labels, "city")->valuestring, "Tongren");
  ASSERT_STR_EQ(cJSON_GetObjectItem(labels, "province")->valuestring,
                "Guizhou");
  /* Positions survive the merge, each in its own file. */
  const cJSON *sensors = cJSON_GetArrayItem(c, 2);
  assert_pos(doc, sensors, 0, "config/merge/conf.d/20-last.json", 3, 5);
  assert_pos(doc, cJSON_GetObjectItem(sensors, "name"), 1,
             "config/merge/conf.d/20-last.json", 3, 24);
  assert_pos(doc, cJSON_GetObjectItem(sensors, "name"), 0,
             "config/merge/conf.d/20-last.json", 3, 32);
  assert_pos(doc, cJSON_GetObjectItem(labels, "province"), 1,
             "config/merge/conf.d/10-more.json", 2, 14);
  assert_pos(doc, cJSON_GetArrayItem(c, 0), 0,
             "config/merge/villagemetrics.json", 6, 5);
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(doc, sensors), "config/merge/conf.d");
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(doc, cJSON_GetArrayItem(c, 0)),
                "config/merge");
  ASSERT_INT_EQ(vg_cfg_error(&err, cJSON_GetObjectItem(sensors, "type"),
                             "unknown collector type \"%s\"", "script"),
                -EINVAL);
  ASSERT_STR_EQ(err.msg, "config/merge/conf.d/20-last.json:3:14: unknown "
                         "collector type \"script\"");
  ASSERT_INT_EQ(
      vg_cfg_error_key(&err, cJSON_GetObjectItem(sensors, "type"), "x"),
      -EINVAL);
  ASSERT_STR_EQ(err.msg, "config/merge/conf.d/20-last.json:3:6: x");
  /* An element has no key: the error points at its value. */
  ASSERT_INT_EQ(vg_cfg_error_key(&err, sensors, "y"), -EINVAL);
  ASSERT_STR_EQ(err.msg, "config/merge/conf.d/20-last.json:3:5: y");
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  /* Without a position, the message alone. */
  err.doc = NULL;
  ASSERT_INT_EQ(vg_cfg_error(&err, NULL, "plain %d", 1), -EINVAL);
  ASSERT_STR_EQ(err.msg, "plain 1");
}

/* No position may outlive its node: a node made later at the same address
 * (a plugin building its own cJSON) must not report a dead node's place. */
VG_TEST(deleted_nodes_leave_no_position) {
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  const char *f;
  unsigned l, c;
  /* The merge deletes the conf.d/ files' emptied objects and arrays. */
  if (vg_cfg_doc_load("config/merge/villagemetrics.json", &doc, &root, &err))
    VG_FAIL("%s", err.msg);
  cJSON *fresh[64];
  for (int i = 0; i < 64; i++) {
    fresh[i] = i % 2 ? cJSON_CreateObject() : cJSON_CreateArray();
    ASSERT(!vg_cfg_doc_position(doc, fresh[i], 0, &f, &l, &c));
  }
  for (int i = 0; i < 64; i++)
    cJSON_Delete(fresh[i]);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);

  /* Many positions forgotten among many kept: every kept one is still
   * found, none of the forgotten ones is. */
  doc = vg_cfg_doc_new();
  char kept[16384], failed[16384];
  size_t nk = 0, nf = 0;
  nk += (size_t)snprintf(kept + nk, sizeof kept - nk, "{\n");
  nf += (size_t)snprintf(failed + nf, sizeof failed - nf, "{\n");
  for (int i = 0; i < 500; i++) {
    nk += (size_t)snprintf(kept + nk, sizeof kept - nk, "%s\"k%d\": [%d]\n",
                           i ? "," : "", i, i);
    nf += (size_t)snprintf(failed + nf, sizeof failed - nf, "\"f%d\": [%d],\n",
                           i, i);
  }
  nk += (size_t)snprintf(kept + nk, sizeof kept - nk, "}\n");
  nf += (size_t)snprintf(failed + nf, sizeof failed - nf, "oops}\n");
  root = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "kept.json", kept, nk, &root, &err), 0);
  cJSON *gone = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_parse(doc, "failed.json", failed, nf, &gone, &err),
                -EINVAL);
  ASSERT_STR_EQ(err.msg, "failed.json:502:1: expected a string key");
  ASSERT(gone == NULL);
  int i = 0;
  for (const cJSON *k = root->child; k; k = k->next, i++) {
    assert_pos(doc, k, 1, "kept.json", (unsigned)i + 2, i ? 2 : 1);
    assert_pos(doc, k->child, 0, "kept.json", (unsigned)i + 2,
               (unsigned)(i ? 9 : 8) + (i >= 10) + (i >= 100));
  }
  ASSERT_INT_EQ(i, 500);
  for (i = 0; i < 64; i++) {
    fresh[i] = cJSON_CreateNumber(i);
    ASSERT(!vg_cfg_doc_position(doc, fresh[i], 0, &f, &l, &c));
  }
  for (i = 0; i < 64; i++)
    cJSON_Delete(fresh[i]);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
}

/* A drop-in replaces one setting of the main file, and the doc says
 * which and where, for the log. */
VG_TEST(load_conf_d_overrides_a_setting) {
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  ASSERT_INT_EQ(
      vg_cfg_doc_load("config/override/villagemetrics.json", &doc, &root, &err),
      0);
  ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(root, "listen")->valuestring,
                ":9465");
  ASSERT_INT_EQ(vg_cfg_doc_nfiles(doc), 2);
  ASSERT_STR_EQ(vg_cfg_doc_file(doc, 0), "config/override/villagemetrics.json");
  ASSERT_STR_EQ(vg_cfg_doc_file(doc, 1), "config/override/conf.d/b.json");
  ASSERT_INT_EQ(vg_cfg_doc_noverrides(doc), 1);
  ASSERT_STR_EQ(vg_cfg_doc_override(doc, 0),
                "config/override/conf.d/b.json:3:3: \"listen\" replaces the "
                "value at config/override/villagemetrics.json:2:3");
  /* The value's place is the drop-in's, for later errors. */
  const char *f;
  unsigned l, c;
  ASSERT(vg_cfg_doc_position(
      doc, cJSON_GetObjectItemCaseSensitive(root, "listen"), 1, &f, &l, &c));
  ASSERT_STR_EQ(f, "config/override/conf.d/b.json");
  ASSERT_INT_EQ(l, 3);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
}

/* Loads dir/v.json with conf.d/a.json and returns the error message. */
static const char *load_pair(const char *main_text, const char *a_text) {
  static struct vg_cfg_err err;
  ASSERT(mkdir("conf.d", 0700) == 0 || errno == EEXIST);
  write_file("v.json", main_text, strlen(main_text));
  if (a_text)
    write_file("conf.d/a.json", a_text, strlen(a_text));
  struct vg_cfg_doc *doc = NULL;
  cJSON *root = NULL;
  int rc = vg_cfg_doc_load("v.json", &doc, &root, &err);
  unlink("conf.d/a.json");
  if (rc == 0)
    VG_FAIL("loaded, expected an error");
  return err.msg;
}

/* Loads v.json with conf.d/a.json: the merged tree, unformatted, then
 * each override note on a line of its own; the caller frees. */
static char *load_merged(const char *main_text, const char *a_text) {
  ASSERT(mkdir("conf.d", 0700) == 0 || errno == EEXIST);
  write_file("v.json", main_text, strlen(main_text));
  write_file("conf.d/a.json", a_text, strlen(a_text));
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  int rc = vg_cfg_doc_load("v.json", &doc, &root, &err);
  unlink("conf.d/a.json");
  unlink("v.json");
  rmdir("conf.d");
  if (rc)
    VG_FAIL("not loaded: %s", err.msg);
  char *tree = cJSON_PrintUnformatted(root);
  struct vg_buf out;
  vg_buf_init(&out, 1 << 16);
  vg_buf_puts(&out, tree);
  for (size_t i = 0; i < vg_cfg_doc_noverrides(doc); i++)
    vg_buf_printf(&out, "\n%s", vg_cfg_doc_override(doc, i));
  vg_buf_putc(&out, '\0');
  cJSON_free(tree);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  return out.data;
}

/* Objects merge key by key, the top-level collectors and exporters add up,
 * and any other value of a later file replaces the earlier one. */
VG_TEST(load_merge_order) {
  char dir[] = "/tmp/vg-conf-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  char *got = load_merged(
      "{\"http\": {\"timeout\": \"5s\", \"max_connections\": 9},\n"
      " \"x\": [1], \"labels\": {\"a\": \"b\"}, \"log_level\": \"info\",\n"
      " \"collectors\": [{\"name\": \"c1\"}], \"y\": {\"collectors\": [1]}}",
      "{\"http\": {\"timeout\": \"9s\"}, \"x\": [2], \"labels\": 1,\n"
      " \"log_level\": \"debug\", \"collectors\": [{\"name\": \"c2\"}],\n"
      " \"y\": {\"collectors\": [2]}}");
  ASSERT_STR_EQ(got,
                "{\"http\":{\"timeout\":\"9s\",\"max_connections\":9},"
                "\"x\":[2],\"labels\":1,\"log_level\":\"debug\","
                "\"collectors\":[{\"name\":\"c1\"},{\"name\":\"c2\"}],"
                "\"y\":{\"collectors\":[2]}}\n"
                "conf.d/a.json:1:11: \"http.timeout\" replaces the value at "
                "v.json:1:11\n"
                "conf.d/a.json:1:29: \"x\" replaces the value at v.json:2:2\n"
                "conf.d/a.json:1:39: \"labels\" replaces the value at "
                "v.json:2:12\n"
                "conf.d/a.json:2:2: \"log_level\" replaces the value at "
                "v.json:2:34\n"
                "conf.d/a.json:3:8: \"y.collectors\" replaces the value at "
                "v.json:3:40");
  free(got);
  ASSERT(chdir("/") == 0);
  ASSERT(rmdir(dir) == 0);
}

VG_TEST(load_errors) {
  char dir[] = "/tmp/vg-conf-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_load("nope.json", &doc, &root, &err), -EINVAL);
  ASSERT_STR_EQ(err.msg, "nope.json: cannot read: No such file or directory");

  ASSERT_STR_EQ(load_pair("[1]", NULL),
                "v.json:1:1: the top level must be an object");
  ASSERT_STR_EQ(load_pair("{}", "{\"a\": 1,}"),
                "conf.d/a.json:1:8: trailing ',' before '}'");
  ASSERT_STR_EQ(load_pair("{}", "\"string\""),
                "conf.d/a.json:1:1: the top level must be an object");
  unlink("v.json");
  rmdir("conf.d");
  ASSERT(chdir("/") == 0);
  ASSERT(rmdir(dir) == 0);
}

VG_TEST(load_without_conf_d) {
  char dir[] = "/tmp/vg-conf-XXXXXX", path[64];
  ASSERT(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/v.json", dir);
  write_file(path, "{\"collectors\": [{\"type\": \"csv\"}]}", 33);
  struct vg_cfg_doc *doc = NULL;
  struct vg_cfg_err err = {0};
  cJSON *root = NULL;
  ASSERT_INT_EQ(vg_cfg_doc_load(path, &doc, &root, &err), 0);
  ASSERT_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "collectors")), 1);
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(doc, root), dir);
  cJSON_Delete(root);
  vg_cfg_doc_free(doc);
  unlink(path);
  rmdir(dir);
}

VG_TEST_MAIN(VG_T(comments_and_values), VG_T(one_long_line),
             VG_T(escapes_and_unicode), VG_T(syntax_errors), VG_T(depth_limit),
             VG_T(byte_order_mark), VG_T(environment), VG_T(file_secrets),
             VG_T(load_merges_conf_d), VG_T(deleted_nodes_leave_no_position),
             VG_T(load_conf_d_overrides_a_setting), VG_T(load_merge_order),
             VG_T(load_errors), VG_T(load_without_conf_d))
