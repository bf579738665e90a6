/* daemon/pipeline/journal.c - the on-disk journal: segments, group commit,
 * cursors.
 *
 * Owns every file under the journal's folder.  Must never: touch the disk
 * on the loop thread after vg_journal_open (commits, cursor writes, segment
 * deletions and reads all run in the thread pool), let a reader see a
 * record whose commit has not succeeded, or lose a record without counting
 * it.
 *
 * Format (all integers little endian):
 *   <dir>/<first seq, 20 zero-padded digits>.seg, append-only segments.  A
 *   segment starts with "VGJ1" + u32 version (1).  Each record is
 *     u32 sync marker 0xF1A3E7D5, u32 payload length, u32 CRC32C of payload,
 *     payload: varint seq, varint zigzag ts_ms, 8-byte IEEE double, varint
 *              metric length + bytes, varint label count, then per label
 *              varint name length + bytes, varint value length + bytes.
 *   Varints are LEB128 and minimal; strings hold no NUL; a payload is at
 *   most VG_JOURNAL_MAX_RECORD bytes and is consumed exactly.  A record
 *   decodes alone.  Sequence numbers rise by one per record across
 *   segments, so a gap between valid records is exactly the count lost.
 *   <dir>/cursors/<reader>: the reader's next seq as decimal text + "\n",
 *   replaced atomically (.<reader>.tmp, fsync, rename, fsync folder).
 *
 * Damage: a record whose CRC or payload is bad is skipped -- by its length
 * if a valid record follows there, else by scanning byte by byte for the
 * next sync marker whose record checks -- and the seq gap is counted.  Open
 * truncates only the torn tail of the newest segment (counted as one
 * corrupt record; its seq is reused, so it leaves no gap).
 *
 * Space: after each commit, oldest segments (never the one being written)
 * are dropped while the total passes max_bytes, and readers inside them are
 * moved on with the exact count dropped.  After each ack, segments every
 * open reader has passed are deleted; with no reader open, segments stay
 * until max_bytes (an exporter may be configured later).  A deleted segment
 * is unlinked only once no read in flight still uses it, and only after the
 * cursors that passed it are persisted (same commit job, cursors first).
 *
 * Seeking: a reader remembers the file offset where its last acknowledged
 * batch ended, so sequential reading never rescans; otherwise (after a
 * reopen or a drop) a read scans its segment from the start.
 */
#include "daemon/pipeline/journal.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_HDR 8
#define SEG_VERSION 1
#define REC_SYNC 0xF1A3E7D5u
#define REC_HDR 12
#define MIN_PAYLOAD 12 /* seq, ts, value, metric length, label count */
#define MAX_PENDING ((size_t)256 << 20)
/* The largest records buffer kept from one commit for the next. */
#define SPARE_MAX ((size_t)32 << 20)
#define READ_WINDOW ((size_t)256 << 10)

/* --- encoding -------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__)
static bool crc_hardware;
#endif

static void crc_init(void) {
#if defined(__x86_64__)
  crc_hardware = __builtin_cpu_supports("sse4.2");
#endif
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] =
          (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) {
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes CRC32C itself, 8 bytes an
 * instruction: every record is checksummed once written and once per
 * reader, so this is on the push path.  Used when the CPU has it. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t crc, const unsigned char *p, size_t n) {
  uint64_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  while (n--)
    c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}
#endif

uint32_t vg__journal_crc32c(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
  if (crc_hardware)
    return crc32c_sse42(crc, data, n);
#endif
  return vg__journal_crc32c_portable(crc, data, n);
}

/* Slicing-by-8: eight table lookups per 8 bytes. */
uint32_t vg__journal_crc32c_portable(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
  const unsigned char *p = data;
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w = get_u64(p) ^ crc;
    crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
          crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
          crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
          crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
  }
  while (n--)
    crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

static size_t put_varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7)
    out[n++] = (unsigned char)(v | 0x80);
  out[n++] = (unsigned char)v;
  return n;
}

/* Only minimal encodings are accepted, so that a decoded record encodes
 * back to the same bytes. */
static bool get_varint(const unsigned char **p, const unsigned char *end,
                       uint64_t *v) {
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    unsigned char b = *(*p)++;
    if (shift == 63 && b > 1)
      return false;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return b != 0 || shift == 0;
    }
  }
  return false;
}

static bool get_string(const unsigned char **p, const unsigned char *end,
                       const unsigned char **s, size_t *len) {
  uint64_t n;
  if (!get_varint(p, end, &n) || n > (uint64_t)(end - *p) ||
      memchr(*p, 0, (size_t)n))
    return false;
  *s = *p;
  *len = (size_t)n;
  *p += n;
  return true;
}

static unsigned char *put_bytes(unsigned char *p, const char *s, size_t n) {
  p += put_varint(p, n);
  memcpy(p, s, n);
  return p + n;
}

/* The payload without its seq, which is assigned at commit time.  Every
 * sample goes through here on its way in, so the size is found first and
 * the record written with one reservation. */
