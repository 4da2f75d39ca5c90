"""Merges of closed days kept per worker: reused only while the rows are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metrics_store import closed_days
from metrics_store.ranges import parse_query
from metrics_store.store import MetricsStore
from metrics_store.summaries import summarize, summarize_with_total
from metrics_store.timebuckets import DAY, HOUR
from tests.store_helpers import make_sample, write_samples

MIDNIGHT = datetime(2024, 3, 10, tzinfo=UTC).timestamp()
NOW = MIDNIGHT + 5 * HOUR


@pytest.fixture(autouse=True)
def empty_cache():
    closed_days.clear()
    yield
    closed_days.clear()


def open_store(path, values) -> MetricsStore:
    store = MetricsStore(path)
    samples = [
        make_sample(MIDNIGHT - (i % 20) * DAY - 7 * HOUR + i, value, name=f"v{i % 2}")
        for i, value in enumerate(values)
    ]
    write_samples(store, samples)
    store.rollup_hours()
    return store


def tables(store: MetricsStore, preset: str = "30d"):
    time_range = parse_query({"range": preset}, NOW).time_range
    with store.reading() as conn:
        return (
            summarize(conn, time_range, "http"),
            summarize(conn, time_range, "http", group="labels"),
            summarize_with_total(conn, time_range, "http"),
        )


def test_repeated_summaries_are_equal_and_reuse_the_merge(tmp_path):
    store = open_store(tmp_path / "metrics.db", [float(v) for v in range(1, 400)])

    first = tables(store)
    cached = len(closed_days._cache)
    second = tables(store)

    assert cached == 2  # one merge per series over its closed days
    assert first == second
    assert first[2][1].count == 399
    store.close()


def test_a_late_sample_in_a_closed_day_shows_before_and_after_its_rollup(tmp_path):
    store = open_store(tmp_path / "metrics.db", [float(v) for v in range(1, 400)])
    before = tables(store)[2][1]

    late = make_sample(MIDNIGHT - 3 * DAY - 7 * HOUR + 1, 5000.0, name="v1")
    write_samples(store, [late])
    dirty = tables(store)[2][1]
    store.rollup_hours()
    rebuilt = tables(store)[2][1]

    assert before.count == 399 and before.max == 399.0
    for summary in (dirty, rebuilt):
        assert summary.count == 400
        assert summary.max == 5000.0
        assert summary.sum == pytest.approx(before.sum + 5000.0)
    assert rebuilt == dirty
    store.close()


def test_databases_never_share_merges(tmp_path):
    small = open_store(tmp_path / "small.db", [1.0] * 300)
    large = open_store(tmp_path / "large.db", [100.0] * 300)

    # Same series, days and counts: only the database tells them apart.
    small_total = tables(small)[2][1]
    large_total = tables(large)[2][1]

    assert small_total.count == large_total.count == 300
    assert small_total.p50 == pytest.approx(1.0, rel=0.01)
    assert large_total.p50 == pytest.approx(100.0, rel=0.01)
    small.close()
    large.close()


def test_the_cache_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(closed_days, "MAX_ENTRIES", 1)
    store = open_store(tmp_path / "metrics.db", [float(v) for v in range(1, 100)])

    tables(store)

    assert len(closed_days._cache) == 1
    store.close()
