/* daemon/pipeline/journal_writer.c - the journal's appends and group
 * commit.
 *
 * Owns the pending commit, the one in flight and the commit thread:
 * appends are encoded into the pending commit on the loop; as soon as no
 * commit runs, the commit thread frames them with their seqs, writes and fsyncs
 * them (spreading them over new segments past segment_bytes), writes the
 * cursors that moved and unlinks the segments that went.  The thread is
 * the journal's own rather than a job in libuv's pool: the pool also
 * parses push bodies, and four slow parses (or gzip bombs) would
 * otherwise hold back the fsync every acknowledgement waits for.  Must never:
 * touch the disk on the loop thread, let a reader see a record whose commit has
 * not succeeded, leave any byte of a failed commit on disk (its seqs are
 * reused), or lose a record without counting it.
 *
 * Space: records that would leave the disk less than VG_DISK_RESERVE are
 * refused as if it were full (ENOSPC), so that the cursors can always be
 * written and the segments they passed deleted.  After each commit, ack and
 * release, oldest segments (never the one being written, nor one a batch in
 * flight came from) are dropped while the total passes max_bytes, and
 * readers inside them are moved on; what each lost is counted once its
 * moved cursor is on disk.  After each ack, segments every open reader has
 * passed are deleted; with no reader open, segments stay until max_bytes
 * (an exporter may be configured later).  A deleted segment is unlinked
 * only once no read in flight still uses it, and only after the cursors
 * that passed it are persisted (same commit job, cursors first).
 */
#include "daemon/pipeline/journal_int.h"
#include "daemon/util/clock.h"
#include "daemon/util/diskroom.h"
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

#define MAX_PENDING ((size_t)256 << 20)
/* The largest records buffer kept from one commit for the next. */
#define SPARE_MAX ((size_t)32 << 20)

struct waiter {
  void (*durable)(void *arg, int status);
  void *arg;
};

struct cursor_write {
  struct vg_journal_reader *r;
  uint64_t value;
  uint64_t drops;   /* the reader's drop_pending this cursor settles */
  char *path, *tmp; /* owned */
  int status;
};

/* The part of a commit that goes into one segment: a commit fills the
 * active segment up to segment_bytes and goes on in new ones. */
struct piece {
  uint64_t first_seq;
  int fd;         /* -1 until a new segment is created */
  bool new_seg;   /* a segment this commit creates */
  uint64_t base;  /* where its records start in the file */
  size_t off;     /* where they start in the commit's framed buffer */
  uint64_t bytes; /* of framed records */
};

/* One group commit: the appends of one window, the cursors to persist and
 * the segments to unlink.  Inputs are filled on the loop, outputs in the
 * commit thread, and read back on the loop in commit_after(). */
struct vg__journal_commit {
  struct vg_journal *j;
  struct vg_buf recs; /* per record: u32 length + payload without seq */
  size_t nrecs;
  int64_t first_ts;
  struct waiter *waiters;
  size_t nwaiters, capwaiters;
  uint64_t last_key;        /* labels_key of the last record appended */
  uint64_t first_seq, base; /* base: the active segment's size */
  bool rotate;              /* the records start a new segment */
  int fd;                   /* the active segment, or -1 */
  struct cursor_write *cursors;
  size_t ncursors;
  int head_fd;
  uint64_t *unlinks;
  size_t nunlinks;
  /* outputs */
  int status;
  struct piece *pieces; /* owned */
  size_t npieces, cappieces;
  bool fsynced;
  bool unlinked; /* the segments in unlinks are gone */
  double fsync_s;
};

/* --- the thread-pool side --------------------------------------------- */

static struct piece *add_piece(struct vg__journal_commit *c, uint64_t first_seq,
                               bool new_seg, uint64_t base, size_t off) {
  c->pieces =
      vg_grow(c->pieces, &c->cappieces, c->npieces + 1, sizeof *c->pieces);
  struct piece *p = &c->pieces[c->npieces++];
  *p = (struct piece){.first_seq = first_seq,
                      .fd = new_seg ? -1 : c->fd,
                      .new_seg = new_seg,
                      .base = base,
                      .off = off};
  return p;
}

/* Takes back everything a failed commit wrote: the segments it created go
 * whole, the active one is cut back to where the commit began. */
