/* Unit tests: the newest sample delivered of each series, and its file. */
#include "daemon/pipeline/newest.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <sys/stat.h>

struct fixture {
  uv_loop_t loop;
  char dir[64];
  char *path;
  struct vg_newest *n;
  int synced;
};

static void quiet(void *arg, int level, const char *line) {
  (void)arg, (void)level, (void)line;
}

static void setup(struct fixture *f) {
  memset(f, 0, sizeof *f);
  vg_log_set_output(quiet, NULL);
  ASSERT(uv_loop_init(&f->loop) == 0);
  strcpy(f->dir, "/tmp/vgnewest-XXXXXX");
  ASSERT(mkdtemp(f->dir));
  f->path = vg_asprintf("%s/rw.newest", f->dir);
}

static void open_it(struct fixture *f) {
  char error[256] = "";
  if (vg_newest_open(&f->loop, f->path, &f->n, error, sizeof error))
    VG_FAIL("open: %s", error);
}

static void on_synced(void *arg) {
  ((struct fixture *)arg)->synced++;
}

static void sync_it(struct fixture *f) {
  int before = f->synced;
  int rc = vg_newest_sync(f->n, on_synced, f);
  ASSERT(rc == 0 || rc == 1);
  if (rc == 0)
    while (f->synced == before)
      uv_run(&f->loop, UV_RUN_ONCE);
}

static void put(struct fixture *f, uint64_t hash, uint64_t seq, bool delivered,
                int64_t ts_ms, uint64_t bits) {
  vg_newest_put(f->n, vg_newest_ref(f->n, hash), seq, delivered, ts_ms, bits);
}

static off_t size_of(const char *path) {
  struct stat st;
  ASSERT(stat(path, &st) == 0);
  return st.st_size;
}

static ino_t ino_of(const char *path) {
  struct stat st;
  ASSERT(stat(path, &st) == 0);
  return st.st_ino;
}

static void teardown(struct fixture *f) {
  vg_newest_close(f->n);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ASSERT(uv_loop_close(&f->loop) == 0);
  unlink(f->path);
  char *tmp = vg_asprintf("%s.tmp", f->path);
  unlink(tmp);
  free(tmp);
  ASSERT(rmdir(f->dir) == 0);
  free(f->path);
  vg_log_set_output(NULL, NULL);
}

/* Newest by timestamp (the later on a tie), highest seq, a record given
 * up on changes only the seq; all of it read back after a reopen. */
VG_TEST(entries_survive_a_reopen) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  ASSERT(vg_newest_get(f.n, 7) == NULL);
  put(&f, 7, 10, true, 1000, 1);
  put(&f, 7, 11, true, 900, 2);  /* older: seq only */
  put(&f, 7, 12, true, 1000, 3); /* tie: the later */
  put(&f, 8, 5, false, 0, 0);    /* never delivered */
  put(&f, 0, 6, true, 50, 4);    /* hash 0 is kept as 1 */
  vg_newest_set_refuses(f.n, true);
  sync_it(&f);
  ASSERT_INT_EQ(f.synced, 1);
  /* Nothing new: nothing to write; nor for a record dealt with before. */
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), 1);
  put(&f, 7, 12, false, 0, 0);
  put(&f, 7, 9, true, 500, 5);
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), 1);
  vg_newest_close(f.n);
  open_it(&f);
  const struct vg_newest_entry *e = vg_newest_get(f.n, 7);
  ASSERT(e);
  ASSERT_INT_EQ(e->ts_ms, 1000);
  ASSERT_INT_EQ(e->bits, 3);
  ASSERT_INT_EQ(e->seq, 12);
  e = vg_newest_get(f.n, 8);
  ASSERT(e);
  ASSERT(e->ts_ms == VG_NEWEST_NONE);
  ASSERT_INT_EQ(e->seq, 5);
  ASSERT_INT_EQ(vg_newest_get(f.n, 1)->seq, 6);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT_INT_EQ(vg_newest_count(f.n), 3);
  teardown(&f);
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7)
    n++;
  return n;
}

