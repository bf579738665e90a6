/* daemon/pipeline/journal_int.h - what the journal's own files share.
 *
 * The journal is five files, one job each:
 *   journal.c         open and close, the folder and its file I/O helpers
 *   journal_codec.c   the on-disk format: records, frames, CRC32C
 *   journal_block.c   format 2's compressed blocks of samples
 *   journal_writer.c  appends, group commit, segments, max_bytes
 *   journal_reader.c  readers: cursors, reading batches, acks
 * Only they include this header; everyone else uses journal.h.  Names here
 * are vg__journal_*.  Everything below runs on the loop thread unless it
 * says it runs in the thread pool or on the commit thread.
 */
#ifndef VG_JOURNAL_INT_H
#define VG_JOURNAL_INT_H

#include "daemon/pipeline/journal.h"
#include "daemon/util/buf.h"
#include "daemon/util/log.h" /* struct vg_complaint */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* A segment's header ("VGJ1" + u32 version) and a record's frame header
 * (sync marker, payload length, CRC), in bytes. */
#define VG__JOURNAL_SEG_HDR 8
#define VG__JOURNAL_REC_HDR 12
/* A block (format 2) holds at most this many samples, a batch's worth
 * (push exporters read 10000 by default), and at most this many raw
 * (decompressed) bytes. */
#define VG__JOURNAL_BLOCK_SAMPLES 8192
#define VG__JOURNAL_BLOCK_RAW ((size_t)8 << 20)
/* In a pending commit's records buffer (journal_writer.c), the bit of a
 * record's u32 length saying its labels are the previous record's. */
#define VG__JOURNAL_SAME_LABELS 0x80000000u
/* <dir>/head: "VGH1", the highest sequence number ever committed (u64)
 * and a CRC32C of those 12 bytes (u32).  Rewritten in place after every
 * commit that wrote records, so that a newest segment cut short is
 * counted as the records it held and no sequence number is used twice. */
#define VG__JOURNAL_HEAD_SIZE 16

/* --- state (journal.c creates it, every file reads it) --------------- */

struct vg__journal_seg {
  uint64_t first_seq; /* from its file name */
  /* Its own for the journal's life, from 1: a file name can come back
   * (the seqs of a failed commit are used again), and a reader that
   * keeps a segment open knows it by this. */
  uint64_t serial;
  uint64_t bytes; /* committed: what readers may read */
  unsigned refs;  /* reads in flight using it */
  bool removed;   /* out of the list; unlinked when refs reach 0 */
};

struct vg__journal_commit; /* journal_writer.c */

struct vg_journal_reader {
  struct vg_journal *j;
  char *name, *path; /* owned */
  uint64_t cursor, persisted;
  bool dirty, reading;
  uint64_t dropped, corrupt, corrupt_upto; /* gaps below corrupt_upto are
                                              counted */
  bool oldest_known;
  int64_t oldest_ts;
  /* Where the cursor's record is in its segment, when known. */
  bool hint_valid;
  uint64_t hint_seq, hint_seg, hint_off;
  /* What the last delivered batch said about its next_seq. */
  uint64_t last_next;
  /* A batch in flight, [held_from, held_next) (held_next 0: none): from
   * its read until it is acknowledged or released.  A drop at max_bytes
   * waits for it: its sender may be delivering it right now, and a crash
   * then must find it on disk again. */
  uint64_t held_from, held_next;
  /* Records a max_bytes drop moved the cursor past, counted in `dropped`
   * once the cursor that skips them is on disk: a crash before that finds
   * them again, and they are delivered, not lost. */
  uint64_t drop_pending;
  bool closed; /* its exporter is gone: vg_journal_reader_close */
  bool last_hint_valid, last_ts_known;
  uint64_t last_hint_seg, last_hint_off;
  int64_t last_ts;
  /* Owned, kept between reads (journal_reader.c): a batch's memory given
   * back by vg_journal_batch_recycle, and the decoder of blocks. */
  struct batch_impl *spare;
  struct read_cache *cache;
};