static int encode_rest(struct vg_buf *b, const struct vg_journal_record *r) {
  size_t mlen = strlen(r->metric);
  size_t lens[2 * 64];
  size_t nlens = r->nlabels <= 64 ? 2 * r->nlabels : 0;
  size_t size = 10 + 8 + 10 + mlen + 10;
  for (size_t i = 0; i < r->nlabels; i++) {
    size_t nl = strlen(r->labels[i].name), vl = strlen(r->labels[i].value);
    if (nlens) {
      lens[2 * i] = nl;
      lens[2 * i + 1] = vl;
    }
    size += 20 + nl + vl;
  }
  int rc = vg_buf_reserve(b, size);
  if (rc)
    return rc;
  unsigned char *p = (unsigned char *)b->data + b->len;
  uint64_t ts = (uint64_t)r->ts_ms << 1 ^ (0 - ((uint64_t)r->ts_ms >> 63));
  uint64_t bits;
  memcpy(&bits, &r->value, 8);
  p += put_varint(p, ts);
  for (int i = 0; i < 8; i++)
    *p++ = (unsigned char)(bits >> (8 * i));
  p = put_bytes(p, r->metric, mlen);
  p += put_varint(p, r->nlabels);
  for (size_t i = 0; i < r->nlabels; i++) {
    const struct vg_label *l = &r->labels[i];
    p = put_bytes(p, l->name, nlens ? lens[2 * i] : strlen(l->name));
    p = put_bytes(p, l->value, nlens ? lens[2 * i + 1] : strlen(l->value));
  }
  b->len = (size_t)((char *)p - b->data);
  b->data[b->len] = '\0';
  return 0;
}

/* Frames seq + rest into out (room for REC_HDR + 10 + rlen); returns the
 * framed length. */
static size_t frame(unsigned char *out, uint64_t seq, const unsigned char *rest,
                    size_t rlen) {
  unsigned char *payload = out + REC_HDR;
  size_t sl = put_varint(payload, seq);
  memcpy(payload + sl, rest, rlen);
  put_u32(out, REC_SYNC);
  put_u32(out + 4, (uint32_t)(sl + rlen));
  put_u32(out + 8, vg__journal_crc32c(0, payload, sl + rlen));
  return REC_HDR + sl + rlen;
}

int vg__journal_encode(const struct vg_journal_record *rec,
                       struct vg_buf *out) {
  struct vg_buf rest;
  vg_buf_init(&rest, VG_JOURNAL_MAX_RECORD - 10);
  int rc = encode_rest(&rest, rec);
  if (rc == 0) {
    unsigned char *f = vg_malloc(REC_HDR + 10 + rest.len);
    /* rest.data is NULL only when nothing was appended, never here. */
    size_t n = frame(f, rec->seq, (unsigned char *)rest.data, rest.len);
    rc = vg_buf_append(out, f, n);
    free(f);
  } else if (rc == -ENOSPC) {
    rc = -EMSGSIZE;
  }
  vg_buf_free(&rest);
  return rc;
}

/* A validated payload; labels are walked again from `labels`. */
struct view {
  uint64_t seq;
  int64_t ts;
  double value;
  const unsigned char *metric, *labels, *end;
  size_t mlen, nlabels;
};

static bool parse_payload(const unsigned char *p, size_t n, struct view *v) {
  const unsigned char *end = p + n, *s;
  uint64_t u, count;
  size_t len;
  if (!get_varint(&p, end, &v->seq) || !get_varint(&p, end, &u) || end - p < 8)
    return false;
  v->ts = (int64_t)((u >> 1) ^ (0 - (u & 1)));
  uint64_t bits = get_u64(p);
  memcpy(&v->value, &bits, 8);
  p += 8;
  if (!get_string(&p, end, &v->metric, &v->mlen) ||
      !get_varint(&p, end, &count) || count > (uint64_t)(end - p) / 2)
    return false;
  v->nlabels = (size_t)count;
  v->labels = p;
  v->end = end;
  for (size_t i = 0; i < 2 * v->nlabels; i++)
    if (!get_string(&p, end, &s, &len))
      return false;
  return p == end;
}

/* 1: a valid record at off (framed length in *flen); 0: not one; -1: the
 * data ends before it could be told. */
static int valid_at(const unsigned char *p, size_t len, size_t off,
                    struct view *v, size_t *flen) {
  if (len - off < REC_HDR)
    return -1;
  uint32_t plen = get_u32(p + off + 4);
  if (get_u32(p + off) != REC_SYNC || plen < MIN_PAYLOAD ||
      plen > VG_JOURNAL_MAX_RECORD)
    return 0;
  if (len - off - REC_HDR < plen)
    return -1;
  const unsigned char *payload = p + off + REC_HDR;
  if (vg__journal_crc32c(0, payload, plen) != get_u32(p + off + 8) ||
      !parse_payload(payload, plen, v))
    return 0;
  *flen = REC_HDR + plen;
  return 1;
}

enum { FOUND, NEED_MORE, END };

