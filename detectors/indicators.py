"""Indicator files (a threat-intelligence blocklist) and the sets they are matched against,
in the manner of Zeek's intel framework.

A file holds one indicator a line, `#` starting a comment. A `.csv` file's fields are
separated by commas (CSV quoting; a first line `indicator,severity,source` is a header),
any other file's by blanks:

    INDICATOR [SEVERITY [SOURCE]]

SEVERITY is low, medium, high or critical (default high); SOURCE names who listed it
(default: the file's name). The kind of an indicator is read from its form:

    203.0.113.7, 2001:db8::7         an address
    198.51.100.0/24, 2001:db8::/32   a network (CIDR)
    evil.example                     a domain: the name and every name under it
    http://evil.example/x?y          a URL: host and path, the scheme dropped
    evil.example/x                   a URL too (a domain and a path)

Two forms blocklists are published in are read as they are, each name a domain of the
default severity: a hosts file's line (`0.0.0.0 evil.example other.example # note`; the
sink address first, `0.0.0.0`, `127.0.0.1`, `::` or `::1`; its own names without a dot,
such as `localhost`, and `localhost.localdomain` are no indicators) and an Adblock-style
domain rule (`||evil.example^`).

Matching keeps to hash and sorted-array lookups, whatever the number of indicators: a
dict a kind of name (a domain is found by walking its name's suffixes, one lookup a label),
and for addresses and networks one sorted array of keys a prefix length, searched for a
whole column of addresses at once (the most specific prefix wins).
"""
from __future__ import annotations

import csv
import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ybsensor.decoders.layout import IPV4_MAPPED as _MAPPED

from . import names
from .base import SEVERITIES, SettingError

DOMAIN, URL, ADDRESS, NETWORK = "domain", "url", "address", "network"
DEFAULT_SEVERITY = "high"
NONE = -1
IPV4_MAPPED = int(_MAPPED)    # ::ffff:0:0/96, as the PacketTable holds IPv4
_MIX = np.uint64(0x9E3779B97F4A7C15)   # hi's multiplier in a prefix's search key
_ONES = (1 << 64) - 1


def _split(value: int, plen: int) -> tuple[int, int, int]:
    """A 128-bit network as (hi, lo) masked to its prefix length, and that length."""
    mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    value &= mask
    return value >> 64, value & _ONES, plen


