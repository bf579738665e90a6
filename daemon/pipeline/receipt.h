/* daemon/pipeline/receipt.h - what became of one input, for the people who
 * sent it.
 *
 * A receipt is filled while its input's round runs through the sink
 * (vg_sink_receipt): every accepted value and every rejected one, with
 * its row and village.  It says when the input was read, how many rows
 * and values were taken, which villages gave values (matched) and which
 * gave none (unmatched: every value of theirs was rejected, by the
 * catalog, a bad cell or the village registry), and lists the rejections
 * by village and cell -- the first VG_RECEIPT_LISTED in full, then how
 * many more.  A receipt's memory is bounded by that cap and by the number
 * of villages of its input.
 *
 * Rows are told apart by their location (sheet and line, or record
 * index); a parser reports a row's values together, so a row ends when
 * the next begins.  A location without a line or record (a header that
 * lacks a column) counts as a rejection of the input, not of a row.
 *
 * Runs on the loop thread; vg_receipt_text() and the accessors may be
 * called from any thread once the receipt is finished and no longer
 * written.
 */
#ifndef VG_RECEIPT_H
#define VG_RECEIPT_H

#include "daemon/model/sample.h"
#include "daemon/util/hashtab.h"

#include <stdbool.h>
#include <stdint.h>

#define VG_RECEIPT_LISTED 20

struct vg_receipt_rejection {
  enum vg_reject_reason reason;
  char *village; /* owned; NULL: the row's village is not known */
  /* Owned: the place in the input, without the input's name -- "3:2
   * (population)" for a CSV line and field, "[Sheet1] C7 (population)",
   * "/data/items/3/population"; "" for the input as a whole. */
  char *cell;
  char *detail; /* owned */
};

struct vg_receipt {
  char *input;     /* owned: the file's path */
  int64_t read_ms; /* wall clock */
  /* The input as a whole could not be read or parsed; owned, NULL: it
   * was. */
  char *error;
  uint64_t rows;          /* rows that gave a value or a rejection */
  uint64_t rows_rejected; /* of which with at least one rejected cell */
  uint64_t values_accepted, values_rejected;
  size_t villages_matched, villages_unmatched;
  /* The unmatched villages' names, sorted, at most VG_RECEIPT_LISTED; set
   * by vg_receipt_finish.  Owned. */
  char **unmatched;
  size_t nunmatched;
  struct vg_receipt_rejection listed[VG_RECEIPT_LISTED];
  size_t nlisted;
  uint64_t more; /* rejections past the listed ones */

  /* While filled. */
  struct vg_hashtab villages; /* struct village, by name */
  uint64_t row_key;
  bool in_row, row_rejected;
};

/* A receipt for `input` read at now_ms; the caller owns it and frees it
 * with vg_receipt_free (NULL-safe). */
struct vg_receipt *vg_receipt_new(const char *input, int64_t now_ms);
void vg_receipt_free(struct vg_receipt *r);

/* A value accepted into the store; `village` may be NULL.  A sample made
 * from another (at->derived: a report's next due date) counts no value. */
void vg_receipt_accepted(struct vg_receipt *r, const struct vg_location *at,
                         const char *village);
/* A value rejected; `where` is the location as text
 * (vg_location_format). */
void vg_receipt_rejected(struct vg_receipt *r, enum vg_reject_reason reason,
                         const struct vg_location *at, const char *village,
                         const char *where, const char *detail);
/* `n` rejections counted but not located (a batch's past its kept ones). */
void vg_receipt_rejected_many(struct vg_receipt *r, uint64_t n);
/* The input could not be read or parsed at all. */
void vg_receipt_failed(struct vg_receipt *r, const char *error);
/* Ends the last row and counts the villages; nothing is added after. */
void vg_receipt_finish(struct vg_receipt *r);

/* The receipt as plain UTF-8 text for a person, ending in a newline; the
 * caller frees it. */
char *vg_receipt_text(const struct vg_receipt *r);

#endif
