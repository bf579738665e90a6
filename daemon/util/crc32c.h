/* daemon/util/crc32c.h - CRC32C (Castagnoli) of bytes in memory. */
#ifndef VG_CRC32C_H
#define VG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of p[0..n), continuing from `crc` (0 to start): with the CPU's
 * instruction where there is one, else the portable code, which is also
 * callable alone so that tests can compare the two.  Thread-safe. */
uint32_t vg_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t vg_crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
