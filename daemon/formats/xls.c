/* daemon/formats/xls.c - the .xls reader, over libfreexl.
 *
 * Owns handing the bytes to freexl (an anonymous memory file, since
 * freexl opens paths only), checking what the workbook claims before
 * freexl allocates for it, choosing the sheet, and turning freexl's cell
 * values into a struct vg_sheet.
 *
 * freexl runs in a process of its own, started for each workbook:
 * fuzzing Debian's libfreexl 1.0.6 finds damaged files on which it loops
 * forever, leaks, or writes outside a buffer, none of which may touch the
 * daemon.  The reader is this very program run again (posix_spawn of
 * /proc/self/exe with VG_XLS_READER_FLAG; main() hands it to
 * vg_xls_reader_main()), or $VG_XLS_READER: a fresh process, not a fork,
 * since a fork of the threaded daemon could inherit a lock (iconv's, the
 * dynamic loader's) that another thread held, and freexl needs both.  It
 * takes the workbook on its standard input, writes the sheet's cells to
 * its standard output and exits; an alarm ends it after
 * vg__xls_timeout_s seconds.  A reader that dies or says nothing costs
 * that file alone.
 *
 * Must not leave a file, descriptor or process behind on any path, and
 * must not interpret a cell beyond its type (the mapping does).
 */
#include "daemon/formats/xls.h"

#include "daemon/util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <freexl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

unsigned vg__xls_timeout_s = 30;

/* What freexl's error codes mean to the person who sent the file. */
static const char *open_error(int rc) {
  switch (rc) {
  case FREEXL_INSUFFICIENT_MEMORY:
    return "out of memory";
  case FREEXL_INVALID_CFBF_HEADER:
  case FREEXL_CFBF_INVALID_SIGNATURE:
    return "not an .xls workbook (no compound document header)";
  case FREEXL_BIFF_WORKBOOK_NOT_FOUND:
    return "not an .xls workbook (no Workbook stream)";
  case FREEXL_BIFF_INVALID_BOF:
    return "not an Excel 5 to 2003 workbook";
  case FREEXL_UNSUPPORTED_CHARSET:
    return "the workbook's code page cannot be converted";
  case FREEXL_CRAFTED_FILE:
    return "the workbook is damaged";
  default:
    return "the workbook is damaged or not an .xls file";
  }
}

/* The bytes as a file freexl can open: an anonymous memory file, named by
 * its descriptor.  Returns the descriptor, or -1 with *error set. */
static int memory_file(const char *data, size_t len, char path[64], char *error,
                       size_t esize) {
  int fd = memfd_create("villagemetrics-xls", MFD_CLOEXEC);
  if (fd < 0) {
    snprintf(error, esize, "cannot hand the workbook to freexl: memfd: %s",
             strerror(errno));
    return -1;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(error, esize, "cannot hand the workbook to freexl: %s",
               n < 0 ? strerror(errno) : "short write");
      close(fd);
      return -1;
    }
    done += (size_t)n;
  }
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return fd;
}

/* Names the sheets there are, for the error of a sheet that is not. */
static void list_sheets(const void *h, unsigned count, char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  for (unsigned i = 0; i < count && len + 1 < size; i++) {
    const char *name = NULL;
    if (freexl_get_worksheet_name(h, (unsigned short)i, &name) != FREEXL_OK ||
        !name)
      name = "?";
    int k = snprintf(out + len, size - len, "%s\"%s\"", i ? ", " : "", name);
    if (k < 0)
      break;
    len += (size_t)k;
  }
}

/* The chosen sheet's index (0-based), its name copied to *name; -1 with
 * *error set when there is none such. */