static void undo_pieces(struct vg__journal_commit *c) {
  for (size_t k = 0; k < c->npieces; k++) {
    struct piece *p = &c->pieces[k];
    if (p->new_seg && p->fd >= 0) {
      char *path = vg__journal_seg_path(c->j->dir, p->first_seq);
      close(p->fd);
      unlink(path);
      free(path);
      p->fd = -1;
    } else if (!p->new_seg) {
      while (ftruncate(p->fd, (off_t)p->base) < 0 && errno == EINTR)
        ;
    }
  }
}

static int write_piece(struct vg__journal_commit *c, struct piece *p,
                       const unsigned char *out) {
  const struct vg_journal *j = c->j;
  if (p->new_seg) {
    char *path = vg__journal_seg_path(j->dir, p->first_seq);
    p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    free(path);
    if (p->fd < 0)
      return -errno;
    int rc = vg__journal_write_header(p->fd);
    if (rc)
      return rc;
  }
  int rc = vg__journal_pwrite_all(p->fd, out + p->off, p->bytes, p->base);
  if (rc == 0 && j->fsync == VG_FSYNC_BATCH) {
    double t0 = vg_clock_monotonic_s();
    if ((p->new_seg ? fsync(p->fd) : fdatasync(p->fd)) < 0)
      rc = -errno;
    c->fsync_s += vg_clock_monotonic_s() - t0;
    c->fsynced = true;
  }
  return rc;
}

/* Raw bytes a block holds at most: an eighth of a segment, so that a
 * commit still spreads over segments of any size, and at most 4 MiB
 * (VG__JOURNAL_BLOCK_RAW bounds a record of 1 MiB added past it). */
static size_t block_raw_cap(const struct vg_journal *j) {
  uint64_t cap = j->segment_bytes / 8;
  return cap > ((size_t)4 << 20) ? (size_t)4 << 20 : (size_t)cap;
}

static int write_records(struct vg__journal_commit *c) {
  const struct vg_journal *j = c->j;
  /* Blocks of samples, compressed and framed with their first seq; that
   * work is done here, off the loop.  A block never straddles segments; a
   * segment holds at least one block however large. */
  struct vg_buf out;
  vg_buf_init(&out, SIZE_MAX / 2);
  const unsigned char *in = (const unsigned char *)c->recs.data;
  struct piece *p =
      c->rotate ? add_piece(c, c->first_seq, true, VG__JOURNAL_SEG_HDR, 0)
                : add_piece(c, c->first_seq, false, c->base, 0);
  size_t cap = block_raw_cap(j);
  for (size_t i = 0, at = 0; i < c->nrecs;) {
    size_t first = i;
    for (; i < c->nrecs; i++) {
      uint32_t word = vg__journal_get_u32(in + at);
      uint32_t rlen = word & ~VG__JOURNAL_SAME_LABELS;
      if (!vg__journal_builder_add(j->builder, in + at + 4, rlen,
                                   word & VG__JOURNAL_SAME_LABELS, cap))
        break;
      at += 4 + rlen;
    }
    size_t n = out.len;
    size_t size =
        vg__journal_builder_finish(j->builder, c->first_seq + first, &out);
    if (p->bytes && p->base + p->bytes + size > j->segment_bytes)
      p = add_piece(c, c->first_seq + first, true, VG__JOURNAL_SEG_HDR, n);
    p->bytes += size;
  }
  /* What the new segments' headers add is within the reserve. */
  int rc = vg_disk_room(j->dir, out.len);
  bool room = rc == 0;
  bool created = false;
  for (size_t k = 0; k < c->npieces && rc == 0; k++) {
    rc = write_piece(c, &c->pieces[k], (const unsigned char *)out.data);
    created |= c->pieces[k].new_seg;
  }
  if (room)
    vg_disk_room_done(out.len);
  vg_buf_free(&out);
  if (rc == 0 && created)
    vg__journal_fsync_dir(j->dir);
  if (rc)
    undo_pieces(c); /* nothing of a failed commit stays: its seqs are reused */
  return rc;
}

static int write_cursor(const struct cursor_write *w) {
  int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  char text[32];
  int n = snprintf(text, sizeof text, "%" PRIu64 "\n", w->value);
  int rc = vg__journal_pwrite_all(fd, text, (size_t)n, 0);
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  close(fd);
  if (rc == 0 && rename(w->tmp, w->path) < 0)
    rc = -errno;
  if (rc)
    unlink(w->tmp);
  return rc;
}

