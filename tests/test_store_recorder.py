"""The recorder: sampling with unbiased weights, slow and error events."""

from __future__ import annotations

import random
import time

import pytest
from freezegun import freeze_time

from metrics_store.aggregate import PendingBatch
from metrics_store.buffer import EVENT_ERROR, EVENT_SLOW, NOT_EVENT, SampleBuffer
from metrics_store.recorder import Recorder


def fixed_clock() -> float:
    return 1_700_000_000.5


@pytest.fixture
def buffer() -> SampleBuffer:
    return SampleBuffer(max_samples=1_000_000)


def test_rate_one_keeps_every_sample_with_weight_one(buffer):
    recorder = Recorder(buffer, sample_rate={"db": 1.0}, clock=fixed_clock)

    for i in range(1000):
        recorder.record("db", "SELECT ?", "op=SELECT", float(i % 7))

    samples = buffer.drain()
    assert len(samples) == 1000
    assert {s[5] for s in samples} == {1.0}
    batch = PendingBatch()
    batch.add_samples(samples)
    (aggregate,) = batch.aggregates.values()
    assert aggregate.count == 1000
    assert aggregate.count.is_integer()


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_sampled_counts_are_unbiased(buffer, monkeypatch, rate):
    monkeypatch.setattr(random, "random", random.Random(4242).random)
    recorder = Recorder(buffer, sample_rate={"db": rate}, clock=fixed_clock)
    truth = 200_000

    for i in range(truth):
        recorder.record("db", "SELECT ?", "op=SELECT", float(1 + i % 10))

    samples = buffer.drain()
    weighted = sum(s[5] for s in samples)
    weighted_sum = sum(s[4] * s[5] for s in samples)
    assert {s[5] for s in samples} == {1.0 / rate}
    assert abs(weighted - truth) / truth < 0.03
    assert abs(weighted_sum - 5.5 * truth) / (5.5 * truth) < 0.03
    assert abs(len(samples) - rate * truth) / (rate * truth) < 0.03


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
    buffer, value, error, expected_event
):
    recorder = Recorder(
        buffer, sample_rate={"db": 0.0}, slow_ms={"db": 100.0}, clock=fixed_clock
    )

    for _ in range(200):
        recorder.record("db", "SELECT ?", "op=SELECT", value, error=error, detail="q1")

    samples = buffer.drain()
    if expected_event is None:
        assert samples == []
        return
    assert (
        samples
        == [
            (
                fixed_clock(),
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


def test_ordinary_samples_carry_no_detail(buffer):
    recorder = Recorder(buffer, slow_ms={"http": 500.0}, clock=fixed_clock)

    recorder.record("http", "public.index", "", 20.0, detail="request 1")

    assert buffer.drain() == [
        (fixed_clock(), "http", "public.index", "", 20.0, 1.0, None, NOT_EVENT)
    ]


def test_slow_threshold_applies_only_to_its_kind(buffer):
    recorder = Recorder(buffer, slow_ms={"db": 10.0}, clock=fixed_clock)

    recorder.record("render", "index.html", "", 5000.0)

    assert buffer.drain()[0][7] == NOT_EVENT


def test_gauges_are_never_sampled_away(buffer):
    recorder = Recorder(buffer, sample_rate={"process": 0.0}, clock=fixed_clock)

    recorder.gauge("rss_bytes", "", 12_345_678.0)

    assert buffer.drain() == [
        (fixed_clock(), "process", "rss_bytes", "", 12_345_678.0, 1.0, None, NOT_EVENT)
    ]


def test_injected_clock_stamps_samples(buffer):
    ticks = iter([10.0, 20.0])
    recorder = Recorder(buffer, clock=lambda: next(ticks))

    recorder.record("http", "a", "", 1.0)
    recorder.record("http", "a", "", 1.0, error=True)

    assert [s[0] for s in buffer.drain()] == [10.0, 20.0]


def test_default_clock_follows_frozen_time(buffer):
    # A recorder built without a clock must still see freezegun's time, or
    # tests of the Flask layer cannot pin samples to a bucket.
    with freeze_time("2024-03-10 12:00:00"):
        recorder = Recorder(buffer)
        recorder.record("http", "a", "", 1.0)
        frozen_now = time.time()

    assert buffer.drain()[0][0] == frozen_now
