"""The payload engine's bytewise loops, compiled with numba; called through
`compiled.call` (detectors/compiled.py)."""
from __future__ import annotations

import numpy as np

from ybsensor.core.loops import copy_bytes, jit, prefetch

from .names import (CLIENT_HELLO, DNS_MIN, DNS_PORT, DNS_TCP_MIN, HELLO_MIN, HTTP_MIN, MAX_LABEL,
                    SOCKS4, SOCKS4_MAX, SOCKS5, SOCKS_CONNECT,
                    QR_OPCODE, TLS_HANDSHAKE)
from .quic import MIN_DATAGRAM, V1, V2
from .remote_control import DNS, PORT, REPEATING, SIGNATURE, SNI, TCP, UDP
from .stream_walk import digit_quad, edges, stream_positions, stream_regions, stream_rows  # noqa: F401

AHEAD = 16    # rows ahead whose bytes are asked for (llvm.prefetch): the loops below read a
              # batch's buffer and table (tens of MB) out of order; it overlaps the misses


@jit(inline="always")
def _is_digit(c) -> bool:
    return 48 <= c <= 57


@jit(inline="always")
def _joins(data, s, lo, hi, classes) -> bool:
    """Whether data[s] is a separator between two groups of three digits at least (how a
    card, an ID or a mobile number is written to be read: `138 0013 8000`; `classes`:
    matcher.RUN_CLASSES, bit 5 a group separator)."""
    if not classes[data[s]] & 32 or s - 3 < lo or s + 3 >= hi:
        return False
    for k in range(1, 4):
        if not (_is_digit(data[s - k]) and _is_digit(data[s + k])):
            return False
    return True


@jit(inline="always")
def _digit_window(data, p, lo, hi, min_run, classes) -> tuple:
    """The window of the digit run through sample p (its groups joined), or (0, 0)."""
    if not (_is_digit(data[p]) or _joins(data, p, lo, hi, classes)):
        return 0, 0
    w = 2 * min_run           # a window holds min_run digits and their groups' separators
    h = min_run // 2
    # a run of min_run bytes through p holds p - h or p + h
    # (bit 4 of `classes`: a digit or a group separator)
    if not ((p - h >= lo and classes[data[p - h]] & 16) or (p + h < hi and classes[data[p + h]] & 16)):
        return 0, 0
    window = max(p - w, lo)
    a = p
    seps = 0
    while a > window:
        if _is_digit(data[a - 1]):
            a -= 1
        elif _joins(data, a - 1, lo, hi, classes):
            a -= 1
            seps += 1
        else:
            break
    limit = min(window + 2 * w + 1, hi)
    b = p + 1
    if not _is_digit(data[p]):
        seps += 1
    while b < limit:
        if _is_digit(data[b]):
            b += 1
        elif _joins(data, b, lo, hi, classes):
            b += 1
            seps += 1
        else:
            break
    if b - a - seps >= min_run:
        return a, b
    return 0, 0


@jit(inline="always")
def _quad_window(data, p, lo, hi, quads, bits, classes) -> tuple:
    """The window of the chain of base64 quads of digits through sample p, or (0, 0):
    `bits`, of the sample's byte, bit j set where it may stand j-th in such a quad. Each
    alignment is tried: a quad of digits may also be read one or two characters off."""
    for j in range(4):
        s = p - j
        if not (bits >> j) & 1 or s < lo or s + 4 > hi or not digit_quad(data, s, classes):
            continue
        a = s
        while a - 4 >= lo and s - a < 64 * quads and digit_quad(data, a - 4, classes):
            a -= 4
        b = s + 4
        while b + 4 <= hi and b - a < 64 * quads and digit_quad(data, b, classes):
            b += 4
        if b - a >= 4 * quads:
            return a, b
    return 0, 0


@jit
def number_runs(data, lo, hi, min_run, quads, classes, out_start, out_end, out_kind):
    """matcher.number_run_hits, one pass over the samples lo, lo + step, ... below hi (step:
    min_run, at most 4 quads - 1, so that a run of min_run digits and a chain of `quads`
    quads each cover one): at each, the digit run through it (kind 0; its groups joined,
    min_run counting its digits, its window cut to 2 min_run either side and to lo, hi)
    and the chain of base64 quads of digits (kind 1; `quads` at least, cut to 64 quads
    either side). `classes`, for each byte: bits 0-3 where it may stand in such a quad,
    bit 4 a digit or a group separator (one look-up skips most samples). Writes each
    window's (start, end, kind), returns their count."""
    n = 0
    for p in range(lo, hi, min(min_run, 4 * quads - 1)):
        cls = classes[data[p]]
        if cls == 0:
            continue
        if cls & 16:
            a, b = _digit_window(data, p, lo, hi, min_run, classes)
            if b > a:
                out_start[n], out_end[n], out_kind[n] = a, b, 0
                n += 1
        if cls & 15:
            a, b = _quad_window(data, p, lo, hi, quads, cls & 15, classes)
            if b > a:
                out_start[n], out_end[n], out_kind[n] = a, b, 1
                n += 1
    return n


