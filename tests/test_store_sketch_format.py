"""Serialized sketches: format version 2, reading version 1, and bad blobs."""

from __future__ import annotations

import random
import sqlite3

import pytest

from metrics_store.errors import SketchFormatError
from metrics_store.sketch import (
    MIN_INDEXABLE,
    QuantileSketch,
    merge_serialized,
    register_sql_functions,
)
from metrics_store.sketch_format import (
    BYTES,
    FLAG_FLOAT_COUNTS,
    FLAG_ZERO,
    HALVES,
    PACKED,
    WIDTH_MASK,
    WORDS,
)
from metrics_store.store import MetricsStore
from tests.store_helpers import (
    exact_percentile,
    make_sample,
    pack_v1,
    read_rollup,
    relative_error,
    write_samples,
)

QUANTILES = (0.5, 0.95, 0.99)
HOUR0 = 1_710_057_600  # 2024-03-10 08:00 UTC


def lognormal(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(1.0, 1.5) for _ in range(n)]


def sketch_of_counts(keys: list[int], counts: list[float]) -> QuantileSketch:
    sketch = QuantileSketch()
    sketch.bins = dict(zip(keys, map(float, counts), strict=True))
    return sketch


def round_trip(sketch: QuantileSketch) -> QuantileSketch:
    copy = QuantileSketch.from_bytes(sketch.to_bytes())
    assert copy.bins == sketch.bins
    assert copy.zero_count == sketch.zero_count
    return copy


# -- version 2 ---------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 10, 1_000, 100_000])
def test_round_trip_is_exact_and_quantiles_stay_within_one_percent(n):
    values = lognormal(n, n)
    sketch = QuantileSketch.of(values)

    data = sketch.to_bytes()

    assert data[0] == 2
    copy = round_trip(sketch)
    assert copy.count == n
    for q, estimate in zip(QUANTILES, copy.quantiles(QUANTILES), strict=True):
        assert relative_error(estimate, exact_percentile(values, q)) <= 0.01


def test_buckets_take_about_a_byte_each():
    sketch = QuantileSketch.of(lognormal(3, 300))

    data = sketch.to_bytes()

    assert len(data) <= 8 + 1.25 * len(sketch.bins)
    assert len(data) < len(pack_v1(sketch.bins)) / 4


@pytest.mark.parametrize(
    ("counts", "width"),
    [
        pytest.param([1, 15, 3], PACKED, id="nibbles"),
        pytest.param([1] * 40 + [16, 300], PACKED, id="nibbles-with-escapes"),
        pytest.param([16, 255, 1], BYTES, id="bytes"),
        pytest.param([0, 2, 0], HALVES, id="zero-counts"),
        pytest.param([256, 300, 1], HALVES, id="halves"),
        pytest.param([65_535, 1], HALVES, id="halves-top"),
        pytest.param([65_536, 7], WORDS, id="words"),
        pytest.param([2**32 - 1, 1], WORDS, id="words-top"),
        pytest.param([2**40, 2**52, 3, 5], BYTES, id="beyond-32-bits"),
    ],
)
def test_each_count_width_round_trips(counts, width):
    sketch = sketch_of_counts(list(range(100, 100 + len(counts))), counts)

    data = sketch.to_bytes()

    assert data[1] & WIDTH_MASK == width
    assert not data[1] & FLAG_FLOAT_COUNTS
    round_trip(sketch)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param([-1383, -1382, 0, 1], id="negative-keys"),
        pytest.param([0, 15, 16, 32, 287, 543], id="gaps-around-field-limits"),
        pytest.param([-1383, 47_000], id="widest-span"),
        pytest.param(list(range(-50, 50, 3)) + [400, 5000], id="wide-tail"),
    ],
)
@pytest.mark.parametrize("count", [1.0, 200.0, 70_000.0, 0.5])
def test_gaps_of_any_size_round_trip(keys, count):
    round_trip(sketch_of_counts(keys, [count] * len(keys)))


def test_empty_sketch_is_three_bytes_and_merges_as_nothing():
    data = QuantileSketch().to_bytes()
    sketch = QuantileSketch.of([1.0, 2.0])
    before = dict(sketch.bins)

    sketch.merge_bytes(data)

    assert data == bytes((2, 0, 0))
    assert round_trip(QuantileSketch()).quantile(0.5) is None
    assert sketch.bins == before