/* Finds the next valid record at or after *off in p[0..len).  FOUND: *off
 * is its start.  NEED_MORE (only when !at_eof): more data is needed to
 * decide; resume at *off.  END: nothing valid remains. */
static int next_record(const unsigned char *p, size_t len, bool at_eof,
                       size_t *off, struct view *v, size_t *flen) {
  size_t o = *off;
  if (o >= len)
    return at_eof ? END : NEED_MORE;
  int rc = valid_at(p, len, o, v, flen);
  if (rc == 1)
    return FOUND;
  if (rc < 0 && !at_eof)
    return NEED_MORE;
  /* Damaged.  A plausible length still tells where the next record is. */
  if (len - o >= REC_HDR && get_u32(p + o) == REC_SYNC) {
    uint32_t plen = get_u32(p + o + 4);
    if (plen >= MIN_PAYLOAD && plen <= VG_JOURNAL_MAX_RECORD &&
        len - o - REC_HDR >= plen) {
      size_t next = o + REC_HDR + plen;
      rc = valid_at(p, len, next, v, flen);
      if (rc == 1) {
        *off = next;
        return FOUND;
      }
      if (rc < 0 && !at_eof)
        return NEED_MORE;
    }
  }
  for (size_t q = o + 1; q + 4 <= len; q++) {
    if (get_u32(p + q) != REC_SYNC)
      continue;
    rc = valid_at(p, len, q, v, flen);
    if (rc == 1 || (rc < 0 && !at_eof)) {
      *off = q;
      return rc == 1 ? FOUND : NEED_MORE;
    }
  }
  if (at_eof)
    return END;
  *off = len >= 3 && len - 3 > o ? len - 3 : o + 1;
  return NEED_MORE;
}

/* --- state ------------------------------------------------------------ */

struct segment {
  uint64_t first_seq; /* from its file name */
  uint64_t bytes;     /* committed: what readers may read */
  unsigned refs;      /* reads in flight using it */
  bool removed;       /* out of the list; unlinked when refs reach 0 */
};

struct waiter {
  void (*durable)(void *arg, int status);
  void *arg;
};

struct cursor_write {
  struct vg_journal_reader *r;
  uint64_t value;
  char *path, *tmp; /* owned */
  int status;
};

/* One group commit: the appends of one window, the cursors to persist and
 * the segments to unlink.  Inputs are filled on the loop, outputs in the
 * thread pool, and read back on the loop in commit_after(). */
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

struct commit {
  uv_work_t work;
  struct vg_journal *j;
  struct vg_buf recs; /* per record: u32 length + payload without seq */
  size_t nrecs;
  int64_t first_ts;
  struct waiter *waiters;
  size_t nwaiters, capwaiters;
  uint64_t first_seq, base; /* base: the active segment's size */
  bool rotate;              /* the records start a new segment */
  int fd;                   /* the active segment, or -1 */
  struct cursor_write *cursors;
  size_t ncursors;
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
  /* A batch handed out and not yet acknowledged reaches up to here (0:
   * none).  Its records are still deliverable from memory, so a drop at
   * max_bytes does not count them. */
  uint64_t held_next;
  bool closed; /* its exporter is gone: vg_journal_reader_close */
  bool last_hint_valid, last_ts_known;
  uint64_t last_hint_seg, last_hint_off;
  int64_t last_ts;
};

struct vg_journal {
  uv_loop_t *loop;
  char *dir; /* owned; read by workers, never changed */
  uint64_t max_bytes, segment_bytes;
  int64_t window_ms;
  enum vg_fsync_policy fsync;
  int active_fd; /* used by one commit job at a time; -1: none yet */
  struct segment **segs;
  size_t nsegs, capsegs;
  uint64_t bytes, head_seq;
  struct vg_journal_reader **readers;
  size_t nreaders, capreaders;
  struct commit *pending, *committing;
  /* The records buffer of the last commit, kept for the next: a fresh one
   * each window would fault its pages in again and regrow. */
  struct vg_buf spare;
  uint64_t *unlinks;
  size_t nunlinks, capunlinks;
  uv_timer_t timer;
  bool timer_armed, commit_again, closing, finishing;
  unsigned reads_inflight;
  void (*closed)(void *arg);
  void *closed_arg;
  struct vg_complaint write_complaint;
  struct vg_journal_stats stats;
  uint64_t corrupt_upto; /* journal-wide gap counting watermark */
};

static char *seg_path(const char *dir, uint64_t first_seq) {
  return vg_asprintf("%s/%020" PRIu64 ".seg", dir, first_seq);
}

/* --- the thread-pool side --------------------------------------------- */

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
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

