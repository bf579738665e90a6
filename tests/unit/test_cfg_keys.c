/* tests/unit/test_cfg_keys.c - key tables: every type, defaults, required
 * keys, the duration and size parsers, unknown keys and the reference. */
#include "daemon/util/buf.h"
#include "daemon/config/cfg_keys.h"
#include "tests/vgtest.h"

#include <errno.h>

struct mod {
  char *name;
  char *path;
  bool gzip;
  int64_t retries;
  double ratio;
  int64_t interval_ms;
  uint64_t max_body;
  const cJSON *extra;
};

static const struct vg_cfg_key mod_keys[] = {
    {"name", VG_CFG_STRING, "villages", offsetof(struct mod, name), "Name.",
     false},
    {"path", VG_CFG_PATH, "data.csv", offsetof(struct mod, path), "File.",
     false},
    {"gzip", VG_CFG_BOOL, "true", offsetof(struct mod, gzip), "Compress.",
     false},
    {"retries", VG_CFG_INT, "3", offsetof(struct mod, retries), "Retries.",
     false},
    {"ratio", VG_CFG_DOUBLE, "0.5", offsetof(struct mod, ratio), "Ratio.",
     false},
    {"interval", VG_CFG_DURATION, "30s", offsetof(struct mod, interval_ms),
     "How often.", false},
    {"max_body", VG_CFG_SIZE, "1MiB", offsetof(struct mod, max_body),
     "Largest body.", false},
    {"extra", VG_CFG_JSON, NULL, offsetof(struct mod, extra), "Anything.",
     false},
    VG_CFG_END,
};

struct req {
  char *token;
};

static const struct vg_cfg_key req_keys[] = {
    {"token", VG_CFG_STRING, NULL, offsetof(struct req, token),
     "Bearer | token.", true},
    VG_CFG_END,
};

struct fixture {
  struct vg_cfg_doc *doc;
  cJSON *root;
  struct vg_cfg_err err;
};

/* Parses text as "cfg/m.json", so that relative paths land in cfg/. */
static void parse(struct fixture *f, const char *text) {
  f->doc = vg_cfg_doc_new();
  if (vg_cfg_doc_parse(f->doc, "cfg/m.json", text, strlen(text), &f->root,
                       &f->err))
    VG_FAIL("%s", f->err.msg);
}

static void done(struct fixture *f) {
  cJSON_Delete(f->root);
  vg_cfg_doc_free(f->doc);
}

VG_TEST(defaults) {
  struct fixture f;
  struct mod m = {0};
  parse(&f, "{}");
  ASSERT_INT_EQ(vg_cfg_apply(mod_keys, &m, f.root, &f.err), 0);
  ASSERT_STR_EQ(m.name, "villages");
  ASSERT_STR_EQ(m.path, "cfg/data.csv");
  ASSERT(m.gzip);
  ASSERT_INT_EQ(m.retries, 3);
  ASSERT_DBL_EQ(m.ratio, 0.5);
  ASSERT_INT_EQ(m.interval_ms, 30000);
  ASSERT_INT_EQ(m.max_body, 1048576);
  ASSERT(m.extra == NULL);
  vg_cfg_release(mod_keys, &m);
  ASSERT(m.name == NULL && m.path == NULL);
  /* No object at all: defaults too, paths from the working directory. */
  ASSERT_INT_EQ(vg_cfg_apply(mod_keys, &m, NULL, &f.err), 0);
  ASSERT_STR_EQ(m.path, "./data.csv");
  vg_cfg_release(mod_keys, &m);
  done(&f);
}

VG_TEST(every_type) {
  struct fixture f;
  struct mod m = {0};
  parse(&f, "{\"name\": \"cadres\", \"path\": \"in/x.csv\", \"gzip\": false,"
            " \"retries\": -7, \"ratio\": 1e-3, \"interval\": \"1h30m\","
            " \"max_body\": \"64KB\", \"extra\": [1, 2]}");
  ASSERT_INT_EQ(vg_cfg_apply(mod_keys, &m, f.root, &f.err), 0);
  ASSERT_STR_EQ(m.name, "cadres");
  ASSERT_STR_EQ(m.path, "cfg/in/x.csv");
  ASSERT(!m.gzip);
  ASSERT_INT_EQ(m.retries, -7);
  ASSERT_DBL_EQ(m.ratio, 0.001);
  ASSERT_INT_EQ(m.interval_ms, 5400000);
  ASSERT_INT_EQ(m.max_body, 64000);
  ASSERT(m.extra == cJSON_GetObjectItem(f.root, "extra"));
  vg_cfg_release(mod_keys, &m);
  done(&f);

  parse(&f, "{\"path\": \"/etc/x.csv\", \"interval\": 0, \"max_body\": 4096}");
  ASSERT_INT_EQ(vg_cfg_apply(mod_keys, &m, f.root, &f.err), 0);
  ASSERT_STR_EQ(m.path, "/etc/x.csv");
  ASSERT_INT_EQ(m.interval_ms, 0);
  ASSERT_INT_EQ(m.max_body, 4096);
  vg_cfg_release(mod_keys, &m);
  done(&f);
}

