"""The address plan: which institution an address belongs to, and whether it is inside
the private network or on the insurance platform — for a whole column of addresses at once.

Prefixes (private, platform, every allocation) are flattened once, at load, into disjoint
intervals of the 128-bit space (IPv4 as IPv4-mapped IPv6, as in the PacketTable), each
carrying the most specific owner: longest prefix wins. A lookup is one `searchsorted`
over the interval starts: IPv4 on uint32 keys, IPv6 on 16-byte keys.

Addresses that never leave their link (LINK_SCOPE, and the directed broadcast of each IPv4
institution range) are neither inside nor outside the plan: no owner, no zone bit — unless
the configuration names them itself.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from ybsensor.decoders.keys import LINE_IF
from ybsensor.decoders.protocol import line_named

from typing import TYPE_CHECKING

if TYPE_CHECKING:      # the application's configuration, read only for its fields
    from ybsensor.sensor.config import Config

MAPPED = 0xFFFF << 32  # ::ffff:0:0/96
TOP = 1 << 128         # one past the last address: the end of a prefix that reaches ffff:...:ffff
V4_SPLIT_16S = 4096    # /16s with a boundary inside that get a table of their /24s (1 KiB each)
NO_OWNER = -1


def _span(net) -> tuple[int, int, int]:
    """A network as an inclusive 128-bit interval and its prefix length in that space."""
    if net.version == 4:
        return MAPPED | int(net.network_address), MAPPED | int(net.broadcast_address), net.prefixlen + 96
    return int(net.network_address), int(net.broadcast_address), net.prefixlen


class IntervalMap:
    """Disjoint intervals of the 128-bit space; each carries one value per layer of
    prefixes (longest prefix wins within a layer), so one search answers every layer."""

    def __init__(self, layers: list[list[tuple[object, int]]], defaults: list[int]):
        spans_by_layer = [sorted((*_span(net), value) for net, value in prefixes)
                          for prefixes in layers]
        # elementary boundaries: every start and every end + 1, over all layers; TOP closes
        # the last interval and is never searched (no address lies there)
        points = sorted({p for spans in spans_by_layer for s, e, _, _ in spans for p in (s, e + 1)}
                        | {0, MAPPED, (MAPPED | 0xFFFFFFFF) + 1, TOP})
        index = {p: i for i, p in enumerate(points)}
        self.values = []
        for spans, default in zip(spans_by_layer, defaults):
            values = np.full(len(points), default, dtype=np.int64)
            depth = np.full(len(points), -1, dtype=np.int64)
            for start, end, plen, value in spans:  # load time only
                a, b = index[start], index[end + 1]
                deeper = depth[a:b] < plen
                values[a:b][deeper] = value
                depth[a:b][deeper] = plen
            self.values.append(values)
        # IPv4 lookups search uint32 keys over the intervals inside ::ffff:0:0/96
        lo, hi = index[MAPPED], index[(MAPPED | 0xFFFFFFFF) + 1]
        self.v4_first = lo
        self.v4_starts = np.array([p - MAPPED for p in points[lo:hi]], dtype=np.uint32)
        self.v6_starts = np.array([p.to_bytes(16, "big") for p in points[:-1]], dtype="S16")
        self.v4_by16, self.v4_by24 = self._v4_index(self.v4_starts)

    @staticmethod
    def _v4_index(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tables that answer most IPv4 searches with a look-up or two (a binary search over
        random addresses mispredicts a branch at every step): by16[a >> 16] is the interval
        (relative to v4_first) holding all of a's /16, or -1 - k where the /16 holds a
        boundary and by24[k, (a >> 8) & 255] answers for its /24s the same way (-1: a
        boundary inside the /24 too, search). At most V4_SPLIT_16S /16s get a row of their
        own; the others share the last row, all -1."""
        def whole(first: np.ndarray, size: int) -> np.ndarray:
            at = np.searchsorted(starts, first, side="right") - 1
            return np.where(at == np.searchsorted(starts, first + size - 1, side="right") - 1, at, -1)

        by16 = whole(np.arange(1 << 16, dtype=np.uint64) << np.uint64(16), 1 << 16)
        split = np.flatnonzero(by16 < 0)
        tabled = split[:V4_SPLIT_16S]
        by16[tabled] = -1 - np.arange(len(tabled))
        by16[split[V4_SPLIT_16S:]] = -1 - len(tabled)       # the last row: search them all
        blocks = (tabled.astype(np.uint64)[:, None] << np.uint64(16)) | \
            (np.arange(256, dtype=np.uint64) << np.uint64(8))
        by24 = np.full((len(tabled) + 1, 256), -1, dtype=np.int64)
        by24[:-1] = whole(blocks.ravel(), 1 << 8).reshape(len(tabled), 256)
        if len(tabled) and (by24[:-1] < 0).mean() > 0.5:
            # most /24s of the split /16s hold a boundary (allocations finer than /24): the
            # tables would only add two gathers before the search
            return None, None
        return by16, by24.astype(np.int32)

    def locate(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """The interval holding each address (an index into every layer's values)."""
        is_v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        # every address as if it were IPv4 (the tables are cheap), then the others searched
        out = self._locate_v4(lo & np.uint64(0xFFFFFFFF))
        if not is_v4.all():
            v6 = np.flatnonzero(~is_v4)
            key = np.empty((len(v6), 2), dtype=">u8")
            key[:, 0], key[:, 1] = hi[v6], lo[v6]
            out[v6] = np.searchsorted(self.v6_starts, key.view("S16")[:, 0], side="right") - 1
        return out

    def _locate_v4(self, addr: np.ndarray) -> np.ndarray:
        """locate for IPv4 addresses (the low 32 bits of uint64s): by the /16 and /24
        tables, searching only where a /24 holds a boundary (all of them, without tables)."""
        if self.v4_by16 is None:
            return np.searchsorted(self.v4_starts, addr.astype(np.uint32), side="right") - 1 \
                + self.v4_first
        at = self.v4_by16[addr >> np.uint64(16)]
        split = np.flatnonzero(at < 0)
        if split.size:
            fine = self.v4_by24[-1 - at[split], (addr[split] >> np.uint64(8)) & np.uint64(0xFF)]
            at[split] = fine
            search = split[fine < 0]
            if search.size:
                at[search] = np.searchsorted(self.v4_starts, addr[search], side="right") - 1
        return at + self.v4_first


# zone bits of an address. An address that never leaves its link has none: it is neither
# inside the private network nor outside it (LINK_SCOPE)
PRIVATE = 1    # inside `network.private`
PLATFORM = 2   # on the insurance platform (always PRIVATE too)
PUBLIC = 4     # outside `network.private`: the internet

# addresses that never leave their link (RFC 6890: not forwardable), whatever the plan
# around them says: unspecified and "this network" (RFC 1122), loopback (never even on a
# link: a martian on the wire), link-local, multicast, limited broadcast
LINK_SCOPE = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "fe80::/10", "ff00::/8")]


