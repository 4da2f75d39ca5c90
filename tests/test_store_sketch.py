"""The quantile sketch: accuracy, merging, weights and serialization."""

from __future__ import annotations

import random

import pytest

from metrics_store.sketch import (
    RELATIVE_ACCURACY,
    QuantileSketch,
    bucket_key,
    bucket_value,
    merge_serialized,
    serialized_quantiles,
)
from tests.store_helpers import exact_percentile, relative_error

QUANTILES = (0.5, 0.95, 0.99)
# A value on a bucket edge sits exactly at the accuracy bound; allow for rounding.
BOUND = RELATIVE_ACCURACY + 1e-12


def uniform(rng: random.Random, n: int) -> list[float]:
    return [rng.uniform(1.0, 1000.0) for _ in range(n)]


def lognormal(rng: random.Random, n: int) -> list[float]:
    return [rng.lognormvariate(3.0, 1.2) for _ in range(n)]


def bimodal(rng: random.Random, n: int) -> list[float]:
    return [
        abs(rng.gauss(8.0, 1.0)) if rng.random() < 0.7 else rng.gauss(800.0, 60.0)
        for _ in range(n)
    ]


DISTRIBUTIONS = [uniform, lognormal, bimodal]


@pytest.fixture(params=DISTRIBUTIONS, ids=lambda f: f.__name__)
def values(request) -> list[float]:
    return request.param(random.Random(20240310), 20_000)


@pytest.mark.parametrize("q", QUANTILES)
def test_quantile_within_one_percent_of_exact(values, q):
    sketch = QuantileSketch.of(values)

    estimate = sketch.quantile(q)

    assert relative_error(estimate, exact_percentile(values, q)) <= 0.01


def test_quantiles_in_one_pass_match_single_queries(values):
    sketch = QuantileSketch.of(values)
    qs = [0.99, 0.0, 0.5, 1.0, 0.95, 0.25]

    assert sketch.quantiles(qs) == [sketch.quantile(q) for q in qs]


def test_extreme_quantiles_are_min_and_max_within_accuracy(values):
    sketch = QuantileSketch.of(values)

    assert relative_error(sketch.quantile(0.0), min(values)) <= BOUND
    assert relative_error(sketch.quantile(1.0), max(values)) <= BOUND


@pytest.mark.parametrize("parts", [2, 7, 64])
def test_merge_of_parts_equals_sketch_of_union(values, parts):
    union = QuantileSketch.of(values)
    merged = QuantileSketch()

    for start in range(parts):
        returned = merged.merge(QuantileSketch.of(values[start::parts]))
        assert returned is merged

    assert merged.bins == union.bins
    assert merged.zero_count == union.zero_count
    assert merged.count == len(values)
    assert merged.quantiles(QUANTILES) == union.quantiles(QUANTILES)


def test_merge_leaves_the_other_sketch_unchanged():
    left = QuantileSketch.of([1.0, 2.0])
    right = QuantileSketch.of([2.0, 3.0, 0.0])
    before = (dict(right.bins), right.zero_count)

    left.merge(right)

    assert (right.bins, right.zero_count) == before
    assert left.count == 5


def test_weighted_add_equals_repeated_add():
    rng = random.Random(7)
    pairs = [(rng.lognormvariate(2.0, 1.0), rng.randint(1, 9)) for _ in range(2000)]
    weighted = QuantileSketch()
    repeated = QuantileSketch()

    for value, weight in pairs:
        weighted.add(value, weight=weight)
        for _ in range(weight):
            repeated.add(value)

    assert weighted.bins == repeated.bins
    expanded = [value for value, weight in pairs for _ in range(weight)]
    assert weighted.count == len(expanded)
    for q in QUANTILES:
        assert (
            relative_error(weighted.quantile(q), exact_percentile(expanded, q)) <= 0.01
        )


def test_fractional_weights_are_kept_exactly():
    sketch = QuantileSketch()

    sketch.add(5.0, weight=1 / 3)
    sketch.add(5.0, weight=1 / 3)
    sketch.add(50.0, weight=2.5)

    assert sketch.bins[bucket_key(5.0)] == pytest.approx(2 / 3)
    assert sketch.count == pytest.approx(2 / 3 + 2.5)
    assert relative_error(sketch.quantile(0.9), 50.0) <= BOUND


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param([1.0, 1.0, 3.0], id="int-counts"),
        pytest.param([0.1, 10.0, 1 / 3], id="float-counts"),
        pytest.param([2.0**32, 1.0, 1.0], id="count-beyond-uint32"),
    ],
)
def test_serialization_round_trip(weights):
    sketch = QuantileSketch()
    for i, weight in enumerate(weights):
        sketch.add(10.0 ** (i - 1), weight=weight)
        sketch.add(0.0, weight=weight)

    copy = QuantileSketch.from_bytes(sketch.to_bytes())

    assert copy.bins == sketch.bins
    assert copy.zero_count == sketch.zero_count
    assert copy.quantiles(QUANTILES) == sketch.quantiles(QUANTILES)


