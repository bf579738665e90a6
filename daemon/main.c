/* daemon/main.c - command line. */
#include "daemon/buf.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_CONFIG "/etc/villagemetrics/villagemetrics.json"

static void usage(FILE *out) {
  fprintf(out,
          "Usage: villagemetricsd [OPTION]...\n"
          "Collects village indicators and exports them to Prometheus.\n"
          "\n"
          "  -c, --config FILE     configuration file (default " DEFAULT_CONFIG
          ");\n"
          "                        *.json in conf.d/ beside it are merged\n"
          "      --check-config    validate the configuration and exit\n"
          "      --test            run every collector once, print the "
          "samples it\n"
          "                        would export, and exit (1 if one failed)\n"
          "      --config-reference  print every configuration key as "
          "Markdown\n"
          "      --version         print the version and exit\n"
          "  -h, --help            print this help and exit\n"
          "\n"
          "Signals: SIGHUP reloads the configuration (a bad one is refused "
          "and the\nold one keeps running); SIGTERM and SIGINT stop.\n");
}

static void section(struct vg_buf *out, const char *title,
                    const struct vg_cfg_key *const *tables) {
  vg_buf_printf(out, "\n### %s\n\n", title);
  for (size_t i = 0; tables[i]; i++)
    vg_cfg_describe(tables[i], out);
}

static int config_reference(void) {
  struct vg_buf out;
  vg_buf_init(&out, 1 << 20);
  const struct vg_cfg_key *const top[] = {vg_config_keys, NULL};
  section(&out, "Top level", top);
  const struct vg_cfg_key *const common_c[] = {vg_collector_common_keys,
                                               NULL};
  section(&out, "Every collector", common_c);
  for (size_t i = 0; vg_collector_types[i]; i++) {
    char title[128];
    snprintf(title, sizeof title, "Collector \"%s\"",
             vg_collector_types[i]->name);
    vg_buf_printf(&out, "\n### %s\n\n%s\n\n", title,
                  vg_collector_types[i]->description);
    for (size_t k = 0; vg_collector_types[i]->config_tables[k]; k++)
      vg_cfg_describe(vg_collector_types[i]->config_tables[k], &out);
  }
  const struct vg_cfg_key *const common_e[] = {vg_exporter_common_keys, NULL};
  section(&out, "Every exporter", common_e);
  for (size_t i = 0; vg_exporter_types[i]; i++) {
    vg_buf_printf(&out, "\n### Exporter \"%s\"\n\n%s\n\n",
                  vg_exporter_types[i]->name,
                  vg_exporter_types[i]->description);
    for (size_t k = 0; vg_exporter_types[i]->config_tables[k]; k++)
      vg_cfg_describe(vg_exporter_types[i]->config_tables[k], &out);
  }
  fputs(out.data, stdout);
  vg_buf_free(&out);
  return 0;
}

int main(int argc, char **argv) {
  enum { OPT_CHECK = 256, OPT_TEST, OPT_VERSION, OPT_REFERENCE };
  static const struct option options[] = {
      {"config", required_argument, NULL, 'c'},
      {"check-config", no_argument, NULL, OPT_CHECK},
      {"test", no_argument, NULL, OPT_TEST},
      {"config-reference", no_argument, NULL, OPT_REFERENCE},
      {"version", no_argument, NULL, OPT_VERSION},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *config = DEFAULT_CONFIG;
  enum vg_run_mode mode = VG_RUN_DAEMON;
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
    case OPT_REFERENCE:
      return config_reference();
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
  vg_log_init();
  return vg_daemon_main(config, mode);
}
