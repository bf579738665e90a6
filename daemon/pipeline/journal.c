/* daemon/pipeline/journal.c - the on-disk journal as a whole: open, close,
 * and the file I/O its parts share.
 *
 * Owns the journal's folder and every file under it; the parts that write
 * and read them are journal_writer.c (appends, group commit, segments,
 * max_bytes) and journal_reader.c (cursors and batches), with the format
 * in journal_codec.c (journal_int.h says who does what).  Must never:
 * touch the disk on the loop thread after vg_journal_open (commits, cursor
 * writes and segment deletions run on the journal's commit thread, reads
 * in the thread pool), or free the journal while a commit or a read is in
 * flight.
 *
 * Open truncates only the torn tail of the newest segment.  What the
 * newest segment lost (a torn last record, or a segment cut short by
 * hand or by a disk) is counted as the records it held: <dir>/head says
 * the highest sequence number ever committed, and the cursors say how
 * far readers got, so that the next sequence number goes on after all of
 * them and none is used twice (journals written before the head file
 * existed have only the cursors and the torn bytes to go by).
 */
#include "daemon/pipeline/journal_int.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- files ------------------------------------------------------------ */

char *vg__journal_seg_path(const char *dir, uint64_t first_seq) {
  return vg_asprintf("%s/%020" PRIu64 ".seg", dir, first_seq);
}

int vg__journal_pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
  for (size_t done = 0; done < n;) {
    ssize_t w =
        pwrite(fd, (const char *)p + done, n - done, (off_t)(off + done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    done += (size_t)w;
  }
  return 0;
}

int vg__journal_pread_all(int fd, void *p, size_t n, uint64_t off) {
  for (size_t done = 0; done < n;) {
    ssize_t r = pread(fd, (char *)p + done, n - done, (off_t)(off + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? -errno : -EIO; /* shorter than the size we know */
    done += (size_t)r;
  }
  return 0;
}

int vg__journal_write_header(int fd) {
  unsigned char hdr[VG__JOURNAL_SEG_HDR];
  vg__journal_seg_header(hdr);
  return vg__journal_pwrite_all(fd, hdr, VG__JOURNAL_SEG_HDR, 0);
}

/* The head file is written after the records it covers and never
 * fsynced: with fsync "batch" the records are on disk first, so a head
 * left behind by a power loss only says less than the segments do (and
 * the segments are scanned anyway); with fsync "off" it may say more than
 * reached the disk, which is then exactly what was lost. */
void vg__journal_write_head(int fd, uint64_t head) {
  unsigned char b[VG__JOURNAL_HEAD_SIZE];
  memcpy(b, "VGH1", 4);
  vg__journal_put_u32(b + 4, (uint32_t)head);
  vg__journal_put_u32(b + 8, (uint32_t)(head >> 32));
  vg__journal_put_u32(b + 12, vg_crc32c(0, b, 12));
  /* A failure costs only the count of a later cut segment: not reported
   * apart from the commit's own errors. */
  (void)vg__journal_pwrite_all(fd, b, sizeof b, 0);
}

/* The head file's seq; 0 when it is missing or damaged. */
static uint64_t read_head(int fd) {
  unsigned char b[VG__JOURNAL_HEAD_SIZE];
  if (fd < 0 || vg__journal_pread_all(fd, b, sizeof b, 0) != 0 ||
      memcmp(b, "VGH1", 4) != 0 ||
      vg__journal_get_u32(b + 12) != vg_crc32c(0, b, 12))
    return 0;
  return (uint64_t)vg__journal_get_u32(b + 4) |
         (uint64_t)vg__journal_get_u32(b + 8) << 32;
}

int vg__journal_load_cursor(const char *path, uint64_t *seq) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char text[32];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n < 2 || text[n - 1] != '\n')
    return -EINVAL;
  text[n - 1] = '\0';
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || *end || text[0] < '0' || text[0] > '9' || v == 0)
    return -EINVAL;
  *seq = v;
  return 0;
}

/* The highest cursor saved by any reader: every seq below it was
 * committed once. */
static uint64_t max_cursor(const char *dir) {
  char *path = vg_asprintf("%s/cursors", dir);
  DIR *d = opendir(path);
  free(path);
  uint64_t max = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    uint64_t seq;
    char *file = vg_asprintf("%s/cursors/%s", dir, e->d_name);
    if (vg__journal_load_cursor(file, &seq) == 0 && seq > max)
      max = seq;
    free(file);
  }
  if (d)
    closedir(d);
  return max;
}

void vg__journal_fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* --- open and close --------------------------------------------------- */