/* On the commit thread. */
static void commit_work(struct vg__journal_commit *c) {
  if (c->nrecs)
    c->status = write_records(c);
  if (c->nrecs && c->status == 0 && c->head_fd >= 0)
    vg__journal_write_head(c->head_fd, c->first_seq + c->nrecs - 1);
  bool renamed = false;
  for (size_t i = 0; i < c->ncursors; i++) {
    c->cursors[i].status = write_cursor(&c->cursors[i]);
    renamed |= c->cursors[i].status == 0;
  }
  if (renamed) {
    char *cdir = vg_asprintf("%s/cursors", c->j->dir);
    vg__journal_fsync_dir(cdir);
    free(cdir);
  }
  /* After the cursors, and only when they were all written: a crash in
   * between, or a cursor that could not be saved, leaves data, never a
   * cursor pointing into a hole.  Kept unlinks are retried next commit. */
  for (size_t i = 0; i < c->ncursors; i++)
    if (c->cursors[i].status != 0)
      return;
  c->unlinked = true;
  for (size_t i = 0; i < c->nunlinks; i++) {
    char *path = vg__journal_seg_path(c->j->dir, c->unlinks[i]);
    unlink(path);
    free(path);
  }
}

/* --- the loop side: segments and readers ------------------------------ */

void vg__journal_retire(struct vg_journal *j, struct vg__journal_seg *s) {
  s->removed = true;
  if (s->refs)
    return;
  for (size_t i = 0; i < j->nreaders; i++)
    vg__journal_reader_forget(j->readers[i], s->serial);
  j->unlinks =
      vg_grow(j->unlinks, &j->capunlinks, j->nunlinks + 1, sizeof *j->unlinks);
  j->unlinks[j->nunlinks++] = s->first_seq;
  free(s);
}

static void remove_oldest(struct vg_journal *j) {
  struct vg__journal_seg *s = j->segs[0];
  j->bytes -= s->bytes;
  memmove(j->segs, j->segs + 1, --j->nsegs * sizeof *j->segs);
  vg__journal_retire(j, s);
}

/* Whether an open reader has a batch in flight that reaches below seq:
 * its sender may be delivering it, so its segment stays a little past
 * max_bytes, for the length of one request, rather than the batch being
 * lost uncounted by a crash. */
static bool held_below(const struct vg_journal *j, uint64_t seq) {
  for (size_t i = 0; i < j->nreaders; i++) {
    const struct vg_journal_reader *r = j->readers[i];
    if (!r->closed && r->held_next && r->held_from < seq)
      return true;
  }
  return false;
}

void vg__journal_enforce_max_bytes(struct vg_journal *j) {
  while (j->nsegs > 1 && j->bytes > j->max_bytes) {
    uint64_t next = j->segs[1]->first_seq;
    if (held_below(j, next))
      return;
    for (size_t i = 0; i < j->nreaders; i++) {
      struct vg_journal_reader *r = j->readers[i];
      if (r->cursor >= next)
        continue;
      if (!r->closed) {
        vg_log(VG_LOG_WARNING,
               "journal: max_bytes %" PRIu64 " reached: reader %s lost %" PRIu64
               " records (%" PRIu64 " to %" PRIu64 ")",
               j->max_bytes, r->name, next - r->cursor, r->cursor, next - 1);
        r->drop_pending += next - r->cursor;
      }
      r->cursor = next;
      r->dirty = true;
      r->hint_valid = r->oldest_known = false;
    }
    remove_oldest(j);
  }
}

void vg__journal_delete_passed(struct vg_journal *j) {
  if (!j->nreaders)
    return;
  uint64_t min = UINT64_MAX;
  for (size_t i = 0; i < j->nreaders; i++)
    if (!j->readers[i]->closed && j->readers[i]->cursor < min)
      min = j->readers[i]->cursor;
  while (j->nsegs > 1 && j->segs[1]->first_seq <= min)
    remove_oldest(j);
}

/* --- the loop side: group commit -------------------------------------- */

bool vg__journal_has_work(const struct vg_journal *j) {
  if (j->pending || j->nunlinks)
    return true;
  for (size_t i = 0; i < j->nreaders; i++)
    if (j->readers[i]->dirty)
      return true;
  return false;
}

static void free_commit(struct vg__journal_commit *c) {
  vg_buf_free(&c->recs);
  free(c->pieces);
  free(c->waiters);
  for (size_t i = 0; i < c->ncursors; i++) {
    free(c->cursors[i].path);
    free(c->cursors[i].tmp);
  }
  free(c->cursors);
  free(c->unlinks);
  free(c);
}

