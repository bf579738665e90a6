/* daemon/formats/lp_scan.c - the scanners of lp_scan.h.
 *
 * Owns the three implementations of each byte set and the choice among
 * them.  Must not read a byte outside d[0..n) (vectors are loaded whole
 * only where they fit: the last one of a range may start before i, never
 * before d; a range shorter than a vector goes a word or a byte at a
 * time), nor give an answer that differs from the portable one.
 */
#include "daemon/formats/lp_scan.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- portable: a word at a time ------------------------------------------ */

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Non-zero when some byte of w is below b (b <= 0x80): exact as a yes or
 * no, which is all it is used for; the byte itself is then found one at a
 * time, so byte order does not matter. */
static uint64_t has_less(uint64_t w, unsigned b) {
  return (w - ONES * b) & ~w & HIGHS;
}

static uint64_t has_byte(uint64_t w, unsigned char c) {
  return has_less(w ^ (ONES * c), 1);
}

static uint64_t load64(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

static bool is_line_byte(unsigned char c) {
  return c == '\n' || c == '"' || c == '\\';
}

static bool is_name_byte(unsigned char c) {
  return c == ',' || c == '=' || c == ' ' || c == '\\' || c < 0x20 || c == 0x7f;
}

static size_t line_portable(const char *d, size_t i, size_t n) {
  for (; i + 8 <= n; i += 8) {
    uint64_t w = load64(d + i);
    if (has_byte(w, '\n') | has_byte(w, '"') | has_byte(w, '\\'))
      break;
  }
  for (; i < n; i++)
    if (is_line_byte((unsigned char)d[i]))
      return i;
  return n;
}

/* Marks the name bytes of d[i..n) (their bits cleared by the caller):
 * words without one are passed over whole. */
static void mark_portable(const char *d, size_t i, size_t n, uint32_t *bits) {
  for (; i < n; i++) {
    if (i % 8 == 0 && i + 8 <= n) {
      uint64_t w = load64(d + i);
      if (!(has_byte(w, ',') | has_byte(w, '=') | has_byte(w, ' ') |
            has_byte(w, '\\') | has_less(w, 0x20) | has_byte(w, 0x7f))) {
        i += 7;
        continue;
      }
    }
    if (is_name_byte((unsigned char)d[i]))
      bits[i / 32] |= UINT32_C(1) << (i % 32);
  }
}

static void clear_bits(size_t n, uint32_t *bits) {
  memset(bits, 0, (n + 31) / 32 * sizeof *bits);
}

static size_t high_portable(const char *d, size_t i, size_t n) {
  for (; i + 8 <= n; i += 8)
    if (load64(d + i) & HIGHS)
      break;
  for (; i < n; i++)
    if ((unsigned char)d[i] >= 0x80)
      return i;
  return n;
}

/* Here and in SSE2, the high bytes are looked for in a pass of their
 * own: simpler, and these run only where AVX2 does not. */
static bool name_bits_portable(const char *d, size_t n, uint32_t *bits) {
  clear_bits(n, bits);
  mark_portable(d, 0, n, bits);
  return high_portable(d, 0, n) < n;
}

static const struct vg_lp_scan scan_portable = {
    .kind = "portable",
    .line = line_portable,
    .name_bits = name_bits_portable,
    .high = high_portable,
};

#if defined(__x86_64__)
/* ---- SSE2 and AVX2: a vector at a time --------------------------------- */

/* Each finds the first vector holding a byte of its set, then the byte
 * within it from the mask's lowest bit.  The tail shorter than a vector
 * is the last vector of the range, loaded again over bytes already
 * looked at, whose bits are shifted out of its mask: most ranges are a
 * line, whose tail would otherwise take as long as the rest of it.  Only
 * a range shorter than a vector goes through narrower code. */

static unsigned line_mask_sse2(__m128i x) {
  __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')),
                                        _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))),
                           _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
  return (unsigned)_mm_movemask_epi8(m);
}

/* x <= 0x1f unsigned is min(x, 0x1f) == x. */
static unsigned name_mask_sse2(__m128i x) {
  __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
  __m128i m =
      _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(',')),
                                _mm_cmpeq_epi8(x, _mm_set1_epi8('='))),
                   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
                                _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
  m = _mm_or_si128(_mm_or_si128(m, ctl),
                   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
  return (unsigned)_mm_movemask_epi8(m);
}

#define SCAN_SSE2(fn, mask_fn, tail_fn)                                        \
  static size_t fn(const char *d, size_t i, size_t n) {                        \
    for (; i + 16 <= n; i += 16) {                                             \
      unsigned m = mask_fn(_mm_loadu_si128((const __m128i *)(d + i)));         \
      if (m)                                                                   \
        return i + (size_t)__builtin_ctz(m);                                   \
    }                                                                          \
    if (i == n || n < 16)                                                      \
      return tail_fn(d, i, n);                                                 \
    unsigned m = mask_fn(_mm_loadu_si128((const __m128i *)(d + n - 16))) >>    \
                 (16 - (n - i));                                               \
    return m ? i + (size_t)__builtin_ctz(m) : n;                               \
  }

