"""Hostile input against every decoder (DESIGN.md: status is a per-row code, never an
exception; a malformed frame costs one row, never the batch).

Property-based (hypothesis, profile "ci": 200 examples a property, derandomized) and bulk
(numpy-built batches of random, mutated, cut and spliced frames). For every frame: no
exception, no hang (each decode runs under a time bound in this process; the driver's
MAX_ROUNDS bounds the work), a known status, and the invariants of `fuzzing.check_invariants`
(payload inside the captured bytes, nlayers <= MAX_LAYERS, ports 0..65535 or -1, ...).
The stream parsers of detectors/normalise.py likewise: a valid HTTP message (chunked,
coded) or mail part decodes the same however it is cut; mutated or random, never an
exception. `make fuzz` runs the same properties with HYPOTHESIS_PROFILE=long, and
scripts/fuzz.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fuzzing as F
from ybsensor.decoders import Batch, decode, view
from ybsensor.decoders import driver
from ybsensor.decoders.dispatch import Dispatch, LAYERS, ROUTES, MISS_STATUS
from ybsensor.decoders.keys import DEPTH, ETHERTYPE, OK, STATUS_NAMES, TRUNCATED
from ybsensor.decoders.table import MAX_LAYERS


def check_view(t) -> None:
    """The object view (`ybsensor decode --format jsonl`) is built for every row."""
    for row in view.rows(t, F.NAMES):
        json.dumps(row)
        assert row["status"] == "ok" or row["status"].split(":")[0] in STATUS_NAMES


def decode_and_check(frames, options=None):
    batch, t = F.decode_frames(frames, options)
    check_view(t)
    return batch, t


# --- hypothesis properties ------------------------------------------------------------

@F.profile()
@given(st.lists(F.random_frames(), min_size=1, max_size=8))
def test_random_bytes_under_every_link_type(frames):
    decode_and_check(frames)


@F.profile()
@given(st.lists(F.mutated_frames(), min_size=1, max_size=6))
def test_valid_frames_with_header_bytes_mutated(frames):
    decode_and_check(frames)


@F.profile()
@given(F.field_mutated_frames())
def test_valid_frames_with_one_field_mutated(frame):
    decode_and_check([frame])


@F.profile()
@given(st.lists(F.spliced_frames(), min_size=1, max_size=6))
def test_valid_headers_then_random_bytes(frames):
    decode_and_check(frames)


@F.profile()
@given(F.nested(max_depth=40))
def test_nested_tunnels_to_the_limit_and_beyond(frame_and_nest):
    """Random tunnels around a known packet: within the limits the innermost packet is found
    exactly, past them the row ends with status depth."""
    frame, nest = frame_and_nest
    batch, t = decode_and_check([frame], F.NEST_OPTIONS)
    F.check_nested(t, 0, nest)


@F.profile(0.5)
@given(st.lists(F.hostile_frames(), min_size=2, max_size=12), st.randoms(use_true_random=False))
def test_a_hostile_frame_costs_its_own_row_only(frames, rnd):
    """Good and hostile frames in one batch: every row decodes as it does alone."""
    rnd.shuffle(frames)
    batch, t = decode_and_check(frames)
    F.check_rows_alone(batch, t, np.arange(len(frames)))


# --- exhaustive and deterministic ------------------------------------------------------

@pytest.mark.parametrize("tpl", F.templates(), ids=lambda t: t.name)
def test_every_truncation_of_every_encapsulation(tpl):
    """A valid frame cut at every offset: truncated (or ok where the cut leaves whole
    headers), never another status, and the layers found are a prefix of the whole frame's."""
    frames = [F.Frame(tpl.linktype, tpl.frame[:k], tpl.name) for k in range(len(tpl.frame) + 1)]
    batch, t = decode_and_check(frames)
    whole = F.chain(t, len(frames) - 1)
    whole_status = F.status(t, len(frames) - 1)
    for k in range(len(frames)):
        status = F.status(t, k)
        assert F.chain(t, k) == whole[: len(F.chain(t, k))], (k, F.chain(t, k), whole)
        if whole_status != "ok":           # ARP, LLC: what the whole frame says, or cut
            assert status in (whole_status,) or status.startswith("truncated:"), (k, status)
            continue
        assert status == "ok" or status.startswith("truncated:"), (k, status)
        icmp_rest = whole[-1] in ("icmp", "icmpv6") and k >= tpl.header_len - 4
        if k < tpl.header_len and not icmp_rest:
            assert status.startswith("truncated:"), (k, status)
    # and every row alone as in the batch
    F.check_rows_alone(batch, t, np.arange(len(frames)))