static struct vg__journal_commit *new_commit(struct vg_journal *j) {
  struct vg__journal_commit *c = vg_calloc(1, sizeof *c);
  c->j = j;
  c->fd = -1;
  if (j->spare.data) {
    c->recs = j->spare;
    vg_buf_init(&j->spare, MAX_PENDING);
  } else {
    vg_buf_init(&c->recs, MAX_PENDING);
  }
  /* Within MAX_PENDING: the hint is a length some commit held. */
  (void)vg_buf_reserve(&c->recs, j->recs_hint);
  return c;
}

static void commit_after(struct vg__journal_commit *c) {
  struct vg_journal *j = c->j;
  j->committing = NULL;
  if (c->nrecs && c->status == 0) {
    for (size_t k = 0; k < c->npieces; k++) {
      const struct piece *p = &c->pieces[k];
      if (p->new_seg) {
        /* The previous segment is complete: only the last stays open. */
        if (j->active_fd >= 0)
          close(j->active_fd);
        j->active_fd = p->fd;
        struct vg__journal_seg *s = vg_calloc(1, sizeof *s);
        s->first_seq = p->first_seq;
        s->serial = ++j->seg_serials;
        s->bytes = VG__JOURNAL_SEG_HDR;
        j->active_version = 2;
        j->segs = vg_grow(j->segs, &j->capsegs, j->nsegs + 1, sizeof *j->segs);
        j->segs[j->nsegs++] = s;
        j->bytes += VG__JOURNAL_SEG_HDR;
        j->stats.written_bytes += VG__JOURNAL_SEG_HDR;
      }
      j->segs[j->nsegs - 1]->bytes += p->bytes;
      j->bytes += p->bytes;
      j->stats.written_bytes += p->bytes;
    }
    for (size_t i = 0; i < j->nreaders; i++)
      if (j->readers[i]->cursor == c->first_seq) {
        j->readers[i]->oldest_known = true;
        j->readers[i]->oldest_ts = c->first_ts;
      }
    j->head_seq += c->nrecs;
    j->stats.appended_records += c->nrecs;
    vg_complaint_release(&j->write_complaint, "journal: writing works again");
  } else if (c->nrecs) {
    j->stats.failed_records += c->nrecs;
    /* The same words every time, so that a full disk is logged once a
     * minute with the count, not once a commit window. */
    vg_complain_n(&j->write_complaint, VG_LOG_ERR, c->nrecs,
                  "records not journaled", "journal: cannot write to %s: %s",
                  j->dir, strerror(-c->status));
  }
  if (c->fsynced) {
    j->stats.fsyncs++;
    j->stats.last_fsync_seconds = c->fsync_s;
    j->stats.fsync_seconds_total += c->fsync_s;
  }
  for (size_t i = 0; i < c->ncursors; i++) {
    struct cursor_write *w = &c->cursors[i];
    if (w->status == 0) {
      w->r->persisted = w->value;
      w->r->drop_pending -= w->drops;
      w->r->dropped += w->drops;
      vg_complaint_release(&j->cursor_complaint,
                           "journal: cursors are written again");
      continue;
    }
    vg_complain(&j->cursor_complaint, VG_LOG_WARNING,
                "journal: cannot write cursor %s: %s", w->path,
                strerror(-w->status));
    /* Retried with the next commit; while closing, once is all there
     * is. */
    if (!j->closing)
      w->r->dirty = true;
  }
  if (!c->unlinked && c->nunlinks) {
    /* A cursor could not be saved: keep the files for the next commit. */
    j->unlinks = vg_grow(j->unlinks, &j->capunlinks, j->nunlinks + c->nunlinks,
                         sizeof *j->unlinks);
    memcpy(j->unlinks + j->nunlinks, c->unlinks,
           c->nunlinks * sizeof *j->unlinks);
    j->nunlinks += c->nunlinks;
  }
  vg__journal_enforce_max_bytes(j);
  for (size_t i = 0; i < c->nwaiters; i++)
    if (c->waiters[i].durable)
      c->waiters[i].durable(c->waiters[i].arg, c->nrecs ? c->status : 0);
  size_t decayed = j->recs_hint - j->recs_hint / 4;
  j->recs_hint = c->recs.len > decayed ? c->recs.len : decayed;
  if (j->recs_hint > SPARE_MAX)
    j->recs_hint = SPARE_MAX;
  /* Kept unless it grew past what a steady stream needs. */
  if (!j->spare.data && c->recs.cap <= SPARE_MAX) {
    j->spare = c->recs;
    vg_buf_reset(&j->spare);
    vg_buf_init(&c->recs, MAX_PENDING);
  }
  free_commit(c);
  if (j->closing) {
    vg__journal_finish_close(j);
  } else if (j->commit_again) {
    j->commit_again = false;
    vg__journal_start_commit(j);
  } else {
    vg__journal_schedule(j);
  }
}