/* Appends a chunk a sync until the file is three times the table's
 * estimate (24 bytes an entry), then one rewrite, whole; a cut last chunk
 * is ignored, and the next sync writes the file whole again, so that no
 * chunk is appended after the damage. */
VG_TEST(file_is_compacted_and_survives_a_cut) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  /* Past 4 MiB: the entries and the index move from the heap to
   * mappings of their own, and the mappings grow. */
  const uint64_t N = 140000;
  uint32_t looked = vg_newest_ref(f.n, N + 7); /* looked up only */
  off_t before = 0, after = 0;
  uint64_t round = 0;
  for (; round < 20; round++) {
    /* A new value each round: 13 bytes an entry appended. */
    for (uint64_t h = 1; h <= N; h++)
      put(&f, h, round * N + h, true, (int64_t)round, h + round);
    sync_it(&f);
    after = size_of(f.path);
    if (round && after < before)
      break;
    before = after;
  }
  ASSERT(round < 20);
  ASSERT(before > 2 * after);
  /* Whole: the header, a chunk of N + 1 hashes and the flags, and N
   * records of key, ts, bits and seq, 11 bytes each but the first, whose
   * seq is from 0. */
  ASSERT_INT_EQ(after, 8 + 8 + 1 + varint_len(N + 1) + 8 * (N + 1) + 1 +
                           11 * N + varint_len(2 * (round * N + 1)) - 1);
  for (uint64_t h = 1; h <= N; h++)
    ASSERT_INT_EQ(vg_newest_get(f.n, h)->seq, round * N + h);
  put(&f, 5, 999999, true, 7, 7);
  sync_it(&f);
  ASSERT(size_of(f.path) > after);
  vg_newest_close(f.n);
  f.n = NULL;
  ASSERT(truncate(f.path, size_of(f.path) - 5) == 0);
  for (int reopened = 0; reopened < 2; reopened++) {
    open_it(&f);
    ASSERT_INT_EQ(vg_newest_count(f.n), N + 1);
    ASSERT_INT_EQ(vg_newest_ref(f.n, N + 7), looked);
    ASSERT_INT_EQ(vg_newest_get(f.n, 5)->seq, round * N + 5);
    ASSERT_INT_EQ(vg_newest_get(f.n, N)->ts_ms, (int64_t)round);
    ASSERT_INT_EQ(vg_newest_get(f.n, N)->bits, N + round);
    if (reopened) {
      ASSERT_INT_EQ(vg_newest_get(f.n, 6)->seq, 888888);
      break;
    }
    /* Written whole (beside, then renamed over: a new inode), not
     * appended after the cut chunk. */
    ino_t cut = ino_of(f.path);
    put(&f, 6, 888888, true, 8, 8);
    sync_it(&f);
    ASSERT(ino_of(f.path) != cut);
    ASSERT(size_of(f.path) < after + 16);
    vg_newest_close(f.n);
    f.n = NULL;
  }
  teardown(&f);
}

/* Closed with a write in flight: the write finishes alone, done is not
 * called, nothing leaks. */
VG_TEST(close_with_a_write_in_flight) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  put(&f, 3, 1, true, 1, 1);
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), 0);
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), -EBUSY);
  vg_newest_close(f.n);
  f.n = NULL;
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(f.synced, 0);
  open_it(&f);
  ASSERT_INT_EQ(vg_newest_get(f.n, 3)->seq, 1);
  teardown(&f);
}

static void write_file(const char *path, const void *p, size_t len) {
  FILE *fp = fopen(path, "wb");
  ASSERT(fp && fwrite(p, len, 1, fp) == 1);
  fclose(fp);
}

static void read_head(const char *path, unsigned char *hdr, size_t len) {
  FILE *fp = fopen(path, "rb");
  ASSERT(fp && fread(hdr, len, 1, fp) == 1);
  fclose(fp);
}

/* A version-1 file (an older release's series keys): its flags are kept,
 * its entries not, and the next sync writes the file again whole. */