@jit
def gather_pieces(data, off, length, a, b, out):
    """matcher._gather: pieces a .. b-1 of data one after another into out; their bytes."""
    m = 0
    for k in range(a, b):
        if k + AHEAD < b:
            prefetch(data, off[k + AHEAD])
        copy_bytes(out, m, data, off[k], length[k])
        m += length[k]
    return m


# --- payload classes (payload_class.PayloadClasses.classify) ----------------------------

@jit(inline="always")
def _head_byte(heads, r, plen, j):
    return np.int64(heads[r, j]) if j < plen else np.int64(0)


@jit(inline="always")
def _recognise(heads, r, plen, proto, sport, dport, code, proto_no, max_record, ssh,
               quic_versions, wg_len):
    """The class the payload of row r shows by its own first bytes heads[r] (zero past
    plen), 0 for none (plaintext is never shown), as payload_class's table says; code: the
    class codes (TLS, TLCP, SSH, IPSEC, WIREGUARD, DTLS, QUIC)."""
    b0 = _head_byte(heads, r, plen, 0)
    b1 = _head_byte(heads, r, plen, 1)
    b2 = _head_byte(heads, r, plen, 2)
    b3 = _head_byte(heads, r, plen, 3)
    b4 = _head_byte(heads, r, plen, 4)
    out = 0
    if proto == proto_no[0]:                    # TCP
        reclen = (b3 << 8) | b4
        record = plen >= 5 and reclen > 0 and reclen <= max_record and b0 >= 20
        if record and b0 <= 24 and b1 == 3 and b2 <= 4:
            out = code[0]
        if record and b0 <= 23 and b1 == 1 and b2 == 1:
            out = code[1]
        if plen >= 4 and (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) == ssh:
            out = code[2]
    elif proto == proto_no[1]:                  # UDP
        if plen >= 13 and 20 <= b0 <= 25 and b1 == 0xFE and (b2 == 0xFF or b2 == 0xFD or b2 == 0xFC):
            out = code[5]
        if plen >= 7 and (b0 & 0xC0) == 0xC0:
            version = (b1 << 24) | (b2 << 16) | (b3 << 8) | b4
            known = (version >> 8) == 0xFF0000
            for v in quic_versions:
                known = known or version == v
            if known:
                out = code[6]
        if 1 <= b0 <= 4 and b1 == 0 and b2 == 0 and b3 == 0:
            if plen == wg_len[b0] or (b0 == 4 and plen >= 32 and plen % 16 == 0):
                out = code[4]
        if sport == 500 or sport == 4500 or dport == 500 or dport == 4500:
            out = code[3]
    if proto == proto_no[2]:                    # ESP
        out = code[3]
    return out


@jit
def classify(rows, order, heads, payload_len, proto, sport, dport, flow, keys, st_key,
             st_last, code, proto_no, max_record, ssh, quic_versions, wg_len, plaintext, mark,
             run_row, run_class, cls, flows, octets):
    """PayloadClasses.classify for the payload rows `rows`: each one's class into cls (a
    row's own header, else the last one its flow showed before it, in this batch or
    before; plaintext where none), each flow's last shown class into st_key / st_last, the
    flows new to their slot counted by first class into `flows`, payload bytes by class
    into `octets`. Scratch: mark (zeros, one a table row), run_row and run_class (one a
    row of `rows`). `heads`: every row's first payload bytes (content.every_head: most
    kept by the decode kernel, so the payloads themselves are not read again). Returns the
    count of tracked flows."""
    n = len(rows)
    for k in range(n):
        r = rows[k]
        cls[r] = _recognise(heads, r, payload_len[r], proto[r], sport[r], dport[r], code,
                            proto_no, max_record, ssh, quic_versions, wg_len)
        mark[r] = 1
    # the tracked rows flow by flow as `order` lists them, the state read as the previous
    # batch left it; written once every flow is done
    m = len(order)
    n_runs = 0
    i = 0
    while i < m:
        r = order[i]
        if mark[r] == 0 or flow[r] < 0:
            i += 1
            continue
        f = flow[r]
        run_row[n_runs] = r
        last_shown = 0                  # the last class shown in this run so far
        j = i
        while j < m:
            r = order[j]
            if mark[r] != 0 and flow[r] >= 0:
                if flow[r] != f:
                    break
                known = st_key[f] == keys[r]
                before = st_last[f] if known else 0
                own = cls[r]
                if own > 0:
                    last_shown = own
                filled = last_shown if last_shown > 0 else before
                if r == run_row[n_runs] and not known:
                    flows[filled if filled > 0 else plaintext] += 1
                cls[r] = filled
                run_class[n_runs] = filled
            j += 1
        n_runs += 1
        i = j
    for k in range(n_runs):
        r = run_row[k]
        st_key[flow[r]] = keys[r]
        st_last[flow[r]] = run_class[k]
    for r in rows:
        if cls[r] == 0:
            cls[r] = plaintext
        octets[cls[r]] += payload_len[r]
    return n_runs


