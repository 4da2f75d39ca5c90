"""Retention: each tier loses exactly its expired rows, in bounded batches."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from metrics_store.aggregate import PendingBatch
from metrics_store.buffer import EVENT_SLOW
from metrics_store.retention import (
    PROCESS_KEEP_SECONDS,
    RetentionPolicy,
    count_expired,
    prune,
)
from metrics_store.store import ProcessStatus
from metrics_store.timebuckets import DAY, HOUR, MINUTE
from tests.store_helpers import (
    LABELS,
    make_sample,
    query_all,
    read_rollup,
    release_pages_worker,
    write_samples,
)

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC).timestamp()
POLICY = RetentionPolicy(minute_days=1, hour_days=3, events_days=2)
TIER_QUERIES = {
    "minute": "SELECT bucket FROM rollup_minute",
    "hour": "SELECT bucket FROM rollup_hour",
    "events": "SELECT ts FROM events",
}


def tier_times(db_path) -> dict[str, list[float]]:
    return {
        tier: sorted(t for (t,) in query_all(db_path, sql))
        for tier, sql in TIER_QUERIES.items()
    }


@pytest.fixture
def aged_store(store):
    """Rows in every tier on both sides of each tier's cutoff, and on it."""
    cutoffs = POLICY.cutoffs(NOW)
    samples = []
    for offset in (-120, -2, -1, 0, 1, 30):
        samples.append(make_sample(cutoffs["minute"] + offset * MINUTE + 5, 1.0))
    for offset in (-5, -2, -1, 0, 1, 4):
        samples.append(make_sample(cutoffs["hour"] + offset * HOUR + 5, 1.0))
    for offset in (-86_400.0, -1.0, -0.001, 0.0, 0.001, 100.0):
        samples.append(make_sample(cutoffs["events"] + offset, 900.0, event=EVENT_SLOW))
    write_samples(store, samples)
    store.rollup_hours(all_hours=True)
    return store


def test_prune_drops_exactly_the_expired_rows(db_path, aged_store):
    before = tier_times(db_path)
    cutoffs = POLICY.cutoffs(NOW)

    deleted = prune(aged_store, POLICY, NOW)

    after = tier_times(db_path)
    for tier, times in before.items():
        kept = [t for t in times if t >= cutoffs[tier]]
        assert after[tier] == kept
        assert deleted[tier] == len(times) - len(kept)
        assert cutoffs[tier] in kept
        assert 0 < len(kept) < len(times)


def test_count_expired_matches_prune(db_path, aged_store):
    expected = count_expired(aged_store, POLICY, NOW)

    deleted = prune(aged_store, POLICY, NOW)

    assert deleted == expected
    assert all(expected.values())
    assert count_expired(aged_store, POLICY, NOW) == {
        "minute": 0,
        "hour": 0,
        "day": 0,
        "events": 0,
    }


def test_prune_twice_deletes_nothing_more(db_path, aged_store):
    prune(aged_store, POLICY, NOW)
    before = tier_times(db_path)

    assert prune(aged_store, POLICY, NOW) == {
        "minute": 0,
        "hour": 0,
        "day": 0,
        "events": 0,
    }
    assert tier_times(db_path) == before


@pytest.mark.parametrize("batch_size", [1, 7, 100, 5000])
def test_small_batches_still_delete_the_whole_backlog(db_path, store, batch_size):
    backlog = 130
    old = NOW - 10 * DAY
    samples = [make_sample(old + i * MINUTE, 1.0) for i in range(backlog)]
    samples += [make_sample(old + i, 950.0, event=EVENT_SLOW) for i in range(backlog)]
    samples.append(make_sample(NOW - 30, 1.0))
    write_samples(store, samples)
    calls: list[tuple[str, int]] = []

    deleted = prune(
        store, POLICY, NOW, batch_size=batch_size, progress=lambda *a: calls.append(a)
    )

    # Every minute holds the series' row and its kind's total row. The three
    # hours they span were never rolled up: they are, before their minutes
    # go, and then fall to the hour tier's shorter retention.
    rows = 2 * backlog
    assert deleted == {"minute": rows, "hour": 2 * 3, "day": 0, "events": backlog}
    assert tier_times(db_path)["minute"] == [NOW - 60, NOW - 60]
    minute_calls = [done for tier, done in calls if tier == "minute"]
    assert minute_calls == sorted(minute_calls)
    assert minute_calls[-1] == rows
    assert len(minute_calls) == 3  # an hour of minutes at a time
    event_calls = [done for tier, done in calls if tier == "events"]
    assert len(event_calls) >= backlog // batch_size


def test_prune_forgets_old_processes_and_job_runs(db_path, store):
    with freeze_time(datetime.fromtimestamp(NOW - PROCESS_KEEP_SECONDS - 60, UTC)):
        store.write_batch(PendingBatch(), ProcessStatus(pid=111, started=NOW - 2 * DAY))
        store.claim_job("prune", 1)
    with freeze_time(datetime.fromtimestamp(NOW - 3 * DAY, UTC)):
        store.claim_job("prune", 0)
    with freeze_time(datetime.fromtimestamp(NOW - 60, UTC)):
        store.write_batch(PendingBatch(), ProcessStatus(pid=222, started=NOW - DAY))
        store.claim_job("prune", 2)

    prune(store, POLICY, NOW)

    assert query_all(db_path, "SELECT pid FROM processes") == [(222,)]
    assert query_all(db_path, "SELECT period FROM job_runs ORDER BY period") == [
        (1,),
        (2,),
    ]