static int pread_all(int fd, void *p, size_t n, uint64_t off) {
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

static int write_header(int fd) {
  unsigned char hdr[SEG_HDR] = {'V', 'G', 'J', '1'};
  put_u32(hdr + 4, SEG_VERSION);
  return pwrite_all(fd, hdr, SEG_HDR, 0);
}

static void fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

static struct piece *add_piece(struct commit *c, uint64_t first_seq,
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
static void undo_pieces(struct commit *c) {
  for (size_t k = 0; k < c->npieces; k++) {
    struct piece *p = &c->pieces[k];
    if (p->new_seg && p->fd >= 0) {
      char *path = seg_path(c->j->dir, p->first_seq);
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

static int write_piece(struct commit *c, struct piece *p,
                       const unsigned char *out) {
  const struct vg_journal *j = c->j;
  if (p->new_seg) {
    char *path = seg_path(j->dir, p->first_seq);
    p->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    free(path);
    if (p->fd < 0)
      return -errno;
    int rc = write_header(p->fd);
    if (rc)
      return rc;
  }
  int rc = pwrite_all(p->fd, out + p->off, p->bytes, p->base);
  if (rc == 0 && j->fsync == VG_FSYNC_BATCH) {
    double t0 = vg_clock_monotonic_s();
    if ((p->new_seg ? fsync(p->fd) : fdatasync(p->fd)) < 0)
      rc = -errno;
    c->fsync_s += vg_clock_monotonic_s() - t0;
    c->fsynced = true;
  }
  return rc;
}

static int write_records(struct commit *c) {
  const struct vg_journal *j = c->j;
  /* Frame every record with its seq; the CRC work is done here, off the
   * loop.  A record never straddles segments; a segment holds at least
   * one record however large. */
  unsigned char *out = vg_malloc(c->recs.len + c->nrecs * (REC_HDR + 10));
  const unsigned char *in = (const unsigned char *)c->recs.data;
  struct piece *p = c->rotate ? add_piece(c, c->first_seq, true, SEG_HDR, 0)
                              : add_piece(c, c->first_seq, false, c->base, 0);
  size_t n = 0;
  for (size_t i = 0, at = 0; i < c->nrecs; i++) {
    uint32_t rlen = get_u32(in + at);
    size_t size = frame(out + n, c->first_seq + i, in + at + 4, rlen);
    if (p->bytes && p->base + p->bytes + size > j->segment_bytes)
      p = add_piece(c, c->first_seq + i, true, SEG_HDR, n);
    p->bytes += size;
    n += size;
    at += 4 + rlen;
  }
  int rc = 0;
  bool created = false;
  for (size_t k = 0; k < c->npieces && rc == 0; k++) {
    rc = write_piece(c, &c->pieces[k], out);
    created |= c->pieces[k].new_seg;
  }
  free(out);
  if (rc == 0 && created)
    fsync_dir(j->dir);
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
  int rc = pwrite_all(fd, text, (size_t)n, 0);
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  close(fd);
  if (rc == 0 && rename(w->tmp, w->path) < 0)
    rc = -errno;
  if (rc)
    unlink(w->tmp);
  return rc;
}

static void commit_work(uv_work_t *work) {
  struct commit *c = work->data;
  if (c->nrecs)
    c->status = write_records(c);
  bool renamed = false;
  for (size_t i = 0; i < c->ncursors; i++) {
    c->cursors[i].status = write_cursor(&c->cursors[i]);
    renamed |= c->cursors[i].status == 0;
  }
  if (renamed) {
    char *cdir = vg_asprintf("%s/cursors", c->j->dir);
    fsync_dir(cdir);
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
    char *path = seg_path(c->j->dir, c->unlinks[i]);
    unlink(path);
    free(path);
  }
}

/* --- the loop side: segments and readers ------------------------------ */

static void schedule(struct vg_journal *j);

static void retire(struct vg_journal *j, struct segment *s) {
  s->removed = true;
  if (s->refs)
    return;
  j->unlinks =
      vg_grow(j->unlinks, &j->capunlinks, j->nunlinks + 1, sizeof *j->unlinks);
  j->unlinks[j->nunlinks++] = s->first_seq;
  free(s);
}

static void remove_oldest(struct vg_journal *j) {
  struct segment *s = j->segs[0];
  j->bytes -= s->bytes;
  memmove(j->segs, j->segs + 1, --j->nsegs * sizeof *j->segs);
  retire(j, s);
}

static void enforce_max_bytes(struct vg_journal *j) {
  while (j->nsegs > 1 && j->bytes > j->max_bytes) {
    uint64_t next = j->segs[1]->first_seq;
    for (size_t i = 0; i < j->nreaders; i++) {
      struct vg_journal_reader *r = j->readers[i];
      if (r->cursor >= next)
        continue;
      if (r->closed) {
        r->cursor = next;
        continue;
      }
      uint64_t from = r->held_next > r->cursor ? r->held_next : r->cursor;
      if (from < next) {
        vg_log(VG_LOG_WARNING,
               "journal: max_bytes %" PRIu64 " reached: reader %s lost %" PRIu64
               " records (%" PRIu64 " to %" PRIu64 ")",
               j->max_bytes, r->name, next - from, from, next - 1);
        r->dropped += next - from;
      }
      r->cursor = next;
      r->dirty = true;
      r->hint_valid = r->oldest_known = false;
    }
    remove_oldest(j);
  }
}

static void delete_passed(struct vg_journal *j) {
  if (!j->nreaders)
    return;
  uint64_t min = UINT64_MAX;
  for (size_t i = 0; i < j->nreaders; i++)
    if (!j->readers[i]->closed && j->readers[i]->cursor < min)
      min = j->readers[i]->cursor;
  while (j->nsegs > 1 && j->segs[1]->first_seq <= min)
    remove_oldest(j);
}

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
    j->stats.corrupt_records += to - a;
    j->corrupt_upto = to;
  }
}

/* --- the loop side: group commit -------------------------------------- */

static bool has_work(const struct vg_journal *j) {
  if (j->pending || j->nunlinks)
    return true;
  for (size_t i = 0; i < j->nreaders; i++)
    if (j->readers[i]->dirty)
      return true;
  return false;
}

static void free_commit(struct commit *c) {
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

static struct commit *new_commit(struct vg_journal *j) {
  struct commit *c = vg_calloc(1, sizeof *c);
  c->j = j;
  c->work.data = c;
  c->fd = -1;
  if (j->spare.data) {
    c->recs = j->spare;
    vg_buf_init(&j->spare, MAX_PENDING);
  } else {
    vg_buf_init(&c->recs, MAX_PENDING);
  }
  return c;
}

static void maybe_finish_close(struct vg_journal *j);
static void start_commit(struct vg_journal *j);

static void commit_after(uv_work_t *work, int status) {
  struct commit *c = work->data;
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
        struct segment *s = vg_calloc(1, sizeof *s);
        s->first_seq = p->first_seq;
        s->bytes = SEG_HDR;
        j->segs = vg_grow(j->segs, &j->capsegs, j->nsegs + 1, sizeof *j->segs);
        j->segs[j->nsegs++] = s;
        j->bytes += SEG_HDR;
      }
      j->segs[j->nsegs - 1]->bytes += p->bytes;
      j->bytes += p->bytes;
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
    vg_complain(&j->write_complaint, VG_LOG_ERR,
                "journal: cannot write %zu records to %s: %s", c->nrecs, j->dir,
                strerror(-c->status));
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
      continue;
    }
    vg_log(VG_LOG_WARNING, "journal: cannot write cursor %s: %s", w->path,
           strerror(-w->status));
    /* Retried next window; while closing, once is all there is. */
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
  enforce_max_bytes(j);
  for (size_t i = 0; i < c->nwaiters; i++)
    if (c->waiters[i].durable)
      c->waiters[i].durable(c->waiters[i].arg, c->nrecs ? c->status : 0);
  /* Kept unless it grew past what a steady stream needs. */
  if (!j->spare.data && c->recs.cap <= SPARE_MAX) {
    j->spare = c->recs;
    vg_buf_reset(&j->spare);
    vg_buf_init(&c->recs, MAX_PENDING);
  }
  free_commit(c);
  if (j->closing) {
    maybe_finish_close(j);
  } else if (j->commit_again) {
    j->commit_again = false;
    start_commit(j);
  } else {
    schedule(j);
  }
}

static void start_commit(struct vg_journal *j) {
  if (!has_work(j))
    return;
  struct commit *c = j->pending ? j->pending : new_commit(j);
  j->pending = NULL;
  c->first_seq = j->head_seq + 1;
  c->rotate = j->nsegs == 0 || j->segs[j->nsegs - 1]->bytes >= j->segment_bytes;
  c->base = j->nsegs ? j->segs[j->nsegs - 1]->bytes : 0;
  c->fd = c->rotate ? -1 : j->active_fd;
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
        .path = vg_strdup(r->path),
        .tmp = vg_asprintf("%s/cursors/.%s.tmp", j->dir, r->name),
    };
  }
  c->unlinks = j->unlinks;
  c->nunlinks = j->nunlinks;
  j->unlinks = NULL;
  j->nunlinks = j->capunlinks = 0;
  j->committing = c;
  uv_queue_work(j->loop, &c->work, commit_work, commit_after);
}

