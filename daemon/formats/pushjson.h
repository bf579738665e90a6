/* daemon/formats/pushjson.h - the JSON body of POST /api/v1/push.
 *
 * The documented schema (docs/configuration.md, "Pushing JSON"):
 *
 *   {"samples": [{"metric": "village_population",
 *                 "labels": {"county": "Shiqian", "village": "Taoziyuan"},
 *                 "value": 812,
 *                 "timestamp": 1577808000000}],
 *    "records": [{"labels": {"county": "Shiqian", "village": "Taoziyuan"},
 *                 "timestamp": "2020-01-01T00:00:00Z",
 *                 "indicators": {"village_population": 812,
 *                                "village_water_safe_ratio": 0.93}}]}
 *
 * Either member may be absent; a bare array is taken as "samples".
 * "timestamp" is optional: Unix milliseconds as a number, or a string as
 * the file collector's "auto" reads it (Unix seconds or milliseconds,
 * YYYY-MM-DD, RFC 3339).  "value" and the indicators' values are numbers,
 * or strings holding one ("76.6%", "3,895"); null is "no value" and is
 * skipped.  A record's indicators must be in the catalog (a typo would
 * otherwise make a new series nobody looks at); a sample's metric may be
 * any valid name.  Label values are strings.
 *
 * Each bad sample or value is one rejection located by its JSON Pointer
 * (/records/3/indicators/village_population); the rest goes on.
 */
#ifndef VG_PUSHJSON_H
#define VG_PUSHJSON_H

#include "daemon/formats/json.h"
#include "daemon/model/sample.h"

#include <stddef.h>

/* 0, or -EINVAL when the body is not JSON of this shape at all (nothing
 * emitted then), with *error saying why and where. */
int vg_pushjson_run(const char *input, const char *data, size_t len,
                    const struct vg_emitter *out, char *error,
                    size_t error_size);
/* The same with the parsed tree within `lim` (daemon/formats/json.h): a
 * body whose tree would pass lim->max_bytes is refused whole with
 * -EMSGSIZE (found from its commas before any tree is made, or while it
 * is made), and the hold's refusal is -EAGAIN or -EFBIG; nothing is
 * emitted then. */
int vg_pushjson_run_limited(const char *input, const char *data, size_t len,
                            const struct vg_json_limits *lim,
                            const struct vg_emitter *out, char *error,
                            size_t error_size);

#endif