def test_serialization_of_an_empty_sketch():
    copy = QuantileSketch.from_bytes(QuantileSketch().to_bytes())

    assert copy.bins == {}
    assert copy.zero_count == 0
    assert copy.quantile(0.5) is None


def test_unknown_format_version_is_rejected():
    data = bytearray(QuantileSketch.of([1.0]).to_bytes())
    data[0] = 99

    with pytest.raises(ValueError, match="99"):
        QuantileSketch.from_bytes(bytes(data))


def test_merge_serialized_equals_merge_of_sketches():
    left = QuantileSketch.of([1.0, 2.0, 300.0, 0.0])
    right = QuantileSketch.of([2.0, 7.5])
    right.add(40.0, weight=0.25)

    merged = QuantileSketch.from_bytes(
        merge_serialized(left.to_bytes(), right.to_bytes())
    )

    expected = QuantileSketch().merge(left).merge(right)
    assert merged.bins == expected.bins
    assert merged.zero_count == expected.zero_count


def test_empty_sketch_has_no_quantiles():
    sketch = QuantileSketch()

    assert sketch.count == 0
    assert sketch.quantile(0.5) is None
    assert sketch.quantiles(QUANTILES) == [None, None, None]


def test_zero_values_report_zero():
    sketch = QuantileSketch.of([0.0] * 60 + [100.0] * 40)

    assert sketch.zero_count == 60
    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantiles([0.5, 0.95]) == [0.0, sketch.quantile(0.95)]
    assert relative_error(sketch.quantile(0.95), 100.0) <= BOUND


def test_only_zeros():
    sketch = QuantileSketch.of([0.0, 0.0, 0.0])

    assert sketch.quantiles(QUANTILES) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "value", [1e-6, 0.001, 0.37, 1.0, 9.99, 10.0, 123.456, 65_536.0, 3.2e9]
)
def test_every_bucket_represents_its_values_within_accuracy(value):
    key = bucket_key(value)

    assert relative_error(bucket_value(key), value) <= BOUND
    assert QuantileSketch.of([value]).quantile(0.5) == bucket_value(key)


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_merge_bytes_equals_merge_of_deserialized(weight):
    rng = random.Random(11)
    parts = [QuantileSketch() for _ in range(4)]
    for part in parts:
        for value in lognormal(rng, 300) + [0.0]:
            part.add(value, weight)
    expected = QuantileSketch()
    merged = QuantileSketch()

    for part in parts:
        expected.merge(QuantileSketch.from_bytes(part.to_bytes()))
        assert merged.merge_bytes(part.to_bytes()) is merged

    assert merged.bins == expected.bins
    assert merged.zero_count == expected.zero_count
    assert merged.to_bytes() == expected.to_bytes()


def test_merge_bytes_of_empty_sketch_changes_nothing():
    sketch = QuantileSketch.of([1.0, 2.0, 3.0])
    before = sketch.to_bytes()

    sketch.merge_bytes(QuantileSketch().to_bytes())

    assert sketch.to_bytes() == before


def test_merge_bytes_rejects_unknown_version():
    data = bytearray(QuantileSketch.of([1.0]).to_bytes())
    data[0] = 99

    with pytest.raises(ValueError, match="version 99"):
        QuantileSketch().merge_bytes(bytes(data))


def test_high_percentiles_of_a_few_samples_are_their_largest():
    sketch = QuantileSketch.of([0.345924, 3.104093])
    p50, p95, p99 = sketch.quantiles([0.5, 0.95, 0.99])
    assert relative_error(p50, 0.345924) <= 0.01
    assert relative_error(p95, 3.104093) <= 0.01
    assert relative_error(p99, 3.104093) <= 0.01
    blob = sketch.to_bytes()
    assert serialized_quantiles(blob, [0.5, 0.95, 0.99]) == [p50, p95, p99]


def test_p95_of_a_skewed_handful_is_not_below_their_average():
    values = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 2.0, 2.32]
    sketch = QuantileSketch.of(values)
    average = sum(values) / len(values)
    assert sketch.quantile(0.95) >= average
    assert relative_error(sketch.quantile(0.95), 2.32) <= 0.01
    assert relative_error(sketch.quantile(0.5), 0.7) <= 0.01
    assert sketch.quantile(0.0) == pytest.approx(0.4, rel=0.01)
