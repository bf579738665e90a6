/* daemon/formats/xlsx.h - one sheet of an Excel 2007+ workbook (.xlsx).
 *
 * An .xlsx file is a zip of XML parts: xl/workbook.xml names the sheets,
 * xl/_rels/workbook.xml.rels says which part holds each, and the sheet's
 * cells refer to xl/sharedStrings.xml for their text and to xl/styles.xml
 * for their number format, which tells a date or a percentage from a
 * number.  Read with libzip and expat, from memory, streaming each part
 * through the XML parser (no part is held whole).
 *
 * What a cell becomes (sheet.h): shared and inline strings and formula
 * results as text; numbers as the workbook wrote their digits (exact);
 * numbers formatted as dates as "YYYY-MM-DD" or an RFC 3339 time (1900 or
 * 1904 date system as the workbook says); numbers formatted as percentages
 * as the fraction they hold; booleans as 1 and 0; error values (#DIV/0!)
 * as their text.  Merged ranges (<mergeCells>) cover their cells.
 *
 * Caps: the XML read from the zip once decompressed is at most
 * VG_XLSX_XML_MIN plus VG_XLSX_XML_RATIO times the workbook's size (no
 * office file compresses 100 times; a zip bomb does), the text kept at
 * most that, and the cells at most max_cells; past any of them the
 * workbook is refused.  A document type declaration (which XML entity
 * attacks need and OOXML never has) is refused.
 */
#ifndef VG_XLSX_H
#define VG_XLSX_H

#include "daemon/formats/sheet.h"

#include <stddef.h>

#define VG_XLSX_XML_MIN ((size_t)16 << 20)
#define VG_XLSX_XML_RATIO 100

/* Reads the chosen sheet of the workbook data[0..len) into *out (owned by
 * the caller, vg_sheet_free()).  Returns 0, or -EINVAL with *error saying
 * why: not a zip or not a workbook, no such sheet (naming the ones there
 * are), an XML error with its part and line, a cap passed.  A cell that
 * cannot be read (a shared string that does not exist, a number cell that
 * holds no number) is not an error here: it is a VG_CELL_BAD cell, which
 * costs that cell when it is mapped. */
int vg_xlsx_read(const char *data, size_t len,
                 const struct vg_sheet_choice *which, size_t max_cells,
                 struct vg_sheet **out, char *error, size_t error_size);

#endif
