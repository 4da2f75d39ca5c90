"""Worker slots: small, unique among live workers, reused after a worker goes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from metrics_store.activity import live_workers
from metrics_store.buffer import SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.store import MetricsStore

NOW = 1_700_000_000.0
LIVE = 60.0


@pytest.fixture
def running():
    """Start four idle processes; return their pids (all alive on this host)."""
    children = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        for _ in range(4)
    ]
    yield [child.pid for child in children]
    for child in children:
        child.kill()
        child.wait()


def test_live_workers_get_distinct_lowest_slots(store, running):
    first, second, third, _ = running
    claimed = [store.claim_slot(pid, NOW, NOW, LIVE) for pid in running[:3]]
    assert claimed == [1, 2, 3]
    # Claiming again keeps a worker's own slot out of the taken set.
    assert store.claim_slot(second, NOW, NOW + 1, LIVE) == 2


def test_a_silent_workers_slot_is_reused_after_the_live_window(store, running):
    first, second, third, fourth = running
    store.claim_slot(first, NOW, NOW, LIVE)
    store.claim_slot(second, NOW, NOW, LIVE)
    assert store.claim_slot(third, NOW + 10, NOW + 10, LIVE) == 3
    # The first stops reporting (another host could not tell it is gone):
    # after the live window its slot frees.
    later = NOW + LIVE + 1
    store.claim_slot(second, NOW, later, LIVE)
    assert store.claim_slot(fourth, later, later, LIVE) == 1


def test_a_killed_workers_slot_is_free_at_once(store, running):
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    store.claim_slot(running[0], NOW, NOW, LIVE)
    assert store.claim_slot(killed.pid, NOW, NOW, LIVE) == 2
    killed.kill()
    killed.wait()
    # Its replacement starts a second later, well inside the live window.
    assert store.claim_slot(running[1], NOW + 1, NOW + 1, LIVE) == 2


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

    def claim(n: int) -> None:
        store = MetricsStore(path)
        try:
            start.wait()
            claimed.append(store.claim_slot(os.getpid(), NOW + n, NOW, LIVE))
        finally:
            store.close()

    # Every claim comes from this live process, told apart by start time.
    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
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
