/* daemon/pipeline/journal_reader.c - the journal's readers.
 *
 * Owns each reader's cursor (in memory; journal_writer.c persists it with
 * the next commit) and the reads: a read job decodes records from the
 * segments into a batch in the thread pool, and the loop learns from the
 * batch what the cursor needs (gaps, timestamps, where the next record is).
 * Must never: move a cursor on a read (only an ack does), touch the disk
 * on the loop thread but to load a cursor file when a reader is opened,
 * or count a gap twice.
 *
 * Seeking: a reader remembers the file offset where its last acknowledged
 * batch ended, so sequential reading never rescans; otherwise (after a
 * reopen or a drop) a read scans its segment from the start.
 */
#include "daemon/pipeline/journal_int.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_WINDOW ((size_t)256 << 10)
/* What a read reserves for its batch at once, at most: growing the arena
 * and the records by doubling copied each batch over again and faulted in
 * fresh pages each time (realloc's copies alone were 10% of the daemon's
 * CPU in bench/run-intake.sh --quick --profile).  Sized by the batch's
 * limits, so that small reads stay small. */
#define RESERVE_RECORDS ((size_t)1 << 16)
#define RESERVE_PER_RECORD 128 /* strings of a typical sample */

/* --- reads ------------------------------------------------------------ */

/* Counts the part of the gap [from, to) not counted before, for the reader
 * and for the journal. */
static void count_gap(struct vg_journal_reader *r, uint64_t from, uint64_t to) {
  struct vg_journal *j = r->j;
  uint64_t a = from > r->corrupt_upto ? from : r->corrupt_upto;
  if (to > a) {
    r->corrupt += to - a;
    r->corrupt_upto = to;
    vg_log(VG_LOG_WARNING,
           "journal: reader %s: %" PRIu64 " records lost to damage (%" PRIu64
           " to %" PRIu64 ")",
           r->name, to - a, a, to - 1);
  }
  a = from > j->corrupt_upto ? from : j->corrupt_upto;
  if (to > a) {
    /* Less what open counted already (the end of the newest segment). */
    uint64_t lo = a > j->lost_from ? a : j->lost_from;
    uint64_t hi = to < j->lost_to ? to : j->lost_to;
    j->stats.corrupt_records += to - a - (hi > lo ? hi - lo : 0);
    j->corrupt_upto = to;
  }
}

struct gap {
  uint64_t from, to;
};

struct rec_at {
  size_t metric; /* in moffs */
  size_t labels; /* first of its labels, in offs / 2 */
};

/* The label sets and metric names of the block being read that are in the
 * batch already, by their index in the block: a series' strings are
 * copied once per block, not per sample, and its records share them. */
struct shared {
  uint32_t gen; /* of the block being read; stamps below of others */
  uint32_t set_gen[VG__JOURNAL_BLOCK_SAMPLES],
      name_gen[VG__JOURNAL_BLOCK_SAMPLES];
  size_t set_at[VG__JOURNAL_BLOCK_SAMPLES], name_at[VG__JOURNAL_BLOCK_SAMPLES];
};

struct batch_impl {
  struct vg_journal_batch pub; /* first: the public pointer is this one */
  struct vg_buf arena;         /* strings, NUL-terminated */
  struct vg_label *labels;
  size_t caplabels;
  /* While decoding, offsets in the arena: of label names and values (two
   * per label, a label set once per block it is used in), of metric names
   * (once per block), and per record where its metric and labels are. */
  size_t *offs, *moffs;
  /* The length of each string of offs, for vg_journal_record.label_lens:
   * the block says it, so no sender measures it again. */
  uint32_t *lens;
  struct rec_at *at;
  size_t noffs, capoffs, caplens, nmoffs, capmoffs, capat, caprecs, bytes;
  struct gap *gaps;
  size_t ngaps, capgaps;
  bool hint_valid, ts_known;
  uint64_t hint_seg, hint_off;
  int64_t next_ts;
};

