/* Unit tests: the journal on real loops, in temporary folders. */
#include "daemon/pipeline/journal.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/log.h"
#include "daemon/util/mem.h"
#include "tests/vgtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>

struct fixture {
  uv_loop_t loop;
  char dir[64];
  struct vg_journal *j;
  struct vg_journal_options opt;
  char log[8192];
};

static void capture(void *arg, int level, const char *line) {
  struct fixture *f = arg;
  size_t n = strlen(f->log);
  snprintf(f->log + n, sizeof f->log - n, "%s\n", line);
}

static void open_journal(struct fixture *f) {
  char error[256] = "";
  int rc = vg_journal_open(&f->loop, &f->opt, &f->j, error, sizeof error);
  if (rc)
    VG_FAIL("open: %s", error);
}

static void setup(struct fixture *f, uint64_t segment_bytes,
                  uint64_t max_bytes) {
  memset(f, 0, sizeof *f);
  ASSERT(uv_loop_init(&f->loop) == 0);
  strcpy(f->dir, "/tmp/vgjournal-XXXXXX");
  ASSERT(mkdtemp(f->dir));
  f->opt = (struct vg_journal_options){.dir = f->dir,
                                       .segment_bytes = segment_bytes,
                                       .max_bytes = max_bytes,
                                       .commit_window_ms = 1};
  vg_log_set_output(capture, f);
  open_journal(f);
}

static void on_closed(void *arg) {
  *(bool *)arg = true;
}

static void close_journal(struct fixture *f) {
  bool closed = false;
  vg_journal_close(f->j, on_closed, &closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ASSERT(closed);
  f->j = NULL;
}

static void reopen(struct fixture *f) {
  close_journal(f);
  open_journal(f);
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path);
}

