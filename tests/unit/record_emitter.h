/* tests/unit/record_emitter.h - an emitter that writes down every call it
 * gets as one line of text, for a test to compare with the lines it
 * expects:
 *
 *   "name{a=b,...} value ts @line"             a sample (label values
 *                                              escaped as on /metrics)
 *   "family name type help"                    metadata (help "-": none)
 *   "reject reason input:line:column detail"   a rejection
 *   "reject reason input /json/pointer detail" one in a JSON input
 *
 * Values are printed as /metrics prints them (vg_expfmt_format_double).
 * Hand &r->em to the code under test.
 */
#ifndef VG_RECORD_EMITTER_H
#define VG_RECORD_EMITTER_H

#include "daemon/model/sample.h"
#include "daemon/util/buf.h"

#include <stdbool.h>

struct vg_test_record {
  struct vg_buf out; /* the lines so far: always a string */
  struct vg_emitter em;
};

/* From empty; with `families` the family callback is set too (a receiver
 * that keeps metadata), without it NULL. */
void vg_test_record_init(struct vg_test_record *r, bool families);
/* The lines, now owned by the caller, who needs not free the record. */
char *vg_test_record_take(struct vg_test_record *r);
void vg_test_record_free(struct vg_test_record *r);

#endif
