/* daemon/formats/prompb.h - the Prometheus remote-write 1.0 wire format.
 *
 * Owns the encoding of a batch of series into a WriteRequest (protobuf,
 * then snappy block format) and the decoding of one back into series
 * handed to a visitor.  It owns no connection, no series store and no
 * clock: the remote_write exporter sends what vg_prompb_encode builds, with
 * the headers below, and the /api/v1/write receiver feeds request bodies
 * to vg_prompb_decode and decides what to do with each series.
 *
 * Only what remote write 1.0 carries is read: labels and float samples.
 * Exemplars and metadata are skipped, as are fields this code does not
 * know (forward compatibility, as protobuf intends).  A series carrying
 * native histograms is refused (the visitor's reject), not taken without
 * them: a receiver must not answer 2xx for data it dropped.  Metadata
 * (HELP, TYPE, UNIT of a family: the WriteRequest's field 3, which
 * Prometheus sends apart from samples) can be written.
 */
#ifndef VG_PROMPB_H
#define VG_PROMPB_H

#include "daemon/util/budget.h"
#include "daemon/util/buf.h"
#include "daemon/model/sample.h"

#include <stddef.h>
#include <stdint.h>

/* The headers every remote-write 1.0 request carries. */
#define VG_PROMPB_CONTENT_ENCODING "snappy"
#define VG_PROMPB_CONTENT_TYPE "application/x-protobuf"
#define VG_PROMPB_VERSION_HEADER "X-Prometheus-Remote-Write-Version"
#define VG_PROMPB_VERSION "0.1.0"
#define VG_PROMPB_HEADER_CONTENT_ENCODING                                      \
  "Content-Encoding: " VG_PROMPB_CONTENT_ENCODING
#define VG_PROMPB_HEADER_CONTENT_TYPE "Content-Type: " VG_PROMPB_CONTENT_TYPE
#define VG_PROMPB_HEADER_VERSION VG_PROMPB_VERSION_HEADER ": " VG_PROMPB_VERSION

/* Label fields of a series as vg_prompb_put_labels wrote them. */
struct vg_prompb_piece {
  const unsigned char *bytes;
  uint32_t len;
  /* 0, or what names these bytes in one encoding: pieces of one id hold
   * the same bytes, and the encoder writes a piece it wrote before in the
   * message as a snappy copy of it (a batch's series share label sets
   * and names), compressing nothing. */
  uint32_t id;
};

#define VG_PROMPB_PIECES 3

struct vg_prompb_series {
  /* INCLUDING __name__ (non-empty).  Must be sorted by name in byte
   * order, without repeats, as the spec requires of senders: the encoder
   * checks and fails with -EINVAL rather than sorting a copy, because our
   * series are kept sorted already and a silent sort would hide a bug in
   * whoever built the set. */
  const struct vg_label *labels;
  size_t nlabels;
  /* In timestamp order (not checked: the journal yields them so). */
  const int64_t *ts_ms;
  const double *values;
  size_t nsamples;
  /* Or, when npieces > 0, `labels` already written as the message's
   * Label fields: these pieces, end to end, copied as they are.  The
   * writer of those bytes answers for the rules above, and `labels` is
   * not read. */
  struct vg_prompb_piece pieces[VG_PROMPB_PIECES];
  size_t npieces;
};

/* Appends the labels as Label fields of a TimeSeries, as the encoder
 * writes them, to out (for vg_prompb_series.pieces): 0, or
 * -ENOSPC at out's cap. */
int vg_prompb_put_labels(const struct vg_label *labels, size_t n,
                         struct vg_buf *out);
/* The same, with each name's and value's length given in lens (two a
 * label), by a caller that knows them. */
int vg_prompb_put_labels_measured(const struct vg_label *labels,
                                  const uint32_t *lens, size_t n,
                                  struct vg_buf *out);

/* Resets `out`, then writes the snappy-compressed (block format) protobuf
 * WriteRequest of the n series into it.  0, -ENOSPC when the compressed
 * message would pass out's cap, -EINVAL when a series has no labels, no
 * or an empty __name__, or labels not strictly sorted by name.  Allocates
 * a scratch buffer for the uncompressed message per call; a sender that
 * encodes often uses vg_prompb_encode_scratch instead. */
int vg_prompb_encode(const struct vg_prompb_series *series, size_t n,
                     struct vg_buf *out);
/* The same, with the uncompressed message and snappy's work area kept in
 * `scratch` (owned by the caller, reset here, memory kept between calls):
 * no allocation once scratch has grown to the batch size. -ENOSPC also
 * when scratch's cap is too small for both.  When every series is given
 * as pieces, no uncompressed message is made: the snappy ops are written
 * from the pieces (snappy_block.h), a piece of an id written before as a
 * copy, and scratch holds the ops and the ids' places. */
int vg_prompb_encode_scratch(const struct vg_prompb_series *series, size_t n,
                             struct vg_buf *scratch, struct vg_buf *out);
/* The same without snappy, for tests and size accounting: resets `out`
 * and writes the bare protobuf message.  -ENOSPC past out's cap. */
int vg_prompb_encode_raw(const struct vg_prompb_series *series, size_t n,
                         struct vg_buf *out);