static void on_timer(uv_timer_t *t) {
  struct vg_journal *j = t->data;
  j->timer_armed = false;
  if (j->committing)
    j->commit_again = true;
  else
    start_commit(j);
}

static void schedule(struct vg_journal *j) {
  if (j->closing) {
    maybe_finish_close(j);
  } else if (!j->timer_armed && has_work(j)) {
    j->timer_armed = true;
    uv_timer_start(&j->timer, on_timer, (uint64_t)j->window_ms, 0);
  }
}

int vg_journal_append(struct vg_journal *j,
                      const struct vg_journal_record *recs, size_t n,
                      void (*durable)(void *arg, int status), void *arg) {
  if (j->closing)
    return -ESHUTDOWN;
  if (!j->pending)
    j->pending = new_commit(j);
  struct commit *c = j->pending;
  size_t undo = c->recs.len;
  for (size_t i = 0; i < n; i++) {
    size_t at = c->recs.len;
    unsigned char len[4] = {0};
    int rc = vg_buf_append(&c->recs, len, 4);
    rc = rc ? rc : encode_rest(&c->recs, &recs[i]);
    size_t rlen = c->recs.len - at - 4;
    if (rc == 0 && rlen + 10 > VG_JOURNAL_MAX_RECORD)
      rc = -EMSGSIZE;
    if (rc) {
      c->recs.len = undo;
      return rc == -ENOSPC ? -ENOBUFS : rc;
    }
    put_u32((unsigned char *)c->recs.data + at, (uint32_t)rlen);
  }
  if (n && !c->nrecs)
    c->first_ts = recs[0].ts_ms;
  c->nrecs += n;
  c->waiters =
      vg_grow(c->waiters, &c->capwaiters, c->nwaiters + 1, sizeof *c->waiters);
  c->waiters[c->nwaiters++] = (struct waiter){durable, arg};
  schedule(j);
  return 0;
}

