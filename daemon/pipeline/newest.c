/* daemon/pipeline/newest.c - the newest sample delivered of each series.
 *
 * Owns the entries, kept dense in the order they came (hash 0 is kept as
 * 1), an open-addressing index of them by series hash, and the file.  An
 * index slot is the entry's number + 1 (0: empty) with the hash's high
 * half beside it, so that a probe past other series, and the look-up of a
 * series never seen (every one of a drain after an outage), reads the
 * index only.  Both arrays grow in place (resize_array moves a large
 * array's pages, it neither copies nor clears them) and an index slot is
 * 8 bytes:
 * a drain of 2 M new series faulted in 336 MiB of 40-byte slots, most of
 * its CPU (bench/run-push.sh --profile), and now faults in about 96.
 * The file:
 *   "VGNW" + u32 version (2), then 32-byte records, little endian:
 *   u64 hash, i64 ts_ms, u64 value bits, u64 seq.  The hashes are the
 *   caller's series keys; version 1 held keys made otherwise, so only its
 *   flags are read, and the file is started again.  A record with hash 0
 *   holds the flags in ts_ms (bit 0: the sink refuses out-of-order
 *   samples).  Later records win.  Each put appends the entry as it now is
 *   to the records of the next sync, which appends them to the file; once
 *   the file is twice what the table holds (and past 1 MiB), a sync writes
 *   the whole table to <path>.tmp and renames it over the file instead.
 * Must never: write from the loop thread, or let a write job touch the
 * table (it owns a copy of what it writes).
 */
#include "daemon/pipeline/newest.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC 32
#define HDR 8
#define VERSION 2
#define COMPACT_MIN ((uint64_t)1 << 20)
/* The largest write buffer kept for the next sync: a batch's records. */
#define SPARE_MAX ((size_t)4 << 20)

struct entry {
  uint64_t hash; /* never 0 */
  struct vg_newest_entry e;
};

/* What a write job shares with the table: freed by whichever ends last. */
struct file {
  char *path, *tmp;
  uint64_t bytes; /* the file's size, as the jobs left it */
  struct vg_complaint complaint;
};

struct job {
  uv_work_t work;
  struct vg_newest *n; /* NULL once the table is closed */
  struct file *f;
  unsigned char *buf; /* owned; the table's spare once written */
  size_t len, cap;
  bool whole; /* buf is the whole file: write it beside and rename */
  int status;
  void (*done)(void *arg);
  void *arg;
};

struct vg_newest {
  uv_loop_t *loop;
  /* Owned, count of cap; numbered from 0 in 32 bits (4 G series would
   * take 192 GB, far past any MemoryMax). */
  struct entry *entries;
  size_t count, cap;
  uint64_t *index; /* owned, mask + 1 slots: (hash >> 32) << 32 | number + 1 */
  size_t mask;
  /* Owned: the records of the next sync, one per put since the last. */
  unsigned char *pending;
  size_t npending, pending_cap;
  bool refuses, flags_changed;
  struct file *file; /* NULL: memory only */
  struct job *job;   /* the write in flight */
  /* Owned: the last write's buffer, for the next one.  A fresh one per
   * sync (every request a sender makes) was faulted in each time. */
  unsigned char *spare;
  size_t spare_cap;
};

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint64_t tag_of(uint64_t hash) {
  return hash & ~(uint64_t)0xffffffff;
}

/* The slot holding `hash`, or the empty one where it would go. */
static uint64_t *find(const struct vg_newest *n, uint64_t hash) {
  uint64_t tag = tag_of(hash);
  for (size_t i = hash & n->mask;; i = (i + 1) & n->mask) {
    uint64_t v = n->index[i];
    if (v == 0 ||
        (tag_of(v) == tag && n->entries[(uint32_t)v - 1].hash == hash))
      return &n->index[i];
  }
}

/* Arrays from this size on are mapped apart, in huge pages where the
 * kernel gives them: a drain of new series grows the index and the
 * entries to tens of MiB, and faulting them in 4 KiB pages (each fault a
 * trip out of a virtual machine's guest) and missing the TLB on every
 * probe was most of the drain's CPU (bench/run-push.sh --profile). */
#define HUGE_ARRAY ((size_t)2 << 20)

/* The policy of daemon/util/mem.c: out of memory aborts, loudly. */
static _Noreturn void out_of_memory(size_t bytes) {
  fprintf(stderr, "<2>villagemetricsd: out of memory allocating %zu bytes\n",
          bytes);
  abort();
}

