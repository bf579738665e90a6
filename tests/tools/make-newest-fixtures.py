#!/usr/bin/python3
"""Writes tests/data/newest/: files of the remote_write exporter's newest
table, made here from the format's description in
daemon/pipeline/newest.c (not by the daemon), so that test_newest checks
the reader against an encoder of its own, and the fuzz target has seeds.

    tests/tools/make-newest-fixtures.py tests/data/newest

v3-two-chunks.newest: two chunks (the first with three new series, the
second with one), records with every field, a seq and a ts coded against
the chunk's previous record, and a negative delta.  v2.newest: the
release before's 32-byte records.  Standard library only."""

import struct
import sys

M = (1 << 64) - 1
NONE = -(1 << 63)
FRESH = (NONE, 0, 0)  # ts_ms, value bits, seq


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def zigzag(d):
    d &= M
    return ((d << 1) & M) ^ (M if d >> 63 else 0)


def chunk(first, hashes, flags, records):
    """records: (entry, was, now), each state (ts_ms, bits, seq)."""
    p = bytearray(varint(first) + varint(len(hashes)))
    for h in hashes:
        p += struct.pack("<Q", h)
    p.append(flags)
    nxt, ts, seq = 0, 0, 0
    for entry, was, now in records:
        mask = ((1 if now[0] != was[0] else 0) | (2 if now[1] != was[1] else 0)
                | (4 if now[2] != was[2] else 0))
        p += varint(zigzag(entry - nxt) << 3 | mask)
        if mask & 1:
            p += varint(zigzag(now[0] - (was[0] if was[0] != NONE else ts)))
            ts = now[0]
        if mask & 2:
            p += struct.pack("<Q", now[1])
        if mask & 4:
            p += varint(zigzag(now[2] - (was[2] if was[2] else seq)))
            seq = now[2]
        nxt = entry + 1
    return struct.pack("<II", len(p), crc32c(bytes(p))) + bytes(p)


def main(folder):
    a = (1765000000000, 0x4052C00000000000, 100)  # 75.0 delivered, seq 100
    b = (NONE, 0, 101)                             # given up on, seq 101
    c = (1765000010000, 0x4052D00000000000, 180100)
    v3 = b"VGNW" + struct.pack("<I", 3)
    v3 += chunk(0, [0x1234567890ABCDEF, 0xFEDCBA0987654321, 0x1111], 1,
                [(0, FRESH, a), (1, FRESH, b)])
    v3 += chunk(3, [0x2222], 1, [(0, a, c), (3, FRESH, a)])
    with open(folder + "/v3-two-chunks.newest", "wb") as f:
        f.write(v3)
    v2 = b"VGNW" + struct.pack("<I", 2)
    v2 += struct.pack("<QqQQ", 0, 1, 0, 0)  # the flags: refuses
    v2 += struct.pack("<QqQQ", 0x1234567890ABCDEF, *a)
    v2 += struct.pack("<QqQQ", 0x1111, NONE, 0, 7)
    with open(folder + "/v2.newest", "wb") as f:
        f.write(v2)


if __name__ == "__main__":
    main(sys.argv[1])