/* --- reads ------------------------------------------------------------ */

struct gap {
  uint64_t from, to;
};

struct batch_impl {
  struct vg_journal_batch pub; /* first: the public pointer is this one */
  struct vg_buf arena;         /* strings, NUL-terminated */
  struct vg_label *labels;
  size_t *offs; /* while decoding: metric, names and values per record */
  size_t noffs, capoffs, caprecs, bytes;
  struct gap *gaps;
  size_t ngaps, capgaps;
  bool hint_valid, ts_known;
  uint64_t hint_seg, hint_off;
  int64_t next_ts;
};

struct seg_ref {
  struct segment *seg;
  uint64_t first_seq, bytes;
};

struct read_job {
  uv_work_t work;
  struct vg_journal_reader *r;
  uint64_t cursor;
  size_t max_records, max_bytes;
  struct seg_ref *segs;
  size_t nsegs;
  bool use_hint;
  uint64_t hint_off;
  struct batch_impl *b;
  int status;
  void (*cb)(void *arg, int status, struct vg_journal_batch *batch);
  void *arg;
};

static void push_offset(struct batch_impl *b, const unsigned char *s,
                        size_t n) {
  b->offs = vg_grow(b->offs, &b->capoffs, b->noffs + 1, sizeof *b->offs);
  b->offs[b->noffs++] = b->arena.len;
  /* The arena is capped at SIZE_MAX / 2: these appends cannot fail. */
  vg_buf_append(&b->arena, s, n);
  vg_buf_putc(&b->arena, '\0');
}

static void add_record(struct batch_impl *b, const struct view *v) {
  struct vg_journal_batch *p = &b->pub;
  p->records =
      vg_grow(p->records, &b->caprecs, p->count + 1, sizeof *p->records);
  p->records[p->count++] = (struct vg_journal_record){
      .nlabels = v->nlabels, .value = v->value, .ts_ms = v->ts, .seq = v->seq};
  push_offset(b, v->metric, v->mlen);
  const unsigned char *q = v->labels, *s = NULL;
  size_t n = 0;
  for (size_t i = 0; i < 2 * v->nlabels; i++) {
    get_string(&q, v->end, &s, &n);
    push_offset(b, s, n);
  }
}

/* Offsets become pointers once the arena has stopped moving. */
static void finish_batch(struct batch_impl *b) {
  struct vg_journal_batch *p = &b->pub;
  size_t nl = 0, k = 0;
  for (size_t i = 0; i < p->count; i++)
    nl += p->records[i].nlabels;
  /* Every entry is written below: no need to zero a megabyte per batch. */
  b->labels = vg_malloc((nl + 1) * sizeof *b->labels);
  nl = 0;
  for (size_t i = 0; i < p->count; i++) {
    struct vg_journal_record *rec = &p->records[i];
    rec->metric = b->arena.data + b->offs[k++];
    rec->labels = b->labels + nl;
    for (size_t l = 0; l < rec->nlabels; l++, nl++) {
      b->labels[nl].name = b->arena.data + b->offs[k++];
      b->labels[nl].value = b->arena.data + b->offs[k++];
    }
  }
  free(b->offs);
  b->offs = NULL;
}

/* Reads one segment from `start`; returns 1 when the batch is full, 0 to
 * go on with the next segment, -errno on error. */