static void teardown(struct fixture *f) {
  if (f->j)
    close_journal(f);
  ASSERT(uv_loop_close(&f->loop) == 0);
  ASSERT(nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  vg_log_set_output(NULL, NULL);
}

/* --- appending -------------------------------------------------------- */

struct durable {
  int calls, status;
};

static void on_durable(void *arg, int status) {
  struct durable *d = arg;
  d->calls++;
  d->status = status;
}

static const struct vg_label village_labels[] = {
    {"county", "Lankao"}, {"town", "Yizhang"}, {"village", "Zhangzhuang"}};

/* Record i of the test data: ts and value follow from i. */
static struct vg_journal_record rec(int i) {
  return (struct vg_journal_record){
      .metric = i % 2 ? "village_tap_water_ratio" : "village_income_yuan",
      .labels = village_labels,
      .nlabels = (size_t)(i % 4),
      .value = i * 1.5,
      .ts_ms = 1700000000000 + i * 1000,
  };
}

static void check_rec(const struct vg_journal_record *got, int i) {
  struct vg_journal_record want = rec(i);
  ASSERT_INT_EQ(got->seq, i);
  ASSERT_STR_EQ(got->metric, want.metric);
  ASSERT_INT_EQ(got->nlabels, want.nlabels);
  for (size_t k = 0; k < want.nlabels; k++) {
    ASSERT_STR_EQ(got->labels[k].name, want.labels[k].name);
    ASSERT_STR_EQ(got->labels[k].value, want.labels[k].value);
    ASSERT_INT_EQ(got->label_lens[2 * k], strlen(want.labels[k].name));
    ASSERT_INT_EQ(got->label_lens[2 * k + 1], strlen(want.labels[k].value));
  }
  ASSERT_DBL_EQ(got->value, want.value);
  ASSERT_INT_EQ(got->ts_ms, want.ts_ms);
}

/* Appends records from..to (seq numbers) as one append and commits. */
static void append_range(struct fixture *f, int from, int to) {
  struct vg_journal_record recs[64];
  ASSERT(to - from < 64);
  for (int i = from; i <= to; i++)
    recs[i - from] = rec(i);
  struct durable d = {0};
  ASSERT(vg_journal_append(f->j, recs, (size_t)(to - from + 1), on_durable,
                           &d) == 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.calls, 1);
  ASSERT_INT_EQ(d.status, 0);
}

/* One record per commit, so that small segments rotate. */
static void append_each(struct fixture *f, int from, int to) {
  for (int i = from; i <= to; i++)
    append_range(f, i, i);
}

/* --- reading ---------------------------------------------------------- */

struct got {
  int calls, status;
  struct vg_journal_batch *batch;
};

static void on_read(void *arg, int status, struct vg_journal_batch *b) {
  struct got *g = arg;
  g->calls++;
  g->status = status;
  g->batch = b;
}

static struct vg_journal_batch *read_batch(struct fixture *f,
                                           struct vg_journal_reader *r,
                                           size_t max_records,
                                           size_t max_bytes) {
  struct got g = {0};
  ASSERT(vg_journal_read(r, max_records, max_bytes, on_read, &g) == 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(g.calls, 1);
  ASSERT_INT_EQ(g.status, 0);
  return g.batch;
}

/* Reads everything from the cursor, acknowledging as it goes; returns the
 * seqs read into seqs[]. */
static size_t drain(struct fixture *f, struct vg_journal_reader *r,
                    uint64_t *seqs, size_t max, size_t per_batch) {
  size_t n = 0;
  for (;;) {
    struct vg_journal_batch *b = read_batch(f, r, per_batch, SIZE_MAX);
    size_t count = b->count;
    for (size_t i = 0; i < count; i++) {
      ASSERT(n < max);
      seqs[n++] = b->records[i].seq;
      if (b->records[i].seq > 0 && b->records[i].seq < 1000)
        check_rec(&b->records[i], (int)b->records[i].seq);
    }
    vg_journal_ack(r, b->next_seq);
    vg_journal_batch_free(b);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* cursor writes, deletions */
    if (!count)
      return n;
  }
}

static struct vg_journal_reader *reader(struct fixture *f, const char *name) {
  struct vg_journal_reader *r = NULL;
  ASSERT(vg_journal_reader(f->j, name, &r) == 0);
  return r;
}

static struct vg_journal_stats jstats(struct fixture *f) {
  struct vg_journal_stats s;
  vg_journal_stats(f->j, &s);
  return s;
}

static struct vg_journal_reader_stats rstats(struct vg_journal_reader *r) {
  struct vg_journal_reader_stats s;
  vg_journal_reader_stats(r, &s);
  return s;
}

/* --- files ------------------------------------------------------------ */

/* The segments' first seqs, ascending. */
static size_t list_segments(struct fixture *f, uint64_t *firsts, size_t max) {
  DIR *d = opendir(f->dir);
  ASSERT(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".seg")) {
      ASSERT(n < max);
      firsts[n++] = strtoull(e->d_name, NULL, 10);
    }
  closedir(d);
  for (size_t i = 1; i < n; i++)
    for (size_t k = i; k > 0 && firsts[k - 1] > firsts[k]; k--) {
      uint64_t t = firsts[k];
      firsts[k] = firsts[k - 1];
      firsts[k - 1] = t;
    }
  return n;
}

static char *segment_path(struct fixture *f, uint64_t first) {
  return vg_asprintf("%s/%020llu.seg", f->dir, (unsigned long long)first);
}

static char *read_whole(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  ASSERT(fp);
  char *data = vg_malloc(1 << 20);
  *len = fread(data, 1, 1 << 20, fp);
  fclose(fp);
  return data;
}

struct frames {
  const char *base;
  size_t off[64], len[64], n;
  uint64_t seq[64];
};

static void on_frame(void *arg, const struct vg_journal_record *rec,
                     const char *frame, size_t frame_len) {
  struct frames *fr = arg;
  ASSERT(fr->n < 64);
  fr->off[fr->n] = (size_t)(frame - fr->base) + 8;
  fr->len[fr->n] = frame_len;
  fr->seq[fr->n++] = rec->seq;
}

/* Where each record of a segment file starts. */
static void frames_of(const char *path, struct frames *fr) {
  size_t len;
  char *data = read_whole(path, &len);
  memset(fr, 0, sizeof *fr);
  fr->base = data + 8;
  vg__journal_decode(data + 8, len - 8, 2, on_frame, fr);
  free(data);
}

static void flip_byte(const char *path, size_t off) {
  int fd = open(path, O_RDWR);
  ASSERT(fd >= 0);
  unsigned char c;
  ASSERT(pread(fd, &c, 1, (off_t)off) == 1);
  c ^= 0x5a;
  ASSERT(pwrite(fd, &c, 1, (off_t)off) == 1);
  close(fd);
}

/* --- tests ------------------------------------------------------------ */

VG_TEST(crc32c_and_round_trip) {
  ASSERT_INT_EQ(vg_crc32c(0, "123456789", 9), 0xE3069283u);
  ASSERT_INT_EQ(vg_crc32c_portable(0, "123456789", 9), 0xE3069283u);
  /* The CPU's instruction (where used) and the tables agree at every
   * length and alignment, chained or not. */
  unsigned char bytes[300];
  for (size_t i = 0; i < sizeof bytes; i++)
    bytes[i] = (unsigned char)(i * 131 + 7);
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= sizeof bytes; n += 7) {
      uint32_t a = vg_crc32c(5, bytes + off, n);
      ASSERT_INT_EQ(a, vg_crc32c_portable(5, bytes + off, n));
    }
  ASSERT_INT_EQ(vg_crc32c(vg_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  struct vg_buf b;
  vg_buf_init(&b, 1 << 20);
  struct vg_journal_record r = rec(3);
  r.seq = 300;
  ASSERT(vg__journal_encode(&r, &b) == 0);
  struct frames fr;
  memset(&fr, 0, sizeof fr);
  fr.base = b.data;
  ASSERT_INT_EQ(vg__journal_decode(b.data, b.len, 1, on_frame, &fr), 1);
  ASSERT_INT_EQ(fr.seq[0], 300);
  ASSERT_INT_EQ(fr.len[0], b.len);
  vg_buf_free(&b);
}

/* Values whose bits must survive exactly, and timestamps of both signs. */
VG_TEST(append_and_read_back_across_segments) {
  struct fixture f;
  setup(&f, 300, 0);
  struct vg_journal_reader *r = reader(&f, "influx");
  append_each(&f, 1, 20);
  struct vg_journal_stats s = jstats(&f);
  ASSERT(s.segments >= 4);
  ASSERT_INT_EQ(s.max_bytes, 1 << 30); /* the default */
  ASSERT_INT_EQ(s.head_seq, 20);
  ASSERT_INT_EQ(s.appended_records, 20);

  uint64_t nan_bits = 0x7ff8000000abcdefull;
  double nan, values[] = {-0.0, 1e308, 5e-324, -INFINITY, 0};
  memcpy(&nan, &nan_bits, 8);
  values[4] = nan;
  int64_t ts[] = {-1, INT64_MIN, INT64_MAX, 0, 1};
  struct vg_label odd[] = {{"crop", "玉米"}, {"empty", ""}};
  struct vg_journal_record recs[5];
  for (int i = 0; i < 5; i++)
    recs[i] = (struct vg_journal_record){.metric = "m",
                                         .labels = odd,
                                         .nlabels = 2,
                                         .value = values[i],
                                         .ts_ms = ts[i]};
  struct durable d = {0};
  ASSERT(vg_journal_append(f.j, recs, 5, on_durable, &d) == 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.status, 0);

  struct vg_journal_batch *b = read_batch(&f, r, 100, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 25);
  ASSERT_INT_EQ(b->next_seq, 26);
  for (int i = 0; i < 20; i++)
    check_rec(&b->records[i], i + 1);
  for (int i = 0; i < 5; i++) {
    const struct vg_journal_record *g = &b->records[20 + i];
    ASSERT_INT_EQ(g->seq, 21 + i);
    ASSERT(memcmp(&g->value, &values[i], 8) == 0);
    ASSERT_INT_EQ(g->ts_ms, ts[i]);
    ASSERT_STR_EQ(g->labels[0].value, "玉米");
    ASSERT_STR_EQ(g->labels[1].value, "");
    ASSERT_INT_EQ(g->label_lens[1], strlen("玉米"));
    ASSERT_INT_EQ(g->label_lens[3], 0);
  }
  vg_journal_batch_free(b);
  teardown(&f);
}

/* The stale marker is a signalling NaN: written and read back bit for
 * bit, never made an ordinary NaN on the way. */
VG_TEST(stale_marker_bits_survive) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "rw");
  struct vg_journal_record m = rec(1);
  m.value = vg_stale_nan();
  struct durable d = {0};
  ASSERT(vg_journal_append(f.j, &m, 1, on_durable, &d) == 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.status, 0);
  struct vg_journal_batch *b = read_batch(&f, r, 10, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 1);
  uint64_t bits;
  memcpy(&bits, &b->records[0].value, 8);
  ASSERT_INT_EQ(bits, 0x7ff0000000000002ull);
  ASSERT(vg_is_stale_nan(b->records[0].value));
  vg_journal_batch_free(b);
  teardown(&f);
}

VG_TEST(one_commit_larger_than_a_segment_spreads_over_several) {
  struct fixture f;
  setup(&f, 512, 1 << 20);
  struct vg_journal_reader *r = reader(&f, "a");
  append_range(&f, 1, 60); /* one commit, some 4 KB of records */
  uint64_t firsts[32];
  size_t nseg = list_segments(&f, firsts, 32);
  ASSERT(nseg >= 6);
  ASSERT_INT_EQ(jstats(&f).segments, nseg);
  ASSERT_INT_EQ(firsts[0], 1);
  /* No segment much over the size: each holds whole records. */
  for (size_t i = 0; i < nseg; i++) {
    char *path = segment_path(&f, firsts[i]);
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    ASSERT(st.st_size <= 512 + 200);
    free(path);
  }
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 7), 60);
  for (size_t i = 0; i < 60; i++)
    ASSERT_INT_EQ(seqs[i], i + 1);
  teardown(&f);
}