/* What a read needs besides its batch, kept on the reader between reads
 * (one read at a time per reader): made afresh per read, the decoder's
 * half megabyte and the window were faulted in again every time. */
struct read_cache {
  struct vg__journal_block *block; /* owned; made at the first block */
  /* Which block it holds decoded: a batch that ends inside a block leaves
   * the rest to the next read, which starts at that block.  Decoding it
   * again cost a third of each read in a drain of 10,000-sample batches
   * (bench/run-push.sh --profile, blocks of 8,192).  A committed block's
   * bytes never change, so its place names it. */
  bool block_valid;
  uint64_t block_seg, block_at, block_seq;
  struct shared shared;
  unsigned char *window; /* owned: segment bytes being decoded */
  size_t window_cap;
  /* The segment the last read ended in, kept open (its serial; 0: none)
   * for the next read, which most often starts there: an open per read
   * was a fifth of a drain's system time.  Closed when the segment is
   * deleted (vg__journal_reader_forget), so that a reader that does not
   * read for a while (a sink down, a sender paused) holds no disk space
   * that max_bytes gave up. */
  int fd;
  uint64_t fd_serial;
  unsigned fd_version;
};

struct seg_ref {
  struct vg__journal_seg *seg;
  uint64_t first_seq, bytes;
};

struct read_job {
  uv_work_t work;
  struct vg_journal_reader *r;
  uint64_t cursor;
  uint64_t head; /* the journal's head when the read began */
  size_t max_records, max_bytes;
  struct seg_ref *segs;
  size_t nsegs;
  bool use_hint;
  uint64_t hint_off;
  struct batch_impl *b;
  struct read_cache *cache; /* the reader's, lent for the read */
  int status;
  void (*cb)(void *arg, int status, struct vg_journal_batch *batch);
  void *arg;
};

static void push_string(struct vg_buf *arena, size_t **offs, size_t *n,
                        size_t *cap, const unsigned char *s, size_t len) {
  *offs = vg_grow(*offs, cap, *n + 1, sizeof **offs);
  (*offs)[(*n)++] = arena->len;
  /* The arena is capped at SIZE_MAX / 2: these appends cannot fail. */
  vg_buf_append(arena, s, len);
  vg_buf_putc(arena, '\0');
}

/* Copies v's labels into the arena; returns the first one's place in
 * offs / 2.  Each string's length (a byte or more before it) becomes its
 * NUL after it, so the encoded labels' size is room for all of them: the
 * room is made once, and the strings copied straight in. */
static size_t copy_labels(struct batch_impl *b,
                          const struct vg__journal_view *v) {
  size_t first = b->noffs / 2;
  b->offs =
      vg_grow(b->offs, &b->capoffs, b->noffs + 2 * v->nlabels, sizeof *b->offs);
  b->lens =
      vg_grow(b->lens, &b->caplens, b->noffs + 2 * v->nlabels, sizeof *b->lens);
  /* The arena is capped at SIZE_MAX / 2: this cannot fail. */
  (void)vg_buf_reserve(&b->arena, (size_t)(v->end - v->labels));
  struct vg_buf *a = &b->arena;
  const unsigned char *q = v->labels, *s = NULL;
  size_t n = 0;
  for (size_t i = 0; i < 2 * v->nlabels; i++) {
    vg__journal_take_string(&q, &s, &n);
    /* A record is at most VG_JOURNAL_MAX_RECORD: the length fits. */
    b->lens[b->noffs] = (uint32_t)n;
    b->offs[b->noffs++] = a->len;
    memcpy(a->data + a->len, s, n);
    a->len += n;
    a->data[a->len++] = '\0';
  }
  a->data[a->len] = '\0';
  return first;
}

