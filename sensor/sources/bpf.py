"""Capture filters: a tcpdump expression compiled to classic BPF and attached to a socket,
or run over a file's frames (`FrameFilter`, libpcap's offline filter semantics).

Compiled by libpcap through ctypes (pcap_open_dead + pcap_compile) where libpcap is
installed, else by `tcpdump -ddd -y LINKTYPE EXPR` in a subprocess. Either way the program
is a list of (code, jt, jf, k) instructions, attached with SO_ATTACH_FILTER: the kernel then
drops what the filter refuses before it reaches the ring.

The filter sees frames as the kernel hands them to a packet socket: the outer 802.1Q tag
is already taken off into the frame's metadata (the ring puts it back for the decoders).
So a filter that names `vlan` does not match on a live interface; write filters on what is
inside the outer tag (`ip`, `udp port 1701`, ...).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import socket
import struct
import subprocess

import numpy as np

from .errors import CaptureError

SO_ATTACH_FILTER = 26
BPF_MAXINSNS = 4096
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
SNAPLEN = 262144
# our link type (LINKTYPE_*) -> libpcap's DLT value and name (tcpdump -y NAME)
DLT = {0: (0, "NULL"), 1: (1, "EN10MB"), 9: (9, "PPP"), 50: (50, "PPP_HDLC"), 101: (12, "RAW"),
       108: (108, "LOOP"), 113: (113, "LINUX_SLL"), 228: (228, "IPV4"), 229: (229, "IPV6"),
       276: (276, "LINUX_SLL2")}

Program = list[tuple[int, int, int, int]]


class BpfError(CaptureError):
    """A filter expression that does not compile (the CLI says why and exits 2)."""


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


def compile_filter(expr: str, linktype: int = 1, using: str | None = None) -> Program:
    """The BPF program of a tcpdump expression for frames of `linktype`.
    `using` forces "libpcap" or "tcpdump" (tests); by default libpcap, else tcpdump."""
    expr = expr.strip()
    if linktype not in DLT:
        raise BpfError(f"cannot compile a capture filter for link type {linktype}")
    if using in (None, "libpcap"):
        lib = _libpcap()
        if lib is not None:
            return _with_libpcap(lib, expr, linktype)
        if using == "libpcap":
            raise BpfError("libpcap is not installed: cannot compile the capture filter")
    return _with_tcpdump(expr, linktype)


def _libpcap():
    name = ctypes.util.find_library("pcap")
    for candidate in ([name] if name else []) + ["libpcap.so.1", "libpcap.so.0.8"]:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program), ctypes.c_char_p,
                                     ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        return lib
    return None


def _with_libpcap(lib, expr: str, linktype: int) -> Program:
    handle = lib.pcap_open_dead(DLT[linktype][0], SNAPLEN)
    if not handle:
        raise BpfError("libpcap could not open a handle to compile the capture filter")
    prog = _Program()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            why = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
            raise BpfError(f"bad capture filter {expr!r}: {why}")
        try:
            out = [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf,
                    prog.bf_insns[i].k) for i in range(prog.bf_len)]
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)
    return _checked(out, expr)


def _with_tcpdump(expr: str, linktype: int) -> Program:
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise BpfError("neither libpcap nor tcpdump is installed: cannot compile the "
                       "capture filter")
    proc = subprocess.run([tcpdump, "-ddd", "-y", DLT[linktype][1], expr],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        why = proc.stderr.strip().removeprefix("tcpdump: ")
        raise BpfError(f"bad capture filter {expr!r}: {why}")
    return _checked(parse_ddd(proc.stdout), expr)


def parse_ddd(text: str) -> Program:
    """`tcpdump -ddd` output: the instruction count, then `code jt jf k` per line."""
    lines = text.split()
    if not lines:
        raise BpfError("tcpdump printed no filter program")
    count = int(lines[0])
    fields = list(map(int, lines[1:]))
    if len(fields) != 4 * count:
        raise BpfError(f"tcpdump printed {len(fields) // 4} instructions, announced {count}")
    return [tuple(fields[i:i + 4]) for i in range(0, len(fields), 4)]


def _checked(program: Program, expr: str) -> Program:
    if not 0 < len(program) <= BPF_MAXINSNS:
        raise BpfError(f"capture filter {expr!r} compiles to {len(program)} instructions "
                       f"(the kernel takes 1 to {BPF_MAXINSNS})")
    return program


def attach(sock: socket.socket, program: Program) -> None:
    """SO_ATTACH_FILTER: struct sock_fprog {unsigned short len; struct sock_filter *filter}."""
    insns = (_Insn * len(program))(*[_Insn(*ins) for ins in program])
    fprog = struct.pack("HL", len(program), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class FrameFilter:
    """A tcpdump expression run over captured frames, as `tcpdump -r FILE EXPR` does:
    compiled once per link type met, run by bpf_kernel over a batch at a time. It sees
    each frame whole as captured, so for tunnelled traffic it sees the outer headers
    (`udp port 1701` matches L2TP; `host A` matches the inner A only where the
    expression reaches inside, as with tcpdump)."""

    def __init__(self, expr: str):
        self.expr = expr.strip()
        self.programs: dict[int, np.ndarray] = {}
        self.program(1)  # a bad expression is said before any file is read

    def program(self, linktype: int) -> np.ndarray:
        prog = self.programs.get(linktype)
        if prog is None:
            prog = self.programs[linktype] = np.array(compile_filter(self.expr, linktype),
                                                      dtype=np.int64)
        return prog

    def __call__(self, batch) -> np.ndarray:
        """Whether each frame of `batch` passes."""
        from .bpf_kernel import MEMWORDS, matches

        out = np.zeros(len(batch), dtype=np.bool_)
        mem = np.zeros(MEMWORDS, dtype=np.int64)
        for linktype in np.unique(batch.linktype).tolist():
            rows = np.flatnonzero(batch.linktype == linktype)
            matches(self.program(linktype), batch.data, batch.offset, batch.caplen,
                    batch.wirelen, rows, out, mem)
        return out