static void *map(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    out_of_memory(bytes);
  /* Advice only: without huge pages the arrays work the same. */
  (void)madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

/* Zeroed, owned by the table: free_array gives it back. */
static void *alloc_array(size_t bytes) {
  return bytes < HUGE_ARRAY ? vg_calloc(1, bytes) : map(bytes);
}

static void free_array(void *p, size_t bytes) {
  if (bytes < HUGE_ARRAY)
    free(p);
  else if (p)
    munmap(p, bytes);
}

/* `p` (of `old` bytes, or NULL) grown to `bytes`, what it held kept; the
 * rest is zero from HUGE_ARRAY on (fresh pages), unspecified below.  A
 * mapping grows in place or moves its pages: nothing is copied or cleared
 * again. */
static void *resize_array(void *p, size_t old, size_t bytes) {
  if (bytes < HUGE_ARRAY)
    return vg_realloc(p, bytes);
  if (old < HUGE_ARRAY) {
    void *q = map(bytes);
    if (old)
      memcpy(q, p, old);
    free(p);
    return q;
  }
  void *q = mremap(p, old, bytes, MREMAP_MAYMOVE);
  if (q == MAP_FAILED)
    out_of_memory(bytes);
  return q;
}

/* The index doubled in place, made again from the dense entries: only
 * the new half is faulted in (a fresh index each time faulted in twice
 * the final size over a drain's doublings), and the old half, cleared,
 * is memory the table already holds. */
static void grow_index(struct vg_newest *n) {
  size_t old = (n->mask + 1) * sizeof *n->index;
  n->index = resize_array(n->index, old, 2 * old);
  memset(n->index, 0, old);
  if (2 * old < HUGE_ARRAY) /* the heap's new half is not zero */
    memset((char *)n->index + old, 0, old);
  n->mask = 2 * n->mask + 1;
  for (size_t i = 0; i < n->count; i++) {
    uint64_t hash = n->entries[i].hash;
    *find(n, hash) = tag_of(hash) | (i + 1);
  }
}

/* The entry of `hash`, added (nothing delivered, seq 0) when missing. */
static struct entry *get_or_add(struct vg_newest *n, uint64_t hash) {
  if (!hash)
    hash = 1;
  uint64_t *slot = find(n, hash);
  if (*slot)
    return &n->entries[(uint32_t)*slot - 1];
  if (n->count == n->cap) {
    size_t cap = n->cap ? 2 * n->cap : 64;
    n->entries = resize_array(n->entries, n->cap * sizeof *n->entries,
                              cap * sizeof *n->entries);
    n->cap = cap;
  }
  struct entry *e = &n->entries[n->count++];
  *e = (struct entry){hash, {VG_NEWEST_NONE, 0, 0}};
  if (2 * n->count > n->mask + 1)
    grow_index(n);
  else
    *slot = tag_of(hash) | n->count;
  return e;
}

/* Loads the records of a file of `version`; of version 1 only the flags
 * (its series keys are not this release's).  Later records replace. */
static void load(struct vg_newest *n, const unsigned char *p, size_t len,
                 uint32_t version) {
  for (size_t off = HDR; off + REC <= len; off += REC) {
    uint64_t hash = get_u64(p + off);
    struct vg_newest_entry e = {(int64_t)get_u64(p + off + 8),
                                get_u64(p + off + 16), get_u64(p + off + 24)};
    if (!hash)
      n->refuses = (e.ts_ms & 1) != 0;
    else if (version == VERSION)
      get_or_add(n, hash)->e = e;
  }
}

static int read_file(struct vg_newest *n, const char *path, char *error,
                     size_t esize) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  struct stat st;
  int rc = fstat(fd, &st) < 0 ? -errno : 0;
  size_t len = rc ? 0 : (size_t)st.st_size;
  unsigned char *buf = vg_malloc(len + 1);
  size_t got = 0;
  while (rc == 0 && got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      rc = r < 0 ? -errno : 0;
      break;
    }
    got += (size_t)r;
  }
  close(fd);
  if (rc == 0) {
    uint32_t version = 0;
    for (int i = 0; got >= HDR && i < 4; i++)
      version |= (uint32_t)buf[4 + i] << (8 * i);
    if (got >= HDR && memcmp(buf, "VGNW", 4) == 0 &&
        (version == 1 || version == VERSION))
      load(n, buf, got, version);
    else if (got)
      vg_log(VG_LOG_WARNING,
             "%s is not a file of newest samples: starting without it", path);
    n->file->bytes = got;
    if (version == 1) {
      /* Rewritten from its header at the next sync, flags included: what
       * it says of series is only known again as samples are delivered,
       * and the first batch after the upgrade may be sent again. */
      vg_log(VG_LOG_NOTICE, "%s is of an older release: its series start again",
             path);
      n->file->bytes = 0;
      n->flags_changed = true;
    }
  } else {
    snprintf(error, esize, "cannot read %s: %s", path, strerror(-rc));
  }
  free(buf);
  return rc;
}

