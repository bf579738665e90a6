/* daemon/formats/lp_scan.h - finding the bytes that matter in a text
 * format, a word or a vector at a time.
 *
 * Line protocol is mostly runs of ordinary bytes (names, tag values,
 * digits) between a few special ones.  A scanner finds the next special
 * byte of a set, or marks them all in a line; the parser copies or skips
 * the run before one whole and looks at that byte alone.  Each set has
 * three ways of being scanned, the same answer every time: the portable
 * one (8 bytes a word, any CPU), SSE2 (16 bytes, every x86-64) and AVX2
 * (32 bytes, chosen at run time when the CPU has it, as the journal's
 * CRC32C chooses SSE4.2).  Tests and the fuzz target run the parser with
 * each and compare.
 *
 * Nothing here reads outside d[0..n), the bytes before i included: a
 * scan from i may load a vector that starts before it.
 */
#ifndef VG_FORMATS_LP_SCAN_H
#define VG_FORMATS_LP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_lp_scan {
  const char *kind; /* "portable", "sse2", "avx2" */
  /* The offset of the first '\n', '"' or '\\' in d[i..n), or n: where a
   * line ends unless a quote or an escape comes first. */
  size_t (*line)(const char *d, size_t i, size_t n);
  /* Marks each ',', '=', ' ', '\\' and control byte (0x00-0x1f, 0x7f)
   * of d[0..n): bit k % 32 of bits[k / 32] is set for d[k], and every
   * other bit of the (n + 31) / 32 words is cleared.  Where the names of
   * a line of line protocol may end or need a closer look, found for the
   * whole line at once: a name is a few bytes, too short to scan alone.
   * Returns whether d[0..n) has a byte >= 0x80, which a vector scan
   * tells at no cost while it has each vector at hand: whether the line
   * needs a UTF-8 check at all. */
  bool (*name_bits)(const char *d, size_t n, uint32_t *bits);
  /* The first byte >= 0x80, or n: where plain ASCII ends and UTF-8 must
   * be checked. */
  size_t (*high)(const char *d, size_t i, size_t n);
};

/* The fastest scanner this CPU runs (found once; thread-safe). */
const struct vg_lp_scan *vg_lp_scan_best(void);

/* Every scanner this CPU runs, NULL-terminated, the portable one first:
 * for tests that compare them. */
const struct vg_lp_scan *const *vg_lp_scan_all(void);

#endif