static int choose(const void *h, const struct vg_sheet_choice *which,
                  char **name, char *error, size_t esize) {
  unsigned count = 0;
  char names[256];
  if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK ||
      count == 0) {
    snprintf(error, esize, "the workbook lists no sheets");
    return -1;
  }
  int found = -1;
  if (which && which->name) {
    for (int pass = 0; pass < 2 && found < 0; pass++)
      for (unsigned i = 0; i < count && found < 0; i++) {
        const char *n = NULL;
        if (freexl_get_worksheet_name(h, (unsigned short)i, &n) == FREEXL_OK &&
            n &&
            (pass == 0 ? strcmp(n, which->name) : strcasecmp(n, which->name)) ==
                0)
          found = (int)i;
      }
    if (found < 0) {
      list_sheets(h, count, names, sizeof names);
      snprintf(error, esize, "no sheet \"%s\" in the workbook; it has %s",
               which->name, names);
      return -1;
    }
  } else if (which && which->index) {
    if (which->index > count) {
      list_sheets(h, count, names, sizeof names);
      snprintf(error, esize, "no sheet %u in the workbook; it has %u: %s",
               which->index, count, names);
      return -1;
    }
    found = (int)which->index - 1;
  } else {
    found = 0;
  }
  const char *n = NULL;
  if (freexl_get_worksheet_name(h, (unsigned short)found, &n) != FREEXL_OK ||
      !n)
    n = "";
  *name = vg_strdup(n);
  return found;
}

/* Rows times columns over every sheet, as the workbook claims them:
 * what freexl_open() will allocate. */
static unsigned long long claimed_cells(const void *h) {
  unsigned count = 0;
  unsigned long long total = 0;
  if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK)
    return 0;
  for (unsigned i = 0; i < count; i++) {
    unsigned rows = 0;
    unsigned short cols = 0;
    if (freexl_select_active_worksheet(h, (unsigned short)i) == FREEXL_OK &&
        freexl_worksheet_dimensions(h, &rows, &cols) == FREEXL_OK)
      total += (unsigned long long)rows * cols;
  }
  return total;
}

/* The shortest text that reads back to the same double. */
static size_t format_double(double v, char out[40]) {
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, 40, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  return n > 0 ? (size_t)n : 0;
}

static int add_cell(struct vg_sheet *s, unsigned row, unsigned short col,
                    const FreeXL_CellValue *v) {
  char buf[40];
  uint32_t r = row + 1, c = (uint32_t)col + 1;
  switch (v->type) {
  case FREEXL_CELL_INT:
    return vg_sheet_add(
        s, r, c, VG_CELL_NUMBER, buf,
        (size_t)snprintf(buf, sizeof buf, "%d", v->value.int_value));
  case FREEXL_CELL_DOUBLE:
    return vg_sheet_add(s, r, c, VG_CELL_NUMBER, buf,
                        format_double(v->value.double_value, buf));
  case FREEXL_CELL_TEXT:
  case FREEXL_CELL_SST_TEXT:
  case FREEXL_CELL_TIME: {
    const char *t = v->value.text_value ? v->value.text_value : "";
    return vg_sheet_add(s, r, c, VG_CELL_TEXT, t, strlen(t));
  }
  case FREEXL_CELL_DATE:
  case FREEXL_CELL_DATETIME: {
    /* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS": the latter as RFC 3339, in
     * UTC as every workbook time is taken. */
    const char *t = v->value.text_value ? v->value.text_value : "";
    size_t n = strlen(t);
    if (n == 19 && t[10] == ' ') {
      snprintf(buf, sizeof buf, "%.10sT%.8sZ", t, t + 11);
      return vg_sheet_add(s, r, c, VG_CELL_DATE, buf, 20);
    }
    return vg_sheet_add(s, r, c, VG_CELL_DATE, t, n);
  }
  default:
    return 0;
  }
}

/* Every Excel 5 to 2003 workbook is a compound document, which starts with
 * this signature and a 512-byte header.  freexl also reads a bare BIFF
 * stream (Excel 2 to 4, which no office has used since the 1990s), and
 * loops forever on some damaged ones: those are refused here. */
static const unsigned char cfb_signature[8] = {0xD0, 0xCF, 0x11, 0xE0,
                                               0xA1, 0xB1, 0x1A, 0xE1};

