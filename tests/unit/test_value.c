/* tests/unit/test_value.c - numbers as spreadsheets write them. */
#include "daemon/formats/value.h"

#include "tests/vgtest.h"

struct value_case {
  const char *text;
  enum vg_value_result result;
  double value; /* when VG_VALUE_OK */
};

static const struct value_case cases[] = {
    {"76.6%", VG_VALUE_OK, 0.766},
    {"3,895", VG_VALUE_OK, 3895},
    {"160,473.31", VG_VALUE_OK, 160473.31},
    {" 7.32 ", VG_VALUE_OK, 7.32},
    {"\t7.32\t", VG_VALUE_OK, 7.32},
    {"\xC2\xA0"
     "7.32",
     VG_VALUE_OK, 7.32},
    {"\xE3\x80\x80"
     "42\xE3\x80\x80",
     VG_VALUE_OK, 42},
    {"", VG_VALUE_EMPTY, 0},
    {"  ", VG_VALUE_EMPTY, 0},
    {"\xC2\xA0 \xE3\x80\x80", VG_VALUE_EMPTY, 0},
    {"-1.5", VG_VALUE_OK, -1.5},
    {"+2", VG_VALUE_OK, 2},
    {"1e3", VG_VALUE_OK, 1000},
    {"2.5E-1", VG_VALUE_OK, 0.25},
    {"12%", VG_VALUE_OK, 0.12},
    {"0.5%", VG_VALUE_OK, 0.005},
    {"40%", VG_VALUE_OK, 0.4},
    {"-3.5%", VG_VALUE_OK, -0.035},
    {"1,234,567", VG_VALUE_OK, 1234567},
    {"1,234,567.5", VG_VALUE_OK, 1234567.5},
    {"999", VG_VALUE_OK, 999},
    {"1234", VG_VALUE_OK, 1234},
    {".5", VG_VALUE_OK, 0.5},
    {"5.", VG_VALUE_OK, 5},
    {"0", VG_VALUE_OK, 0},
    {"3,89", VG_VALUE_INVALID, 0},
    {"3,8x5", VG_VALUE_INVALID, 0},
    {"N/A", VG_VALUE_INVALID, 0},
    {"n/a", VG_VALUE_INVALID, 0},
    {"-", VG_VALUE_INVALID, 0},
    {"\xE2\x80\x94", VG_VALUE_INVALID, 0},    /* an em dash */
    {"12 \xE5\x85\x83", VG_VALUE_INVALID, 0}, /* "12 yuan" */
    {",123", VG_VALUE_INVALID, 0},
    {"1,,234", VG_VALUE_INVALID, 0},
    {"1234,567", VG_VALUE_INVALID, 0},
    {"1,234,56", VG_VALUE_INVALID, 0},
    {"1,234.5,6", VG_VALUE_INVALID, 0},
    {"nan", VG_VALUE_INVALID, 0},
    {"inf", VG_VALUE_INVALID, 0},
    {"-Infinity", VG_VALUE_INVALID, 0},
    {"1e999", VG_VALUE_INVALID, 0},
    {"1e", VG_VALUE_INVALID, 0},
    {"1e3%", VG_VALUE_INVALID, 0},
    {"%", VG_VALUE_INVALID, 0},
    {"12%%", VG_VALUE_INVALID, 0},
    {"76.6 %", VG_VALUE_INVALID, 0},
    {".", VG_VALUE_INVALID, 0},
    {"0x10", VG_VALUE_INVALID, 0},
    {"1 000", VG_VALUE_INVALID, 0},
    {"百分之九十", VG_VALUE_INVALID, 0},
    /* Scales written in the cell, and full-width forms. */
    {"1.2万", VG_VALUE_OK, 12000},
    {"3亿", VG_VALUE_OK, 3e8},
    {"-0.35万", VG_VALUE_OK, -3500},
    {"1,234.5万", VG_VALUE_OK, 12345000},
    {"5‰", VG_VALUE_OK, 0.005},
    {"１２３", VG_VALUE_OK, 123},
    {"１，２３４．５", VG_VALUE_OK, 1234.5},
    {"７６．６％", VG_VALUE_OK, 0.766},
    {"－２", VG_VALUE_OK, -2},
    {"\xE3\x80\x80１．２万\xE3\x80\x80", VG_VALUE_OK, 12000},
    {"万", VG_VALUE_INVALID, 0},
    {"1万万", VG_VALUE_INVALID, 0},
    {"1e2万", VG_VALUE_INVALID, 0},
    {"1万%", VG_VALUE_INVALID, 0},
    {"1.2万元", VG_VALUE_INVALID, 0},
    {"１ｅ３", VG_VALUE_INVALID, 0}, /* a full-width exponent is no number */
    {"ＡＢ", VG_VALUE_INVALID, 0},
};

