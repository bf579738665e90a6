/* daemon/pipeline/journal.h - the on-disk journal of accepted samples.
 *
 * Every accepted sample is appended once; each push exporter reads it
 * through its own named, persisted cursor.  Appends are made durable by a
 * group commit on a thread of the journal's own (one write and one fsync
 * per commit; a commit starts as soon as appends wait and none runs),
 * which parse jobs in libuv's pool can never hold back;
 * reads decode in the thread pool, so the loop never touches the disk
 * except in vg_journal_open and vg_journal_reader (both called at start).
 * Sequence numbers (the first record ever is 1) make every loss countable:
 * records dropped for max_bytes and records lost to damage are counted
 * exactly, per reader, and a sequence number a reader or a receiver may
 * have seen is never given to another record (<dir>/head keeps the
 * highest one committed).  The format is described at the top of
 * journal_codec.c.
 *
 * Everything here is called on the loop thread.  Nothing may be called on
 * a journal after its `closed` callback has run.
 */
#ifndef VG_JOURNAL_H
#define VG_JOURNAL_H

#include "daemon/util/buf.h"
#include "daemon/model/sample.h" /* struct vg_label */

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct vg_journal;
struct vg_journal_reader;

enum vg_fsync_policy {
  VG_FSYNC_BATCH, /* group commit: one fsync per commit covers every
                     append in it; an append is durable when its callback
                     runs */
  VG_FSYNC_OFF,   /* write(2) only; the OS flushes; a power loss can lose
                     what the OS had not written, a process crash loses
                     nothing written */
};

struct vg_journal_options {
  const char *dir;          /* created (mkdir -p) if missing */
  uint64_t max_bytes;       /* all segments together; past it the oldest
                               segment is dropped (0: 1 GiB) */
  uint64_t segment_bytes;   /* a new segment starts once the current one
                               passes this (0: 16 MiB) */
  int64_t commit_window_ms; /* cursor writes and unlinks wait for the
                               next append's commit or ten of these
                               windows (0: 100); appends never wait */
  enum vg_fsync_policy fsync;
};

struct vg_journal_record {
  const char *metric;
  const struct vg_label *labels; /* not including the metric name */
  size_t nlabels;
  double value;
  int64_t ts_ms;
  uint64_t seq; /* filled on read: the record's sequence number */
  /* On append, 0 or a key from vg_journal_label_key: records appended one
   * after the other with the same key have the same labels, which the
   * journal then encodes and looks up once (a point's fields). */
  uint64_t labels_key;
  /* Filled on read: each label's name and value length, two a label;
   * NULL on append (not read). */
  const uint32_t *label_lens;
};

/* The largest encoded record (metric, labels and numbers); larger appends
 * fail with -EMSGSIZE. */
#define VG_JOURNAL_MAX_RECORD (1u << 20)

/* Opens (or creates) the journal in o->dir: scans the segments, recovers a
 * torn tail (the last segment is truncated after its last valid record),
 * counts what the newest segment lost as corrupt (the records between its
 * last valid one and the highest seq committed, from <dir>/head and the
 * cursors), and restores each reader's cursor lazily when the reader is
 * opened.  Runs its file I/O synchronously: it is
 * called once at start, before the loop serves anything.  On error, a
 * message for people is in `error`. */
int vg_journal_open(uv_loop_t *loop, const struct vg_journal_options *o,
                    struct vg_journal **out, char *error, size_t error_size);

/* Commits what is pending (write + fsync), waits for in-flight work (reads
 * in flight get their callback first), writes the final cursors, closes
 * every handle and frees the journal and its readers; `closed(arg)` runs
 * when done (from the loop).  Appends still pending get their callback with
 * status 0 if the final commit succeeded. */
void vg_journal_close(struct vg_journal *j, void (*closed)(void *arg),
                      void *arg);

/* Appends records (copied at once; the caller's memory is free on return).
 * They are written and (VG_FSYNC_BATCH) fsynced by the next group commit,
 * which runs on the commit thread: at once (when the loop has handed out
 * what it is delivering now) if no commit is running, else as soon as the
 * running one ends; `durable(arg, status)` then runs on the loop: 0 = durable;
 * -errno (e.g. -ENOSPC, -EFBIG) = NOT in the journal (the caller must not
 * acknowledge them; their sequence numbers, which nobody saw, are given
 * to the next records).  durable may be
 * NULL.  Returns 0, or 1 when the append just before was given the same
 * durable and arg and goes into the same commit: durable then runs once
 * for both (a caller appending one sample at a time counts the 0s).
 * -ESHUTDOWN after vg_journal_close; -EMSGSIZE when a
 * record is larger than VG_JOURNAL_MAX_RECORD; -ENOBUFS when 256 MiB are
 * already waiting for the disk.  On error nothing was appended.  Each
 * record gets the next sequence number (the first record ever is 1). */
int vg_journal_append(struct vg_journal *j,
                      const struct vg_journal_record *recs, size_t n,
                      void (*durable)(void *arg, int status), void *arg);
/* A key for vg_journal_record.labels_key not given out before (never 0). */
uint64_t vg_journal_label_key(struct vg_journal *j);

/* A named reader with its own cursor, persisted in <dir>/cursors/<name>
 * (written atomically: tmp file + fsync + rename).  A new reader starts at
 * the oldest record still in the journal.  Names: [A-Za-z0-9_.-]+, not
 * starting with '.' (-EINVAL).  Asking again for a name already open
 * gives the same reader (a reloaded exporter carries on where the old
 * instance stopped).  The journal owns readers; they are freed by
 * vg_journal_close.  Reads the cursor file synchronously: call it at
 * start or reload, not per batch. */
