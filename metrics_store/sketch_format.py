"""The byte format of a serialized quantile sketch, versions 1 and 2.

Version 2 (written) keeps most buckets in one byte, so minute rows stay small
and hour rows fit in their B-tree page::

    version = 2, flags (1 byte each)
    bucket count n (varint)
    zero count, if flag ZERO (varint, or a double with FLOAT_COUNTS)
    base key (zigzag varint): the first bucket's key minus one
    the gaps and counts of the n buckets, laid out as the flags' width says
    escaped gaps, then escaped counts (varints, in bucket order)
    n counts as doubles, if flag FLOAT_COUNTS

Bucket ``i``'s key is the base plus the gaps of buckets ``0..i``; the first
gap is one and every gap is at least one, so keys strictly increase. A gap or
count that does not fit its field is written as 0 there and follows as an
escape. Widths: ``PACKED``, one byte per bucket, the gap in the high nibble
and the count in the low one; ``BYTES``, n gap bytes then n count bytes;
``HALVES`` and ``WORDS``, n gap bytes then n 16- or 32-bit counts (which
never escape). With FLOAT_COUNTS (weighted counts that are not whole) the
width is ``BYTES`` and only the gap bytes come before the escapes. The
encoder picks the narrowest width needing at most one escape in
``ESCAPE_SHARE`` buckets: resolving escapes is the one part of decoding done
in Python, bucket by bucket.

Version 1 (read only): ``<BBdI`` version, flags, zero count, n; n 32-bit
keys; n 32-bit counts, or n doubles with flag FLOAT_COUNTS.

Decoding runs the per-bucket work in C (``bytes.translate``, slicing,
``memoryview.cast``, ``itertools.accumulate``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from itertools import accumulate, chain, repeat
from operator import add, mul, sub

from metrics_store.errors import SketchFormatError

VERSION = 2
FLAG_FLOAT_COUNTS = 0x01
FLAG_ZERO = 0x02
WIDTH_MASK = 0x0C
PACKED = 0x00
BYTES = 0x04
HALVES = 0x08
WORDS = 0x0C
_KNOWN_FLAGS = FLAG_FLOAT_COUNTS | FLAG_ZERO | WIDTH_MASK

# A width is used when at most one bucket in this many needs an escape.
ESCAPE_SHARE = 16
# Whole counts up to here are exact in a double and kept as integers.
MAX_WHOLE = 2**53

_V1_HEADER = struct.Struct("<BBdI")
_DOUBLE = struct.Struct("<d")
_HIGH_NIBBLE = bytes(byte >> 4 for byte in range(256))
_LOW_NIBBLE = bytes(byte & 0x0F for byte in range(256))
_COUNT_BYTES = {PACKED: 0, BYTES: 1, HALVES: 2, WORDS: 4}
_COUNT_FORMAT = {HALVES: "H", WORDS: "I"}
_OVER_NIBBLE = (15).__lt__
_OVER_BYTE = (255).__lt__

Decoded = tuple[float, Iterable[int], Iterable[float]]


def encode(bins: dict[int, float], zero_count: float) -> bytes:
    """Serialize a sketch's buckets and zero count in format version 2."""
    keys = sorted(bins)
    counts = list(map(bins.__getitem__, keys))
    ints, low, top = _whole_counts(counts, zero_count)
    flags = BYTES | FLAG_FLOAT_COUNTS if ints is None else 0
    if zero_count:
        flags |= FLAG_ZERO
        zero = _DOUBLE.pack(zero_count) if ints is None else _varint(int(zero_count))
    else:
        zero = b""
    if not keys:
        return bytes((VERSION, flags)) + _varint(0) + zero

    base = keys[0] - 1
    gaps = list(map(sub, keys, chain((base,), keys)))
    if ints is None:
        width = BYTES
        body, escapes = _gap_bytes(gaps)
        escapes += struct.pack(f"<{len(keys)}d", *counts)
    else:
        width, body, escapes = _narrowest(gaps, ints, low, top)
    zigzag = base * 2 if base >= 0 else -base * 2 - 1
    flags |= width
    if zero or not (len(keys) < 0x80 and 0x80 <= zigzag < 0x4000):
        head = bytes((VERSION, flags)) + _varint(len(keys)) + zero + _varint(zigzag)
        return head + body + escapes
    # The usual case: no zero count, one-byte size, two-byte base key.
    head = bytes((VERSION, flags, len(keys), zigzag & 0x7F | 0x80, zigzag >> 7))
    return head + body + escapes


