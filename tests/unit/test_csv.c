/* tests/unit/test_csv.c - the CSV reader on what spreadsheets export. */
#include "daemon/formats/csv.h"

#include "tests/vgtest.h"

#include <errno.h>

/* Asserts that field i of row holds exactly `want`. */
#define ASSERT_FIELD(row, i, want)                                             \
  do {                                                                         \
    ASSERT((i) < (row).count);                                                 \
    const struct vg_csv_field *f_ = &(row).fields[i];                          \
    if (f_->len != strlen(want) || memcmp(f_->text, want, f_->len) != 0)       \
      VG_FAIL("field %d: \"%.*s\", expected \"%s\"", (int)(i), (int)f_->len,   \
              f_->text, want);                                                 \
  } while (0)

static struct vg_csv *open_str(const char *s, char delim) {
  return vg_csv_new(s, strlen(s), delim);
}

VG_TEST(simple_rows) {
  struct vg_csv *c = open_str("a,b,c\n1,2,3\n", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_INT_EQ(row.line, 1);
  ASSERT_FIELD(row, 0, "a");
  ASSERT_FIELD(row, 2, "c");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_FIELD(row, 1, "2");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
  vg_csv_free(NULL);
}

VG_TEST(bom_and_crlf) {
  struct vg_csv *c = open_str("\xEF\xBB\xBF县,村\r\nShiqian,桃子园村\r\n", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 2);
  ASSERT_FIELD(row, 0, "县");
  ASSERT_FIELD(row, 1, "村");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_FIELD(row, 1, "桃子园村");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

/* A BOM only counts at the very start; elsewhere it is text. */
VG_TEST(bom_only_at_start) {
  struct vg_csv *c = open_str("a\n\xEF\xBB\xBF"
                              "b\n",
                              ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_FIELD(row, 0,
               "\xEF\xBB\xBF"
               "b");
  vg_csv_free(c);
}

VG_TEST(quoted_commas_and_doubled_quotes) {
  struct vg_csv *c = open_str(
      "\"3,895\",\"say \"\"hi\"\"\",\"\",\"\"\"\"\n\"a\"\"b\",\"c\"\"d\"\n",
      ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 4);
  ASSERT_FIELD(row, 0, "3,895");
  ASSERT_FIELD(row, 1, "say \"hi\"");
  ASSERT_FIELD(row, 2, "");
  ASSERT_FIELD(row, 3, "\"");
  /* Two copied fields in one row: both stay right after the arena grew. */
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_FIELD(row, 0, "a\"b");
  ASSERT_FIELD(row, 1, "c\"d");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

/* Fields without doubled quotes point into the caller's buffer. */
VG_TEST(no_copy_without_doubled_quotes) {
  const char *data = "abc,\"d,e\"\n";
  struct vg_csv *c = vg_csv_new(data, strlen(data), ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT(row.fields[0].text == data);
  ASSERT(row.fields[1].text == data + 5);
  vg_csv_free(c);
}

VG_TEST(quoted_newlines_keep_line_numbers) {
  struct vg_csv *c = open_str("h1,h2\r\n"
                              "1,\"two\r\nlines\"\r\n"
                              "2,\"three\nlines\nhere\"\n"
                              "3,x\n",
                              ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 1);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_FIELD(row, 1, "two\r\nlines");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 4);
  ASSERT_FIELD(row, 1, "three\nlines\nhere");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 7);
  ASSERT_FIELD(row, 0, "3");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST(lone_cr_line_ends) {
  struct vg_csv *c = open_str("a,b\r1,2\r\r3,4", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_FIELD(row, 1, "2");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 4);
  ASSERT_FIELD(row, 1, "4");
  vg_csv_free(c);
}

VG_TEST(unterminated_quote_recovers_on_next_line) {
  struct vg_csv *c = open_str("a,b\n1,\"open\n2,x\n", ',');
  struct vg_csv_row row;
  uint32_t line = 0, column = 0;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(vg_csv_next(c, &row), -EINVAL);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_INT_EQ(row.count, 2);
  ASSERT(row.truncated);
  ASSERT_FIELD(row, 0, "1");
  ASSERT(!row.fields[0].damaged);
  ASSERT(row.fields[1].damaged);
  ASSERT_STR_EQ(vg_csv_error(c, &line, &column),
                "line 2, field 2: unterminated quoted field");
  ASSERT_INT_EQ(line, 2);
  ASSERT_INT_EQ(column, 2);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 3);
  ASSERT(!row.truncated);
  ASSERT_FIELD(row, 0, "2");
  ASSERT_FIELD(row, 1, "x");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

/* A quote inside an unquoted field is text, as spreadsheet importers read
 * it: no error, and the row is whole. */
VG_TEST(quote_inside_unquoted_field_is_text) {
  struct vg_csv *c = open_str("A,1,5\"pipe\n1,ab\"c\",d\"\"\n", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_FIELD(row, 0, "A");
  ASSERT_FIELD(row, 1, "1");
  ASSERT_FIELD(row, 2, "5\"pipe");
  ASSERT(!row.fields[2].damaged);
  ASSERT(!row.truncated);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_FIELD(row, 1, "ab\"c\"");
  ASSERT_FIELD(row, 2, "d\"\"");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

/* Text after a closing quote damages that field alone: the row is still
 * delivered whole, the damaged field flagged and holding its quoted
 * part. */
VG_TEST(text_after_closing_quote_damages_the_field) {
  struct vg_csv *c = open_str("2,\"x\"y,z\n"
                              "3,\"multi\nline\"oops\n"
                              "\"a\"\"b\"junk\"more,\"c\"d,e\n"
                              "4,ok\n",
                              ',');
  struct vg_csv_row row;
  uint32_t line, column;
  ASSERT_INT_EQ(vg_csv_next(c, &row), -EINVAL);
  ASSERT_STR_EQ(vg_csv_error(c, &line, &column),
                "line 1, field 2: text after the closing quote");
  ASSERT_INT_EQ(line, 1);
  ASSERT_INT_EQ(column, 2);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT(!row.truncated);
  ASSERT_FIELD(row, 0, "2");
  ASSERT(!row.fields[0].damaged);
  ASSERT_FIELD(row, 1, "x");
  ASSERT(row.fields[1].damaged);
  ASSERT_FIELD(row, 2, "z");
  ASSERT(!row.fields[2].damaged);

  ASSERT_INT_EQ(vg_csv_next(c, &row), -EINVAL);
  ASSERT_INT_EQ(row.line, 2);
  ASSERT_STR_EQ(vg_csv_error(c, &line, &column),
                "line 3, field 2: text after the closing quote");
  ASSERT_INT_EQ(line, 3);
  ASSERT_INT_EQ(column, 2);
  ASSERT_INT_EQ(row.count, 2);
  ASSERT_FIELD(row, 1, "multi\nline");
  ASSERT(row.fields[1].damaged);

  /* Two damaged fields, one of them copied: the first error is kept. */
  ASSERT_INT_EQ(vg_csv_next(c, &row), -EINVAL);
  ASSERT_INT_EQ(row.line, 4);
  ASSERT_STR_EQ(vg_csv_error(c, NULL, NULL),
                "line 4, field 1: text after the closing quote");
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_FIELD(row, 0, "a\"b");
  ASSERT(row.fields[0].damaged);
  ASSERT_FIELD(row, 1, "c");
  ASSERT(row.fields[1].damaged);
  ASSERT_FIELD(row, 2, "e");
  ASSERT(!row.fields[2].damaged);

  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 5);
  ASSERT_FIELD(row, 1, "ok");
  ASSERT(!row.fields[1].damaged);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST(last_line_without_line_end) {
  struct vg_csv *c = open_str("a,b\n1,\"2\"", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 2);
  ASSERT_FIELD(row, 1, "2");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST(trailing_delimiter_gives_empty_field) {
  struct vg_csv *c = open_str("a,b,\n1,2,", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_FIELD(row, 2, "");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_FIELD(row, 2, "");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST(tab_delimiter) {
  struct vg_csv *c = open_str("county\tvillage\tincome\n"
                              "Shiqian\t\"Tao,ziyuan\"\t3,895\n",
                              '\t');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_FIELD(row, 1, "Tao,ziyuan");
  ASSERT_FIELD(row, 2, "3,895");
  vg_csv_free(c);
}

VG_TEST(empty_lines_are_skipped) {
  struct vg_csv *c = open_str("\n\r\na\n\n\n,,\n\r\n", ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 3);
  ASSERT_INT_EQ(row.count, 1);
  ASSERT_FIELD(row, 0, "a");
  /* A line of delimiters is a row of empty fields. */
  ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
  ASSERT_INT_EQ(row.line, 6);
  ASSERT_INT_EQ(row.count, 3);
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST(empty_input) {
  struct vg_csv *c = vg_csv_new("", 0, ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  ASSERT_INT_EQ(row.count, 0);
  vg_csv_free(c);
  c = vg_csv_new("\xEF\xBB\xBF", 3, ',');
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

/* The reader never reads past `len`: the buffer here has no NUL. */
VG_TEST(length_bounds_input) {
  char *data = malloc(7);
  memcpy(data, "a,\"b\"\"", 7);
  struct vg_csv *c = vg_csv_new(data, 7, ',');
  struct vg_csv_row row;
  ASSERT_INT_EQ(vg_csv_next(c, &row), -EINVAL);
  ASSERT_STR_EQ(vg_csv_error(c, NULL, NULL),
                "line 1, field 2: unterminated quoted field");
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
  free(data);
}

/* Many wide rows: the field array and the arena grow and are reused. */
VG_TEST(wide_rows) {
  char data[8192];
  size_t n = 0;
  for (int r = 0; r < 3; r++) {
    for (int f = 0; f < 300; f++)
      n += (size_t)snprintf(data + n, sizeof data - n, "%s\"%d\"\"\"",
                            f ? "," : "", f);
    data[n++] = '\n';
  }
  struct vg_csv *c = vg_csv_new(data, n, ',');
  struct vg_csv_row row;
  for (int r = 0; r < 3; r++) {
    ASSERT_INT_EQ(vg_csv_next(c, &row), 1);
    ASSERT_INT_EQ(row.count, 300);
    ASSERT_FIELD(row, 0, "0\"");
    ASSERT_FIELD(row, 299, "299\"");
  }
  ASSERT_INT_EQ(vg_csv_next(c, &row), 0);
  vg_csv_free(c);
}

VG_TEST_MAIN(VG_T(simple_rows), VG_T(bom_and_crlf), VG_T(bom_only_at_start),
             VG_T(quoted_commas_and_doubled_quotes),
             VG_T(no_copy_without_doubled_quotes),
             VG_T(quoted_newlines_keep_line_numbers), VG_T(lone_cr_line_ends),
             VG_T(unterminated_quote_recovers_on_next_line),
             VG_T(quote_inside_unquoted_field_is_text),
             VG_T(text_after_closing_quote_damages_the_field),
             VG_T(last_line_without_line_end),
             VG_T(trailing_delimiter_gives_empty_field), VG_T(tab_delimiter),
             VG_T(empty_lines_are_skipped), VG_T(empty_input),
             VG_T(length_bounds_input), VG_T(wide_rows))
