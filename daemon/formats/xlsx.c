/* daemon/formats/xlsx.c - the .xlsx reader.
 *
 * Owns finding the chosen sheet's part through the workbook and its
 * relationships, the styles that make a number a date or a percentage,
 * the shared strings, and the walk over the sheet's <c> elements into a
 * struct vg_sheet.  Every part is streamed from libzip into expat in
 * chunks and counted against one decompressed-size cap; text is kept in
 * the sheet (shared strings once, however many cells use them).  Must not
 * interpret a cell beyond its type and format (the mapping does), must not
 * load anything a part refers to outside the zip, and must not stop at a
 * bad cell: that cell is marked and the rest is read.
 */
#include "daemon/formats/xlsx.h"

#include "daemon/util/mem.h"

#include <errno.h>
#include <expat.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

/* The longest cell text kept: Excel's limit is 32767 characters, at most
 * 4 bytes each in UTF-8. */
#define CELL_TEXT_MAX (32767 * 4)
/* Decompressed bytes handed to expat at a time. */
#define CHUNK 65536

struct wb_sheet {
  char *name, *rid; /* owned */
};

struct rel {
  char *id, *type, *target; /* owned; target resolved to a zip path */
};

struct xlsx {
  zip_t *zip;
  uint64_t xml_left; /* decompressed bytes still allowed */
  char *error;
  size_t esize;
  bool failed;

  char *workbook_path; /* owned */
  struct wb_sheet *sheets;
  size_t nsheets, sheets_cap;
  bool date1904;
  struct rel *rels;
  size_t nrels, rels_cap;

  /* Custom number formats' kinds by id; the kind of each cellXfs entry. */
  struct {
    uint32_t id;
    uint8_t kind;
  } * numfmts;
  size_t nnumfmts, numfmts_cap;
  uint8_t *xf_kind;
  size_t nxf, xf_cap;

  /* Shared strings: where each is kept in the sheet. */
  uint32_t *sst_off, *sst_len;
  size_t nsst, sst_cap;

  struct vg_sheet *sheet; /* being filled; owned until handed out */
};

/* One part's parse: what every handler shares. */
struct part {
  struct xlsx *x;
  XML_Parser p;
  const char *name;
  /* Character data of the element being collected. */
  char *text;
  size_t text_len, text_cap;
  bool collecting, text_too_long;
  int depth_in_rph;       /* inside a phonetic run: its text is no text */
  bool in_cellxfs, in_is; /* styles: inside <cellXfs>; sheet: <is> */
  bool in_si;             /* shared strings: inside <si> */
  bool in_sheetdata, in_cell;
  uint32_t row, col; /* sheet: the current cell, 1-based */
  char ctype[16];    /* sheet: the cell's t attribute */
  uint32_t cstyle;   /* sheet: its s attribute */
  bool cbad_ref;     /* its r attribute could not be read */
  char cref[16];
  bool has_value;
};

static void fail(struct xlsx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct xlsx *x, const char *fmt, ...) {
  if (x->failed)
    return;
  x->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->error, x->esize, fmt, ap);
  va_end(ap);
}

/* Stops the parse of a part from inside a handler. */
static void stop(struct part *pt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void stop(struct part *pt, const char *fmt, ...) {
  if (!pt->x->failed) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail(pt->x, "%s line %lu: %s", pt->name,
         (unsigned long)XML_GetCurrentLineNumber(pt->p), msg);
  }
  XML_StopParser(pt->p, XML_FALSE);
}

/* Element and attribute names without their namespace prefix: generators
 * differ in the prefixes they use ("x:c"), never in the local names. */
static const char *local(const char *name) {
  const char *colon = strrchr(name, ':');
  return colon ? colon + 1 : name;
}

static const char *attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (strcmp(local(atts[i]), name) == 0)
      return atts[i + 1];
  return NULL;
}

/* An attribute with a prefix, such as r:id, whose local name another
 * attribute may share unprefixed. */
static const char *prefixed_attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (strchr(atts[i], ':') && strcmp(local(atts[i]), name) == 0)
      return atts[i + 1];
  return NULL;
}

static bool is_true(const char *v) {
  return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* A whole number of at most 9 digits. */
static bool parse_u32(const char *s, uint32_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 9 || strspn(s, "0123456789") != n)
    return false;
  *out = (uint32_t)strtoul(s, NULL, 10);
  return true;
}