/* MetricMetadata's MetricType, by number. */
enum vg_prompb_type {
  VG_PROMPB_UNKNOWN = 0,
  VG_PROMPB_COUNTER = 1,
  VG_PROMPB_GAUGE = 2,
  VG_PROMPB_HISTOGRAM = 3,
  VG_PROMPB_SUMMARY = 5,
};

struct vg_prompb_metadata {
  enum vg_prompb_type type;
  const char *family; /* metric_family_name, non-empty */
  const char *help;   /* may be NULL or empty */
  const char *unit;   /* may be NULL or empty */
};

/* Resets `out`, then writes the snappy-compressed WriteRequest that holds
 * the n metadata and no series (what Prometheus sends every
 * metadata_config.send_interval).  0, -ENOSPC past a cap, -EINVAL for an
 * empty family name. */
int vg_prompb_encode_metadata(const struct vg_prompb_metadata *m, size_t n,
                              struct vg_buf *scratch, struct vg_buf *out);

/* The reject reason of a series with native histograms, for receivers to
 * tell it from a bad label set. */
#define VG_PROMPB_HISTOGRAMS_REFUSED                                           \
  "native histograms are not supported: send float samples (classic "          \
  "histograms)"

struct vg_prompb_visitor {
  /* One call per accepted TimeSeries: labels in the order sent (which may
   * be unsorted), as NUL-terminated copies valid only during the call;
   * samples in the order sent.  A series with no float samples (say, only
   * histograms) is still reported, with nsamples 0.  Label values may be
   * empty; metric names are not checked beyond being non-empty. */
  void (*series)(void *arg, const struct vg_label *labels, size_t nlabels,
                 const int64_t *ts_ms, const double *values, size_t nsamples);
  /* Optional.  One call per series that is well-formed protobuf but not a
   * valid series, which is then skipped: no or an empty __name__, a label
   * name not [a-zA-Z_][a-zA-Z0-9_]*, a value not UTF-8 or holding a NUL,
   * a repeated label name.  series_index counts every TimeSeries in the
   * message from 0, accepted or not; `reason` is valid during the call
   * ("duplicate label name \"job\""; "native histograms are not
   * supported: send float samples (classic histograms)"). */
  void (*reject)(void *arg, size_t series_index, const char *reason);
  void *arg;
};

/* Decodes a snappy-compressed (block format) WriteRequest.  The length
 * that snappy's header announces is checked against max_uncompressed
 * before anything is decompressed: -EMSGSIZE ("uncompressed size 2000000
 * bytes is over the limit of 1048576 bytes").  -EINVAL for data that is
 * not snappy or not a WriteRequest, with `error` saying what and at which
 * byte of the uncompressed message ("truncated varint at byte 17").  The
 * whole message is checked before the first callback, so that on any
 * error no callback has been called: a receiver either takes all of a
 * request or none of it.  `error` may be NULL. */
int vg_prompb_decode(const char *data, size_t len, size_t max_uncompressed,
                     const struct vg_prompb_visitor *v, char *error,
                     size_t error_size);
/* The same for an uncompressed WriteRequest. */
int vg_prompb_decode_raw(const char *data, size_t len,
                         const struct vg_prompb_visitor *v, char *error,
                         size_t error_size);

/* What a receiver lets one message cost.  Memory of a decode is then
 * bounded by the caps, whatever the message's shape: the uncompressed
 * copy (max_uncompressed), and for the largest series 48 bytes per label
 * (up to max_labels) plus its label bytes and 16 bytes per sample (up to
 * max_samples); nothing per label past max_labels, nothing per series. */
struct vg_prompb_limits {
  size_t max_uncompressed; /* snappy's announced length; -EMSGSIZE past it */
  /* Labels of one series, __name__ included: a series with more is
   * handed to the visitor's reject ("40 labels (with __name__), more than
   * the 33 allowed") and its labels are counted, never stored. */
  size_t max_labels;
  /* TimeSeries and samples of the whole message: past either -E2BIG,
   * found in the checking pass, before any callback or allocation. */
  size_t max_series, max_samples;
  /* Optional: the uncompressed copy and the scratch arrays are taken from
   * it before they are allocated or reused; a refusal is returned (-EAGAIN or
   * -EFBIG, vg_budget_take) and nothing was called.  All is given back
   * before the call returns. */
  struct vg_budget_hold *hold;
  /* Optional: the uncompressed copy is made in it (its contents and max
   * replaced; made again to the byte when too small, vg_budget_take_buf,
   * and taken from `hold` at its whole size) rather than in memory of the
   * call's own, so that a receiver keeping it for the next message does
   * not fault a fresh one in each time.  Never the buffer `data` is in. */
  struct vg_buf *raw;
};

/* The uncompressed length snappy's header announces: 0 and *len, or
 * -EINVAL when the data does not start as snappy does. */
int vg_prompb_uncompressed_length(const char *data, size_t len, size_t *out);

/* vg_prompb_decode within `lim`: 0, -EMSGSIZE, -E2BIG, -EAGAIN, -EFBIG
 * or -EINVAL, with `error` saying which. */
int vg_prompb_decode_limited(const char *data, size_t len,
                             const struct vg_prompb_limits *lim,
                             const struct vg_prompb_visitor *v, char *error,
                             size_t error_size);

#endif