VG_TEST(table) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct value_case *c = &cases[i];
    double v = -12345;
    enum vg_value_result r = vg_value_parse(c->text, strlen(c->text), &v);
    if (r != c->result)
      VG_FAIL("\"%s\": result %d, expected %d", c->text, (int)r,
              (int)c->result);
    if (r == VG_VALUE_OK && !(v == c->value))
      VG_FAIL("\"%s\": %.17g, expected %.17g", c->text, v, c->value);
    if (r != VG_VALUE_OK && v != -12345)
      VG_FAIL("\"%s\": wrote a value without success", c->text);
  }
}

/* The percent sign moves the decimal point in the text: the result is the
 * double nearest to 0.766, which dividing 76.6 by 100 does not give. */
VG_TEST(percent_is_exact) {
  double v;
  ASSERT_INT_EQ(vg_value_parse("76.6%", 5, &v), VG_VALUE_OK);
  ASSERT(v == 0.766);
  ASSERT(76.6 / 100 != 0.766);
  ASSERT_INT_EQ(vg_value_parse("57.2%", 5, &v), VG_VALUE_OK);
  ASSERT(v == 0.572);
}

/* The length bounds the text: no NUL is needed and nothing past it is
 * read. */
VG_TEST(length_bounds_text) {
  double v;
  ASSERT_INT_EQ(vg_value_parse("12%garbage", 3, &v), VG_VALUE_OK);
  ASSERT_DBL_EQ(v, 0.12);
  ASSERT_INT_EQ(vg_value_parse("3,895", 3, &v), VG_VALUE_INVALID);
}

VG_TEST(long_text_is_invalid) {
  char text[128];
  memset(text, '1', sizeof text);
  double v;
  ASSERT_INT_EQ(vg_value_parse(text, 63, &v), VG_VALUE_OK);
  char copy[64];
  memcpy(copy, text, 63);
  copy[63] = '\0';
  ASSERT_DBL_EQ(v, strtod(copy, NULL));
  ASSERT_INT_EQ(vg_value_parse(text, 64, &v), VG_VALUE_INVALID);
  /* Blanks around do not count towards the limit. */
  char padded[80];
  memset(padded, ' ', sizeof padded);
  memcpy(padded + 8, text, 63);
  ASSERT_INT_EQ(vg_value_parse(padded, sizeof padded, &v), VG_VALUE_OK);
}

/* A column's scale (its header's unit) moves the decimal point of a bare
 * number in the text, exactly; a cell with a scale of its own keeps it. */
VG_TEST(column_scale) {
  static const struct {
    const char *text;
    int exp;
    enum vg_value_result result;
    double value;
  } scaled[] = {
      {"12.5", 4, VG_VALUE_OK, 125000},
      {"1,234.56", 4, VG_VALUE_OK, 12345600},
      {"0.3", 8, VG_VALUE_OK, 30000000},
      {"76.6", -2, VG_VALUE_OK, 0.766},
      {"5", -3, VG_VALUE_OK, 0.005},
      {"１２．５", 4, VG_VALUE_OK, 125000},
      {"-3", 4, VG_VALUE_OK, -30000},
      {"1.5e3", 4, VG_VALUE_OK, 1.5e7},
      {"1.5E-3", -2, VG_VALUE_OK, 1.5e-5},
      {"76.6%", -2, VG_VALUE_OK, 0.766}, /* the cell's own % */
      {"1.2万", 4, VG_VALUE_OK, 12000},  /* the cell's own 万 */
      {"5‰", -2, VG_VALUE_OK, 0.005},
      {"", 4, VG_VALUE_EMPTY, 0},
      {"abc", 4, VG_VALUE_INVALID, 0},
      {"1e400", -400, VG_VALUE_OK, 1},
      {"1", 400, VG_VALUE_INVALID, 0}, /* infinite */
      {"1e99999999999", -4, VG_VALUE_INVALID, 0},
  };
  for (size_t i = 0; i < sizeof scaled / sizeof scaled[0]; i++) {
    double v = -12345;
    enum vg_value_result r = vg_value_parse_scaled(
        scaled[i].text, strlen(scaled[i].text), scaled[i].exp, &v);
    if (r != scaled[i].result)
      VG_FAIL("\"%s\" e%d: result %d, expected %d", scaled[i].text,
              scaled[i].exp, (int)r, (int)scaled[i].result);
    if (r == VG_VALUE_OK && !(v == scaled[i].value))
      VG_FAIL("\"%s\" e%d: %.17g, expected %.17g", scaled[i].text,
              scaled[i].exp, v, scaled[i].value);
  }
  /* Exact where a multiplication is not: 0.1 * 3 is no 0.3. */
  double v;
  ASSERT_INT_EQ(vg_value_parse_scaled("0.3", 3, 0, &v), VG_VALUE_OK);
  ASSERT_INT_EQ(vg_value_parse_scaled("30", 2, -2, &v), VG_VALUE_OK);
  ASSERT(v == 0.3);
}

VG_TEST_MAIN(VG_T(table), VG_T(percent_is_exact), VG_T(length_bounds_text),
             VG_T(long_text_is_invalid), VG_T(column_scale))