static size_t copy_metric(struct batch_impl *b,
                          const struct vg__journal_view *v) {
  push_string(&b->arena, &b->moffs, &b->nmoffs, &b->capmoffs, v->metric,
              v->mlen);
  return b->nmoffs - 1;
}

/* Adds sample v; sh (NULL for a sample of format 1) shares the strings of
 * the block's series taken before. */
static void add_record(struct batch_impl *b, const struct vg__journal_view *v,
                       struct shared *sh) {
  struct vg_journal_batch *p = &b->pub;
  p->records =
      vg_grow(p->records, &b->caprecs, p->count + 1, sizeof *p->records);
  b->at = vg_grow(b->at, &b->capat, p->count + 1, sizeof *b->at);
  struct rec_at *at = &b->at[p->count];
  p->records[p->count++] = (struct vg_journal_record){
      .nlabels = v->nlabels, .value = v->value, .ts_ms = v->ts, .seq = v->seq};
  if (!sh) {
    at->metric = copy_metric(b, v);
    at->labels = copy_labels(b, v);
    return;
  }
  if (sh->name_gen[v->name_idx] != sh->gen) {
    sh->name_gen[v->name_idx] = sh->gen;
    sh->name_at[v->name_idx] = copy_metric(b, v);
  }
  if (sh->set_gen[v->set_idx] != sh->gen) {
    sh->set_gen[v->set_idx] = sh->gen;
    sh->set_at[v->set_idx] = copy_labels(b, v);
  }
  at->metric = sh->name_at[v->name_idx];
  at->labels = sh->set_at[v->set_idx];
}

/* Offsets become pointers once the arena has stopped moving. */
static void finish_batch(struct batch_impl *b) {
  struct vg_journal_batch *p = &b->pub;
  /* Every entry is written below: no need to zero a megabyte per batch. */
  b->labels =
      vg_grow(b->labels, &b->caplabels, b->noffs / 2 + 1, sizeof *b->labels);
  for (size_t i = 0; i < b->noffs / 2; i++)
    b->labels[i] = (struct vg_label){b->arena.data + b->offs[2 * i],
                                     b->arena.data + b->offs[2 * i + 1]};
  for (size_t i = 0; i < p->count; i++) {
    p->records[i].metric = b->arena.data + b->moffs[b->at[i].metric];
    p->records[i].labels = b->labels + b->at[i].labels;
    /* No lengths when no record of the batch has labels. */
    p->records[i].label_lens = b->lens ? b->lens + 2 * b->at[i].labels : NULL;
  }
}

/* Adds sample v, found at `at` in segment s, to the batch unless the
 * batch is full; 1 when it is (v then tells where the next batch starts:
 * `at` is its record's place, a block's when it is one). */
static int take(struct read_job *job, const struct seg_ref *s, uint64_t at,
                const struct vg__journal_view *v, struct shared *sh,
                uint64_t *expected) {
  struct batch_impl *b = job->b;
  struct vg_journal_batch *p = &b->pub;
  size_t size = vg__journal_record_size(v);
  if (p->count == job->max_records ||
      (p->count && b->bytes + size > job->max_bytes)) {
    b->ts_known = true;
    b->next_ts = v->ts;
    b->hint_valid = true;
    b->hint_seg = s->first_seq;
    b->hint_off = at;
    return 1;
  }
  if (v->seq > *expected) {
    b->gaps = vg_grow(b->gaps, &b->capgaps, b->ngaps + 1, sizeof *b->gaps);
    b->gaps[b->ngaps++] = (struct gap){*expected, v->seq};
  }
  add_record(b, v, sh);
  b->bytes += size;
  *expected = v->seq + 1;
  return 0;
}

/* Takes the samples of block v (at `at` in s) from *expected on; 1 when
 * the batch is full.  A block that does not decode (its CRC held) is
 * skipped: its samples are a gap, counted as damage. */