/* freexl's part, run in the child: the workbook into *out. */
static int read_direct(const char *data, size_t len,
                       const struct vg_sheet_choice *which, size_t max_cells,
                       struct vg_sheet **out, char *error, size_t error_size) {
  *out = NULL;
  char path[64];
  int fd = memory_file(data, len, path, error, error_size);
  if (fd < 0)
    return -EINVAL;
  char *name = NULL;
  const void *h = NULL;
  int rc = -EINVAL;

  /* First the metadata alone: the sheets, their claimed size. */
  int frc = freexl_open_info(path, &h);
  if (frc != FREEXL_OK) {
    snprintf(error, error_size, "%s", open_error(frc));
    goto done;
  }
  unsigned password = 0;
  if (freexl_get_info(h, FREEXL_BIFF_PASSWORD, &password) == FREEXL_OK &&
      password == FREEXL_BIFF_OBFUSCATED) {
    snprintf(error, error_size, "the workbook is password-protected");
    goto done;
  }
  int index = choose(h, which, &name, error, error_size);
  if (index < 0)
    goto done;
  unsigned long long claimed = claimed_cells(h);
  if (claimed > max_cells) {
    snprintf(error, error_size,
             "the workbook's sheets claim %llu cells, more than max_cells "
             "(%zu)",
             claimed, max_cells);
    goto done;
  }
  freexl_close(h);
  h = NULL;

  frc = freexl_open(path, &h);
  if (frc != FREEXL_OK) {
    snprintf(error, error_size, "%s", open_error(frc));
    goto done;
  }
  unsigned rows = 0, mode = 0;
  unsigned short cols = 0;
  if (freexl_select_active_worksheet(h, (unsigned short)index) != FREEXL_OK ||
      freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK) {
    snprintf(error, error_size, "sheet \"%s\" cannot be read", name);
    goto done;
  }
  /* Text is bounded by the file: freexl decodes it from the bytes given,
   * at most tripled by the conversion to UTF-8. */
  struct vg_sheet *s = vg_sheet_new(name, max_cells, len * 3 + 4096);
  if (freexl_get_info(h, FREEXL_BIFF_DATEMODE, &mode) == FREEXL_OK)
    vg_sheet_set_date1904(s, mode == FREEXL_BIFF_DATEMODE_1904);
  for (unsigned r = 0; r < rows; r++)
    for (unsigned short c = 0; c < cols; c++) {
      FreeXL_CellValue v;
      int crc = freexl_get_cell_value(h, r, c, &v);
      int arc;
      if (crc != FREEXL_OK) {
        char msg[64];
        int n =
            snprintf(msg, sizeof msg, "freexl cannot read the cell (%d)", crc);
        arc = vg_sheet_add(s, r + 1, (uint32_t)c + 1, VG_CELL_BAD, msg,
                           (size_t)n);
      } else {
        arc = add_cell(s, r, c, &v);
      }
      if (arc == -ENOSPC) {
        snprintf(error, error_size,
                 "sheet \"%s\" has more cells or text than the caps allow",
                 name);
        vg_sheet_free(s);
        goto done;
      }
    }
  vg_sheet_finish(s);
  *out = s;
  rc = 0;
done:
  if (h)
    freexl_close(h);
  close(fd);
  free(name);
  return rc;
}

/* ---- the child ---------------------------------------------------------- */

/* What goes down the pipe: a status byte, then the error text, or the
 * sheet: its name, the 1904 flag, and each cell as row, column, kind,
 * length and text. */
struct wire {
  int fd;
  bool failed;
};

static void put(struct wire *w, const void *p, size_t n) {
  const char *c = p;
  while (n > 0 && !w->failed) {
    ssize_t k = write(w->fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      w->failed = true;
      return;
    }
    c += k;
    n -= (size_t)k;
  }
}

static void put_u32(struct wire *w, uint32_t v) {
  put(w, &v, sizeof v);
}

static void put_text(struct wire *w, const char *s, size_t n) {
  put_u32(w, (uint32_t)n);
  put(w, s, n);
}

static void send_sheet(struct wire *w, int rc, const struct vg_sheet *s,
                       const char *error) {
  unsigned char ok = rc == 0;
  put(w, &ok, 1);
  if (!ok) {
    put_text(w, error, strlen(error));
    return;
  }
  const char *name = vg_sheet_name(s);
  put_text(w, name, strlen(name));
  put_u32(w, vg_sheet_date1904(s));
  put_u32(w, (uint32_t)vg_sheet_cells(s));
  struct vg_sheet_cursor c;
  vg_sheet_cursor_init(&c, s);
  struct vg_csv_row row;
  const uint8_t *kinds;
  while (vg_sheet_next(&c, &row, &kinds) == 1)
    for (size_t i = 0; i < row.count; i++) {
      if (row.fields[i].len == 0 && kinds[i] != VG_CELL_BAD)
        continue;
      put_u32(w, row.line);
      put_u32(w, (uint32_t)i + 1);
      put(w, &kinds[i], 1);
      put_text(w, row.fields[i].text, row.fields[i].len);
    }
  vg_sheet_cursor_free(&c);
}

