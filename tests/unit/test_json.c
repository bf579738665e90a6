/* Unit tests: whole-document JSON parsing with located errors, and JSON
 * Pointers. */
#include "daemon/util/buf.h"
#include "daemon/formats/json.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stdlib.h>

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
  struct vg_json_doc *parsed = NULL;
  char error[128];
  ASSERT_INT_EQ(
      vg_json_doc_parse(text, strlen(text), &parsed, error, sizeof error), 0);
  const cJSON *doc = vg_json_doc_root(parsed);
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
  vg_json_doc_free(parsed);
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
  struct vg_json_doc *doc = NULL;
  ASSERT_INT_EQ(vg_json_doc_parse(text, len, &doc, error, sizeof error),
                -EINVAL);
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
  struct vg_json_doc *doc = NULL;
  char error[128];
  ASSERT_INT_EQ(vg_json_doc_parse("[1, 2]\n\t ", 9, &doc, error, sizeof error),
                0);
  ASSERT_INT_EQ(cJSON_GetArraySize(vg_json_doc_root(doc)), 2);
  vg_json_doc_free(doc);
}

/* A document larger than the first chunk of its arena, and cJSON used
 * around it (on this thread, outside a parse) with malloc and free as
 * before. */
VG_TEST(large_documents_and_cjson_around_them) {
  struct vg_buf text;
  vg_buf_init(&text, 1 << 24);
  vg_buf_puts(&text, "{\"items\": [");
  for (int i = 0; i < 20000; i++)
    vg_buf_printf(&text, "%s{\"v\": \"village %d\", \"n\": %d}", i ? "," : "",
                  i, i);
  vg_buf_puts(&text, "]}");
  cJSON *other = cJSON_CreateObject();
  cJSON_AddStringToObject(other, "kept", "yes");
  struct vg_json_doc *doc = NULL;
  char error[128];
  ASSERT_INT_EQ(
      vg_json_doc_parse(text.data, text.len, &doc, error, sizeof error), 0);
  const cJSON *items = cJSON_GetObjectItem(vg_json_doc_root(doc), "items");
  ASSERT_INT_EQ(cJSON_GetArraySize(items), 20000);
  const cJSON *last = cJSON_GetArrayItem(items, 19999);
  ASSERT_STR_EQ(cJSON_GetObjectItem(last, "v")->valuestring, "village 19999");
  ASSERT_DBL_EQ(cJSON_GetObjectItem(last, "n")->valuedouble, 19999);
  char *printed = cJSON_PrintUnformatted(other);
  ASSERT_STR_EQ(printed, "{\"kept\":\"yes\"}");
  free(printed);
  cJSON_Delete(other);
  vg_json_doc_free(doc);
  vg_buf_free(&text);
}

/* A body of n copies of `unit`, comma-separated, inside open/close. */
static char *repeat(const char *open, const char *unit, const char *close,
                    size_t n, size_t *len) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 28);
  ASSERT(vg_buf_puts(&b, open) == 0);
  for (size_t i = 0; i < n; i++)
    ASSERT(vg_buf_printf(&b, "%s%s", i ? "," : "", unit) == 0);
  ASSERT(vg_buf_puts(&b, close) == 0);
  return vg_buf_take(&b, len);
}

/* A list of zeros makes 80 bytes of tree of every 2 of text: refused from
 * its commas alone, before any tree is made. */
VG_TEST(a_tree_past_its_cap_is_refused_before_it_is_made) {
  size_t len;
  char *zeros = repeat("[", "0", "]", 100000, &len);
  struct vg_budget budget;
  vg_budget_init(&budget, 64 << 20);
  struct vg_budget_hold hold;
  vg_budget_hold_init(&hold, &budget);
  struct vg_json_limits lim = {.max_bytes = 16 * len + (1 << 20),
                               .hold = &hold};
  struct vg_json_doc *doc = NULL;
  char err[256];
  ASSERT_INT_EQ(vg_json_doc_parse_limited(zeros, len, &lim, &doc, err, 256),
                -EMSGSIZE);
  ASSERT_STR_EQ(err, "the JSON body holds at least 100000 values, which take "
                     "more than the 4248592 bytes it may take once parsed");
  ASSERT(doc == NULL);
  ASSERT_INT_EQ(budget.peak, 0);
  /* With room for it, the tree is one chunk made to its estimate and
   * taken from the hold; freeing the document gives it back. */
  lim.max_bytes = 100 * len;
  ASSERT_INT_EQ(vg_json_doc_parse_limited(zeros, len, &lim, &doc, err, 256), 0);
  size_t bytes = vg_json_doc_bytes(doc);
  ASSERT(bytes >= 80 * 100000 && bytes < 80 * 100000 + len + 4096);
  ASSERT_INT_EQ(hold.held, bytes);
  vg_json_doc_free(doc);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);
  free(zeros);
}

/* Strings pass the commas' test (64 bytes of every 5 of text) but not the
 * cap: refused while the tree is made, the hold given back. */
VG_TEST(a_tree_past_its_cap_is_refused_while_it_is_made) {
  size_t len;
  char *strings = repeat("[", "\"ab\"", "]", 100000, &len);
  struct vg_budget budget;
  vg_budget_init(&budget, 64 << 20);
  struct vg_budget_hold hold;
  vg_budget_hold_init(&hold, &budget);
  struct vg_json_limits lim = {.max_bytes = 16 * len, .hold = &hold};
  struct vg_json_doc *doc = NULL;
  char err[256];
  ASSERT_INT_EQ(vg_json_doc_parse_limited(strings, len, &lim, &doc, err, 256),
                -EMSGSIZE);
  ASSERT_STR_EQ(err, "the JSON body takes more than the 8000016 bytes it may "
                     "take once parsed");
  ASSERT(budget.peak <= 16 * len);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);
  /* The budget, not the cap: other holds leave too little now. */
  struct vg_budget_hold other;
  vg_budget_hold_init(&other, &budget);
  ASSERT_INT_EQ(vg_budget_take(&other, 60 << 20), 0);
  lim.max_bytes = SIZE_MAX;
  ASSERT_INT_EQ(vg_json_doc_parse_limited(strings, len, &lim, &doc, err, 256),
                -EAGAIN);
  ASSERT_CONTAINS(err, "no memory for the JSON body now");
  vg_budget_release(&other);
  ASSERT_INT_EQ(vg_budget_used(&budget), 0);
  /* Legitimate push bodies take far less than 16 times their size. */
  char *samples =
      repeat("[",
             "{\"metric\":\"village_population\",\"labels\":{\"county\":"
             "\"Shiqian\",\"village\":\"Taoziyuan\"},\"value\":812,"
             "\"timestamp\":1577808000000}",
             "]", 10000, &len);
  lim = (struct vg_json_limits){.max_bytes = 16 * len};
  ASSERT_INT_EQ(vg_json_doc_parse_limited(samples, len, &lim, &doc, err, 256),
                0);
  ASSERT(vg_json_doc_bytes(doc) < 8 * len);
  vg_json_doc_free(doc);
  free(samples);
  free(strings);
}

VG_TEST_MAIN(VG_T(pointers_follow_objects_arrays_and_escapes),
             VG_T(a_tree_past_its_cap_is_refused_before_it_is_made),
             VG_T(a_tree_past_its_cap_is_refused_while_it_is_made),
             VG_T(large_documents_and_cjson_around_them),
             VG_T(pointer_syntax_errors), VG_T(syntax_errors_say_line_and_byte))