VG_TEST(group_commit_one_fsync) {
  struct fixture f;
  setup(&f, 0, 0);
  f.opt.commit_window_ms = 50;
  reopen(&f);
  struct durable d = {0}, other = {0};
  for (int i = 1; i <= 100; i++) {
    struct vg_journal_record r = rec(i);
    /* Each append after the first says durable runs once for it too. */
    ASSERT_INT_EQ(vg_journal_append(f.j, &r, 1, on_durable, &d), i > 1);
  }
  struct vg_journal_record r = rec(101);
  ASSERT_INT_EQ(vg_journal_append(f.j, &r, 1, on_durable, &other), 0);
  ASSERT_INT_EQ(d.calls, 0); /* nothing is durable before the commit */
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.calls, 1);
  ASSERT_INT_EQ(other.calls, 1);
  ASSERT_INT_EQ(d.status, 0);
  struct vg_journal_stats s = jstats(&f);
  ASSERT_INT_EQ(s.fsyncs, 1);
  ASSERT_INT_EQ(s.head_seq, 101);
  ASSERT(s.fsync_seconds_total >= s.last_fsync_seconds);
  teardown(&f);
}

VG_TEST(fsync_off_writes_without_fsync) {
  struct fixture f;
  setup(&f, 0, 0);
  f.opt.fsync = VG_FSYNC_OFF;
  reopen(&f);
  append_range(&f, 1, 3);
  ASSERT_INT_EQ(jstats(&f).fsyncs, 0);
  reopen(&f);
  struct vg_journal_reader *r = reader(&f, "r");
  struct vg_journal_batch *b = read_batch(&f, r, 10, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 3);
  vg_journal_batch_free(b);
  teardown(&f);
}

VG_TEST(reopen_restores_cursor_and_seq) {
  struct fixture f;
  setup(&f, 200, 0);
  struct vg_journal_reader *r = reader(&f, "remote_write");
  append_each(&f, 1, 10);
  struct vg_journal_batch *b = read_batch(&f, r, 4, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 4);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  reopen(&f);

  size_t len;
  char *path = vg_asprintf("%s/cursors/remote_write", f.dir);
  char *text = read_whole(path, &len);
  ASSERT_INT_EQ(len, 2);
  ASSERT(memcmp(text, "5\n", 2) == 0);
  free(text);
  free(path);

  r = reader(&f, "remote_write");
  ASSERT_INT_EQ(rstats(r).cursor_seq, 5);
  ASSERT_INT_EQ(rstats(r).lag_records, 6);
  append_range(&f, 11, 15);
  uint64_t seqs[64];
  size_t n = drain(&f, r, seqs, 64, 3);
  ASSERT_INT_EQ(n, 11);
  for (size_t i = 0; i < n; i++)
    ASSERT_INT_EQ(seqs[i], 5 + i);
  teardown(&f);
}

VG_TEST(close_commits_pending_appends) {
  struct fixture f;
  setup(&f, 0, 0);
  struct durable d = {0};
  struct vg_journal_record r = rec(1);
  ASSERT(vg_journal_append(f.j, &r, 1, on_durable, &d) == 0);
  bool closed = false;
  vg_journal_close(f.j, on_closed, &closed);
  ASSERT(vg_journal_append(f.j, &r, 1, on_durable, &d) == -ESHUTDOWN);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT(closed);
  ASSERT_INT_EQ(d.calls, 1);
  ASSERT_INT_EQ(d.status, 0);
  open_journal(&f);
  ASSERT_INT_EQ(jstats(&f).head_seq, 1);
  teardown(&f);
}

VG_TEST(two_readers_are_independent) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *a = reader(&f, "a"), *b = reader(&f, "b");
  struct vg_journal_reader *dup;
  ASSERT(vg_journal_reader(f.j, "a", &dup) == 0 && dup == a);
  ASSERT(vg_journal_reader(f.j, "../x", &dup) == -EINVAL);
  ASSERT(vg_journal_reader(f.j, ".hidden", &dup) == -EINVAL);
  ASSERT(vg_journal_reader(f.j, "", &dup) == -EINVAL);
  append_range(&f, 1, 10);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, a, seqs, 64, 3), 10);
  ASSERT_INT_EQ(rstats(a).cursor_seq, 11);
  ASSERT_INT_EQ(rstats(a).lag_records, 0);
  ASSERT_INT_EQ(rstats(b).cursor_seq, 1);
  ASSERT_INT_EQ(rstats(b).lag_records, 10);
  struct vg_journal_batch *batch = read_batch(&f, b, 2, SIZE_MAX);
  ASSERT_INT_EQ(batch->records[0].seq, 1);
  vg_journal_batch_free(batch);
  teardown(&f);
}

VG_TEST(one_read_at_a_time) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_range(&f, 1, 2);
  struct got g1 = {0}, g2 = {0};
  ASSERT(vg_journal_read(r, 0, SIZE_MAX, on_read, &g1) == -EINVAL);
  ASSERT(vg_journal_read(r, 10, SIZE_MAX, on_read, &g1) == 0);
  ASSERT(vg_journal_read(r, 10, SIZE_MAX, on_read, &g2) == -EBUSY);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(g1.calls, 1);
  ASSERT_INT_EQ(g2.calls, 0);
  ASSERT_INT_EQ(g1.batch->count, 2);
  vg_journal_batch_free(g1.batch);
  teardown(&f);
}

VG_TEST(batch_limits) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_range(&f, 1, 10);
  struct vg_journal_batch *b = read_batch(&f, r, 3, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 3);
  ASSERT_INT_EQ(b->next_seq, 4);
  vg_journal_batch_free(b);
  /* Without an ack the same records come again. */
  b = read_batch(&f, r, 3, SIZE_MAX);
  ASSERT_INT_EQ(b->records[0].seq, 1);
  vg_journal_batch_free(b);
  /* One byte still yields one record, so that a reader never sticks. */
  b = read_batch(&f, r, 100, 1);
  ASSERT_INT_EQ(b->count, 1);
  ASSERT_INT_EQ(b->next_seq, 2);
  vg_journal_batch_free(b);
  /* Records 1 and 2 encode to the sizes below: two fit in their sum. */
  struct vg_buf enc;
  vg_buf_init(&enc, 1 << 20);
  struct vg_journal_record r1 = rec(1), r2 = rec(2);
  r1.seq = 1, r2.seq = 2;
  vg__journal_encode(&r1, &enc);
  vg__journal_encode(&r2, &enc);
  b = read_batch(&f, r, 100, enc.len);
  ASSERT_INT_EQ(b->count, 2);
  vg_journal_batch_free(b);
  b = read_batch(&f, r, 100, enc.len - 1);
  ASSERT_INT_EQ(b->count, 1);
  vg_journal_batch_free(b);
  vg_buf_free(&enc);
  teardown(&f);
}

VG_TEST(lag_and_oldest_timestamp) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  ASSERT_INT_EQ(rstats(r).lag_records, 0);
  ASSERT_INT_EQ(rstats(r).oldest_ts_ms, 0);
  append_range(&f, 1, 5);
  /* The reader was at the head: the commit tells the oldest timestamp. */
  ASSERT_INT_EQ(rstats(r).lag_records, 5);
  ASSERT_INT_EQ(rstats(r).oldest_ts_ms, rec(1).ts_ms);
  struct vg_journal_batch *b = read_batch(&f, r, 2, SIZE_MAX);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  ASSERT_INT_EQ(rstats(r).cursor_seq, 3);
  ASSERT_INT_EQ(rstats(r).lag_records, 3);
  ASSERT_INT_EQ(rstats(r).oldest_ts_ms, rec(3).ts_ms);
  b = read_batch(&f, r, 10, SIZE_MAX);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  ASSERT_INT_EQ(rstats(r).lag_records, 0);
  ASSERT_INT_EQ(rstats(r).oldest_ts_ms, 0);
  teardown(&f);
}