static int take_block(struct read_job *job, const struct seg_ref *s,
                      uint64_t at, const struct vg__journal_view *v,
                      uint64_t *expected) {
  struct read_cache *c = job->cache;
  if (!c->block)
    c->block = vg__journal_block_new();
  /* Generation 0 is never used: calloc's stamps match no block. */
  if (++c->shared.gen == 0) {
    memset(&c->shared, 0, sizeof c->shared);
    c->shared.gen = 1;
  }
  bool held = c->block_valid && c->block_seg == s->first_seq &&
              c->block_at == at && c->block_seq == v->seq;
  if (!held) {
    c->block_valid = false;
    if (!vg__journal_block_decode(c->block, v)) {
      vg_log(VG_LOG_WARNING,
             "journal: segment %020" PRIu64 ", offset %" PRIu64
             ": block of samples %" PRIu64 " to %" PRIu64 " does not decode",
             s->first_seq, at, v->seq, v->seq + v->count - 1);
      return 0;
    }
    c->block_valid = true;
    c->block_seg = s->first_seq;
    c->block_at = at;
    c->block_seq = v->seq;
  }
  for (uint64_t i = *expected > v->seq ? *expected - v->seq : 0; i < v->count;
       i++) {
    struct vg__journal_view sample;
    vg__journal_block_sample(c->block, (size_t)i, &sample);
    if (take(job, s, at, &sample, &c->shared, expected))
      return 1;
  }
  return 0;
}

static void close_segment(struct read_cache *c) {
  if (c->fd_serial)
    close(c->fd);
  c->fd_serial = 0;
}

/* The segment open in the cache, the one kept or opened now: 0; 1 when
 * it is gone (removed by hand: its records count as a gap) or of a
 * format this release does not read; or -errno. */
static int open_segment(struct read_job *job, const struct seg_ref *s) {
  struct read_cache *c = job->cache;
  if (c->fd_serial == s->seg->serial)
    return 0;
  close_segment(c);
  char *path = vg__journal_seg_path(job->r->j->dir, s->first_seq);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    free(path);
    return errno == ENOENT ? 1 : -errno;
  }
  unsigned char hdr[VG__JOURNAL_SEG_HDR];
  int rc = vg__journal_pread_all(fd, hdr, sizeof hdr, 0);
  unsigned version = rc ? 0 : vg__journal_seg_version(hdr);
  if (rc == 0 && version == 0)
    /* Open checks only the newest segment: its records are a gap. */
    vg_log(VG_LOG_WARNING, "journal: %s: not a segment this release reads",
           path);
  free(path);
  if (rc || version == 0) {
    close(fd);
    return rc ? rc : 1;
  }
  c->fd = fd;
  c->fd_serial = s->seg->serial;
  c->fd_version = version;
  return 0;
}

/* Reads one segment from `start`; returns 1 when the batch is full, 0 to
 * go on with the next segment, -errno on error. */
static int read_segment(struct read_job *job, const struct seg_ref *s,
                        uint64_t start, uint64_t *expected) {
  struct batch_impl *b = job->b;
  int rc = open_segment(job, s);
  if (rc)
    return rc < 0 ? rc : 0;
  struct read_cache *c = job->cache;
  int fd = c->fd;
  unsigned version = c->fd_version;
  size_t win = READ_WINDOW;
  while (start < s->bytes && rc == 0) {
    size_t n = s->bytes - start < win ? (size_t)(s->bytes - start) : win;
    c->window = vg_grow(c->window, &c->window_cap, n, 1);
    unsigned char *buf = c->window;
    rc = vg__journal_pread_all(fd, buf, n, start);
    bool at_eof = start + n == s->bytes;
    size_t off = 0, flen;
    struct vg__journal_view v;
    int found = VG__JOURNAL_END;
    while (rc == 0 &&
           (found = vg__journal_next_record(buf, n, at_eof, version, &off, &v,
                                            &flen)) == VG__JOURNAL_FOUND) {
      if (v.seq + v.count <= *expected) {
        off += flen;
        continue;
      }
      rc = version == 1 ? take(job, s, start + off, &v, NULL, expected)
                        : take_block(job, s, start + off, &v, expected);
      if (rc)
        break;
      off += flen;
      b->hint_valid = true;
      b->hint_seg = s->first_seq;
      b->hint_off = start + off;
    }
    if (rc || found == VG__JOURNAL_END)
      break;
    /* NEED_MORE: slide the window; widen it when no progress was made. */
    if (off == 0)
      win *= 2;
    start += off;
  }
  if (rc < 0)
    close_segment(c); /* opened again by the next read */
  return rc;
}

