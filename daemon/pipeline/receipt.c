/* daemon/pipeline/receipt.c - counting one input's rows, values and
 * villages, and writing it down for field staff (receipt.h).
 *
 * Must never: keep more than VG_RECEIPT_LISTED rejections in full, or
 * count a rejection anywhere but once.
 */
#include "daemon/pipeline/receipt.h"
#include "daemon/util/buf.h"
#include "daemon/util/mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct village {
  bool matched;
  char name[]; /* NUL-terminated */
};

struct vg_receipt *vg_receipt_new(const char *input, int64_t now_ms) {
  struct vg_receipt *r = vg_calloc(1, sizeof *r);
  r->input = vg_strdup(input);
  r->read_ms = now_ms;
  vg_hashtab_init(&r->villages);
  return r;
}

static void free_villages(struct vg_receipt *r) {
  for (size_t i = 0; r->villages.slots && i <= r->villages.mask; i++)
    free(r->villages.slots[i].item);
  vg_hashtab_free(&r->villages);
  vg_hashtab_init(&r->villages);
}

void vg_receipt_free(struct vg_receipt *r) {
  if (!r)
    return;
  free_villages(r);
  for (size_t i = 0; i < r->nlisted; i++) {
    free(r->listed[i].village);
    free(r->listed[i].cell);
    free(r->listed[i].detail);
  }
  for (size_t i = 0; i < r->nunmatched; i++)
    free(r->unmatched[i]);
  free(r->unmatched);
  free(r->input);
  free(r->error);
  free(r);
}

/* The row a location is in, as a hash; false when it names none: a JSON
 * record is one, a text line is one when a cell or column of it is named
 * (a header line that lacks a column is not a row of data). */
static bool row_of(const struct vg_location *at, uint64_t *key) {
  if (!at->pointer_prefix && (at->line == 0 || at->column == 0))
    return false;
  uint64_t h = vg_hash_bytes(&at->line, sizeof at->line, 0);
  if (at->pointer_prefix)
    h = vg_hash_bytes(&at->record_index, sizeof at->record_index, h);
  if (at->sheet)
    h = vg_hash_bytes(at->sheet, strlen(at->sheet), h);
  *key = vg_hash_mix(h);
  return true;
}

/* Counts the row of `at` once, marking it rejected if `rejected`. */
static void note_row(struct vg_receipt *r, const struct vg_location *at,
                     bool rejected) {
  uint64_t key;
  if (!row_of(at, &key))
    return;
  if (!r->in_row || key != r->row_key) {
    if (r->in_row && r->row_rejected)
      r->rows_rejected++;
    r->in_row = true;
    r->row_key = key;
    r->row_rejected = false;
    r->rows++;
  }
  r->row_rejected |= rejected;
}

static void note_village(struct vg_receipt *r, const char *name, bool matched) {
  if (!name || !*name)
    return;
  uint64_t h = vg_hash_bytes(name, strlen(name), 0);
  size_t pos = (size_t)-1;
  struct village *v;
  while ((v = vg_hashtab_next(&r->villages, h, &pos)))
    if (strcmp(v->name, name) == 0) {
      v->matched |= matched;
      return;
    }
  size_t n = strlen(name);
  /* Owned by the table until vg_receipt_finish or free. */
  v = vg_malloc(sizeof *v + n + 1);
  v->matched = matched;
  memcpy(v->name, name, n + 1);
  vg_hashtab_insert(&r->villages, h, v);
}

void vg_receipt_accepted(struct vg_receipt *r, const struct vg_location *at,
                         const char *village) {
  /* A derived sample (a report's next due date) is no value of the
   * input: its row and village are the source value's. */
  if (!at->derived)
    r->values_accepted++;
  note_row(r, at, false);
  note_village(r, village, true);
}