VG_TEST(acks_delete_segments_all_readers_passed) {
  struct fixture f;
  setup(&f, 200, 0);
  struct vg_journal_reader *a = reader(&f, "a"), *b = reader(&f, "b");
  append_each(&f, 1, 12);
  uint64_t firsts[64];
  size_t nsegs = list_segments(&f, firsts, 64);
  ASSERT(nsegs >= 3);
  ASSERT_INT_EQ(jstats(&f).segments, nsegs);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, a, seqs, 64, 5), 12);
  /* b has read nothing: every segment stays. */
  ASSERT_INT_EQ(list_segments(&f, firsts, 64), nsegs);
  /* b passes the second segment's first record: the first one goes. */
  vg_journal_ack(b, firsts[1] + 1);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  uint64_t now[64];
  ASSERT_INT_EQ(list_segments(&f, now, 64), nsegs - 1);
  ASSERT_INT_EQ(now[0], firsts[1]);
  ASSERT_INT_EQ(jstats(&f).segments, nsegs - 1);
  ASSERT_INT_EQ(drain(&f, b, seqs, 64, 100), 12 - firsts[1]);
  /* The segment being written always stays. */
  ASSERT_INT_EQ(list_segments(&f, now, 64), 1);
  ASSERT_INT_EQ(now[0], firsts[nsegs - 1]);
  teardown(&f);
}

VG_TEST(max_bytes_drops_with_exact_counts) {
  struct fixture f;
  setup(&f, 150, 450);
  struct vg_journal_reader *slow = reader(&f, "slow");
  struct vg_journal_reader *fast = reader(&f, "fast");
  uint64_t seqs[64];
  for (int i = 1; i <= 30; i++) {
    append_range(&f, i, i);
    drain(&f, fast, seqs, 64, 100);
  }
  struct vg_journal_stats s = jstats(&f);
  ASSERT(s.bytes <= 450);
  ASSERT_INT_EQ(s.max_bytes, 450);
  uint64_t firsts[64];
  list_segments(&f, firsts, 64);
  struct vg_journal_reader_stats rs = rstats(slow);
  ASSERT(firsts[0] > 1);
  ASSERT_INT_EQ(rs.cursor_seq, firsts[0]);
  ASSERT_INT_EQ(rs.dropped_records, firsts[0] - 1);
  ASSERT_INT_EQ(rs.corrupt_records, 0);
  ASSERT_INT_EQ(rstats(fast).dropped_records, 0);
  ASSERT_CONTAINS(f.log, "reader slow lost");
  /* The slow reader now gets exactly the rest, in order. */
  size_t n = drain(&f, slow, seqs, 64, 100);
  ASSERT_INT_EQ(n, 30 - (firsts[0] - 1));
  for (size_t i = 0; i < n; i++)
    ASSERT_INT_EQ(seqs[i], firsts[0] + i);
  teardown(&f);
}

/* How many of this process's descriptors are open on segments of the
 * fixture's journal, deleted ones among them. */
static size_t open_segments(struct fixture *f, size_t *deleted) {
  DIR *d = opendir("/proc/self/fd");
  ASSERT(d);
  size_t n = 0;
  *deleted = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char link[300], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len <= 0)
      continue;
    target[len] = '\0';
    if (strncmp(target, f->dir, strlen(f->dir)) == 0 &&
        strstr(target, ".seg")) {
      n++;
      *deleted += strstr(target, "(deleted)") != NULL;
    }
  }
  closedir(d);
  return n;
}

/* A reader keeps the segment its read ended in open for the next read,
 * and lets it go when the segment is deleted: a reader that does not
 * read meanwhile holds no disk space. */
VG_TEST(a_kept_segment_is_let_go_when_deleted) {
  struct fixture f;
  setup(&f, 150, 0);
  append_each(&f, 1, 20);
  size_t deleted, writer = open_segments(&f, &deleted); /* the active one */
  struct vg_journal_reader *r = reader(&f, "kept");
  struct vg_journal_batch *b = read_batch(&f, r, 1, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 1);
  vg_journal_batch_free(b);
  ASSERT_INT_EQ(open_segments(&f, &deleted), writer + 1);
  /* Acknowledged past the second segment: the first two go. */
  uint64_t firsts[64];
  ASSERT(list_segments(&f, firsts, 64) > 3);
  vg_journal_ack(r, firsts[2]);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(list_segments(&f, firsts, 64), jstats(&f).segments);
  ASSERT_INT_EQ(open_segments(&f, &deleted), writer);
  ASSERT_INT_EQ(deleted, 0);
  /* The next read opens where it starts. */
  b = read_batch(&f, r, 1, SIZE_MAX);
  ASSERT_INT_EQ(b->records[0].seq, firsts[0]);
  vg_journal_batch_free(b);
  ASSERT_INT_EQ(open_segments(&f, &deleted), writer + 1);
  teardown(&f);
}

VG_TEST(no_readers_keep_segments_until_max_bytes) {
  struct fixture f;
  setup(&f, 150, 0);
  append_each(&f, 1, 20);
  uint64_t firsts[64];
  ASSERT_INT_EQ(list_segments(&f, firsts, 64), jstats(&f).segments);
  ASSERT_INT_EQ(firsts[0], 1);
  /* A reader configured later finds everything. */
  reopen(&f);
  struct vg_journal_reader *r = reader(&f, "late");
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 7), 20);
  teardown(&f);
}

VG_TEST(torn_tail_is_cut_and_counted) {
  struct fixture f;
  setup(&f, 0, 0);
  append_each(&f, 1, 10);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  struct stat st;
  ASSERT(stat(path, &st) == 0);
  ASSERT(truncate(path, st.st_size - 3) == 0);
  open_journal(&f);
  struct vg_journal_stats s = jstats(&f);
  ASSERT_INT_EQ(s.corrupt_records, 1);
  /* The torn record's seq was assigned: it is not given again. */
  ASSERT_INT_EQ(s.head_seq, 10);
  ASSERT_CONTAINS(f.log, "torn tail");
  ASSERT_CONTAINS(f.log, "1 records lost; sequence numbers go on from 11");
  struct vg_journal_reader *r = reader(&f, "r");
  append_range(&f, 11, 11);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 4), 10);
  ASSERT_INT_EQ(seqs[8], 9);
  ASSERT_INT_EQ(seqs[9], 11);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 1);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 1);
  free(path);
  teardown(&f);
}

/* The newest segment cut in the middle of a record, 13 records before
 * its end: the head file says 20 were committed, so 13 are counted (not
 * one for the torn bytes), by the journal at open and by a reader that
 * meets the gap, and numbering goes on at 21. */
