/* daemon/formats/registry_csv.h - the village registry file.
 *
 * A CSV (UTF-8, or GBK/GB18030 as Excel on a Chinese Windows saves it;
 * comma- or tab-separated) whose first row names the columns, in any
 * order, in English or Chinese:
 *
 *   code        12-digit administrative code (代码, 区划代码, 统计用区划代码)
 *   county, town, village      the primary names: what series carry
 *                              (县, 乡镇, 村 ...)
 *   county_zh, town_zh, village_zh   the names in Chinese (optional)
 *   aliases     other names of the village, separated by | or ; (别名)
 *   latitude, longitude        degrees (lat, lon, 纬度, 经度)
 *   households, population     counts (户数, 人口)
 *
 * code, county, town and village are required; columns it does not know
 * are ignored (and named in *ignored, for a notice).  One bad row refuses
 * the whole file, with its line, column and why: a registry that half
 * loaded would reject the rows of the villages it lost.
 */
#ifndef VG_REGISTRY_CSV_H
#define VG_REGISTRY_CSV_H

#include "daemon/model/registry.h"

#include <stddef.h>

/* Refused past this many villages (ten times China's villages). */
#define VG_REGISTRY_CSV_MAX_VILLAGES 10000000

/* Parses `data` (the file `input`, for messages).  On success *out is a
 * new sealed registry owned by the caller, and `ignored` lists the
 * columns not read ("" when none).  -EINVAL otherwise, with `error`
 * saying where and why: "villages.csv:12:1 (code): ...". */
int vg_registry_csv_parse(const char *data, size_t len, const char *input,
                          struct vg_registry **out, char *ignored,
                          size_t ignored_size, char *error, size_t error_size);

#endif