VG_TEST(older_file_keeps_its_flags_only) {
  struct fixture f;
  setup(&f);
  unsigned char v1[8 + 2 * 32] = {'V', 'G', 'N', 'W', 1};
  v1[8 + 8] = 1;       /* hash 0: the flags, refuses */
  v1[8 + 32] = 7;      /* series 7 ... */
  v1[8 + 32 + 24] = 9; /* ... delivered up to seq 9 */
  write_file(f.path, v1, sizeof v1);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT(vg_newest_get(f.n, 7) == NULL);
  ASSERT_INT_EQ(vg_newest_count(f.n), 0);
  put(&f, 8, 3, true, 1000, 1);
  sync_it(&f);
  /* The header; a chunk's: its header, first 0, one hash, the flags, and
   * one record (key, ts 1000 in 2 bytes, bits, seq). */
  ASSERT_INT_EQ(size_of(f.path), 8 + 8 + 1 + 1 + 8 + 1 + 1 + 2 + 8 + 1);
  unsigned char hdr[8 + 8 + 2];
  read_head(f.path, hdr, sizeof hdr);
  ASSERT(memcmp(hdr, "VGNW\3\0\0\0", 8) == 0);
  ASSERT(hdr[8] == 23 && hdr[16] == 0 && hdr[17] == 1); /* length, 0, 1 */
  vg_newest_close(f.n);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT_INT_EQ(vg_newest_get(f.n, 8)->seq, 3);
  ASSERT_INT_EQ(vg_newest_get(f.n, 8)->ts_ms, 1000);
  teardown(&f);
}

/* A version-2 file (the release before: 32 bytes a record) is read
 * whole, later records winning, and written again as version 3 at the
 * first sync, with what changed since. */
VG_TEST(version_2_is_read_and_rewritten) {
  struct fixture f;
  setup(&f);
  uint64_t v2[1 + 4 * 4] = {0};
  memcpy(v2, "VGNW\2\0\0\0", 8);
  const uint64_t recs[4][4] = {{0, 1, 0, 0},           /* flags: refuses */
                               {7, 1000, 0x4059, 10},  /* series 7 */
                               {9, INT64_MIN, 0, 11},  /* 9: given up */
                               {7, 2000, 0x405a, 12}}; /* 7 again: wins */
  memcpy(v2 + 1, recs, sizeof recs); /* little endian, as this machine */
  write_file(f.path, v2, sizeof v2);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT_INT_EQ(vg_newest_count(f.n), 2);
  const struct vg_newest_entry *e = vg_newest_get(f.n, 7);
  ASSERT(e && e->ts_ms == 2000 && e->bits == 0x405a && e->seq == 12);
  e = vg_newest_get(f.n, 9);
  ASSERT(e && e->ts_ms == VG_NEWEST_NONE && e->seq == 11);
  put(&f, 9, 13, true, 3000, 0x4000);
  sync_it(&f);
  unsigned char hdr[8];
  read_head(f.path, hdr, sizeof hdr);
  ASSERT(memcmp(hdr, "VGNW\3\0\0\0", 8) == 0);
  vg_newest_close(f.n);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  e = vg_newest_get(f.n, 7);
  ASSERT(e && e->ts_ms == 2000 && e->bits == 0x405a && e->seq == 12);
  e = vg_newest_get(f.n, 9);
  ASSERT(e && e->ts_ms == 3000 && e->bits == 0x4000 && e->seq == 13);
  teardown(&f);
}

/* A chunk whose CRC fails ends the file there, whatever follows it; a
 * write that fails leaves a chunk missing, so the next sync writes the
 * file whole.  Either way nothing is read against a missing chunk. */