VG_TEST(cut_newest_segment_counts_every_record_it_held) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_each(&f, 1, 20);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 3), 20);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  struct frames fr;
  frames_of(path, &fr);
  ASSERT_INT_EQ(fr.n, 20);
  /* Keep 7 records and 5 bytes of the 8th. */
  ASSERT(truncate(path, (off_t)(fr.off[7] + 5)) == 0);
  /* A second reader that had read only 4 of them. */
  int fd = open(f.dir, O_RDONLY);
  ASSERT(fd >= 0);
  close(fd);
  char *cur = vg_asprintf("%s/cursors/slow", f.dir);
  FILE *fp = fopen(cur, "w");
  ASSERT(fp);
  fputs("5\n", fp);
  fclose(fp);
  free(cur);
  open_journal(&f);
  ASSERT_INT_EQ(jstats(&f).head_seq, 20);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 13);
  ASSERT_CONTAINS(f.log, "ends at seq 7 but 20 were committed: 13 records "
                         "lost; sequence numbers go on from 21");
  r = reader(&f, "r");
  struct vg_journal_reader *slow = reader(&f, "slow");
  /* The reader that had everything lost nothing; the slow one gets 5..7
   * and counts the 13 as lost, without counting them for the journal
   * again. */
  ASSERT_INT_EQ(rstats(r).lag_records, 0);
  ASSERT_INT_EQ(rstats(slow).lag_records, 16);
  ASSERT_INT_EQ(drain(&f, slow, seqs, 64, 10), 3);
  ASSERT_INT_EQ(seqs[2], 7);
  ASSERT_INT_EQ(rstats(slow).corrupt_records, 13);
  ASSERT_INT_EQ(rstats(slow).lag_records, 0);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 13);
  append_range(&f, 21, 22);
  ASSERT_INT_EQ(drain(&f, slow, seqs, 64, 10), 2);
  ASSERT_INT_EQ(seqs[0], 21);
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 10), 2);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 0);
  free(path);
  teardown(&f);
}

/* A journal from before the head file: the cursors still tell how far
 * numbering went, so a cut segment never makes a seq be used twice. */
VG_TEST(without_head_file_cursors_tell_the_head) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_each(&f, 1, 20);
  struct vg_journal_batch *b = read_batch(&f, r, 15, SIZE_MAX);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  close_journal(&f);
  uint64_t seqs[64];
  char *head = vg_asprintf("%s/head", f.dir);
  ASSERT(unlink(head) == 0);
  free(head);
  char *path = segment_path(&f, 1);
  struct frames fr;
  frames_of(path, &fr);
  ASSERT(truncate(path, (off_t)(fr.off[10])) == 0); /* 10 records left */
  open_journal(&f);
  /* Cursor 16: seqs up to 15 were committed. */
  ASSERT_INT_EQ(jstats(&f).head_seq, 15);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 5);
  r = reader(&f, "r");
  ASSERT_INT_EQ(rstats(r).cursor_seq, 16);
  append_range(&f, 16, 16);
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 10), 1);
  ASSERT_INT_EQ(seqs[0], 16);
  free(path);
  teardown(&f);
}

/* Every segment removed by hand: numbering goes on after the last. */
VG_TEST(every_segment_gone_numbering_goes_on) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_each(&f, 1, 5);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  ASSERT(unlink(path) == 0);
  free(path);
  open_journal(&f);
  ASSERT_INT_EQ(jstats(&f).head_seq, 5);
  /* Records gone with their files count as dropped for the reader, as
   * for any segment deleted while it was not open. */
  r = reader(&f, "r");
  ASSERT_INT_EQ(rstats(r).lag_records, 0);
  ASSERT_INT_EQ(rstats(r).dropped_records, 5);
  append_range(&f, 6, 6);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 10), 1);
  ASSERT_INT_EQ(seqs[0], 6);
  teardown(&f);
}

/* A batch in flight keeps its segment past max_bytes until it is
 * acknowledged or released; once released, a drop takes it, and counts
 * it when the cursor past it is on disk.  At every step the lag, the
 * drops and what was delivered add up to what was appended. */
VG_TEST(max_bytes_waits_for_a_batch_in_flight) {
  struct fixture f;
  setup(&f, 150, 450);
  struct vg_journal_reader *r = reader(&f, "r");
  append_each(&f, 1, 3);
  struct vg_journal_batch *b = read_batch(&f, r, 3, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 3);
  append_each(&f, 4, 30);
  ASSERT(jstats(&f).bytes > 450);
  uint64_t firsts[64];
  list_segments(&f, firsts, 64);
  ASSERT_INT_EQ(firsts[0], 1);
  ASSERT_INT_EQ(rstats(r).dropped_records, 0);
  ASSERT_INT_EQ(rstats(r).lag_records, 30);
  /* Its sender backs off: the batch waits in memory, and the drop goes
   * ahead.  Until the moved cursor is on disk the records count as
   * waiting, not dropped: a crash now would find them again. */
  vg_journal_release(r);
  struct vg_journal_reader_stats rs = rstats(r);
  ASSERT(rs.cursor_seq > 3);
  ASSERT_INT_EQ(rs.dropped_records, 0);
  ASSERT_INT_EQ(rs.lag_records, 30);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  rs = rstats(r);
  ASSERT_INT_EQ(rs.dropped_records, rs.cursor_seq - 1);
  ASSERT_INT_EQ(rs.lag_records + rs.dropped_records, 30);
  ASSERT(jstats(&f).bytes <= 450);
  /* Sending the batch again: none of it may go, it was dropped. */
  ASSERT_INT_EQ(vg_journal_hold(r, b->next_seq), rs.cursor_seq);
  vg_journal_batch_free(b);
  uint64_t seqs[64];
  size_t n = drain(&f, r, seqs, 64, 100);
  ASSERT_INT_EQ(n + rstats(r).dropped_records, 30);
  ASSERT_INT_EQ(seqs[0], rs.cursor_seq);
  teardown(&f);
}

/* The same batch acknowledged after the journal filled: delivered, never
 * counted as dropped; the drop that waited then takes what remains. */
VG_TEST(max_bytes_after_an_ack_counts_only_the_rest) {
  struct fixture f;
  setup(&f, 150, 450);
  struct vg_journal_reader *r = reader(&f, "r");
  append_each(&f, 1, 3);
  struct vg_journal_batch *b = read_batch(&f, r, 3, SIZE_MAX);
  append_each(&f, 4, 30);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  struct vg_journal_reader_stats rs = rstats(r);
  ASSERT_INT_EQ(rs.dropped_records, rs.cursor_seq - 4);
  ASSERT_INT_EQ(3 + rs.dropped_records + rs.lag_records, 30);
  teardown(&f);
}

/* A byte flipped in the payload of the third record of the first
 * segment: exactly that record is lost, counted once however many readers
 * meet it. */
VG_TEST(flipped_payload_byte_loses_one_record) {
  struct fixture f;
  setup(&f, 300, 0);
  append_each(&f, 1, 12);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  struct frames fr;
  frames_of(path, &fr);
  ASSERT(fr.n >= 4);
  ASSERT_INT_EQ(fr.seq[2], 3);
  flip_byte(path, fr.off[2] + 12 + 5);
  open_journal(&f);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 0);
  struct vg_journal_reader *a = reader(&f, "a"), *b = reader(&f, "b");
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, a, seqs, 64, 2), 11);
  ASSERT_INT_EQ(seqs[1], 2);
  ASSERT_INT_EQ(seqs[2], 4);
  ASSERT_INT_EQ(rstats(a).corrupt_records, 1);
  ASSERT_INT_EQ(drain(&f, b, seqs, 64, 100), 11);
  ASSERT_INT_EQ(rstats(b).corrupt_records, 1);
  ASSERT_INT_EQ(jstats(&f).corrupt_records, 1);
  ASSERT_CONTAINS(f.log, "reader a: 1 records lost to damage (3 to 3)");
  free(path);
  teardown(&f);
}