@pytest.mark.parametrize("name, frame", F.deep_frames().items(), ids=list(F.deep_frames()))
def test_deep_nests_end_in_depth_not_in_a_loop(name, frame):
    """GRE in GRE 30 deep, MPLS stacks of 50 labels, IPv6 extension chains of 40, 200 VLAN
    tags...: status depth (or ok within the limits), and a thousand of them take no longer
    than a thousand ordinary frames do, give or take."""
    batch, t = decode_and_check([frame])
    status = F.status(t, 0)
    assert status == "ok" or status.startswith("depth:"), status
    assert t.nlayers[0] <= MAX_LAYERS
    many = [frame] * 1000
    with F.time_bound(10, "1000 deep frames"):
        _, elapsed = F.timed(decode, F.make_batch(many))
    F.count("deep", len(many))
    assert elapsed < 5, elapsed


def test_limits_are_where_the_driver_says():
    deep = F.deep_frames()
    _, t = F.decode_frames(list(deep.values()))
    got = {name: F.status(t, i) for i, name in enumerate(deep)}
    assert got["mpls-16-labels"] == "ok" and got["mpls-17-labels"] == "depth:mpls"
    assert got["mpls-50-labels"] == "depth:mpls"
    assert got["ipv6-ext-21"] == "ok" and got["ipv6-ext-22"].startswith("depth:")
    assert got["vlan-13-tags"] == "ok" and got["vlan-14-tags"].startswith("depth:")
    for name in ("gre-in-gre-30", "ipv6-ext-40", "vlan-200-tags", "ipip-30",
                 "l2tp-in-l2tp-10", "vxlan-in-vxlan-10", "mix-40"):
        assert got[name].startswith("depth:"), (name, got[name])


def test_max_rounds_bounds_a_decoder_that_never_ends():
    """A (buggy) decoder that hands every row back to itself without moving: the driver
    stops after MAX_ROUNDS rounds with status depth, it does not loop."""
    calls = []

    def forever(f, rows):
        calls.append(len(rows))
        f.goto(rows, f.pos[rows], ETHERTYPE, 0x88B5)

    layers = dict(LAYERS, loop_forever=(forever, False))
    routes = ROUTES + [(ETHERTYPE, 0x88B5, "loop_forever")]
    dispatch = Dispatch(layers, routes, MISS_STATUS)
    frame = F.eth(0x88B5, b"\0" * 50)
    t = driver.run(Batch.from_frames([frame] * 3), dispatch)
    assert len(calls) == driver.MAX_ROUNDS - 1    # the first round is Ethernet's
    assert (t.status == DEPTH).all()
    assert (t.payload_len == 0).all()


# --- bulk, with numpy -------------------------------------------------------------------

BULK_ROWS = 50_000
SEEDS = (1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_bulk_random_bytes(seed):
    rng = np.random.default_rng(seed)
    batch = F.bulk_random(rng, BULK_ROWS)
    with F.time_bound(30, "bulk decode"):
        t = decode(batch)
    F.check_invariants(batch, t)
    F.count("bulk random", len(batch))
    F.check_rows_alone(batch, t, rng.choice(BULK_ROWS, 200, replace=False))


@pytest.mark.parametrize("seed", SEEDS)
def test_bulk_mutated_cut_and_spliced_frames(seed):
    rng = np.random.default_rng(seed)
    batch, which = F.bulk_mutated(rng, BULK_ROWS)
    with F.time_bound(30, "bulk decode"):
        t = decode(batch)
    F.check_invariants(batch, t)
    F.count("bulk mutated", len(batch))
    # hostile rows are not all rejected: many still decode, some fail in every way
    statuses = set(np.unique(t.status).tolist())
    assert {OK, TRUNCATED} <= statuses and len(statuses) >= 4, statuses
    F.check_rows_alone(batch, t, rng.choice(BULK_ROWS, 200, replace=False))


def test_good_rows_in_a_hostile_batch_decode_as_alone():
    """Every template, valid, between thousands of hostile rows: each decodes exactly as
    it does alone."""
    rng = np.random.default_rng(7)
    hostile, _ = F.bulk_mutated(rng, 5000)
    good = [F.Frame(t.linktype, t.frame, t.name) for t in F.templates()]
    pool = F.frames_of(hostile, np.arange(len(hostile))) + good
    order = rng.permutation(len(pool))
    mixed = [pool[p] for p in order]
    batch, t = F.decode_frames(mixed)
    alone_batch, alone = F.decode_frames(good)
    for i, p in enumerate(order.tolist()):
        if p >= len(hostile):
            k = p - len(hostile)
            assert F.row_view(batch, t, i) == F.row_view(alone_batch, alone, k), good[k]


# --- capture files: the readers in front of the decoders --------------------------------



@st.composite
def damaged_captures(draw) -> bytes:
    """A sample capture with a few bytes changed (file header, block or record headers
    are where they hurt) and perhaps cut short."""
    path = draw(st.sampled_from(sorted((F.REPO / "pcaps").glob("*.pcap*"))))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.one_of(st.integers(0, 40), st.integers(0, len(data) - 1)))
        width = draw(st.sampled_from([1, 2, 4]))
        value = draw(st.one_of(st.sampled_from(F.EDGE[width]),
                               st.integers(0, (1 << 8 * width) - 1)))
        data[at: at + width] = value.to_bytes(width, draw(st.sampled_from(["big", "little"])))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@F.profile(0.5)
