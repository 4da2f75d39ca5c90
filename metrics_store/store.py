"""The metrics SQLite database: connection, flush writes, rollups and jobs."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from metrics_store.aggregate import Aggregate, PendingBatch, SeriesKey
from metrics_store.buffer import EVENT_ERROR
from metrics_store.migrate import apply_migrations, enable_wal
from metrics_store.rollup import Rollups
from metrics_store.sketch import register_sql_functions
from metrics_store.timebuckets import HOUR, MINUTE, floor_to

logger = logging.getLogger(__name__)

OVERFLOW_NAME = "<overflow>"
# Each flush also adds every series of these kinds into one total series
# (kind, TOTAL_NAME, ""), so "all of a kind" reads one row per bucket instead
# of merging every series. Process gauges of different workers are not one
# distribution, so that kind has no total.
TOTAL_NAME = "<all>"
TOTAL_KINDS = ("http", "db", "render")
# Kinds bounded by design, outside the series cap: four gauges per worker slot.
UNCAPPED = ("process",)
MAX_EVENTS_PER_FLUSH = 500
DETAIL_MAX_CHARS = 500

UNITS = {
    "http": "ms",
    "db": "ms",
    "render": "ms",
    ("process", "rss_bytes"): "bytes",
    ("process", "cpu_percent"): "percent",
    ("process", "threads"): "threads",
    ("process", "open_fds"): "fds",
}


def unit_for(kind: str, name: str) -> str:
    """Return the unit of a series' values."""
    return UNITS.get((kind, name)) or UNITS.get(kind) or "value"