/* ---- the parent --------------------------------------------------------- */

struct reader {
  const char *p;
  size_t left;
};

static bool get(struct reader *r, void *out, size_t n) {
  if (r->left < n)
    return false;
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return true;
}

static bool get_text(struct reader *r, const char **s, uint32_t *n) {
  if (!get(r, n, sizeof *n) || r->left < *n)
    return false;
  *s = r->p;
  r->p += *n;
  r->left -= *n;
  return true;
}

/* The sheet the child sent, or -EINVAL with *error set. */
static int receive_sheet(const char *buf, size_t len, size_t max_cells,
                         size_t max_text, struct vg_sheet **out, char *error,
                         size_t esize) {
  struct reader r = {buf, len};
  unsigned char ok;
  const char *s;
  uint32_t n, date1904, ncells;
  if (!get(&r, &ok, 1) || !get_text(&r, &s, &n))
    goto truncated;
  if (!ok) {
    snprintf(error, esize, "%.*s", (int)n, s);
    return -EINVAL;
  }
  char *name = vg_strndup(s, n);
  struct vg_sheet *sheet = vg_sheet_new(name, max_cells, max_text);
  free(name);
  if (!get(&r, &date1904, sizeof date1904) ||
      !get(&r, &ncells, sizeof ncells)) {
    vg_sheet_free(sheet);
    goto truncated;
  }
  vg_sheet_set_date1904(sheet, date1904 != 0);
  for (uint32_t i = 0; i < ncells; i++) {
    uint32_t row, col;
    unsigned char kind;
    if (!get(&r, &row, sizeof row) || !get(&r, &col, sizeof col) ||
        !get(&r, &kind, 1) || !get_text(&r, &s, &n) || kind > VG_CELL_BAD ||
        vg_sheet_add(sheet, row, col, (enum vg_cell_kind)kind, s, n) != 0) {
      vg_sheet_free(sheet);
      goto truncated;
    }
  }
  vg_sheet_finish(sheet);
  *out = sheet;
  return 0;
truncated:
  snprintf(error, esize, "freexl's reader sent a damaged sheet");
  return -EINVAL;
}

/* Reads all of fd into a new buffer; false on an error. */
static bool read_all(int fd, char **out, size_t *len, size_t cap) {
  size_t used = 0, size = 0;
  char *buf = NULL;
  for (;;) {
    if (used == size) {
      if (size >= cap) {
        free(buf);
        return false;
      }
      size = size ? size * 2 : 65536;
      if (size > cap)
        size = cap;
      buf = vg_realloc(buf, size);
    }
    ssize_t k = read(fd, buf + used, size - used);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      free(buf);
      return false;
    }
    if (k == 0)
      break;
    used += (size_t)k;
  }
  *out = buf;
  *len = used;
  return true;
}

int vg_xls_reader_main(int argc, char **argv) {
  /* argv: program VG_XLS_READER_FLAG seconds max_cells index [name] */
  if (argc < 5 || strcmp(argv[1], VG_XLS_READER_FLAG) != 0)
    return 2;
  alarm((unsigned)strtoul(argv[2], NULL, 10));
  size_t max_cells = (size_t)strtoull(argv[3], NULL, 10);
  struct vg_sheet_choice which = {
      .index = (uint32_t)strtoul(argv[4], NULL, 10),
      .name = argc > 5 ? argv[5] : NULL,
  };
  char *data = NULL;
  size_t len = 0;
  if (!read_all(0, &data, &len, SIZE_MAX / 2))
    return 2;
  struct vg_sheet *sheet = NULL;
  char err[512] = "";
  int rc = read_direct(data, len, &which, max_cells, &sheet, err, sizeof err);
  struct wire w = {.fd = 1};
  send_sheet(&w, rc, sheet, err);
  vg_sheet_free(sheet);
  free(data);
  /* What freexl keeps of a file it refused is gone with the process: no
   * exit-time leak check (a sanitizer build's) may turn a refusal the
   * daemon was told of into a failure. */
  _exit(w.failed ? 2 : 0);
}

