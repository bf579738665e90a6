/* daemon/preflight.h - what --check-config checks beyond the text of the
 * configuration: that the service can reach what it reads.
 */
#ifndef VG_PREFLIGHT_H
#define VG_PREFLIGHT_H

struct vg_generation;

/* The user the packaged service runs as (systemd's User=). */
#define VG_PREFLIGHT_SERVICE_USER "villagemetrics"

/* Checks that the configuration file and every collector's paths can be
 * read (collector type preflight), as `user` when given, else -- when run
 * as root -- as VG_PREFLIGHT_SERVICE_USER if that user exists, else as
 * this process.  Problems go to stderr, what was checked as whom to
 * stdout.  Returns 0 when nothing fatal was found, 1 otherwise (a user
 * that does not exist or cannot be taken is fatal). */
int vg_preflight(const struct vg_generation *gen, const char *config_path,
                 const char *user);

#endif
