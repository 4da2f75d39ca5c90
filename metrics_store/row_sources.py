"""Which rollup rows cover a time range: SQL over the minute, hour and day tiers.

Every function returns ``(sql, params)`` for rows shaped ``(bucket,
series_id, count, sum, min, max, sketch)``, to be wrapped by a query that
joins series and groups. Hours whose minutes changed since the hour rollup
(``dirty_hours``) are read from their minutes (below the minute horizon, their
stored row plus the late minutes), and days waiting for the day rollup from
their hours, so no answer is ever stale.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from metrics_store.ranges import TimeRange
from metrics_store.rollup import MINUTE_HORIZON
from metrics_store.timebuckets import DAY, HOUR, MINUTE


def bucket_rows_sql(time_range: TimeRange) -> tuple[str, list[Any]]:
    """SQL yielding ``(bucket, series_id, count, sum, min, max, sketch)`` rows.

    At hour resolution a bucket may come as several minute rows of one
    series; callers group by ``(bucket, series_id)``.
    """
    start, end = time_range.start, time_range.end
    if time_range.resolution == "minute":
        return (
            "SELECT bucket, series_id, count, sum, min, max, sketch "
            "FROM rollup_minute WHERE bucket >= ? AND bucket < ?",
            [start, end],
        )
    return _hour_rows_sql(start, end)


def summary_rows_sql(
    conn: sqlite3.Connection, time_range: TimeRange
) -> tuple[str, list[Any]]:
    """SQL yielding rows that cover the range once, reading as few as possible.

    Bucket values are not meaningful here, only the coverage; see
    :func:`covering_rows_sql`.
    """
    return covering_rows_sql(conn, time_range.start, time_range.end, DAY)


def covering_rows_sql(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    width: int,
    series: list[int] | None = None,
    closed_days: list[tuple[int, int]] | None = None,
) -> tuple[str, list[Any]]:
    """SQL yielding rows that cover ``[start, end)`` once, from the coarsest tiers.

    Every row lies inside one ``width``-aligned bucket, so callers may group
    rows by ``bucket / width``: whole days come from ``rollup_day`` when
    ``width`` is a multiple of a day, unless the day or one of its hours is
    waiting for a rollup (then from its hours); whole hours from
    ``rollup_hour`` (or their minutes while dirty) when ``width`` is a
    multiple of an hour; everything else from ``rollup_minute``.

    With ``series`` (ids), only their rows are read, each found by its key
    rather than by scanning every series in the range: a chart of one total
    series then reads one row per bucket, not two hundred.

    With ``closed_days`` (from :func:`closed_day_spans`), those day rows are
    left out, for a caller that reads them apart; the other days are read
    from their hours.
    """
    first_hour = -((-start) // HOUR) * HOUR
    last_hour = (end // HOUR) * HOUR
    if width % HOUR or first_hour >= last_hour:
        return _tier_rows_sql("rollup_minute", [(start, end)], MINUTE, series)
    first_day = -((-first_hour) // DAY) * DAY
    last_day = (last_hour // DAY) * DAY
    parts: list[tuple[str, list[Any]]] = []
    if width % DAY == 0 and first_day < last_day:
        parts.extend(_day_rows_sql(conn, first_day, last_day, series, closed_days))
        parts.append(_hour_rows_sql(first_hour, first_day, series))
        parts.append(_hour_rows_sql(last_day, last_hour, series))
    else:
        parts.append(_hour_rows_sql(first_hour, last_hour, series))
    parts.append(
        _tier_rows_sql(
            "rollup_minute", [(start, first_hour), (last_hour, end)], MINUTE, series
        )
    )
    return (
        " UNION ALL ".join(sql for sql, _ in parts),
        [param for _, params in parts for param in params],
    )


def _tier_rows_sql(
    table: str,
    spans: list[tuple[int, int]],
    width: int,
    series: list[int] | None,
    extra: str = "",
) -> tuple[str, list[Any]]:
    columns = "r.bucket AS bucket, r.series_id AS series_id, r.count AS count, "
    columns += "r.sum AS sum, r.min AS min, r.max AS max, r.sketch AS sketch"
    if series is None:
        where = " OR ".join("(r.bucket >= ? AND r.bucket < ?)" for _ in spans)
        return (
            f"SELECT {columns} FROM {table} AS r WHERE ({where}){extra}",
            [bound for span in spans for bound in span],
        )
    # One primary-key lookup per bucket and series: json_each lists the
    # buckets, the IN list the series.
    buckets = [
        bucket
        for low, high in spans
        for bucket in range(-int(-low // width) * width, math.ceil(high), width)
    ]
    marks = ", ".join("?" for _ in series)
    return (
        f"SELECT {columns} FROM json_each(?) AS t CROSS JOIN {table} AS r "
        f"ON r.bucket = t.value WHERE r.series_id IN ({marks}){extra}",
        [json.dumps(buckets), *series],
    )


def closed_day_spans(
    conn: sqlite3.Connection, start: int, end: int
) -> list[tuple[int, int]]:
    """Spans of whole days in ``[start, end)`` whose day rows are up to date.

    These are the days :func:`covering_rows_sql` reads from ``rollup_day``
    at a width of a day; the others are waiting for a rollup.
    """
    first_hour = -((-start) // HOUR) * HOUR
    last_hour = (end // HOUR) * HOUR
    first_day = -((-first_hour) // DAY) * DAY
    last_day = (last_hour // DAY) * DAY
    if first_hour >= last_hour or first_day >= last_day:
        return []
    return _split_days(conn, first_day, last_day)[0]


def _split_days(
    conn: sqlite3.Connection, start: int, end: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    # A day still waiting for its rollup, or holding an hour that is, is
    # read from its hours instead, so a summary is never stale. Those days
    # are few (today, and any day a late flush touched), so they are looked
    # up first and the rest is read as plain ranges of day rows.
    stale = sorted(
        day
        for (day,) in conn.execute(
            "SELECT bucket FROM dirty_days WHERE bucket >= ? AND bucket < ? "
            f"UNION SELECT (bucket / {DAY}) * {DAY} FROM dirty_hours "
            "WHERE bucket >= ? AND bucket < ?",
            (start, end, start, end),
        )
    )
    return _complement(_runs(stale, DAY), start, end), _runs(stale, DAY)


def _complement(
    spans: list[tuple[int, int]], start: int, end: int
) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` outside sorted, disjoint ``spans``."""
    gaps = []
    cursor = start
    for low, high in spans:
        if cursor < low:
            gaps.append((cursor, low))
        cursor = max(cursor, high)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def _day_rows_sql(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    series: list[int] | None,
    closed_days: list[tuple[int, int]] | None,
) -> list[tuple[str, list[Any]]]:
    if closed_days is None:
        fresh, stale = _split_days(conn, start, end)
    else:
        fresh, stale = [], _complement(closed_days, start, end)
    parts = [_hour_rows_sql(low, high, series) for low, high in stale]
    if fresh:
        parts.append(_tier_rows_sql("rollup_day", fresh, DAY, series))
    return parts