def test_prune_hands_free_pages_back(db_path, store):
    old = NOW - 30 * DAY
    for chunk in range(10):
        write_samples(
            store,
            [
                make_sample(old + (chunk * 300 + i) * MINUTE, 1.0 + v * 7.3)
                for i in range(300)
                for v in range(0, 60, 3)
            ],
        )
    store.rollup_hours()
    (pages_before,) = query_all(db_path, "PRAGMA page_count")[0]

    prune(store, POLICY, NOW, vacuum_pages=50)

    with store.reading() as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
        (pages_after,) = conn.execute("PRAGMA page_count").fetchone()
    assert pages_after < pages_before / 4


def test_page_release_ends_on_a_file_without_incremental_vacuum(tmp_path):
    # A metrics file made by another tool or an older version has
    # auto_vacuum NONE; incremental_vacuum then frees nothing.
    path = tmp_path / "metrics.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE scratch (blob BLOB)")
    conn.executemany("INSERT INTO scratch VALUES (?)", [(b"x" * 4000,)] * 50)
    conn.commit()
    conn.execute("DELETE FROM scratch")
    conn.commit()
    conn.close()
    worker = multiprocessing.get_context("spawn").Process(
        target=release_pages_worker, args=(str(path),)
    )

    worker.start()
    worker.join(timeout=5)
    hung = worker.is_alive()
    if hung:
        worker.kill()
        worker.join()

    assert not hung, "release_free_pages never returned"
    assert worker.exitcode == 0


def test_rebuilding_all_hours_after_prune_keeps_hour_totals(db_path, store):
    now = NOW + 30 * MINUTE  # the minute cutoff falls mid-hour
    old_hour = now - POLICY.minute_days * DAY - 30 * MINUTE
    write_samples(store, [make_sample(old_hour + m * MINUTE, 1.0) for m in range(60)])
    store.rollup_hours()
    prune(store, POLICY, now)

    store.rollup_hours(all_hours=True)

    hours = read_rollup(db_path, "rollup_hour")
    assert [r.count for r in hours.values()] == [60]


def test_a_late_sample_into_a_pruned_hour_is_added_not_substituted(db_path, store):
    hour = NOW - 2 * DAY  # past minute retention, inside hour retention
    write_samples(store, [make_sample(hour + i * MINUTE, 10.0 + i) for i in range(3)])
    store.rollup_hours()
    prune(store, POLICY, NOW)
    assert tier_times(db_path)["minute"] == []
    key = (hour, "http", "public.index", LABELS)
    assert read_rollup(db_path, "rollup_hour")[key].count == 3

    write_samples(store, [make_sample(hour + 30 * MINUTE, 500.0)])
    store.rollup_hours()

    row = read_rollup(db_path, "rollup_hour")[key]
    assert (row.count, row.sum, row.min, row.max) == (4, 10 + 11 + 12 + 500, 10, 500)
    assert row.sketch.count == 4
    # The late minute was folded in and removed, so rolling up again, even
    # everything, changes nothing.
    assert tier_times(db_path)["minute"] == []
    store.rollup_hours(all_hours=True)
    assert read_rollup(db_path, "rollup_hour")[key].count == 4
    day = read_rollup(db_path, "rollup_day")[(hour - hour % DAY, *key[1:])]
    assert day.count == 4


def test_prune_rolls_up_hours_before_deleting_their_minutes(db_path, store):
    hour = NOW - 2 * DAY
    write_samples(store, [make_sample(hour + i * MINUTE, 5.0) for i in range(50)])

    prune(store, POLICY, NOW)  # the rollup never ran for that hour

    assert tier_times(db_path)["minute"] == []
    row = read_rollup(db_path, "rollup_hour")[(hour, "http", "public.index", LABELS)]
    assert row.count == 50 and row.sum == 250.0


def test_a_pruned_hour_reads_its_row_plus_late_minutes_before_the_rollup(
    db_path, store
):
    from metrics_store.queries import query_series
    from metrics_store.ranges import MetricsQuery, TimeRange

    hour = NOW - 2 * DAY
    write_samples(store, [make_sample(hour + i * MINUTE, 10.0) for i in range(3)])
    store.rollup_hours()
    prune(store, POLICY, NOW)
    write_samples(store, [make_sample(hour + 30 * MINUTE, 20.0)])  # not rolled up

    query = MetricsQuery(TimeRange(hour, hour + HOUR, "hour"), "http")
    with store.reading() as conn:
        (series,) = [s for s in query_series(conn, query) if s.name == "public.index"]
    (point,) = series.points
    assert (point.count, point.sum, point.max) == (4, 50.0, 20.0)
