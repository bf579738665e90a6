/* daemon/config/conflicts.h - collectors that would certainly provide the
 * same series (see conflicts.c for what counts as certain). */
#ifndef VG_CONFLICTS_H
#define VG_CONFLICTS_H

#include "daemon/config/config.h"

/* 0, or -EINVAL with err->msg naming the second collector's place and the
 * first collector. */
int vg_config_check_conflicts(const struct vg_config *cfg,
                              struct vg_cfg_err *err);

#endif