def _mix(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    return (hi * _MIX) ^ lo


def url_key(host: str, path: str) -> str:
    """A URL as indicators and requests are compared: lowercase host, then the path (with
    its query) as written; no scheme, port or fragment."""
    return host + (path.partition("#")[0] or "/")


def _address(text: str) -> tuple[int, int] | None:
    """(128-bit value, bits) of an IPv4 dotted quad (IPv4-mapped) or an IPv6 literal."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big") | IPV4_MAPPED, 32
    except OSError:
        pass
    if ":" in text:
        try:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.strip("[]")), "big"), 128
        except OSError:
            pass
    return None


def parse_indicator(text: str) -> tuple[str, object] | None:
    """(kind, key) of an indicator's text, or None if it is none of the kinds: an address
    or network as (hi, lo, prefix length) in the 128-bit space, a domain or URL as text."""
    low = text.strip().lower()
    if "/" not in low:
        if low[:1].isdigit() or ":" in low:
            found = _address(low)
            if found is not None:
                return ADDRESS, _split(found[0], 128)
        host = names.clean_name(low)
        # a name, not a number: its last label holds a letter (an IPv4 literal would not)
        return (DOMAIN, host) if host and "." in host and not host.rpartition(".")[2].isdigit() else None
    scheme, sep, rest = low.partition("://")
    if not sep:
        head, _, bits = low.partition("/")
        found = _address(head) if bits.isdigit() else None
        if found is not None:       # a network: its host bits must be zero
            value, size = found
            plen = int(bits) + 128 - size
            if int(bits) > size or _split(value, plen)[:2] != (value >> 64, value & _ONES):
                return None
            return (ADDRESS if plen == 128 else NETWORK), _split(value, plen)
        text = text.strip()
    elif scheme in ("http", "https"):
        text = text.strip()[len(scheme) + 3:]
    else:
        return None
    head, _, tail = text.partition("/")
    host = head.rpartition("@")[2]
    if host.count(":") == 1:    # a port (an IPv6 literal holds more colons)
        host = host.partition(":")[0]
    host = names.clean_name(host)
    return (URL, url_key(host, "/" + tail)) if host else None


@dataclass
class IndicatorFile:
    path: Path
    source: str                     # its name, the metric's label
    count: int = 0
    stamp: tuple = ()               # (mtime_ns, size) when read


@dataclass
class Indicators:
    """Every indicator of a list of files. Ids index the columns `severity`, `source`
    (into `sources`) and `file`."""
    files: list[IndicatorFile] = field(default_factory=list)
    domains: dict[str, int] = field(default_factory=dict)
    urls: dict[str, int] = field(default_factory=dict)
    severity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    file: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    sources: list[str] = field(default_factory=list)
    # per prefix length, most specific first: (plen, mixed keys sorted, hi, lo, ids)
    prefixes: list[tuple] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.severity)

    # --- lookups -----------------------------------------------------------------------

    def domain(self, name: str | None) -> tuple[int, str]:
        """(id, the listed domain) for a name equal to or under a listed domain; (NONE, "")."""
        while name:
            found = self.domains.get(name)
            if found is not None:
                return found, name
            name = name.partition(".")[2]
        return NONE, ""

    def url(self, key: str) -> tuple[int, str]:
        """(id, the listed URL) for a URL (url_key form), or the same without its query;
        (NONE, "")."""
        for listed in (key, key.partition("?")[0]):
            found = self.urls.get(listed)
            if found is not None:
                return found, listed
        return NONE, ""

    def addresses(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Each address's id (the longest listed prefix holding it), NONE where none."""
        out = np.full(len(hi), NONE, dtype=np.int64)
        if not self.prefixes or not len(hi):
            return out
        hi, lo = hi.astype(np.uint64), lo.astype(np.uint64)
        for plen, keys, key_hi, key_lo, ids in self.prefixes:
            todo = np.flatnonzero(out == NONE)
            if not todo.size:
                break
            mhi, mlo = _split_masks(plen)
            h, l = hi[todo] & mhi, lo[todo] & mlo
            at = np.minimum(np.searchsorted(keys, _mix(h, l)), len(keys) - 1)
            hit = (key_hi[at] == h) & (key_lo[at] == l)
            out[todo[hit]] = ids[at[hit]]
        return out

    def address_of(self, ip) -> int:
        """addresses() for one ipaddress value."""
        value = int(ip) | (IPV4_MAPPED if ip.version == 4 else 0)
        return int(self.addresses(np.array([value >> 64], np.uint64),
                                  np.array([value & _ONES], np.uint64))[0])

    def network_text(self, ident: int) -> str:
        """The listed address or network an id stands for."""
        for plen, _, key_hi, key_lo, ids in self.prefixes:
            where = np.flatnonzero(ids == ident)
            if where.size:
                value = (int(key_hi[where[0]]) << 64) | int(key_lo[where[0]])
                if plen >= 96 and value >> 32 == IPV4_MAPPED >> 32:
                    net = ipaddress.ip_network((value & 0xFFFFFFFF, plen - 96))
                else:
                    net = ipaddress.ip_network((value, plen))
                return str(net.network_address) if net.num_addresses == 1 else str(net)
        return ""


def _split_masks(plen: int) -> tuple[np.uint64, np.uint64]:
    mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    return np.uint64(mask >> 64), np.uint64(mask & _ONES)


def file_stamp(path: Path) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_mtime_ns, st.st_size)


def _rows(path: Path, text: str):
    """(line number, fields) of each indicator line of a file."""
    lines = text.splitlines()
    if path.suffix.lower() == ".csv":
        reader = csv.reader(lines)
        try:
            for number, row in enumerate(reader, 1):
                if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                    continue
                if number == 1 and row[0].strip().lower() == "indicator":
                    continue
                yield number, [x.strip() for x in row]
        except csv.Error as exc:
            raise SettingError(f"not CSV: {exc}", file=str(path), line=reader.line_num) from None
    else:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0][0] == "#":
                continue
            if fields[0] in HOSTS_SINKS and len(fields) > 1 and fields[1].lower() not in LEVELS:
                for name in fields[1:]:
                    if name[0] == "#":
                        break
                    if "." in name and name.lower() not in HOSTS_OWN:
                        yield number, [name]
            elif len(fields) == 1 and fields[0].startswith("||") and fields[0].endswith("^"):
                yield number, [fields[0][2:-1]]
            else:
                yield number, fields