/* "B7" into column 2, row 7; false unless it is a cell reference within
 * Excel's limits. */
static bool parse_ref(const char *s, uint32_t *row, uint32_t *col) {
  uint32_t c = 0, r = 0;
  size_t i = 0;
  while ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')) {
    c = c * 26 + (uint32_t)((s[i] | 0x20) - 'a' + 1);
    if (++i > 3)
      return false;
  }
  if (s[i] == '$') /* absolute references in merge ranges */
    i++;
  size_t digits = 0;
  while (s[i] >= '0' && s[i] <= '9') {
    r = r * 10 + (uint32_t)(s[i++] - '0');
    if (++digits > 7)
      return false;
  }
  if (s[i] || c == 0 || r == 0 || c > VG_SHEET_MAX_COLS ||
      r > VG_SHEET_MAX_ROWS)
    return false;
  *row = r;
  *col = c;
  return true;
}

static void text_reset(struct part *pt) {
  pt->text_len = 0;
  pt->text_too_long = false;
}

static void on_text(void *ud, const XML_Char *s, int len) {
  struct part *pt = ud;
  if (!pt->collecting || pt->depth_in_rph > 0 || len <= 0)
    return;
  if (pt->text_len + (size_t)len > CELL_TEXT_MAX) {
    pt->text_too_long = true;
    return;
  }
  pt->text =
      vg_grow(pt->text, &pt->text_cap, pt->text_len + (size_t)len + 1, 1);
  memcpy(pt->text + pt->text_len, s, (size_t)len);
  pt->text_len += (size_t)len;
  pt->text[pt->text_len] = '\0';
}

/* OOXML has no document type declaration; one is an entity attack. */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int internal) {
  (void)name, (void)sysid, (void)pubid, (void)internal;
  stop(ud, "a document type declaration, which workbooks never have");
}

/* Streams the part `name` through expat with the given handlers.  A part
 * that is not there is an error when `required`, else nothing. */
static int read_part(struct xlsx *x, const char *name, bool required,
                     struct part *pt, XML_StartElementHandler start,
                     XML_EndElementHandler end) {
  if (x->failed)
    return -EINVAL;
  zip_file_t *f = zip_fopen(x->zip, name, ZIP_FL_NOCASE);
  if (!f) {
    if (!required)
      return 0;
    fail(x, "not a workbook: it has no %s", name);
    return -EINVAL;
  }
  XML_Parser p = XML_ParserCreate(NULL);
  pt->x = x;
  pt->p = p;
  pt->name = name;
  XML_SetUserData(p, pt);
  XML_SetElementHandler(p, start, end);
  XML_SetCharacterDataHandler(p, on_text);
  XML_SetStartDoctypeDeclHandler(p, on_doctype);
  char *buf = vg_malloc(CHUNK);
  for (;;) {
    zip_int64_t n = zip_fread(f, buf, CHUNK);
    if (n < 0) {
      fail(x, "%s: %s", name, zip_file_strerror(f));
      break;
    }
    if ((uint64_t)n > x->xml_left) {
      fail(x,
           "%s: more XML than %d times the workbook's size once "
           "decompressed; refused as a zip bomb",
           name, VG_XLSX_XML_RATIO);
      break;
    }
    x->xml_left -= (uint64_t)n;
    if (XML_Parse(p, buf, (int)n, n == 0) == XML_STATUS_ERROR) {
      fail(x, "%s line %lu: XML error: %s", name,
           (unsigned long)XML_GetCurrentLineNumber(p),
           XML_ErrorString(XML_GetErrorCode(p)));
      break;
    }
    if (n == 0)
      break;
  }
  free(buf);
  XML_ParserFree(p);
  zip_fclose(f);
  free(pt->text);
  pt->text = NULL;
  pt->text_cap = pt->text_len = 0;
  return x->failed ? -EINVAL : 0;
}

/* The zip path of a relationship's target: relative to the folder of the
 * part it belongs to, or absolute from the zip's root. */
static char *resolve(const char *base_dir, const char *target) {
  if (target[0] == '/')
    return vg_strdup(target + 1);
  char *path = vg_asprintf("%s%s", base_dir, target);
  /* Fold "dir/../" as a generator may write "../worksheets/x.xml". */
  char *dots;
  while ((dots = strstr(path, "/../")) != NULL) {
    char *prev = dots;
    while (prev > path && prev[-1] != '/')
      prev--;
    memmove(prev, dots + 4, strlen(dots + 4) + 1);
  }
  return path;
}