static int mkdir_p(const char *path) {
  char *p = vg_strdup(path);
  int rc = 0;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s)
      continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
      rc = -errno;
      break;
    }
    *s = c;
    if (!c)
      break;
  }
  free(p);
  return rc;
}

static int cmp_seg(const void *a, const void *b) {
  uint64_t x = (*(struct vg__journal_seg *const *)a)->first_seq;
  uint64_t y = (*(struct vg__journal_seg *const *)b)->first_seq;
  return x < y ? -1 : x > y;
}

static int list_segments(struct vg_journal *j) {
  DIR *d = opendir(j->dir);
  if (!d)
    return -errno;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg") != 0 ||
        strspn(e->d_name, "0123456789") != 20)
      continue;
    struct stat st;
    char *path = vg_asprintf("%s/%s", j->dir, e->d_name);
    int rc = stat(path, &st);
    free(path);
    if (rc < 0 || !S_ISREG(st.st_mode))
      continue;
    struct vg__journal_seg *s = vg_calloc(1, sizeof *s);
    s->first_seq = strtoull(e->d_name, NULL, 10);
    s->serial = ++j->seg_serials;
    s->bytes = (uint64_t)st.st_size;
    j->segs = vg_grow(j->segs, &j->capsegs, j->nsegs + 1, sizeof *j->segs);
    j->segs[j->nsegs++] = s;
    j->bytes += s->bytes;
  }
  closedir(d);
  if (j->nsegs > 1)
    qsort(j->segs, j->nsegs, sizeof *j->segs, cmp_seg);
  return 0;
}

/* Finds the last valid record of the newest segment, cuts off a torn
 * tail, and sets the head: the highest seq ever committed, from the
 * segment, the head file and the cursors, whichever says most.  What lies
 * between the last valid record and the head was lost. */
static int recover_tail(struct vg_journal *j, uint64_t mark, char *error,
                        size_t esize) {
  struct vg__journal_seg *s = j->segs[j->nsegs - 1];
  char *path = vg__journal_seg_path(j->dir, s->first_seq);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  int rc = fd < 0 ? -errno : 0;
  unsigned char *buf = vg_malloc(s->bytes + 1);
  rc = rc ? rc : vg__journal_pread_all(fd, buf, s->bytes, 0);
  uint64_t end = VG__JOURNAL_SEG_HDR;
  uint64_t last = s->first_seq - 1; /* the last valid sample's seq */
  bool torn = false;
  unsigned version = 2;
  if (rc == 0 && s->bytes < VG__JOURNAL_SEG_HDR) {
    /* Created but its header never written: no record was in it. */
    rc = ftruncate(fd, 0) < 0 ? -errno : vg__journal_write_header(fd);
  } else if (rc == 0 && (version = vg__journal_seg_version(buf)) == 0) {
    /* A newer release's journal: nothing of it may be cut off. */
    rc = -EPROTO;
  } else if (rc == 0) {
    size_t off = VG__JOURNAL_SEG_HDR, flen;
    struct vg__journal_view v;
    while (vg__journal_next_record(buf, s->bytes, true, version, &off, &v,
                                   &flen) == VG__JOURNAL_FOUND) {
      off += flen;
      end = off;
      last = v.seq + v.count - 1;
    }
    if (s->bytes > end) {
      torn = true;
      vg_log(VG_LOG_WARNING,
             "journal: %s: torn tail of %" PRIu64 " bytes after seq %" PRIu64
             " cut off",
             path, s->bytes - end, last);
      if (ftruncate(fd, (off_t)end) < 0)
        rc = -errno;
    }
  }
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  if (rc == -EPROTO)
    snprintf(error, esize,
             "journal: %s: not a segment of a format this release reads "
             "(versions 1 and 2); written by a newer release?",
             path);
  else if (rc)
    snprintf(error, esize, "journal: cannot recover %s: %s", path,
             strerror(-rc));
  /* The torn bytes were a record at least, whose seq was assigned. */
  uint64_t head = last + (torn ? 1 : 0);
  if (mark > head)
    head = mark;
  uint64_t cursors = max_cursor(j->dir);
  if (cursors > head + 1)
    head = cursors - 1;
  j->head_seq = head;
  if (rc == 0 && head > last) {
    vg_log(VG_LOG_WARNING,
           "journal: %s ends at seq %" PRIu64 " but %" PRIu64
           " were committed: %" PRIu64 " records lost; sequence numbers go "
           "on from %" PRIu64,
           path, last, head, head - last, head + 1);
    j->stats.corrupt_records += head - last;
    j->lost_from = last + 1;
    j->lost_to = head + 1;
  }
  j->bytes = j->bytes - s->bytes + end;
  s->bytes = end;
  j->active_fd = fd;
  j->active_version = version;
  free(buf);
  free(path);
  return rc;
}

