/* daemon/main.c - command line, and where the layers meet.
 *
 * The top of the layering: it may include anything, and it is the one
 * file that sees both the process (daemon/daemon.h) and the status layer
 * above it (daemon/status/).  It wires the second into the first through
 * the daemon's hooks, so that the process never includes what observes
 * it.
 */
#include "daemon/config/config.h"
#include "daemon/daemon.h"
#include "daemon/formats/json.h"
#include "daemon/generation.h"
#include "daemon/model/catalog.h"
#include "daemon/model/expfmt.h"
#include "daemon/status/selfmetrics.h"
#include "daemon/status/status.h"
#include "daemon/util/buf.h"
#include "daemon/formats/xls.h"
#include "daemon/util/log.h"

#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

/* VG_DEFAULT_CONFIG comes from the build: the installed configuration
 * (CMakeLists.txt). */
static void usage(FILE *out) {
  fprintf(
      out,
      "Usage: villagemetricsd [OPTION]...\n"
      "Collects village indicators and exports them to Prometheus and "
      "InfluxDB.\n"
      "\n"
      "  -c, --config FILE     configuration file (default " VG_DEFAULT_CONFIG
      ");\n"
      "                        *.json in conf.d/ beside it are merged\n"
      "      --check-config    validate the configuration, check that its\n"
      "                        files can be read (as the service's user\n"
      "                        when run as root) and exit\n"
      "      --as-user USER    with --check-config: check as USER (default\n"
      "                        when root: villagemetrics, if it exists)\n"
      "      --test            run every collector once, print the "
      "samples it\n"
      "                        would export, write them once to each "
      "push exporter,\n"
      "                        print the answers, and exit (1 if one "
      "failed)\n"
      "      --config-reference  print every configuration key as "
      "Markdown\n"
      "      --metrics-reference print the indicator catalog as "
      "Markdown\n"
      "      --version         print the version and exit\n"
      "  -h, --help            print this help and exit\n"
      "\n"
      "Signals: SIGHUP reloads the configuration (a bad one is refused "
      "and the\nold one keeps running); SIGTERM and SIGINT stop.\n");
}

static void tables(struct vg_buf *out, const struct vg_cfg_key *const *t) {
  for (size_t i = 0; t[i]; i++) {
    if (i)
      vg_buf_putc(out, '\n');
    vg_cfg_describe(t[i], out);
  }
}

static void section(struct vg_buf *out, const char *title,
                    const char *description,
                    const struct vg_cfg_key *const *t) {
  vg_buf_printf(out, "\n### %s\n\n", title);
  if (description)
    vg_buf_printf(out, "%s\n\n", description);
  tables(out, t);
}

/* The reference section of docs/configuration.md, from the same tables
 * the parser reads (a test checks the document is current). */
static int config_reference(void) {
  struct vg_buf out;
  vg_buf_init(&out, 1 << 20);
  char title[128];
  const struct vg_cfg_key *const top[] = {vg_config_keys, NULL};
  section(&out, "Top level", NULL, top);
  const struct vg_cfg_key *const http[] = {vg_config_http_keys, NULL};
  section(&out, "\"http\"", NULL, http);
  const struct vg_cfg_key *const journal[] = {vg_config_journal_keys, NULL};
  section(&out, "\"journal\"",
          "Used when a push exporter (remote_write, influxdb) is configured.",
          journal);
  const struct vg_cfg_key *const registry[] = {vg_config_registry_keys, NULL};
  section(&out, "\"registry\"",
          "The village registry; \"registry\": \"path\" is short for "
          "{\"path\": \"path\"}. See \"The village registry\" above.",
          registry);
  const struct vg_cfg_key *const common_c[] = {vg_generation_collector_keys,
                                               NULL};
  section(&out, "Every collector", NULL, common_c);
  for (size_t i = 0; vg_collector_types[i]; i++) {
    snprintf(title, sizeof title, "Collector \"%s\"",
             vg_collector_types[i]->name);
    section(&out, title, vg_collector_types[i]->description,
            vg_collector_types[i]->config_tables);
  }
  const struct vg_cfg_key *const common_e[] = {vg_generation_exporter_keys,
                                               NULL};
  section(&out, "Every exporter", NULL, common_e);
  const struct vg_cfg_key *const push[] = {vg_generation_push_keys, NULL};
  section(&out, "Every push exporter",
          "remote_write and influxdb send from the journal through their own "
          "cursor, with these keys.",
          push);
  for (size_t i = 0; vg_exporter_types[i]; i++) {
    snprintf(title, sizeof title, "Exporter \"%s\"",
             vg_exporter_types[i]->name);
    section(&out, title, vg_exporter_types[i]->description,
            vg_exporter_types[i]->config_tables);
  }
  fputs(out.data, stdout);
  vg_buf_free(&out);
  return 0;
}