int vg_journal_reader(struct vg_journal *j, const char *name,
                      struct vg_journal_reader **out);
/* Whether `name` may name a reader: [A-Za-z0-9_.-]+, not starting with
 * '.'. */
bool vg_journal_valid_name(const char *name);

struct vg_journal_batch {
  struct vg_journal_record *records; /* strings owned by the batch */
  size_t count;
  uint64_t next_seq; /* where the cursor goes when this batch is
                        acknowledged */
  /* The batch's arena and what the reader learns from it live behind this
   * struct, in the same allocation. */
};

/* Reads up to max_records (>= 1, else -EINVAL) records / max_bytes bytes of
 * encoded records (at least one record whatever max_bytes) from the
 * reader's cursor, decoding them in the thread pool; cb(arg, status, batch)
 * runs on the loop.  status < 0: batch is NULL.  An empty batch (count 0)
 * means the reader is at the head.  One read at a time per reader (-EBUSY
 * otherwise); -ESHUTDOWN after vg_journal_close.  Reading never moves the
 * cursor: vg_journal_ack does. */
int vg_journal_read(struct vg_journal_reader *r, size_t max_records,
                    size_t max_bytes,
                    void (*cb)(void *arg, int status,
                               struct vg_journal_batch *batch),
                    void *arg);
void vg_journal_batch_free(struct vg_journal_batch *b); /* NULL-safe */
/* Frees b (read by r), keeping its memory for r's next read: a batch of
 * 10,000 samples is a megabyte, a mapping of its own, faulted in afresh
 * by every read otherwise.  NULL-safe. */
void vg_journal_batch_recycle(struct vg_journal_reader *r,
                              struct vg_journal_batch *b);

/* Moves the reader's cursor past `next_seq - 1` and persists it (cursor
 * writes are coalesced: a moved cursor goes with the next commit of
 * appends, or ten commit windows later when none comes, on the commit
 * thread; vg_journal_close writes the final
 * cursors).
 * A next_seq at or behind the cursor changes nothing.  Segments that every
 * open reader has passed are then deleted. */
void vg_journal_ack(struct vg_journal_reader *r, uint64_t next_seq);
/* The batch last read is not in flight any more (its sender waits before
 * trying again, or stopped).  A batch in flight holds back a drop at
 * max_bytes of its segment (its sender may be delivering it); once
 * released, a drop may take its records, counts them as dropped, and
 * moves the cursor past them. */
void vg_journal_release(struct vg_journal_reader *r);
/* The batch last read (up to next_seq) is to be sent again: in flight
 * once more.  Returns the cursor: records below it were dropped at
 * max_bytes (and counted) while the batch was released, and must not be
 * sent. */
uint64_t vg_journal_hold(struct vg_journal_reader *r, uint64_t next_seq);
/* Forgets a reader whose exporter is gone (its cursor file stays, for an
 * exporter of that name configured again): it no longer holds segments
 * back.  Not while a read of it is in flight. */
void vg_journal_reader_close(struct vg_journal_reader *r);

struct vg_journal_reader_stats {
  uint64_t cursor_seq;      /* next record to read */
  uint64_t lag_records;     /* records not yet delivered: from the cursor
                               to the head (a batch in flight included),
                               and those a max_bytes drop passed over
                               until that drop is on disk */
  int64_t oldest_ts_ms;     /* ts_ms of the record at the cursor; 0 when
                               none or not yet known (it is learnt by
                               reading) */
  uint64_t dropped_records; /* records this reader never got because
                               max_bytes dropped their segment (exact;
                               counted once the cursor past them is on
                               disk, so a crash cannot count them and
                               deliver them too) */
  uint64_t corrupt_records; /* records lost to damage (CRC mismatch, torn
                               write), exact by sequence-number gaps */
};
void vg_journal_reader_stats(const struct vg_journal_reader *r,
                             struct vg_journal_reader_stats *out);

struct vg_journal_stats {
  uint64_t failed_records; /* appended but lost to a failed write (ENOSPC) */
  uint64_t bytes, segments, head_seq /* last assigned */, appended_records,
      corrupt_records;
  uint64_t max_bytes; /* the cap it was opened with */
  double last_fsync_seconds;
  uint64_t fsyncs;
  double fsync_seconds_total;
  uint64_t written_bytes; /* segment bytes ever committed, headers
                             included: bytes per sample appended */
};
void vg_journal_stats(const struct vg_journal *j, struct vg_journal_stats *out);

/* --- for tests and fuzzing ------------------------------------------- */

/* Appends the framed encoding of one record in format 1, with rec->seq,
 * to out (the bytes a reader's max_bytes counts per sample).
 * 0, -EMSGSIZE (too large), or -ENOSPC (out's cap). */
int vg__journal_encode(const struct vg_journal_record *rec, struct vg_buf *out);

/* Decodes a segment's records region (what follows its 8-byte header) of
 * format `version` (1: a record per sample, 2: blocks) as a reader does,
 * skipping damage; calls `found` for every sample with the framed bytes
 * of its record (a slice of p).  The sample's strings are valid during
 * the call only.  Returns the number of samples found. */
size_t vg__journal_decode(const char *p, size_t len, unsigned version,
                          void (*found)(void *arg,
                                        const struct vg_journal_record *rec,
                                        const char *frame, size_t frame_len),
                          void *arg);
/* Decodes one block's payload (format 2, without its frame) and calls
 * `found` for each of its samples; returns their number, 0 when it does
 * not decode (then `found` was never called). */
size_t vg__journal_decode_block(
    const char *payload, size_t len,
    void (*found)(void *arg, const struct vg_journal_record *rec), void *arg);

#endif