static void read_work(uv_work_t *work) {
  struct read_job *job = work->data;
  struct batch_impl *b = job->b;
  uint64_t expected = job->cursor;
  int rc = 0;
  if (job->nsegs) {
    size_t recs =
        job->max_records < RESERVE_RECORDS ? job->max_records : RESERVE_RECORDS;
    size_t bytes = recs * RESERVE_PER_RECORD;
    vg_buf_reserve(&b->arena, bytes < job->max_bytes ? bytes : job->max_bytes);
    b->pub.records =
        vg_grow(b->pub.records, &b->caprecs, recs, sizeof *b->pub.records);
  }
  for (size_t i = 0; i < job->nsegs && rc == 0; i++) {
    uint64_t start =
        i == 0 && job->use_hint ? job->hint_off : VG__JOURNAL_SEG_HDR;
    rc = read_segment(job, &job->segs[i], start, &expected);
    if (rc < 0)
      job->status = rc;
  }
  /* Every segment read to its end and the head not reached: the records
   * up to the head are gone (a cut newest segment, a segment removed by
   * hand).  No later record will tell, so the gap is counted now. */
  if (rc == 0 && expected <= job->head) {
    b->gaps = vg_grow(b->gaps, &b->capgaps, b->ngaps + 1, sizeof *b->gaps);
    b->gaps[b->ngaps++] = (struct gap){expected, job->head + 1};
    expected = job->head + 1;
  }
  b->pub.next_seq = expected;
  finish_batch(job->b);
}

static void read_after(uv_work_t *work, int status) {
  struct read_job *job = work->data;
  struct vg_journal_reader *r = job->r;
  struct vg_journal *j = r->j;
  struct batch_impl *b = job->b;
  j->reads_inflight--;
  r->reading = false;
  r->cache = job->cache;
  if (r->closed)
    vg__journal_reader_free_caches(r);
  for (size_t i = 0; i < job->nsegs; i++) {
    struct vg__journal_seg *s = job->segs[i].seg;
    if (--s->refs == 0 && s->removed)
      vg__journal_retire(j, s);
  }
  free(job->segs);
  if (job->status == 0) {
    for (size_t i = 0; i < b->ngaps; i++)
      count_gap(r, b->gaps[i].from, b->gaps[i].to);
    if (b->pub.count && b->pub.records[0].seq >= r->cursor) {
      r->oldest_known = true;
      r->oldest_ts = b->pub.records[0].ts_ms;
    }
    r->last_next = b->pub.next_seq;
    if (b->pub.count) {
      r->held_from = r->cursor;
      r->held_next = b->pub.next_seq;
    }
    r->last_hint_valid = b->hint_valid;
    r->last_hint_seg = b->hint_seg;
    r->last_hint_off = b->hint_off;
    r->last_ts_known = b->ts_known;
    r->last_ts = b->next_ts;
    job->cb(job->arg, 0, &b->pub);
  } else {
    vg_journal_batch_free(&b->pub);
    job->cb(job->arg, job->status, NULL);
  }
  free(job);
  vg__journal_schedule(j); /* retired segments, or the close that waited */
}