/* ---- _rels/.rels and the workbook's relationships --------------------- */

struct rels_part {
  struct part pt;
  const char *base_dir;
};

static void rels_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  struct rels_part *rp = ud;
  struct xlsx *x = rp->pt.x;
  if (strcmp(local(name), "Relationship") != 0)
    return;
  const char *id = attr(atts, "Id"), *type = attr(atts, "Type"),
             *target = attr(atts, "Target"), *mode = attr(atts, "TargetMode");
  if (!id || !type || !target || (mode && strcmp(mode, "External") == 0))
    return;
  x->rels = vg_grow(x->rels, &x->rels_cap, x->nrels + 1, sizeof *x->rels);
  x->rels[x->nrels++] = (struct rel){.id = vg_strdup(id),
                                     .type = vg_strdup(type),
                                     .target = resolve(rp->base_dir, target)};
}

static void ignore_end(void *ud, const XML_Char *name) {
  (void)ud, (void)name;
}

static void free_rels(struct xlsx *x) {
  for (size_t i = 0; i < x->nrels; i++) {
    free(x->rels[i].id);
    free(x->rels[i].type);
    free(x->rels[i].target);
  }
  x->nrels = 0;
}

static bool type_is(const char *type, const char *what) {
  size_t n = strlen(type), m = strlen(what);
  return n > m && type[n - m - 1] == '/' && strcmp(type + n - m, what) == 0;
}

static const struct rel *rel_of_type(const struct xlsx *x, const char *what) {
  for (size_t i = 0; i < x->nrels; i++)
    if (type_is(x->rels[i].type, what))
      return &x->rels[i];
  return NULL;
}

static const struct rel *rel_by_id(const struct xlsx *x, const char *id) {
  for (size_t i = 0; i < x->nrels; i++)
    if (strcmp(x->rels[i].id, id) == 0)
      return &x->rels[i];
  return NULL;
}

/* ---- xl/workbook.xml --------------------------------------------------- */

static void workbook_start(void *ud, const XML_Char *name,
                           const XML_Char **atts) {
  struct part *pt = ud;
  struct xlsx *x = pt->x;
  const char *el = local(name);
  if (strcmp(el, "workbookPr") == 0) {
    x->date1904 = is_true(attr(atts, "date1904"));
  } else if (strcmp(el, "sheet") == 0) {
    const char *sname = attr(atts, "name"), *rid = prefixed_attr(atts, "id");
    if (!sname || !rid)
      return;
    x->sheets =
        vg_grow(x->sheets, &x->sheets_cap, x->nsheets + 1, sizeof *x->sheets);
    x->sheets[x->nsheets++] =
        (struct wb_sheet){.name = vg_strdup(sname), .rid = vg_strdup(rid)};
  }
}

/* ---- xl/styles.xml ----------------------------------------------------- */

/* What a number format code shows: a date (it has a year or day), a time
 * of day alone (hours, seconds: kept a number), a percentage, or a
 * number.  Quoted text, escaped characters and [...] sections (colours,
 * conditions, locales, [h] elapsed hours) say nothing of it. */
static uint8_t format_kind(const char *code) {
  bool date = false, percent = false;
  for (const char *c = code; *c; c++) {
    if (*c == '"') {
      const char *q = strchr(c + 1, '"');
      if (!q)
        break;
      c = q;
    } else if (*c == '\\' || *c == '_' || *c == '*') {
      if (!c[1])
        break;
      c++;
    } else if (*c == '[') {
      const char *q = strchr(c, ']');
      if (!q)
        break;
      c = q;
    } else if (*c == 'y' || *c == 'Y' || *c == 'd' || *c == 'D') {
      date = true;
    } else if (*c == '%') {
      percent = true;
    } else if (strncasecmp(c, "General", 7) == 0) {
      c += 6;
    }
  }
  if (date)
    return VG_CELL_DATE;
  return percent ? VG_CELL_PERCENT : VG_CELL_NUMBER;
}

/* The built-in formats: 9 and 10 are percentages; 14 to 17, 22, and the
 * East Asian 27 to 36 and 50 to 58 are dates.  18 to 21 and 45 to 47 are
 * times of day, numbers. */
