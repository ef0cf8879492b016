"""TCP streams across batches when a hole is filled in a later batch (issue #13 item 2).

The payload engine keeps the segments past a hole (streams.Held) until a later batch fills
it; then the detectors see the stream in sequence order. What it gives up waiting for is
counted: holes jumped after a timeout or when a stream holds too much
(`ybsensor_payload_stream_holes_given_up_total{reason}`, the bytes never seen in
`..._jumped_bytes_total`), held bytes dropped unsearched (`..._held_dropped_bytes_total`)."""
from __future__ import annotations

from ybsensor.decoders import Batch
from ybsensor.detectors import streams
from test_pii_detector import PERSON, make_sensor, replay, seg


def _parts():
    body = f'{{"visit":"V2025","idcard":"{PERSON}","dept":"0301"}}'.encode()
    at = body.index(PERSON.encode()) + 9             # the ID cut in two: A ends inside it
    return body[:at], body[at:at + 20], body[at + 20:]


A, B, C = (len(x) for x in _parts())


def _segments():
    a, b, c = _parts()
    return (seg(a, 1000), seg(b, 1000 + A), seg(c, 1000 + A + B)), B


def _engine(s):
    return next(d.engine for d in s.alerter.detectors if hasattr(d, "engine"))


def _pii(s) -> list[dict]:
    return [x for x in s.last_alerts if x["detector"] == "plaintext_pii"]


def test_a_hole_filled_in_a_later_batch_is_searched_in_order(tmp_path):
    s = make_sensor(tmp_path)
    (a, b, c), _ = _segments()
    replay(s, [a, c])
    engine = _engine(s)
    assert not _pii(s)
    assert engine.held.size == C and engine.held.streams == 1   # C's payload
    replay(s, [b])
    found = _pii(s)
    assert len(found) == 1
    assert found[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert engine.jumped == 0 and engine.held.size == 0 and not engine.held.streams


def test_the_filler_and_the_held_in_one_later_batch_once_each(tmp_path):
    """C held, then B and C again in the next batch: the ID is counted once."""
    s = make_sensor(tmp_path)
    (a, b, c), _ = _segments()
    replay(s, [a, c])
    replay(s, [c, b])
    found = _pii(s)
    assert len(found) == 1 and found[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert _engine(s).differ == 0


def _timed(s, frames, second: int, first_frame: int):
    s.pipeline.process(Batch.from_frames(frames, ts_ns=[second * 10**9] * len(frames),
                                         first_frame=first_frame))


def test_a_hole_never_filled_is_jumped_after_the_timeout(tmp_path):
    """The stream goes on past the timeout without the hole: the held bytes are searched
    then, the hole's bytes counted as jumped, the hole as given up (timeout)."""
    s = make_sensor(tmp_path)
    (a, b, c), hole = _segments()
    _timed(s, [a, c], 0, 1)
    later = seg(b"more text", 1000 + A + B + C)
    _timed(s, [later], streams.HOLD_TIMEOUT_NS // 10**9 + 1, 3)
    engine = _engine(s)
    assert engine.jumped == hole
    assert engine.held.holes_given_up["timeout"] == 1
    assert engine.held.size == 0 and sum(engine.held.dropped_bytes.values()) == 0


def test_a_stream_that_never_shows_again_is_dropped_after_the_timeout(tmp_path):
    s = make_sensor(tmp_path)
    (a, b, c), _ = _segments()
    _timed(s, [a, c], 0, 1)
    other = seg(b"hello", 5000, sport=40001)
    _timed(s, [other], streams.HOLD_TIMEOUT_NS // 10**9 + 1, 3)
    engine = _engine(s)
    assert engine.held.dropped_bytes["timeout"] == C
    assert engine.held.holes_given_up["timeout"] == 1 and engine.held.size == 0
    text = "".join(str(m) for fam in engine.metric_families() for m in fam.samples)
    assert "ybsensor_payload_stream_held_dropped_bytes_total" in text
    assert "ybsensor_payload_stream_holes_given_up_total" in text


def test_a_stream_holding_too_much_jumps_its_hole(tmp_path, monkeypatch):
    """Past `per_stream` bytes held the stream stops waiting: its holes are jumped and
    what it held searched."""
    s = make_sensor(tmp_path)
    engine = _engine(s)
    monkeypatch.setattr(engine.held, "per_stream", 100)
    (a, b, c), hole = _segments()
    pad = seg(b"x" * 200, 1000 + A + B + C)
    replay(s, [a, c, pad])
    assert engine.held.holes_given_up["stream_bound"] == 1
    assert engine.jumped == hole and engine.held.size == 0


def test_a_resent_segment_with_other_bytes_is_a_decode_reason(tmp_path):
    """First copy wins: the second copy of B with other bytes is counted as
    evasion:tcp_overlap (decode reason and counter), and what is searched is the first."""
    s = make_sensor(tmp_path)
    (a, b, c), _ = _segments()
    forged = seg(b"X" * B, 1000 + A)
    replay(s, [a, b, forged, c])
    assert _engine(s).differ == 1
    assert s.stats.errors[streams.OVERLAP_REASON] == 1
    assert len(_pii(s)) == 1


def test_a_held_segment_resent_with_other_bytes_keeps_its_first_copy(tmp_path):
    """C held past the hole, then C again with the ID's digits blanked; B fills the hole:
    the first C is read (the ID is found), the second counts as evasion:tcp_overlap."""
    s = make_sensor(tmp_path)
    (a, b, c), _ = _segments()
    blanked = seg(b"X" * C, 1000 + A + B)
    replay(s, [a, c, blanked])
    replay(s, [b])
    assert len(_pii(s)) == 1
    assert _engine(s).differ == 1 and s.stats.errors[streams.OVERLAP_REASON] == 1
