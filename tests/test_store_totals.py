"""Per-kind total series: written at flush, exact, and kept out of listings."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from metrics_store.queries import merged_totals, query_series
from metrics_store.ranges import MetricsQuery, parse_query
from metrics_store.sketch import QuantileSketch
from metrics_store.store import TOTAL_NAME, MetricsStore, default_migrations_dir
from metrics_store.summaries import summarize, top_by_total
from tests.store_helpers import make_sample, query_all, read_rollup, write_samples

NOON = datetime(2024, 3, 10, 12, 0, tzinfo=UTC).timestamp()


def mixed_samples(offset: float = 0.0) -> list[tuple]:
    samples = []
    for i in range(40):
        ts = NOON + offset + i * 7
        samples.append(make_sample(ts, 1.0 + i, name="public.index"))
        samples.append(make_sample(ts, 50.0 + i, name="admin.index", weight=2.5))
        samples.append(make_sample(ts, 0.0, kind="db", name="SELECT ?", labels=""))
        samples.append(make_sample(ts, 9.0, kind="process", name="threads"))
    return samples


def assert_totals_exact(rows: dict) -> None:
    """Every total row is the exact merge of its kind's rows in that bucket."""
    for (bucket, kind, name, _labels), total in rows.items():
        if name != TOTAL_NAME:
            continue
        parts = [r for k, r in rows.items() if k[:2] == (bucket, kind) and k[2] != name]
        merged = QuantileSketch()
        for part in parts:
            merged.merge(part.sketch)
        assert total.count == sum(p.count for p in parts)
        assert total.sum == pytest.approx(sum(p.sum for p in parts), rel=1e-12)
        assert total.min == min(p.min for p in parts)
        assert total.max == max(p.max for p in parts)
        assert total.sketch.bins == merged.bins
        assert total.sketch.zero_count == merged.zero_count


def test_flush_writes_one_exact_total_per_kind_and_minute(db_path, store):
    write_samples(store, mixed_samples())

    rows = read_rollup(db_path, totals=True)

    totals = {(k[0], k[1]) for k in rows if k[2] == TOTAL_NAME}
    minutes = {k[0] for k in rows}
    assert totals == {(m, kind) for m in minutes for kind in ("http", "db")}
    assert_totals_exact(rows)


def test_process_gauges_get_no_total(db_path, store):
    write_samples(store, [make_sample(NOON, 5.0, kind="process", name="threads")])

    assert query_all(db_path, "SELECT kind, name FROM series") == [
        ("process", "threads")
    ]


def test_totals_stay_exact_when_two_processes_flush_the_same_minutes(db_path):
    first, second = MetricsStore(db_path), MetricsStore(db_path)

    write_samples(first, mixed_samples())
    write_samples(second, mixed_samples(offset=3.0))
    write_samples(first, mixed_samples(offset=5.0))

    rows = read_rollup(db_path, totals=True)
    assert_totals_exact(rows)
    (total,) = query_all(
        db_path,
        "SELECT sum(r.count) FROM rollup_minute r JOIN series s "
        "ON s.id = r.series_id WHERE s.kind = 'http' AND s.name = ?",
        (TOTAL_NAME,),
    )
    assert total == (3 * 40 * (1 + 2.5),)


def test_totals_include_samples_sent_to_overflow(db_path):
    store = MetricsStore(db_path, max_series=2)
    names = ("a", "b", "c", "d")

    write_samples(
        store, [make_sample(NOON, float(i + 1), name=n) for i, n in enumerate(names)]
    )

    rows = read_rollup(db_path, totals=True)
    assert rows[(NOON, "http", TOTAL_NAME, "")].count == 4
    assert store.counter("overflow_samples") == 2
    assert_totals_exact(rows)


def test_hour_rollup_keeps_totals_exact(db_path, store):
    write_samples(store, mixed_samples())
    write_samples(store, mixed_samples(offset=1800.0))

    store.rollup_hours()

    hours = read_rollup(db_path, "rollup_hour", totals=True)
    assert_totals_exact(hours)
    assert hours[(NOON, "http", TOTAL_NAME, "")].count == 2 * 40 * 3.5


def test_listings_leave_the_total_out_unless_asked_by_name(store):
    write_samples(store, mixed_samples())
    query = parse_query({"range": "1h"}, NOON + 600)
    time_range = query.time_range

    with store.reading() as conn:
        listed = {(s.kind, s.name) for s in query_series(conn, query)}
        asked = query_series(conn, MetricsQuery(time_range, "http", TOTAL_NAME))
        names = {s.name for s in summarize(conn, time_range, "http")}
        top = {s.name for s in top_by_total(conn, time_range, "db", 5)}

    assert TOTAL_NAME not in {name for _, name in listed}
    assert [s.name for s in asked] == [TOTAL_NAME]
    assert names == {"public.index", "admin.index"}
    assert top == {"SELECT ?"}


def test_merged_totals_read_the_total_and_equal_the_merge_of_every_series(store):
    write_samples(store, mixed_samples())
    time_range = parse_query({"range": "1h"}, NOON + 600).time_range

    with store.reading() as conn:
        from_total = merged_totals(conn, time_range, "http")
        # Merging the two names one by one is what the total replaces.
        by_name = [
            merged_totals(conn, time_range, "http", name)
            for name in ("public.index", "admin.index")
        ]

    for point in from_total:
        parts = [p for points in by_name for p in points if p.bucket == point.bucket]
        assert point.count == sum(p.count for p in parts)
        assert point.max == max(p.max for p in parts)


def test_migration_backfills_totals_of_existing_rows(db_path, tmp_path):
    initial = tmp_path / "initial"
    initial.mkdir()
    # Every migration but the totals one: the hour rollup of this code needs
    # the day tier, and the totals migration is what is being tested.
    for script in default_migrations_dir().glob("*.sql"):
        if "kind_totals" not in script.name:
            shutil.copy(script, initial)
    old = MetricsStore(db_path, migrations_dir=initial)
    write_samples(old, mixed_samples())
    old.rollup_hours()
    with old.transaction() as conn:
        # What a database written before totals existed looks like.
        for table in ("rollup_minute", "rollup_hour"):
            conn.execute(
                f"DELETE FROM {table} WHERE series_id IN "
                "(SELECT id FROM series WHERE name = ?)",
                (TOTAL_NAME,),
            )
        conn.execute("DELETE FROM series WHERE name = ?", (TOTAL_NAME,))
    old.close()
    assert read_rollup(db_path, totals=True).keys() == read_rollup(db_path).keys()

    upgraded = MetricsStore(db_path)
    with upgraded.reading():
        pass
    upgraded.close()

    assert_totals_exact(read_rollup(db_path, totals=True))
    assert_totals_exact(read_rollup(db_path, "rollup_hour", totals=True))
    assert (
        read_rollup(db_path, "rollup_hour", totals=True)[
            (NOON, "db", TOTAL_NAME, "")
        ].count
        == 40
    )
