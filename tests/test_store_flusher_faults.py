"""The flusher under database faults: fail softly, log once, keep, recover.

Tests run as root, where file modes stop nothing, so the faults are ones that
stop root too: garbage in place of the database, a path below a regular file,
the file swapped underneath an open connection, a write lock held elsewhere.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from metrics_store.buffer import SampleBuffer
from metrics_store.flusher import Flusher
from metrics_store.store import MetricsStore
from tests.store_helpers import make_flusher, make_raw, query_all, read_rollup

BASE = 1_699_999_980.0  # a UTC minute boundary
GARBAGE = b"this is not an SQLite database\n" * 200
LOGGER = "metrics_store.flusher"


def garbage_file(path: Path) -> Callable[[], None]:
    """Put a new file of garbage where the database is, as a bad restore would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    swap = path.with_name("swap")
    swap.write_bytes(GARBAGE)
    os.replace(swap, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path.unlink


def path_below_a_regular_file(path: Path) -> Callable[[], None]:
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.write_text("a regular file where a folder should be")
    return path.parent.unlink


def write_lock_held_elsewhere(path: Path) -> Callable[[], None]:
    MetricsStore(path).connection().close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")

    def release() -> None:
        holder.execute("ROLLBACK")
        holder.close()

    return release


FAULTS = [garbage_file, path_below_a_regular_file, write_lock_held_elsewhere]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "metrics.db"


def error_records(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR
    ]


def warning_records(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
    ]


def append_round(buffer: SampleBuffer, round_number: int, per_round: int) -> None:
    for i in range(per_round):
        buffer.append(make_raw(BASE + round_number * 60 + i, float(i + 1)))


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_flush_fails_softly_then_writes_every_sample_once(db_path, caplog, fault):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, MetricsStore(db_path, busy_timeout=0.05))
    repair = fault(db_path)
    rounds, per_round = 8, 25

    for round_number in range(rounds):
        append_round(buffer, round_number, per_round)
        assert flusher.flush() is False

    assert len(error_records(caplog)) == 1
    assert str(db_path) in error_records(caplog)[0].getMessage()
    status = flusher.status()
    assert status["flush_failures"] == rounds
    assert status["failing"] is True
    assert status["last_error"]
    assert status["buffered"] == 0
    assert flusher.pending.samples == rounds * per_round

    repair()
    assert flusher.flush() is True
    assert flusher.flush() is True

    assert len(warning_records(caplog)) == 1
    assert len(error_records(caplog)) == 1
    rows = read_rollup(db_path)
    assert len(rows) == rounds
    assert {r.count for r in rows.values()} == {per_round}
    assert sum(r.sum for r in rows.values()) == rounds * sum(range(1, per_round + 1))
    assert query_all(db_path, "SELECT flush_failures FROM processes") == [(rounds,)]
    assert flusher.status()["failing"] is False


def test_each_fault_episode_is_logged_once(db_path, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    flusher = Flusher(SampleBuffer(), MetricsStore(db_path))

    for _ in range(2):
        repair = garbage_file(db_path)
        for _ in range(5):
            assert not flusher.flush()
        repair()
        assert flusher.flush()

    assert len(error_records(caplog)) == 2
    assert len(warning_records(caplog)) == 2


def test_file_replaced_under_an_open_connection(db_path, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, MetricsStore(db_path))
    append_round(buffer, 0, 5)
    assert flusher.flush()
    repair = garbage_file(db_path)

    append_round(buffer, 1, 7)
    assert flusher.flush() is False
    repair()
    assert flusher.flush() is True

    rows = read_rollup(db_path)
    assert [(k[0], r.count) for k, r in rows.items()] == [(BASE + 60, 7)]
    assert len(error_records(caplog)) == 1


def test_deleted_folder_is_recreated_on_the_next_flush(db_path):
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, MetricsStore(db_path))
    append_round(buffer, 0, 3)
    assert flusher.flush()

    shutil.rmtree(db_path.parent)
    append_round(buffer, 1, 4)

    assert flusher.flush() is True
    rows = read_rollup(db_path)
    assert [(k[0], r.count) for k, r in rows.items()] == [(BASE + 60, 4)]


def test_pending_cap_drops_oldest_minutes_and_counts_them(db_path):
    buffer = SampleBuffer()
    flusher = make_flusher(buffer, MetricsStore(db_path), max_pending=5)
    repair = garbage_file(db_path)
    for minute in (3, 0, 9, 1, 7, 2, 8, 4, 6, 5):
        buffer.append(make_raw(BASE + minute * 60, 1.0))

    assert not flusher.flush()
    assert len(flusher.pending) == 5
    assert buffer.dropped == 5

    for minute in (10, 11):
        buffer.append(make_raw(BASE + minute * 60, 2.0))
    assert not flusher.flush()
    assert buffer.dropped == 7
    assert flusher.status()["dropped"] == 7

    repair()
    assert flusher.flush()
    rows = read_rollup(db_path)
    assert sorted(k[0] for k in rows) == [BASE + m * 60 for m in range(7, 12)]
    assert query_all(db_path, "SELECT dropped FROM processes") == [(7,)]
