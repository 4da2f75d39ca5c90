"""Day rollups: rebuilt from hours, pruned with them, used by long summaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metrics_store.ranges import parse_query
from metrics_store.retention import RetentionPolicy, prune
from metrics_store.sketch import QuantileSketch
from metrics_store.summaries import summarize, summarize_with_total, top_by_total
from metrics_store.timebuckets import DAY, HOUR
from tests.store_helpers import make_sample, query_all, read_rollup, write_samples

MIDNIGHT = datetime(2024, 3, 10, tzinfo=UTC).timestamp()


def spread_samples(days: int) -> list[tuple]:
    """Samples every 5 hours and 7 minutes over ``days`` days, two kinds."""
    samples = []
    for i in range(days * 24 * 60 // 307):
        ts = MIDNIGHT - days * DAY + i * 307 * 60
        samples.append(make_sample(ts, 1.0 + i % 97, name=f"view_{i % 3}"))
        samples.append(make_sample(ts, 0.5 * (i % 13), kind="db", name="SELECT ?"))
    return samples


def test_day_rows_are_the_merge_of_their_hours(db_path, store):
    write_samples(store, spread_samples(4))

    store.rollup_hours()

    hours = read_rollup(db_path, "rollup_hour", totals=True)
    days = read_rollup(db_path, "rollup_day", totals=True)
    assert days
    for (day, kind, name, labels), row in days.items():
        parts = [
            r
            for (hour, *key), r in hours.items()
            if tuple(key) == (kind, name, labels) and day <= hour < day + DAY
        ]
        merged = QuantileSketch()
        for part in parts:
            merged.merge(part.sketch)
        assert row.count == sum(p.count for p in parts)
        assert row.sum == pytest.approx(sum(p.sum for p in parts), rel=1e-12)
        assert (row.min, row.max) == (
            min(p.min for p in parts),
            max(p.max for p in parts),
        )
        assert row.sketch.bins == merged.bins
    assert query_all(db_path, "SELECT count(*) FROM dirty_days") == [(0,)]


def test_a_late_minute_marks_its_day_for_the_next_rollup(db_path, store):
    write_samples(store, spread_samples(2))
    store.rollup_hours()
    late = MIDNIGHT - DAY + 5 * HOUR + 30

    write_samples(store, [make_sample(late, 42.0, name="view_0")])
    store.rollup_hours()

    day = read_rollup(db_path, "rollup_day")[
        (MIDNIGHT - DAY, "http", "view_0", "method=GET;status=2xx")
    ]
    hours = read_rollup(db_path, "rollup_hour")
    assert day.count == sum(
        r.count
        for (hour, _, name, _), r in hours.items()
        if name == "view_0" and MIDNIGHT - DAY <= hour < MIDNIGHT
    )


def test_day_tier_is_pruned_with_whole_days_of_hours(db_path, store):
    write_samples(store, spread_samples(6))
    store.rollup_hours()
    now = MIDNIGHT + 7 * HOUR
    policy = RetentionPolicy(minute_days=1, hour_days=3.1, events_days=1)
    cutoff = policy.cutoffs(now)["day"]

    deleted = prune(store, policy, now)

    assert cutoff % DAY == 0 and cutoff == policy.cutoffs(now)["hour"]
    assert deleted["day"] > 0
    days = {t for (t,) in query_all(db_path, "SELECT bucket FROM rollup_day")}
    hours = {t for (t,) in query_all(db_path, "SELECT bucket FROM rollup_hour")}
    assert min(days) == cutoff
    assert {h - h % DAY for h in hours} == days


@pytest.mark.parametrize("preset", ["7d", "30d"])
def test_long_summaries_equal_those_computed_from_hours(db_path, store, preset):
    write_samples(store, spread_samples(12))
    store.rollup_hours()
    time_range = parse_query({"range": preset}, MIDNIGHT + 5 * HOUR).time_range

    def tables():
        with store.reading() as conn:
            return (
                summarize(conn, time_range, "http"),
                summarize(conn, time_range, "http", group="labels"),
                summarize_with_total(conn, time_range, "db"),
                top_by_total(conn, time_range, "http", 2),
            )

    from_days = tables()
    with store.transaction() as conn:
        # A dirty day is read from its hours: the same tables from hours only.
        conn.execute("INSERT INTO dirty_days SELECT DISTINCT bucket FROM rollup_day")
    from_hours = tables()

    assert from_days == from_hours
    assert from_days[0] and from_days[2][1] is not None
