"""The recorder: sampling with unbiased weights, slow and error events."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from metrics_store.aggregate import PendingBatch
from metrics_store.buffer import EVENT_ERROR, EVENT_SLOW, SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.recorder import Recorder
from metrics_store.store import MetricsStore
from tests.store_helpers import query_all, read_rollup

WALL_OFFSET = 1_000.0  # added at flush to fixed_clock readings


def fixed_clock() -> float:
    return 1_700_000_000.5


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def fold(
    samples: list[tuple],
    sample_rate: dict[str, float] | None = None,
    slow_ms: dict[str, float] | None = None,
) -> PendingBatch:
    """Fold raw samples into a batch the way a flush does."""
    batch = PendingBatch()
    batch.add_raw(samples, WALL_OFFSET, sample_rate or {}, slow_ms or {})
    return batch


@pytest.fixture
def buffer() -> SampleBuffer:
    return SampleBuffer(max_samples=1_000_000)


@pytest.fixture
def store(tmp_path):
    handle = MetricsStore(tmp_path / "metrics.db")
    yield handle
    handle.close()


def test_rate_one_keeps_every_sample_with_weight_one(buffer):
    recorder = Recorder(buffer, sample_rate={"db": 1.0}, clock=fixed_clock)

    for i in range(1000):
        recorder.record("db", "SELECT ?", "op=SELECT", float(i % 7))

    samples = buffer.drain()
    assert len(samples) == 1000
    batch = fold(samples, sample_rate={"db": 1.0})
    (aggregate,) = batch.aggregates.values()
    assert aggregate.count == 1000
    assert aggregate.count.is_integer()
    assert aggregate.sum == sum(float(i % 7) for i in range(1000))
    assert batch.events == []


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_sampled_counts_are_unbiased(buffer, monkeypatch, rate):
    monkeypatch.setattr(random, "random", random.Random(4242).random)
    recorder = Recorder(buffer, sample_rate={"db": rate}, clock=fixed_clock)
    truth = 200_000

    for i in range(truth):
        recorder.record("db", "SELECT ?", "op=SELECT", float(1 + i % 10))

    samples = buffer.drain()
    assert abs(len(samples) - rate * truth) / (rate * truth) < 0.03
    (aggregate,) = fold(samples, sample_rate={"db": rate}).aggregates.values()
    assert aggregate.count == pytest.approx(len(samples) / rate)
    assert aggregate.sketch.count == pytest.approx(len(samples) / rate)
    assert abs(aggregate.count - truth) / truth < 0.03
    assert abs(aggregate.sum - 5.5 * truth) / (5.5 * truth) < 0.03


@pytest.mark.parametrize(
    ("value", "error", "expected_event"),
    [
        (99.9, False, None),
        (100.0, False, EVENT_SLOW),
        (2500.0, False, EVENT_SLOW),
        (0.2, True, EVENT_ERROR),
        (500.0, True, EVENT_ERROR),
    ],
)
def test_slow_and_errors_are_always_kept_as_events(
    buffer, monkeypatch, value, error, expected_event
):
    # The dice always say "drop", so only slow and error samples survive.
    monkeypatch.setattr(random, "random", lambda: 0.999)
    rate, slow = {"db": 0.01}, {"db": 100.0}
    recorder = Recorder(buffer, sample_rate=rate, slow_ms=slow, clock=fixed_clock)

    for _ in range(200):
        recorder.record("db", "SELECT ?", "op=SELECT", value, error=error, detail="q1")

    samples = buffer.drain()
    if expected_event is None:
        assert samples == []
        return
    assert (
        samples
        == [(fixed_clock(), "db", "SELECT ?", "op=SELECT", value, error, "q1")] * 200
    )
    batch = fold(samples, sample_rate=rate, slow_ms=slow)
    (aggregate,) = batch.aggregates.values()
    assert aggregate.count == 200
    assert (
        batch.events
        == [
            (
                fixed_clock() + WALL_OFFSET,
                "db",
                "SELECT ?",
                "op=SELECT",
                value,
                1.0,
                "q1",
                expected_event,
            )
        ]
        * 200
    )


def test_ordinary_samples_are_no_events(buffer):
    slow = {"http": 500.0}
    recorder = Recorder(buffer, slow_ms=slow, clock=fixed_clock)

    recorder.record("http", "public.index", "", 20.0, detail="request 1")

    batch = fold(buffer.drain(), slow_ms=slow)
    assert batch.events == []
    (aggregate,) = batch.aggregates.values()
    assert (aggregate.count, aggregate.sum) == (1.0, 20.0)


def test_slow_threshold_applies_only_to_its_kind(buffer):
    slow = {"db": 10.0}
    recorder = Recorder(buffer, slow_ms=slow, clock=fixed_clock)

    recorder.record("render", "index.html", "", 5000.0)
    recorder.record("db", "SELECT ?", "", 50.0)

    events = fold(buffer.drain(), slow_ms=slow).events
    assert [(e[1], e[7]) for e in events] == [("db", EVENT_SLOW)]


def test_add_raw_folds_as_add_samples_does_with_weights_filled_in():
    rates, slow = {"db": 0.25, "http": 1.0}, {"db": 50.0, "http": 500.0}
    generator = random.Random(7)
    raw = [
        (
            fixed_clock() + generator.uniform(-90.0, 90.0),
            kind,
            f"name {generator.randrange(5)}",
            "op=SELECT" if kind == "db" else "method=GET;status=2xx",
            generator.choice([0.0, 1e-12, 0.3, 49.9, 50.0, 480.0, 500.0, 2500.0]),
            generator.random() < 0.05,
            "detail",
        )
        for kind in ("db", "http", "render") * 400
    ]
    filled = []
    for end, kind, name, labels, value, error, detail in raw:
        slow_sample = value >= slow.get(kind, float("inf"))
        weight = 1.0 if error or slow_sample else 1.0 / rates.get(kind, 1.0)
        event = EVENT_ERROR if error else EVENT_SLOW if slow_sample else 0
        ts = end + WALL_OFFSET
        filled.append((ts, kind, name, labels, value, weight, detail, event))
    expected = PendingBatch()
    expected.add_samples(filled)

    batch = fold(raw, sample_rate=rates, slow_ms=slow)

    assert batch.samples == expected.samples == len(raw)
    assert batch.events == expected.events
    assert batch.aggregates.keys() == expected.aggregates.keys()
    for key, aggregate in batch.aggregates.items():
        other = expected.aggregates[key]
        assert (aggregate.count, aggregate.sum, aggregate.min, aggregate.max) == (
            other.count,
            other.sum,
            other.min,
            other.max,
        )
        assert aggregate.sketch.bins == other.sketch.bins
        assert aggregate.sketch.zero_count == other.sketch.zero_count


def test_gauges_are_never_sampled_away(buffer, store, monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.999)
    rate, slow = {"process": 0.0}, {"process": 1.0}
    recorder = Recorder(buffer, sample_rate=rate, slow_ms=slow, clock=fixed_clock)
    flusher = Flusher(
        buffer, store, sample_rate=rate, slow_ms=slow, wall_offset=lambda: 0.0
    )

    recorder.gauge("rss_bytes", "", 12_345_678.0)

    assert len(buffer) == 1
    assert flusher.flush()
    (row,) = read_rollup(store.path).values()
    assert (row.count, row.sum) == (1.0, 12_345_678.0)
    assert query_all(store.path, "SELECT count(*) FROM events") == [(0,)]


def test_injected_clock_stamps_samples(buffer):
    ticks = iter([10.0, 20.0])
    recorder = Recorder(buffer, clock=lambda: next(ticks))

    recorder.record("http", "a", "", 1.0)
    recorder.record("http", "a", "", 1.0, error=True)

    assert [s[0] for s in buffer.drain()] == [10.0, 20.0]


def test_wall_offset_puts_samples_in_the_minute_they_ended(buffer, store):
    # The sample ends in 11:59 but is flushed in 12:00: its end decides.
    ticks = iter([5_000.0, 5_000.75])
    recorder = Recorder(buffer, clock=lambda: next(ticks))
    flusher = Flusher(buffer, store, wall_offset=recorder.wall_offset)

    recorder.record("http", "a", "", 1.0)
    with freeze_time("2026-01-01 12:00:00.25"):
        assert flusher.flush()

    assert [k[0] for k in read_rollup(store.path)] == [epoch("2026-01-01 11:59")]


def test_default_clocks_agree_under_frozen_time(buffer, store):
    # Tests of the Flask layer freeze time and build the recorder and flusher
    # with their defaults; the sample must land in the frozen minute.
    with freeze_time("2026-01-01 11:59:59.5"):
        recorder = Recorder(buffer)
        flusher = Flusher(buffer, store)
        recorder.record("http", "a", "", 1.0)
        assert flusher.flush()

    assert [k[0] for k in read_rollup(store.path)] == [epoch("2026-01-01 11:59")]