int vg_journal_read(struct vg_journal_reader *r, size_t max_records,
                    size_t max_bytes,
                    void (*cb)(void *arg, int status,
                               struct vg_journal_batch *batch),
                    void *arg) {
  struct vg_journal *j = r->j;
  if (j->closing)
    return -ESHUTDOWN;
  if (r->reading)
    return -EBUSY;
  if (max_records == 0)
    return -EINVAL;
  struct read_job *job = vg_calloc(1, sizeof *job);
  job->work.data = job;
  job->r = r;
  job->cursor = r->cursor;
  job->head = j->head_seq;
  job->max_records = max_records;
  job->max_bytes = max_bytes;
  job->cb = cb;
  job->arg = arg;
  if (r->spare) {
    job->b = r->spare;
    r->spare = NULL;
  } else {
    /* Owned by the callback's receiver: vg_journal_batch_free. */
    job->b = vg_calloc(1, sizeof *job->b);
    vg_buf_init(&job->b->arena, SIZE_MAX / 2);
  }
  /* Lent to the job, back in read_after; one read at a time. */
  job->cache = r->cache ? r->cache : vg_calloc(1, sizeof *job->cache);
  r->cache = NULL;
  /* At the head there is nothing to read: no I/O at all. */
  if (r->cursor <= j->head_seq && j->nsegs) {
    size_t first = 0;
    while (first + 1 < j->nsegs && j->segs[first + 1]->first_seq <= r->cursor)
      first++;
    job->nsegs = j->nsegs - first;
    job->segs = vg_calloc(job->nsegs, sizeof *job->segs);
    for (size_t i = 0; i < job->nsegs; i++) {
      struct vg__journal_seg *s = j->segs[first + i];
      s->refs++;
      job->segs[i] = (struct seg_ref){s, s->first_seq, s->bytes};
    }
    job->use_hint = r->hint_valid && r->hint_seq == r->cursor &&
                    r->hint_seg == job->segs[0].first_seq;
    job->hint_off = r->hint_off;
  }
  r->reading = true;
  j->reads_inflight++;
  uv_queue_work(j->loop, &job->work, read_work, read_after);
  return 0;
}

void vg_journal_batch_free(struct vg_journal_batch *pub) {
  if (!pub)
    return;
  struct batch_impl *b = (struct batch_impl *)pub;
  vg_buf_free(&b->arena);
  free(b->labels);
  free(b->offs);
  free(b->lens);
  free(b->moffs);
  free(b->at);
  free(b->gaps);
  free(pub->records);
  free(b);
}

void vg_journal_batch_recycle(struct vg_journal_reader *r,
                              struct vg_journal_batch *pub) {
  if (!pub)
    return;
  if (r->spare || r->closed) {
    vg_journal_batch_free(pub);
    return;
  }
  /* Emptied, its memory kept: the arrays are written before read. */
  struct batch_impl *b = (struct batch_impl *)pub;
  vg_buf_reset(&b->arena);
  pub->count = 0;
  pub->next_seq = 0;
  b->noffs = b->nmoffs = b->bytes = b->ngaps = 0;
  b->hint_valid = b->ts_known = false;
  b->hint_seg = b->hint_off = 0;
  b->next_ts = 0;
  r->spare = b;
}

void vg__journal_reader_forget(struct vg_journal_reader *r, uint64_t serial) {
  if (r->cache && r->cache->fd_serial == serial)
    close_segment(r->cache);
}

void vg__journal_reader_free_caches(struct vg_journal_reader *r) {
  if (r->spare)
    vg_journal_batch_free(&r->spare->pub);
  r->spare = NULL;
  if (r->cache) {
    close_segment(r->cache);
    vg__journal_block_free(r->cache->block);
    free(r->cache->window);
    free(r->cache);
    r->cache = NULL;
  }
}