void vg__journal_start_commit(struct vg_journal *j) {
  if (!vg__journal_has_work(j))
    return;
  struct vg__journal_commit *c = j->pending ? j->pending : new_commit(j);
  j->pending = NULL;
  c->first_seq = j->head_seq + 1;
  /* Blocks go into segments of format 2 only: after an upgrade, the
   * first commit starts one. */
  c->rotate = j->nsegs == 0 ||
              j->segs[j->nsegs - 1]->bytes >= j->segment_bytes ||
              (c->nrecs && j->active_version != 2);
  c->base = j->nsegs ? j->segs[j->nsegs - 1]->bytes : 0;
  c->fd = c->rotate ? -1 : j->active_fd;
  c->head_fd = j->head_fd;
  for (size_t i = 0; i < j->nreaders; i++) {
    struct vg_journal_reader *r = j->readers[i];
    if (!r->dirty)
      continue;
    r->dirty = false;
    if (r->cursor == r->persisted)
      continue;
    c->cursors = vg_realloc(c->cursors, (c->ncursors + 1) * sizeof *c->cursors);
    c->cursors[c->ncursors++] = (struct cursor_write){
        .r = r,
        .value = r->cursor,
        .drops = r->drop_pending,
        .path = vg_strdup(r->path),
        .tmp = vg_asprintf("%s/cursors/.%s.tmp", j->dir, r->name),
    };
  }
  c->unlinks = j->unlinks;
  c->nunlinks = j->nunlinks;
  j->unlinks = NULL;
  j->nunlinks = j->capunlinks = 0;
  j->committing = c;
  /* The loop stays alive while a commit is in flight, as it would for a
   * job of the pool (and only then: uv_run returns when all is done). */
  uv_ref((uv_handle_t *)&j->writer_async);
  uv_mutex_lock(&j->writer_lock);
  j->writer_job = c;
  uv_cond_signal(&j->writer_cond);
  uv_mutex_unlock(&j->writer_lock);
}

/* --- the commit thread ------------------------------------------------- */

static void writer_main(void *arg) {
  struct vg_journal *j = arg;
  uv_mutex_lock(&j->writer_lock);
  for (;;) {
    while (!j->writer_job && !j->writer_quit)
      uv_cond_wait(&j->writer_cond, &j->writer_lock);
    struct vg__journal_commit *c = j->writer_job;
    if (!c)
      break;
    j->writer_job = NULL;
    uv_mutex_unlock(&j->writer_lock);
    commit_work(c);
    uv_mutex_lock(&j->writer_lock);
    j->writer_done = c;
    uv_async_send(&j->writer_async);
  }
  uv_mutex_unlock(&j->writer_lock);
}

static void on_written(uv_async_t *a) {
  struct vg_journal *j = a->data;
  uv_mutex_lock(&j->writer_lock);
  struct vg__journal_commit *c = j->writer_done;
  j->writer_done = NULL;
  uv_mutex_unlock(&j->writer_lock);
  if (!c)
    return;
  uv_unref((uv_handle_t *)&j->writer_async);
  commit_after(c);
}

int vg__journal_writer_start(struct vg_journal *j) {
  j->builder = vg__journal_builder_new();
  int rc = uv_mutex_init(&j->writer_lock);
  if (rc)
    return rc;
  if ((rc = uv_cond_init(&j->writer_cond)) != 0) {
    uv_mutex_destroy(&j->writer_lock);
    return rc;
  }
  uv_async_init(j->loop, &j->writer_async, on_written);
  j->writer_async.data = j;
  uv_unref((uv_handle_t *)&j->writer_async);
  if ((rc = uv_thread_create(&j->writer, writer_main, j)) != 0) {
    uv_cond_destroy(&j->writer_cond);
    uv_mutex_destroy(&j->writer_lock);
    return rc;
  }
  return 0;
}