static int read_segment(struct read_job *job, const struct seg_ref *s,
                        uint64_t start, uint64_t *expected) {
  struct batch_impl *b = job->b;
  char *path = seg_path(job->r->j->dir, s->first_seq);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (fd < 0)
    /* Gone (removed by hand): its records count as a gap. */
    return errno == ENOENT ? 0 : -errno;
  size_t win = READ_WINDOW, cap = 0;
  unsigned char *buf = NULL;
  int rc = 0;
  while (start < s->bytes && rc == 0) {
    size_t n = s->bytes - start < win ? (size_t)(s->bytes - start) : win;
    buf = vg_grow(buf, &cap, n, 1);
    rc = pread_all(fd, buf, n, start);
    bool at_eof = start + n == s->bytes;
    size_t off = 0, flen;
    struct view v;
    int found = END;
    while (rc == 0 &&
           (found = next_record(buf, n, at_eof, &off, &v, &flen)) == FOUND) {
      if (v.seq < *expected) {
        off += flen;
        continue;
      }
      struct vg_journal_batch *p = &b->pub;
      if (p->count == job->max_records ||
          (p->count && b->bytes + flen > job->max_bytes)) {
        /* Full: this record tells the next cursor's timestamp and place. */
        b->ts_known = true;
        b->next_ts = v.ts;
        b->hint_valid = true;
        b->hint_seg = s->first_seq;
        b->hint_off = start + off;
        rc = 1;
        break;
      }
      if (v.seq > *expected) {
        b->gaps = vg_grow(b->gaps, &b->capgaps, b->ngaps + 1, sizeof *b->gaps);
        b->gaps[b->ngaps++] = (struct gap){*expected, v.seq};
      }
      add_record(b, &v);
      b->bytes += flen;
      *expected = v.seq + 1;
      off += flen;
      b->hint_valid = true;
      b->hint_seg = s->first_seq;
      b->hint_off = start + off;
    }
    if (rc || found == END)
      break;
    /* NEED_MORE: slide the window; widen it when no progress was made. */
    if (off == 0)
      win *= 2;
    start += off;
  }
  free(buf);
  close(fd);
  return rc;
}

static void read_work(uv_work_t *work) {
  struct read_job *job = work->data;
  uint64_t expected = job->cursor;
  for (size_t i = 0; i < job->nsegs; i++) {
    uint64_t start = i == 0 && job->use_hint ? job->hint_off : SEG_HDR;
    int rc = read_segment(job, &job->segs[i], start, &expected);
    if (rc < 0)
      job->status = rc;
    if (rc)
      break;
  }
  job->b->pub.next_seq = expected;
  finish_batch(job->b);
}