/* The reader to run: $VG_XLS_READER, else this very program, by the
 * path /proc/self/exe names (under valgrind that is the daemon's, where
 * /proc/self/exe itself would start valgrind's tool), or /proc/self/exe
 * when the file is gone (replaced by an upgrade). */
static const char *reader_path(char *buf, size_t size) {
  const char *env = getenv("VG_XLS_READER");
  if (env && env[0])
    return env;
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  if (n <= 0 || (size_t)n >= size - 1)
    return "/proc/self/exe";
  buf[n] = '\0';
  if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
    return "/proc/self/exe";
  return buf;
}

int vg_xls_read(const char *data, size_t len,
                const struct vg_sheet_choice *which, size_t max_cells,
                struct vg_sheet **out, char *error, size_t error_size) {
  *out = NULL;
  if (len < 512 || memcmp(data, cfb_signature, sizeof cfb_signature) != 0) {
    snprintf(error, error_size,
             "not an .xls workbook (no compound document header)");
    return -EINVAL;
  }
  char self[4096];
  const char *path = reader_path(self, sizeof self);
  /* Said here rather than by the spawn, which reports a program that
   * cannot run as an exit status 127 where fork() stands in for it. */
  if (access(path, X_OK) != 0) {
    snprintf(error, error_size, "cannot start the .xls reader %s: %s", path,
             strerror(errno));
    return -EINVAL;
  }
  /* The workbook goes in on a socket (send() need not risk SIGPIPE), the
   * sheet comes out on a pipe; both ends of ours are close-on-exec. */
  int in[2], outp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
    snprintf(error, error_size, "cannot start the .xls reader: %s",
             strerror(errno));
    return -EINVAL;
  }
  if (pipe2(outp, O_CLOEXEC) != 0) {
    snprintf(error, error_size, "cannot start the .xls reader: %s",
             strerror(errno));
    close(in[0]);
    close(in[1]);
    return -EINVAL;
  }
  char seconds[16], cells[24], index[16];
  snprintf(seconds, sizeof seconds, "%u", vg__xls_timeout_s);
  snprintf(cells, sizeof cells, "%zu", max_cells);
  snprintf(index, sizeof index, "%u", which ? which->index : 0);
  char *argv[] = {
      (char *)path, (char *)VG_XLS_READER_FLAG,
      seconds,      cells,
      index,        which && which->name ? (char *)which->name : NULL,
      NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[1], 0);
  posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
  pid_t pid;
  int src = posix_spawn(&pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[1]);
  close(outp[1]);
  if (src != 0) {
    snprintf(error, error_size, "cannot start the .xls reader %s: %s", path,
             strerror(src));
    close(in[0]);
    close(outp[0]);
    return -EINVAL;
  }
  /* The reader takes the whole workbook before it writes a byte. */
  size_t done = 0;
  while (done < len) {
    ssize_t k = send(in[0], data + done, len - done, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break; /* it died: its status says why */
    done += (size_t)k;
  }
  close(in[0]);
  /* What the reader may send: every cell with its place, and its text. */
  size_t max_text = len * 3 + 4096;
  char *buf = NULL;
  size_t used = 0;
  bool too_much =
      !read_all(outp[0], &buf, &used, max_cells * 13 + max_text + 4096);
  close(outp[0]);
  if (too_much)
    kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  int rc = -EINVAL;
  if (too_much)
    snprintf(error, error_size,
             "the .xls reader sent more than the caps allow");
  else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    snprintf(error, error_size,
             "freexl took more than %u s on the workbook: damaged?",
             vg__xls_timeout_s);
  else if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
    snprintf(error, error_size,
             "freexl failed on the workbook (%s %d): damaged?",
             WIFSIGNALED(status) ? "signal" : "exit status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  else
    rc = receive_sheet(buf, used, max_cells, max_text, out, error, error_size);
  free(buf);
  return rc;
}