static uint8_t builtin_kind(uint32_t id) {
  if (id == 9 || id == 10)
    return VG_CELL_PERCENT;
  if ((id >= 14 && id <= 17) || id == 22 || (id >= 27 && id <= 36) ||
      (id >= 50 && id <= 58))
    return VG_CELL_DATE;
  return VG_CELL_NUMBER;
}

static uint8_t numfmt_kind(const struct xlsx *x, uint32_t id) {
  for (size_t i = 0; i < x->nnumfmts; i++)
    if (x->numfmts[i].id == id)
      return x->numfmts[i].kind;
  return builtin_kind(id);
}

static void styles_start(void *ud, const XML_Char *name,
                         const XML_Char **atts) {
  struct part *pt = ud;
  struct xlsx *x = pt->x;
  const char *el = local(name);
  uint32_t id;
  if (strcmp(el, "numFmt") == 0) {
    const char *code = attr(atts, "formatCode");
    const char *sid = attr(atts, "numFmtId");
    if (!code || !sid || !parse_u32(sid, &id))
      return;
    x->numfmts = vg_grow(x->numfmts, &x->numfmts_cap, x->nnumfmts + 1,
                         sizeof *x->numfmts);
    x->numfmts[x->nnumfmts].id = id;
    x->numfmts[x->nnumfmts++].kind = format_kind(code);
  } else if (strcmp(el, "cellXfs") == 0) {
    pt->in_cellxfs = true;
  } else if (strcmp(el, "xf") == 0 && pt->in_cellxfs) {
    const char *sid = attr(atts, "numFmtId");
    uint8_t kind = VG_CELL_NUMBER;
    if (sid && parse_u32(sid, &id))
      kind = numfmt_kind(x, id);
    x->xf_kind = vg_grow(x->xf_kind, &x->xf_cap, x->nxf + 1, 1);
    x->xf_kind[x->nxf++] = kind;
  }
}

static void styles_end(void *ud, const XML_Char *name) {
  struct part *pt = ud;
  if (strcmp(local(name), "cellXfs") == 0)
    pt->in_cellxfs = false;
}

/* ---- xl/sharedStrings.xml ---------------------------------------------- */

/* A string item is the text of its <t> elements, directly in <si> or in
 * rich-text runs <r>; the phonetic guides of <rPh> are not part of it. */
static void sst_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  (void)atts;
  struct part *pt = ud;
  const char *el = local(name);
  if (strcmp(el, "si") == 0) {
    pt->in_si = true;
    text_reset(pt);
  } else if (strcmp(el, "rPh") == 0) {
    pt->depth_in_rph++;
  } else if (strcmp(el, "t") == 0 && pt->in_si) {
    pt->collecting = true;
  }
}

static void sst_end(void *ud, const XML_Char *name) {
  struct part *pt = ud;
  struct xlsx *x = pt->x;
  const char *el = local(name);
  if (strcmp(el, "rPh") == 0) {
    pt->depth_in_rph--;
  } else if (strcmp(el, "t") == 0) {
    pt->collecting = false;
  } else if (strcmp(el, "si") == 0 && pt->in_si) {
    pt->in_si = false;
    uint32_t off = 0;
    /* An overlong string is kept cut; a cell holding it is no number. */
    if (vg_sheet_keep(x->sheet, pt->text ? pt->text : "", pt->text_len, &off)) {
      stop(pt, "more shared text than the caps allow");
      return;
    }
    x->sst_off =
        vg_grow(x->sst_off, &x->sst_cap, x->nsst + 1, sizeof *x->sst_off);
    size_t cap = x->sst_cap;
    x->sst_len = vg_realloc(x->sst_len, cap * sizeof *x->sst_len);
    x->sst_off[x->nsst] = off;
    x->sst_len[x->nsst++] = (uint32_t)pt->text_len;
  }
}

/* ---- the worksheet ----------------------------------------------------- */

static int add_cell(struct part *pt, enum vg_cell_kind kind, const char *text,
                    size_t len) {
  int rc = vg_sheet_add(pt->x->sheet, pt->row, pt->col, kind, text, len);
  if (rc == -ENOSPC)
    stop(pt, "the sheet has more cells or text than the caps allow");
  return rc;
}

