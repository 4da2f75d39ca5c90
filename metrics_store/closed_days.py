"""Each series' merge over its closed days, kept per worker process.

Long-range summaries spend most of their time merging day sketches of
days that no longer change. A worker keeps each series' merge over a span
of such days, and reuses it only while the day rows still hold the same
number of rows and the same total count: a day row changes only when its
day is rebuilt after a late flush, which always adds to the count, and
pruning removes whole rows. Every answer is therefore what reading the
rows would give; the cache only saves the merge.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from typing import NamedTuple

from metrics_store.row_sources import closed_day_spans
from metrics_store.sketch import QuantileSketch
from metrics_store.timebuckets import DAY

# Each entry holds one serialized sketch of a few KB: at most ~10 MB a worker.
MAX_ENTRIES = 2048


class ClosedMerge(NamedTuple):
    """Count, sum, min, max and serialized sketch of one series' closed days."""

    count: float
    sum: float
    min: float
    max: float
    sketch: bytes


_cache: OrderedDict[tuple, tuple[tuple[int, float], ClosedMerge]] = OrderedDict()
_lock = threading.Lock()


def closed_day_merges(
    conn: sqlite3.Connection, start: int, end: int, series: list[int]
) -> tuple[list[tuple[int, int]], dict[int, ClosedMerge]]:
    """Return the closed day spans of ``[start, end)`` and each series' merge.

    Pass the spans to :func:`~metrics_store.row_sources.covering_rows_sql`
    as ``closed_days`` to read everything else.
    """
    spans = closed_day_spans(conn, start, end)
    if not spans or not series:
        return spans, {}
    days_sql, params = _day_rows(spans, series)
    fingerprints = {
        series_id: (rows, count)
        for series_id, rows, count in conn.execute(
            f"SELECT series_id, count(*), total(count) FROM ({days_sql}) "
            "GROUP BY series_id",
            params,
        )
    }
    database = _database(conn)
    found: dict[int, ClosedMerge] = {}
    with _lock:
        for series_id, fingerprint in fingerprints.items():
            entry = _cache.get((database, series_id, tuple(spans)))
            if entry is not None and entry[0] == fingerprint:
                _cache.move_to_end((database, series_id, tuple(spans)))
                found[series_id] = entry[1]
    missing = [series_id for series_id in fingerprints if series_id not in found]
    if missing:
        for series_id, (fingerprint, merge) in _merge(conn, spans, missing).items():
            found[series_id] = merge
            if database is not None and fingerprint == fingerprints[series_id]:
                _remember((database, series_id, tuple(spans)), fingerprint, merge)
    return spans, found


def _merge(
    conn: sqlite3.Connection, spans: list[tuple[int, int]], series: list[int]
) -> dict[int, tuple[tuple[int, float], ClosedMerge]]:
    days_sql, params = _day_rows(spans, series)
    merged: dict[int, list] = {}
    for series_id, count, total, low, high, blob in conn.execute(
        f"SELECT series_id, count, sum, min, max, sketch FROM ({days_sql})", params
    ):
        state = merged.get(series_id)
        if state is None:
            state = merged[series_id] = [0, 0.0, 0.0, math.inf, -math.inf, None]
        state[0] += 1
        state[1] += count
        state[2] += total
        state[3] = min(state[3], low)
        state[4] = max(state[4], high)
        if state[5] is None:
            state[5] = QuantileSketch.from_bytes(blob)
        else:
            state[5].merge_bytes(blob)
    return {
        series_id: (
            (rows, count),
            ClosedMerge(count, total, low, high, sketch.to_bytes()),
        )
        for series_id, (rows, count, total, low, high, sketch) in merged.items()
    }


def _day_rows(spans: list[tuple[int, int]], series: list[int]) -> tuple[str, list]:
    # One primary-key lookup per day and series, as in row_sources.
    days = [day for low, high in spans for day in range(low, high, DAY)]
    marks = ", ".join("?" for _ in series)
    return (
        "SELECT r.series_id AS series_id, r.count AS count, r.sum AS sum, "
        "r.min AS min, r.max AS max, r.sketch AS sketch "
        "FROM json_each(?) AS t CROSS JOIN rollup_day AS r ON r.bucket = t.value "
        f"WHERE r.series_id IN ({marks})",
        [json.dumps(days), *series],
    )


def _remember(key: tuple, fingerprint: tuple[int, float], merge: ClosedMerge) -> None:
    with _lock:
        _cache[key] = (fingerprint, merge)
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)


def _database(conn: sqlite3.Connection) -> tuple | None:
    """Identify the main database file, or None for one held only in memory."""
    for _seq, name, path in conn.execute("PRAGMA database_list"):
        if name == "main" and path:
            try:
                stat = os.stat(path)
            except OSError:
                return None
            return (path, stat.st_dev, stat.st_ino)
    return None


def clear() -> None:
    """Forget every cached merge (for tests and after restoring a backup)."""
    with _lock:
        _cache.clear()
