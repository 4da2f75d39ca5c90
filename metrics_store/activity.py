"""The slow and error log, and the worker processes that are alive."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from metrics_store.ranges import TimeRange

DEFAULT_EVENT_LIMIT = 50


@dataclass
class Event:
    """One slow operation or error, kept individually."""

    ts: float
    pid: int
    kind: str
    name: str
    labels: str
    duration_ms: float
    error: bool
    detail: str | None


# A worker that has not flushed for this long is no longer live.
LIVE_WINDOW_SECONDS = 60.0
LIVE_FLUSH_INTERVALS = 3


@dataclass
class Worker:
    """A worker process as it last reported itself."""

    pid: int
    started: float
    host: str
    last_seen: float
    last_flush: float | None
    flush_ms: float | None
    buffered: int
    dropped: int
    flush_failures: int
    rss_bytes: float | None
    cpu_percent: float | None
    threads: float | None
    open_fds: float | None
    slot: int | None = None


def recent_events(
    conn: sqlite3.Connection,
    time_range: TimeRange,
    *,
    kind: str | None = None,
    name: str | None = None,
    errors_only: bool = False,
    limit: int = DEFAULT_EVENT_LIMIT,
) -> list[Event]:
    """Return the newest slow operations and errors in the range, newest first."""
    clauses = ["ts >= ?", "ts < ?"]
    params: list = [time_range.start, time_range.end]
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    if errors_only:
        clauses.append("error = 1")
    cursor = conn.execute(
        "SELECT ts, pid, kind, name, labels, duration_ms, error, detail FROM events "
        f"WHERE {' AND '.join(clauses)} ORDER BY ts DESC LIMIT ?",
        [*params, limit],
    )
    return [
        Event(ts, pid, kind_, name_, labels, duration, bool(error), detail)
        for ts, pid, kind_, name_, labels, duration, error, detail in cursor
    ]


def count_events(
    conn: sqlite3.Connection, time_range: TimeRange, kind: str | None = None
) -> tuple[int, int]:
    """Return ``(slow, errors)`` event counts in the range."""
    clauses = ["ts >= ?", "ts < ?"]
    params: list = [time_range.start, time_range.end]
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    slow, errors = conn.execute(
        "SELECT coalesce(sum(error = 0), 0), coalesce(sum(error = 1), 0) "
        f"FROM events WHERE {' AND '.join(clauses)}",
        params,
    ).fetchone()
    return slow, errors


def live_window(flush_seconds: float) -> float:
    """How long a worker stays live without reporting: three flushes, ≥ 60 s."""
    return max(LIVE_WINDOW_SECONDS, LIVE_FLUSH_INTERVALS * flush_seconds)


def live_workers(
    conn: sqlite3.Connection, now: float, seen_within: float = 60.0
) -> list[Worker]:
    """Return the workers that reported within ``seen_within`` seconds, by pid.

    A worker that exited cleanly is left out at once.
    """
    cursor = conn.execute(
        "SELECT pid, started, host, last_seen, last_flush, flush_ms, buffered, "
        "dropped, flush_failures, rss_bytes, cpu_percent, threads, open_fds, slot "
        "FROM processes WHERE last_seen >= ? AND exited IS NULL "
        "ORDER BY pid, started",
        (now - seen_within,),
    )
    return [Worker(*row) for row in cursor]