# --- region boundaries (streams.Engine._edges) ---------------------------------------------

# --- payload heads (content.head) -------------------------------------------------------

HEADS_AHEAD = 32          # a row is a few ns of work here: prefetch further ahead


@jit
def gather_heads(buf, off, length, rows, out):
    """out[r] = the first out.shape[1] bytes at off[rows[r]], of which only length[rows[r]]
    are the row's (the rest read as zero): the payload heads the content pre-filters test,
    with the frames' lines prefetched (see kernel.PREFETCH_AHEAD). Returns the rows."""
    width = out.shape[1]
    size = buf.shape[0]
    nrows = rows.shape[0]
    for r in range(nrows):
        if r + HEADS_AHEAD < nrows:
            prefetch(buf, off[rows[r + HEADS_AHEAD]])
        g = rows[r]
        at = off[g]
        take = min(max(length[g], 0), width, max(size - at, 0))
        for j in range(take):
            out[r, j] = buf[at + j]
        for j in range(take, width):
            out[r, j] = 0
    return nrows


# --- names and signatures in payload heads (names.looks_like_*, remote_control.py) -------

@jit(inline="always")
def _dns_query(heads, r, plen, sport, dport, at):
    """names.looks_like_dns_query for row r's head, the message `at` bytes in (2 over TCP:
    its length prefix; its first segment may end after the first label's length)."""
    need = DNS_MIN if at == 0 else DNS_TCP_MIN
    return dport == DNS_PORT and sport > 0 and plen - at >= need and \
        (heads[r, at + 2] & QR_OPCODE) == 0 and (heads[r, at + 4] | heads[r, at + 5]) != 0 and \
        (heads[r, at + 6] | heads[r, at + 7]) == 0 and 1 <= heads[r, at + 12] <= MAX_LABEL


@jit(inline="always")
def _client_hello(heads, r, plen):
    """names.looks_like_client_hello for row r's head."""
    return plen >= HELLO_MIN and heads[r, 0] == TLS_HANDSHAKE and heads[r, 5] == CLIENT_HELLO \
        and ((heads[r, 1] == 3 and heads[r, 2] <= 4) or (heads[r, 1] == 1 and heads[r, 2] == 1))


@jit(inline="always")
def _quic_initial(heads, r, plen):
    """quic.is_client_initial for row r's head, in a datagram padded as a client's is."""
    if plen < MIN_DATAGRAM or (heads[r, 0] & 0xC0) != 0xC0:
        return False
    version = (np.int64(heads[r, 1]) << 24) | (np.int64(heads[r, 2]) << 16) | \
        (np.int64(heads[r, 3]) << 8) | np.int64(heads[r, 4])
    kind = (heads[r, 0] >> 4) & 0x03
    return (version == V1 and kind == 0) or (version == V2 and kind == 1)


@jit(inline="always")
def _socks_request(heads, r, plen):
    """names.socks_target's requests by row r's head: a SOCKS5 CONNECT as long as its
    address type says (an IPv4 or IPv6 address, or a name of the length its byte gives),
    or a SOCKS4 CONNECT of at most SOCKS4_MAX bytes."""
    if heads[r, 1] != SOCKS_CONNECT:
        return False
    if heads[r, 0] == SOCKS5 and heads[r, 2] == 0:
        kind = heads[r, 3]
        return (kind == 1 and plen == 10) or (kind == 4 and plen == 22) or \
            (kind == 3 and heads[r, 4] > 0 and plen == 7 + np.int64(heads[r, 4]))
    return heads[r, 0] == SOCKS4 and 9 <= plen <= SOCKS4_MAX


