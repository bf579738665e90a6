/* daemon/preflight.c - --check-config's look at the file system, as the
 * service's user.
 *
 * An administrator checks a configuration as root before a reload, but
 * the service reads its files as its own user (the unit's User=): a
 * report only root may read would pass the check and fail the service.
 * Run as root, the checks therefore run in a child process that has
 * become that user (--as-user, or VG_PREFLIGHT_SERVICE_USER when it
 * exists) -- its groups too, as systemd sets them -- and answers with its
 * exit status.  Run as anyone else, the process checks as itself.
 *
 * Must never: change the credentials of the calling process.
 */
#include "daemon/preflight.h"
#include "daemon/generation.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tally {
  const char *collector;
  unsigned fatal;
};

static void problem(void *arg, bool fatal, const char *msg) {
  struct tally *t = arg;
  fprintf(stderr, "villagemetricsd: %scollector %s: %s\n",
          fatal ? "" : "warning: ", t->collector, msg);
  t->fatal += fatal;
}

/* The checks, as whoever this process is now; the count of fatal
 * problems. */
static unsigned check(const struct vg_generation *gen,
                      const char *config_path) {
  unsigned fatal = 0;
  int fd = open(config_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "villagemetricsd: cannot read %s: %s\n", config_path,
            strerror(errno));
    fatal++;
  } else {
    close(fd);
  }
  for (size_t i = 0; i < gen->ncollectors; i++) {
    const struct vg_collector_instance *c = &gen->collectors[i];
    if (!c->type->preflight)
      continue;
    struct tally t = {.collector = c->name};
    c->type->preflight(c->ctx, problem, &t);
    fatal += t.fatal;
  }
  return fatal;
}

/* Takes on the user's uid, gid and groups for good: only in the child. */
static int become(const struct passwd *pw) {
  if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
      setuid(pw->pw_uid) < 0)
    return -errno;
  return 0;
}

static int check_as(const struct vg_generation *gen, const char *config_path,
                    const struct passwd *pw) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "villagemetricsd: cannot check as %s: fork: %s\n",
            pw->pw_name, strerror(errno));
    return 1;
  }
  if (pid == 0) {
    int rc = become(pw);
    if (rc < 0) {
      fprintf(stderr, "villagemetricsd: cannot check as user %s: %s\n",
              pw->pw_name, strerror(-rc));
      _exit(2);
    }
    unsigned fatal = check(gen, config_path);
    fflush(stderr);
    _exit(fatal ? 1 : 0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return 1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return 1;
  printf("paths readable as user %s\n", pw->pw_name);
  return 0;
}

int vg_preflight(const struct vg_generation *gen, const char *config_path,
                 const char *user) {
  if (!user && geteuid() == 0) {
    /* getpwnam: NULL both for "no such user" and for an error. */
    struct passwd *pw = getpwnam(VG_PREFLIGHT_SERVICE_USER);
    if (pw)
      return check_as(gen, config_path, pw);
    printf("paths checked as root: there is no user %s (--as-user names "
           "the user the service runs as)\n",
           VG_PREFLIGHT_SERVICE_USER);
  }
  if (user) {
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
      fprintf(stderr, "villagemetricsd: --as-user: %s\n",
              errno ? strerror(errno) : "no such user");
      return 1;
    }
    if (pw->pw_uid != geteuid())
      return check_as(gen, config_path, pw);
  }
  if (check(gen, config_path))
    return 1;
  if (user || geteuid() != 0)
    printf("paths readable as this user\n");
  return 0;
}