def configured(cfg: Config) -> set:
    """Every prefix the configuration names: network.private, network.platform and the
    institutions' ranges."""
    return set(cfg.private) | set(cfg.platform) | \
        {net for inst in cfg.institutions for net in inst.ranges}


def directed_broadcasts(cfg: Config) -> list[int]:
    """The directed broadcast address (the last one) of every IPv4 institution range of /30
    or wider, as IPv4-mapped integers; a /31 (RFC 3021) or /32 has none. Only the plan's
    own ranges: the subnets an institution cuts its allocation into are not known."""
    mine = configured(cfg)
    return sorted({MAPPED | int(net.broadcast_address) for inst in cfg.institutions
                   for net in inst.ranges if net.version == 4 and net.prefixlen <= 30
                   and ipaddress.ip_network(net.broadcast_address) not in mine})


class AddressPlan:
    def __init__(self, cfg: Config):
        self.institutions = cfg.institutions
        self.codes = [i.code for i in cfg.institutions]
        # a link-scope block the configuration names itself is the configuration's, and so
        # is a prefix it names inside one (longest prefix wins)
        mine = configured(cfg)
        local = [net for net in LINK_SCOPE if net not in mine]
        owners = [(net, k) for k, inst in enumerate(cfg.institutions) for net in inst.ranges] + \
                 [(net, NO_OWNER) for net in local]
        # platform inside private: the more specific prefix wins, so mark it both
        zones = [(net, PRIVATE) for net in cfg.private] + \
                [(net, PRIVATE | PLATFORM) for net in cfg.platform] + [(net, 0) for net in local]
        self.map = IntervalMap([owners, zones], defaults=[NO_OWNER, PUBLIC])
        # one interval past the map's: where a directed broadcast lands (no owner, no zone).
        # Each broadcast is the last address of the interval holding it, kept as a value of
        # that interval, not as an interval of its own: allocations of /24 and wider keep
        # the IPv4 /16 and /24 tables' single look-ups
        self.link_interval = len(self.map.values[0])
        self.owner_of, self.zone_of = (np.append(v, fill) for v, fill in
                                       zip(self.map.values, (NO_OWNER, 0)))
        self.broadcast_of = np.zeros(self.link_interval, dtype=np.uint64)  # 0: none
        found = directed_broadcasts(cfg)
        if found:
            lo = np.array(found, dtype=np.uint64)
            self.broadcast_of[self.map.locate(np.zeros_like(lo), lo)] = lo
        self.any_broadcast = bool(found)
        self.lines = LineOwners(cfg)

    def locate(self, hi, lo) -> np.ndarray:
        """Each address's interval: index `owner_of` and `zone_of` with it."""
        at = self.map.locate(hi, lo)
        if self.any_broadcast:
            hit = np.flatnonzero(self.broadcast_of[at] == lo)
            if hit.size:    # (an IPv6 address may end in the 0 that stands for "none")
                at[hit[hi[hit] == 0]] = self.link_interval
        return at

    def owner(self, hi, lo) -> np.ndarray:
        """Index of the institution that owns each address; -1 for none."""
        return self.owner_of[self.locate(hi, lo)]

    def zone(self, hi, lo) -> np.ndarray:
        return self.zone_of[self.locate(hi, lo)]

    def code(self, index: int) -> str | None:
        return self.codes[index] if index >= 0 else None


