"""Flushing into minute rollups: UTC buckets, merges across processes, caps."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from metrics_store.buffer import EVENT_ERROR, EVENT_SLOW, SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.recorder import Recorder
from metrics_store.sketch import QuantileSketch
from metrics_store.store import (
    DETAIL_MAX_CHARS,
    MAX_EVENTS_PER_FLUSH,
    OVERFLOW_NAME,
    MetricsStore,
)
from tests.store_helpers import (
    LABELS,
    exact_percentile,
    make_flusher,
    make_raw,
    make_sample,
    query_all,
    read_rollup,
    relative_error,
    write_samples,
)

NOON = datetime(2024, 3, 10, 12, 0, tzinfo=UTC).timestamp()
KEY = ("http", "public.index", LABELS)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "metrics.db"


@pytest.fixture
def store(db_path):
    handle = MetricsStore(db_path)
    yield handle
    handle.close()


def process_handles(db_path, count: int):
    """One buffer, store handle and flusher per simulated worker process."""
    handles = []
    for _ in range(count):
        buffer = SampleBuffer()
        handles.append((buffer, make_flusher(buffer, MetricsStore(db_path))))
    return handles


@pytest.mark.parametrize("tz", ["UTC", "America/St_Johns", "Asia/Kolkata"])
def test_minute_and_hour_buckets_split_at_utc_boundaries(
    db_path, store, monkeypatch, tz
):
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    buffer = SampleBuffer()
    flusher = Flusher(buffer, store)

    with freeze_time("2024-03-10 11:59:59.999") as frozen:
        recorder = Recorder(buffer, clock=time.time)
        recorder.record("http", "public.index", LABELS, 10.0)
        frozen.move_to("2024-03-10 12:00:00")
        recorder.record("http", "public.index", LABELS, 30.0)
        frozen.move_to("2024-03-10 12:00:59.999")
        recorder.record("http", "public.index", LABELS, 50.0)
        assert flusher.flush()
    store.rollup_hours()
    monkeypatch.delenv("TZ")
    time.tzset()

    minutes = read_rollup(db_path)
    assert {k[0]: (r.count, r.sum) for k, r in minutes.items()} == {
        epoch("2024-03-10 11:59"): (1, 10.0),
        epoch("2024-03-10 12:00"): (2, 80.0),
    }
    hours = read_rollup(db_path, "rollup_hour")
    assert {k[0]: (r.count, r.sum) for k, r in hours.items()} == {
        epoch("2024-03-10 11:00"): (1, 10.0),
        epoch("2024-03-10 12:00"): (2, 80.0),
    }


def test_rows_from_two_processes_merge_into_one_minute(db_path):
    (buf_a, flush_a), (buf_b, flush_b) = process_handles(db_path, 2)
    values_a = [float(v) for v in range(1, 301)]
    values_b = [float(v) * 3.5 for v in range(1, 201)]
    for i, value in enumerate(values_a):
        buf_a.append(make_raw(NOON + i / 10, value))
    for i, value in enumerate(values_b):
        buf_b.append(make_raw(NOON + 59 - i / 10, value))

    assert flush_a.flush()
    assert flush_b.flush()

    rows = read_rollup(db_path)
    union = values_a + values_b
    assert list(rows) == [(NOON, *KEY)]
    row = rows[(NOON, *KEY)]
    assert row.count == len(union)
    assert row.sum == sum(union)
    assert (row.min, row.max) == (min(union), max(union))
    assert row.sketch.bins == QuantileSketch.of(union).bins


def test_repeated_flushes_of_one_process_accumulate(db_path, store):
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, store)
    for round_number in range(5):
        for i in range(10):
            buffer.append(make_raw(NOON + i, float(round_number * 10 + i + 1)))
        assert flusher.flush()

    row = read_rollup(db_path)[(NOON, *KEY)]
    assert row.count == 50
    assert row.sum == sum(range(1, 51))
    assert (row.min, row.max) == (1.0, 50.0)


def test_skewed_processes_give_exact_average_and_accurate_p95(db_path, store):
    (buf_a, flush_a), (buf_b, flush_b) = process_handles(db_path, 2)
    for i in range(900):
        buf_a.append(make_raw(NOON + i % 60, 10.0))
    for i in range(100):
        buf_b.append(make_raw(NOON + i % 60, 1000.0))

    assert flush_a.flush()
    assert flush_b.flush()
    store.rollup_hours()

    union = [10.0] * 900 + [1000.0] * 100
    for table in ("rollup_minute", "rollup_hour"):
        row = read_rollup(db_path, table)[(NOON, *KEY)]
        assert row.count == 1000
        assert row.sum / row.count == 109.0
        p50, p95, p99 = row.sketch.quantiles([0.5, 0.95, 0.99])
        assert exact_percentile(union, 0.95) == 1000.0
        assert relative_error(p95, 1000.0) <= 0.01
        assert relative_error(p99, 1000.0) <= 0.01
        assert relative_error(p50, 10.0) <= 0.01


def test_minutes_without_samples_have_no_row(db_path, store):
    offsets = [0, 1, 5, 59]

    write_samples(store, [make_sample(NOON + m * 60 + 30, 2.0) for m in offsets])

    assert sorted(k[0] for k in read_rollup(db_path)) == [
        NOON + m * 60 for m in offsets
    ]


def test_weighted_samples_store_weighted_counts(db_path, store):
    samples = [make_sample(NOON, 4.0, weight=10.0) for _ in range(7)]
    samples.append(make_sample(NOON, 900.0, weight=1.0))

    write_samples(store, samples)

    row = read_rollup(db_path)[(NOON, *KEY)]
    assert row.count == 71
    assert row.sum == 7 * 40.0 + 900.0
    assert row.sketch.count == 71


def test_series_cap_sends_new_series_to_overflow(db_path):
    store = MetricsStore(db_path, max_series=3)
    names = [f"route{i}" for i in range(6)]
    samples = [
        make_sample(NOON, 1.0 + n, name=name) for n, name in enumerate(names)
    ] * 4

    write_samples(store, samples)

    rows = read_rollup(db_path)
    named = {k[2]: r.count for k, r in rows.items() if k[2] != OVERFLOW_NAME}
    overflow = rows[(NOON, "http", OVERFLOW_NAME, LABELS)]
    assert len(named) == 3
    assert set(named.values()) == {4}
    assert overflow.count == 12
    assert overflow.sketch.count == 12
    assert store.counter("overflow_samples") == 12
    assert sum(r.count for r in rows.values()) == len(samples)


def test_series_cap_holds_for_a_new_handle_and_known_series_keep_flowing(db_path):
    first = MetricsStore(db_path, max_series=2)
    write_samples(first, [make_sample(NOON, 1.0, name=n) for n in ("a", "b", "c")])
    second = MetricsStore(db_path, max_series=2)

    write_samples(
        second, [make_sample(NOON + 60, 1.0, name=n) for n in ("a", "b", "d", "e")]
    )

    rows = read_rollup(db_path)
    assert {k[2] for k in rows} == {"a", "b", OVERFLOW_NAME}
    assert rows[(NOON + 60, "http", OVERFLOW_NAME, LABELS)].count == 2
    assert second.counter("overflow_samples") == 3
    (series_count,) = query_all(
        db_path, "SELECT count(*) FROM series WHERE name != '<all>'"
    )[0]
    assert series_count == 3


def test_events_keep_slow_and_error_samples_with_detail(db_path, store):
    long_detail = "SELECT " + "x" * 2000
    samples = [
        make_sample(NOON + 1.25, 5.0),
        make_sample(
            NOON + 2.5,
            750.0,
            kind="db",
            name="SELECT ?",
            labels="op=SELECT",
            detail=long_detail,
            event=EVENT_SLOW,
        ),
        make_sample(NOON + 3.75, 12.0, detail="req-42", event=EVENT_ERROR),
        make_sample(NOON + 4.0, 600.0, event=EVENT_SLOW),
    ]

    write_samples(store, samples)

    events = query_all(
        db_path,
        "SELECT ts, pid, kind, name, labels, duration_ms, error, detail "
        "FROM events ORDER BY ts",
    )
    pid = os.getpid()
    assert events == [
        (
            NOON + 2.5,
            pid,
            "db",
            "SELECT ?",
            "op=SELECT",
            750.0,
            0,
            long_detail[:DETAIL_MAX_CHARS],
        ),
        (NOON + 3.75, pid, "http", "public.index", LABELS, 12.0, 1, "req-42"),
        (NOON + 4.0, pid, "http", "public.index", LABELS, 600.0, 0, None),
    ]
    assert read_rollup(db_path)[(NOON, *KEY)].count == 3


def test_events_past_the_per_flush_cap_are_counted(db_path, store):
    extra = 25
    samples = [
        make_sample(NOON + i / 100, 900.0, detail=str(i), event=EVENT_SLOW)
        for i in range(MAX_EVENTS_PER_FLUSH + extra)
    ]

    write_samples(store, samples)

    details = [int(d) for (d,) in query_all(db_path, "SELECT detail FROM events")]
    assert sorted(details) == list(range(extra, MAX_EVENTS_PER_FLUSH + extra))
    assert store.counter("events_dropped") == extra


def test_flush_reports_the_process(db_path, store):
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, store)
    flusher.gauges = {"rss_bytes": 1234.0, "threads": 3.0}
    buffer.append(make_raw(NOON, 1.0))

    assert flusher.flush()

    assert query_all(
        db_path,
        "SELECT pid, started, buffered, dropped, flush_failures, rss_bytes, "
        "threads, cpu_percent FROM processes",
    ) == [(os.getpid(), flusher.started, 0, 0, 0, 1234.0, 3.0, None)]
    assert flusher.status()["last_flush"] == flusher.last_flush


def test_failed_write_leaves_no_stale_series_ids(db_path, store):
    conn = store.connection()
    conn.execute(
        "CREATE TEMP TRIGGER refuse_events BEFORE INSERT ON events "
        "WHEN new.detail = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    failing = [
        make_sample(NOON, 3.0, name="a"),
        make_sample(NOON, 900.0, name="a", detail="boom", event=EVENT_SLOW),
    ]
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        write_samples(store, failing)
    assert query_all(db_path, "SELECT count(*) FROM series") == [(0,)]
    write_samples(MetricsStore(db_path), [make_sample(NOON, 7.0, name="b")])

    write_samples(store, [make_sample(NOON, 3.0, name="a")])

    rows = read_rollup(db_path)
    assert {k[2]: r.sum for k, r in rows.items()} == {"a": 3.0, "b": 7.0}


def test_overflow_keeps_labels_so_errors_past_the_cap_still_count(db_path):
    store = MetricsStore(db_path, max_series=2)
    samples = [make_sample(NOON, 1.0, name=n) for n in ("a", "b")]
    samples += [
        make_sample(NOON, 2.0, name="c", labels="method=GET;status=5xx"),
        make_sample(NOON, 3.0, name="d", labels="method=POST;status=5xx"),
        make_sample(NOON, 4.0, name="e", labels="method=GET;status=5xx"),
    ]

    write_samples(store, samples)

    rows = read_rollup(db_path)
    assert rows[(NOON, "http", OVERFLOW_NAME, "method=GET;status=5xx")].count == 2
    assert rows[(NOON, "http", OVERFLOW_NAME, "method=POST;status=5xx")].count == 1


def test_worker_gauges_are_outside_the_series_cap(db_path):
    store = MetricsStore(db_path, max_series=2)
    samples = [make_sample(NOON, 1.0, name=n) for n in ("a", "b", "c")]
    samples += [
        make_sample(NOON, 5e7, kind="process", name="rss_bytes", labels=f"worker={n}")
        for n in (1, 2, 3)
    ]

    write_samples(store, samples)

    rows = read_rollup(db_path)
    gauges = {k[3] for k in rows if k[1] == "process"}
    assert gauges == {"worker=1", "worker=2", "worker=3"}
    assert (NOON, "http", "c", LABELS) not in rows
    assert store.counter("overflow_samples") == 1