/* A damaged length field: the reader scans for the next sync marker. */
VG_TEST(flipped_length_byte_resyncs) {
  struct fixture f;
  setup(&f, 0, 0);
  append_each(&f, 1, 8);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  struct frames fr;
  frames_of(path, &fr);
  ASSERT_INT_EQ(fr.n, 8);
  flip_byte(path, fr.off[4] + 4); /* record 5's length */
  open_journal(&f);
  struct vg_journal_reader *r = reader(&f, "r");
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 100), 7);
  ASSERT_INT_EQ(seqs[3], 4);
  ASSERT_INT_EQ(seqs[4], 6);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 1);
  /* And a damaged sync marker too. */
  flip_byte(path, fr.off[6]);
  close_journal(&f);
  open_journal(&f);
  r = reader(&f, "r2");
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 100), 6);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 2);
  free(path);
  teardown(&f);
}

/* A full disk (here: a file size limit): the commit fails, nothing of it
 * is readable, and its seqs are reused so no phantom gap appears. */
VG_TEST(write_failure_reports_and_reuses_seqs) {
  struct fixture f;
  setup(&f, 0, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  append_range(&f, 1, 3);
  signal(SIGXFSZ, SIG_IGN);
  struct stat st;
  char *path = segment_path(&f, 1);
  ASSERT(stat(path, &st) == 0);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = (rlim_t)st.st_size + 40; /* room for part of a commit */
  ASSERT(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  struct vg_journal_record recs[10];
  for (int i = 0; i < 10; i++)
    recs[i] = rec(100 + i);
  struct durable d = {0};
  ASSERT(vg_journal_append(f.j, recs, 10, on_durable, &d) == 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.calls, 1);
  ASSERT_INT_EQ(d.status, -EFBIG);
  ASSERT_INT_EQ(jstats(&f).head_seq, 3);
  ASSERT(stat(path, &st) == 0);
  ASSERT_INT_EQ(st.st_size, jstats(&f).bytes);
  ASSERT(setrlimit(RLIMIT_FSIZE, &old) == 0);
  append_range(&f, 4, 6);
  uint64_t seqs[64];
  ASSERT_INT_EQ(drain(&f, r, seqs, 64, 100), 6);
  for (int i = 0; i < 6; i++)
    ASSERT_INT_EQ(seqs[i], i + 1);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 0);
  ASSERT_CONTAINS(f.log, "File too large; 10 records not journaled");
  free(path);
  teardown(&f);
}

/* Record n's label value: 300 characters that do not compress much. */
static void noisy_value(char *out, uint64_t n) {
  static const char set[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t x = n * 0x9E3779B97F4A7C15u + 1;
  for (int i = 0; i < 300; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    out[i] = set[x & 63];
  }
  out[300] = '\0';
}

/* More than one read window (256 KiB) of blocks in one segment, so that
 * blocks straddle window ends; then a byte flipped in the middle costs
 * the block it hits (one commit's 500 samples), and nothing else. */
VG_TEST(large_segment_reads_in_windows) {
  struct fixture f;
  setup(&f, 0, 0);
  static char values[500][301];
  struct vg_label l[500];
  struct vg_journal_record recs[500];
  for (int k = 0; k < 6; k++) {
    for (int i = 0; i < 500; i++) {
      noisy_value(values[i], (uint64_t)(k * 500 + i));
      l[i] = (struct vg_label){"note", values[i]};
      recs[i] = (struct vg_journal_record){
          .metric = "m", .labels = &l[i], .nlabels = 1, .value = k * 500 + i};
    }
    ASSERT(vg_journal_append(f.j, recs, 500, NULL, NULL) == 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
  }
  ASSERT(jstats(&f).bytes > 600000);
  char want[301];
  struct vg_journal_reader *r = reader(&f, "r");
  uint64_t expect = 1;
  for (;;) {
    struct vg_journal_batch *b = read_batch(&f, r, 1000, SIZE_MAX);
    size_t count = b->count;
    for (size_t i = 0; i < count; i++) {
      ASSERT_INT_EQ(b->records[i].seq, expect);
      ASSERT_DBL_EQ(b->records[i].value, (double)(expect - 1));
      noisy_value(want, expect - 1);
      ASSERT_STR_EQ(b->records[i].labels[0].value, want);
      expect++;
    }
    vg_journal_ack(r, b->next_seq);
    vg_journal_batch_free(b);
    if (!count)
      break;
  }
  ASSERT_INT_EQ(expect, 3001);
  close_journal(&f);
  char *path = segment_path(&f, 1);
  struct stat st;
  ASSERT(stat(path, &st) == 0);
  flip_byte(path, (size_t)st.st_size / 2);
  open_journal(&f);
  r = reader(&f, "r2");
  struct vg_journal_batch *b = read_batch(&f, r, 5000, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 2500);
  ASSERT_INT_EQ(b->next_seq, 3001);
  ASSERT_INT_EQ(rstats(r).corrupt_records, 500);
  vg_journal_batch_free(b);
  free(path);
  teardown(&f);
}

static void write_whole(const char *path, const char *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  ASSERT(fp);
  ASSERT_INT_EQ(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *data = read_whole(from, &len);
  write_whole(to, data, len);
  free(data);
}

/* The records of tests/data/journal-v1, a journal of format 1 written by
 * the release before blocks: two commits of three records, and the
 * cursor of reader remote_write-vm at 3. */
static const struct vg_label v1_village[] = {
    {"county", "Lankao"}, {"town", "Yizhang"}, {"village", "Zhangzhuang"}};
static const struct vg_label v1_well[] = {{"village", "Dongba"},
                                          {"well", "w2"}};
static const struct vg_journal_record v1_records[] = {
    {"village_income_yuan", v1_village, 3, 1234.5, 1700000000000, 1, 0, NULL},
    {"village_tap_water_ratio", v1_village, 3, 0.875, 1700000001000, 2, 0,
     NULL},
    {"water_well_depth_m", v1_well, 2, -3.25, 1700000002000, 3, 0, NULL},
    {"village_income_yuan", v1_village, 3, 1300, 1700000060000, 4, 0, NULL},
    {"village_households", NULL, 0, 412, -5000, 5, 0, NULL},
    {"water_well_depth_m", v1_well, 2, 1e300, 1700000062000, 6, 0, NULL},
};

static void check_same(const struct vg_journal_record *got,
                       const struct vg_journal_record *want) {
  ASSERT_INT_EQ(got->seq, want->seq);
  ASSERT_STR_EQ(got->metric, want->metric);
  ASSERT_INT_EQ(got->nlabels, want->nlabels);
  for (size_t k = 0; k < want->nlabels; k++) {
    ASSERT_STR_EQ(got->labels[k].name, want->labels[k].name);
    ASSERT_STR_EQ(got->labels[k].value, want->labels[k].value);
    ASSERT_INT_EQ(got->label_lens[2 * k], strlen(want->labels[k].name));
    ASSERT_INT_EQ(got->label_lens[2 * k + 1], strlen(want->labels[k].value));
  }
  ASSERT_DBL_EQ(got->value, want->value);
  ASSERT_INT_EQ(got->ts_ms, want->ts_ms);
}

/* After an upgrade the journal of the release before is delivered, and
 * new samples go on in a segment of the new format. */
VG_TEST(format_1_journal_is_read_after_upgrade) {
  struct fixture f;
  setup(&f, 0, 0);
  close_journal(&f);
  char *seg = segment_path(&f, 1);
  char *head = vg_asprintf("%s/head", f.dir);
  char *cursor = vg_asprintf("%s/cursors/remote_write-vm", f.dir);
  copy_file("journal-v1/00000000000000000001.seg", seg);
  copy_file("journal-v1/head", head);
  copy_file("journal-v1/cursors/remote_write-vm", cursor);
  open_journal(&f);
  ASSERT_INT_EQ(jstats(&f).head_seq, 6);
  struct vg_journal_reader *r = reader(&f, "remote_write-vm");
  ASSERT_INT_EQ(rstats(r).cursor_seq, 3);
  struct vg_journal_batch *b = read_batch(&f, r, 100, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 4);
  for (size_t i = 0; i < 4; i++)
    check_same(&b->records[i], &v1_records[2 + i]);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  /* New samples: a new segment (format 2) at seq 7. */
  struct vg_journal_record more[2] = {v1_records[0], v1_records[4]};
  struct durable d = {0};
  ASSERT(vg_journal_append(f.j, more, 2, on_durable, &d) == 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.status, 0);
  uint64_t firsts[4];
  ASSERT_INT_EQ(list_segments(&f, firsts, 4), 2);
  ASSERT_INT_EQ(firsts[1], 7);
  reopen(&f);
  /* A reader new to it gets both formats, in order. */
  struct vg_journal_reader *fresh = reader(&f, "fresh");
  b = read_batch(&f, fresh, 100, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 8);
  for (size_t i = 0; i < 6; i++)
    check_same(&b->records[i], &v1_records[i]);
  more[0].seq = 7, more[1].seq = 8;
  check_same(&b->records[6], &more[0]);
  check_same(&b->records[7], &more[1]);
  ASSERT_INT_EQ(rstats(fresh).corrupt_records, 0);
  vg_journal_batch_free(b);
  /* The old segment reads as it did: vg__journal_decode of format 1. */
  size_t len;
  char *data = read_whole(seg, &len);
  struct frames fr;
  memset(&fr, 0, sizeof fr);
  fr.base = data + 8;
  ASSERT_INT_EQ(vg__journal_decode(data + 8, len - 8, 1, on_frame, &fr), 6);
  free(data);
  free(seg);
  free(head);
  free(cursor);
  teardown(&f);
}

/* Many series in one commit: one block, read back exactly whatever the
 * batch size (batches that end inside the block), in few bytes. */
VG_TEST(block_round_trip_and_size) {
  struct fixture f;
  setup(&f, 0, 0);
  enum { N = 3000 };
  static char villages[100][32];
  static struct vg_label sets[100][2];
  static struct vg_journal_record recs[N];
  static const char *const metrics[] = {"tank_level_ratio", "tank_volume_m3",
                                        "modem_rssi_dbm"};
  for (int v = 0; v < 100; v++) {
    snprintf(villages[v], sizeof villages[v], "Village%03d", v);
    sets[v][0] = (struct vg_label){"county", v < 50 ? "Lankao" : "Qi"};
    sets[v][1] = (struct vg_label){"village", villages[v]};
  }
  for (int i = 0; i < N; i++) {
    /* Timestamps that go back and jump, values of every kind. */
    int64_t ts = i % 7 == 3 ? INT64_MIN + i : 1700000000000 + (i / 300) * 10000;
    double value = i % 11 == 0 ? -0.0 : i % 13 == 0 ? 1e-300 : i * 0.25;
    recs[i] = (struct vg_journal_record){.metric = metrics[i % 3],
                                         .labels = sets[(i / 3) % 100],
                                         .nlabels = i % 5 ? 2 : 0,
                                         .value = value,
                                         .ts_ms = ts,
                                         .seq = (uint64_t)i + 1};
  }
  struct durable d = {0};
  ASSERT(vg_journal_append(f.j, recs, N, on_durable, &d) == 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.status, 0);
  /* Samples of 100 series in blocks: far below a record each. */
  struct vg_journal_stats s = jstats(&f);
  ASSERT(s.written_bytes < (uint64_t)N * 8);
  ASSERT_INT_EQ(s.written_bytes, s.bytes);
  static const size_t per_batch[] = {N, 7, 1000};
  for (size_t k = 0; k < 3; k++) {
    char name[8];
    snprintf(name, sizeof name, "r%zu", k);
    struct vg_journal_reader *r = reader(&f, name);
    size_t n = 0;
    for (;;) {
      struct vg_journal_batch *b = read_batch(&f, r, per_batch[k], SIZE_MAX);
      for (size_t i = 0; i < b->count; i++, n++) {
        ASSERT(n < N);
        check_same(&b->records[i], &recs[n]);
        /* -0.0 keeps its sign. */
        ASSERT_INT_EQ(signbit(b->records[i].value), signbit(recs[n].value));
      }
      size_t count = b->count;
      vg_journal_ack(r, b->next_seq);
      vg_journal_batch_free(b);
      if (!count)
        break;
    }
    ASSERT_INT_EQ(n, N);
    ASSERT_INT_EQ(rstats(r).corrupt_records, 0);
  }
  teardown(&f);
}

struct block_samples {
  size_t n;
  struct vg_journal_record recs[4];
  char strings[4][64];
};

static void on_block_sample(void *arg, const struct vg_journal_record *rec) {
  struct block_samples *s = arg;
  ASSERT(s->n < 4);
  /* Only what is checked below: seq, metric, value, ts. */
  snprintf(s->strings[s->n], sizeof s->strings[0], "%s", rec->metric);
  s->recs[s->n] = *rec;
  s->recs[s->n].metric = s->strings[s->n];
  s->recs[s->n].labels = NULL;
  s->n++;
}

/* tests/data/journal-blocks/stored.bin is a block written by hand from the
 * format's description (journal_block.c), stored without compression;
 * block-0.bin the daemon's own zstd block of the first three records of
 * journal-v1.  Both are also the fuzz target's seeds. */
VG_TEST(block_payloads_decode_as_described) {
  size_t len;
  char *data = read_whole("journal-blocks/stored.bin", &len);
  struct block_samples s = {0};
  ASSERT_INT_EQ(vg__journal_decode_block(data, len, on_block_sample, &s), 2);
  ASSERT_INT_EQ(s.recs[0].seq, 9);
  ASSERT_STR_EQ(s.recs[0].metric, "water_well_depth_m");
  ASSERT_DBL_EQ(s.recs[0].value, -3.25);
  ASSERT_INT_EQ(s.recs[0].ts_ms, 1700000002000);
  ASSERT_INT_EQ(s.recs[1].seq, 10);
  ASSERT_STR_EQ(s.recs[1].metric, "village_households");
  ASSERT_DBL_EQ(s.recs[1].value, 412);
  ASSERT_INT_EQ(s.recs[1].ts_ms, 1700000001000);
  /* One byte short, or one more: not a block. */
  s.n = 0;
  ASSERT_INT_EQ(vg__journal_decode_block(data, len - 1, on_block_sample, &s),
                0);
  data[len] = 0;
  ASSERT_INT_EQ(vg__journal_decode_block(data, len + 1, on_block_sample, &s),
                0);
  ASSERT_INT_EQ(s.n, 0);
  free(data);
  data = read_whole("journal-blocks/block-0.bin", &len);
  ASSERT_INT_EQ(vg__journal_decode_block(data, len, on_block_sample, &s), 3);
  for (size_t i = 0; i < 3; i++) {
    ASSERT_INT_EQ(s.recs[i].seq, v1_records[i].seq);
    ASSERT_STR_EQ(s.recs[i].metric, v1_records[i].metric);
    ASSERT_DBL_EQ(s.recs[i].value, v1_records[i].value);
    ASSERT_INT_EQ(s.recs[i].ts_ms, v1_records[i].ts_ms);
  }
  free(data);
}

/* A batch copies a block's label sets and metric names once: the records
 * of one series in one block share them, and each record still reads as
 * it was appended, across blocks and from a cursor inside a block. */
VG_TEST(records_of_a_series_share_their_strings_within_a_block) {
  struct fixture f;
  setup(&f, 0, 0);
  append_range(&f, 1, 40);  /* one block */
  append_range(&f, 41, 80); /* another */
  struct vg_journal_reader *r = reader(&f, "r");
  struct vg_journal_batch *b = read_batch(&f, r, 7, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 7);
  vg_journal_ack(r, b->next_seq);
  vg_journal_batch_free(b);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  b = read_batch(&f, r, 1000, SIZE_MAX);
  ASSERT_INT_EQ(b->count, 73);
  for (size_t i = 0; i < b->count; i++) {
    const struct vg_journal_record *got = &b->records[i];
    check_rec(got, (int)got->seq);
    /* rec(i)'s series follows from i % 4; blocks end after 40 and 80. */
    if (i >= 4 && (got->seq - 1) / 40 == (got->seq - 5) / 40) {
      ASSERT(got->metric == b->records[i - 4].metric);
      ASSERT(got->labels == b->records[i - 4].labels);
    }
  }
  vg_journal_batch_free(b);
  teardown(&f);
}

/* Pair p's labels: a village of its own, and a county every fifth. */
static size_t pair_labels(size_t p, char *village, struct vg_label *out) {
  snprintf(village, 32, "V%zu", p);
  out[0] = (struct vg_label){"village", village};
  out[1] = (struct vg_label){"county", "Lankao"};
  return p % 5 ? 1 : 2;
}

/* A point's fields are appended one by one under one labels_key, and the
 * journal keeps their labels once; the pair that straddles the end of a
 * block (8192 samples) has its labels in both blocks. */
VG_TEST(records_with_one_labels_key_keep_their_labels) {
  struct fixture f;
  setup(&f, 0, 0);
  enum { N = 10001 };
  struct durable d = {0};
  uint64_t key = 0;
  for (size_t i = 0; i < N; i++) {
    /* Record 0 alone, then pairs (1, 2), (3, 4) ...: 8191 and 8192 are
     * one, across the block's end. */
    size_t p = (i + 1) / 2;
    if (i % 2)
      key = vg_journal_label_key(f.j);
    char village[32];
    struct vg_label labels[2];
    struct vg_journal_record r = {.metric = i % 2 ? "village_population"
                                                  : "village_households",
                                  .labels = labels,
                                  .nlabels = pair_labels(p, village, labels),
                                  .value = (double)i,
                                  .ts_ms = 1700000000000 + (int64_t)i,
                                  .labels_key = i ? key : 0};
    ASSERT(vg_journal_append(f.j, &r, 1, on_durable, &d) >= 0);
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ASSERT_INT_EQ(d.calls, 1);
  ASSERT_INT_EQ(d.status, 0);
  struct vg_journal_reader *r = reader(&f, "r");
  struct vg_journal_batch *b = read_batch(&f, r, N + 1, SIZE_MAX);
  ASSERT_INT_EQ(b->count, N);
  for (size_t i = 0; i < N; i++) {
    const struct vg_journal_record *got = &b->records[i];
    char village[32];
    struct vg_label want[2];
    size_t n = pair_labels((i + 1) / 2, village, want);
    ASSERT_STR_EQ(got->metric,
                  i % 2 ? "village_population" : "village_households");
    ASSERT_INT_EQ(got->nlabels, n);
    for (size_t k = 0; k < n; k++) {
      ASSERT_STR_EQ(got->labels[k].name, want[k].name);
      ASSERT_STR_EQ(got->labels[k].value, want[k].value);
    }
    ASSERT_DBL_EQ(got->value, (double)i);
  }
  vg_journal_batch_free(b);
  teardown(&f);
}

VG_TEST(unreadable_cursor_starts_at_oldest) {
  struct fixture f;
  setup(&f, 0, 0);
  append_range(&f, 1, 4);
  close_journal(&f);
  char *path = vg_asprintf("%s/cursors/r", f.dir);
  FILE *fp = fopen(path, "w");
  fputs("garbage", fp);
  fclose(fp);
  open_journal(&f);
  struct vg_journal_reader *r = reader(&f, "r");
  ASSERT_INT_EQ(rstats(r).cursor_seq, 1);
  ASSERT_CONTAINS(f.log, "unreadable");
  free(path);
  teardown(&f);
}

VG_TEST_MAIN(
    VG_T(crc32c_and_round_trip), VG_T(format_1_journal_is_read_after_upgrade),
    VG_T(block_round_trip_and_size), VG_T(block_payloads_decode_as_described),
    VG_T(append_and_read_back_across_segments),
    VG_T(one_commit_larger_than_a_segment_spreads_over_several),
    VG_T(group_commit_one_fsync), VG_T(fsync_off_writes_without_fsync),
    VG_T(records_with_one_labels_key_keep_their_labels),
    VG_T(reopen_restores_cursor_and_seq), VG_T(close_commits_pending_appends),
    VG_T(two_readers_are_independent), VG_T(one_read_at_a_time),
    VG_T(batch_limits), VG_T(lag_and_oldest_timestamp),
    VG_T(acks_delete_segments_all_readers_passed),
    VG_T(max_bytes_drops_with_exact_counts),
    VG_T(a_kept_segment_is_let_go_when_deleted),
    VG_T(no_readers_keep_segments_until_max_bytes),
    VG_T(torn_tail_is_cut_and_counted),
    VG_T(cut_newest_segment_counts_every_record_it_held),
    VG_T(without_head_file_cursors_tell_the_head),
    VG_T(every_segment_gone_numbering_goes_on),
    VG_T(max_bytes_waits_for_a_batch_in_flight),
    VG_T(max_bytes_after_an_ack_counts_only_the_rest),
    VG_T(flipped_payload_byte_loses_one_record),
    VG_T(flipped_length_byte_resyncs),
    VG_T(write_failure_reports_and_reuses_seqs),
    VG_T(large_segment_reads_in_windows),
    VG_T(unreadable_cursor_starts_at_oldest), VG_T(stale_marker_bits_survive),
    VG_T(records_of_a_series_share_their_strings_within_a_block))