def default_migrations_dir() -> Path:
    """Locate ``migrations/metrics`` in a source tree or an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here.parent / "migrations" / "metrics",
        here.parent / "starpunk" / "_resources" / "migrations" / "metrics",
    ):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("metrics migrations folder not found next to the package")


@dataclass
class ProcessStatus:
    """What one worker reports about itself at each flush."""

    pid: int
    started: float
    buffered: int = 0
    dropped: int = 0
    flush_failures: int = 0
    last_flush: float | None = None
    flush_ms: float | None = None
    gauges: dict[str, float] | None = None
    slot: int | None = None
    exited: float | None = None


class MetricsStore(Rollups):
    """One process's handle on the shared metrics database.

    Every write runs in its own ``BEGIN IMMEDIATE`` transaction, so several
    worker processes can flush into the same file; upserts merge with rows
    other processes already wrote. The connection is reopened when the file
    is replaced or removed underneath it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        migrations_dir: Path | None = None,
        busy_timeout: float = 5.0,
        max_series: int = 2000,
    ) -> None:
        self.path = Path(path)
        self.migrations_dir = migrations_dir or default_migrations_dir()
        self.busy_timeout = busy_timeout
        self.max_series = max_series
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.RLock()
        self._read_lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
        self._reader_identity: tuple[int, int] | None = None
        self._series_ids: dict[SeriesKey, int] = {}
        self._pid = os.getpid()

    # -- connection -----------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """Return the open, migrated write connection, reopening it if needed.

        It is reopened after a fork (a parent's connection must never be used
        by a child) and when the file was replaced or removed underneath it.
        """
        if self._pid != os.getpid():
            self._conn = self._reader = None
            self._series_ids = {}
            self._pid = os.getpid()
        if self._conn is not None and self._identity != _file_identity(self.path):
            self.close()
        if self._conn is None:
            self._conn = self._open()
            self._identity = _file_identity(self.path)
            self._series_ids = {}
        return self._conn

    def _read_connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self.connection()
        if self._reader is not None and self._reader_identity != _file_identity(
            self.path
        ):
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None
        if self._reader is None:
            self._reader = self._open()
            self._reader_identity = _file_identity(self.path)
        return self._reader

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            # Must precede the first table for a new file; a no-op otherwise.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            enable_wal(conn, self.busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            register_sql_functions(conn)
            apply_migrations(conn, self.migrations_dir)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close both connections (they reopen on next use)."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
            self._conn = None
            self._identity = None
            self._series_ids = {}
        with self._read_lock:
            if self._reader is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._reader.close()
            self._reader = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block under ``BEGIN IMMEDIATE``; commit, or roll back and re-raise."""
        with self._lock:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # Series created in this transaction are gone with it.
                self._series_ids = {}
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """Use the write connection outside a transaction (for PRAGMAs that write)."""
        with self._lock:
            yield self.connection()

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Run read-only queries on a separate connection.

        Readers never wait for this process's flush, which may sit behind
        another process's write lock for seconds: in WAL mode a reader sees
        the last committed state and is never blocked by a writer.
        """
        with self._read_lock:
            yield self._read_connection()

    # -- flush ------------------------------------------------------------

    def write_batch(
        self, batch: PendingBatch, process: ProcessStatus | None = None
    ) -> int:
        """Merge a pending batch into minute rollups; return the rows upserted.

        All or nothing: on any error nothing is written and the batch is left
        as it was, so the caller can retry it with later samples folded in.
        """
        now = time.time()
        with self.transaction() as conn:
            rows, overflow = self._minute_rows(conn, batch, now)
            conn.executemany(
                "INSERT INTO rollup_minute "
                "(bucket, series_id, count, sum, min, max, sketch) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (bucket, series_id) DO UPDATE SET "
                "count = count + excluded.count, sum = sum + excluded.sum, "
                "min = min(min, excluded.min), max = max(max, excluded.max), "
                "sketch = sketch_merge(sketch, excluded.sketch)",
                [
                    (bucket, sid, a.count, a.sum, a.min, a.max, a.sketch.to_bytes())
                    for (bucket, sid), a in rows.items()
                ],
            )
            hours = {floor_to(bucket, HOUR) for bucket, _ in rows}
            conn.executemany(
                "INSERT OR IGNORE INTO dirty_hours (bucket) VALUES (?)",
                [(hour,) for hour in hours],
            )
            self._write_events(conn, batch.events)
            if overflow:
                _bump_counter(conn, "overflow_samples", overflow)
            if process is not None:
                self._write_process(conn, process, now)
        return len(rows)

    def _minute_rows(
        self, conn: sqlite3.Connection, batch: PendingBatch, now: float
    ) -> tuple[dict[tuple[int, int], Aggregate], float]:
        """Map the batch onto series ids, totals included; return rows and overflow.

        Totals are merged from the batch before the series cap applies, so
        samples sent to the overflow series count in their kind's total too.
        """
        rows: dict[tuple[int, int], Aggregate] = {}
        totals: dict[tuple[str, int], Aggregate] = {}
        owned: set[tuple] = set()
        overflow = 0.0
        for (key, bucket), agg in batch.aggregates.items():
            series_id = self._series_id(conn, key, now)
            if series_id is None:
                overflow += agg.count
                # Labels are few per kind (method and status class, op), so
                # the overflow keeps them: errors past the cap still count.
                series_id = self._series_id(conn, (key[0], OVERFLOW_NAME, key[2]), now)
            _merge_row(rows, owned, (bucket, series_id), agg)
            if key[0] in TOTAL_KINDS:
                _merge_row(totals, owned, (key[0], bucket), agg)
        for (kind, bucket), agg in totals.items():
            series_id = self._series_id(conn, (kind, TOTAL_NAME, ""), now)
            _merge_row(rows, owned, (bucket, series_id), agg)
        return rows, overflow

    def _series_id(
        self, conn: sqlite3.Connection, key: SeriesKey, now: float
    ) -> int | None:
        """Return the id of ``key``, creating it unless the series cap is reached."""
        series_id = self._series_ids.get(key)
        if series_id is not None:
            return series_id
        row = conn.execute(
            "SELECT id FROM series WHERE kind = ? AND name = ? AND labels = ?", key
        ).fetchone()
        if row is None:
            if key[1] not in (OVERFLOW_NAME, TOTAL_NAME) and key[0] not in UNCAPPED:
                # Totals are bookkeeping, not series a site chose to create.
                (count,) = conn.execute(
                    "SELECT count(*) FROM series WHERE name != ? AND kind NOT IN "
                    f"({', '.join('?' * len(UNCAPPED))})",
                    (TOTAL_NAME, *UNCAPPED),
                ).fetchone()
                if count >= self.max_series:
                    return None
            cursor = conn.execute(
                "INSERT INTO series (kind, name, labels, unit, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (*key, unit_for(key[0], key[1]), now),
            )
            series_id = cursor.lastrowid
        else:
            series_id = row[0]
        self._series_ids[key] = series_id
        return series_id

    def claim_slot(
        self, pid: int, started: float, now: float, live_seconds: float
    ) -> int:
        """Give worker ``(pid, started)`` the lowest slot no live worker holds.

        A worker claiming again keeps the slot it has. Live means seen within
        ``live_seconds``, not exited and, on this host, still running (so a
        killed worker's replacement takes its slot at once). The choice and
        the claim happen in one write transaction, so workers starting
        together get different slots.
        """
        with self.transaction() as conn:
            host = socket.gethostname()
            taken = {
                slot
                for slot, other_pid, other_host in conn.execute(
                    "SELECT slot, pid, host FROM processes WHERE slot IS NOT NULL "
                    "AND exited IS NULL AND last_seen >= ? "
                    "AND NOT (pid = ? AND started = ?)",
                    (now - live_seconds, pid, started),
                )
                if other_host != host or _pid_alive(other_pid)
            }
            own = conn.execute(
                "SELECT slot FROM processes WHERE pid = ? AND started = ?",
                (pid, started),
            ).fetchone()
            if own is not None and own[0] is not None and own[0] not in taken:
                slot = own[0]
            else:
                slot = next(n for n in range(1, len(taken) + 2) if n not in taken)
            conn.execute(
                "INSERT INTO processes (pid, started, host, last_seen, slot) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pid, started) "
                "DO UPDATE SET slot = excluded.slot, last_seen = excluded.last_seen",
                (pid, started, host, now, slot),
            )
        return slot

    def _write_events(self, conn: sqlite3.Connection, events: list[tuple]) -> None:
        kept = events[-MAX_EVENTS_PER_FLUSH:]
        if len(events) > len(kept):
            _bump_counter(conn, "events_dropped", len(events) - len(kept))
        pid = os.getpid()
        conn.executemany(
            "INSERT INTO events "
            "(ts, pid, kind, name, labels, duration_ms, error, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    ts,
                    pid,
                    kind,
                    name,
                    labels,
                    value,
                    int(flag == EVENT_ERROR),
                    str(detail)[:DETAIL_MAX_CHARS] if detail else None,
                )
                for ts, kind, name, labels, value, _w, detail, flag in kept
            ],
        )

    def _write_process(
        self, conn: sqlite3.Connection, status: ProcessStatus, now: float
    ) -> None:
        gauges = status.gauges or {}
        conn.execute(
            "INSERT INTO processes (pid, started, host, last_seen, last_flush, "
            "flush_ms, buffered, dropped, flush_failures, rss_bytes, cpu_percent, "
            "threads, open_fds, slot, exited) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (pid, started) DO UPDATE SET last_seen = excluded.last_seen, "
            "slot = coalesce(excluded.slot, slot), exited = excluded.exited, "
            "last_flush = excluded.last_flush, flush_ms = excluded.flush_ms, "
            "buffered = excluded.buffered, dropped = excluded.dropped, "
            "flush_failures = excluded.flush_failures, "
            "rss_bytes = coalesce(excluded.rss_bytes, rss_bytes), "
            "cpu_percent = coalesce(excluded.cpu_percent, cpu_percent), "
            "threads = coalesce(excluded.threads, threads), "
            "open_fds = coalesce(excluded.open_fds, open_fds)",
            (
                status.pid,
                status.started,
                socket.gethostname(),
                now,
                status.last_flush,
                status.flush_ms,
                status.buffered,
                status.dropped,
                status.flush_failures,
                gauges.get("rss_bytes"),
                gauges.get("cpu_percent"),
                gauges.get("threads"),
                gauges.get("open_fds"),
                status.slot,
                status.exited,
            ),
        )

    # -- site-wide jobs ---------------------------------------------------

    def claim_job(self, job: str, period: int) -> bool:
        """Claim ``job`` for ``period``; True for exactly one caller per period."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO job_runs (job, period, pid, started) "
                "VALUES (?, ?, ?, ?)",
                (job, period, os.getpid(), time.time()),
            )
            return cursor.rowcount == 1

    def finish_job(self, job: str, period: int, detail: str = "") -> None:
        """Mark a claimed job run as finished."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE job_runs SET finished = ?, detail = ? "
                "WHERE job = ? AND period = ?",
                (time.time(), detail, job, period),
            )

    # -- status -----------------------------------------------------------

    def counter(self, name: str) -> float:
        """Return a site-wide counter such as ``overflow_samples``."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT value FROM counters WHERE name = ?", (name,)
            ).fetchone()
        return row[0] if row else 0.0

    def size_bytes(self) -> int:
        """Database size on disk, main file plus write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total


def _merge_row(rows: dict, owned: set, key: tuple, agg: Aggregate) -> None:
    """Fold ``agg`` into ``rows[key]`` without changing the batch's aggregates.

    A row starts as the batch's own aggregate and is copied (and recorded in
    ``owned``) before the first merge into it: a failed write must leave the
    batch exactly as it was.
    """
    merged = rows.get(key)
    if merged is None:
        rows[key] = agg
        return
    if key not in owned:
        clone = Aggregate()
        clone.merge(merged)
        merged = rows[key] = clone
        owned.add(key)
    merged.merge(agg)


def _bump_counter(conn: sqlite3.Connection, name: str, amount: float) -> None:
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (name, amount),
    )


def _pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


__all__ = [
    "MINUTE",
    "MetricsStore",
    "OVERFLOW_NAME",
    "TOTAL_KINDS",
    "TOTAL_NAME",
    "ProcessStatus",
    "default_migrations_dir",
    "unit_for",
]
