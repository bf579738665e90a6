/* daemon/pipeline/journal_codec.c - the journal's on-disk format.
 *
 * Owns the encoding of a record and its frame, the check that finds valid
 * records among damaged bytes, and CRC32C.  Pure: no file, no loop, no
 * state but the CRC tables, so the writer, the readers (in the thread
 * pool) and the fuzz target all call it.  Must never change a byte of the
 * format below: journals written by any release are read by every later
 * one.
 *
 * Format (all integers little endian):
 *   <dir>/<first seq, 20 zero-padded digits>.seg, append-only segments.  A
 *   segment starts with "VGJ1" + u32 version (1 or 2; this release writes
 *   2, and reads both, so that a journal left by an older release is
 *   delivered after an upgrade).  Each record is
 *     u32 sync marker 0xF1A3E7D5, u32 payload length, u32 CRC32C of payload,
 *     payload, version 1 (one sample): varint seq, varint zigzag ts_ms,
 *              8-byte IEEE double, varint metric length + bytes, varint
 *              label count, then per label varint name length + bytes,
 *              varint value length + bytes;
 *     payload, version 2 (a block of samples): see journal_block.c.
 *   Varints are LEB128 and minimal; strings hold no NUL; a payload is at
 *   most VG_JOURNAL_MAX_RECORD bytes (version 1) or VG__JOURNAL_BLOCK_RAW
 *   + 32 (version 2) and is consumed exactly.  A record decodes alone.
 *   Sequence numbers rise by one per sample across records and segments,
 *   so a gap between valid records is exactly the count lost.
 *   <dir>/cursors/<reader>: the reader's next seq as decimal text + "\n",
 *   replaced atomically (.<reader>.tmp, fsync, rename, fsync folder).
 *
 * Damage: a record whose CRC or payload is bad is skipped -- by its length
 * if a valid record follows there, else by scanning byte by byte for the
 * next sync marker whose record checks -- and the seq gap is counted (by
 * the reader, journal_reader.c).
 */
#include "daemon/pipeline/journal_int.h"
#include "daemon/util/crc32c.h"
#include "daemon/util/mem.h"
#include "daemon/util/varint.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SEG_VERSION 2
#define REC_SYNC 0xF1A3E7D5u
#define MIN_PAYLOAD_V1 12 /* seq, ts, value, metric length, label count */
#define MIN_PAYLOAD_V2 4  /* seq, count, codec, raw length */
#define MAX_PAYLOAD_V2 (VG__JOURNAL_BLOCK_RAW + 32)

static uint64_t get_u64(const unsigned char *p) {
  uint64_t lo = vg__journal_get_u32(p), hi = vg__journal_get_u32(p + 4);
  return lo | hi << 32;
}

void vg__journal_seg_header(unsigned char *out) {
  memcpy(out, "VGJ1", 4);
  vg__journal_put_u32(out + 4, SEG_VERSION);
}

unsigned vg__journal_seg_version(const unsigned char *hdr) {
  uint32_t v = vg__journal_get_u32(hdr + 4);
  return memcmp(hdr, "VGJ1", 4) == 0 && (v == 1 || v == 2) ? v : 0;
}

bool vg__journal_get_string(const unsigned char **p, const unsigned char *end,
                            const unsigned char **s, size_t *len) {
  uint64_t n;
  if (!vg_varint_get(p, end, &n) || n > (uint64_t)(end - *p) ||
      memchr(*p, 0, (size_t)n))
    return false;
  *s = *p;
  *len = (size_t)n;
  *p += n;
  return true;
}

