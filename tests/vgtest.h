/* tests/vgtest.h - the unit tests' tiny harness.
 *
 * A test file defines its tests with VG_TEST(name) and lists them in a
 * VG_TEST_MAIN(...) table.  Each test runs in a forked child with a
 * timeout, as libuv's runner does, so one crash or hang fails that test
 * only and the rest still run.  `./test_x name` runs one test in-process
 * (for gdb).  The last line is "N passed, N failed" for CI to read.
 */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VG_TEST(name) static void name(void)

#define VG_FAIL(...)                                                           \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

#define ASSERT(cond)                                                           \
  do {                                                                         \
    if (!(cond))                                                               \
      VG_FAIL("assertion failed: %s", #cond);                                  \
  } while (0)

#define ASSERT_INT_EQ(a, b)                                                    \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_)                                                              \
      VG_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                       \
  } while (0)

#define ASSERT_DBL_EQ(a, b)                                                    \
  do {                                                                         \
    double a_ = (a), b_ = (b);                                                 \
    if (!(a_ == b_))                                                           \
      VG_FAIL("%s == %s: %.17g != %.17g", #a, #b, a_, b_);                     \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                     \
      VG_FAIL("%s == %s:\n  got:      \"%s\"\n  expected: \"%s\"", #a, #b,     \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
  } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                      \
  do {                                                                         \
    const char *h_ = (haystack), *n_ = (needle);                               \
    if (!h_ || !strstr(h_, n_))                                                \
      VG_FAIL("%s does not contain \"%s\":\n%s", #haystack, n_,                \
              h_ ? h_ : "(null)");                                             \
  } while (0)

struct vg_test_entry {
  const char *name;
  void (*fn)(void);
};

#define VG_T(fn)                                                               \
  { #fn, fn }

/* Seconds after which a test is taken as hung: 30, times VG_SLOW (a
 * factor, as for the integration tests) where everything runs slower,
 * as under valgrind on a loaded machine. */
static inline unsigned vg_test_deadline_s(void) {
  const char *slow = getenv("VG_SLOW");
  int factor = slow ? atoi(slow) : 1;
  return 30u * (unsigned)(factor > 1 ? factor : 1);
}

static inline int vg_test_run(const struct vg_test_entry *tests, size_t n,
                              int argc, char **argv) {
  if (argc > 1) {
    for (size_t i = 0; i < n; i++)
      if (strcmp(tests[i].name, argv[1]) == 0) {
        tests[i].fn();
        return 0;
      }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  unsigned passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(vg_test_deadline_s());
      tests[i].fn();
      fflush(NULL);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      passed++;
      printf("ok %zu - %s\n", i + 1, tests[i].name);
    } else {
      failed++;
      printf("not ok %zu - %s (%s %d)\n", i + 1, tests[i].name,
             WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
  }
  printf("%u passed, %u failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define VG_TEST_MAIN(...)                                                      \
  int main(int argc, char **argv) {                                            \
    static const struct vg_test_entry tests_[] = {__VA_ARGS__};                \
    return vg_test_run(tests_, sizeof tests_ / sizeof tests_[0], argc, argv);  \
  }

#endif