int vg_newest_open(uv_loop_t *loop, const char *path, struct vg_newest **out,
                   char *error, size_t error_size) {
  struct vg_newest *n = vg_calloc(1, sizeof *n);
  n->loop = loop;
  n->mask = 127;
  n->index = alloc_array((n->mask + 1) * sizeof *n->index);
  if (path) {
    n->file = vg_calloc(1, sizeof *n->file);
    n->file->path = vg_strdup(path);
    n->file->tmp = vg_asprintf("%s.tmp", path);
    int rc = read_file(n, path, error, error_size);
    if (rc) {
      vg_newest_close(n);
      return rc;
    }
  }
  *out = n;
  return 0;
}

static void free_file(struct file *f) {
  if (!f)
    return;
  free(f->path);
  free(f->tmp);
  free(f);
}

void vg_newest_close(struct vg_newest *n) {
  if (!n)
    return;
  if (n->job) {
    n->job->n = NULL; /* the job frees the file when it is done */
  } else {
    free_file(n->file);
  }
  free_array(n->index, (n->mask + 1) * sizeof *n->index);
  free_array(n->entries, n->cap * sizeof *n->entries);
  free(n->pending);
  free(n->spare);
  free(n);
}

void vg_newest_prefetch(const struct vg_newest *n, uint64_t hash) {
  __builtin_prefetch(&n->index[(hash ? hash : 1) & n->mask]);
}

void vg_newest_prefetch_entry(const struct vg_newest *n, uint64_t hash) {
  uint64_t v = n->index[(hash ? hash : 1) & n->mask];
  if (v)
    __builtin_prefetch(&n->entries[(uint32_t)v - 1]);
}

const struct vg_newest_entry *vg_newest_get(const struct vg_newest *n,
                                            uint64_t hash) {
  uint64_t v = *find(n, hash ? hash : 1);
  return v ? &n->entries[(uint32_t)v - 1].e : NULL;
}

uint32_t vg_newest_ref(struct vg_newest *n, uint64_t hash) {
  return (uint32_t)(get_or_add(n, hash) - n->entries);
}

const struct vg_newest_entry *vg_newest_at(const struct vg_newest *n,
                                           uint32_t ref) {
  return &n->entries[ref].e;
}

void vg_newest_prefetch_at(const struct vg_newest *n, uint32_t ref) {
  __builtin_prefetch(&n->entries[ref], 1);
}

static void put_record(unsigned char *p, uint64_t hash,
                       const struct vg_newest_entry *e) {
  put_u64(p, hash);
  put_u64(p + 8, (uint64_t)e->ts_ms);
  put_u64(p + 16, e->bits);
  put_u64(p + 24, e->seq);
}

void vg_newest_put(struct vg_newest *n, uint32_t ref, uint64_t seq,
                   bool delivered, int64_t ts_ms, uint64_t bits) {
  struct entry *s = &n->entries[ref];
  struct vg_newest_entry was = s->e;
  if (delivered && ts_ms >= s->e.ts_ms) {
    s->e.ts_ms = ts_ms;
    s->e.bits = bits;
  }
  if (seq > s->e.seq)
    s->e.seq = seq;
  /* A record dealt with before (read again after a restart) changes
   * nothing, and the file needs nothing of it. */
  if (!n->file || memcmp(&was, &s->e, sizeof was) == 0)
    return;
  /* The entry as it is now: a later put of the series in the same sync
   * writes it again, and the later record wins when the file is read. */
  if (!n->pending && n->spare) {
    n->pending = n->spare;
    n->pending_cap = n->spare_cap;
    n->spare = NULL;
  }
  n->pending = vg_grow(n->pending, &n->pending_cap, (n->npending + 1) * REC, 1);
  put_record(n->pending + n->npending * REC, s->hash, &s->e);
  n->npending++;
}

bool vg_newest_refuses(const struct vg_newest *n) {
  return n->refuses;
}

void vg_newest_set_refuses(struct vg_newest *n, bool refuses) {
  if (n->refuses != refuses)
    n->flags_changed = true;
  n->refuses = refuses;
}