def test_zero_only_sketch_keeps_its_count():
    sketch = QuantileSketch.of([0.0] * 7)

    data = sketch.to_bytes()

    assert data[1] & FLAG_ZERO
    assert round_trip(sketch).quantiles(QUANTILES) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.0, 0.0, 5.0], id="zeros"),
        pytest.param([-5.0, -0.001, 0.0, 3.0, 4.0], id="negatives"),
        pytest.param([MIN_INDEXABLE, MIN_INDEXABLE * 1.01, 1e-8], id="smallest"),
        pytest.param([1e-8, 1.0, 1e12, 1e300], id="widest"),
    ],
)
def test_extreme_values_round_trip(values):
    sketch = QuantileSketch.of(values)

    copy = round_trip(sketch)

    # Values at or below the zero band, negatives included, count as zero:
    # the sketch ranks durations and gauges; min and max columns stay exact.
    assert copy.zero_count == sum(1 for v in values if v <= MIN_INDEXABLE)
    top = max(values)
    assert relative_error(copy.quantile(1.0), top) <= 0.01


def test_large_whole_counts_stay_exact():
    sketch = sketch_of_counts([1, 2, 3], [2**40, 1, 2**53 - 1])
    sketch.zero_count = float(2**45)

    data = sketch.to_bytes()

    assert not data[1] & FLAG_FLOAT_COUNTS
    round_trip(sketch)


@pytest.mark.parametrize("weight", [0.1, 1 / 3, 2.5])
def test_fractional_weights_round_trip_exactly(weight):
    sketch = QuantileSketch()
    for value in lognormal(9, 500):
        sketch.add(value, weight)
    sketch.add(0.0, weight)

    data = sketch.to_bytes()

    assert data[1] & FLAG_FLOAT_COUNTS
    round_trip(sketch)


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.1, 0.01])
def test_sampling_weights_that_are_whole_stay_integers(rate):
    sketch = QuantileSketch()
    for index, value in enumerate(lognormal(4, 2000)):
        # Slow samples and errors are always kept, with weight one.
        sketch.add(value, 1.0 if index % 50 == 0 else 1 / rate)

    data = sketch.to_bytes()

    assert not data[1] & FLAG_FLOAT_COUNTS
    assert len(data) < 3 * len(sketch.bins) + 8
    round_trip(sketch)


# -- version 1 ---------------------------------------------------------------


@pytest.mark.parametrize("weight", [1.0, 10.0, 2.5])
def test_version_1_blobs_still_decode_and_merge(weight):
    sketch = QuantileSketch()
    for value in lognormal(5, 1000) + [0.0, 0.0]:
        sketch.add(value, weight)
    old = pack_v1(sketch.bins, sketch.zero_count)

    decoded = QuantileSketch.from_bytes(old)
    merged = QuantileSketch.of([1.0]).merge_bytes(old)

    assert (decoded.bins, decoded.zero_count) == (sketch.bins, sketch.zero_count)
    expected = QuantileSketch.of([1.0]).merge(sketch)
    assert (merged.bins, merged.zero_count) == (expected.bins, expected.zero_count)


def test_merge_serialized_accepts_any_mix_and_writes_version_2():
    left = QuantileSketch.of(lognormal(1, 400) + [0.0])
    right = QuantileSketch.of(lognormal(2, 300))
    expected = QuantileSketch().merge(left).merge(right)
    old_left, old_right = (pack_v1(s.bins, s.zero_count) for s in (left, right))

    for a, b in [
        (old_left, old_right),
        (old_left, right.to_bytes()),
        (left.to_bytes(), old_right),
        (left.to_bytes(), right.to_bytes()),
    ]:
        data = merge_serialized(a, b)
        assert data[0] == 2
        assert data == expected.to_bytes()


def test_sql_functions_merge_any_mix_of_versions():
    parts = [QuantileSketch.of(lognormal(seed, 200)) for seed in range(6)]
    blobs = [
        pack_v1(part.bins) if i % 2 else part.to_bytes() for i, part in enumerate(parts)
    ]
    expected = QuantileSketch()
    for part in parts:
        expected.merge(part)
    conn = sqlite3.connect(":memory:")
    register_sql_functions(conn)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, sketch BLOB)")
    conn.executemany("INSERT INTO t (sketch) VALUES (?)", [(b,) for b in blobs])

    (union,) = conn.execute("SELECT sketch_union(sketch) FROM t").fetchone()
    conn.execute("UPDATE t SET sketch = sketch_merge(sketch, ?)", (blobs[1],))
    merged = [blob for (blob,) in conn.execute("SELECT sketch FROM t ORDER BY id")]

    assert union == expected.to_bytes()
    for part, blob in zip(parts, merged, strict=True):
        assert blob[0] == 2
        assert QuantileSketch.from_bytes(blob).bins == (
            QuantileSketch().merge(part).merge(parts[1]).bins
        )