static void bad_cell(struct part *pt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bad_cell(struct part *pt, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  add_cell(pt, VG_CELL_BAD, msg, (size_t)n < sizeof msg ? (size_t)n : 0);
}

/* A number cell's digits: what strtod reads whole, finite. */
static bool is_number(const char *s, size_t n, double *v) {
  if (n == 0 || n > 64)
    return false;
  char buf[65];
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  *v = strtod(buf, &end);
  return end == buf + n && isfinite(*v) && buf[0] != ' ';
}

/* The cell just closed, by its type. */
static void finish_cell(struct part *pt) {
  struct xlsx *x = pt->x;
  const char *t = pt->ctype, *s = pt->text ? pt->text : "";
  size_t n = pt->text_len;
  if (pt->cbad_ref) {
    bad_cell(pt, "the cell reference \"%s\" cannot be read", pt->cref);
    return;
  }
  if (pt->text_too_long) {
    bad_cell(pt, "a cell of more than %d bytes", CELL_TEXT_MAX);
    return;
  }
  if (!pt->has_value)
    return;
  if (strcmp(t, "s") == 0) {
    uint32_t i;
    if (!parse_u32(s, &i) || i >= x->nsst) {
      bad_cell(pt, "shared string %.20s does not exist", s);
      return;
    }
    int rc = vg_sheet_add_at(x->sheet, pt->row, pt->col, VG_CELL_TEXT,
                             x->sst_off[i], x->sst_len[i]);
    if (rc == -ENOSPC)
      stop(pt, "the sheet has more cells than the caps allow");
  } else if (strcmp(t, "inlineStr") == 0 || strcmp(t, "str") == 0 ||
             strcmp(t, "e") == 0) {
    add_cell(pt, VG_CELL_TEXT, s, n);
  } else if (strcmp(t, "b") == 0) {
    if (strcmp(s, "1") == 0 || strcmp(s, "0") == 0)
      add_cell(pt, VG_CELL_TEXT, s, 1);
    else
      bad_cell(pt, "\"%.20s\" is no boolean", s);
  } else if (strcmp(t, "d") == 0) {
    /* An ISO 8601 date cell (strict OOXML): a date alone, or a time of
     * day taken as UTC like every workbook time. */
    char buf[40];
    if (n == 10 || (n == 19 && strcmp(s + 10, "T00:00:00") == 0))
      add_cell(pt, VG_CELL_DATE, s, 10);
    else if (n == 19 && s[10] == 'T') {
      snprintf(buf, sizeof buf, "%sZ", s);
      add_cell(pt, VG_CELL_DATE, buf, 20);
    } else {
      add_cell(pt, VG_CELL_DATE, s, n);
    }
  } else if (t[0] == '\0' || strcmp(t, "n") == 0) {
    double v;
    if (!is_number(s, n, &v)) {
      bad_cell(pt, "\"%.20s\" in a number cell is no number", s);
      return;
    }
    uint8_t kind =
        pt->cstyle < x->nxf ? x->xf_kind[pt->cstyle] : VG_CELL_NUMBER;
    if (kind == VG_CELL_DATE) {
      int64_t ms;
      char buf[32];
      if (!vg_sheet_serial_to_ms(v, x->date1904, &ms)) {
        bad_cell(pt, "%.20s is no date a workbook can hold", s);
        return;
      }
      add_cell(pt, VG_CELL_DATE, buf, vg_sheet_format_time(ms, buf));
      return;
    }
    add_cell(pt, (enum vg_cell_kind)kind, s, n);
  } else {
    bad_cell(pt, "a cell of the unknown type \"%.10s\"", t);
  }
}

static void sheet_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  struct part *pt = ud;
  const char *el = local(name);
  if (strcmp(el, "sheetData") == 0) {
    pt->in_sheetdata = true;
  } else if (!pt->in_sheetdata) {
    if (strcmp(el, "mergeCell") == 0) {
      const char *ref = attr(atts, "ref");
      const char *colon = ref ? strchr(ref, ':') : NULL;
      char a[16];
      uint32_t r1, c1, r2, c2;
      if (!colon || (size_t)(colon - ref) >= sizeof a)
        return;
      memcpy(a, ref, (size_t)(colon - ref));
      a[colon - ref] = '\0';
      const char *pa = a[0] == '$' ? a + 1 : a;
      const char *pb = colon[1] == '$' ? colon + 2 : colon + 1;
      if (parse_ref(pa, &r1, &c1) && parse_ref(pb, &r2, &c2))
        vg_sheet_merge(pt->x->sheet, r1, c1, r2, c2);
    }
  } else if (strcmp(el, "row") == 0) {
    const char *r = attr(atts, "r");
    uint32_t n;
    pt->row = r && parse_u32(r, &n) && n >= 1 && n <= VG_SHEET_MAX_ROWS
                  ? n
                  : pt->row + 1;
    pt->col = 0;
  } else if (strcmp(el, "c") == 0) {
    const char *r = attr(atts, "r"), *t = attr(atts, "t"), *s = attr(atts, "s");
    uint32_t row, col;
    pt->in_cell = true;
    pt->has_value = false;
    pt->cbad_ref = false;
    text_reset(pt);
    if (pt->row == 0)
      pt->row = 1;
    if (r && parse_ref(r, &row, &col)) {
      pt->row = row;
      pt->col = col;
    } else {
      pt->col = pt->col < VG_SHEET_MAX_COLS ? pt->col + 1 : pt->col;
      if (r) {
        pt->cbad_ref = true;
        snprintf(pt->cref, sizeof pt->cref, "%.15s", r);
      }
    }
    snprintf(pt->ctype, sizeof pt->ctype, "%s", t ? t : "");
    if (!s || !parse_u32(s, &pt->cstyle))
      pt->cstyle = 0;
  } else if (pt->in_cell && strcmp(el, "is") == 0) {
    pt->in_is = true;
    pt->has_value = true;
  } else if (pt->in_cell && strcmp(el, "rPh") == 0) {
    pt->depth_in_rph++;
  } else if (pt->in_cell &&
             (strcmp(el, "v") == 0 || (pt->in_is && strcmp(el, "t") == 0))) {
    pt->collecting = true;
    pt->has_value = true;
  }
}