struct vg_journal {
  uv_loop_t *loop;
  char *dir; /* owned; read by workers, never changed */
  uint64_t max_bytes, segment_bytes;
  int64_t window_ms;
  enum vg_fsync_policy fsync;
  int active_fd; /* used by one commit job at a time; -1: none yet */
  struct vg__journal_seg **segs; /* owned, oldest first */
  size_t nsegs, capsegs;
  uint64_t seg_serials; /* the last segment's serial */
  uint64_t bytes, head_seq;
  struct vg_journal_reader **readers; /* owned */
  size_t nreaders, capreaders;
  struct vg__journal_commit *pending, *committing;
  /* The records buffer of the last commit, kept for the next: a fresh one
   * each window would fault its pages in again and regrow. */
  struct vg_buf spare;
  /* What recent commits held (the largest, decaying): a new pending
   * commit reserves it at once rather than regrowing, copy by copy, to
   * it while the one before is written. */
  size_t recs_hint;
  uint64_t next_label_key; /* the last given by vg_journal_label_key */
  /* Which format the active segment has: commits start a new segment
   * rather than add blocks to a segment of format 1. */
  unsigned active_version;
  struct vg__journal_builder *builder; /* owned; used by the commit thread */
  uint64_t *unlinks; /* owned: first seqs of segments to unlink */
  size_t nunlinks, capunlinks;
  uv_timer_t timer; /* cursor writes and unlinks: ten windows after */
  uv_idle_t kick;   /* appends: a commit once this loop turn is done */
  bool timer_armed, commit_again, closing, finishing;
  /* The commit thread (journal_writer.c): commits run on a thread of the
   * journal's own, not in libuv's pool, so that parse jobs filling the
   * pool never delay the fsync that acknowledgements wait for.  One
   * commit at a time: `writer_job` is handed over under the lock and
   * `writer_done` handed back through `writer_async`. */
  uv_thread_t writer;
  uv_mutex_t writer_lock;
  uv_cond_t writer_cond;
  uv_async_t writer_async;
  struct vg__journal_commit *writer_job, *writer_done;
  bool writer_quit;
  unsigned handles_open; /* timer, kick and writer_async, until closed */
  unsigned reads_inflight;
  void (*closed)(void *arg);
  void *closed_arg;
  struct vg_complaint write_complaint;
  struct vg_journal_stats stats;
  uint64_t corrupt_upto; /* journal-wide gap counting watermark */
  /* Records open found missing at the end of the newest segment: counted
   * as corrupt at once, so readers that meet the gap do not count them
   * for the journal again. */
  uint64_t lost_from, lost_to;
  int head_fd; /* <dir>/head, written by commit jobs; -1: none */
  struct vg_complaint cursor_complaint;
};

/* --- journal_codec.c: the format; pure, callable from any thread ----- */

static inline uint32_t vg__journal_get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline void vg__journal_put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* Fills the VG__JOURNAL_SEG_HDR bytes a segment starts with. */
void vg__journal_seg_header(unsigned char *out);
/* The format of a segment from its header: 1, 2, or 0 (not a segment, or
 * a format this release does not know). */
unsigned vg__journal_seg_version(const unsigned char *hdr);

/* Appends a record's payload without its seq (which is assigned at commit
 * time) to b: 0, or -ENOSPC at b's cap.  Without labels (with_labels
 * false) it stops after the metric name: a pending record whose labels
 * are the previous record's (VG__JOURNAL_SAME_LABELS). */
int vg__journal_encode_rest(struct vg_buf *b, const struct vg_journal_record *r,
                            bool with_labels);

/* Writes the frame header of the plen payload bytes that follow it at
 * out + VG__JOURNAL_REC_HDR; returns the framed length. */
size_t vg__journal_frame_payload(unsigned char *out, size_t plen);

/* A validated record.  One sample (format 1, or a sample of a block):
 * seq, ts, value, and its labels walked again from `labels` with
 * vg__journal_get_string, two strings (name, value) per label.  A block
 * (format 2): `count` samples from `seq`, the codec and data to decode
 * with vg__journal_block_decode. */
struct vg__journal_view {
  unsigned version;
  uint64_t seq, count;
  int64_t ts;
  double value;
  const unsigned char *metric, *labels, *end;
  size_t mlen, nlabels;
  /* A sample of a block: its metric name's and label set's index in the
   * block's tables (the same for every sample of a series). */
  uint32_t name_idx, set_idx;
  unsigned codec;
  const unsigned char *data;
  size_t dlen, raw_len;
};

/* The bytes a sample's record takes in format 1: what a batch's
 * max_bytes counts, whatever the format on disk. */
size_t vg__journal_record_size(const struct vg__journal_view *v);

bool vg__journal_get_string(const unsigned char **p, const unsigned char *end,
                            const unsigned char **s, size_t *len);
/* The same for bytes vg__journal_get_string accepted before (a block's
 * label sets once decoded, what encode_rest wrote): no checks again. */
void vg__journal_take_string(const unsigned char **p, const unsigned char **s,
                             size_t *len);

enum { VG__JOURNAL_FOUND, VG__JOURNAL_NEED_MORE, VG__JOURNAL_END };