void vg__journal_writer_stop(struct vg_journal *j, uv_close_cb closed) {
  uv_mutex_lock(&j->writer_lock);
  j->writer_quit = true;
  uv_cond_signal(&j->writer_cond);
  uv_mutex_unlock(&j->writer_lock);
  uv_thread_join(&j->writer);
  uv_cond_destroy(&j->writer_cond);
  uv_mutex_destroy(&j->writer_lock);
  uv_close((uv_handle_t *)&j->writer_async, closed);
}

static void on_timer(uv_timer_t *t) {
  struct vg_journal *j = t->data;
  j->timer_armed = false;
  if (j->committing)
    j->commit_again = true;
  else
    vg__journal_start_commit(j);
}

/* Appends are committed as soon as the loop has handed out what it is
 * delivering now (a request's samples arrive over many appends in one
 * callback): one commit carries all of them, and a sender waits one write
 * and fsync, not a window. */
static void on_kick(uv_idle_t *h) {
  struct vg_journal *j = h->data;
  uv_idle_stop(h);
  if (j->committing)
    j->commit_again = true;
  else
    vg__journal_start_commit(j);
}

/* A moved cursor is saved (and the segments it passed deleted) with the
 * next commit of samples, which never waits, or when none comes, this
 * many commit windows after it moved (a second by default).  A drain
 * acknowledges a batch every request, and saving each cursor (a file
 * written, renamed, and two fsyncs) was a twentieth of its CPU; a crash
 * reads again what was acknowledged since, which remote_write skips
 * (daemon/pipeline/newest.h). */
#define CURSOR_WINDOWS 10

void vg__journal_schedule(struct vg_journal *j) {
  if (j->closing) {
    vg__journal_finish_close(j);
  } else if (!j->timer_armed && vg__journal_has_work(j)) {
    j->timer_armed = true;
    uint64_t ms = (uint64_t)j->window_ms;
    uv_timer_start(&j->timer, on_timer, j->pending ? ms : CURSOR_WINDOWS * ms,
                   0);
  }
}

int vg_journal_append(struct vg_journal *j,
                      const struct vg_journal_record *recs, size_t n,
                      void (*durable)(void *arg, int status), void *arg) {
  if (j->closing)
    return -ESHUTDOWN;
  if (!j->pending)
    j->pending = new_commit(j);
  struct vg__journal_commit *c = j->pending;
  size_t undo = c->recs.len;
  uint64_t key = c->last_key;
  for (size_t i = 0; i < n; i++) {
    size_t at = c->recs.len;
    /* Only within one commit: its records buffer holds the labels. */
    bool same =
        recs[i].labels_key && recs[i].labels_key == key && (c->nrecs || i > 0);
    key = recs[i].labels_key;
    unsigned char len[4] = {0};
    int rc = vg_buf_append(&c->recs, len, 4);
    rc = rc ? rc : vg__journal_encode_rest(&c->recs, &recs[i], !same);
    size_t rlen = c->recs.len - at - 4;
    if (rc == 0 && rlen + 10 > VG_JOURNAL_MAX_RECORD)
      rc = -EMSGSIZE;
    if (rc) {
      c->recs.len = undo;
      return rc == -ENOSPC ? -ENOBUFS : rc;
    }
    vg__journal_put_u32((unsigned char *)c->recs.data + at,
                        (uint32_t)rlen | (same ? VG__JOURNAL_SAME_LABELS : 0));
  }
  c->last_key = key;
  if (n && !c->nrecs)
    c->first_ts = recs[0].ts_ms;
  c->nrecs += n;
  int merged = 0;
  if (c->nwaiters && c->waiters[c->nwaiters - 1].durable == durable &&
      c->waiters[c->nwaiters - 1].arg == arg) {
    merged = 1; /* called once for both */
  } else {
    c->waiters = vg_grow(c->waiters, &c->capwaiters, c->nwaiters + 1,
                         sizeof *c->waiters);
    c->waiters[c->nwaiters++] = (struct waiter){durable, arg};
  }
  /* A commit in flight groups what arrives meanwhile: the next one starts
   * when it ends (commit_again), so fsyncs per sample fall as load rises. */
  if (j->committing)
    j->commit_again = true;
  else
    uv_idle_start(&j->kick, on_kick);
  return merged;
}

uint64_t vg_journal_label_key(struct vg_journal *j) {
  return ++j->next_label_key;
}
