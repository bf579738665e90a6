/* Unit tests: whole-document JSON parsing with located errors, and JSON
 * Pointers. */
#include "daemon/json.h"
#include "tests/vgtest.h"

#include <errno.h>

static const cJSON *get(const char *pointer, const cJSON *doc) {
  struct vg_json_pointer p = {0};
  ASSERT(vg_json_pointer_parse(&p, pointer) == NULL);
  const cJSON *v = vg_json_pointer_get(&p, doc);
  vg_json_pointer_free(&p);
  return v;
}

VG_TEST(pointers_follow_objects_arrays_and_escapes) {
  const char *text = "{\"data\": {\"items\": [{\"a/b\": 1, \"m~n\": 2}, 3]},"
                     " \"\": 4, \"01\": 5}";
  cJSON *doc = NULL;
  char error[128];
  ASSERT_INT_EQ(vg_json_parse(text, strlen(text), &doc, error, sizeof error),
                0);
  ASSERT(get("", doc) == doc);
  ASSERT_DBL_EQ(get("/data/items/0/a~1b", doc)->valuedouble, 1);
  ASSERT_DBL_EQ(get("/data/items/0/m~0n", doc)->valuedouble, 2);
  ASSERT_DBL_EQ(get("/data/items/1", doc)->valuedouble, 3);
  ASSERT_DBL_EQ(get("/", doc)->valuedouble, 4);
  ASSERT_DBL_EQ(get("/01", doc)->valuedouble, 5);
  /* "01" is not an array index; past the end and into numbers is NULL. */
  ASSERT(get("/data/items/01", doc) == NULL);
  ASSERT(get("/data/items/2", doc) == NULL);
  ASSERT(get("/data/items/1/x", doc) == NULL);
  ASSERT(get("/nothing/here", doc) == NULL);
  cJSON_Delete(doc);
}

VG_TEST(pointer_syntax_errors) {
  struct vg_json_pointer p = {0};
  ASSERT_STR_EQ(vg_json_pointer_parse(&p, "data/items"),
                "it must be \"\" or start with \"/\"");
  vg_json_pointer_free(&p);
  ASSERT_STR_EQ(vg_json_pointer_parse(&p, "/a/b~2"),
                "\"~\" must be followed by 0 or 1");
  vg_json_pointer_free(&p);
  ASSERT_STR_EQ(vg_json_pointer_parse(&p, "/a~"),
                "\"~\" must be followed by 0 or 1");
  vg_json_pointer_free(&p);
  ASSERT_INT_EQ(p.count, 0);
}

static const char *parse_error(const char *text, size_t len) {
  static char error[128];
  cJSON *doc = NULL;
  ASSERT_INT_EQ(vg_json_parse(text, len, &doc, error, sizeof error), -EINVAL);
  ASSERT(doc == NULL);
  return error;
}

VG_TEST(syntax_errors_say_line_and_byte) {
  ASSERT_STR_EQ(parse_error("{\"a\": 1,\n \"b\": }", 16),
                "JSON syntax error at line 2, byte 15");
  /* A truncated answer fails at its last byte. */
  ASSERT_STR_EQ(parse_error("{\"items\": [1, 2", 15),
                "JSON syntax error at line 1, byte 14");
  ASSERT_STR_EQ(parse_error("[1] x", 5), "JSON syntax error at line 1, byte 4");
  ASSERT_STR_EQ(parse_error("", 0), "JSON syntax error at line 1, byte 0");
  /* Only `len` bytes are read: what follows them is not the document's. */
  ASSERT_STR_EQ(parse_error("[1, 2]", 4),
                "JSON syntax error at line 1, byte 3");
  cJSON *doc = NULL;
  char error[128];
  ASSERT_INT_EQ(vg_json_parse("[1, 2]\n\t ", 9, &doc, error, sizeof error), 0);
  ASSERT_INT_EQ(cJSON_GetArraySize(doc), 2);
  cJSON_Delete(doc);
}

VG_TEST_MAIN(VG_T(pointers_follow_objects_arrays_and_escapes),
             VG_T(pointer_syntax_errors), VG_T(syntax_errors_say_line_and_byte))
