"""A mergeable quantile sketch with bounded relative error.

Values fall into logarithmic buckets ``(gamma**(k-1), gamma**k]``; reporting
the bucket's midpoint keeps every quantile within ``RELATIVE_ACCURACY`` of a
value that was really added. Sketches merge by adding bucket counts, so a
merge of any number of workers and minutes is as accurate as one sketch of
the union. Counts are floats so that sampled values can carry weights.
"""

from __future__ import annotations

import math
import sqlite3
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate

from metrics_store.sketch_format import decode, encode

# Below the 1% promised at the API, leaving room for rounding in merges.
RELATIVE_ACCURACY = 0.0075
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
INV_LOG_GAMMA = 1.0 / math.log(GAMMA)
# Values at or below this are counted in a single zero bucket.
MIN_INDEXABLE = 1e-9


def bucket_key(value: float) -> int:
    """Return the bucket index holding ``value`` (which must exceed the zero band)."""
    return math.ceil(math.log(value) * INV_LOG_GAMMA)


def bucket_value(key: int) -> float:
    """Return the representative value of bucket ``key``."""
    return 2.0 * GAMMA**key / (GAMMA + 1.0)


class QuantileSketch:
    """Weighted counts in logarithmic buckets; merge, query and serialize."""

    __slots__ = ("bins", "zero_count")

    def __init__(self) -> None:
        self.bins: dict[int, float] = {}
        self.zero_count = 0.0

    @property
    def count(self) -> float:
        """Total weight added."""
        return self.zero_count + sum(self.bins.values())

    def add(self, value: float, weight: float = 1.0) -> None:
        """Add ``value`` with ``weight`` (a sampled value stands for several)."""
        if value > MIN_INDEXABLE:
            key = math.ceil(math.log(value) * INV_LOG_GAMMA)
            bins = self.bins
            bins[key] = bins.get(key, 0.0) + weight
        else:
            self.zero_count += weight

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """Add every bucket of ``other`` into this sketch and return it."""
        bins = self.bins
        for key, weight in other.bins.items():
            bins[key] = bins.get(key, 0.0) + weight
        self.zero_count += other.zero_count
        return self

    def merge_bytes(self, data: bytes) -> QuantileSketch:
        """Add a serialized sketch (any format version) into this one; return it.

        Reads the buckets straight from ``data``; no intermediate sketch or
        dict is built, which halves the cost of merging stored rows. Raises
        :class:`~metrics_store.errors.SketchFormatError` for a bad blob.
        """
        zero_count, keys, counts = decode(data)
        bins = self.bins
        get = bins.get
        for key, count in zip(keys, counts, strict=True):
            bins[key] = get(key, 0.0) + count
        self.zero_count += zero_count
        return self

    def quantile(self, q: float) -> float | None:
        """Return the ``q`` quantile (0..1), or None for an empty sketch.

        Nearest rank: the smallest value with at least ``q * n`` of the
        values at or below it, so p99 of a few samples is their maximum and
        never falls below the average of a skewed handful.
        """
        return self.quantiles([q])[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Return several quantiles in one pass over the buckets."""
        qs = list(qs)
        total = self.count
        if total <= 0:
            return [None] * len(qs)
        order = sorted(range(len(qs)), key=qs.__getitem__)
        results: list[float | None] = [None] * len(qs)
        keys = sorted(self.bins)
        cumulative = self.zero_count
        position = -1
        value = 0.0
        for index in order:
            rank = nearest_rank(qs[index], total)
            while cumulative < rank and position + 1 < len(keys):
                position += 1
                cumulative += self.bins[keys[position]]
                value = bucket_value(keys[position])
            results[index] = value
        return results

    def to_bytes(self) -> bytes:
        """Serialize compactly, in the current format (see ``sketch_format``)."""
        return encode(self.bins, self.zero_count)

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        """Rebuild a sketch from :meth:`to_bytes` output of any format version.

        Raises :class:`~metrics_store.errors.SketchFormatError` for a blob that
        is truncated, corrupt or of an unknown version.
        """
        zero_count, keys, counts = decode(data)
        sketch = cls()
        sketch.zero_count = zero_count
        sketch.bins = dict(zip(keys, map(float, counts), strict=True))
        return sketch

    @classmethod
    def of(cls, values: Iterable[float]) -> QuantileSketch:
        """Build a sketch holding ``values`` with weight one each."""
        sketch = cls()
        for value in values:
            sketch.add(value)
        return sketch


def nearest_rank(q: float, total: float) -> float:
    """How many values must lie at or below the ``q`` quantile of ``total``.

    The quantile is the first value whose running count reaches this. A
    hair below ``q * total`` absorbs rounding (0.95 * 20 must mean 19), and
    it is never 0, so the smallest value answers ``q = 0``.
    """
    return max(q * total * (1 - 1e-12), min(total, 1.0) * 1e-12)


def serialized_quantiles(data: bytes, qs: Iterable[float]) -> list[float | None]:
    """Quantiles of a serialized sketch without rebuilding it.

    Equal to ``QuantileSketch.from_bytes(data).quantiles(qs)``: the stored
    keys are sorted, so a running sum and a binary search answer each
    quantile without building a dict.
    """
    zero_count, keys, counts = decode(data)
    keys = list(keys)
    size = len(keys)
    cumulative = list(accumulate(map(float, counts), initial=float(zero_count)))
    total = cumulative[-1]
    results: list[float | None] = []
    for q in qs:
        if total <= 0:
            results.append(None)
            continue
        index = bisect_left(cumulative, nearest_rank(q, total))
        results.append(bucket_value(keys[min(index, size) - 1]) if index else 0.0)
    return results


def merge_serialized(left: bytes, right: bytes) -> bytes:
    """Merge two serialized sketches (used as an SQLite function in upserts).

    Works on the decoded counts directly, integers where the blobs hold
    integers: every flush runs this once per row it updates.
    """
    zero_count, keys, counts = decode(left)
    bins = dict(zip(keys, counts, strict=True))
    get = bins.get
    right_zero, keys, counts = decode(right)
    for key, count in zip(keys, counts, strict=True):
        bins[key] = get(key, 0) + count
    return encode(bins, zero_count + right_zero)


class SketchUnion:
    """SQLite aggregate ``sketch_union(sketch)``: the merge of a column's sketches."""

    def __init__(self) -> None:
        self.sketch = QuantileSketch()

    def step(self, data: bytes) -> None:
        """Fold one serialized sketch in."""
        self.sketch.merge_bytes(data)

    def finalize(self) -> bytes:
        """Return the merged sketch, serialized."""
        return self.sketch.to_bytes()


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """Make ``sketch_merge(a, b)`` and ``sketch_union(col)`` available to SQL."""
    conn.create_function("sketch_merge", 2, merge_serialized, deterministic=True)
    conn.create_aggregate("sketch_union", 1, SketchUnion)