/* One sample as a batch of one: the same copying a reader's batch does. */
static void
found_one(const struct vg__journal_view *v, const char *frame, size_t flen,
          void (*found)(void *arg, const struct vg_journal_record *rec,
                        const char *frame, size_t frame_len),
          void *arg) {
  struct batch_impl *b = vg_calloc(1, sizeof *b);
  vg_buf_init(&b->arena, SIZE_MAX / 2);
  add_record(b, v, NULL);
  finish_batch(b);
  found(arg, &b->pub.records[0], frame, flen);
  vg_journal_batch_free(&b->pub);
}

size_t vg__journal_decode(const char *data, size_t len, unsigned version,
                          void (*found)(void *arg,
                                        const struct vg_journal_record *rec,
                                        const char *frame, size_t frame_len),
                          void *arg) {
  const unsigned char *p = (const unsigned char *)data;
  size_t off = 0, flen, count = 0;
  struct vg__journal_view v, sample;
  struct vg__journal_block *block = NULL;
  while (vg__journal_next_record(p, len, true, version, &off, &v, &flen) ==
         VG__JOURNAL_FOUND) {
    if (version == 1) {
      found_one(&v, data + off, flen, found, arg);
      count++;
    } else {
      if (!block)
        block = vg__journal_block_new();
      if (vg__journal_block_decode(block, &v))
        for (size_t i = 0; i < v.count; i++, count++) {
          vg__journal_block_sample(block, i, &sample);
          found_one(&sample, data + off, flen, found, arg);
        }
    }
    off += flen;
  }
  vg__journal_block_free(block);
  return count;
}

size_t vg__journal_decode_block(
    const char *payload, size_t len,
    void (*found)(void *arg, const struct vg_journal_record *rec), void *arg) {
  /* Framed with a CRC that holds, so that only the block is tested. */
  unsigned char *rec = vg_malloc(VG__JOURNAL_REC_HDR + len + 1);
  memcpy(rec + VG__JOURNAL_REC_HDR, payload, len);
  size_t flen = vg__journal_frame_payload(rec, len), off = 0, count = 0;
  struct vg__journal_view v, sample;
  if (vg__journal_next_record(rec, flen, true, 2, &off, &v, &flen) ==
          VG__JOURNAL_FOUND &&
      off == 0) {
    struct vg__journal_block *block = vg__journal_block_new();
    if (vg__journal_block_decode(block, &v))
      for (; count < v.count; count++) {
        vg__journal_block_sample(block, count, &sample);
        struct batch_impl *b = vg_calloc(1, sizeof *b);
        vg_buf_init(&b->arena, SIZE_MAX / 2);
        add_record(b, &sample, NULL);
        finish_batch(b);
        found(arg, &b->pub.records[0]);
        vg_journal_batch_free(&b->pub);
      }
    vg__journal_block_free(block);
  }
  free(rec);
  return count;
}

void vg_journal_ack(struct vg_journal_reader *r, uint64_t next_seq) {
  struct vg_journal *j = r->j;
  if (next_seq > j->head_seq + 1)
    next_seq = j->head_seq + 1;
  if (next_seq >= r->held_next)
    r->held_next = 0;
  if (next_seq <= r->cursor)
    return;
  r->cursor = next_seq;
  r->dirty = true;
  bool same = next_seq == r->last_next;
  r->hint_valid = same && r->last_hint_valid;
  r->hint_seq = next_seq;
  r->hint_seg = r->last_hint_seg;
  r->hint_off = r->last_hint_off;
  r->oldest_known = same && r->last_ts_known;
  r->oldest_ts = r->last_ts;
  vg__journal_delete_passed(j);
  vg__journal_enforce_max_bytes(j);
  vg__journal_schedule(j);
}

void vg_journal_release(struct vg_journal_reader *r) {
  if (!r->held_next)
    return;
  r->held_next = 0;
  /* A drop that waited for this batch goes ahead now. */
  vg__journal_enforce_max_bytes(r->j);
  vg__journal_schedule(r->j);
}