static void sheet_end(void *ud, const XML_Char *name) {
  struct part *pt = ud;
  const char *el = local(name);
  if (strcmp(el, "sheetData") == 0) {
    pt->in_sheetdata = false;
  } else if (strcmp(el, "v") == 0 || strcmp(el, "t") == 0) {
    pt->collecting = false;
  } else if (strcmp(el, "rPh") == 0 && pt->depth_in_rph > 0) {
    pt->depth_in_rph--;
  } else if (strcmp(el, "is") == 0) {
    pt->in_is = false;
  } else if (strcmp(el, "c") == 0 && pt->in_cell) {
    pt->in_cell = false;
    pt->collecting = false;
    finish_cell(pt);
  }
}

/* ---- the workbook ------------------------------------------------------ */

/* Names the sheets there are, for the error of a sheet that is not. */
static void list_sheets(const struct xlsx *x, char *out, size_t size) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < x->nsheets && len + 1 < size; i++) {
    int k = snprintf(out + len, size - len, "%s\"%s\"", i ? ", " : "",
                     x->sheets[i].name);
    if (k < 0)
      break;
    len += (size_t)k;
  }
}

static const struct wb_sheet *choose(struct xlsx *x,
                                     const struct vg_sheet_choice *which) {
  char names[256];
  if (x->nsheets == 0) {
    fail(x, "the workbook lists no sheets");
    return NULL;
  }
  if (which && which->name) {
    for (size_t i = 0; i < x->nsheets; i++)
      if (strcmp(x->sheets[i].name, which->name) == 0)
        return &x->sheets[i];
    /* Excel's sheet names are unique regardless of case. */
    for (size_t i = 0; i < x->nsheets; i++)
      if (strcasecmp(x->sheets[i].name, which->name) == 0)
        return &x->sheets[i];
    list_sheets(x, names, sizeof names);
    fail(x, "no sheet \"%s\" in the workbook; it has %s", which->name, names);
    return NULL;
  }
  if (which && which->index) {
    if (which->index <= x->nsheets)
      return &x->sheets[which->index - 1];
    list_sheets(x, names, sizeof names);
    fail(x, "no sheet %u in the workbook; it has %zu: %s", which->index,
         x->nsheets, names);
    return NULL;
  }
  return &x->sheets[0];
}