VG_TEST(type_errors) {
  static const struct {
    const char *text, *msg;
  } cases[] = {
      {"{\"name\": 3}", "cfg/m.json:1:10: \"name\": expected a string, got 3"},
      {"{\"path\": \"\"}",
       "cfg/m.json:1:10: \"path\": expected a path, got \"\""},
      {"{\"gzip\": \"yes\"}",
       "cfg/m.json:1:10: \"gzip\": expected true or false, got \"yes\""},
      {"{\"gzip\": 1}",
       "cfg/m.json:1:10: \"gzip\": expected true or false, got 1"},
      {"{\"retries\": 1.5}",
       "cfg/m.json:1:13: \"retries\": expected an integer, got 1.5"},
      {"{\"retries\": 1e19}",
       "cfg/m.json:1:13: \"retries\": expected an integer, got 1e+19"},
      {"{\"retries\": \"3\"}",
       "cfg/m.json:1:13: \"retries\": expected an integer, got \"3\""},
      {"{\"ratio\": null}",
       "cfg/m.json:1:11: \"ratio\": expected a number, got null"},
      {"{\"interval\": 12}",
       "cfg/m.json:1:14: \"interval\": expected a duration such as \"30s\" or "
       "\"5m\", got 12"},
      {"{\"interval\": \"5\"}",
       "cfg/m.json:1:14: \"interval\": expected a duration such as \"30s\" or "
       "\"5m\", got \"5\""},
      {"{\"interval\": \"-5s\"}",
       "cfg/m.json:1:14: \"interval\": a duration cannot be negative, got "
       "\"-5s\""},
      {"{\"interval\": -1}",
       "cfg/m.json:1:14: \"interval\": a duration cannot be negative, got -1"},
      {"{\"interval\": \"200000000000d\"}",
       "cfg/m.json:1:14: \"interval\": \"200000000000d\" is too large"},
      {"{\"max_body\": -1}",
       "cfg/m.json:1:14: \"max_body\": a size cannot be negative, got -1"},
      {"{\"max_body\": 1.5}",
       "cfg/m.json:1:14: \"max_body\": expected a size such as 1048576, "
       "\"512KiB\" or \"64MB\", got 1.5"},
      {"{\"max_body\": \"1XB\"}",
       "cfg/m.json:1:14: \"max_body\": expected a size such as 1048576, "
       "\"512KiB\" or \"64MB\", got \"1XB\""},
      {"{\"max_body\": \"17179869184GiB\"}",
       "cfg/m.json:1:14: \"max_body\": \"17179869184GiB\" is too large"},
      {"{\"max_body\": 1e20}",
       "cfg/m.json:1:14: \"max_body\": 1e+20 is too large"},
      {"{\"name\": {\"a\": 1}}",
       "cfg/m.json:1:10: \"name\": expected a string, got an object"},
      {"{\"name\": [\"a\"]}",
       "cfg/m.json:1:10: \"name\": expected a string, got an array"},
      {"[1]", "cfg/m.json:1:1: expected an object, got an array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fixture f;
    /* Set before the failing key, then released by the failure. */
    struct mod m = {0};
    parse(&f, cases[i].text);
    ASSERT_INT_EQ(vg_cfg_apply(mod_keys, &m, f.root, &f.err), -EINVAL);
    ASSERT_STR_EQ(f.err.msg, cases[i].msg);
    ASSERT(m.name == NULL && m.path == NULL);
    vg_cfg_release(mod_keys, &m);
    done(&f);
  }
}

VG_TEST(required_key) {
  struct fixture f;
  struct req r = {0};
  parse(&f, "{\n  \"other\": 1}");
  ASSERT_INT_EQ(vg_cfg_apply(req_keys, &r, f.root, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "cfg/m.json:1:1: missing required key \"token\"");
  ASSERT_INT_EQ(vg_cfg_apply(req_keys, &r, NULL, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "missing required key \"token\"");
  done(&f);
  parse(&f, "{\"token\": \"t\"}");
  ASSERT_INT_EQ(vg_cfg_apply(req_keys, &r, f.root, &f.err), 0);
  ASSERT_STR_EQ(r.token, "t");
  vg_cfg_release(req_keys, &r);
  done(&f);
}

VG_TEST(durations) {
  static const struct {
    const char *s;
    int64_t ms;
  } good[] = {{"250ms", 250},
              {"90s", 90000},
              {"5m", 300000},
              {"2h", 7200000},
              {"1d", 86400000},
              {"1h30m", 5400000},
              {"0", 0},
              {"0s", 0},
              {"1m30s500ms", 90500},
              {"9223372036854775807ms", INT64_MAX}};
  static const char *const bad[] = {"",
                                    "5",
                                    "5x",
                                    "m",
                                    "1.5h",
                                    " 5s",
                                    "5s ",
                                    "-5s",
                                    "5S",
                                    "5mm",
                                    "1h-5m",
                                    "s5",
                                    "9223372036854775808ms",
                                    "9223372036854775807s",
                                    "200000000000d",
                                    "00"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int64_t v = -1;
    ASSERT_INT_EQ(vg_cfg_parse_duration_ms(good[i].s, &v), 0);
    ASSERT_INT_EQ(v, good[i].ms);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t v = -1;
    if (vg_cfg_parse_duration_ms(bad[i], &v) != -EINVAL)
      VG_FAIL("\"%s\" accepted", bad[i]);
    ASSERT_INT_EQ(v, -1);
  }
}

VG_TEST(sizes) {
  static const struct {
    const char *s;
    uint64_t bytes;
  } good[] = {{"0", 0},
              {"1024", 1024},
              {"1B", 1},
              {"3KB", 3000},
              {"5MB", 5000000},
              {"1GB", 1000000000},
              {"512KiB", 524288},
              {"64MiB", 67108864},
              {"2GiB", 2147483648u},
              {"18446744073709551615", UINT64_MAX},
              {"17179869183GiB", 17179869183ull << 30}};
  static const char *const bad[] = {"",
                                    "KB",
                                    "1kb",
                                    "1.5MB",
                                    "-1",
                                    "1 MB",
                                    "1TB",
                                    "1KiBB",
                                    "18446744073709551616",
                                    "17179869184GiB"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    uint64_t v = 7;
    ASSERT_INT_EQ(vg_cfg_parse_size(good[i].s, &v), 0);
    if (v != good[i].bytes)
      VG_FAIL("\"%s\": %llu", good[i].s, (unsigned long long)v);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t v = 7;
    if (vg_cfg_parse_size(bad[i], &v) != -EINVAL)
      VG_FAIL("\"%s\" accepted", bad[i]);
    ASSERT_INT_EQ(v, 7);
  }
}

VG_TEST(unknown_keys) {
  static const struct vg_cfg_key *const tables[] = {mod_keys, req_keys, NULL};
  struct fixture f;
  parse(&f, "{\"name\": 1, \"token\": 2}");
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, f.root, &f.err), 0);
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, NULL, &f.err), 0);
  done(&f);
  parse(&f, "{\"name\": 1,\n \"intervl\": \"5m\"}");
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, f.root, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "cfg/m.json:2:2: unknown key \"intervl\" (did you "
                           "mean \"interval\"?)");
  done(&f);
  parse(&f, "{\"tokn\": 1}");
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, f.root, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "cfg/m.json:1:2: unknown key \"tokn\" (did you mean "
                           "\"token\"?)");
  done(&f);
  parse(&f, "{\"Max_Body\": 1}");
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, f.root, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "cfg/m.json:1:2: unknown key \"Max_Body\" (did you "
                           "mean \"max_body\"?)");
  done(&f);
  parse(&f, "{\"colour\": 1}");
  ASSERT_INT_EQ(vg_cfg_check_unknown(tables, f.root, &f.err), -EINVAL);
  ASSERT_STR_EQ(f.err.msg, "cfg/m.json:1:2: unknown key \"colour\"");
  done(&f);
}

VG_TEST(describe) {
  struct vg_buf b;
  vg_buf_init(&b, 4096);
  vg_cfg_describe(req_keys, &b);
  vg_cfg_describe(mod_keys + 4, &b);
  ASSERT_STR_EQ(b.data, "| key | type | default | description |\n"
                        "|---|---|---|---|\n"
                        "| `token` | string | required | Bearer \\| token. |\n"
                        "| key | type | default | description |\n"
                        "|---|---|---|---|\n"
                        "| `ratio` | number | `0.5` | Ratio. |\n"
                        "| `interval` | duration | `30s` | How often. |\n"
                        "| `max_body` | size | `1MiB` | Largest body. |\n"
                        "| `extra` | JSON |  | Anything. |\n");
  vg_buf_free(&b);
}

VG_TEST_MAIN(VG_T(defaults), VG_T(every_type), VG_T(type_errors),
             VG_T(required_key), VG_T(durations), VG_T(sizes),
             VG_T(unknown_keys), VG_T(describe))