# a hosts file's sink addresses (what a listed name is sent to) and its own names
HOSTS_SINKS = frozenset(("0.0.0.0", "127.0.0.1", "::", "::1"))
HOSTS_OWN = frozenset(("localhost.localdomain",))


LEVELS = {name: k for k, name in enumerate(SEVERITIES)}
# most lines of a blocklist: a lowercase domain whose last label holds a letter, taken as
# it is (what parse_indicator would make of it); anything else goes through parse_indicator
_PLAIN_DOMAIN = re.compile(r"(?=.{3,253}$)(?:[a-z0-9_-]{1,63}\.)+(?=[a-z0-9_-]{0,62}[a-z_-])"
                           r"[a-z0-9_-]{1,63}")


def load(paths: list[Path]) -> Indicators:
    """Every file's indicators; SettingError(file, line) for a file that cannot be read
    or a line that is no indicator."""
    out = Indicators()
    nets: dict[int, list] = {}
    severity, source = [], []
    source_ids: dict[str, int] = {}
    default_level = LEVELS[DEFAULT_SEVERITY]
    domains, urls = out.domains, out.urls
    for path in paths:
        entry = IndicatorFile(path, path.name)
        entry.stamp = file_stamp(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingError(f"cannot read the indicator file {path}: {exc}", "paths") from None
        first = len(severity)
        own_source = source_ids.setdefault(path.name, len(source_ids))
        for number, fields in _rows(path, text):
            word = fields[0].lower()
            found = (DOMAIN, word) if _PLAIN_DOMAIN.fullmatch(word) else parse_indicator(fields[0])
            if found is None or len(fields) > 3:
                why = (f"{len(fields)} fields, expected at most 3 (indicator, severity, source)"
                       if found else f"{fields[0]!r} is not an address, network, domain or URL")
                raise SettingError(why, file=str(path), line=number)
            level, who = default_level, own_source
            if len(fields) > 1:
                level = LEVELS.get(fields[1].lower(), default_level) if fields[1] else default_level
                if fields[1] and fields[1].lower() not in LEVELS:
                    raise SettingError(f"severity {fields[1]!r} is not one of "
                                       f"{', '.join(SEVERITIES)}", file=str(path), line=number)
                if len(fields) > 2 and fields[2]:
                    who = source_ids.setdefault(fields[2], len(source_ids))
            ident = len(severity)
            kind, key = found
            if kind is DOMAIN:
                domains.setdefault(key, ident)
            elif kind is URL:
                urls.setdefault(key, ident)
            else:
                nets.setdefault(key[2], []).append((key[0], key[1], ident))
            severity.append(level)
            source.append(who)
        entry.count = len(severity) - first
        out.files.append(entry)
    out.severity = np.array(severity, dtype=np.int8)
    out.source = np.array(source, dtype=np.int32)
    out.file = np.repeat(np.arange(len(paths), dtype=np.int16), [f.count for f in out.files])
    out.sources = list(source_ids)
    for plen in sorted(nets, reverse=True):
        hi, lo, ids = (np.array(col, dtype=dtype) for col, dtype in
                       zip(zip(*nets[plen]), (np.uint64, np.uint64, np.int64)))
        keys = _mix(hi, lo)
        order = np.argsort(keys, kind="stable")
        out.prefixes.append((plen, keys[order], hi[order], lo[order], ids[order]))
    return out


def resolve(paths, base: str | Path) -> list[Path]:
    """The configured paths (a list of strings) as files, relative ones from `base`."""
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise SettingError("must be a list of file names", "paths")
    return [Path(base) / p for p in paths]


_last: tuple[tuple, Indicators] | None = None   # the set the config check loaded, by stamps


def cached_load(paths: list[Path], keep: bool = True) -> Indicators:
    """load(), or the set loaded last if it came from the same files unchanged: the config
    check reads the files (`keep`: holds the set) and the detector takes that set (`keep`
    False: the module lets it go, so a later set does not sit beside it)."""
    global _last
    key = tuple((str(p), file_stamp(p)) for p in paths)
    if _last is not None and _last[0] == key and all(stamp for _, stamp in key):
        found = _last[1]
    else:
        found = load(paths)
    _last = (key, found) if keep else None
    return found