static void free_xlsx(struct xlsx *x) {
  for (size_t i = 0; i < x->nsheets; i++) {
    free(x->sheets[i].name);
    free(x->sheets[i].rid);
  }
  free(x->sheets);
  free_rels(x);
  free(x->rels);
  free(x->numfmts);
  free(x->xf_kind);
  free(x->sst_off);
  free(x->sst_len);
  free(x->workbook_path);
  vg_sheet_free(x->sheet);
  if (x->zip)
    zip_discard(x->zip);
}

static int read_workbook(struct xlsx *x, const struct vg_sheet_choice *which,
                         size_t max_cells) {
  /* The package's relationships say where the workbook is. */
  struct rels_part rp = {.base_dir = ""};
  if (read_part(x, "_rels/.rels", false, &rp.pt, rels_start, ignore_end))
    return -EINVAL;
  const struct rel *doc = rel_of_type(x, "officeDocument");
  x->workbook_path = vg_strdup(doc ? doc->target : "xl/workbook.xml");
  free_rels(x);

  struct part pt = {0};
  if (read_part(x, x->workbook_path, true, &pt, workbook_start, ignore_end))
    return -EINVAL;
  const char *slash = strrchr(x->workbook_path, '/');
  size_t dir_len = slash ? (size_t)(slash - x->workbook_path + 1) : 0;
  char *dir = vg_strndup(x->workbook_path, dir_len);
  char *rels_path =
      vg_asprintf("%s_rels/%s.rels", dir, x->workbook_path + dir_len);
  rp = (struct rels_part){.base_dir = dir};
  int rc = read_part(x, rels_path, true, &rp.pt, rels_start, ignore_end);
  free(rels_path);
  free(dir);
  if (rc)
    return rc;

  const struct wb_sheet *ws = choose(x, which);
  if (!ws)
    return -EINVAL;
  const struct rel *sheet_rel = rel_by_id(x, ws->rid);
  if (!sheet_rel) {
    fail(x, "sheet \"%s\": the workbook does not say where it is", ws->name);
    return -EINVAL;
  }
  if (!type_is(sheet_rel->type, "worksheet")) {
    fail(x, "sheet \"%s\" is not a worksheet (a chart?)", ws->name);
    return -EINVAL;
  }
  /* The text cap is the XML cap: no text is kept that was not read. */
  x->sheet = vg_sheet_new(ws->name, max_cells, x->xml_left);
  vg_sheet_set_date1904(x->sheet, x->date1904);

  const struct rel *styles = rel_of_type(x, "styles");
  pt = (struct part){0};
  if (styles &&
      read_part(x, styles->target, false, &pt, styles_start, styles_end))
    return -EINVAL;
  const struct rel *sst = rel_of_type(x, "sharedStrings");
  pt = (struct part){0};
  if (sst && read_part(x, sst->target, false, &pt, sst_start, sst_end))
    return -EINVAL;
  pt = (struct part){0};
  if (read_part(x, sheet_rel->target, true, &pt, sheet_start, sheet_end))
    return -EINVAL;
  if (vg_sheet_finish(x->sheet)) {
    fail(x,
         "sheet \"%s\": its merged ranges cover more cells than the "
         "caps allow",
         ws->name);
    return -EINVAL;
  }
  return 0;
}

int vg_xlsx_read(const char *data, size_t len,
                 const struct vg_sheet_choice *which, size_t max_cells,
                 struct vg_sheet **out, char *error, size_t error_size) {
  *out = NULL;
  struct xlsx x = {.error = error, .esize = error_size};
  uint64_t ratio = (uint64_t)len * VG_XLSX_XML_RATIO;
  x.xml_left =
      VG_XLSX_XML_MIN +
      (ratio / VG_XLSX_XML_RATIO == len ? ratio : UINT64_MAX - VG_XLSX_XML_MIN);
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
  if (src)
    x.zip = zip_open_from_source(src, ZIP_RDONLY, &zerr);
  if (!x.zip) {
    snprintf(error, error_size, "not an .xlsx workbook (not a zip: %s)",
             zip_error_strerror(&zerr));
    zip_error_fini(&zerr);
    if (src)
      zip_source_free(src);
    return -EINVAL;
  }
  zip_error_fini(&zerr);
  int rc = read_workbook(&x, which, max_cells);
  if (rc == 0) {
    *out = x.sheet;
    x.sheet = NULL;
  }
  free_xlsx(&x);
  return rc;
}