class LineOwners:
    """Which configured line each row's line matches (`kind:a/*` matches any second id;
    an exact key beats a wildcard), and so which institution owns it."""

    def __init__(self, cfg: Config):
        self.patterns: list[str] = []   # each configured line key, once
        self.pattern_owner: list[int] = []
        self.institutions = [(inst.code, inst.access) for inst in cfg.institutions]
        exact, wild, by_iface = {}, {}, {}
        for k, inst in enumerate(cfg.institutions):
            for text in inst.lines:
                if text in self.patterns:
                    continue
                p = len(self.patterns)
                self.patterns.append(text)
                self.pattern_owner.append(k)
                kind_name, _, ids = text.partition(":")
                kind = line_named(kind_name).id
                a, _, b = ids.replace("/", ".").partition(".")
                if kind_name == "if":
                    by_iface[ids] = p
                elif a == "*":
                    wild[(kind, ANY)] = p
                elif b == "*":
                    wild[(kind, int(a))] = p
                else:
                    exact[(kind, int(a), int(b or 0))] = p
        self.by_iface = by_iface
        self.exact = KeyTable({self.key(*k): v for k, v in exact.items()})
        self.wild = KeyTable({self.key(k[0], k[1], 0): v for k, v in wild.items()})
        self.owner_of = np.array(self.pattern_owner + [NO_OWNER], dtype=np.int64)  # [-1] -> none

    @staticmethod
    def key(kind, a, b):
        return (np.asarray(kind, dtype=np.int64) << 56) | \
            ((np.asarray(a, dtype=np.int64) & 0xFFFFFFFFFF) << 16) | (np.asarray(b, dtype=np.int64) & 0xFFFF)

    def match(self, kind, a, b, interfaces: list[str]) -> np.ndarray:
        """Index into `patterns` of each row's line; -1 where no configured line matches."""
        out = self.exact.find(self.key(kind, a, b))
        for first_id in (a, ANY) if len(self.wild) else ():  # then `kind:a/*`, then `kind:*`
            missing = out < 0
            if not missing.any():
                break
            ids = first_id[missing] if np.ndim(first_id) else first_id
            out[missing] = self.wild.find(self.key(kind[missing], ids, 0))
        on_if = kind == LINE_IF
        if on_if.any() and self.by_iface:
            by_index = np.array([self.by_iface.get(name, NO_OWNER) for name in interfaces] + [NO_OWNER])
            out[on_if] = by_index[np.minimum(a[on_if], len(interfaces))]
        return out

    def owner(self, kind, a, b, interfaces: list[str]) -> np.ndarray:
        """The owning institution of each row's line (-1 where the line is not configured)."""
        return self.owner_of[self.match(kind, a, b, interfaces)]


ANY = -1  # `kind:*`


class KeyTable:
    """Distinct int64 keys -> values (>= 0), looked up a column at a time. An open-addressing
    table at most a quarter full: each key lies at its home slot or a few after it, so a
    look-up reads `reach + 1` slots a key (a few gathers), where a binary search over random
    keys mispredicts a branch at every step."""

    GOLDEN = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, mapping: dict[int, int]):
        bits = max(4, (4 * len(mapping) - 1).bit_length())
        self.shift, self.mask = np.uint64(64 - bits), (1 << bits) - 1
        self.keys = np.zeros(1 << bits, dtype=np.int64)
        self.vals = np.full(1 << bits, NO_OWNER, dtype=np.int64)   # NO_OWNER: an empty slot
        self.reach = 0                     # how far past its home the farthest key lies
        homes = self._home(np.array(list(mapping), dtype=np.int64)).tolist()
        for (key, value), home in zip(mapping.items(), homes):  # load time only
            far = 0
            while self.vals[(home + far) & self.mask] >= 0:
                far += 1
            self.keys[(home + far) & self.mask], self.vals[(home + far) & self.mask] = key, value
            self.reach = max(self.reach, far)
        self.size = len(mapping)

    def __len__(self) -> int:
        return self.size

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * self.GOLDEN) >> self.shift).astype(np.int64)

    def find(self, want: np.ndarray) -> np.ndarray:
        """Each key's value; NO_OWNER where it is not in the table."""
        want = np.asarray(want, dtype=np.int64)
        out = np.full(want.shape, NO_OWNER, dtype=np.int64)
        if not self.size:
            return out
        home = self._home(want)
        for far in range(self.reach + 1):
            at = (home + far) & self.mask
            value = self.vals[at]
            out = np.where((self.keys[at] == want) & (value >= 0), value, out)
        return out
