"""Classic BPF run over a batch's frames in one compiled loop: what libpcap's
pcap_offline_filter does a packet at a time (bpf_filter.c), a column at a time.

A load past the captured bytes, a division by zero or a jump out of the program rejects
the frame, as in libpcap; `len` is the frame's length on the wire."""
from __future__ import annotations

import numpy as np

from ybsensor.core.loops import jit

MEMWORDS = 16


M32 = 0xFFFFFFFF


@jit
def _load(data, start, caplen, k, size):
    """(value, ok) of a big-endian load of `size` bytes at frame offset k."""
    if k < 0 or k + size > caplen:
        return np.int64(0), False
    v = np.int64(0)
    for i in range(size):
        v = (v << 8) | np.int64(data[start + k + i])
    return v, True


@jit
def _run(prog, data, start, caplen, wirelen, mem):
    """The program's return value for one frame (0: rejected); `mem` its scratch words.
    Registers are unsigned 32-bit, kept in int64 and masked."""
    a = np.int64(0)
    x = np.int64(0)
    for i in range(MEMWORDS):
        mem[i] = 0
    n = prog.shape[0]
    pc = 0
    while 0 <= pc < n:
        code = prog[pc, 0]
        jt = prog[pc, 1]
        jf = prog[pc, 2]
        k = prog[pc, 3] & M32
        cls = code & 0x07
        if cls == 0x00 or cls == 0x01:         # LD, LDX
            mode = code & 0xE0
            size = 4 if (code & 0x18) == 0x00 else (2 if (code & 0x18) == 0x08 else 1)
            v = np.int64(0)
            if mode == 0x00:                   # IMM
                v = k
            elif mode == 0x80:                 # LEN
                v = np.int64(wirelen) & M32
            elif mode == 0x60:                 # MEM
                if k >= MEMWORDS:
                    return 0
                v = mem[k]
            elif mode == 0x20 or mode == 0x40:  # ABS, IND
                off = k + (x if mode == 0x40 else 0)
                v, ok = _load(data, start, caplen, off, size)
                if not ok:
                    return 0
            elif mode == 0xA0 and cls == 0x01:  # MSH: X = 4 * (P[k] & 0xf)
                v, ok = _load(data, start, caplen, k, 1)
                if not ok:
                    return 0
                v = (v & 0xF) << 2
            else:
                return 0
            if cls == 0x00:
                a = v
            else:
                x = v
        elif cls == 0x02 or cls == 0x03:       # ST, STX
            if k >= MEMWORDS:
                return 0
            mem[k] = a if cls == 0x02 else x
        elif cls == 0x04:                      # ALU
            op = code & 0xF0
            v = x if (code & 0x08) else k
            if op == 0x00:
                a = (a + v) & M32
            elif op == 0x10:
                a = (a - v) & M32
            elif op == 0x20:
                a = (a * v) & M32
            elif op == 0x30:
                if v == 0:
                    return 0
                a = a // v
            elif op == 0x90:
                if v == 0:
                    return 0
                a = a % v
            elif op == 0x40:
                a = a | v
            elif op == 0x50:
                a = a & v
            elif op == 0xA0:
                a = a ^ v
            elif op == 0x60:
                a = (a << v) & M32 if v < 32 else 0
            elif op == 0x70:
                a = a >> v if v < 32 else 0
            elif op == 0x80:
                a = (-a) & M32
            else:
                return 0
        elif cls == 0x05:                      # JMP
            op = code & 0xF0
            v = x if (code & 0x08) else k
            if op == 0x00:
                pc += 1 + k
                continue
            if op == 0x10:
                hit = a == v
            elif op == 0x20:
                hit = a > v
            elif op == 0x30:
                hit = a >= v
            elif op == 0x40:
                hit = (a & v) != 0
            else:
                return 0
            pc += 1 + (jt if hit else jf)
            continue
        elif cls == 0x06:                      # RET
            rv = code & 0x18
            return k if rv == 0x00 else (x if rv == 0x08 else a)
        else:                                  # MISC
            if (code & 0xF8) == 0x00:
                x = a
            elif (code & 0xF8) == 0x80:
                a = x
            else:
                return 0
        pc += 1
    return 0


@jit
def matches(prog, data, offset, caplen, wirelen, rows, out, mem):
    """out[r] = whether the program (int64 rows of code, jt, jf, k) accepts frame r, for
    each r in rows; `mem`: MEMWORDS int64 scratch words."""
    for i in range(rows.shape[0]):
        r = rows[i]
        out[r] = _run(prog, data, offset[r], caplen[r], wirelen[r], mem) != 0
