"""Gzip bodies joined from separately compressed segments, without decompressing any.

A segment is some bytes compressed on their own as raw deflate, ended by a sync flush: it
ends on a byte boundary and never refers back into another segment, so segments concatenate
into one deflate stream. Each segment also carries the CRC-32 and length of its bytes; the
CRC of a concatenation follows from the parts' CRCs by zlib's ``crc32_combine``, done here
in pure Python with a precomputed table of powers, so a gzip member of any list of segments
costs a join and a few multiplications per segment.

A member can also be built in two steps: ``open_member`` joins the header and the segments
once, ``close_member`` gives what ends it after a few more segments. The megabytes of the
start are then shared by every body that ends differently, and never copied again.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_HEADER = bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF))  # deflate, no name, mtime 0
_FINAL_BLOCK = b"\x03\x00"  # an empty, final deflate block (fixed Huffman codes)
_POLYNOMIAL = 0xEDB88320  # CRC-32 as gzip computes it, in its reflected bit order


def _multiply(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (zlib's multmodp)."""
    product = 0
    bit = 1 << 31
    while bit:
        if a & bit:
            product ^= b
        b = (b >> 1) ^ _POLYNOMIAL if b & 1 else b >> 1
        bit >>= 1
    return product


def _x_to_the_powers_of_two() -> tuple[int, ...]:
    powers = [1 << 30]  # x^1
    for _ in range(63):
        powers.append(_multiply(powers[-1], powers[-1]))
    return tuple(powers)


_X_POW_2K = _x_to_the_powers_of_two()  # x^(2^k) modulo the polynomial, k = 0..63

# Multiplying by one of those powers is linear in the other factor: for each power that a
# segment's length can need (x^(8 * 2^j), lengths below 2^32), the products of each of its
# eight nibbles, so that a shift costs eight lookups per set bit of the length instead of a
# 32-step loop (it is computed for every segment a render makes). Made on first use.
_FIRST, _LAST = 3, 3 + 32


@functools.cache
def _nibble_products(k: int) -> tuple[tuple[int, ...], ...]:
    """The products of x^(8 * 2^k) with every value of each of a factor's eight nibbles."""
    power = _X_POW_2K[_FIRST + k]
    return tuple(tuple(_multiply(power, v << (4 * j)) for v in range(16)) for j in range(8))


def _times_power(products: tuple[tuple[int, ...], ...], b: int) -> int:
    """b times the power whose nibble products are ``products``."""
    return (
        products[0][b & 15]
        ^ products[1][(b >> 4) & 15]
        ^ products[2][(b >> 8) & 15]
        ^ products[3][(b >> 12) & 15]
        ^ products[4][(b >> 16) & 15]
        ^ products[5][(b >> 20) & 15]
        ^ products[6][(b >> 24) & 15]
        ^ products[7][b >> 28]
    )


def _shift(size: int) -> int:
    """x^(8 * size) modulo the polynomial: times a CRC, it is the CRC with size zero bytes after."""
    if not 0 <= size < 1 << (_LAST - _FIRST):
        raise ValueError(f"a segment of {size} bytes")
    shift = 1 << 31  # x^0
    k = 0  # 8 * size = size * 2^3: bit k of size is power _FIRST + k
    while size:
        if size & 1:
            shift = _times_power(_nibble_products(k), shift)
        size >>= 1
        k += 1
    return shift


@dataclass(frozen=True, slots=True)
class Deflater:
    """A raw deflate implementation and the level segments are compressed at."""

    name: str
    compressobj: Callable[..., Any]
    crc32: Callable[[bytes], int]
    level: int


# zlib's level 3 (its fast strategy) is much faster than its default for a few more bytes,
# and levels 1 and 2 are no faster on these lines. ISA-L's level 1, where the isal package
# is installed, is faster again, for output no larger.
ZLIB = Deflater("zlib", zlib.compressobj, zlib.crc32, 3)


def _isal() -> Deflater | None:
    try:
        from isal import isal_zlib
    except ImportError:  # not installed (no wheel for this platform): zlib does it
        return None
    return Deflater("isal", isal_zlib.compressobj, isal_zlib.crc32, 1)


DEFLATERS = tuple(d for d in (_isal(), ZLIB) if d is not None)  # the fastest first


@dataclass(frozen=True, slots=True)
class Segment:
    """Bytes kept only compressed: their raw deflate segment, CRC-32 and length.

    ``shift`` combines the CRC of what comes before with this one's.
    """

    packed: bytes
    crc: int
    size: int
    shift: int


def segment(data: bytes, deflater: Deflater = DEFLATERS[0]) -> Segment:
    """Compress ``data`` into a segment that can be joined with any others."""
    packer = deflater.compressobj(deflater.level, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
    return Segment(packed, deflater.crc32(data), len(data), _shift(len(data)))


def _combined(crc: int, size: int, segments: Sequence[Segment]) -> tuple[int, int]:
    """The CRC-32 and length of some bytes (``crc``, ``size``) followed by the segments'."""
    for s in segments:
        crc = _multiply(s.shift, crc) ^ s.crc  # zlib's crc32_combine
        size += s.size
    return crc, size


@dataclass(frozen=True, slots=True)
class OpenMember:
    """The start of a gzip member, as pieces to send in order (its header, then each
    segment's bytes, never joined), and their CRC-32 and length."""

    start: tuple[bytes, ...]
    crc: int
    size: int

    @property
    def length(self) -> int:
        """Bytes in ``start``."""
        return sum(len(piece) for piece in self.start)


def open_member(segments: Sequence[Segment]) -> OpenMember:
    """A gzip member holding the segments' bytes, still open for more (``close_member``)."""
    crc, size = _combined(0, 0, segments)
    return OpenMember((_HEADER, *(s.packed for s in segments)), crc, size)


def close_member(member: OpenMember, tail: Sequence[Segment]) -> bytes:
    """What follows ``member.start`` to make one gzip member that ends with the tail's bytes:
    the tail's segments, the final block and the trailer (CRC-32 and length of it all)."""
    crc, size = _combined(member.crc, member.size, tail)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"".join((*(s.packed for s in tail), _FINAL_BLOCK, trailer))


def inflate_pieces(segments: Sequence[Segment], piece: int = 1 << 20) -> Iterator[bytes]:
    """The segments' bytes, uncompressed, in pieces of about ``piece`` bytes (at most twice
    that), made one at a time as they are taken: the whole is never held at once."""
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    parts: list[bytes] = []
    size = 0
    for s in segments:
        data = s.packed
        while data:
            out = inflater.decompress(data, piece)
            data = inflater.unconsumed_tail
            parts.append(out)
            size += len(out)
            if size >= piece:
                yield b"".join(parts)
                parts, size = [], 0
    if size:
        yield b"".join(parts)
