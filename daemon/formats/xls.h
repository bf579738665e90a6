/* daemon/formats/xls.h - one sheet of an Excel 97-2003 workbook (.xls),
 * as older Office and WPS still save them.
 *
 * Read with Debian's libfreexl, which reads BIFF5 and BIFF8 workbooks
 * (converting their code pages, CP936 included, to UTF-8) but only from a
 * file: the bytes are handed to it through an anonymous memory file
 * (memfd), so an .xls from a URL or a program reads like one from disk.
 *
 * What a cell becomes (sheet.h): text as text; numbers as the shortest
 * text that reads back to the same double; dates and date-times (freexl
 * knows them by their format, in either date system) as "YYYY-MM-DD" or
 * an RFC 3339 time.  Two things freexl does not tell, and so this reader
 * cannot: merged ranges (only their top-left cell has the value) and a
 * percentage format (a cell shown as 76.6% reads as 0.766, and a "(%)" in
 * its header scales it once more: leave such headers out of the name or
 * set "header_units": false).
 *
 * Caps: freexl allocates every sheet's rows times columns as its
 * dimensions claim, so those are read first (without the cells) and a
 * workbook claiming more than max_cells in all is refused before it is
 * loaded.  freexl runs in a process of its own (the daemon's program
 * started again, or $VG_XLS_READER), ended after vg__xls_timeout_s
 * seconds, since it is not safe on damaged files (see xls.c); only
 * compound documents reach it.
 */
#ifndef VG_XLS_H
#define VG_XLS_H

#include "daemon/formats/sheet.h"

#include <stddef.h>

/* Seconds freexl's reader may take on one workbook (30; tests lower it). */
extern unsigned vg__xls_timeout_s;

/* The first argument that makes the daemon's main() the .xls reader
 * instead: main() returns vg_xls_reader_main(argc, argv) at once. */
#define VG_XLS_READER_FLAG "--read-xls"
int vg_xls_reader_main(int argc, char **argv);

/* As vg_xlsx_read(), for an .xls workbook. */
int vg_xls_read(const char *data, size_t len,
                const struct vg_sheet_choice *which, size_t max_cells,
                struct vg_sheet **out, char *error, size_t error_size);

#endif
