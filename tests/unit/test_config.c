/* tests/unit/test_config.c - the daemon's top-level configuration: a full
 * example with conf.d/, the defaults, and every validation message. */
#include "daemon/util/buf.h"
#include "daemon/config/config.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

VG_TEST(full_example) {
  unsetenv("VG_TEST_OFFICE");
  struct vg_config *cfg = NULL;
  struct vg_cfg_err err = {0};
  if (vg_config_load("config/full/villagemetrics.json", &cfg, &err))
    VG_FAIL("%s", err.msg);
  ASSERT_STR_EQ(cfg->path, "config/full/villagemetrics.json");
  ASSERT_STR_EQ(cfg->listen, "[::1]:9464");
  ASSERT_INT_EQ(cfg->http_max_connections, 64);
  ASSERT_INT_EQ(cfg->http_timeout_ms, 90000);
  ASSERT_STR_EQ(cfg->log_level, "debug");
  ASSERT_STR_EQ(cfg->state_dir, "config/full/state");
  ASSERT_INT_EQ(cfg->stale_after_ms, 7200000);
  ASSERT_INT_EQ(cfg->nlabels, 2);
  ASSERT_STR_EQ(cfg->labels[0].name, "city");
  ASSERT_STR_EQ(cfg->labels[0].value, "铜仁");
  ASSERT_STR_EQ(cfg->labels[1].name, "office");
  ASSERT_STR_EQ(cfg->labels[1].value, "fupin");
  ASSERT_INT_EQ(cJSON_GetArraySize(cfg->collectors), 2);
  const cJSON *cadres = cJSON_GetArrayItem(cfg->collectors, 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cadres, "name")->valuestring, "cadres");
  /* Plugins resolve their paths against the file that named them. */
  ASSERT_STR_EQ(vg_cfg_doc_node_dir(cfg->doc, cadres), "config/full/conf.d");
  const cJSON *influx = cJSON_GetArrayItem(cfg->exporters, 0);
  ASSERT_STR_EQ(cJSON_GetObjectItem(influx, "token")->valuestring, "abc123");
  /* Plugins' errors name their place too. */
  err.doc = cfg->doc;
  vg_cfg_error(&err, cJSON_GetObjectItem(influx, "url"), "bad url");
  ASSERT_STR_EQ(err.msg, "config/full/villagemetrics.json:13:33: bad url");
  vg_config_free(cfg);
  vg_config_free(NULL);
}

VG_TEST(defaults_and_environment) {
  setenv("VG_TEST_OFFICE", "county-office", 1);
  char dir[] = "/tmp/vg-config-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  int fd = open("v.json", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const char *text = "{\"labels\": {\"office\": \"${VG_TEST_OFFICE}\"}}";
  ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  struct vg_config *cfg = NULL;
  struct vg_cfg_err err = {0};
  if (vg_config_load("v.json", &cfg, &err))
    VG_FAIL("%s", err.msg);
  ASSERT_STR_EQ(cfg->listen, "127.0.0.1:9464");
  ASSERT_INT_EQ(cfg->http_max_connections, 4096);
  ASSERT_INT_EQ(cfg->http_max_connections_per_address, 1024);
  ASSERT_INT_EQ(cfg->http_header_timeout_ms, 10000);
  ASSERT_INT_EQ(cfg->http_timeout_ms, 30000);
  ASSERT_STR_EQ(cfg->log_level, "info");
  ASSERT_STR_EQ(cfg->state_dir, "/var/lib/villagemetrics");
  ASSERT_INT_EQ(cfg->stale_after_ms, 900000);
  ASSERT_INT_EQ(cfg->nlabels, 1);
  ASSERT_STR_EQ(cfg->labels[0].value, "county-office");
  ASSERT(cfg->collectors == NULL && cfg->exporters == NULL);
  vg_config_free(cfg);
  unlink("v.json");
  ASSERT(chdir("/") == 0);
  rmdir(dir);
}

/* Loads text as v.json in a fresh folder; returns the error, or NULL. */
static const char *try_load(const char *text) {
  static struct vg_cfg_err err;
  char dir[] = "/tmp/vg-config-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  int fd = open("v.json", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  struct vg_config *cfg = NULL;
  int rc = vg_config_load("v.json", &cfg, &err);
  vg_config_free(cfg);
  unlink("v.json");
  ASSERT(chdir("/") == 0);
  rmdir(dir);
  if (rc == 0)
    return NULL;
  ASSERT_INT_EQ(rc, -EINVAL);
  ASSERT(err.doc == NULL);
  return err.msg;
}

VG_TEST(listen_syntax) {
  static const char *const good[] = {":9464", "0.0.0.0:80", "[::]:0",
                                     "metrics.example:65535",
                                     "[fe80::1%eth0]:9464"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"listen\": \"%s\"}", good[i]);
    const char *msg = try_load(text);
    if (msg)
      VG_FAIL("%s: %s", good[i], msg);
  }
  static const char *const bad[] = {"localhost", "::1:80", "[::1]80",
                                    "[]:80",     "host:",  "host:80x",
                                    "a b:80",    ":123456"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[128], want[256];
    snprintf(text, sizeof text, "{\"listen\": \"%s\"}", bad[i]);
    snprintf(want, sizeof want,
             "v.json:1:12: \"listen\": expected host:port, [v6]:port or "
             ":port, got \"%s\"",
             bad[i]);
    ASSERT_STR_EQ(try_load(text), want);
  }
}

