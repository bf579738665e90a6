/* Unit tests: the distance of two names. */
#include "daemon/util/distance.h"
#include "tests/vgtest.h"

#include <stdint.h>

/* Code points of an ASCII string, for the cases below. */
static size_t units(const char *s, uint32_t *out) {
  size_t n = 0;
  while (s[n]) {
    out[n] = (unsigned char)s[n];
    n++;
  }
  return n;
}

static size_t ascii_distance(const char *a, const char *b) {
  uint32_t ua[VG_DISTANCE_MAX + 8], ub[VG_DISTANCE_MAX + 8];
  size_t na = units(a, ua), nb = units(b, ub);
  return vg_distance(ua, na, ub, nb);
}

VG_TEST(edits_counted) {
  ASSERT_INT_EQ(ascii_distance("village_population", "village_population"), 0);
  ASSERT_INT_EQ(ascii_distance("village_popuation", "village_population"), 1);
  /* A swap is two edits, not one (no Damerau transpositions). */
  ASSERT_INT_EQ(ascii_distance("village_populatoin", "village_population"), 2);
  ASSERT_INT_EQ(ascii_distance("", "abc"), 3);
  ASSERT_INT_EQ(ascii_distance("kitten", "sitting"), 3);
}

/* One wrong Chinese character is one edit, counted by code point. */
VG_TEST(code_points_are_units) {
  const uint32_t a[] = {0x6843, 0x5B50, 0x56ED, 0x6751}; /* 桃子园村 */
  const uint32_t b[] = {0x6843, 0x5B50, 0x5706, 0x6751}; /* 桃子圆村 */
  ASSERT_INT_EQ(vg_distance(a, 4, b, 4), 1);
  ASSERT_INT_EQ(vg_distance(a, 4, b, 3), 2);
}

VG_TEST(too_long_is_never_near) {
  char longer[VG_DISTANCE_MAX + 2];
  for (size_t i = 0; i < sizeof longer - 1; i++)
    longer[i] = 'a';
  longer[sizeof longer - 1] = '\0';
  ASSERT(ascii_distance(longer, "a") == SIZE_MAX);
  longer[VG_DISTANCE_MAX] = '\0';
  ASSERT_INT_EQ(ascii_distance(longer, ""), VG_DISTANCE_MAX);
}

VG_TEST_MAIN(VG_T(edits_counted), VG_T(code_points_are_units),
             VG_T(too_long_is_never_near))
