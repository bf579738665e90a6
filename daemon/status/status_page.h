/* daemon/status/status_page.h - the status page for people.
 *
 * Renders `/` from the document that /api/v1/status serves (built in
 * daemon/status/status.c), so the page shows nothing the API does not.  Every
 * string of the document is escaped.  The caller owns both the document
 * and the buffer; nothing is kept between calls.
 */
#ifndef VG_STATUS_PAGE_H
#define VG_STATUS_PAGE_H

#include "daemon/util/buf.h"

#include <cjson/cJSON.h>

/* Appends the whole HTML page to `out`; 0, or -ENOSPC past its cap. */
int vg_status_page_render(const cJSON *status, struct vg_buf *out);

#endif
