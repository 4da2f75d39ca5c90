"""The per-process sample buffer: bounds, order, threads and fork."""

from __future__ import annotations

import json
import os
import threading

import pytest

from metrics_store.buffer import SampleBuffer
from tests.store_helpers import make_sample


def numbered(count: int, start: int = 0) -> list[tuple]:
    return [make_sample(1_700_000_000.0 + i, float(i)) for i in range(start, count)]


def test_drain_returns_samples_oldest_first():
    buffer = SampleBuffer()
    samples = numbered(10)
    for sample in samples:
        buffer.append(sample)

    assert buffer.drain(3) == samples[:3]
    assert len(buffer) == 7
    assert buffer.drain() == samples[3:]
    assert buffer.drain() == []
    assert len(buffer) == 0


def test_drain_limit_larger_than_content():
    buffer = SampleBuffer()
    buffer.append(make_sample(1.0, 1.0))

    assert len(buffer.drain(50)) == 1


@pytest.mark.parametrize(
    ("cap", "appended", "expected_dropped"),
    [(5, 5, 0), (5, 6, 1), (5, 13, 8), (1, 4, 3)],
)
def test_full_buffer_drops_oldest_and_counts(cap, appended, expected_dropped):
    buffer = SampleBuffer(max_samples=cap)
    samples = numbered(appended)

    for sample in samples:
        buffer.append(sample)

    assert buffer.dropped == expected_dropped
    assert len(buffer) == min(cap, appended)
    assert buffer.drain() == samples[-cap:]


def test_count_dropped_adds_to_the_cap_losses():
    buffer = SampleBuffer(max_samples=1)
    buffer.append(make_sample(1.0, 1.0))
    buffer.append(make_sample(2.0, 1.0))

    buffer.count_dropped(4)

    assert buffer.dropped == 5


@pytest.mark.parametrize("cap", [0, -3])
def test_cap_must_be_positive(cap):
    with pytest.raises(ValueError, match=repr(cap)):
        SampleBuffer(max_samples=cap)


def test_concurrent_appends_lose_nothing_below_the_cap():
    threads_count, per_thread = 8, 5_000
    buffer = SampleBuffer(max_samples=threads_count * per_thread)
    start = threading.Barrier(threads_count)

    def produce(thread_id: int) -> None:
        start.wait()
        for i in range(per_thread):
            buffer.append(make_sample(float(i), float(i), name=f"t{thread_id}"))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    drained = buffer.drain()
    assert buffer.dropped == 0
    assert len(drained) == threads_count * per_thread
    for thread_id in range(threads_count):
        own = [s[4] for s in drained if s[2] == f"t{thread_id}"]
        assert own == [float(i) for i in range(per_thread)]


def test_concurrent_appends_over_the_cap_count_every_drop():
    threads_count, per_thread, cap = 8, 20_000, 1000
    buffer = SampleBuffer(max_samples=cap)
    start = threading.Barrier(threads_count)

    def produce() -> None:
        start.wait()
        for i in range(per_thread):
            buffer.append(make_sample(float(i), float(i)))

    threads = [threading.Thread(target=produce) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(buffer) == cap
    assert buffer.dropped == threads_count * per_thread - cap


def test_draining_while_threads_append_sees_every_sample_once():
    writers, per_writer = 4, 20_000
    buffer = SampleBuffer(max_samples=writers * per_writer)
    drained: list[tuple] = []
    done = threading.Event()

    def produce(writer: int) -> None:
        for i in range(per_writer):
            buffer.append(make_sample(float(i), float(i), name=f"w{writer}"))

    def consume() -> None:
        while not done.is_set():
            drained.extend(buffer.drain(1000))
        drained.extend(buffer.drain())

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=produce, args=(w,)) for w in range(writers)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    done.set()
    consumer.join()

    assert len(drained) == writers * per_writer
    assert len(set(drained)) == writers * per_writer


def test_forked_child_starts_empty_and_parent_keeps_its_samples():
    buffer = SampleBuffer(max_samples=3)
    samples = numbered(5)
    for sample in samples:
        buffer.append(sample)
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # child: report, then leave without running pytest's teardown
        code = 1
        try:
            os.close(read_end)
            seen = {"len": len(buffer), "dropped": buffer.dropped}
            buffer.append(make_sample(9.0, 9.0))
            seen["drained"] = [list(s) for s in buffer.drain()]
            seen["pid_updated"] = buffer.pid == os.getpid()
            os.write(write_end, json.dumps(seen).encode())
            code = 0
        finally:
            os._exit(code)

    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read())
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert report == {
        "len": 0,
        "dropped": 0,
        "drained": [list(make_sample(9.0, 9.0))],
        "pid_updated": True,
    }
    assert buffer.pid == os.getpid()
    assert buffer.dropped == 2
    assert buffer.drain() == samples[-3:]
