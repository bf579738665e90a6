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

/* Appends until the file is twice what it holds, then one rewrite; a
 * cut last record is ignored. */
VG_TEST(file_is_compacted_and_survives_a_cut) {
  struct fixture f;
  setup(&f);
  open_it(&f);
  /* Past 4 MiB: the entries and the index move from the heap to
   * mappings of their own, and the mappings grow. */
  const uint64_t N = 140000;
  vg_newest_ref(f.n, N + 7); /* looked up only: not in the file */
  for (int round = 0; round < 3; round++) {
    for (uint64_t h = 1; h <= N; h++)
      put(&f, h, (uint64_t)round * N + h, true, round, h);
    sync_it(&f);
  }
  /* Rewritten whole at the third sync: the header, the flags, N. */
  ASSERT_INT_EQ(size_of(f.path), 8 + 32 * (N + 1));
  for (uint64_t h = 1; h <= N; h++)
    ASSERT_INT_EQ(vg_newest_get(f.n, h)->seq, 2 * N + h);
  put(&f, 5, 999999, true, 7, 7);
  sync_it(&f);
  vg_newest_close(f.n);
  f.n = NULL;
  ASSERT(truncate(f.path, size_of(f.path) - 5) == 0);
  open_it(&f);
  ASSERT_INT_EQ(vg_newest_count(f.n), N);
  ASSERT_INT_EQ(vg_newest_get(f.n, 5)->seq, 2 * N + 5);
  ASSERT_INT_EQ(vg_newest_get(f.n, N)->ts_ms, 2);
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

/* A version-1 file (an older release's series keys): its flags are kept,
 * its entries not, and the next sync starts the file again as version 2. */
VG_TEST(older_file_keeps_its_flags_only) {
  struct fixture f;
  setup(&f);
  unsigned char v1[8 + 2 * 32] = {'V', 'G', 'N', 'W', 1};
  v1[8 + 8] = 1;       /* hash 0: the flags, refuses */
  v1[8 + 32] = 7;      /* series 7 ... */
  v1[8 + 32 + 24] = 9; /* ... delivered up to seq 9 */
  FILE *fp = fopen(f.path, "wb");
  ASSERT(fp && fwrite(v1, sizeof v1, 1, fp) == 1);
  fclose(fp);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT(vg_newest_get(f.n, 7) == NULL);
  ASSERT_INT_EQ(vg_newest_count(f.n), 0);
  put(&f, 8, 3, true, 1000, 1);
  sync_it(&f);
  ASSERT_INT_EQ(size_of(f.path), 8 + 2 * 32); /* header, flags, one */
  fp = fopen(f.path, "rb");
  unsigned char hdr[8];
  ASSERT(fp && fread(hdr, sizeof hdr, 1, fp) == 1);
  fclose(fp);
  ASSERT(memcmp(hdr, "VGNW\2\0\0\0", 8) == 0);
  vg_newest_close(f.n);
  open_it(&f);
  ASSERT(vg_newest_refuses(f.n));
  ASSERT_INT_EQ(vg_newest_get(f.n, 8)->seq, 3);
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
  /* Only looked up: numbered, and never written. */
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
    ASSERT(reopened == 0 || vg_newest_get(f.n, 99) == NULL);
    sync_it(&f);
    vg_newest_close(f.n);
    open_it(&f);
  }
  teardown(&f);
}

VG_TEST_MAIN(VG_T(entries_survive_a_reopen), VG_T(hashes_alike_in_either_half),
             VG_T(older_file_keeps_its_flags_only),
             VG_T(file_is_compacted_and_survives_a_cut),
             VG_T(close_with_a_write_in_flight), VG_T(memory_only))