uint64_t vg_journal_hold(struct vg_journal_reader *r, uint64_t next_seq) {
  if (next_seq > r->cursor) {
    r->held_from = r->cursor;
    r->held_next = next_seq;
  }
  return r->cursor;
}

void vg_journal_reader_close(struct vg_journal_reader *r) {
  /* Kept in memory (a commit in flight may be saving its cursor), but it
   * no longer holds segments back nor counts drops. */
  r->closed = true;
  vg__journal_reader_free_caches(r); /* a read in flight frees its own */
  vg__journal_delete_passed(r->j);
  vg__journal_schedule(r->j);
}

/* --- readers ---------------------------------------------------------- */

bool vg_journal_valid_name(const char *s) {
  if (!*s || *s == '.')
    return false;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
      return false;
  return true;
}

int vg_journal_reader(struct vg_journal *j, const char *name,
                      struct vg_journal_reader **out) {
  if (j->closing)
    return -ESHUTDOWN;
  if (!vg_journal_valid_name(name))
    return -EINVAL;
  /* A reader outlives the exporter instance that used it: after a reload
   * the new instance carries on from the same cursor. */
  for (size_t i = 0; i < j->nreaders; i++)
    if (strcmp(j->readers[i]->name, name) == 0) {
      j->readers[i]->closed = false;
      *out = j->readers[i];
      return 0;
    }
  struct vg_journal_reader *r = vg_calloc(1, sizeof *r);
  r->j = j;
  r->name = vg_strdup(name);
  r->path = vg_asprintf("%s/cursors/%s", j->dir, name);
  uint64_t oldest = j->nsegs ? j->segs[0]->first_seq : j->head_seq + 1;
  int rc = vg__journal_load_cursor(r->path, &r->cursor);
  if (rc) {
    if (rc == -ENOENT)
      vg_log(VG_LOG_INFO, "journal: reader %s is new: starts at %" PRIu64, name,
             oldest);
    else
      vg_log(VG_LOG_WARNING,
             "journal: cursor %s unreadable (%s): reader starts at the "
             "oldest record, %" PRIu64,
             r->path, strerror(-rc), oldest);
    r->cursor = oldest;
    r->dirty = true;
  } else {
    r->persisted = r->cursor;
  }
  if (r->cursor < oldest) {
    vg_log(VG_LOG_WARNING,
           "journal: reader %s lost %" PRIu64 " records (%" PRIu64
           " to %" PRIu64 ") deleted while it was not open",
           name, oldest - r->cursor, r->cursor, oldest - 1);
    r->dropped = oldest - r->cursor;
    r->cursor = oldest;
    r->dirty = true;
  } else if (r->cursor > j->head_seq + 1) {
    /* Past a torn tail that open cut off: those seqs are reused. */
    vg_log(VG_LOG_WARNING,
           "journal: reader %s cursor %" PRIu64 " is past the head; moved to "
           "%" PRIu64,
           name, r->cursor, j->head_seq + 1);
    r->cursor = j->head_seq + 1;
    r->dirty = true;
  }
  r->corrupt_upto = r->cursor;
  j->readers =
      vg_grow(j->readers, &j->capreaders, j->nreaders + 1, sizeof *j->readers);
  j->readers[j->nreaders++] = r;
  *out = r;
  vg__journal_schedule(j);
  return 0;
}

void vg_journal_reader_stats(const struct vg_journal_reader *r,
                             struct vg_journal_reader_stats *out) {
  uint64_t head = r->j->head_seq;
  out->cursor_seq = r->cursor;
  /* A max_bytes drop not yet made durable still waits: a crash would
   * deliver it (journal.h, vg_journal_reader_stats). */
  out->lag_records =
      (head + 1 > r->cursor ? head + 1 - r->cursor : 0) + r->drop_pending;
  out->oldest_ts_ms = out->lag_records && r->oldest_known ? r->oldest_ts : 0;
  out->dropped_records = r->dropped;
  out->corrupt_records = r->corrupt;
}
