"""Hour rollups: each hour row is exactly the merge of its minute rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from metrics_store.sketch import QuantileSketch
from metrics_store.store import MetricsStore
from tests.store_helpers import (
    LABELS,
    exact_percentile,
    make_sample,
    query_all,
    read_rollup,
    relative_error,
    write_samples,
)

HOUR0 = int(datetime(2024, 3, 10, 8, 0, tzinfo=UTC).timestamp())
KEY = ("http", "public.index", LABELS)


def random_samples(rng: random.Random, count: int, hours: int) -> list[tuple]:
    """Samples over ``hours`` for three series; values are exact in binary."""
    names = ("public.index", "public.note", "feed.rss")
    return [
        make_sample(
            HOUR0 + rng.uniform(0, hours * 3600),
            rng.randint(1, 4000) / 4,
            name=rng.choice(names),
        )
        for _ in range(count)
    ]


def merge_minutes(minutes: dict) -> dict:
    """Merge minute rows by hour, the way the hour rows must come out."""
    merged: dict = {}
    for (bucket, *key), row in minutes.items():
        hour = (bucket // 3600 * 3600, *key)
        count, total, low, high, sketch = merged.get(
            hour, (0.0, 0.0, float("inf"), float("-inf"), QuantileSketch())
        )
        merged[hour] = (
            count + row.count,
            total + row.sum,
            min(low, row.min),
            max(high, row.max),
            sketch.merge(row.sketch),
        )
    return merged


def test_hour_rows_equal_the_merge_of_their_minutes(db_path):
    rng = random.Random(99)
    samples = random_samples(rng, 6000, hours=3)
    handles = [MetricsStore(db_path), MetricsStore(db_path)]
    for start in range(0, len(samples), 500):
        write_samples(handles[start // 500 % 2], samples[start : start + 500])

    done = handles[0].rollup_hours()

    hours = read_rollup(db_path, "rollup_hour")
    expected = merge_minutes(read_rollup(db_path))
    assert done == 3
    assert set(hours) == set(expected)
    for key, row in hours.items():
        count, total, low, high, sketch = expected[key]
        assert (row.count, row.sum, row.min, row.max) == (count, total, low, high)
        assert row.sketch.bins == sketch.bins
    assert sum(r.count for r in hours.values()) == len(samples)


def test_hour_percentiles_are_accurate_over_the_union(db_path, store):
    rng = random.Random(5)
    values = [rng.lognormvariate(3.0, 1.0) for _ in range(12_000)]
    write_samples(
        store, [make_sample(HOUR0 + i * 0.3, v) for i, v in enumerate(values)]
    )

    store.rollup_hours()

    row = read_rollup(db_path, "rollup_hour")[(HOUR0, *KEY)]
    assert row.count == len(values)
    for q, estimate in zip(
        (0.5, 0.95, 0.99), row.sketch.quantiles([0.5, 0.95, 0.99]), strict=True
    ):
        assert relative_error(estimate, exact_percentile(values, q)) <= 0.01


def test_sparse_series_still_gets_hour_rows(db_path, store):
    stamps = [HOUR0 + 5 * 60 + i * 600 for i in range(30)]
    write_samples(store, [make_sample(ts, 7.0) for ts in stamps])

    store.rollup_hours()

    hours = read_rollup(db_path, "rollup_hour")
    expected: dict[int, int] = {}
    for ts in stamps:
        expected[ts // 3600 * 3600] = expected.get(ts // 3600 * 3600, 0) + 1
    assert {k[0]: r.count for k, r in hours.items()} == expected
    assert set(expected.values()) == {6}
    assert len(read_rollup(db_path)) == 30


def test_rollup_only_redoes_changed_hours(db_path, store):
    write_samples(store, [make_sample(HOUR0 + h * 3600, 1.0) for h in range(4)])
    assert store.rollup_hours() == 4
    assert store.rollup_hours() == 0
    assert query_all(db_path, "SELECT count(*) FROM dirty_hours") == [(0,)]

    write_samples(store, [make_sample(HOUR0 + 2 * 3600 + 59 * 60, 3.0)])

    assert store.rollup_hours() == 1
    hours = read_rollup(db_path, "rollup_hour")
    assert hours[(HOUR0 + 2 * 3600, *KEY)].count == 2
    assert hours[(HOUR0 + 2 * 3600, *KEY)].max == 3.0
    assert [hours[(HOUR0 + h * 3600, *KEY)].count for h in (0, 1, 3)] == [1, 1, 1]


def test_late_minute_after_rollup_is_not_double_counted(db_path, store):
    write_samples(store, [make_sample(HOUR0 + 10, 2.0)] * 5)
    store.rollup_hours()

    write_samples(store, [make_sample(HOUR0 + 10, 4.0)] * 3)
    store.rollup_hours()
    store.rollup_hours()

    row = read_rollup(db_path, "rollup_hour")[(HOUR0, *KEY)]
    assert (row.count, row.sum) == (8, 22.0)


def test_all_hours_rebuilds_without_dirty_marks(db_path, store):
    write_samples(store, [make_sample(HOUR0 + h * 3600, 1.0) for h in range(3)])
    store.rollup_hours()
    conn = store.connection()
    conn.execute("DELETE FROM rollup_hour")

    assert store.rollup_hours() == 0
    assert store.rollup_hours(all_hours=True) == 3

    assert len(read_rollup(db_path, "rollup_hour")) == 3