def decode(data: bytes) -> Decoded:
    """Return ``(zero_count, keys, counts)`` of a serialized sketch.

    Keys come in increasing order. Raises :class:`SketchFormatError` when
    ``data`` is truncated, corrupt or of an unknown version.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if not data:
        raise SketchFormatError("serialized sketch is empty (0 bytes)")
    try:
        if data[0] == VERSION:
            return _decode_v2(data)
        if data[0] == 1:
            return _decode_v1(data)
    except IndexError:
        raise _truncated(data) from None
    raise SketchFormatError(
        f"unknown sketch format version {data[0]!r}; this build reads 1 and 2"
    )


def _decode_v2(data: bytes) -> Decoded:
    """Decode version 2; an ``IndexError`` means ``data`` ended too soon."""
    flags = data[1]
    if flags & ~_KNOWN_FLAGS:
        raise SketchFormatError(f"sketch has unknown flags {flags:#04x}")
    floats = flags & FLAG_FLOAT_COUNTS
    size = data[2]
    pos = 3
    if size & 0x80:
        size, pos = _read_varint(data, 2)
    zero_count = 0.0
    if flags & FLAG_ZERO:
        if floats:
            if pos + 8 > len(data):
                raise _truncated(data)
            (zero_count,) = _DOUBLE.unpack_from(data, pos)
            pos += 8
        else:
            whole_zero, pos = _read_varint(data, pos)
            zero_count = float(whole_zero)
    if not size:
        if pos != len(data):
            raise _wrong_length(data, pos)
        return zero_count, (), ()

    zigzag = data[pos]
    pos += 1
    if zigzag & 0x80:
        zigzag, pos = _read_varint(data, pos - 1)
    base = -((zigzag + 1) >> 1) if zigzag & 1 else zigzag >> 1
    width = flags & WIDTH_MASK
    gap_end = pos + size
    if floats:
        if width != BYTES:
            raise SketchFormatError(f"sketch has unknown flags {flags:#04x}")
        count_end = gap_end
    else:
        count_end = gap_end + size * _COUNT_BYTES[width]
    if count_end > len(data):
        raise _truncated(data)
    counts: Iterable[float]
    if width == PACKED:
        packed = data[pos:gap_end]
        gaps = packed.translate(_HIGH_NIBBLE)
        counts = packed.translate(_LOW_NIBBLE)
    else:
        gaps = data[pos:gap_end]
        if width == BYTES:
            counts = data[gap_end:count_end]
        else:
            counts = memoryview(data)[gap_end:count_end].cast(_COUNT_FORMAT[width])
    pos = count_end
    if 0 in gaps:
        gaps, pos = _unescape(gaps, data, pos, is_gap=True)
    if floats:
        end = pos + 8 * size
        if end != len(data):
            raise _wrong_length(data, end)
        counts = memoryview(data)[pos:end].cast("d")
    else:
        if width <= BYTES and 0 in counts:
            counts, pos = _unescape(counts, data, pos, is_gap=False)
        if pos != len(data):
            raise _wrong_length(data, pos)
    keys = accumulate(gaps, initial=base)
    next(keys)
    return zero_count, keys, counts


def _decode_v1(data: bytes) -> Decoded:
    if len(data) < _V1_HEADER.size:
        raise _truncated(data)
    _version, flags, zero_count, size = _V1_HEADER.unpack_from(data)
    width = 8 if flags & FLAG_FLOAT_COUNTS else 4
    end = _V1_HEADER.size + 4 * size
    if end + width * size != len(data):
        raise _wrong_length(data, end + width * size)
    view = memoryview(data)
    keys = view[_V1_HEADER.size : end].cast("i")
    counts = view[end:].cast("d" if width == 8 else "I")
    return zero_count, keys, counts


def _narrowest(
    gaps: list[int], counts: list[int], low: int, top: int
) -> tuple[int, bytes, bytes]:
    """Pick the narrowest width with few escapes; return it, the body, escapes.

    ``low`` and ``top`` are the smallest and largest of ``counts``.
    """
    limit = len(gaps) // ESCAPE_SHARE
    if top < 16 and low > 0 and max(gaps) < 16:
        return PACKED, bytes(map(add, map(mul, gaps, repeat(16)), counts)), b""
    if limit and (
        sum(map(_OVER_NIBBLE, gaps)) + sum(map(_OVER_NIBBLE, counts)) + counts.count(0)
        <= limit
    ):
        packed = bytes(
            (gap if gap < 16 else 0) * 16 + (count if 0 < count < 16 else 0)
            for gap, count in zip(gaps, counts, strict=True)
        )
        odd_gaps = [gap for gap in gaps if gap > 15]
        return (
            PACKED,
            packed,
            _escapes(odd_gaps + [c for c in counts if not 0 < c < 16]),
        )
    gap_body, gap_escapes = _gap_bytes(gaps)
    if top < 256 and low > 0:
        return BYTES, gap_body + bytes(counts), gap_escapes
    if limit and sum(map(_OVER_BYTE, counts)) + counts.count(0) <= limit:
        count_body = bytes(count if 0 < count < 256 else 0 for count in counts)
        odd_counts = [count for count in counts if not 0 < count < 256]
        return BYTES, gap_body + count_body, gap_escapes + _escapes(odd_counts)
    if top < 2**16:
        halves = struct.pack(f"<{len(counts)}H", *counts)
        return HALVES, gap_body + halves, gap_escapes
    if top < 2**32:
        words = struct.pack(f"<{len(counts)}I", *counts)
        return WORDS, gap_body + words, gap_escapes
    # Too large for 32 bits yet exact: bytes with escapes still hold them.
    count_body = bytes(count if 0 < count < 256 else 0 for count in counts)
    odd_counts = [count for count in counts if not 0 < count < 256]
    return BYTES, gap_body + count_body, gap_escapes + _escapes(odd_counts)


def _gap_bytes(gaps: list[int]) -> tuple[bytes, bytes]:
    """Gaps one byte each, 0 standing for an escaped gap; and the escapes."""
    if max(gaps) < 256:
        return bytes(gaps), b""
    body = bytes(gap if gap < 256 else 0 for gap in gaps)
    return body, _escapes([gap for gap in gaps if gap > 255])


def _escapes(values: list[int]) -> bytes:
    return b"".join(map(_varint, values))


def _unescape(
    values: bytes, data: bytes, pos: int, *, is_gap: bool
) -> tuple[list[int], int]:
    """Replace each 0 in ``values`` by the next varint of ``data`` at ``pos``."""
    patched = list(values)
    index = values.find(0)
    while index >= 0:
        value, pos = _read_varint(data, pos)
        if is_gap and value == 0:
            raise SketchFormatError("sketch has a bucket gap of zero; it is corrupt")
        patched[index] = value
        index = values.find(0, index + 1)
    return patched, pos


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        byte = data[pos]
        value = byte & 0x7F
        shift = 7
        pos += 1
        while byte & 0x80:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
    except IndexError:
        raise _truncated(data) from None
    return value, pos


def _whole_counts(
    counts: list[float], zero_count: float
) -> tuple[list[int] | None, int, int]:
    """``counts`` as integers, their min and max; None if any is not whole."""
    if not 0 <= zero_count < MAX_WHOLE or zero_count != int(zero_count):
        return None, 0, 0
    try:
        ints = list(map(int, counts))
    except (OverflowError, ValueError):  # infinity or NaN
        return None, 0, 0
    if ints != counts:
        return None, 0, 0
    if not ints:
        return ints, 0, 0
    low, top = min(ints), max(ints)
    if low < 0 or top >= MAX_WHOLE:
        return None, 0, 0
    return ints, low, top


def _wrong_length(data: bytes, end: int) -> SketchFormatError:
    if end > len(data):
        return _truncated(data)
    return SketchFormatError(
        f"serialized sketch has {len(data) - end} unexpected trailing bytes"
    )


def _truncated(data: bytes) -> SketchFormatError:
    return SketchFormatError(
        f"serialized sketch is truncated ({len(data)} bytes, version {data[0]!r})"
    )