size_t vg_newest_count(const struct vg_newest *n) {
  return n->count;
}

/* --- writing ---------------------------------------------------------- */

static int write_all(int fd, const unsigned char *p, size_t len) {
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static void write_work(uv_work_t *w) {
  struct job *job = w->data;
  struct file *f = job->f;
  const char *path = job->whole ? f->tmp : f->path;
  int flags =
      O_WRONLY | O_CREAT | O_CLOEXEC | (job->whole ? O_TRUNC : O_APPEND);
  int fd = open(path, flags, 0644);
  job->status = fd < 0 ? -errno : 0;
  if (fd < 0)
    return;
  /* A new or emptied file starts with its header. */
  if (!job->whole && f->bytes < HDR) {
    unsigned char hdr[HDR] = {'V', 'G', 'N', 'W', VERSION, 0, 0, 0};
    if (ftruncate(fd, 0) < 0)
      job->status = -errno;
    else
      job->status = write_all(fd, hdr, HDR);
    if (job->status == 0)
      f->bytes = HDR;
  }
  if (job->status == 0)
    job->status = write_all(fd, job->buf, job->len);
  close(fd);
  if (job->whole && job->status == 0 && rename(f->tmp, f->path) < 0)
    job->status = -errno;
  if (job->status == 0)
    f->bytes = job->whole ? job->len : f->bytes + job->len;
  else if (job->whole)
    unlink(f->tmp);
}

static void write_after(uv_work_t *w, int status) {
  struct job *job = w->data;
  struct vg_newest *n = job->n;
  if (job->status)
    vg_complain(&job->f->complaint, VG_LOG_WARNING, "cannot write %s: %s",
                job->whole ? job->f->tmp : job->f->path,
                strerror(-job->status));
  else
    vg_complaint_release(&job->f->complaint, "%s is written again",
                         job->f->path);
  /* A whole file's buffer is the table's size: written rarely, so not
   * kept. */
  if (n && !n->spare && job->cap <= SPARE_MAX) {
    n->spare = job->buf;
    n->spare_cap = job->cap;
  } else {
    free(job->buf);
  }
  if (!n) {
    free_file(job->f);
    free(job);
    return;
  }
  n->job = NULL;
  void (*done)(void *) = job->done;
  void *arg = job->arg;
  free(job);
  done(arg);
}

int vg_newest_sync(struct vg_newest *n, void (*done)(void *arg), void *arg) {
  if (n->job)
    return -EBUSY;
  if (!n->file || (!n->npending && !n->flags_changed)) {
    n->npending = 0;
    return 1;
  }
  struct job *job = vg_calloc(1, sizeof *job);
  job->work.data = job;
  job->n = n;
  job->f = n->file;
  job->done = done;
  job->arg = arg;
  struct vg_newest_entry flags = {n->refuses ? 1 : 0, 0, 0};
  uint64_t live = HDR + (n->count + 1) * REC;
  job->whole = n->file->bytes + (n->npending + 1) * REC > 2 * live &&
               n->file->bytes > COMPACT_MIN;
  if (job->whole) {
    job->cap = live;
    if (n->spare && n->spare_cap >= job->cap) {
      job->buf = n->spare;
      job->cap = n->spare_cap;
    } else {
      free(n->spare);
      job->buf = vg_malloc(job->cap);
    }
    n->spare = NULL;
    unsigned char *p = job->buf;
    memcpy(p, "VGNW\2\0\0\0", HDR);
    p += HDR;
    put_record(p, 0, &flags);
    p += REC;
    /* Not those only looked up, never put: they say nothing. */
    for (size_t i = 0; i < n->count; i++)
      if (n->entries[i].e.seq) {
        put_record(p, n->entries[i].hash, &n->entries[i].e);
        p += REC;
      }
    job->len = (size_t)(p - job->buf);
  } else {
    /* The puts' records, and the flags (where they stand in the file
     * does not matter: hash 0 is no series). */
    if (n->flags_changed) {
      n->pending =
          vg_grow(n->pending, &n->pending_cap, (n->npending + 1) * REC, 1);
      put_record(n->pending + n->npending * REC, 0, &flags);
      n->npending++;
    }
    job->buf = n->pending;
    job->cap = n->pending_cap;
    job->len = n->npending * REC;
    n->pending = NULL;
    n->pending_cap = 0;
  }
  n->npending = 0;
  n->flags_changed = false;
  n->job = job;
  uv_queue_work(n->loop, &job->work, write_work, write_after);
  return 0;
}