/* Finds the next valid record at or after *off in p[0..len), the records
 * of a segment of format `version`, skipping damage.  FOUND: *off is its
 * start, *flen its framed length.  NEED_MORE (only when !at_eof): more
 * data is needed to decide; resume at *off.  END: nothing valid remains. */
int vg__journal_next_record(const unsigned char *p, size_t len, bool at_eof,
                            unsigned version, size_t *off,
                            struct vg__journal_view *v, size_t *flen);

/* --- journal_block.c: blocks; builders on the commit thread, blocks in
 * whichever thread owns them ------------------------------------------ */

struct vg__journal_builder;
struct vg__journal_builder *vg__journal_builder_new(void);
void vg__journal_builder_free(struct vg__journal_builder *bb); /* NULL-safe */
/* Adds a record's payload without seq (vg__journal_encode_rest's bytes) to
 * the block being built; false when the block is full (at
 * VG__JOURNAL_BLOCK_SAMPLES, or past about raw_cap raw bytes): finish it
 * first.  An empty block takes any record.  same_labels: rest stops after
 * the metric name, and the labels are those of the record added before
 * (in this block or the one finished before it). */
bool vg__journal_builder_add(struct vg__journal_builder *bb,
                             const unsigned char *rest, size_t rlen,
                             bool same_labels, size_t raw_cap);
/* Appends the block, framed as one record whose samples start at
 * first_seq, to out; returns its framed length.  The builder is empty
 * again. */
size_t vg__journal_builder_finish(struct vg__journal_builder *bb,
                                  uint64_t first_seq, struct vg_buf *out);

struct vg__journal_block;
struct vg__journal_block *vg__journal_block_new(void);
void vg__journal_block_free(struct vg__journal_block *d); /* NULL-safe */
/* Decodes the block record v (format 2); false when its bytes do not
 * hold a valid block.  Its samples point into d only: valid until the
 * next decode. */
bool vg__journal_block_decode(struct vg__journal_block *d,
                              const struct vg__journal_view *v);
/* Sample i (< v->count) of the block last decoded, as a one-sample view. */
void vg__journal_block_sample(const struct vg__journal_block *d, size_t i,
                              struct vg__journal_view *out);

/* --- journal.c: files, called on the loop at open, else in the pool -- */

/* <dir>/<first seq, 20 digits>.seg; the caller frees it. */
char *vg__journal_seg_path(const char *dir, uint64_t first_seq);
int vg__journal_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* -EIO when the file is shorter than n bytes from off. */
int vg__journal_pread_all(int fd, void *p, size_t n, uint64_t off);
int vg__journal_write_header(int fd);
/* Records `head` in <dir>/head (thread pool, after a commit's records are
 * written; no fsync: see journal.c). */
void vg__journal_write_head(int fd, uint64_t head);
/* The cursor file's seq: 0, -ENOENT when missing, -EINVAL unreadable. */
int vg__journal_load_cursor(const char *path, uint64_t *seq);
void vg__journal_fsync_dir(const char *path);
/* Closing: frees the journal once no commit or read is in flight and
 * nothing is left to commit (else starts that commit). */
void vg__journal_finish_close(struct vg_journal *j);

/* --- journal_writer.c ------------------------------------------------- */

/* Starts the commit thread (at open) and stops it (at close, once no
 * commit is in flight): joins it and closes its async handle, whose
 * close callback is `closed`. */
int vg__journal_writer_start(struct vg_journal *j);
void vg__journal_writer_stop(struct vg_journal *j, uv_close_cb closed);

/* Arms the commit timer when there is work, or goes on closing. */
void vg__journal_schedule(struct vg_journal *j);
/* Queues a commit of what is pending now (records, cursors, unlinks). */
void vg__journal_start_commit(struct vg_journal *j);
bool vg__journal_has_work(const struct vg_journal *j);
/* Called when s has left j->segs, and again by the last read in flight
 * that used it: once no read uses it, closes the readers' descriptors of
 * it, frees it and queues its file for the next commit to unlink. */
void vg__journal_retire(struct vg_journal *j, struct vg__journal_seg *s);
/* Removes the segments every open reader has passed. */
void vg__journal_delete_passed(struct vg_journal *j);
/* Frees what a reader keeps between reads (journal_reader.c). */
void vg__journal_reader_free_caches(struct vg_journal_reader *r);
/* The reader's kept descriptor of the segment of this serial closed (a
 * segment being deleted); a read in flight has the cache, and the
 * segment is deleted only once that read is over. */
void vg__journal_reader_forget(struct vg_journal_reader *r, uint64_t serial);
/* Drops oldest segments while the journal is over max_bytes, but never
 * one that holds a batch in flight; called after commits, acks and
 * releases. */
void vg__journal_enforce_max_bytes(struct vg_journal *j);

#endif