static unsigned high_mask_sse2(__m128i x) {
  return (unsigned)_mm_movemask_epi8(x);
}

SCAN_SSE2(line_sse2, line_mask_sse2, line_portable)
/* From i, a multiple of 16, to n. */
static void mark_sse2(const char *d, size_t i, size_t n, uint32_t *bits) {
  for (; i + 16 <= n; i += 16)
    bits[i / 32] |= name_mask_sse2(_mm_loadu_si128((const __m128i *)(d + i)))
                    << (i % 32);
  if (i == n || n < 16) {
    mark_portable(d, i, n, bits);
    return;
  }
  unsigned m = name_mask_sse2(_mm_loadu_si128((const __m128i *)(d + n - 16)));
  bits[i / 32] |= m >> (16 - (n - i)) << (i % 32);
}

SCAN_SSE2(high_sse2, high_mask_sse2, high_portable)

static bool name_bits_sse2(const char *d, size_t n, uint32_t *bits) {
  clear_bits(n, bits);
  mark_sse2(d, 0, n, bits);
  return high_sse2(d, 0, n) < n;
}

static const struct vg_lp_scan scan_sse2 = {
    .kind = "sse2",
    .line = line_sse2,
    .name_bits = name_bits_sse2,
    .high = high_sse2,
};

#define AVX2 __attribute__((target("avx2")))

AVX2 static unsigned line_mask_avx2(__m256i x) {
  __m256i m = _mm256_or_si256(
      _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n')),
                      _mm256_cmpeq_epi8(x, _mm256_set1_epi8('"'))),
      _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\')));
  return (unsigned)_mm256_movemask_epi8(m);
}

AVX2 static unsigned name_mask_avx2(__m256i x) {
  __m256i ctl =
      _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(0x1f)), x);
  __m256i m = _mm256_or_si256(
      _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(',')),
                      _mm256_cmpeq_epi8(x, _mm256_set1_epi8('='))),
      _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(' ')),
                      _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\'))));
  m = _mm256_or_si256(_mm256_or_si256(m, ctl),
                      _mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x7f)));
  return (unsigned)_mm256_movemask_epi8(m);
}

AVX2 static unsigned high_mask_avx2(__m256i x) {
  return (unsigned)_mm256_movemask_epi8(x);
}

/* A range shorter than 32 bytes goes through SSE2. */
#define SCAN_AVX2(fn, mask_fn, tail_fn)                                        \
  AVX2 static size_t fn(const char *d, size_t i, size_t n) {                   \
    for (; i + 32 <= n; i += 32) {                                             \
      unsigned m = mask_fn(_mm256_loadu_si256((const __m256i *)(d + i)));      \
      if (m)                                                                   \
        return i + (size_t)__builtin_ctz(m);                                   \
    }                                                                          \
    if (i == n || n < 32)                                                      \
      return tail_fn(d, i, n);                                                 \
    unsigned m = mask_fn(_mm256_loadu_si256((const __m256i *)(d + n - 32))) >> \
                 (32 - (n - i));                                               \
    return m ? i + (size_t)__builtin_ctz(m) : n;                               \
  }

SCAN_AVX2(line_avx2, line_mask_avx2, line_sse2)
/* Every word is written whole: nothing to clear first.  The vectors are
 * ORed together as they go by: the high bit of any byte stays set. */
AVX2 static bool name_bits_avx2(const char *d, size_t n, uint32_t *bits) {
  if (n < 32)
    return name_bits_sse2(d, n, bits);
  __m256i any = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(d + i));
    bits[i / 32] = name_mask_avx2(x);
    any = _mm256_or_si256(any, x);
  }
  if (i < n) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(d + n - 32));
    bits[i / 32] = name_mask_avx2(x) >> (32 - (n - i));
    any = _mm256_or_si256(any, x);
  }
  return high_mask_avx2(any) != 0;
}
SCAN_AVX2(high_avx2, high_mask_avx2, high_sse2)

static const struct vg_lp_scan scan_avx2 = {
    .kind = "avx2",
    .line = line_avx2,
    .name_bits = name_bits_avx2,
    .high = high_avx2,
};
#endif

/* ---- the choice ---------------------------------------------------------- */

static const struct vg_lp_scan *runnable[4];
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void) {
  size_t n = 0;
  runnable[n++] = &scan_portable;
#if defined(__x86_64__)
  runnable[n++] = &scan_sse2;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2"))
    runnable[n++] = &scan_avx2;
#endif
  runnable[n] = NULL;
}

const struct vg_lp_scan *const *vg_lp_scan_all(void) {
  pthread_once(&choose_once, choose);
  return runnable;
}

const struct vg_lp_scan *vg_lp_scan_best(void) {
  const struct vg_lp_scan *const *all = vg_lp_scan_all();
  size_t n = 0;
  while (all[n + 1])
    n++;
  return all[n];
}