def test_store_with_version_1_rows_keeps_merging_and_reading(tmp_path):
    path = tmp_path / "metrics.db"
    store = MetricsStore(path)
    values = lognormal(8, 4000)
    samples = [make_sample(HOUR0 + i * 0.9, v) for i, v in enumerate(values)]
    write_samples(store, samples[:2000])
    store.rollup_hours()
    conn = sqlite3.connect(path)
    for table in ("rollup_minute", "rollup_hour"):
        for bucket, sid, blob in conn.execute(
            f"SELECT bucket, series_id, sketch FROM {table}"
        ).fetchall():
            old = QuantileSketch.from_bytes(blob)
            conn.execute(
                f"UPDATE {table} SET sketch = ? WHERE bucket = ? AND series_id = ?",
                (pack_v1(old.bins, old.zero_count), bucket, sid),
            )
    conn.commit()
    conn.close()

    write_samples(store, samples[2000:])
    store.rollup_hours()
    store.close()

    minutes = read_rollup(path)
    hour = read_rollup(path, "rollup_hour")
    assert sum(row.count for row in minutes.values()) == len(values)
    (row,) = hour.values()
    assert (row.count, row.min, row.max) == (len(values), min(values), max(values))
    assert row.sum == pytest.approx(sum(values), rel=1e-12)
    for q, estimate in zip(QUANTILES, row.sketch.quantiles(QUANTILES), strict=True):
        assert relative_error(estimate, exact_percentile(values, q)) <= 0.01
    rewritten = sqlite3.connect(path)
    firsts = {
        blob[0] for (blob,) in rewritten.execute("SELECT sketch FROM rollup_hour")
    }
    rewritten.close()
    assert firsts == {2}


# -- bad blobs -----------------------------------------------------------------


def sample_blobs() -> list[bytes]:
    fractional = QuantileSketch()
    fractional.add(3.0, 0.5)
    fractional.add(0.0, 0.25)
    return [
        QuantileSketch.of(lognormal(1, 50) + [0.0]).to_bytes(),
        sketch_of_counts([0, 200, 600], [1, 300, 9]).to_bytes(),
        sketch_of_counts([-5, 7], [70_000, 1]).to_bytes(),
        sketch_of_counts([1, 2, 3, 4], [2**40, 1, 1, 1]).to_bytes(),
        fractional.to_bytes(),
        QuantileSketch.of([0.0]).to_bytes(),
        pack_v1({-3: 1.0, 4: 2.0}, 1.0),
        pack_v1({4: 0.5}),
    ]


@pytest.mark.parametrize("blob", sample_blobs(), ids=lambda b: b.hex()[:12])
def test_every_truncation_raises_a_format_error(blob):
    target = QuantileSketch.of([1.0, 2.0])
    before = dict(target.bins)

    for cut in range(len(blob)):
        with pytest.raises(SketchFormatError, match="truncated|empty|trailing"):
            QuantileSketch.from_bytes(blob[:cut])
        with pytest.raises(SketchFormatError):
            target.merge_bytes(blob[:cut])

    assert target.bins == before


@pytest.mark.parametrize("blob", sample_blobs(), ids=lambda b: b.hex()[:12])
def test_trailing_bytes_are_rejected(blob):
    with pytest.raises(SketchFormatError, match="1 unexpected trailing"):
        QuantileSketch.from_bytes(blob + b"\x01")


def test_unknown_flags_and_versions_are_rejected():
    data = bytearray(QuantileSketch.of([1.0]).to_bytes())
    data[1] |= 0x80

    with pytest.raises(SketchFormatError, match="flags 0x8"):
        QuantileSketch.from_bytes(bytes(data))
    with pytest.raises(SketchFormatError, match="version 0"):
        QuantileSketch.from_bytes(b"\x00\x00\x00")
    with pytest.raises(SketchFormatError, match="empty"):
        QuantileSketch.from_bytes(b"")


def test_an_escaped_gap_of_zero_is_rejected():
    # Version 2, BYTES, two buckets from key 0; the second gap escapes to 0.
    data = bytes((2, BYTES, 2, 0, 1, 0, 1, 1, 0))

    with pytest.raises(SketchFormatError, match="gap of zero"):
        QuantileSketch.from_bytes(data)


def test_a_bad_blob_fails_the_sql_statement_not_the_process():
    conn = sqlite3.connect(":memory:")
    register_sql_functions(conn)
    good = QuantileSketch.of([1.0]).to_bytes()

    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT sketch_merge(?, ?)", (good, good[:-1])).fetchone()

    assert conn.execute("SELECT sketch_merge(?, ?)", (good, good)).fetchone()