void vg__journal_take_string(const unsigned char **p, const unsigned char **s,
                             size_t *len) {
  uint64_t n = 0;
  unsigned shift = 0;
  unsigned char b;
  do {
    b = *(*p)++;
    n |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  *s = *p;
  *len = (size_t)n;
  *p += n;
}

static unsigned char *put_bytes(unsigned char *p, const char *s, size_t n) {
  p += vg_varint_put(p, n);
  memcpy(p, s, n);
  return p + n;
}

/* The payload without its seq.  Every sample goes through here on its way
 * in, so the size is found first and the record written with one
 * reservation. */
int vg__journal_encode_rest(struct vg_buf *b, const struct vg_journal_record *r,
                            bool with_labels) {
  size_t mlen = strlen(r->metric);
  size_t lens[2 * 64];
  size_t nlabels = with_labels ? r->nlabels : 0;
  size_t nlens = nlabels <= 64 ? 2 * nlabels : 0;
  size_t size = 10 + 8 + 10 + mlen + 10;
  for (size_t i = 0; i < nlabels; i++) {
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
  uint64_t ts = vg_zigzag((uint64_t)r->ts_ms);
  uint64_t bits;
  memcpy(&bits, &r->value, 8);
  p += vg_varint_put(p, ts);
  for (int i = 0; i < 8; i++)
    *p++ = (unsigned char)(bits >> (8 * i));
  p = put_bytes(p, r->metric, mlen);
  if (with_labels)
    p += vg_varint_put(p, nlabels);
  for (size_t i = 0; i < nlabels; i++) {
    const struct vg_label *l = &r->labels[i];
    p = put_bytes(p, l->name, nlens ? lens[2 * i] : strlen(l->name));
    p = put_bytes(p, l->value, nlens ? lens[2 * i + 1] : strlen(l->value));
  }
  b->len = (size_t)((char *)p - b->data);
  b->data[b->len] = '\0';
  return 0;
}

size_t vg__journal_frame_payload(unsigned char *out, size_t plen) {
  vg__journal_put_u32(out, REC_SYNC);
  vg__journal_put_u32(out + 4, (uint32_t)plen);
  vg__journal_put_u32(out + 8, vg_crc32c(0, out + VG__JOURNAL_REC_HDR, plen));
  return VG__JOURNAL_REC_HDR + plen;
}

size_t vg__journal_record_size(const struct vg__journal_view *v) {
  uint64_t ts = vg_zigzag((uint64_t)v->ts);
  return VG__JOURNAL_REC_HDR + vg_varint_len(v->seq) + vg_varint_len(ts) + 8 +
         vg_varint_len(v->mlen) + v->mlen + vg_varint_len(v->nlabels) +
         (size_t)(v->end - v->labels);
}

int vg__journal_encode(const struct vg_journal_record *rec,
                       struct vg_buf *out) {
  struct vg_buf rest;
  vg_buf_init(&rest, VG_JOURNAL_MAX_RECORD - 10);
  int rc = vg__journal_encode_rest(&rest, rec, true);
  if (rc == 0) {
    unsigned char *f = vg_malloc(VG__JOURNAL_REC_HDR + 10 + rest.len);
    /* rest.data is NULL only when nothing was appended, never here. */
    size_t sl = vg_varint_put(f + VG__JOURNAL_REC_HDR, rec->seq);
    memcpy(f + VG__JOURNAL_REC_HDR + sl, rest.data, rest.len);
    size_t n = vg__journal_frame_payload(f, sl + rest.len);
    rc = vg_buf_append(out, f, n);
    free(f);
  } else if (rc == -ENOSPC) {
    rc = -EMSGSIZE;
  }
  vg_buf_free(&rest);
  return rc;
}

/* A block's head; its samples are checked when it is decoded
 * (journal_block.c). */
static bool parse_block(const unsigned char *p, size_t n,
                        struct vg__journal_view *v) {
  const unsigned char *end = p + n;
  uint64_t raw;
  if (!vg_varint_get(&p, end, &v->seq) || !vg_varint_get(&p, end, &v->count) ||
      v->count == 0 || v->count > VG__JOURNAL_BLOCK_SAMPLES ||
      v->seq > UINT64_MAX - v->count || p == end)
    return false;
  v->codec = *p++;
  if (!vg_varint_get(&p, end, &raw) || raw > VG__JOURNAL_BLOCK_RAW ||
      v->codec > 1 || (v->codec == 0 && raw != (uint64_t)(end - p)) || p == end)
    return false;
  v->raw_len = (size_t)raw;
  v->data = p;
  v->dlen = (size_t)(end - p);
  return true;
}

static bool parse_payload(const unsigned char *p, size_t n,
                          struct vg__journal_view *v) {
  const unsigned char *end = p + n, *s;
  uint64_t u, count;
  size_t len;
  v->count = 1;
  if (!vg_varint_get(&p, end, &v->seq) || !vg_varint_get(&p, end, &u) ||
      end - p < 8)
    return false;
  v->ts = (int64_t)vg_unzigzag(u);
  uint64_t bits = get_u64(p);
  memcpy(&v->value, &bits, 8);
  p += 8;
  if (!vg__journal_get_string(&p, end, &v->metric, &v->mlen) ||
      !vg_varint_get(&p, end, &count) || count > (uint64_t)(end - p) / 2)
    return false;
  v->nlabels = (size_t)count;
  v->labels = p;
  v->end = end;
  for (size_t i = 0; i < 2 * v->nlabels; i++)
    if (!vg__journal_get_string(&p, end, &s, &len))
      return false;
  return p == end;
}

/* 1: a valid record at off (framed length in *flen); 0: not one; -1: the
 * data ends before it could be told. */
static bool plausible(uint32_t plen, unsigned version) {
  return version == 1 ? plen >= MIN_PAYLOAD_V1 && plen <= VG_JOURNAL_MAX_RECORD
                      : plen >= MIN_PAYLOAD_V2 && plen <= MAX_PAYLOAD_V2;
}

static int valid_at(const unsigned char *p, size_t len, size_t off,
                    unsigned version, struct vg__journal_view *v,
                    size_t *flen) {
  if (len - off < VG__JOURNAL_REC_HDR)
    return -1;
  uint32_t plen = vg__journal_get_u32(p + off + 4);
  if (vg__journal_get_u32(p + off) != REC_SYNC || !plausible(plen, version))
    return 0;
  if (len - off - VG__JOURNAL_REC_HDR < plen)
    return -1;
  const unsigned char *payload = p + off + VG__JOURNAL_REC_HDR;
  if (vg_crc32c(0, payload, plen) != vg__journal_get_u32(p + off + 8) ||
      !(version == 1 ? parse_payload(payload, plen, v)
                     : parse_block(payload, plen, v)))
    return 0;
  v->version = version;
  *flen = VG__JOURNAL_REC_HDR + plen;
  return 1;
}

/* Finds the next valid record at or after *off (journal_int.h). */
int vg__journal_next_record(const unsigned char *p, size_t len, bool at_eof,
                            unsigned version, size_t *off,
                            struct vg__journal_view *v, size_t *flen) {
  size_t o = *off;
  if (o >= len)
    return at_eof ? VG__JOURNAL_END : VG__JOURNAL_NEED_MORE;
  int rc = valid_at(p, len, o, version, v, flen);
  if (rc == 1)
    return VG__JOURNAL_FOUND;
  if (rc < 0 && !at_eof)
    return VG__JOURNAL_NEED_MORE;
  /* Damaged.  A plausible length still tells where the next record is. */
  if (len - o >= VG__JOURNAL_REC_HDR &&
      vg__journal_get_u32(p + o) == REC_SYNC) {
    uint32_t plen = vg__journal_get_u32(p + o + 4);
    if (plausible(plen, version) && len - o - VG__JOURNAL_REC_HDR >= plen) {
      size_t next = o + VG__JOURNAL_REC_HDR + plen;
      rc = valid_at(p, len, next, version, v, flen);
      if (rc == 1) {
        *off = next;
        return VG__JOURNAL_FOUND;
      }
      if (rc < 0 && !at_eof)
        return VG__JOURNAL_NEED_MORE;
    }
  }
  for (size_t q = o + 1; q + 4 <= len; q++) {
    if (vg__journal_get_u32(p + q) != REC_SYNC)
      continue;
    rc = valid_at(p, len, q, version, v, flen);
    if (rc == 1 || (rc < 0 && !at_eof)) {
      *off = q;
      return rc == 1 ? VG__JOURNAL_FOUND : VG__JOURNAL_NEED_MORE;
    }
  }
  if (at_eof)
    return VG__JOURNAL_END;
  *off = len >= 3 && len - 3 > o ? len - 3 : o + 1;
  return VG__JOURNAL_NEED_MORE;
}