static void read_after(uv_work_t *work, int status) {
  struct read_job *job = work->data;
  struct vg_journal_reader *r = job->r;
  struct vg_journal *j = r->j;
  struct batch_impl *b = job->b;
  j->reads_inflight--;
  r->reading = false;
  for (size_t i = 0; i < job->nsegs; i++) {
    struct segment *s = job->segs[i].seg;
    if (--s->refs == 0 && s->removed)
      retire(j, s);
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
    if (b->pub.count)
      r->held_next = b->pub.next_seq;
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
  schedule(j); /* retired segments, or the close that waited */
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
  job->max_records = max_records;
  job->max_bytes = max_bytes;
  job->cb = cb;
  job->arg = arg;
  job->b = vg_calloc(1, sizeof *job->b);
  vg_buf_init(&job->b->arena, SIZE_MAX / 2);
  /* At the head there is nothing to read: no I/O at all. */
  if (r->cursor <= j->head_seq && j->nsegs) {
    size_t first = 0;
    while (first + 1 < j->nsegs && j->segs[first + 1]->first_seq <= r->cursor)
      first++;
    job->nsegs = j->nsegs - first;
    job->segs = vg_calloc(job->nsegs, sizeof *job->segs);
    for (size_t i = 0; i < job->nsegs; i++) {
      struct segment *s = j->segs[first + i];
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
  free(b->gaps);
  free(pub->records);
  free(b);
}

size_t vg__journal_decode(const char *data, size_t len,
                          void (*found)(void *arg,
                                        const struct vg_journal_record *rec,
                                        const char *frame, size_t frame_len),
                          void *arg) {
  const unsigned char *p = (const unsigned char *)data;
  size_t off = 0, flen, count = 0;
  struct view v;
  while (next_record(p, len, true, &off, &v, &flen) == FOUND) {
    /* A batch of one: the same copying a reader's batch does. */
    struct batch_impl *b = vg_calloc(1, sizeof *b);
    vg_buf_init(&b->arena, SIZE_MAX / 2);
    add_record(b, &v);
    finish_batch(b);
    found(arg, &b->pub.records[0], data + off, flen);
    vg_journal_batch_free(&b->pub);
    count++;
    off += flen;
  }
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
  delete_passed(j);
  schedule(j);
}

void vg_journal_release(struct vg_journal_reader *r) {
  r->held_next = 0;
}

void vg_journal_reader_close(struct vg_journal_reader *r) {
  /* Kept in memory (a commit in flight may be saving its cursor), but it
   * no longer holds segments back nor counts drops. */
  r->closed = true;
  delete_passed(r->j);
  schedule(r->j);
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

/* The cursor file's seq; 0 when missing (-ENOENT) or unreadable. */
static int load_cursor(const char *path, uint64_t *seq) {
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
  int rc = load_cursor(r->path, &r->cursor);
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
  schedule(j);
  return 0;
}

void vg_journal_reader_stats(const struct vg_journal_reader *r,
                             struct vg_journal_reader_stats *out) {
  uint64_t head = r->j->head_seq;
  out->cursor_seq = r->cursor;
  out->lag_records = head + 1 > r->cursor ? head + 1 - r->cursor : 0;
  out->oldest_ts_ms = out->lag_records && r->oldest_known ? r->oldest_ts : 0;
  out->dropped_records = r->dropped;
  out->corrupt_records = r->corrupt;
}

void vg_journal_stats(const struct vg_journal *j,
                      struct vg_journal_stats *out) {
  *out = j->stats;
  out->bytes = j->bytes;
  out->segments = j->nsegs;
  out->head_seq = j->head_seq;
  out->max_bytes = j->max_bytes;
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
  uint64_t x = (*(struct segment *const *)a)->first_seq;
  uint64_t y = (*(struct segment *const *)b)->first_seq;
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
    struct segment *s = vg_calloc(1, sizeof *s);
    s->first_seq = strtoull(e->d_name, NULL, 10);
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

/* Finds the head seq in the newest segment and cuts off a torn tail. */
static int recover_tail(struct vg_journal *j, char *error, size_t esize) {
  struct segment *s = j->segs[j->nsegs - 1];
  char *path = seg_path(j->dir, s->first_seq);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  int rc = fd < 0 ? -errno : 0;
  unsigned char *buf = vg_malloc(s->bytes + 1);
  rc = rc ? rc : pread_all(fd, buf, s->bytes, 0);
  uint64_t end = SEG_HDR;
  j->head_seq = s->first_seq - 1;
  if (rc == 0 && s->bytes < SEG_HDR) {
    /* Created but its header never written: no record was in it. */
    rc = ftruncate(fd, 0) < 0 ? -errno : write_header(fd);
  } else if (rc == 0) {
    size_t off = SEG_HDR, flen;
    struct view v;
    while (next_record(buf, s->bytes, true, &off, &v, &flen) == FOUND) {
      off += flen;
      end = off;
      j->head_seq = v.seq;
    }
    if (s->bytes > end) {
      vg_log(VG_LOG_WARNING,
             "journal: %s: torn tail of %" PRIu64 " bytes after seq %" PRIu64
             " cut off",
             path, s->bytes - end, j->head_seq);
      j->stats.corrupt_records++;
      if (ftruncate(fd, (off_t)end) < 0)
        rc = -errno;
    }
  }
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  if (rc)
    snprintf(error, esize, "journal: cannot recover %s: %s", path,
             strerror(-rc));
  j->bytes = j->bytes - s->bytes + end;
  s->bytes = end;
  j->active_fd = fd;
  free(buf);
  free(path);
  return rc;
}

static void free_journal(struct vg_journal *j) {
  if (j->active_fd >= 0)
    close(j->active_fd);
  for (size_t i = 0; i < j->nsegs; i++)
    free(j->segs[i]);
  free(j->segs);
  for (size_t i = 0; i < j->nreaders; i++) {
    free(j->readers[i]->name);
    free(j->readers[i]->path);
    free(j->readers[i]);
  }
  free(j->readers);
  free(j->unlinks);
  free(j->dir);
  vg_buf_free(&j->spare);
  free(j);
}

int vg_journal_open(uv_loop_t *loop, const struct vg_journal_options *o,
                    struct vg_journal **out, char *error, size_t error_size) {
  struct vg_journal *j = vg_calloc(1, sizeof *j);
  j->loop = loop;
  j->dir = vg_strdup(o->dir);
  j->max_bytes = o->max_bytes ? o->max_bytes : (uint64_t)1 << 30;
  j->segment_bytes = o->segment_bytes ? o->segment_bytes : (uint64_t)16 << 20;
  j->window_ms = o->commit_window_ms > 0 ? o->commit_window_ms : 100;
  j->fsync = o->fsync;
  j->active_fd = -1;
  char *cursors = vg_asprintf("%s/cursors", j->dir);
  int rc = mkdir_p(cursors);
  free(cursors);
  if (rc) {
    snprintf(error, error_size, "journal: cannot create %s/cursors: %s", j->dir,
             strerror(-rc));
  } else if ((rc = list_segments(j)) != 0) {
    snprintf(error, error_size, "journal: cannot list %s: %s", j->dir,
             strerror(-rc));
  } else if (j->nsegs) {
    rc = recover_tail(j, error, error_size);
  }
  if (rc) {
    free_journal(j);
    return rc;
  }
  j->corrupt_upto = j->nsegs ? j->segs[0]->first_seq : 1;
  uv_timer_init(loop, &j->timer);
  j->timer.data = j;
  *out = j;
  return 0;
}

static void on_closed(uv_handle_t *h) {
  struct vg_journal *j = h->data;
  void (*closed)(void *) = j->closed;
  void *arg = j->closed_arg;
  free_journal(j);
  if (closed)
    closed(arg);
}

static void maybe_finish_close(struct vg_journal *j) {
  if (j->finishing || j->committing || j->reads_inflight)
    return;
  if (has_work(j)) {
    start_commit(j);
    return;
  }
  j->finishing = true;
  uv_close((uv_handle_t *)&j->timer, on_closed);
}

void vg_journal_close(struct vg_journal *j, void (*closed)(void *arg),
                      void *arg) {
  j->closing = true;
  j->closed = closed;
  j->closed_arg = arg;
  uv_timer_stop(&j->timer);
  j->timer_armed = false;
  maybe_finish_close(j);
}