VG_TEST(damage_and_failed_writes_make_the_next_sync_whole) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  put(&f, 1, 1, true, 100, 1);
  sync_it(&f); /* whole: the file was new */
  put(&f, 1, 2, true, 200, 2);
  put(&f, 2, 3, true, 200, 3);
  sync_it(&f);
  off_t second = size_of(f.path);
  put(&f, 1, 4, true, 300, 4);
  sync_it(&f);
  /* A bit flipped in the second chunk's last byte (its seq). */
  FILE *fp = fopen(f.path, "r+b");
  ASSERT(fp && fseek(fp, second - 1, SEEK_SET) == 0);
  int c = fgetc(fp);
  ASSERT(fseek(fp, second - 1, SEEK_SET) == 0 && fputc(c ^ 1, fp) != EOF);
  fclose(fp);
  vg_newest_close(f.n);
  open_it(&f);
  ASSERT_INT_EQ(vg_newest_count(f.n), 1);
  ASSERT_INT_EQ(vg_newest_get(f.n, 1)->seq, 1);
  ASSERT_INT_EQ(vg_newest_get(f.n, 1)->ts_ms, 100);
  ino_t damaged = ino_of(f.path);
  put(&f, 2, 7, false, 0, 0);
  sync_it(&f);
  ASSERT(ino_of(f.path) != damaged);
  /* The folder away: an appended chunk fails, and is reported done. */
  char *away = vg_asprintf("%s.away", f.dir);
  put(&f, 3, 5, true, 400, 5);
  ASSERT(rename(f.dir, away) == 0);
  sync_it(&f);
  ASSERT(rename(away, f.dir) == 0);
  free(away);
  ino_t kept = ino_of(f.path);
  off_t size = size_of(f.path);
  /* Written again a second after the failure, not at once: each try
   * builds the whole table, and a full disk would refuse them all. */
  put(&f, 1, 6, true, 500, 6);
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), 1);
  ASSERT(ino_of(f.path) == kept && size_of(f.path) == size);
  uv_sleep(1100);
  uv_update_time(&f.loop);
  sync_it(&f);
  ASSERT(ino_of(f.path) != kept);
  vg_newest_close(f.n);
  open_it(&f);
  ASSERT_INT_EQ(vg_newest_count(f.n), 3);
  ASSERT_INT_EQ(vg_newest_get(f.n, 2)->seq, 7);
  ASSERT_INT_EQ(vg_newest_get(f.n, 1)->seq, 6);
  ASSERT_INT_EQ(vg_newest_get(f.n, 3)->seq, 5);
  ASSERT_INT_EQ(vg_newest_get(f.n, 3)->bits, 5);
  teardown(&f);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  ASSERT(in);
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, in);
  fclose(in);
  write_file(to, buf, n);
}

/* tests/data/newest/v3-two-chunks.newest is written by
 * tests/tools/make-newest-fixtures.py from the format's description, not
 * by this code: the reader agrees with an encoder of its own. */
VG_TEST(file_written_from_the_description_reads_back) {
  struct fixture f;
  setup(&f);
  copy_file("newest/v3-two-chunks.newest", f.path);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT_INT_EQ(vg_newest_count(f.n), 4);
  const struct vg_newest_entry *e = vg_newest_get(f.n, 0x1234567890abcdefu);
  ASSERT(e && e->ts_ms == 1765000010000 && e->bits == 0x4052d00000000000u &&
         e->seq == 180100);
  e = vg_newest_get(f.n, 0xfedcba0987654321u);
  ASSERT(e && e->ts_ms == VG_NEWEST_NONE && e->bits == 0 && e->seq == 101);
  e = vg_newest_get(f.n, 0x1111);
  ASSERT(e && e->ts_ms == VG_NEWEST_NONE && e->seq == 0);
  e = vg_newest_get(f.n, 0x2222);
  ASSERT(e && e->ts_ms == 1765000000000 && e->bits == 0x4052c00000000000u &&
         e->seq == 100);
  /* Clean: the next change is appended, not written whole. */
  ino_t ino = ino_of(f.path);
  put(&f, 0x1111, 200, true, 1765000020000, 1);
  sync_it(&f);
  ASSERT(ino_of(f.path) == ino && size_of(f.path) > 111);
  vg_newest_close(f.n);
  f.n = NULL;
  copy_file("newest/v2.newest", f.path);
  open_it(&f);
  ASSERT_INT_EQ(vg_newest_count(f.n), 2);
  e = vg_newest_get(f.n, 0x1111);
  ASSERT(e && e->ts_ms == VG_NEWEST_NONE && e->seq == 7);
  teardown(&f);
}

