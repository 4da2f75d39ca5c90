"""Worker slots: small, unique among live workers, reused after a worker goes."""

from __future__ import annotations

import threading

import pytest

from metrics_store.activity import live_workers
from metrics_store.buffer import SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.store import MetricsStore

NOW = 1_700_000_000.0
LIVE = 60.0


@pytest.fixture
def store(tmp_path):
    store = MetricsStore(tmp_path / "metrics.db")
    yield store
    store.close()


def slots(store: MetricsStore) -> dict[int, int]:
    with store.reading() as conn:
        return dict(conn.execute("SELECT pid, slot FROM processes").fetchall())


def test_live_workers_get_distinct_lowest_slots(store):
    assert [store.claim_slot(pid, NOW, NOW, LIVE) for pid in (11, 12, 13)] == [
        1,
        2,
        3,
    ]
    # Claiming again keeps a worker's own slot out of the taken set.
    assert store.claim_slot(12, NOW, NOW + 1, LIVE) == 2


def test_a_silent_workers_slot_is_reused(store):
    store.claim_slot(11, NOW, NOW, LIVE)
    store.claim_slot(12, NOW, NOW, LIVE)
    # Worker 11 stops reporting (SIGKILL): after the live window its slot frees.
    assert store.claim_slot(13, NOW + 10, NOW + 10, LIVE) == 3
    later = NOW + LIVE + 1
    store.claim_slot(12, NOW, later, LIVE)
    assert store.claim_slot(14, later, later, LIVE) == 1


def test_a_cleanly_exited_worker_frees_its_slot_and_leaves_the_live_list(store):
    buffer = SampleBuffer(100)
    flusher = Flusher(buffer, store, live_seconds=LIVE)
    assert flusher.worker_slot() == 1
    assert flusher.flush()
    with store.reading() as conn:
        assert [w.slot for w in live_workers(conn, flusher.started + 1)] == [1]

    assert flusher.flush(final=True)
    with store.reading() as conn:
        assert live_workers(conn, flusher.started + 1) == []
    successor = Flusher(SampleBuffer(100), store, live_seconds=LIVE)
    successor.pid += 1  # another process, as a recycled worker's successor is
    assert successor.worker_slot() == 1


def test_workers_starting_together_never_share_a_slot(tmp_path):
    path = tmp_path / "metrics.db"
    MetricsStore(path).close()
    start = threading.Barrier(8)
    claimed: list[int] = []

    def claim(pid: int) -> None:
        store = MetricsStore(path)
        try:
            start.wait()
            claimed.append(store.claim_slot(pid, NOW, NOW, LIVE))
        finally:
            store.close()

    threads = [threading.Thread(target=claim, args=(pid,)) for pid in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(claimed) == list(range(1, 9))


def test_slot_is_none_while_the_database_is_unusable(tmp_path):
    path = tmp_path / "metrics.db"
    path.write_bytes(b"not a database" * 100)
    store = MetricsStore(path)
    try:
        flusher = Flusher(SampleBuffer(100), store)
        assert flusher.worker_slot() is None
        path.unlink()
        assert flusher.worker_slot() == 1
    finally:
        store.close()