static void free_journal(struct vg_journal *j) {
  if (j->active_fd >= 0)
    close(j->active_fd);
  if (j->head_fd >= 0)
    close(j->head_fd);
  for (size_t i = 0; i < j->nsegs; i++)
    free(j->segs[i]);
  free(j->segs);
  for (size_t i = 0; i < j->nreaders; i++) {
    vg__journal_reader_free_caches(j->readers[i]);
    free(j->readers[i]->name);
    free(j->readers[i]->path);
    free(j->readers[i]);
  }
  free(j->readers);
  free(j->unlinks);
  vg__journal_builder_free(j->builder);
  free(j->dir);
  vg_buf_free(&j->spare);
  free(j);
}

int vg_journal_open(uv_loop_t *loop, const struct vg_journal_options *o,
                    struct vg_journal **out, char *error, size_t error_size) {
  if (error_size)
    error[0] = '\0';
  struct vg_journal *j = vg_calloc(1, sizeof *j);
  j->loop = loop;
  j->dir = vg_strdup(o->dir);
  j->max_bytes = o->max_bytes ? o->max_bytes : (uint64_t)1 << 30;
  j->segment_bytes = o->segment_bytes ? o->segment_bytes : (uint64_t)16 << 20;
  j->window_ms = o->commit_window_ms > 0 ? o->commit_window_ms : 100;
  j->fsync = o->fsync;
  j->active_fd = -1;
  j->head_fd = -1;
  char *cursors = vg_asprintf("%s/cursors", j->dir);
  int rc = mkdir_p(cursors);
  free(cursors);
  uint64_t mark = 0;
  if (rc == 0) {
    char *head = vg_asprintf("%s/head", j->dir);
    j->head_fd = open(head, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->head_fd < 0)
      rc = -errno;
    if (rc)
      snprintf(error, error_size, "journal: cannot open %s: %s", head,
               strerror(-rc));
    free(head);
    mark = read_head(j->head_fd);
  }
  if (rc) {
    if (!error[0])
      snprintf(error, error_size, "journal: cannot create %s/cursors: %s",
               j->dir, strerror(-rc));
  } else if ((rc = list_segments(j)) != 0) {
    snprintf(error, error_size, "journal: cannot list %s: %s", j->dir,
             strerror(-rc));
  } else if (j->nsegs) {
    rc = recover_tail(j, mark, error, error_size);
  } else {
    /* Every segment gone: numbering still goes on after the last. */
    uint64_t saved = max_cursor(j->dir);
    j->head_seq = saved > mark + 1 ? saved - 1 : mark;
  }
  if (rc) {
    free_journal(j);
    return rc;
  }
  j->corrupt_upto = j->nsegs ? j->segs[0]->first_seq : 1;
  if ((rc = vg__journal_writer_start(j)) != 0) {
    snprintf(error, error_size, "journal: cannot start its commit thread: %s",
             uv_strerror(rc));
    free_journal(j);
    return rc;
  }
  uv_timer_init(loop, &j->timer);
  j->timer.data = j;
  uv_idle_init(loop, &j->kick);
  j->kick.data = j;
  j->handles_open = 3;
  *out = j;
  return 0;
}

/* Runs for the timer, the kick and the commit thread's async handle: the
 * journal goes with the last. */
static void on_closed(uv_handle_t *h) {
  struct vg_journal *j = h->data;
  if (--j->handles_open)
    return;
  void (*closed)(void *) = j->closed;
  void *arg = j->closed_arg;
  free_journal(j);
  if (closed)
    closed(arg);
}

void vg__journal_finish_close(struct vg_journal *j) {
  if (j->finishing || j->committing || j->reads_inflight)
    return;
  if (vg__journal_has_work(j)) {
    vg__journal_start_commit(j);
    return;
  }
  j->finishing = true;
  vg__journal_writer_stop(j, on_closed);
  uv_close((uv_handle_t *)&j->timer, on_closed);
  uv_close((uv_handle_t *)&j->kick, on_closed);
}

void vg_journal_close(struct vg_journal *j, void (*closed)(void *arg),
                      void *arg) {
  j->closing = true;
  j->closed = closed;
  j->closed_arg = arg;
  uv_timer_stop(&j->timer);
  j->timer_armed = false;
  vg__journal_finish_close(j);
}

/* --- stats ------------------------------------------------------------ */

void vg_journal_stats(const struct vg_journal *j,
                      struct vg_journal_stats *out) {
  *out = j->stats;
  out->bytes = j->bytes;
  out->segments = j->nsegs;
  out->head_seq = j->head_seq;
  out->max_bytes = j->max_bytes;
}
