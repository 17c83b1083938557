"""Gzip bodies joined from separately compressed segments decompress to the joined bytes."""

from __future__ import annotations

import gzip
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_exporter.metrics import gzipjoin
from drs_exporter.metrics.gzipjoin import (
    DEFLATERS,
    ZLIB,
    Deflater,
    Segment,
    close_member,
    inflate_pieces,
    open_member,
    segment,
)


def gzip_member(segments: list[Segment]) -> bytes:
    """One gzip member holding the segments' bytes in order, made as the exposition makes
    its bodies: an open member of them, closed with no tail."""
    member = open_member(segments)
    return b"".join((*member.start, close_member(member, ())))


# Text-like bytes compress well, random ones do not; both, and empty pieces, must join.
piece = st.one_of(
    st.binary(max_size=2000),
    st.text(alphabet='drs_jobs{}=",0123456789\n', max_size=5000).map(str.encode),
    st.just(b""),
)
pieces = st.lists(piece, max_size=12)
# Every deflate implementation the exporter can use: each one's segments must join.
deflaters = st.sampled_from(DEFLATERS)


def test_the_fastest_deflater_is_used_and_zlib_remains_the_fallback() -> None:
    # isal is a dependency wherever a wheel exists (x86-64, arm64): the tests run with it.
    assert [d.name for d in DEFLATERS] == ["isal", "zlib"]
    assert DEFLATERS[-1] is ZLIB


def test_without_isal_zlib_deflates(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine without an isal wheel: the import fails and nothing but zlib is offered.
    monkeypatch.setitem(sys.modules, "isal", None)
    assert gzipjoin._isal() is None
    data = b'drs_jobs{status="FAILED"} 1\n' * 100
    assert gzip.decompress(gzip_member([segment(data, ZLIB)])) == data


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(piece, deflaters), max_size=12))
def test_a_gzip_member_of_segments_decompresses_to_their_bytes(
    made: list[tuple[bytes, Deflater]],
) -> None:
    # Segments of either implementation, mixed: each is a deflate stream of its own.
    parts = [p for p, _ in made]
    segments = [segment(p, d) for p, d in made]
    packed = gzip_member(segments)
    assert gzip.decompress(packed) == b"".join(parts)
    reader = zlib.decompressobj(wbits=31)  # exactly one gzip member, nothing after it
    assert reader.decompress(packed) == b"".join(parts)
    assert reader.eof and reader.unused_data == b""


@settings(max_examples=300, deadline=None)
@given(pieces, deflaters)
def test_inflating_segments_gives_their_bytes(parts: list[bytes], deflater: Deflater) -> None:
    assert b"".join(inflate_pieces([segment(p, deflater) for p in parts])) == b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(pieces, pieces)
def test_an_open_member_closed_with_a_tail_is_one_member_of_both(
    start: list[bytes], tail: list[bytes]
) -> None:
    member = open_member([segment(p) for p in start])
    packed = b"".join(member.start) + close_member(member, [segment(p) for p in tail])
    reader = zlib.decompressobj(wbits=31)
    assert reader.decompress(packed) == b"".join(start + tail)
    assert reader.eof and reader.unused_data == b""


def test_one_open_member_closes_with_different_tails() -> None:
    member = open_member([segment(b"shared start\n" * 1000)])
    for tail in (b"", b"one ending\n", b"another\n" * 50):
        packed = b"".join(member.start) + close_member(member, [segment(tail)])
        assert gzip.decompress(packed) == b"shared start\n" * 1000 + tail
    assert (
        gzip.decompress(b"".join(member.start) + close_member(member, ()))
        == b"shared start\n" * 1000
    )


def test_segments_join_in_any_order_and_repeat() -> None:
    a, b = segment(b"first line\n"), segment(b"second line\n" * 1000)
    assert gzip.decompress(gzip_member([b, a, b])) == b"second line\n" * 1000 + b"first line\n" + (
        b"second line\n" * 1000
    )


@pytest.mark.parametrize("deflater", DEFLATERS, ids=lambda d: d.name)
def test_a_large_body_keeps_its_crc_and_length(deflater: Deflater) -> None:
    big = bytes(range(256)) * 40_000  # 10 MB in one segment
    packed = gzip_member([segment(big, deflater), segment(b"tail", deflater)])
    assert gzip.decompress(packed) == big + b"tail"


@settings(max_examples=200, deadline=None)
@given(pieces, st.integers(min_value=1, max_value=5000))
def test_inflating_in_bounded_pieces_gives_their_bytes(parts: list[bytes], piece: int) -> None:
    out = list(inflate_pieces([segment(p) for p in parts], piece))
    assert b"".join(out) == b"".join(parts)
    assert all(0 < len(p) < 2 * piece for p in out)
