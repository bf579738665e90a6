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
 * The file: "VGNW" + u32 version (3), then chunks, one per sync:
 *   u32 payload length, u32 CRC32C of the payload, little endian; the
 *   payload: varint first, varint n, n u64 hashes (the entries numbered
 *   first .. first + n - 1, new to the file: first is what the file held),
 *   one byte of flags (bit 0: the sink refuses out-of-order samples), then
 *   records to the payload's end, each an entry's change:
 *     varint key = zigzag(entry - (previous record's entry + 1, or 0
 *       at the chunk's start)) << 3 |
 *       bit 0 ts follows, bit 1 value bits follow, bit 2 seq follows;
 *     ts: varint zigzag(ts - base), base the entry's ts, or when it has
 *       none the previous record's in the chunk (0 at its start);
 *     bits: u64; seq: varint zigzag(seq - base), base as for ts.
 *   So a round of a series already known costs 12-16 bytes, not 32, and
 *   an entry is named by its number, not its hash.  The file's numbers
 *   are the table's: every entry's hash is written, looked up only or
 *   not.  A chunk that is cut, fails its CRC or does not follow the
 *   entries read so far ends the file (a crash during a write); the next
 *   sync rewrites it whole, as after a failed write, so that no chunk
 *   ever follows one that is missing.  Version 2 (32-byte records: u64
 *   hash, i64 ts_ms, u64 value bits, u64 seq; hash 0 the flags) is read
 *   and rewritten as version 3; of version 1 (other series keys) only
 *   the flags are read.  Once the file is three times an estimate of the
 *   table's size (24 bytes an entry) and past 1 MiB, a sync writes the
 *   whole table to <path>.tmp and renames it over the file instead.
 * Must never: write from the loop thread, or let a write job touch the
 * table (it owns a copy of what it writes).
 */
#include "daemon/pipeline/newest.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/diskroom.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "daemon/util/varint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR 8       /* the file's: "VGNW", version */
#define CHUNK_HDR 8 /* a chunk's: length, CRC */
#define VERSION 3
#define V2_REC 32
/* A record's most bytes: key, ts, bits, seq. */
#define REC_MAX (3 * VG_VARINT_MAX + 8)
#define TS_FOLLOWS 1
#define BITS_FOLLOW 2
#define SEQ_FOLLOWS 4
/* A whole file's bytes an entry, about: its hash and one record. */
#define LIVE_PER_ENTRY 24
#define COMPACT_MIN ((uint64_t)1 << 20)
/* The largest write buffer kept for the next sync: a batch's records. */
#define SPARE_MAX ((size_t)4 << 20)
/* How long after a failed write the file is written again (whole). */
#define RETRY_MS 1000

struct entry {
  uint64_t hash; /* never 0 */
  struct vg_newest_entry e;
};

/* What a chunk's next record is coded against. */
struct chunk_state {
  uint64_t next; /* the entry after the previous record's */
  int64_t ts;    /* the previous ts written, for an entry without one */
  uint64_t seq;  /* the previous seq written, for an entry without one */
};

/* What a write job shares with the table: freed by whichever ends last. */
struct file {
  char *path, *tmp, *dir;
  uint64_t bytes; /* the file's size, as the jobs left it */
  /* Open for appending (-1: not), from one chunk to the next: an open
   * per sync (every request a sender makes) was a tenth of a drain's
   * system time.  A whole file replaces it, and the next chunk opens
   * the new one. */
  int fd;
  struct vg_complaint complaint;
};

struct job {
  uv_work_t work;
  struct vg_newest *n; /* NULL once the table is closed */
  struct file *f;
  unsigned char *buf; /* owned, whole chunks; the table's spare once written */
  size_t len, cap;
  bool whole; /* buf is the whole file: written beside and renamed */
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
  /* Owned: the records of the next sync, one per put since the last,
   * and what the next record's deltas are from (the chunk's state). */
  unsigned char *pending;
  size_t pending_len, pending_cap;
  struct chunk_state chunk;
  /* Entries whose hashes the file holds, or the write in flight. */
  size_t filed;
  bool refuses, flags_changed;
  /* The next sync writes the whole file: the file is of an older version,
   * has a damaged end, or lacks a chunk that failed to be written. */
  bool whole_next;
  /* After a failed write, no sync before this (uv_now): each would build
   * the whole table on the loop, and a full disk refuses them all. */
  uint64_t retry_ms;
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

static int64_t ts_base(const struct chunk_state *c,
                       const struct vg_newest_entry *was) {
  return was->ts_ms != VG_NEWEST_NONE ? was->ts_ms : c->ts;
}

static uint64_t seq_base(const struct chunk_state *c,
                         const struct vg_newest_entry *was) {
  return was->seq ? was->seq : c->seq;
}

/* Loads the 32-byte records of a version-2 file, or of version 1 only the
 * flags (its series keys are not this release's).  Later records
 * replace. */
static void load_v2(struct vg_newest *n, const unsigned char *p, size_t len,
                    uint32_t version) {
  for (size_t off = HDR; off + V2_REC <= len; off += V2_REC) {
    uint64_t hash = get_u64(p + off);
    struct vg_newest_entry e = {(int64_t)get_u64(p + off + 8),
                                get_u64(p + off + 16), get_u64(p + off + 24)};
    if (!hash)
      n->refuses = (e.ts_ms & 1) != 0;
    else if (version == 2)
      get_or_add(n, hash)->e = e;
  }
}

/* Whether a chunk's payload is whole and follows the entries read so far:
 * its first, its hashes' room, its flags, and every record in bounds. */
static bool chunk_holds(const struct vg_newest *n, const unsigned char *p,
                        const unsigned char *end) {
  uint64_t first, count;
  if (!vg_varint_get(&p, end, &first) || first != n->count ||
      !vg_varint_get(&p, end, &count) || count > (uint64_t)(end - p) / 8 ||
      n->count + count > UINT32_MAX)
    return false;
  uint64_t entries = n->count + count;
  p += 8 * count;
  if (p == end)
    return false; /* the flags */
  p++;
  uint64_t next = 0, v;
  while (p < end) {
    uint64_t key;
    if (!vg_varint_get(&p, end, &key) || !(key & 7))
      return false;
    uint64_t entry = next + vg_unzigzag(key >> 3);
    if (entry >= entries)
      return false; /* wrapped below 0 too */
    if ((key & TS_FOLLOWS) && !vg_varint_get(&p, end, &v))
      return false;
    if (key & BITS_FOLLOW) {
      if (end - p < 8)
        return false;
      p += 8;
    }
    if ((key & SEQ_FOLLOWS) && !vg_varint_get(&p, end, &v))
      return false;
    next = entry + 1;
  }
  return true;
}

/* Applies a chunk chunk_holds accepted: false, with its new entries
 * partly added (and nothing of its records), when a hash is 0 or one the
 * table has (damage the CRC missed). */
static bool load_chunk(struct vg_newest *n, const unsigned char *p,
                       const unsigned char *end) {
  uint64_t first = 0, count = 0, v = 0;
  vg_varint_get(&p, end, &first);
  vg_varint_get(&p, end, &count);
  for (uint64_t i = 0; i < count; i++, p += 8) {
    uint64_t hash = get_u64(p);
    size_t had = n->count;
    if (!hash || (get_or_add(n, hash), n->count == had))
      return false;
  }
  n->refuses = (*p++ & 1) != 0;
  struct chunk_state c = {0, 0, 0};
  while (p < end) {
    uint64_t key = 0;
    vg_varint_get(&p, end, &key);
    c.next += vg_unzigzag(key >> 3);
    struct vg_newest_entry *e = &n->entries[c.next].e;
    if (key & TS_FOLLOWS) {
      vg_varint_get(&p, end, &v);
      e->ts_ms = (int64_t)((uint64_t)ts_base(&c, e) + vg_unzigzag(v));
      c.ts = e->ts_ms;
    }
    if (key & BITS_FOLLOW) {
      e->bits = get_u64(p);
      p += 8;
    }
    if (key & SEQ_FOLLOWS) {
      vg_varint_get(&p, end, &v);
      e->seq = seq_base(&c, e) + vg_unzigzag(v);
      c.seq = e->seq;
    }
    c.next++;
  }
  return true;
}

/* Loads a version-3 file's chunks up to the first that does not hold:
 * the bytes read. */
static size_t load_v3(struct vg_newest *n, const unsigned char *p, size_t len) {
  size_t off = HDR;
  while (len - off >= CHUNK_HDR) {
    uint64_t plen = get_u64(p + off) & 0xffffffff;
    const unsigned char *payload = p + off + CHUNK_HDR;
    if (plen > len - off - CHUNK_HDR ||
        vg_crc32c(0, payload, plen) != get_u64(p + off) >> 32 ||
        !chunk_holds(n, payload, payload + plen) ||
        !load_chunk(n, payload, payload + plen))
      break;
    off += CHUNK_HDR + plen;
  }
  return off;
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
  if (rc) {
    snprintf(error, esize, "cannot read %s: %s", path, strerror(-rc));
    free(buf);
    return rc;
  }
  uint32_t version = 0;
  if (got >= HDR && memcmp(buf, "VGNW", 4) == 0)
    version = (uint32_t)(get_u64(buf) >> 32);
  n->file->bytes = got;
  /* Anything but a whole file of this version is written again whole at
   * the next sync, so that no chunk follows one that is damaged. */
  n->whole_next = got > 0;
  if (version == VERSION) {
    size_t used = load_v3(n, buf, got);
    n->whole_next = used < got;
    if (used < got)
      vg_log(VG_LOG_WARNING,
             "%s: ignoring its end from byte %zu of %zu (cut or damaged: "
             "written again at the next sync)",
             path, used, got);
  } else if (version == 1 || version == 2) {
    load_v2(n, buf, got, version);
    /* Version 1: what it says of series is only known again as samples
     * are delivered, and the first batch after the upgrade may be sent
     * again. */
    vg_log(VG_LOG_NOTICE,
           version == 1 ? "%s is of an older release: its series start again"
                        : "%s is of an older release: rewritten at the next "
                          "sync",
           path);
  } else if (got) {
    vg_log(VG_LOG_WARNING,
           "%s is not a file of newest samples: starting without it", path);
  }
  n->filed = n->count;
  free(buf);
  return 0;
}

int vg_newest_open(uv_loop_t *loop, const char *path, struct vg_newest **out,
                   char *error, size_t error_size) {
  struct vg_newest *n = vg_calloc(1, sizeof *n);
  n->loop = loop;
  n->mask = 127;
  n->index = alloc_array((n->mask + 1) * sizeof *n->index);
  if (path) {
    n->file = vg_calloc(1, sizeof *n->file);
    n->file->fd = -1;
    n->file->path = vg_strdup(path);
    n->file->tmp = vg_asprintf("%s.tmp", path);
    const char *slash = strrchr(path, '/');
    n->file->dir =
        slash ? vg_strndup(path, (size_t)(slash - path) + 1) : vg_strdup(".");
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
  if (f->fd >= 0)
    close(f->fd);
  free(f->path);
  free(f->tmp);
  free(f->dir);
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
  if (!hash)
    hash = 1;
  uint64_t v = n->index[hash & n->mask];
  /* Only the entry the look-up will read: the slot may hold another
   * series (for a series never seen, as in a drain, up to half of them
   * do), whose entry would be a miss spent for nothing. */
  if (v && tag_of(v) == tag_of(hash))
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

uint32_t vg_newest_ref_hint(struct vg_newest *n, uint64_t hash, uint32_t hint) {
  /* An entry's hash is its series' alone: get_or_add adds none twice. */
  if (hint < n->count && n->entries[hint].hash == (hash ? hash : 1))
    return hint;
  return vg_newest_ref(n, hash);
}

const struct vg_newest_entry *vg_newest_at(const struct vg_newest *n,
                                           uint32_t ref) {
  return &n->entries[ref].e;
}

void vg_newest_prefetch_at(const struct vg_newest *n, uint32_t ref) {
  __builtin_prefetch(&n->entries[ref], 1);
}

/* Writes at p the record taking entry `ref` from `was` to `now` (which
 * differ) in a chunk at state c: its length, at most REC_MAX. */
static size_t put_change(unsigned char *p, struct chunk_state *c, uint32_t ref,
                         const struct vg_newest_entry *was,
                         const struct vg_newest_entry *now) {
  unsigned mask = (now->ts_ms != was->ts_ms ? TS_FOLLOWS : 0) |
                  (now->bits != was->bits ? BITS_FOLLOW : 0) |
                  (now->seq != was->seq ? SEQ_FOLLOWS : 0);
  size_t k = vg_varint_put(p, vg_zigzag(ref - c->next) << 3 | mask);
  if (mask & TS_FOLLOWS) {
    k += vg_varint_put(
        p + k, vg_zigzag((uint64_t)now->ts_ms - (uint64_t)ts_base(c, was)));
    c->ts = now->ts_ms;
  }
  if (mask & BITS_FOLLOW) {
    put_u64(p + k, now->bits);
    k += 8;
  }
  if (mask & SEQ_FOLLOWS) {
    k += vg_varint_put(p + k, vg_zigzag(now->seq - seq_base(c, was)));
    c->seq = now->seq;
  }
  c->next = (uint64_t)ref + 1;
  return k;
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
  /* The change, for the next sync's chunk: a later put of the series in
   * the same sync writes the next change. */
  n->pending =
      vg_grow(n->pending, &n->pending_cap, n->pending_len + REC_MAX, 1);
  n->pending_len +=
      put_change(n->pending + n->pending_len, &n->chunk, ref, &was, &s->e);
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
  /* The disk's reserve is for the journal's cursors (util/diskroom.h); a
   * write refused makes the next sync whole, as any failed one does. */
  job->status = vg_disk_room(f->dir, job->len);
  if (job->status)
    return;
  int fd = f->fd;
  f->fd = -1;
  if (job->whole && fd >= 0) {
    close(fd); /* the file it replaces */
    fd = -1;
  }
  if (job->whole)
    fd = open(f->tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_TRUNC, 0644);
  else if (fd < 0)
    fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND, 0644);
  job->status = fd < 0 ? -errno : write_all(fd, job->buf, job->len);
  vg_disk_room_done(job->len);
  if (fd < 0)
    return;
  /* Kept open after a chunk that went in: a failed write is followed by
   * a whole file, and a whole file by a chunk that opens it. */
  if (!job->whole && job->status == 0)
    f->fd = fd;
  else
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
  /* The chunk is missing, and the next ones are coded against it. */
  if (job->status) {
    n->whole_next = true;
    n->retry_ms = uv_now(n->loop) + RETRY_MS;
  }
  void (*done)(void *) = job->done;
  void *arg = job->arg;
  free(job);
  done(arg);
}

/* The chunk of entries [first, first + count) starts at p: its new
 * hashes and the flags.  The records follow, then close_chunk. */
static unsigned char *open_chunk(const struct vg_newest *n, unsigned char *p,
                                 size_t first, size_t count) {
  p += CHUNK_HDR;
  p += vg_varint_put(p, first);
  p += vg_varint_put(p, count);
  for (size_t i = first; i < first + count; i++, p += 8)
    put_u64(p, n->entries[i].hash);
  *p++ = n->refuses ? 1 : 0;
  return p;
}

static void close_chunk(unsigned char *chunk, const unsigned char *end) {
  size_t len = (size_t)(end - chunk) - CHUNK_HDR;
  uint32_t crc = vg_crc32c(0, chunk + CHUNK_HDR, len);
  put_u64(chunk, (uint64_t)crc << 32 | len);
}

/* A chunk's room besides its hashes and records. */
#define CHUNK_ROOM (CHUNK_HDR + 2 * VG_VARINT_MAX + 1)
/* The entries of one chunk of a whole file: chunks stay far below the
 * 4 GiB their length allows, and a damaged one costs only its own. */
#define WHOLE_CHUNK ((size_t)1 << 20)

/* The job's buffer, of at least `bytes`: the spare when it is that
 * large. */
static void take_buffer(struct vg_newest *n, struct job *job, size_t bytes) {
  if (n->spare && n->spare_cap >= bytes) {
    job->buf = n->spare;
    job->cap = n->spare_cap;
  } else {
    free(n->spare);
    job->buf = vg_malloc(bytes);
    job->cap = bytes;
  }
  n->spare = NULL;
}

/* The whole table, as chunks of WHOLE_CHUNK entries: every entry's hash,
 * and a record of each that holds more than a new one. */
static void build_whole(struct vg_newest *n, struct job *job) {
  size_t chunks = n->count / WHOLE_CHUNK + 1;
  take_buffer(n, job, HDR + chunks * CHUNK_ROOM + n->count * (8 + REC_MAX));
  unsigned char *p = job->buf;
  memcpy(p, "VGNW\3\0\0\0", HDR);
  p += HDR;
  static const struct vg_newest_entry fresh = {VG_NEWEST_NONE, 0, 0};
  size_t first = 0;
  do {
    size_t count =
        n->count - first < WHOLE_CHUNK ? n->count - first : WHOLE_CHUNK;
    unsigned char *chunk = p;
    p = open_chunk(n, p, first, count);
    struct chunk_state c = {0, 0, 0};
    for (size_t i = first; i < first + count; i++)
      if (memcmp(&n->entries[i].e, &fresh, sizeof fresh) != 0)
        p += put_change(p, &c, (uint32_t)i, &fresh, &n->entries[i].e);
    close_chunk(chunk, p);
    first += count;
  } while (first < n->count);
  job->len = (size_t)(p - job->buf);
}

/* The entries new since the last sync and the pending records, as one
 * chunk. */
static void build_chunk(struct vg_newest *n, struct job *job) {
  size_t count = n->count - n->filed;
  take_buffer(n, job, CHUNK_ROOM + 8 * count + n->pending_len);
  unsigned char *p = open_chunk(n, job->buf, n->filed, count);
  if (n->pending_len)
    memcpy(p, n->pending, n->pending_len);
  p += n->pending_len;
  close_chunk(job->buf, p);
  job->len = (size_t)(p - job->buf);
}

int vg_newest_sync(struct vg_newest *n, void (*done)(void *arg), void *arg) {
  if (n->job)
    return -EBUSY;
  uint64_t live = HDR + (uint64_t)n->count * LIVE_PER_ENTRY;
  bool whole = n->file && (n->whole_next || n->file->bytes < HDR ||
                           (n->file->bytes > COMPACT_MIN &&
                            n->file->bytes + n->pending_len > 3 * live));
  /* Until the retry, what is pending is dropped: the whole file written
   * then holds it. */
  if (!n->file || (!whole && !n->pending_len && !n->flags_changed) ||
      (n->whole_next && uv_now(n->loop) < n->retry_ms)) {
    n->pending_len = 0;
    n->chunk = (struct chunk_state){0, 0, 0};
    return 1;
  }
  struct job *job = vg_calloc(1, sizeof *job);
  job->work.data = job;
  job->n = n;
  job->f = n->file;
  job->done = done;
  job->arg = arg;
  job->whole = whole;
  if (whole)
    build_whole(n, job);
  else
    build_chunk(n, job);
  n->filed = n->count;
  n->pending_len = 0;
  n->chunk = (struct chunk_state){0, 0, 0};
  n->flags_changed = false;
  n->whole_next = false;
  n->job = job;
  uv_queue_work(n->loop, &job->work, write_work, write_after);
  return 0;
}
