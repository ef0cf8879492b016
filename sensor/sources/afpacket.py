"""Live capture: an AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring.

The kernel fills blocks of the ring with frames and hands each block over as a whole
(`block_status` set to TP_STATUS_USER) when it is full or when its retire timer runs out.
We copy every ready block into one Batch buffer, give the blocks back at once
(TP_STATUS_KERNEL), walk each block's packet headers (the one sequential step, like the
pcap record walk: each header gives the offset of the next) and then read the header fields
of every frame with numpy gathers. No system call and no object per packet: one poll per
idle wait, one memcpy per block.

Frames stay where the kernel put them inside the copied block: `Batch.offset` points at each
frame's MAC header. The kernel hands the outer 802.1Q/802.1ad tag over as metadata
(tp_vlan_tci) and takes it off the frame; as libpcap does, we put it back (the decoders and
the line keys need it), moving the two MAC addresses 4 bytes into the gap before the frame
(PACKET_RESERVE keeps that gap at least RESERVE bytes wide).
"""
from __future__ import annotations

import errno
import mmap
import select
import socket
import struct
import sys
from dataclasses import dataclass

import numpy as np

from ybsensor.decoders.batch import PAD, Batch

from . import bpf
from .errors import CaptureError

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_RESERVE = 12
PACKET_FANOUT = 18
PACKET_MR_PROMISC = 1
TPACKET_V3 = 2
PACKET_FANOUT_HASH = 0
# the kernel makes IPv4 datagrams whole before hashing them to a worker: a fragment's hash
# has no ports (its flow dissector reads none past a fragment's IP header), so without it a
# datagram made whole from fragments would land on another worker than the rest of its flow
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
ETH_P_ALL = 0x0003

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6

# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1
BLOCK_STATUS, BLOCK_NUM_PKTS, BLOCK_FIRST, BLOCK_LEN = 8, 12, 16, 20
# struct tpacket3_hdr, as 32-bit words: next_offset, sec, nsec, snaplen, len, status,
# mac | net << 16, rxhash, vlan_tci, vlan_tpid | padding << 16
W_SEC, W_NSEC, W_SNAPLEN, W_LEN, W_STATUS, W_MACNET, W_TCI, W_TPID = 1, 2, 3, 4, 5, 6, 8, 9
TPACKET3_HDRLEN = 48 + 20   # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sockaddr_ll
RESERVE = 16                # room before each frame for a tag put back
VLAN_LEN = 4
BLOCK_ALIGN = 16            # block copies start on this boundary in the batch buffer
MAX_BATCH_BYTES = 32 << 20
POOL = 3                    # batch buffers kept for reuse (fresh pages cost a fault each)

_u32 = struct.Struct("=I").unpack_from
_put_u32 = struct.Struct("=I").pack_into


class FanoutError(CaptureError):
    """The PACKET_FANOUT group id is taken (by a group of other settings or device)."""


@dataclass
class RingOptions:
    block_size: int = 1 << 20     # bytes per block: a power of two, a multiple of the page size
    blocks: int = 64              # blocks in the ring
    block_timeout_ms: int = 50    # a block not yet full is handed over after this long
    frame_size: int = 2048        # only to satisfy the kernel's frame accounting (V3 packs frames)
    promisc: bool = True          # a span port sees frames for other hosts

    def check(self) -> None:
        page = mmap.PAGESIZE
        if self.block_size < page or self.block_size & (self.block_size - 1):
            raise CaptureError(f"ring block size {self.block_size} must be a power of two of at "
                               f"least the page size ({page})")
        if self.blocks < 2:
            raise CaptureError("the ring needs at least 2 blocks")
        if not 0 < self.block_timeout_ms < 60_000:
            raise CaptureError("the block timeout must be between 1 and 59999 ms")