VG_TEST(validation_errors) {
  static const struct {
    const char *text, *msg;
  } cases[] = {
      {"{\"listn\": \":1\"}",
       "v.json:1:2: unknown key \"listn\" (did you mean \"listen\"?)"},
      {"{\"http\": {\"max_conections\": 5}}",
       "v.json:1:11: unknown key \"max_conections\" (did you mean "
       "\"max_connections\"?)"},
      {"{\"http\": 5}", "v.json:1:10: \"http\": expected an object, got 5"},
      {"{\"http\": {\"max_connections\": 0}}",
       "v.json:1:30: \"max_connections\": expected 1 to 65535, got 0"},
      {"{\"http\": {\"max_connections_per_address\": 70000}}",
       "v.json:1:42: \"max_connections_per_address\": expected 1 to 65535, "
       "got 70000"},
      {"{\"http\": {\"header_timeout\": \"0s\"}}",
       "v.json:1:29: \"header_timeout\": expected more than 0 and at most "
       "1h: a connection must send its headers some time"},
      {"{\"http\": {\"timeout\": 30}}",
       "v.json:1:22: \"timeout\": expected a duration such as \"30s\" or "
       "\"5m\", got 30"},
      {"{\"listen\": 9464}",
       "v.json:1:12: \"listen\": expected a string, got 9464"},
      {"{\"listen\": \":70000\"}",
       "v.json:1:12: \"listen\": port 70000 is out of range 0..65535"},
      {"{\"log_level\": \"verbose\"}",
       "v.json:1:15: \"log_level\": expected one of error, warning, notice, "
       "info, debug, got \"verbose\""},
      {"{\"stale_after\": \"-5m\"}",
       "v.json:1:17: \"stale_after\": a duration cannot be negative, got "
       "\"-5m\""},
      {"{\"state_dir\": \"\"}",
       "v.json:1:15: \"state_dir\": expected a path, got \"\""},
      {"{\"labels\": [\"x\"]}",
       "v.json:1:12: \"labels\": expected an object of names and string "
       "values, got an array"},
      {"{\"labels\": {\"1city\": \"x\"}}",
       "v.json:1:13: label name \"1city\" is invalid: expected "
       "[a-zA-Z_][a-zA-Z0-9_]*"},
      {"{\"labels\": {\"ci-ty\": \"x\"}}",
       "v.json:1:13: label name \"ci-ty\" is invalid: expected "
       "[a-zA-Z_][a-zA-Z0-9_]*"},
      {"{\"labels\": {\"\": \"x\"}}",
       "v.json:1:13: label name \"\" is invalid: expected "
       "[a-zA-Z_][a-zA-Z0-9_]*"},
      {"{\"labels\": {\"__name__\": \"x\"}}",
       "v.json:1:13: label name \"__name__\" is reserved: names starting "
       "with \"__\" are for internal use"},
      {"{\"labels\": {\"city\": 3}}",
       "v.json:1:21: label \"city\": expected a string, got 3"},
      {"{\"targets\": 1}",
       "v.json:1:13: \"targets\": expected an object of indicators and "
       "their targets"},
      {"{\"targets\": {\"village_water_safe_ratio\": 1}}",
       "v.json:1:14: \"targets\": \"village_water_safe_ratio\" is not an "
       "indicator of the catalog (docs/metrics.md lists them)"},
      {"{\"targets\": {\"village_water_safe_households_ratio\": 95}}",
       "v.json:1:53: target village_water_safe_households_ratio: 95 is "
       "outside 0..1: no village could report it"},
      {"{\"targets\": {\"village_income_per_capita_yuan\": \"4000\"}}",
       "v.json:1:48: target of village_income_per_capita_yuan: expected a "
       "number, or an object of counties and numbers with an optional "
       "\"default\""},
      {"{\"targets\": {\"village_income_per_capita_yuan\": {\"Songtao\": "
       "null}}}",
       "v.json:1:60: target of village_income_per_capita_yuan in Songtao: "
       "expected a number"},
      {"{\"targets\": {\"village_school_dropouts\": {\"\": 0}}}",
       "v.json:1:42: target of village_school_dropouts: empty county name"},
      {"{\"collectors\": {}}",
       "v.json:1:16: \"collectors\": expected an array of objects, got an "
       "object"},
      {"{\"collectors\": [{\"type\": \"csv\"}, 3]}",
       "v.json:1:34: collectors[1]: expected an object, got 3"},
      {"{\"exporters\": [{\"name\": \"x\"}]}",
       "v.json:1:16: missing required key \"type\""},
      {"{\"exporters\": [{\"type\": 1}]}",
       "v.json:1:25: \"type\": expected a string, got 1"},
      {"{\"exporters\": null}",
       "v.json:1:15: \"exporters\": expected an array of objects, got null"},
      {"{\"registry\": 3}",
       "v.json:1:14: \"registry\": expected a path or an object, got 3"},
      {"{\"registry\": \"\"}",
       "v.json:1:14: \"registry\" is empty: remove it to run without a "
       "registry"},
      {"{\"registry\": {\"pth\": \"r.csv\"}}",
       "v.json:1:15: unknown key \"pth\" (did you mean \"path\"?)"},
      {"{\"registry\": {}}", "v.json:1:14: missing required key \"path\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    ASSERT_STR_EQ(try_load(cases[i].text), cases[i].msg);
  ASSERT(try_load("{\"labels\": {\"_x\": \"\", \"A1\": \"y\"}, \"log_level\": "
                  "\"warning\", \"collectors\": [], \"exporters\": []}") ==
         NULL);
}

/* The column (1-based) where the value of the n-th (1-based) "path" key
 * of a one-line text starts. */
static int path_column(const char *text, int n) {
  const char *p = text;
  for (int i = 0; i < n; i++)
    p = strstr(p, "\"path\": ") + 8;
  return (int)(p - text) + 1;
}

/* Two collectors that certainly provide the same series are refused;
 * anything that may differ is not. */
VG_TEST(collectors_certain_to_conflict_are_refused) {
  static const char *const refused[] = {
      /* The same pattern and mapping, only the schedule differs. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"file\", \"name\": \"b\", \"interval\": \"5m\", "
      "\"settle\": \"1s\", \"path\": \"data/*.csv\", \"metrics\": "
      "{\"village_population\": \"p\"}}]}",
      /* A file the other's pattern matches, in the same folder. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/villages.csv\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"file\", \"name\": \"b\", \"path\": \"data/v*.csv\", "
      "\"metrics\": {\"village_population\": \"p\"}}]}",
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    char want[512];
    snprintf(want, sizeof want,
             "v.json:1:%d: collector \"b\" reads the same files as collector "
             "\"a\" and maps them alike: every series would come from both; "
             "remove one, or make them differ (e.g. const_labels)",
             path_column(refused[i], 2));
    ASSERT_STR_EQ(try_load(refused[i]), want);
  }
  /* Other types: the same input mapped alike, pointed at as a whole. */
  const char *http =
      "{\"collectors\": [{\"type\": \"http\", \"name\": \"a\", \"url\": "
      "\"https://x/api\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"http\", \"name\": \"b\", \"url\": \"https://x/api\", "
      "\"metrics\": {\"village_population\": \"p\"}}]}";
  char want[512];
  snprintf(want, sizeof want,
           "v.json:1:%d: collector \"b\" reads the same input as collector "
           "\"a\" and maps them alike: every series would come from both; "
           "remove one, or make them differ (e.g. const_labels)",
           (int)(strstr(http, "}}, ") - http) + 5);
  ASSERT_STR_EQ(try_load(http), want);
  static const char *const accepted[] = {
      /* Different constant labels: different series. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"file\", \"name\": \"b\", \"path\": \"data/*.csv\", "
      "\"const_labels\": {\"survey\": \"2\"}, \"metrics\": "
      "{\"village_population\": \"p\"}}]}",
      /* Another column of the same file. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"file\", \"name\": \"b\", \"path\": \"data/*.csv\", "
      "\"metrics\": {\"village_households\": \"h\"}}]}",
      /* Two patterns: which files both match is not known here. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}, "
      "{\"type\": \"file\", \"name\": \"b\", \"path\": \"data/v*.csv\", "
      "\"metrics\": {\"village_population\": \"p\"}}]}",
      /* A file the pattern does not match, or in another folder. */
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"data/villages.json\", \"metrics\": {\"village_population\": "
      "\"p\"}}, {\"type\": \"file\", \"name\": \"b\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}]}",
      "{\"collectors\": [{\"type\": \"file\", \"name\": \"a\", \"path\": "
      "\"/srv/data/villages.csv\", \"metrics\": {\"village_population\": "
      "\"p\"}}, {\"type\": \"file\", \"name\": \"b\", \"path\": "
      "\"data/*.csv\", \"metrics\": {\"village_population\": \"p\"}}]}",
      /* Push endpoints serve what senders send. */
      "{\"collectors\": [{\"type\": \"listen\", \"name\": \"a\"}, "
      "{\"type\": \"listen\", \"name\": \"b\"}]}",
  };
  for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
    const char *msg = try_load(accepted[i]);
    if (msg)
      VG_FAIL("%zu: %s", i, msg);
  }
}

/* A path, or an object with one; relative to the file's folder. */
VG_TEST(registry_path) {
  char dir[] = "/tmp/vg-config-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  ASSERT(mkdir("etc", 0700) == 0);
  static const char *const texts[] = {
      "{\"registry\": \"villages.csv\"}",
      "{\"registry\": {\"path\": \"villages.csv\"}}",
      "{\"registry\": \"/srv/villages.csv\"}", "{}"};
  static const char *const paths[] = {"etc/villages.csv", "etc/villages.csv",
                                      "/srv/villages.csv", NULL};
  for (size_t i = 0; i < 4; i++) {
    int fd = open("etc/v.json", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(write(fd, texts[i], strlen(texts[i])) == (ssize_t)strlen(texts[i]));
    close(fd);
    struct vg_config *cfg = NULL;
    struct vg_cfg_err err = {0};
    if (vg_config_load("etc/v.json", &cfg, &err))
      VG_FAIL("%s", err.msg);
    if (paths[i])
      ASSERT_STR_EQ(cfg->registry_path, paths[i]);
    else
      ASSERT(cfg->registry_path == NULL);
    vg_config_free(cfg);
  }
  unlink("etc/v.json");
  rmdir("etc");
  ASSERT(chdir("/") == 0);
  rmdir(dir);
}

/* Targets keep their order; a county's own beside the default. */
VG_TEST(targets) {
  char dir[] = "/tmp/vg-config-XXXXXX";
  ASSERT(mkdtemp(dir));
  ASSERT(chdir(dir) == 0);
  int fd = open("v.json", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const char *text =
      "{\"targets\": {\"village_water_safe_households_ratio\": 0.95, "
      "\"village_collective_income_yuan\": {\"default\": 40000, "
      "\"Songtao\": 30000}}}";
  ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  struct vg_config *cfg = NULL;
  struct vg_cfg_err err = {0};
  if (vg_config_load("v.json", &cfg, &err))
    VG_FAIL("%s", err.msg);
  ASSERT_INT_EQ(cfg->ntargets, 3);
  ASSERT_STR_EQ(cfg->targets[0].indicator,
                "village_water_safe_households_ratio");
  ASSERT(cfg->targets[0].county == NULL && cfg->targets[0].value == 0.95);
  ASSERT_STR_EQ(cfg->targets[1].indicator, "village_collective_income_yuan");
  ASSERT(cfg->targets[1].county == NULL && cfg->targets[1].value == 40000);
  ASSERT_STR_EQ(cfg->targets[2].county, "Songtao");
  ASSERT(cfg->targets[2].value == 30000);
  vg_config_free(cfg);
  unlink("v.json");
  ASSERT(chdir("/") == 0);
  rmdir(dir);
}

VG_TEST(reference_lists_every_key) {
  struct vg_buf b;
  vg_buf_init(&b, 1 << 16);
  vg_cfg_describe(vg_config_keys, &b);
  vg_cfg_describe(vg_config_http_keys, &b);
  ASSERT_CONTAINS(b.data, "| `listen` | string | `127.0.0.1:9464` |");
  ASSERT_CONTAINS(b.data, "| `stale_after` | duration | `15m` |");
  ASSERT_CONTAINS(b.data, "| `max_connections` | integer | `4096` |");
  ASSERT_CONTAINS(b.data,
                  "| `max_connections_per_address` | integer | `1024` |");
  ASSERT_CONTAINS(b.data, "| `header_timeout` | duration | `10s` |");
  vg_buf_free(&b);
}

VG_TEST_MAIN(VG_T(full_example), VG_T(defaults_and_environment),
             VG_T(listen_syntax), VG_T(validation_errors), VG_T(registry_path),
             VG_T(targets), VG_T(reference_lists_every_key),
             VG_T(collectors_certain_to_conflict_are_refused))
