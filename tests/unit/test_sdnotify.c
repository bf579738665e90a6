/* tests/unit/test_sdnotify.c - notify datagrams and watchdog variables.
 *
 * A temporary AF_UNIX datagram socket stands in for systemd; each test
 * runs in its own process, so setting the environment is harmless.
 */
#include "daemon/sdnotify.h"
#include "tests/vgtest.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Binds a datagram socket at `name` (a path or "@abstract"). */
static int bind_notify(const char *name) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  ASSERT(len < sizeof sa.sun_path);
  memcpy(sa.sun_path, name, len);
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (name[0] == '@')
    sa.sun_path[0] = '\0';
  else
    salen++;
  ASSERT(bind(fd, (struct sockaddr *)&sa, salen) == 0);
  return fd;
}

static void expect_datagram(int fd, const char *want) {
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  ASSERT(n >= 0);
  buf[n] = '\0';
  ASSERT_INT_EQ(n, strlen(want));
  ASSERT_STR_EQ(buf, want);
}

VG_TEST(notify_path) {
  char dir[] = "/tmp/vg-sdnotify-XXXXXX";
  ASSERT(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/notify", dir);
  int fd = bind_notify(path);
  setenv("NOTIFY_SOCKET", path, 1);
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), 0);
  expect_datagram(fd, "READY=1");
  ASSERT_INT_EQ(vg_sd_notifyf("STATUS=%d collectors, %s", 3, "ok"), 0);
  expect_datagram(fd, "STATUS=3 collectors, ok");
  close(fd);
  unlink(path);
  rmdir(dir);
  /* Nobody listening any more. */
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), -ENOENT);
}

VG_TEST(notify_abstract) {
  char name[64];
  snprintf(name, sizeof name, "@vg-sdnotify-test-%d", (int)getpid());
  int fd = bind_notify(name);
  setenv("NOTIFY_SOCKET", name, 1);
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), 0);
  expect_datagram(fd, "READY=1");
  ASSERT_INT_EQ(vg_sd_notify("WATCHDOG=1"), 0);
  expect_datagram(fd, "WATCHDOG=1");
  close(fd);
}

VG_TEST(notify_unset) {
  unsetenv("NOTIFY_SOCKET");
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), 0);
  ASSERT_INT_EQ(vg_sd_notifyf("STATUS=%s", "x"), 0);
  setenv("NOTIFY_SOCKET", "", 1);
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), 0);
}

VG_TEST(notify_bad_address) {
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), -EAFNOSUPPORT);
  char longname[200];
  memset(longname, 'a', sizeof longname - 1);
  longname[0] = '/';
  longname[sizeof longname - 1] = '\0';
  setenv("NOTIFY_SOCKET", longname, 1);
  ASSERT_INT_EQ(vg_sd_notify("READY=1"), -ENAMETOOLONG);
}

VG_TEST(watchdog) {
  char pid[32];
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ASSERT_INT_EQ(vg_sd_watchdog_usec(), 0);

  setenv("WATCHDOG_USEC", "30000000", 1);
  ASSERT_INT_EQ(vg_sd_watchdog_usec(), 30000000);

  snprintf(pid, sizeof pid, "%d", (int)getpid());
  setenv("WATCHDOG_PID", pid, 1);
  ASSERT_INT_EQ(vg_sd_watchdog_usec(), 30000000);

  snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
  setenv("WATCHDOG_PID", pid, 1);
  ASSERT_INT_EQ(vg_sd_watchdog_usec(), 0);

  setenv("WATCHDOG_PID", "12x", 1);
  ASSERT_INT_EQ(vg_sd_watchdog_usec(), 0);

  unsetenv("WATCHDOG_PID");
  static const char *const bad[] = {"",    "0",  "-5",
                                    "12s", " 5", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("WATCHDOG_USEC", bad[i], 1);
    ASSERT_INT_EQ(vg_sd_watchdog_usec(), 0);
  }
}

VG_TEST_MAIN(VG_T(notify_path), VG_T(notify_abstract), VG_T(notify_unset),
             VG_T(notify_bad_address), VG_T(watchdog))