class Ring:
    """One AF_PACKET socket and its TPACKET_V3 ring on one interface."""

    def __init__(self, ifname: str, linktype: int = 1, options: RingOptions | None = None,
                 program: bpf.Program | None = None, fanout_group: int | None = None,
                 source: str | None = None):
        self.ifname = ifname
        self.linktype = linktype
        self.opt = options or RingOptions()
        self.opt.check()
        self.source = source or ifname
        self.frames = 0            # frames taken from the ring so far (frame numbers)
        self.kernel_packets = 0    # PACKET_STATISTICS, accumulated (reading resets them)
        self.kernel_drops = 0
        self.freezes = 0
        self.current = 0           # the next block to look at
        self._pool: list[np.ndarray] = []   # buffers of earlier batches, reused when free
        self.error = 0             # the last socket error (errno), e.g. ENETDOWN
        self.size = self.opt.block_size * self.opt.blocks
        self.sock = self.mm = None
        try:
            self._open(program, fanout_group)
        except CaptureError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise CaptureError(f"{ifname}: capture needs CAP_NET_RAW (run as root or give "
                                   f"the program the capability): {exc.strerror}") from exc
            if exc.errno == errno.ENODEV:
                raise CaptureError(f"{ifname}: no such interface") from exc
            raise CaptureError(f"{ifname}: cannot set up the capture ring: {exc.strerror or exc}") from exc

    def _open(self, program, fanout_group) -> None:
        # protocol 0: nothing is received until bind, so no frame passes unfiltered
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s = self.sock
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        s.setsockopt(SOL_PACKET, PACKET_RESERVE, RESERVE)
        if program:
            bpf.attach(s, program)
        o = self.opt
        req = struct.pack("7I", o.block_size, o.blocks, o.frame_size,
                          (o.block_size // o.frame_size) * o.blocks, o.block_timeout_ms, 0, 0)
        s.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self.mm = mmap.mmap(s.fileno(), self.size, mmap.MAP_SHARED,
                            mmap.PROT_READ | mmap.PROT_WRITE)
        s.bind((self.ifname, ETH_P_ALL))
        ifindex = socket.if_nametoindex(self.ifname)
        if o.promisc:
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                         struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b""))
        if fanout_group is not None:
            try:
                # an unsigned word: the flag is its top bit
                s.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack(
                    "I", (fanout_group & 0xFFFF)
                    | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16)))
            except OSError as exc:
                raise FanoutError(f"{self.ifname}: cannot join fanout group {fanout_group}: "
                                  f"{exc.strerror}") from exc
        self.stats()  # start the kernel's counters from now

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- the kernel's counters -------------------------------------------------------

    def stats(self) -> tuple[int, int, int]:
        """(frames the kernel saw, frames it dropped, times the ring froze), since the ring
        was opened. struct tpacket_stats_v3; the kernel resets it on each read."""
        if self.sock is not None and self.sock.fileno() >= 0:
            packets, drops, freezes = struct.unpack(
                "3I", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
            self.kernel_packets += packets   # tp_packets already counts the drops
            self.kernel_drops += drops
            self.freezes += freezes
        return self.kernel_packets, self.kernel_drops, self.freezes

    # -- blocks ----------------------------------------------------------------------

    def ready(self) -> bool:
        """The next block is ours to read (no system call)."""
        return bool(_u32(self.mm, self.current * self.opt.block_size + BLOCK_STATUS)[0]
                    & TP_STATUS_USER)

    def wait(self, timeout_s: float, extra=()) -> list[int]:
        """Poll the socket (and the file descriptors in `extra`) until one is readable;
        the readable ones. Returns at once if a block is ready."""
        if self.ready():
            return [self.fileno()]
        poller = select.poll()
        for fd in (self.fileno(), *extra):
            poller.register(fd, select.POLLIN | select.POLLERR)
        events = poller.poll(int(timeout_s * 1000))
        for fd, ev in events:
            if fd == self.fileno() and ev & select.POLLERR:
                # the interface went down (ENETDOWN) or away: read the error to clear it,
                # or poll would report it again at once
                self.error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return [fd for fd, _ in events]

    def take(self, max_frames: int = 65536) -> Batch | None:
        """Every ready block (up to about `max_frames` frames) as one Batch, the blocks given
        back to the kernel; None if no block is ready."""
        bs, n_blocks, mm = self.opt.block_size, self.opt.blocks, self.mm
        blocks, lens, frames, total = [], [], 0, 0
        idx = self.current
        while len(blocks) < n_blocks and frames < max_frames and total < MAX_BATCH_BYTES:
            base = idx * bs
            if not _u32(mm, base + BLOCK_STATUS)[0] & TP_STATUS_USER:
                break
            blen = min(_u32(mm, base + BLOCK_LEN)[0], bs)
            blocks.append(idx)
            lens.append(blen)
            frames += _u32(mm, base + BLOCK_NUM_PKTS)[0]
            total += (blen + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1)
            idx = (idx + 1) % n_blocks
        if not blocks:
            return None
        data = self._buffer(total + PAD)
        data[total:] = 0
        whole = np.frombuffer(mm, dtype=np.uint8)
        heads: list[int] = []
        append = heads.append
        view = memoryview(data)
        at = 0
        for idx, blen in zip(blocks, lens):
            base = idx * bs
            data[at: at + blen] = whole[base: base + blen]       # one memcpy per block
            _put_u32(mm, base + BLOCK_STATUS, TP_STATUS_KERNEL)   # the block goes back
            # the packet-header walk: tp_next_offset chains the headers
            count = _u32(view, at + BLOCK_NUM_PKTS)[0]
            off = at + _u32(view, at + BLOCK_FIRST)[0]
            end = at + blen
            for _ in range(count):
                if off + TPACKET3_HDRLEN > end:
                    break
                append(off)
                nxt = _u32(view, off)[0]
                if nxt == 0:
                    break
                off += nxt
            at += (blen + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1)
        view.release()
        del whole
        self.current = (blocks[-1] + 1) % n_blocks
        return self._batch(data, np.array(heads, dtype=np.int64))

    def _buffer(self, size: int) -> np.ndarray:
        """A buffer of `size` bytes: one of an earlier batch that nothing uses any more (no
        view of it is alive), else a new one. Writing into fresh memory costs a page fault
        per page, as much as the whole copy; a reused buffer costs none."""
        for buf in self._pool:
            # references: the pool's list, this loop's name, getrefcount's argument
            if len(buf) >= size and sys.getrefcount(buf) <= 3:
                return buf[:size]
        buf = np.empty(max(size, 1 << 20), dtype=np.uint8)
        if len(self._pool) < POOL:
            self._pool.append(buf)
        else:  # replace the smallest free one, if any is free
            free = [i for i, b in enumerate(self._pool) if sys.getrefcount(b) <= 3]
            if free:
                self._pool[min(free, key=lambda i: len(self._pool[i]))] = buf
        return buf[:size]

    def _batch(self, data: np.ndarray, heads: np.ndarray) -> Batch:
        words = data[: len(data) // 4 * 4].view(np.uint32)
        w = heads // 4
        status = words[w + W_STATUS]
        macnet = words[w + W_MACNET]
        offset = heads + (macnet & 0xFFFF).astype(np.int64)
        caplen = words[w + W_SNAPLEN].astype(np.int64)
        wirelen = words[w + W_LEN].astype(np.int64)
        ts_ns = words[w + W_SEC].astype(np.int64) * 1_000_000_000 + words[w + W_NSEC]
        # the outer VLAN tag back in place: MACs 4 bytes earlier, then TPID and TCI
        tagged = ((status & TP_STATUS_VLAN_VALID) != 0) & (caplen >= 12) & \
                 (offset - heads >= TPACKET3_HDRLEN + VLAN_LEN)
        if tagged.any():
            rows = np.flatnonzero(tagged)
            at = offset[rows]
            macs = at[:, None] + np.arange(12)
            data[macs - VLAN_LEN] = data[macs]
            tpid = np.where(status[rows] & TP_STATUS_VLAN_TPID_VALID,
                            words[w[rows] + W_TPID] & 0xFFFF, 0x8100).astype(np.uint16)
            tci = (words[w[rows] + W_TCI] & 0xFFFF).astype(np.uint16)
            data[at + 8] = tpid >> 8
            data[at + 9] = tpid & 0xFF
            data[at + 10] = tci >> 8
            data[at + 11] = tci & 0xFF
            offset[rows] -= VLAN_LEN
            caplen[rows] += VLAN_LEN
            wirelen[rows] += VLAN_LEN
        n = len(heads)
        batch = Batch(data=data, offset=offset, caplen=caplen, wirelen=wirelen, ts_ns=ts_ns,
                      linktype=np.full(n, self.linktype, dtype=np.uint16),
                      iface=np.zeros(n, dtype=np.uint16), first_frame=self.frames + 1,
                      interfaces=[self.ifname], source=self.source)
        self.frames += n
        return batch

    def close(self) -> None:
        if self.mm is not None:
            try:
                self.mm.close()
            except BufferError:  # a view of the ring is still alive somewhere
                pass
            self.mm = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