@jit(inline="always")
def _opens_with(heads, r, token, size):
    for j in range(size):
        if heads[r, j] != token[j]:
            return False
    return True


@jit
def remote_marks(has_ip, proto, sport, dport, payload_len, heads, port_tool, sig_start,
                 sig_value, sig_mask, sig_proto, sig_min, sig_max, sig_tool, sig_on_ports,
                 sig_elsewhere, no_tool, out_rows, out_tool, out_strength, out_ask):
    """RemoteControl.marks for the rows of user traffic over TCP or UDP, from the
    catalogue's tables (remote_control.Tables): the tool of either port, the first
    signature that matches (those of the row's first byte, in catalogue order; one of its
    ports' own off them only as REPEATING, where nothing else marks the row), and the
    name a row asks for (DNS: a DNS query, SNI: a TLS ClientHello, over TCP or in a QUIC
    Initial; 0: none). Only the rows
    with a tool or a question go out (out_*, in row order); returns their count."""
    n = 0
    width = sig_value.shape[1]
    for r in range(proto.shape[0]):
        pr = proto[r]
        tcp = pr == TCP
        if not has_ip[r] or not (tcp or pr == UDP):
            continue
        sp, dp, plen = sport[r], dport[r], payload_len[r]
        side = 0 if tcp else 1
        at_s, at_d = port_tool[side, sp + 1], port_tool[side, dp + 1]
        tool, strength = min(at_s, at_d), PORT
        if tool == no_tool:
            tool, strength = 0, 0
        b0 = heads[r, 0]
        elsewhere = -1
        for k in range(sig_start[b0], sig_start[b0 + 1]):
            if (sig_proto[k] != 0 and sig_proto[k] != pr) or plen < sig_min[k] or \
                    plen > sig_max[k]:
                continue
            off = sig_on_ports[k] and at_s != sig_tool[k] and at_d != sig_tool[k]
            if off and (not sig_elsewhere[k] or elsewhere >= 0):
                continue
            same = True
            for j in range(1, width):
                if (heads[r, j] & sig_mask[k, j]) != sig_value[k, j]:
                    same = False
                    break
            if same and off:
                elsewhere = k
            elif same:
                tool, strength = sig_tool[k], SIGNATURE
                break
        if elsewhere >= 0 and strength == 0:
            tool, strength = sig_tool[elsewhere], REPEATING
        ask = 0
        if tcp:
            if _client_hello(heads, r, plen):
                ask = SNI
            elif _dns_query(heads, r, plen, sp, dp, 2):
                ask = DNS
        elif _dns_query(heads, r, plen, sp, dp, 0):
            ask = DNS
        elif _quic_initial(heads, r, plen):
            ask = SNI
        if tool > 0 or ask:
            out_rows[n], out_tool[n], out_strength[n], out_ask[n] = r, tool, strength, ask
            n += 1
    return n


@jit
def name_askers(has_ip, src_zone, dst_zone, private, proto, sport, dport, payload_len, heads,
                methods, method_len, out_rows, out_ask):
    """InternetBound.askers: the rows of user traffic with both ends inside the private
    network (zone bit `private`) whose head looks like a DNS query (UDP; 1), a TLS
    ClientHello (TCP; 2), an HTTP request (TCP; 3: one of `methods`, each method_len
    bytes long with its space), a DNS query over TCP (4), a QUIC client's Initial (UDP;
    5) or a SOCKS CONNECT request (TCP; 6); `private` 0: the rows of any ends. Into out_*,
    in row order; returns the count."""
    n = 0
    for r in range(proto.shape[0]):
        pr = proto[r]
        plen = payload_len[r]
        if not has_ip[r] or plen <= 0 or (private and ((src_zone[r] & private) == 0 or
                                                       (dst_zone[r] & private) == 0)):
            continue
        ask = 0
        if pr == UDP:
            if _dns_query(heads, r, plen, sport[r], dport[r], 0):
                ask = 1
            elif _quic_initial(heads, r, plen):
                ask = 5
        elif pr == TCP:
            if _client_hello(heads, r, plen):
                ask = 2
            elif _dns_query(heads, r, plen, sport[r], dport[r], 2):
                ask = 4
            elif _socks_request(heads, r, plen):
                ask = 6
            elif plen >= HTTP_MIN:
                for m in range(methods.shape[0]):
                    if _opens_with(heads, r, methods[m], method_len[m]):
                        ask = 3
                        break
        if ask:
            out_rows[n], out_ask[n] = r, ask
            n += 1
    return n