def _runs(buckets: list[int], width: int) -> list[tuple[int, int]]:
    """Sorted bucket starts joined into ``[start, end)`` runs of adjacent buckets."""
    runs: list[tuple[int, int]] = []
    for bucket in buckets:
        if runs and runs[-1][1] == bucket:
            runs[-1] = (runs[-1][0], bucket + width)
        else:
            runs.append((bucket, bucket + width))
    return runs


def _hour_rows_sql(
    start: int, end: int, series: list[int] | None = None
) -> tuple[str, list[Any]]:
    # CROSS JOIN keeps dirty_hours (a handful of rows) as the outer loop, so
    # each dirty hour is one primary-key range scan of rollup_minute.
    hours_sql, hours_params = _tier_rows_sql(
        "rollup_hour",
        [(start, end)],
        HOUR,
        series,
        # A dirty hour below the minute horizon keeps its row: its minutes
        # were pruned, and the ones present arrived late, to be added.
        " AND r.bucket NOT IN (SELECT bucket FROM dirty_hours WHERE bucket >= "
        "(SELECT coalesce(max(value), -1e18) FROM counters "
        f"WHERE name = '{MINUTE_HORIZON}'))",
    )
    only = ""
    if series is not None:
        only = f" AND m.series_id IN ({', '.join('?' for _ in series)})"
    return (
        f"{hours_sql} UNION ALL "
        "SELECT d.bucket, m.series_id, m.count, m.sum, m.min, m.max, m.sketch "
        "FROM dirty_hours AS d CROSS JOIN rollup_minute AS m "
        f"ON m.bucket >= d.bucket AND m.bucket < d.bucket + {HOUR} "
        f"WHERE d.bucket >= ? AND d.bucket < ?{only}",
        [*hours_params, start, end, *(series or [])],
    )