/* Memory only (no state folder): never written. */
VG_TEST(memory_only) {
  struct fixture f;
  setup(&f);
  char error[64];
  ASSERT_INT_EQ(vg_newest_open(&f.loop, NULL, &f.n, error, sizeof error), 0);
  put(&f, 3, 1, true, 1, 1);
  ASSERT_INT_EQ(vg_newest_sync(f.n, on_synced, &f), 1);
  teardown(&f);
}

/* The index keeps a slot's place from the hash's low half and checks its
 * high half first: series alike in either half, through several growths
 * of the index, each keep their own entry, in memory and in the file. */
VG_TEST(hashes_alike_in_either_half) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  const uint64_t N = 3000;
  /* Only looked up: numbered, its hash written with the others'. */
  uint32_t looked = vg_newest_ref(f.n, 99);
  ASSERT_INT_EQ(vg_newest_at(f.n, looked)->seq, 0);
  for (uint64_t k = 1; k <= N; k++) {
    put(&f, k << 40 | 5, k, true, (int64_t)k, k);       /* low alike */
    put(&f, (uint64_t)5 << 32 | k, N + k, false, 0, 0); /* high */
  }
  /* Its number is its own through the index's growths. */
  ASSERT_INT_EQ(vg_newest_ref(f.n, 99), looked);
  ASSERT_INT_EQ(vg_newest_count(f.n), 2 * N + 1);
  for (int reopened = 0; reopened < 2; reopened++) {
    for (uint64_t k = 1; k <= N; k++) {
      const struct vg_newest_entry *e = vg_newest_get(f.n, k << 40 | 5);
      ASSERT(e && e->seq == k && e->ts_ms == (int64_t)k && e->bits == k);
      e = vg_newest_get(f.n, (uint64_t)5 << 32 | k);
      ASSERT(e && e->seq == N + k && e->ts_ms == VG_NEWEST_NONE);
    }
    ASSERT(vg_newest_get(f.n, (uint64_t)(N + 1) << 40 | 5) == NULL);
    ASSERT(vg_newest_get(f.n, (uint64_t)5 << 32 | (N + 1)) == NULL);
    /* Looked up only: its hash is in the file, and its number. */
    ASSERT_INT_EQ(vg_newest_ref(f.n, 99), looked);
    ASSERT_INT_EQ(vg_newest_at(f.n, looked)->seq, 0);
    ASSERT(vg_newest_at(f.n, looked)->ts_ms == VG_NEWEST_NONE);
    sync_it(&f);
    vg_newest_close(f.n);
    open_it(&f);
  }
  teardown(&f);
}

/* A hint is tried first and is only a guess: right, another series'
 * entry, or past the table, the series gets its own entry and a new
 * series a new one. */
VG_TEST(hint_is_only_a_guess) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  uint32_t a = vg_newest_ref(f.n, 10), b = vg_newest_ref(f.n, 20);
  ASSERT(a != b);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 20, b), b);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 20, a), b);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 10, 99), a);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 10, UINT32_MAX), a);
  /* New: added once, found by its number or by its hash after. */
  uint32_t c = vg_newest_ref_hint(f.n, 30, b);
  ASSERT(c != a && c != b);
  ASSERT_INT_EQ(vg_newest_count(f.n), 3);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 30, c), c);
  ASSERT_INT_EQ(vg_newest_ref(f.n, 30), c);
  /* Hash 0 is kept as 1, by either way in. */
  uint32_t z = vg_newest_ref(f.n, 1);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 0, z), z);
  ASSERT_INT_EQ(vg_newest_ref_hint(f.n, 0, a), z);
  ASSERT_INT_EQ(vg_newest_count(f.n), 4);
  teardown(&f);
}

VG_TEST_MAIN(VG_T(entries_survive_a_reopen), VG_T(hashes_alike_in_either_half),
             VG_T(hint_is_only_a_guess), VG_T(older_file_keeps_its_flags_only),
             VG_T(version_2_is_read_and_rewritten),
             VG_T(file_written_from_the_description_reads_back),
             VG_T(damage_and_failed_writes_make_the_next_sync_whole),
             VG_T(file_is_compacted_and_survives_a_cut),
             VG_T(close_with_a_write_in_flight), VG_T(memory_only))