@given(damaged_captures())
def test_damaged_capture_files_are_read_or_refused(raw):
    """A damaged pcap or pcapng is read (what can be read of it) or refused with a
    CaptureError; never another exception, never a hang."""
    import tempfile
    from ybsensor.sensor.pipeline import Pipeline
    with tempfile.NamedTemporaryFile(suffix=".pcap") as fh:
        fh.write(raw)
        fh.flush()
        refused = []
        with F.time_bound(10, "reading a damaged capture"):
            for _, t in Pipeline().run_files([fh.name], lambda msg: None, refused.append):
                F.check_invariants(t.batch, t)
                F.count("damaged captures", t.n)


# found by test_damaged_capture_files_are_read_or_refused under make fuzz: an if_tsresol of
# 10^-20 or finer (or 2^-64 and finer) overflowed numpy's uint64
@pytest.mark.parametrize("resol", [20, 0xFF])
def test_pcapng_with_an_impossible_timestamp_resolution(resol, tmp_path):
    from ybsensor.sensor.pipeline import Pipeline
    raw = bytearray((F.REPO / "pcaps" / "twoif.pcapng").read_bytes())
    at = raw.find(b"\t\x00\x01\x00")          # if_tsresol: option 9, length 1
    assert at > 0
    raw[at + 4] = resol
    path = tmp_path / "resol.pcapng"
    path.write_bytes(bytes(raw))
    refused = []
    for _, t in Pipeline().run_files([path], lambda msg: None, refused.append):
        F.check_invariants(t.batch, t)


# --- application-layer streams (detectors/normalise.py) ---------------------------------

@F.profile(0.5)
@given(body=F.body_text, chunks=F.chunk_sizes, coding=F.codings, at=F.cuts)
def test_http_body_decodes_the_same_however_cut(body, chunks, coding, at):
    msg = F.http_message(body, chunks, coding)
    whole = F.normalised([msg])
    assert body in whole
    assert F.normalised(F.split_at(msg, at)) == whole


@F.profile(0.5)
@given(body=F.body_text, chunks=F.chunk_sizes, coding=F.codings, at=F.cuts,
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6))
def test_http_mutated_never_raises(body, chunks, coding, at, flips):
    msg = bytearray(F.http_message(body, chunks, coding))
    for pos, value in flips:
        if msg:
            msg[pos % len(msg)] = value
    F.normalised(F.split_at(bytes(msg), at))


@F.profile(0.5)
@given(text=F.body_text, encoding=st.sampled_from(["base64", "quoted-printable"]), at=F.cuts,
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4))
def test_mime_decodes_however_cut_and_survives_mutation(text, encoding, at, flips):
    mail = F.mime_mail(text, encoding)
    whole = F.normalised([mail], mail=True)
    assert F.normalised(F.split_at(mail, at), mail=True) == whole
    if encoding == "base64":
        assert text in whole
    mutated = bytearray(mail)
    for pos, value in flips:
        mutated[pos % len(mutated)] = value
    F.normalised(F.split_at(bytes(mutated), at), mail=True)


@F.profile(0.5)
@given(body=F.body_text, method=st.sampled_from([0, 8]), streamed=st.booleans(),
       chunks=F.chunk_sizes, at=F.cuts,
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6))
def test_zip_archive_decodes_the_same_however_cut_and_survives_mutation(
        body, method, streamed, chunks, at, flips):
    msg = F.http_message(F.zip_archive({"xl/sheet.xml": body, "b.txt": body[::-1]}, method,
                                       streamed and method == 8), chunks)
    whole = F.normalised([msg])
    assert body in whole and body[::-1] in whole
    assert F.normalised(F.split_at(msg, at)) == whole
    mutated = bytearray(msg)
    for pos, value in flips:
        mutated[pos % len(mutated)] = value
    F.normalised(F.split_at(bytes(mutated), at))


@F.profile(0.5)
@given(data=st.binary(max_size=3000), at=F.cuts, mail=st.booleans())
def test_stream_parsers_take_random_bytes(data, at, mail):
    F.normalised(F.split_at(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            b"Content-Encoding: gzip\r\n\r\n" + data, at))
    F.normalised(F.split_at(data, at), mail=mail)
