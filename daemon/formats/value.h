/* daemon/formats/value.h - reading numbers as people write them in
 * spreadsheets.
 *
 * "76.6%" is 0.766 (the decimal point is moved in the text, so the result
 * is the double nearest to 0.766, not 76.6/100), "3,895" and "160,473.31"
 * drop their thousands separators, "1.2万" is 12000 and "3亿" 3e8, "5‰"
 * is 0.005, full-width digits and signs read as ASCII ones, surrounding
 * blanks are ignored, and an empty cell is "no value" -- never zero.  Anything
 * else that is not entirely a number is an error; nothing is guessed.
 */
#ifndef VG_VALUE_H
#define VG_VALUE_H

#include <stddef.h>

enum vg_value_result {
  VG_VALUE_OK,
  VG_VALUE_EMPTY,  /* blank cell: no sample */
  VG_VALUE_INVALID /* not a number */
};

enum vg_value_result vg_value_parse(const char *text, size_t len, double *out);
/* The same for a cell of a column whose header names a scale
 * ("收入(万元)": column_exp 4; "(%)": -2): a bare number is read with its
 * decimal point moved column_exp places in the text, so "12.5" is exactly
 * 125000; a cell that names its own scale ("76.6%", "1.2万") is read as
 * written. */
enum vg_value_result vg_value_parse_scaled(const char *text, size_t len,
                                           int column_exp, double *out);

#endif
