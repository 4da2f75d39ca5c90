"""Charts over long ranges: wider buckets, rows read by key, exact counts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from metrics_store.queries import (
    Merger,
    averages_by_labels,
    counts_by_label,
    merged_totals,
    merged_totals_by_name,
    query_series,
    sketch_quantiles,
)
from metrics_store.ranges import PRESETS, MetricsQuery, TimeRange, parse_query
from metrics_store.row_sources import covering_rows_sql
from metrics_store.sketch import QuantileSketch, serialized_quantiles
from metrics_store.store import MetricsStore
from metrics_store.timebuckets import DAY, HOUR, MINUTE
from starpunk.monitoring.panels import (
    MAX_CHART_POINTS,
    RateScale,
    build_overview,
    chart_step,
)
from tests.store_helpers import (
    exact_percentile,
    make_sample,
    relative_error,
    write_samples,
)

MIDNIGHT = datetime(2024, 3, 10, tzinfo=UTC).timestamp()
# Five hours into the day: today is partly rolled up, partly dirty.
NOW = MIDNIGHT + 5 * HOUR + 20 * MINUTE
STATUSES = ("method=GET;status=2xx", "method=GET;status=5xx")


@pytest.fixture
def store(tmp_path):
    handle = MetricsStore(tmp_path / "metrics.db")
    yield handle
    handle.close()


def history(days: int) -> list[tuple]:
    """Requests, statements and a gauge every 37 minutes for ``days`` days."""
    samples = []
    start = MIDNIGHT - days * DAY
    for i in range(int((NOW - start) // (37 * MINUTE))):
        ts = start + i * 37 * MINUTE
        labels = STATUSES[i % 7 == 0]
        name = f"view_{i % 3}"
        samples.append(make_sample(ts, 1.0 + i % 89, name=name, labels=labels))
        samples.append(make_sample(ts, 0.2 + i % 11, kind="db", name="SELECT ?"))
        samples.append(
            make_sample(ts, 5e6 + i, kind="process", name="rss_bytes", labels="pid=7")
        )
    return samples


@pytest.fixture
def seeded(store):
    samples = history(40)
    write_samples(store, samples)
    store.rollup_hours()
    # A late flush into a closed hour of yesterday and the current hour:
    # both days must now be read from hours, both hours from minutes.
    late = [
        make_sample(MIDNIGHT - 3 * HOUR + 30, 777.0, name="view_1"),
        make_sample(NOW - 60, 3.0, name="view_2"),
    ]
    write_samples(store, late)
    return samples + late


def http_values(samples, start: float, end: float) -> list[float]:
    return [s[4] for s in samples if s[1] == "http" and start <= s[0] < end]


@pytest.mark.parametrize("seed", range(6))
def test_sketch_quantiles_equal_the_sketch_s_own(seed):
    rng = random.Random(seed)
    sketch = QuantileSketch()
    for _ in range(rng.randint(1, 400)):
        value = rng.choice([0.0, rng.lognormvariate(0, 2)])
        sketch.add(value, rng.choice([1.0, 2.5, 10.0]))
    qs = (0.0, 0.5, 0.95, 0.99, 1.0)

    assert sketch_quantiles(sketch, qs) == sketch.quantiles(qs)
    assert serialized_quantiles(sketch.to_bytes(), qs) == sketch.quantiles(qs)


def test_an_empty_sketch_has_no_quantiles():
    assert sketch_quantiles(QuantileSketch(), (0.5, 0.99)) == [None, None]
    assert serialized_quantiles(QuantileSketch().to_bytes(), (0.5,)) == [None]


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_a_merger_of_any_number_of_rows_equals_the_merged_sketch(rows):
    rng = random.Random(rows)
    parts = [
        QuantileSketch.of(rng.uniform(1, 50) for _ in range(30)) for _ in range(rows)
    ]
    merger = Merger()
    for part in parts:
        merger.add(part.count, 1.0, 0.0, 100.0, part.to_bytes())
    merged = QuantileSketch()
    for part in parts:
        merged.merge(part)

    point = merger.point(0)

    assert [point.p50, point.p95, point.p99] == merged.quantiles((0.5, 0.95, 0.99))
    assert merger.merged_sketch().bins == merged.bins


@pytest.mark.parametrize(
    ("preset", "step"),
    [
        ("1h", MINUTE),
        ("6h", MINUTE),
        ("24h", HOUR),
        ("7d", HOUR),
        ("30d", DAY),
        ("90d", DAY),
    ],
)
def test_long_ranges_chart_wider_buckets(preset, step):
    time_range = parse_query({"range": preset}, NOW).time_range

    assert chart_step(time_range) == step
    assert step % time_range.step == 0
    assert -(-PRESETS[preset] // step) <= MAX_CHART_POINTS


@pytest.mark.parametrize("preset", ["7d", "30d"])
def test_wide_buckets_keep_counts_exact_and_percentiles_accurate(store, seeded, preset):
    time_range = parse_query({"range": preset}, NOW).time_range

    with store.reading() as conn:
        days = merged_totals(conn, time_range, "http", step=DAY)
        hours = merged_totals(conn, time_range, "http")

    assert sum(p.count for p in days) == sum(p.count for p in hours)
    for point in days:
        start = max(point.bucket, time_range.start)
        values = http_values(seeded, start, point.bucket + DAY)
        assert point.count == len(values)
        assert point.sum == pytest.approx(sum(values), rel=1e-9)
        assert point.max == max(values)
        for q, estimate in ((0.5, point.p50), (0.95, point.p95), (0.99, point.p99)):
            exact = exact_percentile(values, q)
            assert relative_error(estimate, exact) <= 0.01


def test_wide_buckets_equal_the_sum_of_their_hours(store, seeded):
    time_range = parse_query({"range": "30d"}, NOW).time_range

    with store.reading() as conn:
        by_day = counts_by_label(conn, time_range, "http", "status", step=DAY)
        by_hour = counts_by_label(conn, time_range, "http", "status")
        names = merged_totals_by_name(conn, time_range, "http", ["view_1"], step=DAY)
        one = merged_totals(conn, time_range, "http", "view_1", step=DAY)

    for status, hourly in by_hour.items():
        daily: dict[int, float] = {}
        for hour, count in hourly.items():
            daily[hour - hour % DAY] = daily.get(hour - hour % DAY, 0.0) + count
        assert by_day[status] == daily
    total = sum(sum(counts.values()) for counts in by_day.values())
    assert total == len(http_values(seeded, time_range.start, time_range.end))
    assert names["view_1"] == one


def test_gauge_averages_are_exact_means_per_worker(store, seeded):
    time_range = parse_query({"range": "24h"}, NOW).time_range

    with store.reading() as conn:
        averages = averages_by_labels(conn, time_range, "process", "rss_bytes")
        series = query_series(conn, MetricsQuery(time_range, "process", "rss_bytes"))

    (points,) = [s.points for s in series]
    assert list(averages) == ["pid=7"]
    assert averages["pid=7"] == pytest.approx({p.bucket: p.avg for p in points})


@pytest.mark.parametrize("width", [MINUTE, HOUR, DAY])
def test_rows_read_by_key_equal_rows_scanned(store, seeded, width):
    start, end = NOW - 20 * DAY - 7 * MINUTE, NOW
    if width == MINUTE:
        start = NOW - 5 * HOUR

    with store.reading() as conn:
        ids = [i for (i,) in conn.execute("SELECT id FROM series WHERE kind = 'db'")]
        scanned_sql, scanned_params = covering_rows_sql(conn, start, end, width)
        keyed_sql, keyed_params = covering_rows_sql(conn, start, end, width, ids)
        scanned = conn.execute(scanned_sql, scanned_params).fetchall()
        keyed = conn.execute(keyed_sql, keyed_params).fetchall()

    assert keyed
    assert sorted(keyed) == sorted(row for row in scanned if row[1] in ids)


def test_rates_of_a_partial_first_bucket_use_its_covered_minutes():
    time_range = TimeRange(MIDNIGHT + 18 * HOUR, MIDNIGHT + 3 * DAY, "hour")
    scale = RateScale(time_range, None, DAY)

    # The first day bucket holds only the range's last six hours of it.
    assert scale(MIDNIGHT, 360) == pytest.approx(1.0)
    assert scale(MIDNIGHT + DAY, 1440) == pytest.approx(1.0)


def test_a_long_overview_draws_day_buckets(store, seeded):
    query = parse_query({"range": "30d"}, NOW)

    with store.reading() as conn:
        view = build_overview(conn, query, NOW)

    svg = str(view.charts["requests"].svg)
    assert f'data-step="{DAY}"' in svg
    assert 'data-count="31"' in svg  # 30 days not aligned to midnight touch 31
    assert view.charts["rss_bytes"].points > 0
    assert view.charts["latency"].points == 3 * 31