void vg_receipt_rejected(struct vg_receipt *r, enum vg_reject_reason reason,
                         const struct vg_location *at, const char *village,
                         const char *where, const char *detail) {
  r->values_rejected++;
  note_row(r, at, true);
  note_village(r, village, false);
  if (r->nlisted == VG_RECEIPT_LISTED) {
    r->more++;
    return;
  }
  struct vg_receipt_rejection *x = &r->listed[r->nlisted++];
  x->reason = reason;
  x->village = village && *village ? vg_strdup(village) : NULL;
  /* The receipt names its input once. */
  size_t n = strlen(r->input);
  const char *cell = strncmp(where, r->input, n) == 0 ? where + n : where;
  if (*cell == ':' || *cell == ' ')
    cell++;
  x->cell = vg_strdup(cell);
  x->detail = vg_strdup(detail);
}

void vg_receipt_rejected_many(struct vg_receipt *r, uint64_t n) {
  r->values_rejected += n;
  r->more += n;
}

void vg_receipt_failed(struct vg_receipt *r, const char *error) {
  free(r->error);
  r->error = vg_strdup(error);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void vg_receipt_finish(struct vg_receipt *r) {
  if (r->in_row && r->row_rejected)
    r->rows_rejected++;
  r->in_row = false;
  for (size_t i = 0; r->villages.slots && i <= r->villages.mask; i++) {
    struct village *v = r->villages.slots[i].item;
    if (!v)
      continue;
    if (v->matched) {
      r->villages_matched++;
      continue;
    }
    r->villages_unmatched++;
    r->unmatched =
        vg_realloc(r->unmatched, (r->nunmatched + 1) * sizeof *r->unmatched);
    r->unmatched[r->nunmatched++] = vg_strdup(v->name);
  }
  /* Sorted, then cut: the same file gives the same list. */
  if (r->nunmatched)
    qsort(r->unmatched, r->nunmatched, sizeof *r->unmatched, by_name);
  while (r->nunmatched > VG_RECEIPT_LISTED)
    free(r->unmatched[--r->nunmatched]);
  free_villages(r);
}

char *vg_receipt_text(const struct vg_receipt *r) {
  struct vg_buf b;
  /* Bounded by the listed rejections (each under 1 KiB) and names. */
  vg_buf_init(&b, 1 << 20);
  char when[32];
  time_t s = (time_t)(r->read_ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  vg_buf_printf(&b, "Receipt for %s\nRead at %s\n", r->input, when);
  if (r->error) {
    vg_buf_printf(&b, "NOT READ: %s\n", r->error);
    size_t len;
    return vg_buf_take(&b, &len);
  }
  vg_buf_printf(&b,
                "Rows: %llu (%llu accepted, %llu with rejected cells)\n"
                "Values: %llu accepted, %llu rejected\n"
                "Villages: %zu matched, %zu unmatched\n",
                (unsigned long long)r->rows,
                (unsigned long long)(r->rows - r->rows_rejected),
                (unsigned long long)r->rows_rejected,
                (unsigned long long)r->values_accepted,
                (unsigned long long)r->values_rejected, r->villages_matched,
                r->villages_unmatched);
  if (r->nunmatched) {
    vg_buf_puts(&b, "Unmatched villages:");
    for (size_t i = 0; i < r->nunmatched; i++)
      vg_buf_printf(&b, "%s %s", i ? "," : "", r->unmatched[i]);
    if (r->villages_unmatched > r->nunmatched)
      vg_buf_printf(&b, " and %zu more", r->villages_unmatched - r->nunmatched);
    vg_buf_putc(&b, '\n');
  }
  if (r->nlisted) {
    vg_buf_puts(&b, "Rejected cells:\n");
    for (size_t i = 0; i < r->nlisted; i++) {
      const struct vg_receipt_rejection *x = &r->listed[i];
      vg_buf_printf(&b, "- %s%s%s: %s\n",
                    x->village ? x->village : "(no village)",
                    *x->cell ? ", at " : "", x->cell, x->detail);
    }
  }
  if (r->more)
    vg_buf_printf(&b, "- and %llu more rejected values\n",
                  (unsigned long long)r->more);
  size_t len;
  return vg_buf_take(&b, &len);
}