/* The catalog section of docs/metrics.md, from the table the checks use. */
static int metrics_reference(void) {
  printf("| metric | type | valid values | help |\n|---|---|---|---|\n");
  for (size_t i = 0; i < vg_catalog_size; i++) {
    const struct vg_indicator *ind = &vg_catalog[i];
    char lo[VG_EXPFMT_DOUBLE_BUFSIZE], hi[VG_EXPFMT_DOUBLE_BUFSIZE], range[96];
    vg_expfmt_format_double(ind->min, lo);
    vg_expfmt_format_double(ind->max, hi);
    if (isinf(ind->max))
      snprintf(range, sizeof range, "≥ %s%s", lo,
               ind->integer ? ", whole" : "");
    else
      snprintf(range, sizeof range, "%s … %s%s", lo, hi,
               ind->integer ? ", whole" : "");
    printf("| `%s` | %s | %s | %s |\n", ind->name,
           vg_metric_type_name(ind->type), range, ind->help);
  }
  return 0;
}

int main(int argc, char **argv) {
  /* The daemon runs itself as the .xls reader (daemon/formats/xls.c),
   * which must start with nothing of the daemon set up. */
  if (argc > 1 && strcmp(argv[1], VG_XLS_READER_FLAG) == 0)
    return vg_xls_reader_main(argc, argv);
  enum {
    OPT_CHECK = 256,
    OPT_AS_USER,
    OPT_TEST,
    OPT_VERSION,
    OPT_REFERENCE,
    OPT_METRICS_REFERENCE
  };
  static const struct option options[] = {
      {"config", required_argument, NULL, 'c'},
      {"check-config", no_argument, NULL, OPT_CHECK},
      {"as-user", required_argument, NULL, OPT_AS_USER},
      {"test", no_argument, NULL, OPT_TEST},
      {"config-reference", no_argument, NULL, OPT_REFERENCE},
      {"metrics-reference", no_argument, NULL, OPT_METRICS_REFERENCE},
      {"version", no_argument, NULL, OPT_VERSION},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *config = VG_DEFAULT_CONFIG;
  enum vg_run_mode mode = VG_RUN_DAEMON;
  const char *as_user = NULL;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
    switch (opt) {
    case 'c':
      config = optarg;
      break;
    case OPT_CHECK:
      mode = VG_RUN_CHECK;
      break;
    case OPT_TEST:
      mode = VG_RUN_TEST;
      break;
    case OPT_AS_USER:
      as_user = optarg;
      break;
    case OPT_REFERENCE:
      return config_reference();
    case OPT_METRICS_REFERENCE:
      return metrics_reference();
    case OPT_VERSION:
      printf("villagemetricsd %s\n", VG_VERSION);
      return 0;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "villagemetricsd: unexpected argument \"%s\"\n",
            argv[optind]);
    usage(stderr);
    return 2;
  }
  if (as_user && mode != VG_RUN_CHECK) {
    fprintf(stderr, "villagemetricsd: --as-user goes with --check-config\n");
    return 2;
  }
  vg_log_init();
  /* Before any thread: cJSON's allocation hooks are process-wide. */
  vg_json_init();
  /* glibc raises its mmap and trim thresholds (to 32 and 64 MiB) once a
   * large block is freed; blocks under them then come from the worker
   * threads' heaps, whose free tops it keeps below the trim threshold --
   * 25 MB resident in each of the pool's arenas after a few mid-size
   * pushes, which not even malloc_trim gives back.  Fixed thresholds keep
   * every block of 1 MiB or more its own mapping, gone when freed, and
   * trim a heap's free top past 1 MiB. */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
  const struct vg_daemon_hooks hooks = {
      .add_routes = vg_status_routes,
      .render_self = vg_selfmetrics_render,
  };
  return vg_daemon_main(config, mode, as_user, &hooks);
}
