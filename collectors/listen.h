/* collectors/listen.h - what the listen collector counts of its requests.
 *
 * The push endpoints (collectors/listen.c) answer senders with a status
 * code; these are the counts behind the self-metric
 * villagemetrics_push_requests_total{collector,endpoint,code}, read
 * through the type's push_stats (collectors/collector.h).  Whoever shows
 * them (daemon/status/selfmetrics.c) includes this; nothing here is
 * needed to run a collector.
 */
#ifndef VG_LISTEN_H
#define VG_LISTEN_H

#include <stddef.h>
#include <stdint.h>

enum vg_push_code {
  VG_PUSH_2XX, /* all taken: 204 (200 for JSON) */
  VG_PUSH_400, /* some or all refused as malformed or invalid */
  VG_PUSH_401, /* credentials missing or wrong */
  VG_PUSH_413, /* over a size cap: nothing kept */
  VG_PUSH_415, /* an encoding we do not read */
  VG_PUSH_503, /* the journal could not take it: sent again later */
  VG_PUSH_CODES
};

#define VG_PUSH_MAX_ENDPOINTS 4

struct vg_push_stats {
  size_t nendpoints;
  struct {
    const char *path; /* "/write" */
    const char *ok;   /* its success code: "204" or "200" */
    uint64_t requests[VG_PUSH_CODES];
    uint64_t bytes; /* request bodies as sent */
  } endpoint[VG_PUSH_MAX_ENDPOINTS];
  /* The memory budget (max_memory): what the requests in flight hold
   * now, the most they have held together, and the limit. */
  uint64_t memory_bytes, memory_peak_bytes, memory_limit_bytes;
};

#endif
